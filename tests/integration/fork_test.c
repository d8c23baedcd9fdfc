/* fork_test.c - Python's Manager pattern across real fork(): children use
 * inherited handles with no extra call, references follow processes (closed,
 * exited or killed), the private server outlives its starter only as long as
 * any of its processes, and parked calls keep their deadlines without
 * holding up anyone else. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <mpm/mpm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static mpm_manager *M;

#define OK(expr)                                                                                   \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        cr_assert_eq(rc_, 0, "%s -> %d (%s): %s", #expr, rc_, mpm_strerror(rc_),                   \
                     mpm_last_error());                                                            \
    } while (0)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

static void setup(void)
{
    unsetenv("MPM_AUTHKEY");
    int rc = mpm_manager_start(&M, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %s", mpm_last_error());
}

static void teardown(void)
{
    if (M) mpm_manager_shutdown(M);
    M = NULL;
}

TestSuite(fork, .init = setup, .fini = teardown, .timeout = 30);

static size_t objects(void)
{
    size_t n = 999;
    OK(mpm_manager_object_count(M, &n));
    return n;
}

/* The server learns of a gone process when it reads its EOF, which may come
 * after our next call: wait (up to 5 s) for the count to settle at want. */
static size_t objects_settle(size_t want)
{
    int64_t end = now_ms() + 5000;
    size_t n;
    while ((n = objects()) != want && now_ms() < end)
        sleep_ms(10);
    return n;
}

static int wait_ok(pid_t p)
{
    int st = 0;
    if (waitpid(p, &st, 0) != p) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void assert_repr(void *h, const char *want)
{
    char *s = NULL, b[1024];
    OK(mpm_handle_repr(h, &s));
    snprintf(b, sizeof b, "%s", s);
    free(s);
    cr_assert_str_eq(b, want);
}

/*---- the seed program ------------------------------------------------------*/

static int seed_f(mpm_dict *d, mpm_list *l)
{
    if (mpm_dict_set(d, MPM_INT(1), MPM_STR("1")) || mpm_dict_set(d, MPM_STR("2"), MPM_INT(2)) ||
        mpm_dict_set(d, MPM_FLOAT(0.25), MPM_NONE) || mpm_list_reverse(l))
        return 1;
    return 0;
}

Test(fork, seed_program_across_a_real_fork)
{
    mpm_dict *d = NULL;
    mpm_list *l = NULL;
    OK(mpm_dict_new(M, &d));
    OK(mpm_list_new_range(M, &l, 0, 10));
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) _exit(seed_f(d, l));
    cr_assert_eq(wait_ok(p), 0, "the child failed");
    char *s = NULL;
    OK(mpm_dict_repr(d, &s));
    char b[256];
    snprintf(b, sizeof b, "%s", s);
    free(s);
    cr_assert_str_eq(b, "{1: '1', '2': 2, 0.25: None}");
    assert_repr(l, "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
    mpm_dict_close(d);
    mpm_list_close(l);
    cr_assert_eq(objects(), 0);
}

/*---- inherited handles -------------------------------------------------------*/

Test(fork, child_uses_inherited_handles_while_the_parent_keeps_using_its_own)
{
    mpm_dict *d = NULL;
    OK(mpm_dict_new(M, &d));
    OK(mpm_dict_set(d, MPM_STR("from parent"), MPM_INT(0)));
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        char c;
        close(go[1]);
        /* no call to re-attach anything: just use the handle */
        mpm_val *v = NULL;
        if (mpm_dict_get(d, MPM_STR("from parent"), &v) || v->v.i != 0) _exit(2);
        mpm_val_free(v);
        if (read(go[0], &c, 1) != 0) _exit(3); /* both sides now talk at once */
        for (int i = 0; i < 300; i++)
            if (mpm_dict_set(d, MPM_STR("child"), MPM_INT(i))) _exit(4);
        _exit(0);
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < 300; i++) {
        OK(mpm_dict_set(d, MPM_STR("parent"), MPM_INT(i)));
        mpm_val *v = NULL;
        OK(mpm_dict_get(d, MPM_STR("parent"), &v));
        cr_assert_eq(v->v.i, i, "the parent read another process's reply");
        mpm_val_free(v);
    }
    cr_assert_eq(wait_ok(p), 0, "the child failed");
    OK(mpm_ping(M));
    mpm_val *v = NULL;
    OK(mpm_dict_get(d, MPM_STR("child"), &v));
    cr_assert_eq(v->v.i, 299);
    mpm_val_free(v);
    mpm_dict_close(d);
    cr_assert_eq(objects_settle(0), 0);
}

