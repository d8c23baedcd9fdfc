/* event_test.c - mpm_event_*: set, clear, is_set, wait with its timeouts, and
 * one set waking a thousand parked waiters in other processes at once.
 *
 * Forked children never call cr_* (nng inside Criterion panics after fork):
 * they report by exit status, or by writing to a pipe. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mpm/mpm.h>

#include "support/support.h"

#include "proxy/client.h" /* raw calls: what a client in another language may send */

static mpm_manager *event_m;

static void event_setup(void)
{
    /* The 1,000-waiter test opens a connection per waiting thread, and the
     * server (our child) inherits our descriptor limit: raise it first. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int rc = mpm_manager_start(&event_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void event_teardown(void)
{
    mpm_manager_shutdown(event_m);
    event_m = NULL;
}

TestSuite(event, .init = event_setup, .fini = event_teardown, .timeout = 30);

static mpm_event *event_new(void)
{
    mpm_event *e = NULL;
    T_OK(mpm_event_new(event_m, &e));
    cr_assert_not_null(e);
    return e;
}

static bool event_flag(mpm_event *e)
{
    bool f = false;
    T_OK(mpm_event_is_set(e, &f));
    return f;
}

static void event_assert_repr(void *h, const char *want)
{
    char *s = NULL, b[256];
    T_OK(mpm_handle_repr(h, &s));
    snprintf(b, sizeof b, "%s", s);
    free(s);
    cr_assert_str_eq(b, want);
}

static void event_assert_no_objects(void)
{
    size_t n = 999;
    int64_t end = t_now_ms() + 5000;
    /* a dead child's handles go when the server reads its EOF: let it settle */
    for (;;) {
        T_OK(mpm_manager_object_count(event_m, &n));
        if (n == 0 || t_now_ms() >= end) break;
        t_sleep_ms(10);
    }
    cr_assert_eq(n, 0, "%zu objects left on the server", n);
}

/*---- the flag ---------------------------------------------------------------------*/

Test(event, starts_clear_and_set_and_clear_change_the_flag)
{
    mpm_event *e = event_new();
    cr_assert_eq(mpm_handle_type(e), MPM_OBJ_EVENT);
    cr_assert_not(event_flag(e));
    event_assert_repr(e, "<Event unset>");
    T_OK(mpm_event_set(e));
    cr_assert(event_flag(e));
    event_assert_repr(e, "<Event set>");
    T_OK(mpm_event_set(e)); /* setting twice is fine */
    cr_assert(event_flag(e));
    T_OK(mpm_event_clear(e));
    cr_assert_not(event_flag(e));
    T_OK(mpm_event_clear(e));
    cr_assert_not(event_flag(e));
    mpm_event_close(e);
    mpm_event_close(NULL);
    event_assert_no_objects();
}

Test(event, bad_arguments)
{
    mpm_event *e = event_new();
    bool f;
    t_assert_err(mpm_event_wait(e, -2, &f), MPM_EINVAL,
                 "invalid timeout -2 ms (-1: none, or >= 0)");
    t_assert_err(mpm_event_wait(NULL, 0, &f), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_event_set(NULL), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_event_clear(NULL), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_event_is_set(NULL, &f), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_event_is_set(e, NULL), MPM_EINVAL, "mpm_event_is_set: out is NULL");
    cr_assert_eq(mpm_event_new(NULL, &e), MPM_EINVAL);
    mpm_event_close(e);
    event_assert_no_objects();
}

Test(event, wait_on_a_set_event_returns_true_at_once)
{
    mpm_event *e = event_new();
    T_OK(mpm_event_set(e));
    int64_t t0 = t_now_ms();
    bool f = false;
    T_OK(mpm_event_wait(e, -1, &f));
    cr_assert(f);
    f = false;
    T_OK(mpm_event_wait(e, 0, &f));
    cr_assert(f);
    f = false;
    T_OK(mpm_event_wait(e, 60000, &f));
    cr_assert(f);
    T_OK(mpm_event_wait(e, 5000, NULL));
    cr_assert_lt(t_now_ms() - t0, 1000);
    mpm_event_close(e);
    event_assert_no_objects();
}

Test(event, wait_cannot_be_batched_but_set_can)
{
    mpm_event *e = event_new();
    bool f = true, is = false;
    T_OK(mpm_batch_begin(event_m));
    /* its answer decides what the caller does next, as an acquire's: refused,
     * timeout 0 too, and nothing is queued */
    t_assert_err(mpm_event_wait(e, 0, &f), MPM_EBATCH,
                 "mpm_event_wait cannot be queued in a batch");
    t_assert_err(mpm_event_wait(e, -1, &f), MPM_EBATCH,
                 "mpm_event_wait cannot be queued in a batch");
    T_OK(mpm_event_set(e));
    T_OK(mpm_event_is_set(e, &is));
    cr_assert_eq(mpm_batch_size(event_m), 2);
    T_OK(mpm_batch_exec(event_m, NULL, 0));
    cr_assert(is);
    cr_assert(f, "a refused wait must not touch *flag");
    /* the probe for a batch left none open: a wait outside one works */
    f = false;
    T_OK(mpm_event_wait(e, 0, &f));
    cr_assert(f);
    mpm_event_close(e);
    event_assert_no_objects();
}

