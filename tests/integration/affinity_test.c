/* affinity_test.c - a calling thread that keeps finding its CPU shared moves
 * itself to another of its CPUs (proxy/client.c, client_crowded) and leaves
 * its CPU affinity as it found it.
 *
 * libmpm's sched_setaffinity calls are counted through the linker's --wrap
 * (CMakeLists.txt links this test so), only while a test has the counting on:
 * the tests' own calls to it are made with it off.  Forked children never call
 * cr_*: they report by exit status only. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mpm/mpm.h>

#include "support/support.h"

int __real_sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set);

static atomic_int aff_counting, aff_narrowed, aff_restored;
static cpu_set_t aff_initial;

/* What libmpm asks for: a narrower mask (the move), then the mask it found. */
int __wrap_sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set)
{
    if (atomic_load(&aff_counting)) {
        if (CPU_EQUAL_S(size, set, &aff_initial))
            atomic_fetch_add(&aff_restored, 1);
        else
            atomic_fetch_add(&aff_narrowed, 1);
    }
    return __real_sched_setaffinity(pid, size, set);
}

static mpm_manager *aff_m;

static void aff_setup(void)
{
    int rc = mpm_manager_start(&aff_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void aff_teardown(void)
{
    mpm_manager_shutdown(aff_m);
    aff_m = NULL;
}

TestSuite(affinity, .init = aff_setup, .fini = aff_teardown, .timeout = 60);

/* Loops of sched_yield, one per CPU, so that every yield of the calling
 * thread lets another process run: its calls find the CPU crowded.  (A plain
 * busy loop is not enough: the scheduler favours the thread that slept in
 * its calls and hands its yield straight back.) */
static int aff_start_hogs(pid_t *hogs, int max)
{
    int n = CPU_COUNT(&aff_initial);
    if (n > max) n = max;
    for (int i = 0; i < n; i++) {
        hogs[i] = fork();
        cr_assert_geq(hogs[i], 0);
        if (hogs[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (;;)
                sched_yield();
        }
    }
    return n;
}

static void aff_stop_hogs(pid_t *hogs, int n)
{
    for (int i = 0; i < n; i++) {
        kill(hogs[i], SIGKILL);
        waitpid(hogs[i], NULL, 0);
    }
}

/* Calls from this thread until the library has moved it twice (or 15 s):
 * a move needs 32 crowded calls in a row, and a hog may be slow to start. */
static void aff_calls(mpm_dict *d)
{
    int64_t end = t_now_ms() + 15000;
    for (int i = 0; t_now_ms() < end && atomic_load(&aff_restored) < 2; i++)
        T_OK(mpm_dict_set(d, MPM_STR("k"), MPM_INT(i)));
}

Test(affinity, a_crowded_thread_moves_and_keeps_its_affinity)
{
    cr_assert_eq(sched_getaffinity(0, sizeof aff_initial, &aff_initial), 0);
    cr_assert_geq(CPU_COUNT(&aff_initial), 2, "this test needs a machine with 2 CPUs or more");
    mpm_dict *d = NULL;
    T_OK(mpm_dict_new(aff_m, &d));
    T_OK(mpm_dict_set(d, MPM_STR("k"), MPM_INT(0))); /* connected before the hogs start */
    pid_t hogs[8];
    int nh = aff_start_hogs(hogs, 8);
    atomic_store(&aff_counting, 1);
    aff_calls(d);
    atomic_store(&aff_counting, 0);
    aff_stop_hogs(hogs, nh);
    cpu_set_t now;
    cr_assert_eq(sched_getaffinity(0, sizeof now, &now), 0);
    fprintf(stderr, "affinity_test: %d moves, %d restores\n", atomic_load(&aff_narrowed),
            atomic_load(&aff_restored));
    cr_assert_gt(atomic_load(&aff_narrowed), 0, "a crowded thread never moved");
    cr_assert_eq(atomic_load(&aff_restored), atomic_load(&aff_narrowed),
                 "every narrowed mask is put back");
    cr_assert(CPU_EQUAL(&now, &aff_initial), "the thread's affinity changed");
    mpm_dict_close(d);
}

/* A thread allowed one CPU has nowhere to go: it yields while it polls and
 * never touches its affinity. */
Test(affinity, a_thread_allowed_one_cpu_never_touches_its_affinity)
{
    cpu_set_t all, one;
    cr_assert_eq(sched_getaffinity(0, sizeof all, &all), 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &all)) {
            CPU_SET(c, &one);
            break;
        }
    /* a new process: libmpm reads the affinity once per process */
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        if (sched_setaffinity(0, sizeof one, &one)) _exit(2);
        aff_initial = one;
        pid_t hogs[1];
        hogs[0] = fork();
        if (hogs[0] < 0) _exit(3);
        if (hogs[0] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (;;)
                sched_yield();
        }
        mpm_dict *d = NULL;
        int rc = mpm_dict_new(aff_m, &d);
        atomic_store(&aff_counting, 1);
        for (int i = 0; i < 200 && rc == 0; i++)
            rc = mpm_dict_set(d, MPM_STR("k"), MPM_INT(i));
        atomic_store(&aff_counting, 0);
        kill(hogs[0], SIGKILL);
        waitpid(hogs[0], NULL, 0);
        cpu_set_t now;
        if (rc || sched_getaffinity(0, sizeof now, &now)) _exit(4);
        if (atomic_load(&aff_narrowed) || atomic_load(&aff_restored)) _exit(5);
        if (!CPU_EQUAL(&now, &one)) _exit(6);
        mpm_dict_close(d);
        _exit(0);
    }
    cr_assert_eq(t_wait_child(p), 0, "child: 4 a call failed, 5 the affinity was set, 6 changed");
}
