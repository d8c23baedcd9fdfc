/* barrier_test.c - mpm_barrier_*: Python's Barrier across processes: arrival
 * indices, rounds, abort, reset, timeouts, and a killed waiter breaking the
 * barrier instead of leaving the others hanging.
 *
 * Forked children never call cr_* (nng inside Criterion panics after fork):
 * they report by exit status only. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mpm/mpm.h>

#include "support/support.h"

#include "proxy/client.h" /* raw calls: what a client in another language may send */

static mpm_manager *barrier_m;

static void barrier_setup(void)
{
    int rc = mpm_manager_start(&barrier_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void barrier_teardown(void)
{
    mpm_manager_shutdown(barrier_m);
    barrier_m = NULL;
}

TestSuite(barrier, .init = barrier_setup, .fini = barrier_teardown, .timeout = 30);

static mpm_barrier *barrier_new(int64_t parties, int64_t timeout_ms)
{
    mpm_barrier *b = NULL;
    T_OK(mpm_barrier_new(barrier_m, &b, parties, timeout_ms));
    cr_assert_not_null(b);
    return b;
}

static int64_t barrier_n_waiting(mpm_barrier *b)
{
    int64_t n = -1;
    T_OK(mpm_barrier_n_waiting(b, &n));
    return n;
}

static bool barrier_is_broken(mpm_barrier *b)
{
    bool v = false;
    T_OK(mpm_barrier_broken(b, &v));
    return v;
}

/* Poll until n parties wait (so they are parked on the server), up to 5 s. */
static void barrier_await_waiting(mpm_barrier *b, int64_t n)
{
    int64_t end = t_now_ms() + 5000, got;
    while ((got = barrier_n_waiting(b)) != n && t_now_ms() < end)
        t_sleep_ms(2);
    cr_assert_eq(got, n, "%lld parties waiting, want %lld", (long long)got, (long long)n);
}

static void barrier_assert_repr(void *h, const char *want)
{
    char *s = NULL, buf[256];
    T_OK(mpm_handle_repr(h, &s));
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    cr_assert_str_eq(buf, want);
}

static void barrier_assert_no_objects(void)
{
    size_t n = 999;
    int64_t end = t_now_ms() + 5000;
    /* a dead child's handles go when the server reads its EOF: let it settle */
    for (;;) {
        T_OK(mpm_manager_object_count(barrier_m, &n));
        if (n == 0 || t_now_ms() >= end) break;
        t_sleep_ms(10);
    }
    cr_assert_eq(n, 0, "%zu objects left on the server", n);
}

/* A thread that waits once on the barrier. */
typedef struct barrier_waiter {
    mpm_barrier *b;
    int64_t timeout;
    int rc;
    int64_t index;
    int64_t done_at;
    char msg[128];
    pthread_t t;
} barrier_waiter;

static void *barrier_waiter_main(void *arg)
{
    barrier_waiter *w = arg;
    w->rc = mpm_barrier_wait(w->b, w->timeout, &w->index);
    w->done_at = t_now_ms();
    snprintf(w->msg, sizeof w->msg, "%s", mpm_last_error());
    return NULL;
}

/* Start a waiter and return once it is parked (n_waiting reached expect). */
static void barrier_start(barrier_waiter *w, mpm_barrier *b, int64_t timeout, int64_t expect)
{
    *w = (barrier_waiter){.b = b, .timeout = timeout, .index = -1};
    cr_assert_eq(pthread_create(&w->t, NULL, barrier_waiter_main, w), 0);
    barrier_await_waiting(b, expect);
}

static void barrier_assert_broken_waiter(barrier_waiter *w)
{
    pthread_join(w->t, NULL);
    cr_assert_eq(w->rc, MPM_EBROKEN, "waiter: %d (%s)", w->rc, w->msg);
    cr_assert_str_eq(w->msg, "BrokenBarrierError");
}

/*---- creation and properties --------------------------------------------------------*/

Test(barrier, new_reports_its_properties)
{
    mpm_barrier *b = barrier_new(3, -1);
    int64_t v = 0;
    cr_assert_eq(mpm_handle_type(b), MPM_OBJ_BARRIER);
    T_OK(mpm_barrier_parties(b, &v));
    cr_assert_eq(v, 3);
    cr_assert_eq(barrier_n_waiting(b), 0);
    cr_assert_not(barrier_is_broken(b));
    barrier_assert_repr(b, "<Barrier parties=3 n_waiting=0 broken=False>");
    barrier_waiter w;
    barrier_start(&w, b, -1, 1);
    barrier_assert_repr(b, "<Barrier parties=3 n_waiting=1 broken=False>");
    T_OK(mpm_barrier_abort(b));
    barrier_assert_broken_waiter(&w);
    barrier_assert_repr(b, "<Barrier parties=3 n_waiting=0 broken=True>");
    mpm_barrier_close(b);
    mpm_barrier_close(NULL);
    barrier_assert_no_objects();
}

Test(barrier, bad_arguments)
{
    mpm_barrier *b = (mpm_barrier *)1;
    t_assert_err(mpm_barrier_new(barrier_m, &b, 0, -1), MPM_EVALUE,
                 "ValueError: parties must be > 0");
    cr_assert_null(b);
    t_assert_err(mpm_barrier_new(barrier_m, &b, -4, -1), MPM_EVALUE,
                 "ValueError: parties must be > 0");
    t_assert_err(mpm_barrier_new(barrier_m, &b, 2, -2), MPM_EINVAL,
                 "invalid timeout -2 ms (-1: none, or >= 0)");
    cr_assert_null(b);
    cr_assert_eq(mpm_barrier_new(NULL, &b, 2, -1), MPM_EINVAL);

    b = barrier_new(2, -1);
    int64_t v;
    bool f;
    t_assert_err(mpm_barrier_wait(b, -2, &v), MPM_EINVAL,
                 "invalid timeout -2 ms (-1: none, or >= 0)");
    t_assert_err(mpm_barrier_wait(NULL, -1, &v), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_barrier_abort(NULL), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_barrier_reset(NULL), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_barrier_parties(NULL, &v), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_barrier_n_waiting(NULL, &v), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_barrier_broken(NULL, &f), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_barrier_parties(b, NULL), MPM_EINVAL, "mpm_barrier_parties: out is NULL");
    t_assert_err(mpm_barrier_n_waiting(b, NULL), MPM_EINVAL, "mpm_barrier_n_waiting: out is NULL");
    t_assert_err(mpm_barrier_broken(b, NULL), MPM_EINVAL, "mpm_barrier_broken: out is NULL");
    /* none of that touched the barrier */
    cr_assert_eq(barrier_n_waiting(b), 0);
    cr_assert_not(barrier_is_broken(b));
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

/*---- rounds -------------------------------------------------------------------------*/

Test(barrier, one_party_passes_at_once)
{
    mpm_barrier *b = barrier_new(1, -1);
    for (int i = 0; i < 3; i++) {
        int64_t idx = -1;
        T_OK(mpm_barrier_wait(b, -1, &idx));
        cr_assert_eq(idx, 0);
    }
    T_OK(mpm_barrier_wait(b, 0, NULL));
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

Test(barrier, wait_cannot_be_batched_but_the_properties_can)
{
    mpm_barrier *b = barrier_new(2, -1);
    int64_t idx = -1, parties = 0, waiting = -1;
    T_OK(mpm_batch_begin(barrier_m));
    t_assert_err(mpm_barrier_wait(b, 0, &idx), MPM_EBATCH,
                 "mpm_barrier_wait cannot be queued in a batch");
    t_assert_err(mpm_barrier_wait(b, MPM_BARRIER_DEFAULT, &idx), MPM_EBATCH,
                 "mpm_barrier_wait cannot be queued in a batch");
    T_OK(mpm_barrier_parties(b, &parties));
    T_OK(mpm_barrier_n_waiting(b, &waiting));
    cr_assert_eq(mpm_batch_size(barrier_m), 2);
    T_OK(mpm_batch_exec(barrier_m, NULL, 0));
    cr_assert_eq(parties, 2);
    cr_assert_eq(waiting, 0);
    cr_assert_eq(idx, -1, "a refused wait must not touch *index");
    /* the refused wait (timeout 0) did not break the barrier */
    bool broken = true;
    T_OK(mpm_barrier_broken(b, &broken));
    cr_assert_not(broken);
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

Test(barrier, indices_follow_arrival_as_in_python)
{
    /* Python's wait returns the number already waiting: first 0, last parties-1 */
    mpm_barrier *b = barrier_new(3, -1);
    for (int round = 0; round < 2; round++) {
        barrier_waiter w[2];
        barrier_start(&w[0], b, -1, 1);
        barrier_start(&w[1], b, 10000, 2);
        int64_t idx = -1;
        T_OK(mpm_barrier_wait(b, -1, &idx));
        cr_assert_eq(idx, 2);
        for (int i = 0; i < 2; i++) {
            pthread_join(w[i].t, NULL);
            cr_assert_eq(w[i].rc, 0, "waiter %d: %d (%s)", i, w[i].rc, w[i].msg);
            cr_assert_eq(w[i].index, i);
        }
        cr_assert_eq(barrier_n_waiting(b), 0);
        cr_assert_not(barrier_is_broken(b));
    }
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

Test(barrier, four_processes_pass_two_rounds_together_with_distinct_indices)
{
    enum { N = 4 };
    mpm_barrier *b = barrier_new(N, 20000);
    /* arrivals so far, shared: each child counts itself in before each wait
     * and, once through, checks all N came in that round */
    atomic_int *arrived =
        mmap(NULL, sizeof *arrived, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(arrived, MAP_FAILED);
    atomic_init(arrived, 0);
    pid_t p[N];
    for (int i = 0; i < N; i++) {
        p[i] = fork();
        cr_assert_geq(p[i], 0);
        if (p[i] == 0) {
            int64_t a = -1, c = -1;
            /* the last one comes late to both rounds: the others must wait */
            if (i == N - 1) t_sleep_ms(200);
            atomic_fetch_add(arrived, 1);
            if (mpm_barrier_wait(b, MPM_BARRIER_DEFAULT, &a)) _exit(1);
            if (atomic_load(arrived) < N) _exit(4);
            if (i == N - 1) t_sleep_ms(200);
            atomic_fetch_add(arrived, 1);
            if (mpm_barrier_wait(b, 20000, &c)) _exit(2);
            if (atomic_load(arrived) < 2 * N) _exit(5);
            if (a < 0 || a >= N || c < 0 || c >= N) _exit(3);
            _exit(16 + (int)(a * N + c)); /* both indices in the status */
        }
    }
    int seen1[N] = {0}, seen2[N] = {0};
    for (int i = 0; i < N; i++) {
        int st = t_wait_child(p[i]);
        cr_assert(st >= 16 && st < 16 + N * N, "child %d: status %d", i, st);
        seen1[(st - 16) / N]++;
        seen2[(st - 16) % N]++;
    }
    for (int k = 0; k < N; k++) {
        cr_assert_eq(seen1[k], 1, "round 1: index %d given %d times", k, seen1[k]);
        cr_assert_eq(seen2[k], 1, "round 2: index %d given %d times", k, seen2[k]);
    }
    munmap(arrived, sizeof *arrived);
    cr_assert_eq(barrier_n_waiting(b), 0);
    cr_assert_not(barrier_is_broken(b));
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

/*---- abort, reset ---------------------------------------------------------------------*/

Test(barrier, abort_breaks_it_for_waiters_and_later_callers_until_reset)
{
    mpm_barrier *b = barrier_new(3, -1);
    barrier_waiter w[2];
    barrier_start(&w[0], b, -1, 1);
    barrier_start(&w[1], b, 10000, 2);
    T_OK(mpm_barrier_abort(b));
    barrier_assert_broken_waiter(&w[0]);
    barrier_assert_broken_waiter(&w[1]);
    cr_assert(barrier_is_broken(b));
    cr_assert_eq(barrier_n_waiting(b), 0);
    /* later waits fail at once, whatever their timeout */
    int64_t t0 = t_now_ms();
    t_assert_err(mpm_barrier_wait(b, -1, NULL), MPM_EBROKEN, "BrokenBarrierError");
    t_assert_err(mpm_barrier_wait(b, 0, NULL), MPM_EBROKEN, "BrokenBarrierError");
    cr_assert_lt(t_now_ms() - t0, 1000);
    T_OK(mpm_barrier_abort(b)); /* again: still broken, no harm */
    cr_assert(barrier_is_broken(b));
    T_OK(mpm_barrier_reset(b));
    cr_assert_not(barrier_is_broken(b));
    /* fresh: a full round works again */
    mpm_barrier *b2 = barrier_new(2, -1);
    barrier_start(&w[0], b2, -1, 1);
    int64_t idx = -1;
    T_OK(mpm_barrier_wait(b2, -1, &idx));
    cr_assert_eq(idx, 1);
    pthread_join(w[0].t, NULL);
    cr_assert_eq(w[0].rc, 0);
    cr_assert_eq(w[0].index, 0);
    barrier_start(&w[0], b, -1, 1);
    barrier_start(&w[1], b, -1, 2);
    T_OK(mpm_barrier_wait(b, -1, &idx));
    cr_assert_eq(idx, 2);
    for (int i = 0; i < 2; i++) {
        pthread_join(w[i].t, NULL);
        cr_assert_eq(w[i].rc, 0);
        cr_assert_eq(w[i].index, i);
    }
    mpm_barrier_close(b);
    mpm_barrier_close(b2);
    barrier_assert_no_objects();
}

Test(barrier, reset_fails_current_waiters_and_leaves_it_fresh)
{
    mpm_barrier *b = barrier_new(2, -1);
    barrier_waiter w;
    barrier_start(&w, b, -1, 1);
    T_OK(mpm_barrier_reset(b));
    barrier_assert_broken_waiter(&w);
    cr_assert_not(barrier_is_broken(b));
    cr_assert_eq(barrier_n_waiting(b), 0);
    /* the next round starts from index 0 */
    barrier_start(&w, b, -1, 1);
    int64_t idx = -1;
    T_OK(mpm_barrier_wait(b, -1, &idx));
    cr_assert_eq(idx, 1);
    pthread_join(w.t, NULL);
    cr_assert_eq(w.rc, 0);
    cr_assert_eq(w.index, 0);
    /* reset with nobody waiting is a no-op */
    T_OK(mpm_barrier_reset(b));
    cr_assert_not(barrier_is_broken(b));
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

/*---- timeouts -----------------------------------------------------------------------*/

/* t_assert_timeouts_precise's wait: a lone wait on a barrier of 2, which
 * must time out (and break it: reset for the next; the reset's round trip,
 * tens of µs, counts as lateness). */
static int barrier_timed_out(void *b, int64_t timeout_ms)
{
    int rc = mpm_barrier_wait(b, timeout_ms, NULL);
    if (rc != MPM_EBROKEN) return rc ? rc : -1;
    return mpm_barrier_reset(b);
}

Test(barrier, a_timeout_breaks_it_for_everyone)
{
    mpm_barrier *b = barrier_new(3, -1);
    barrier_waiter w;
    barrier_start(&w, b, -1, 1);
    int64_t t0 = t_now_ms();
    t_assert_err(mpm_barrier_wait(b, 200, NULL), MPM_EBROKEN, "BrokenBarrierError");
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "barrier wait");
    barrier_assert_broken_waiter(&w);
    /* the other (no timeout) is released by that deadline too */
    T_ASSERT_ON_TIME(w.done_at - t0, 200, "barrier wait");
    cr_assert(barrier_is_broken(b));
    t_assert_err(mpm_barrier_wait(b, -1, NULL), MPM_EBROKEN, "BrokenBarrierError");
    mpm_barrier_close(b);
    /* and within a few milliseconds of the deadline */
    b = barrier_new(2, -1);
    t_assert_timeouts_precise(barrier_timed_out, b, 20, "barrier wait");
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

Test(barrier, the_default_timeout_applies)
{
    mpm_barrier *b = barrier_new(2, 200);
    int64_t t0 = t_now_ms();
    t_assert_err(mpm_barrier_wait(b, MPM_BARRIER_DEFAULT, NULL), MPM_EBROKEN, "BrokenBarrierError");
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "barrier wait");
    cr_assert(barrier_is_broken(b));
    T_OK(mpm_barrier_reset(b));
    /* an explicit timeout overrides the default: -1 waits past 200 ms */
    barrier_waiter w;
    barrier_start(&w, b, -1, 1);
    t_sleep_ms(400);
    cr_assert_eq(barrier_n_waiting(b), 1);
    int64_t idx = -1;
    T_OK(mpm_barrier_wait(b, MPM_BARRIER_DEFAULT, &idx));
    cr_assert_eq(idx, 1);
    pthread_join(w.t, NULL);
    cr_assert_eq(w.rc, 0);
    cr_assert_eq(w.index, 0);
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

Test(barrier, timeout_zero_never_waits)
{
    mpm_barrier *b = barrier_new(2, -1);
    /* the last party needs no time: it passes */
    barrier_waiter w;
    barrier_start(&w, b, -1, 1);
    int64_t idx = -1;
    T_OK(mpm_barrier_wait(b, 0, &idx));
    cr_assert_eq(idx, 1);
    pthread_join(w.t, NULL);
    cr_assert_eq(w.rc, 0);
    /* any other party with no time left breaks it at once, as Python's does */
    int64_t us[20];
    for (int i = 0; i < 20; i++) {
        int64_t t0 = t_now_us();
        t_assert_err(mpm_barrier_wait(b, 0, NULL), MPM_EBROKEN, "BrokenBarrierError");
        us[i] = t_now_us() - t0;
        cr_assert(barrier_is_broken(b));
        cr_assert_eq(barrier_n_waiting(b), 0);
        T_OK(mpm_barrier_reset(b)); /* so the next call meets a whole barrier */
    }
    int64_t med = t_median(us, 20);
    cr_assert_lt(med, 5000, "a wait(0) took %lld us (median of 20)", (long long)med);
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

/*---- dying waiters, deleted barriers -----------------------------------------------*/

Test(barrier, sigkill_of_a_waiter_breaks_it_for_the_others)
{
    mpm_barrier *b = barrier_new(4, -1);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        mpm_barrier_wait(b, -1, NULL);
        _exit(2);
    }
    barrier_await_waiting(b, 1);
    barrier_waiter w[2];
    barrier_start(&w[0], b, -1, 2);
    barrier_start(&w[1], b, 20000, 3);
    int64_t t0 = t_now_ms();
    cr_assert_eq(kill(p, SIGKILL), 0);
    cr_assert_eq(t_wait_child(p), 128 + SIGKILL);
    for (int i = 0; i < 2; i++) {
        barrier_assert_broken_waiter(&w[i]);
        cr_assert_leq(w[i].done_at - t0, 1000, "waiter %d released %lld ms after the kill", i,
                      (long long)(w[i].done_at - t0));
    }
    cr_assert(barrier_is_broken(b));
    cr_assert_eq(barrier_n_waiting(b), 0);
    T_OK(mpm_barrier_reset(b));
    cr_assert_not(barrier_is_broken(b));
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

Test(barrier, a_process_exiting_without_waiting_breaks_nothing)
{
    mpm_barrier *b = barrier_new(2, -1);
    barrier_waiter w;
    barrier_start(&w, b, 20000, 1);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        int64_t n = 0;
        _exit(mpm_barrier_n_waiting(b, &n) || n != 1 ? 2 : 0);
    }
    cr_assert_eq(t_wait_child(p), 0);
    t_sleep_ms(100);
    cr_assert_not(barrier_is_broken(b));
    cr_assert_eq(barrier_n_waiting(b), 1);
    T_OK(mpm_barrier_wait(b, -1, NULL));
    pthread_join(w.t, NULL);
    cr_assert_eq(w.rc, 0);
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

Test(barrier, closing_the_last_handle_fails_its_waiters)
{
    mpm_barrier *b = barrier_new(2, -1);
    barrier_waiter w;
    barrier_start(&w, b, -1, 1);
    /* the waiter has read the handle long ago (it is parked): freeing it is safe */
    mpm_barrier_close(b);
    pthread_join(w.t, NULL);
    cr_assert_eq(w.rc, MPM_ENOOBJ, "waiter: %d (%s)", w.rc, w.msg);
    cr_assert_str_eq(w.msg, "the Barrier was deleted while waiting");
    barrier_assert_no_objects();
}

/*---- the server's own checks (what any client, in any language, may send) ---------*/

Test(barrier, the_server_checks_raw_arguments)
{
    mpm_barrier *b = barrier_new(1, -1), *x = NULL;
    mpm_val a[3];
    a[0] = MPM_INT(-5);
    t_assert_err(mpmi_call(&b->h, MPMI_OP_B_WAIT, a, 1, MPMI_SINK_NONE), MPM_EVALUE,
                 "ValueError: timeout must be -1 (none) or >= 0");
    a[0] = MPM_STR("x");
    t_assert_err(mpmi_call(&b->h, MPMI_OP_B_WAIT, a, 1, MPMI_SINK_NONE), MPM_ETYPE,
                 "TypeError: 'str' object cannot be interpreted as an integer");
    t_assert_err(mpmi_call(&b->h, MPMI_OP_B_ABORT, a, 1, MPMI_SINK_NONE), MPM_EARGS,
                 "TypeError: Barrier.B_ABORT takes 0 arguments (1 given)");
    t_assert_err(mpmi_call(&b->h, MPMI_OP_E_SET, NULL, 0, MPMI_SINK_NONE), MPM_ENOMETHOD,
                 "AttributeError: 'Barrier' object has no method E_SET");
    cr_assert_not(barrier_is_broken(b));
    /* no timeout at all: the barrier's default */
    int64_t idx = -1;
    T_OK(mpmi_call(&b->h, MPMI_OP_B_WAIT, NULL, 0, MPMI_SINK_INT(&idx)));
    cr_assert_eq(idx, 0);
    mpm_val *snap = NULL;
    T_OK(mpmi_call(&b->h, MPMI_OP_COPY, NULL, 0, MPMI_SINK_VAL(&snap)));
    char *r = mpm_val_repr(*snap);
    cr_assert_str_eq(r, "[1, 0, False]");
    free(r);
    mpm_val_free(snap);

    t_assert_err(mpmi_create(barrier_m, MPM_OBJ_BARRIER, 0, NULL, 0, (void **)&x), MPM_EARGS,
                 "TypeError: Barrier() takes 1 or 2 arguments (0 given)");
    a[0] = MPM_INT(2);
    a[1] = MPM_INT(-5);
    t_assert_err(mpmi_create(barrier_m, MPM_OBJ_BARRIER, 0, a, 2, (void **)&x), MPM_EVALUE,
                 "ValueError: timeout must be -1 (none) or >= 0");
    a[1] = MPM_STR("x");
    t_assert_err(mpmi_create(barrier_m, MPM_OBJ_BARRIER, 0, a, 2, (void **)&x), MPM_ETYPE,
                 "TypeError: 'str' object cannot be interpreted as an integer");
    a[1] = MPM_INT(1);
    a[2] = MPM_INT(1);
    t_assert_err(mpmi_create(barrier_m, MPM_OBJ_BARRIER, 0, a, 3, (void **)&x), MPM_EARGS,
                 "TypeError: Barrier() takes 1 or 2 arguments (3 given)");
    /* Barrier(parties) alone, and a nil timeout: no default timeout */
    T_OK(mpmi_create(barrier_m, MPM_OBJ_BARRIER, 0, a, 1, (void **)&x));
    mpm_barrier_close(x);
    a[1] = MPM_NONE;
    T_OK(mpmi_create(barrier_m, MPM_OBJ_BARRIER, 0, a, 2, (void **)&x));
    barrier_waiter w;
    barrier_start(&w, x, MPM_BARRIER_DEFAULT, 1);
    t_sleep_ms(100);
    T_OK(mpm_barrier_wait(x, INT64_MAX, &idx)); /* enormous: like none, no overflow */
    cr_assert_eq(idx, 1);
    pthread_join(w.t, NULL);
    cr_assert_eq(w.rc, 0);
    mpm_barrier_close(x);
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}

Test(barrier, an_enormous_timeout_waits_like_none)
{
    mpm_barrier *b = barrier_new(2, -1);
    barrier_waiter w;
    barrier_start(&w, b, INT64_MAX, 1);
    t_sleep_ms(100);
    cr_assert_not(barrier_is_broken(b));
    T_OK(mpm_barrier_wait(b, -1, NULL));
    pthread_join(w.t, NULL);
    cr_assert_eq(w.rc, 0);
    cr_assert_eq(w.index, 0);
    mpm_barrier_close(b);
    barrier_assert_no_objects();
}