Test(event, timeout_zero_never_waits)
{
    mpm_event *e = event_new();
    int64_t us[20];
    for (int i = 0; i < 20; i++) {
        bool f = true;
        int64_t t0 = t_now_us();
        T_OK(mpm_event_wait(e, 0, &f));
        us[i] = t_now_us() - t0;
        cr_assert_not(f);
    }
    int64_t med = t_median(us, 20);
    cr_assert_lt(med, 5000, "a non-blocking wait took %lld us (median of 20)", (long long)med);
    mpm_event_close(e);
    event_assert_no_objects();
}

/* t_assert_timeouts_precise's wait: a wait that must time out (false). */
static int event_timed_out(void *e, int64_t timeout_ms)
{
    bool f = true;
    int rc = mpm_event_wait(e, timeout_ms, &f);
    return rc ? rc : f ? -1 : 0;
}

Test(event, timeout_is_honoured_and_returns_false)
{
    mpm_event *e = event_new();
    bool f = true;
    int64_t t0 = t_now_ms();
    T_OK(mpm_event_wait(e, 200, &f));
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "event wait");
    cr_assert_not(f);
    /* and after a clear, a wait times out again */
    T_OK(mpm_event_set(e));
    T_OK(mpm_event_clear(e));
    f = true;
    t0 = t_now_ms();
    T_OK(mpm_event_wait(e, 100, &f));
    T_ASSERT_ON_TIME(t_now_ms() - t0, 100, "event wait");
    cr_assert_not(f);
    /* and within a few milliseconds of the deadline */
    t_assert_timeouts_precise(event_timed_out, e, 20, "event wait");
    mpm_event_close(e);
    event_assert_no_objects();
}

/*---- parked waiters ---------------------------------------------------------------*/

typedef struct event_waiter {
    mpm_event *e;
    int64_t timeout;
    int rc;
    bool flag;
    int64_t began_at, done_at;
    int ready[2];
} event_waiter;

static void *event_waiter_main(void *arg)
{
    event_waiter *w = arg;
    bool f;
    /* open this thread's connection first, so only the wait is left */
    if (mpm_event_is_set(w->e, &f)) {
        w->rc = -1000;
        return NULL;
    }
    if (write(w->ready[1], "r", 1) != 1) {
        w->rc = -1001;
        return NULL;
    }
    w->began_at = t_now_ms();
    w->rc = mpm_event_wait(w->e, w->timeout, &w->flag);
    w->done_at = t_now_ms();
    return NULL;
}

static void event_start_waiter(pthread_t *t, event_waiter *w)
{
    char ch;
    cr_assert_eq(pipe(w->ready), 0);
    cr_assert_eq(pthread_create(t, NULL, event_waiter_main, w), 0);
    cr_assert_eq(read(w->ready[0], &ch, 1), 1);
    close(w->ready[0]);
    close(w->ready[1]);
}

Test(event, set_wakes_every_parked_waiter)
{
    mpm_event *e = event_new();
    pthread_t t[3];
    event_waiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (event_waiter){.e = e, .timeout = i == 2 ? -1 : 20000};
        event_start_waiter(&t[i], &w[i]);
    }
    t_sleep_ms(200); /* all three parked */
    int64_t t0 = t_now_ms();
    T_OK(mpm_event_set(e));
    T_OK(mpm_event_clear(e)); /* too late to matter: they were woken by the set */
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].rc, 0, "waiter %d: %d", i, w[i].rc);
        cr_assert(w[i].flag, "waiter %d saw the flag false", i);
        cr_assert_lt(w[i].done_at - t0, 1000);
    }
    cr_assert_not(event_flag(e));
    mpm_event_close(e);
    event_assert_no_objects();
}

Test(event, a_timed_out_waiter_does_not_disturb_the_others)
{
    mpm_event *e = event_new();
    pthread_t t[2];
    event_waiter w[2] = {{.e = e, .timeout = 150}, {.e = e, .timeout = 20000}};
    event_start_waiter(&t[0], &w[0]);
    event_start_waiter(&t[1], &w[1]);
    pthread_join(t[0], NULL);
    cr_assert_eq(w[0].rc, 0);
    cr_assert_not(w[0].flag);
    T_ASSERT_ON_TIME(w[0].done_at - w[0].began_at, 150, "event wait");
    T_OK(mpm_event_set(e));
    pthread_join(t[1], NULL);
    cr_assert_eq(w[1].rc, 0);
    cr_assert(w[1].flag);
    mpm_event_close(e);
    event_assert_no_objects();
}