Test(fork, grandchild_inherits_through_two_forks)
{
    mpm_dict *d = NULL;
    OK(mpm_dict_new(M, &d));
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        if (mpm_dict_set(d, MPM_STR("child"), MPM_INT(1))) _exit(2);
        pid_t q = fork();
        if (q < 0) _exit(3);
        if (q == 0) _exit(mpm_dict_set(d, MPM_STR("grandchild"), MPM_INT(2)) ? 4 : 0);
        _exit(wait_ok(q));
    }
    cr_assert_eq(wait_ok(p), 0);
    assert_repr(d, "{'child': 1, 'grandchild': 2}");
    mpm_dict_close(d);
    cr_assert_eq(objects_settle(0), 0);
}

Test(fork, child_closing_its_manager_leaves_the_parent_alone)
{
    mpm_dict *d = NULL, *untouched = NULL;
    OK(mpm_dict_new(M, &d));
    OK(mpm_dict_new(M, &untouched));
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        if (mpm_dict_set(d, MPM_STR("k"), MPM_INT(1))) _exit(2);
        mpm_dict_close(d);    /* drops the child's reference only */
        mpm_manager_close(M); /* and its connection only */
        _exit(0);
    }
    cr_assert_eq(wait_ok(p), 0);
    OK(mpm_ping(M));
    assert_repr(d, "{'k': 1}");
    cr_assert_eq(objects_settle(2), 2, "the child's close freed the parent's objects");
    /* a child that never called anything and only closes */
    p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        mpm_manager_close(M);
        _exit(0);
    }
    cr_assert_eq(wait_ok(p), 0);
    OK(mpm_ping(M));
    cr_assert_eq(objects_settle(2), 2);
    mpm_dict_close(d);
    mpm_dict_close(untouched);
    cr_assert_eq(objects_settle(0), 0);
}

Test(fork, a_dead_inherited_handle_costs_the_others_nothing)
{
    /* The child inherits handles on A and B; the parent then closes A, which
     * dies.  The child's first call, on B, must work, and B must stay alive
     * for the child after the parent closes it too (the child holds its own
     * reference), as Python's proxies each incref on their own after fork. */
    mpm_dict *a = NULL, *b = NULL;
    signal(SIGPIPE, SIG_IGN); /* a child that failed early has closed its pipe */
    OK(mpm_dict_new(M, &a));
    OK(mpm_dict_new(M, &b));
    OK(mpm_dict_set(b, MPM_STR("k"), MPM_INT(1)));
    int p2c[2], c2p[2];
    cr_assert_eq(pipe(p2c), 0);
    cr_assert_eq(pipe(c2p), 0);
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        char ch;
        close(p2c[1]);
        close(c2p[0]);
        if (read(p2c[0], &ch, 1) != 1) _exit(2); /* A is gone now */
        int bad = 0;
        if (mpm_dict_set(b, MPM_STR("child"), MPM_INT(2))) {
            bad |= 1; /* the first call failed; does the session go on? */
            if (mpm_dict_set(b, MPM_STR("child"), MPM_INT(2))) _exit(3);
        }
        if (write(c2p[1], "1", 1) != 1) _exit(4);
        if (read(p2c[0], &ch, 1) != 1) _exit(5); /* the parent closed B */
        mpm_val *v = NULL;
        if (mpm_dict_get(b, MPM_STR("k"), &v)) bad |= 2; /* B died under the child */
        mpm_val_free(v);
        _exit(bad ? 16 + bad : 0);
    }
    close(p2c[0]);
    close(c2p[1]);
    mpm_dict_close(a);
    cr_assert_eq(objects(), 1);
    char ch;
    cr_assert_eq(write(p2c[1], "a", 1), 1);
    cr_assert_eq(read(c2p[0], &ch, 1), 1);
    mpm_dict_close(b);
    (void)!write(p2c[1], "b", 1);
    int rc = wait_ok(p);
    close(p2c[1]);
    close(c2p[0]);
    cr_assert(rc == 0 || rc >= 16, "the child failed (%d)", rc);
    cr_assert(!(rc & 1), "the child's first call on B failed because A was gone%s",
              rc & 2 ? "; and B died while the child still held a handle on it" : "");
    cr_assert(!(rc & 2), "B died while the child still held a handle on it");
    cr_assert_eq(objects_settle(0), 0);
}