Test(event, a_killed_waiter_is_dropped_and_the_others_still_wake)
{
    mpm_event *e = event_new();
    int go[2];
    char ch;
    cr_assert_eq(pipe(go), 0);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        bool f;
        close(go[0]);
        if (mpm_event_is_set(e, &f)) _exit(2);
        if (write(go[1], "r", 1) != 1) _exit(3);
        mpm_event_wait(e, -1, &f);
        _exit(4);
    }
    close(go[1]);
    cr_assert_eq(read(go[0], &ch, 1), 1);
    close(go[0]);
    pthread_t t;
    event_waiter w = {.e = e, .timeout = 20000};
    event_start_waiter(&t, &w);
    t_wait_parked(event_m, 2);
    /* the server drops the dead one's parked wait: one is left */
    t_kill_parked(event_m, p, 1);
    T_OK(mpm_event_set(e));
    pthread_join(t, NULL);
    cr_assert_eq(w.rc, 0);
    cr_assert(w.flag);
    T_OK(mpm_ping(event_m));
    mpm_event_close(e);
    event_assert_no_objects();
}

Test(event, waiters_in_other_processes_wake)
{
    mpm_event *e = event_new();
    pid_t p[3];
    int ready[2];
    char ch;
    cr_assert_eq(pipe(ready), 0);
    for (int i = 0; i < 3; i++) {
        p[i] = fork();
        cr_assert_geq(p[i], 0);
        if (p[i] == 0) {
            bool f = false;
            close(ready[0]);
            if (mpm_event_is_set(e, &f) || f) _exit(2);
            if (write(ready[1], "r", 1) != 1) _exit(3);
            if (mpm_event_wait(e, 20000, &f)) _exit(4);
            _exit(f ? 0 : 5);
        }
    }
    close(ready[1]);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(read(ready[0], &ch, 1), 1);
    close(ready[0]);
    t_sleep_ms(200);
    T_OK(mpm_event_set(e));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(t_wait_child(p[i]), 0, "child %d", i);
    mpm_event_close(e);
    event_assert_no_objects();
}

/*---- a thousand waiters -----------------------------------------------------------*/

#define EVENT_NPROC 4
#define EVENT_NTHREADS 250

typedef struct event_many {
    mpm_event *e;
    atomic_int ready, ok;
    atomic_llong last_start, last_done;
} event_many;

static void *event_many_main(void *arg)
{
    event_many *x = arg;
    bool f = false;
    if (mpm_event_is_set(x->e, &f)) return NULL; /* connects: only the wait is left */
    long long t = t_now_ms(), cur = atomic_load(&x->last_start);
    while (t > cur && !atomic_compare_exchange_weak(&x->last_start, &cur, t)) {
    }
    atomic_fetch_add(&x->ready, 1);
    if (mpm_event_wait(x->e, 25000, &f) || !f) return NULL;
    t = t_now_ms();
    cur = atomic_load(&x->last_done);
    while (t > cur && !atomic_compare_exchange_weak(&x->last_done, &cur, t)) {
    }
    atomic_fetch_add(&x->ok, 1);
    return NULL;
}

/* One child: EVENT_NTHREADS threads wait on e.  It writes "r" when all of them
 * are about to wait, then [ok, latest wait start, latest return] as int64s. */
static int event_many_child(mpm_event *e, int out)
{
    static event_many x;
    pthread_t t[EVENT_NTHREADS];
    pthread_attr_t a;
    x.e = e;
    /* One call first, before any thread: the client's first call after fork
     * (re-initialising its lock, its own session) is not safe to race. */
    bool f;
    if (mpm_event_is_set(e, &f)) return 5;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    for (int i = 0; i < EVENT_NTHREADS; i++)
        if (pthread_create(&t[i], &a, event_many_main, &x)) return 2;
    int64_t end = t_now_ms() + 20000;
    while (atomic_load(&x.ready) < EVENT_NTHREADS && t_now_ms() < end)
        t_sleep_ms(5);
    if (write(out, "r", 1) != 1) return 3;
    for (int i = 0; i < EVENT_NTHREADS; i++)
        pthread_join(t[i], NULL);
    int64_t rep[3] = {atomic_load(&x.ok), atomic_load(&x.last_start), atomic_load(&x.last_done)};
    if (write(out, rep, sizeof rep) != sizeof rep) return 4;
    return 0;
}