Test(fork, closing_the_manager_in_the_parent_waits_for_no_child)
{
    /* mpm_manager_close (not shutdown): the server goes on for the children */
    mpm_dict *d = NULL;
    OK(mpm_dict_new(M, &d));
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        char ch;
        close(go[1]);
        if (mpm_dict_set(d, MPM_STR("before"), MPM_INT(1))) _exit(2);
        if (read(go[0], &ch, 1) != 0) _exit(3); /* the parent has closed */
        mpm_val *v = NULL;
        int rc = mpm_dict_get(d, MPM_STR("before"), &v);
        mpm_val_free(v);
        if (rc) _exit(4);
        _exit(mpm_dict_set(d, MPM_STR("after"), MPM_INT(2)) ? 5 : 0);
    }
    close(go[0]);
    sleep_ms(100);
    int64_t t0 = now_ms();
    mpm_manager_close(M); /* the child lives on, blocked on the pipe */
    M = NULL;
    int64_t dt = now_ms() - t0;
    close(go[1]);
    int rc = wait_ok(p);
    /* it may wait a little for a server that is about to stop, not for the
     * child, which is blocked until after close returns */
    cr_assert_lt(dt, 3000, "mpm_manager_close waited %lld ms", (long long)dt);
    cr_assert_eq(rc, 0, "the child could not use the server after the parent closed (%d)", rc);
}

/*---- references follow processes ----------------------------------------------*/

Test(fork, anonymous_objects_die_with_their_last_handle)
{
    mpm_dict *a = NULL, *b = NULL, *c = NULL;
    cr_assert_eq(objects(), 0);
    OK(mpm_dict_new(M, &a));
    OK(mpm_dict_new(M, &b));
    OK(mpm_dict_new(M, &c));
    cr_assert_eq(objects(), 3);
    mpm_dict_close(b);
    cr_assert_eq(objects(), 2);

    /* a child holding a reference keeps the object alive past the parent's close */
    int ready[2], done[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(done), 0);
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        char ch = 'r';
        close(ready[0]);
        close(done[1]);
        if (mpm_dict_set(a, MPM_STR("held by"), MPM_STR("child"))) _exit(2);
        if (write(ready[1], &ch, 1) != 1) _exit(3);
        if (read(done[0], &ch, 1) != 0) _exit(4);
        mpm_val *v = NULL;
        int rc = mpm_dict_get(a, MPM_STR("held by"), &v);
        mpm_val_free(v);
        mpm_dict_close(a);
        _exit(rc ? 5 : 0);
    }
    close(ready[1]);
    close(done[0]);
    char ch;
    cr_assert_eq(read(ready[0], &ch, 1), 1);
    mpm_dict_close(a);
    cr_assert_eq(objects(), 2, "the object died while the child still held it");
    close(done[1]);
    close(ready[0]);
    cr_assert_eq(wait_ok(p), 0, "the child could not use its handle after the parent closed");
    cr_assert_eq(objects_settle(1), 1);
    mpm_dict_close(c);
    cr_assert_eq(objects(), 0);
}

Test(fork, a_child_that_exits_without_closing_releases_its_references)
{
    mpm_dict *d = NULL;
    OK(mpm_dict_new(M, &d));
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) _exit(mpm_dict_set(d, MPM_STR("x"), MPM_INT(1)) ? 2 : 0); /* no close */
    cr_assert_eq(wait_ok(p), 0);
    assert_repr(d, "{'x': 1}");
    mpm_dict_close(d);
    cr_assert_eq(objects_settle(0), 0, "the exited child's reference was never released");
}

Test(fork, a_client_killed_in_a_loop_of_sets_disturbs_nothing)
{
    mpm_dict *d = NULL, *other = NULL;
    OK(mpm_dict_new(M, &d));
    OK(mpm_dict_new(M, &other));
    OK(mpm_dict_set(other, MPM_STR("k"), MPM_STR("v")));
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        char big[4096];
        memset(big, 'b', sizeof big);
        close(ready[0]);
        for (int64_t i = 0;; i++) {
            if (mpm_dict_set(d, MPM_INT(i % 100), MPM_STRN(big, sizeof big))) _exit(2);
            if (i == 150 && write(ready[1], "r", 1) != 1) _exit(3); /* all 100 keys exist */
        }
    }
    close(ready[1]);
    char ch;
    cr_assert_eq(read(ready[0], &ch, 1), 1);
    close(ready[0]);
    sleep_ms(20);
    cr_assert_eq(kill(p, SIGKILL), 0);
    cr_assert_eq(wait_ok(p), 128 + SIGKILL);
    OK(mpm_ping(M));
    mpm_val *v = NULL;
    OK(mpm_dict_get(other, MPM_STR("k"), &v));
    mpm_val_free(v);
    size_t n = 0;
    OK(mpm_dict_len(d, &n));
    cr_assert_eq(n, 100);
    OK(mpm_dict_set(d, MPM_STR("after"), MPM_INT(1)));
    mpm_dict_close(d);
    cr_assert_eq(objects_settle(1), 1, "the killed client's reference was never released");
    mpm_dict_close(other);
    cr_assert_eq(objects(), 0);
}

Test(fork, a_client_killed_while_parked_disturbs_nothing)
{
    mpm_dict *d = NULL;
    OK(mpm_dict_new(M, &d));
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        close(ready[0]);
        if (mpm_dict_set(d, MPM_STR("child"), MPM_INT(1))) _exit(2);
        if (write(ready[1], "r", 1) != 1) _exit(3);
        mpm_manager_debug_sleep(M, 1500); /* parked on the server when killed */
        _exit(4);
    }
    close(ready[1]);
    char ch;
    cr_assert_eq(read(ready[0], &ch, 1), 1);
    close(ready[0]);
    sleep_ms(100);
    cr_assert_eq(kill(p, SIGKILL), 0);
    cr_assert_eq(wait_ok(p), 128 + SIGKILL);
    int64_t t0 = now_ms();
    OK(mpm_ping(M));
    cr_assert_lt(now_ms() - t0, 1000, "a ping waited for the dead client's parked call");
    /* live past the dropped call's deadline: its timer must not fire on a
     * connection that is gone */
    for (int i = 0; i < 18; i++) {
        sleep_ms(100);
        OK(mpm_ping(M));
    }
    OK(mpm_manager_debug_sleep(M, 10));
    mpm_dict_close(d);
    cr_assert_eq(objects_settle(0), 0, "the killed client's reference was never released");
}

/*---- the private server's lifetime ------------------------------------------------*/

static int can_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