Test(event, one_set_wakes_a_thousand_parked_waiters)
{
    mpm_event *e = event_new();
    pid_t p[EVENT_NPROC];
    int pipes[EVENT_NPROC][2];
    char ch;
    for (int i = 0; i < EVENT_NPROC; i++) {
        cr_assert_eq(pipe(pipes[i]), 0);
        p[i] = fork();
        cr_assert_geq(p[i], 0);
        if (p[i] == 0) {
            close(pipes[i][0]);
            _exit(event_many_child(e, pipes[i][1]));
        }
        close(pipes[i][1]);
    }
    for (int i = 0; i < EVENT_NPROC; i++)
        cr_assert_eq(read(pipes[i][0], &ch, 1), 1, "child %d did not get ready", i);
    /* every wait parked before the set: one arriving after it would find the
     * flag set and return true at once, woken by nothing */
    t_wait_parked(event_m, EVENT_NPROC * EVENT_NTHREADS);
    int64_t t_set = t_now_ms();
    T_OK(mpm_event_set(e));
    int64_t ok = 0, last = 0;
    for (int i = 0; i < EVENT_NPROC; i++) {
        int64_t rep[3] = {0, 0, 0};
        cr_assert_eq(read(pipes[i][0], rep, sizeof rep), (ssize_t)sizeof rep, "child %d", i);
        close(pipes[i][0]);
        cr_assert_eq(t_wait_child(p[i]), 0, "child %d", i);
        cr_assert_lt(rep[1], t_set, "child %d: a wait began after the set", i);
        ok += rep[0];
        if (rep[2] > last) last = rep[2];
    }
    cr_assert_eq(ok, EVENT_NPROC * EVENT_NTHREADS, "%lld of %d waiters saw the flag", (long long)ok,
                 EVENT_NPROC * EVENT_NTHREADS);
    cr_log_info("event: %d waiters woken by one set in %lld ms", EVENT_NPROC * EVENT_NTHREADS,
                (long long)(last - t_set));
    cr_assert_lt(last - t_set, 5000, "waking %d waiters took %lld ms", EVENT_NPROC * EVENT_NTHREADS,
                 (long long)(last - t_set));
    mpm_event_close(e);
    event_assert_no_objects();
}

/*---- the server's own checks (what any client, in any language, may send) ---------*/

Test(event, the_server_checks_raw_arguments)
{
    mpm_event *e = event_new();
    mpm_val a = MPM_INT(-5);
    bool f = false;
    t_assert_err(mpmi_call(&e->h, MPMI_OP_E_WAIT, &a, 1, MPMI_SINK_NONE), MPM_EVALUE,
                 "ValueError: timeout must be -1 (none) or >= 0");
    a = MPM_STR("x");
    t_assert_err(mpmi_call(&e->h, MPMI_OP_E_WAIT, &a, 1, MPMI_SINK_NONE), MPM_ETYPE,
                 "TypeError: 'str' object cannot be interpreted as an integer");
    t_assert_err(mpmi_call(&e->h, MPMI_OP_E_SET, &a, 1, MPMI_SINK_NONE), MPM_EARGS,
                 "TypeError: Event.E_SET takes 0 arguments (1 given)");
    t_assert_err(mpmi_call(&e->h, MPMI_OP_ACQUIRE, NULL, 0, MPMI_SINK_NONE), MPM_ENOMETHOD,
                 "AttributeError: 'Event' object has no method ACQUIRE");
    T_OK(mpmi_call(&e->h, MPMI_OP_COPY, NULL, 0, MPMI_SINK_BOOL(&f)));
    cr_assert_not(f);
    T_OK(mpm_event_set(e));
    /* nil or no timeout: none (the flag is set, so no wait) */
    a = MPM_NONE;
    T_OK(mpmi_call(&e->h, MPMI_OP_E_WAIT, &a, 1, MPMI_SINK_BOOL(&f)));
    cr_assert(f);
    f = false;
    T_OK(mpmi_call(&e->h, MPMI_OP_E_WAIT, NULL, 0, MPMI_SINK_BOOL(&f)));
    cr_assert(f);
    T_OK(mpmi_call(&e->h, MPMI_OP_COPY, NULL, 0, MPMI_SINK_BOOL(&f)));
    cr_assert(f);
    mpm_event *x = NULL;
    a = MPM_INT(1);
    t_assert_err(mpmi_create(event_m, MPM_OBJ_EVENT, 0, &a, 1, (void **)&x), MPM_EARGS,
                 "TypeError: Event() takes no arguments (1 given)");
    mpm_event_close(e);
    event_assert_no_objects();
}

Test(event, an_enormous_timeout_waits_like_none)
{
    mpm_event *e = event_new();
    pthread_t t;
    event_waiter w = {.e = e, .timeout = INT64_MAX};
    event_start_waiter(&t, &w);
    t_sleep_ms(100);
    T_OK(mpm_event_set(e));
    pthread_join(t, NULL);
    cr_assert_eq(w.rc, 0);
    cr_assert(w.flag);
    mpm_event_close(e);
    event_assert_no_objects();
}