Test(fork, the_server_ends_when_its_starter_and_all_children_are_gone)
{
    /* The fixture's manager is not used here: a middle process starts its
     * own, forks a user of it, and exits without shutdown. */
    int addr[2], go[2];
    /* close-on-exec: the server the middle process starts must not hold them */
    cr_assert_eq(pipe2(addr, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
    pid_t mid = fork();
    cr_assert_neq(mid, -1);
    if (mid == 0) {
        mpm_manager *m = NULL;
        mpm_dict *d = NULL;
        close(addr[0]);
        close(go[1]);
        if (mpm_manager_start(&m, NULL) || mpm_dict_new(m, &d)) _exit(2);
        const char *url = mpm_manager_address(m);
        pid_t user = fork();
        if (user < 0) _exit(3);
        if (user == 0) {
            char ch;
            close(addr[1]);
            /* outlive the starter, then use the handles, then go */
            if (read(go[0], &ch, 1) != 0) _exit(4);
            _exit(mpm_dict_set(d, MPM_STR("late"), MPM_INT(1)) ? 5 : 0);
        }
        size_t n = strlen(url) + 1;
        if (write(addr[1], url, n) != (ssize_t)n) _exit(6);
        _exit(0); /* no shutdown, no close */
    }
    close(addr[1]);
    close(go[0]);
    char url[512] = {0};
    ssize_t got = 0, r;
    while ((r = read(addr[0], url + got, sizeof url - 1 - (size_t)got)) > 0)
        got += r;
    close(addr[0]);
    cr_assert_eq(wait_ok(mid), 0, "the middle process failed");
    cr_assert(strncmp(url, "unix://", 7) == 0, "address '%s'", url);
    const char *path = url + 7;

    /* the starter is gone but a child of it lives: the server must stay */
    sleep_ms(300);
    cr_assert(can_connect(path), "the server left while a forked child still lived");
    close(go[1]); /* the child uses the server, then exits */

    int64_t end = now_ms() + 5000;
    while (can_connect(path) && now_ms() < end)
        sleep_ms(20);
    cr_assert(!can_connect(path), "the server still runs 5 s after every process left");
    /* its private directory goes with it */
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    cr_assert_not_null(slash);
    *slash = 0;
    struct stat st;
    end = now_ms() + 2000;
    while (stat(dir, &st) == 0 && now_ms() < end)
        sleep_ms(20);
    cr_assert_neq(stat(dir, &st), 0, "the private directory %s was left behind", dir);
}

/*---- parked calls -------------------------------------------------------------------*/

Test(fork, a_parked_call_keeps_its_deadline)
{
    int64_t t0 = now_ms();
    OK(mpm_manager_debug_sleep(M, 100));
    int64_t dt = now_ms() - t0;
    cr_assert_geq(dt, 95, "debug_sleep(100) returned after %lld ms", (long long)dt);
    cr_assert_lt(dt, 1000, "debug_sleep(100) returned after %lld ms", (long long)dt);
    t0 = now_ms();
    OK(mpm_manager_debug_sleep(M, 0));
    cr_assert_lt(now_ms() - t0, 500);
    int rc = mpm_manager_debug_sleep(M, -1);
    cr_assert_eq(rc, MPM_EVALUE, "debug_sleep(-1): %d %s", rc, mpm_last_error());
    cr_assert_str_eq(mpm_last_error(), "ValueError: sleep length must be >= 0");
    OK(mpm_ping(M));
}

Test(fork, sleepers_in_two_processes_run_in_parallel)
{
    enum { MS = 700 };
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        char ch;
        close(go[1]);
        if (mpm_ping(M)) _exit(2); /* connected before the clock starts */
        if (read(go[0], &ch, 1) != 0) _exit(3);
        _exit(mpm_manager_debug_sleep(M, MS) ? 4 : 0);
    }
    close(go[0]);
    sleep_ms(100);
    int64_t t0 = now_ms();
    close(go[1]);
    OK(mpm_manager_debug_sleep(M, MS));
    cr_assert_eq(wait_ok(p), 0);
    int64_t dt = now_ms() - t0;
    cr_assert_geq(dt, MS - 5);
    cr_assert_lt(dt, 2 * MS - 150, "two %d ms sleeps took %lld ms: run one after the other", MS,
                 (long long)dt);
}

Test(fork, a_parked_call_does_not_hold_up_other_processes)
{
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) _exit(mpm_manager_debug_sleep(M, 1500) ? 2 : 0);
    sleep_ms(200); /* let the child park */
    int64_t t0 = now_ms();
    for (int i = 0; i < 20; i++)
        OK(mpm_ping(M));
    int64_t dt = now_ms() - t0;
    cr_assert_lt(dt, 1000, "20 pings took %lld ms beside a parked call", (long long)dt);
    cr_assert_eq(wait_ok(p), 0);
}

static void *sleeper(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)mpm_manager_debug_sleep(M, 700);
}

Test(fork, a_thread_parked_in_a_call_does_not_hold_up_another_thread)
{
    /* DESIGN.md: "each thread that calls gets its own connection ... so a
     * thread blocked in acquire or get never holds up another" */
    OK(mpm_ping(M));
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, sleeper, NULL), 0);
    sleep_ms(150); /* let the thread park */
    int64_t t0 = now_ms();
    int rc = mpm_ping(M);
    int64_t dt = now_ms() - t0;
    void *ret;
    pthread_join(t, &ret);
    cr_assert_eq(rc, 0, "%s", mpm_last_error());
    cr_assert_eq((intptr_t)ret, 0);
    cr_assert_lt(dt, 300, "a ping from one thread waited %lld ms for another thread's parked call",
                 (long long)dt);
}
