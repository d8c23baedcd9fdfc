/* condition_test.c - mpm_condition_*: Python's Condition over a Lock, an
 * RLock or one of its own; wait re-acquires before it returns (notified or
 * timed out), notify and notify_all, wait_for, errors in Python's words, and
 * waiters in processes that die.
 *
 * Forked children never call cr_* (nng inside Criterion panics after fork):
 * they report by exit status only. */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mpm/mpm.h>

#include "support/support.h"

#include "proxy/client.h" /* raw calls: what a client in another language may send */

static mpm_manager *cond_m;

static void cond_setup(void)
{
    int rc = mpm_manager_start(&cond_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void cond_teardown(void)
{
    mpm_manager_shutdown(cond_m);
    cond_m = NULL;
}

TestSuite(condition, .init = cond_setup, .fini = cond_teardown, .timeout = 30);

static mpm_condition *cond_new(void *lock)
{
    mpm_condition *c = NULL;
    T_OK(mpm_condition_new(cond_m, &c, lock));
    cr_assert_not_null(c);
    return c;
}

static void cond_assert_repr(void *h, const char *want)
{
    char *s = NULL, b[256];
    T_OK(mpm_handle_repr(h, &s));
    snprintf(b, sizeof b, "%s", s);
    free(s);
    cr_assert_str_eq(b, want);
}

/* The number of waiters not yet notified, from the repr "<Condition(..., n)>". */
static int cond_nwaiting(mpm_condition *c)
{
    char *s = NULL;
    T_OK(mpm_handle_repr(c, &s));
    char *comma = strrchr(s, ',');
    cr_assert_not_null(comma, "%s", s);
    int n = atoi(comma + 1);
    free(s);
    return n;
}

/* Poll until want waiters are parked on c, up to ms. */
static int cond_nwaiting_settle(mpm_condition *c, int want, int ms)
{
    int64_t end = t_now_ms() + ms;
    int n;
    while ((n = cond_nwaiting(c)) != want && t_now_ms() < end)
        t_sleep_ms(5);
    return n;
}

static size_t cond_objects(void)
{
    size_t n = 999;
    T_OK(mpm_manager_object_count(cond_m, &n));
    return n;
}

/* Nothing may be left on the server when a test is done. */
static void cond_assert_no_objects(void)
{
    size_t n = 999;
    int64_t end = t_now_ms() + 5000;
    /* a dead child's handles go when the server reads its EOF: let it settle */
    while ((n = cond_objects()) != 0 && t_now_ms() < end)
        t_sleep_ms(10);
    cr_assert_eq(n, 0, "%zu objects left on the server", n);
}

/* Fork a child that waits on c (with the lock) for up to timeout_ms and
 * reports on done: its index when notified, 't' when it timed out.  Returns
 * once the child is parked in its wait (its lock is free again). */
static pid_t cond_spawn_waiter(mpm_condition *c, int idx, int64_t timeout_ms, int done_fd)
{
    int ready[2];
    char ch;
    cr_assert_eq(pipe(ready), 0);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        bool notified = false;
        close(ready[0]);
        if (mpm_condition_acquire(c, 5000)) _exit(2);
        if (write(ready[1], "r", 1) != 1) _exit(3);
        if (mpm_condition_wait(c, timeout_ms, &notified)) _exit(4);
        /* reported while holding the lock, so reports come in lock order;
         * the parent must not expect the lock free the moment it reads one */
        char r = notified ? (char)('0' + idx) : 't';
        if (write(done_fd, &r, 1) != 1) _exit(5);
        /* wait returned holding the lock: releasing must work */
        if (mpm_condition_release(c)) _exit(6);
        _exit(0);
    }
    close(ready[1]);
    cr_assert_eq(read(ready[0], &ch, 1), 1, "waiter %d did not start", idx);
    close(ready[0]);
    /* the child held the lock when it said ready: getting it means it waits */
    T_OK(mpm_condition_acquire(c, 5000));
    T_OK(mpm_condition_release(c));
    return p;
}

/* Read up to max bytes from fd, waiting up to ms for them. */
static int cond_read_now(int fd, char *buf, int max, int ms)
{
    int n = 0;
    int64_t end = t_now_ms() + ms;
    while (n < max) {
        int64_t left = end - t_now_ms();
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) break;
        ssize_t r = read(fd, buf + n, (size_t)(max - n));
        if (r <= 0) break;
        n += (int)r;
    }
    buf[n] = 0;
    return n;
}

/*---- creation -----------------------------------------------------------------------------*/

Test(condition, without_a_lock_it_makes_an_rlock_of_its_own)
{
    mpm_condition *c = cond_new(NULL);
    cr_assert_eq(mpm_handle_type(c), MPM_OBJ_CONDITION);
    cond_assert_repr(c, "<Condition(<unlocked _thread.RLock object owner=0 count=0>, 0)>");
    /* the RLock is a server object of its own, and goes with the condition */
    cr_assert_eq(cond_objects(), 2);
    T_OK(mpm_condition_acquire(c, 0));
    T_OK(mpm_condition_acquire(c, 0)); /* re-entrant */
    T_OK(mpm_condition_release(c));
    T_OK(mpm_condition_release(c));
    t_assert_err(mpm_condition_release(c), MPM_ERUNTIME,
                 "RuntimeError: cannot release un-acquired lock");
    mpm_condition_close(c);
    mpm_condition_close(NULL);
    cond_assert_no_objects();
}

Test(condition, over_a_lock_shares_it_and_keeps_it_alive)
{
    mpm_lock *l = NULL;
    bool locked = false;
    T_OK(mpm_lock_new(cond_m, &l));
    mpm_condition *c = cond_new(l);
    cond_assert_repr(c, "<Condition(<unlocked _thread.lock object>, 0)>");
    T_OK(mpm_condition_acquire(c, 0));
    T_OK(mpm_lock_locked(l, &locked));
    cr_assert(locked);
    /* one lock: its own handle sees it held, and (a Lock) may release it */
    t_assert_err(mpm_lock_acquire(l, 0, NULL), MPM_ETIMEDOUT, "timed out");
    T_OK(mpm_lock_release(l));
    t_assert_err(mpm_condition_release(c), MPM_ERUNTIME, "RuntimeError: release unlocked lock");
    /* closing the lock's handle leaves it to the condition */
    mpm_lock_close(l);
    cr_assert_eq(cond_objects(), 2);
    T_OK(mpm_condition_acquire(c, 0));
    cond_assert_repr(c, "<Condition(<locked _thread.lock object>, 0)>");
    T_OK(mpm_condition_release(c));
    mpm_condition_close(c);
    cond_assert_no_objects();
}

Test(condition, over_an_rlock)
{
    mpm_rlock *r = NULL;
    T_OK(mpm_rlock_new(cond_m, &r));
    mpm_condition *c = cond_new(r);
    T_OK(mpm_rlock_acquire(r, 0, NULL));
    /* held through the RLock's handle is held for the condition too */
    T_OK(mpm_condition_notify(c, 1));
    T_OK(mpm_condition_release(c));
    t_assert_err(mpm_rlock_release(r), MPM_ERUNTIME,
                 "RuntimeError: cannot release un-acquired lock");
    mpm_condition_close(c);
    cr_assert_eq(cond_objects(), 1);
    mpm_rlock_close(r);
    cond_assert_no_objects();
}

/* Fencing tokens with a Condition (docs/differences.md): over an RLock taken
 * with mpm_rlock_acquire, a wait re-acquires under a new token, which a
 * re-entrant acquire then tells. */
Test(condition, over_an_rlock_a_reentrant_acquire_tells_the_token_a_wait_took)
{
    mpm_rlock *r = NULL;
    T_OK(mpm_rlock_new(cond_m, &r));
    mpm_condition *c = cond_new(r);
    uint64_t t1 = 0, t2 = 0, t3 = 0;
    int tok[2];
    cr_assert_eq(pipe(tok), 0);
    T_OK(mpm_rlock_acquire(r, 0, &t1));
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        uint64_t t = 0;
        close(tok[0]);
        /* free once the parent waits */
        if (mpm_rlock_acquire(r, 5000, &t)) _exit(2);
        if (write(tok[1], &t, sizeof t) != (ssize_t)sizeof t) _exit(3);
        if (mpm_condition_notify(c, 1)) _exit(4);
        if (mpm_rlock_release(r)) _exit(5);
        _exit(0);
    }
    close(tok[1]);
    bool notified = false;
    T_OK(mpm_condition_wait(c, 5000, &notified));
    cr_assert(notified);
    cr_assert_eq(read(tok[0], &t2, sizeof t2), (ssize_t)sizeof t2);
    close(tok[0]);
    cr_assert_eq(t_wait_child(p), 0);
    T_OK(mpm_rlock_acquire(r, 0, &t3));
    cr_assert(t1 < t2 && t2 < t3, "tokens %llu %llu %llu", (unsigned long long)t1,
              (unsigned long long)t2, (unsigned long long)t3);
    T_OK(mpm_rlock_release(r));
    T_OK(mpm_rlock_release(r));
    t_assert_err(mpm_rlock_release(r), MPM_ERUNTIME,
                 "RuntimeError: cannot release un-acquired lock");
    mpm_condition_close(c);
    mpm_rlock_close(r);
    cond_assert_no_objects();
}

Test(condition, bad_arguments)
{
    mpm_value *v = NULL;
    mpm_condition *c = (mpm_condition *)1;
    T_OK(mpm_value_new(cond_m, &v, 'i', MPM_INT(0)));
    t_assert_err(mpm_condition_new(cond_m, &c, v), MPM_ETYPE,
                 "TypeError: Condition() needs a Lock or an RLock");
    cr_assert_null(c);
    cr_assert_eq(mpm_condition_new(NULL, &c, NULL), MPM_EINVAL);
    c = cond_new(NULL);
    bool b;
    t_assert_err(mpm_condition_acquire(c, -2), MPM_EINVAL,
                 "invalid timeout -2 ms (-1: none, or >= 0)");
    t_assert_err(mpm_condition_wait(c, -5, &b), MPM_EINVAL,
                 "invalid timeout -5 ms (-1: none, or >= 0)");
    t_assert_err(mpm_condition_acquire(NULL, 0), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_condition_release(NULL), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_condition_wait(NULL, 0, &b), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_condition_notify(NULL, 1), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_condition_notify_all(NULL), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_condition_wait_for(c, NULL, NULL, 0, &b), MPM_EINVAL,
                 "mpm_condition_wait_for: pred is NULL");
    T_OK(mpm_condition_acquire(c, 0));
    T_OK(mpm_batch_begin(cond_m));
    t_assert_err(mpm_condition_wait(c, 0, &b), MPM_EBATCH,
                 "mpm_condition_wait cannot be queued in a batch");
    t_assert_err(mpm_condition_acquire(c, 0), MPM_EBATCH,
                 "mpm_condition_acquire cannot be queued in a batch");
    T_OK(mpm_condition_notify_all(c));
    T_OK(mpm_condition_release(c));
    T_OK(mpm_batch_exec(cond_m, NULL, 0));
    t_assert_err(mpm_condition_release(c), MPM_ERUNTIME,
                 "RuntimeError: cannot release un-acquired lock");
    mpm_condition_close(c);
    mpm_value_close(v);
    cond_assert_no_objects();
}

Test(condition, wait_and_notify_without_the_lock_are_runtime_errors)
{
    mpm_condition *c = cond_new(NULL);
    bool b = true;
    t_assert_err(mpm_condition_wait(c, 0, &b), MPM_ERUNTIME,
                 "RuntimeError: cannot wait on un-acquired lock");
    t_assert_err(mpm_condition_wait(c, -1, &b), MPM_ERUNTIME,
                 "RuntimeError: cannot wait on un-acquired lock");
    t_assert_err(mpm_condition_notify(c, 1), MPM_ERUNTIME,
                 "RuntimeError: cannot notify on un-acquired lock");
    t_assert_err(mpm_condition_notify_all(c), MPM_ERUNTIME,
                 "RuntimeError: cannot notify on un-acquired lock");
    /* held by another process does not count */
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        if (mpm_condition_acquire(c, 5000)) _exit(2);
        if (mpm_condition_notify(c, 1)) _exit(3);
        _exit(0); /* exits holding it */
    }
    cr_assert_eq(t_wait_child(p), 0);
    t_assert_err(mpm_condition_notify(c, 1), MPM_ERUNTIME,
                 "RuntimeError: cannot notify on un-acquired lock");
    mpm_condition_close(c);
    cond_assert_no_objects();
}

/*---- wait ---------------------------------------------------------------------------------*/

/* t_assert_timeouts_precise's wait: a wait (with the lock) that must time
 * out, and come back with the lock. */
static int cond_timed_out(void *c, int64_t timeout_ms)
{
    bool notified = true;
    int rc = mpm_condition_wait(c, timeout_ms, &notified);
    return rc ? rc : notified ? -1 : 0;
}

Test(condition, wait_timeout_returns_false_with_the_lock_held_again)
{
    mpm_condition *c = cond_new(NULL);
    bool notified = true;
    T_OK(mpm_condition_acquire(c, 0));
    T_OK(mpm_condition_acquire(c, 0));
    int64_t t0 = t_now_ms();
    T_OK(mpm_condition_wait(c, 200, &notified));
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "condition wait");
    cr_assert(!notified);
    /* both levels are back */
    char *s = NULL;
    T_OK(mpm_handle_repr(c, &s));
    cr_assert(strstr(s, "<Condition(<locked _thread.RLock object owner=") == s, "%s", s);
    cr_assert(strstr(s, " count=2>, 0)>") != NULL, "%s", s);
    free(s);
    /* and within a few milliseconds of the deadline */
    t_assert_timeouts_precise(cond_timed_out, c, 20, "condition wait");
    T_OK(mpm_condition_release(c));
    T_OK(mpm_condition_release(c));
    t_assert_err(mpm_condition_release(c), MPM_ERUNTIME,
                 "RuntimeError: cannot release un-acquired lock");
    mpm_condition_close(c);
    cond_assert_no_objects();
}

Test(condition, wait_zero_never_waits)
{
    mpm_condition *c = cond_new(NULL);
    bool notified = true;
    T_OK(mpm_condition_acquire(c, 0));
    int64_t us[20];
    for (int i = 0; i < 20; i++) {
        int64_t t0 = t_now_us();
        T_OK(mpm_condition_wait(c, 0, &notified));
        us[i] = t_now_us() - t0;
        cr_assert(!notified);
    }
    int64_t med = t_median(us, 20);
    cr_assert_lt(med, 5000, "a wait(0) took %lld us (median of 20)", (long long)med);
    T_OK(mpm_condition_notify(c, 1));
    T_OK(mpm_condition_release(c));
    mpm_condition_close(c);
    cond_assert_no_objects();
}

typedef struct cond_taker {
    mpm_condition *c;
    int rc;
    atomic_int took; /* 1: had the lock (and gave it back) */
    int ready[2];
} cond_taker;

static void *cond_taker_main(void *arg)
{
    cond_taker *t = arg;
    if (write(t->ready[1], "r", 1) != 1) t->rc = -1000;
    t->rc = mpm_condition_acquire(t->c, 10000);
    if (t->rc == 0) {
        atomic_store(&t->took, 1);
        t->rc = mpm_condition_release(t->c);
    }
    return NULL;
}

Test(condition, wait_zero_lets_the_queued_acquirers_go_first)
{
    mpm_condition *c = cond_new(NULL);
    bool notified = true;
    T_OK(mpm_condition_acquire(c, 0));
    pthread_t th;
    cond_taker t = {.c = c};
    char ch;
    cr_assert_eq(pipe(t.ready), 0);
    cr_assert_eq(pthread_create(&th, NULL, cond_taker_main, &t), 0);
    cr_assert_eq(read(t.ready[0], &ch, 1), 1);
    t_sleep_ms(150); /* its acquire is parked */
    cr_assert(!atomic_load(&t.took));
    /* Python's wait(0): release, let the queue have the lock, take it back */
    T_OK(mpm_condition_wait(c, 0, &notified));
    cr_assert(!notified);
    cr_assert(atomic_load(&t.took), "the queued acquirer did not get the lock in between");
    pthread_join(th, NULL);
    cr_assert_eq(t.rc, 0);
    T_OK(mpm_condition_notify(c, 1)); /* held again */
    T_OK(mpm_condition_release(c));
    close(t.ready[0]);
    close(t.ready[1]);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

Test(condition, a_timed_out_wait_returns_only_once_it_has_the_lock_again)
{
    mpm_condition *c = cond_new(NULL);
    int ready[2];
    char ch;
    cr_assert_eq(pipe(ready), 0);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        bool notified = true;
        close(ready[0]);
        if (mpm_condition_acquire(c, 5000)) _exit(2);
        if (write(ready[1], "r", 1) != 1) _exit(3);
        int64_t t0 = t_now_ms();
        if (mpm_condition_wait(c, 200, &notified)) _exit(4);
        int64_t took = t_now_ms() - t0;
        if (notified) _exit(5);
        /* the parent held the lock from before the deadline until 700 ms */
        if (took < 600) _exit(6);
        if (mpm_condition_release(c)) _exit(7);
        _exit(0);
    }
    close(ready[1]);
    cr_assert_eq(read(ready[0], &ch, 1), 1);
    close(ready[0]);
    int64_t t0 = t_now_ms();
    T_OK(mpm_condition_acquire(c, 5000));
    t_sleep_ms(700 - (int)(t_now_ms() - t0));
    T_OK(mpm_condition_release(c));
    cr_assert_eq(t_wait_child(p), 0);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

Test(condition, a_notified_waiter_outlives_its_deadline_waiting_for_the_lock)
{
    mpm_condition *c = cond_new(NULL);
    int done[2];
    char got[4];
    cr_assert_eq(pipe(done), 0);
    pid_t p = cond_spawn_waiter(c, 0, 300, done[1]);
    T_OK(mpm_condition_acquire(c, 0));
    T_OK(mpm_condition_notify(c, 1));
    cr_assert_eq(cond_nwaiting(c), 0);
    /* hold the lock past the waiter's deadline: it was notified in time, and
     * re-acquiring has no deadline, as in Python */
    t_sleep_ms(600);
    T_OK(mpm_condition_release(c));
    cr_assert_eq(cond_read_now(done[0], got, 1, 3000), 1);
    cr_assert_str_eq(got, "0");
    cr_assert_eq(t_wait_child(p), 0);
    close(done[0]);
    close(done[1]);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

/*---- notify -------------------------------------------------------------------------------*/

#define COND_NWAITERS 3

/* Unlike Python 3.11, whose timed-out waiter stays listed until it has the
 * lock back (docs/differences.md): a notify in that moment reaches a live
 * waiter, not the one that timed out. */
Test(condition, a_notify_after_a_waiter_timed_out_goes_to_a_live_waiter)
{
    mpm_condition *c = cond_new(NULL);
    int done[2];
    char got[4];
    cr_assert_eq(pipe(done), 0);
    pid_t a = cond_spawn_waiter(c, 0, 300, done[1]);
    pid_t b = cond_spawn_waiter(c, 1, -1, done[1]);
    T_OK(mpm_condition_acquire(c, 5000));
    /* a's timeout ends while the lock is held here: it queues for the lock */
    t_sleep_ms(500);
    cr_assert_eq(cond_nwaiting(c), 1, "the timed-out waiter is still listed");
    T_OK(mpm_condition_notify(c, 1));
    T_OK(mpm_condition_release(c));
    cr_assert_eq(cond_read_now(done[0], got, 2, 3000), 2, "got %s", got);
    cr_assert(strchr(got, 't') && strchr(got, '1'), "reports %s", got);
    cr_assert_eq(t_wait_child(a), 0);
    cr_assert_eq(t_wait_child(b), 0);
    close(done[0]);
    close(done[1]);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

Test(condition, notify_one_wakes_exactly_one_waiter_the_oldest)
{
    mpm_condition *c = cond_new(NULL);
    int done[2];
    char got[8];
    cr_assert_eq(pipe(done), 0);
    pid_t pids[COND_NWAITERS];
    for (int i = 0; i < COND_NWAITERS; i++)
        pids[i] = cond_spawn_waiter(c, i, 20000, done[1]);
    cr_assert_eq(cond_nwaiting(c), COND_NWAITERS);
    for (int round = 0; round < COND_NWAITERS; round++) {
        T_OK(mpm_condition_acquire(c, 5000));
        T_OK(mpm_condition_notify(c, 1));
        T_OK(mpm_condition_release(c));
        cr_assert_eq(cond_read_now(done[0], got, 1, 3000), 1, "round %d woke nobody", round);
        cr_assert_eq(got[0], '0' + round, "round %d woke %c", round, got[0]);
        /* and only one */
        cr_assert_eq(cond_nwaiting(c), COND_NWAITERS - 1 - round);
    }
    for (int i = 0; i < COND_NWAITERS; i++)
        cr_assert_eq(t_wait_child(pids[i]), 0, "child %d", i);
    close(done[0]);
    close(done[1]);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

Test(condition, notify_all_wakes_every_waiter_and_notify_zero_none)
{
    mpm_condition *c = cond_new(NULL);
    int done[2];
    char got[8];
    cr_assert_eq(pipe(done), 0);
    pid_t pids[COND_NWAITERS];
    for (int i = 0; i < COND_NWAITERS; i++)
        pids[i] = cond_spawn_waiter(c, i, 20000, done[1]);
    T_OK(mpm_condition_acquire(c, 5000));
    T_OK(mpm_condition_notify(c, 0));
    T_OK(mpm_condition_notify(c, -3));
    cr_assert_eq(cond_nwaiting(c), COND_NWAITERS);
    T_OK(mpm_condition_notify_all(c));
    cr_assert_eq(cond_nwaiting(c), 0);
    /* they wait for the lock now: nobody returns while it is held here */
    cr_assert_eq(cond_read_now(done[0], got, 1, 200), 0, "woke before the lock was free: %s", got);
    T_OK(mpm_condition_release(c));
    cr_assert_eq(cond_read_now(done[0], got, COND_NWAITERS, 5000), COND_NWAITERS, "woke %s", got);
    /* each re-acquired in turn, in the order they waited */
    cr_assert_str_eq(got, "012");
    for (int i = 0; i < COND_NWAITERS; i++)
        cr_assert_eq(t_wait_child(pids[i]), 0, "child %d", i);
    close(done[0]);
    close(done[1]);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

Test(condition, notify_n_wakes_n)
{
    mpm_condition *c = cond_new(NULL);
    int done[2];
    char got[8];
    cr_assert_eq(pipe(done), 0);
    pid_t pids[COND_NWAITERS];
    for (int i = 0; i < COND_NWAITERS; i++)
        pids[i] = cond_spawn_waiter(c, i, 20000, done[1]);
    T_OK(mpm_condition_acquire(c, 5000));
    T_OK(mpm_condition_notify(c, 2));
    T_OK(mpm_condition_release(c));
    cr_assert_eq(cond_read_now(done[0], got, 2, 5000), 2);
    cr_assert_str_eq(got, "01");
    cr_assert_eq(cond_nwaiting(c), 1);
    T_OK(mpm_condition_acquire(c, 5000));
    T_OK(mpm_condition_notify(c, 5));
    T_OK(mpm_condition_release(c));
    cr_assert_eq(cond_read_now(done[0], got, 1, 5000), 1);
    cr_assert_str_eq(got, "2");
    for (int i = 0; i < COND_NWAITERS; i++)
        cr_assert_eq(t_wait_child(pids[i]), 0, "child %d", i);
    close(done[0]);
    close(done[1]);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

/*---- handing over between processes ---------------------------------------------------------*/

#define COND_ITEMS 10

/* A one-slot mailbox: full says whether item holds an item not yet taken. */
Test(condition, producer_and_consumer_hand_over_every_item)
{
    mpm_condition *c = cond_new(NULL);
    mpm_value *item = NULL, *full = NULL;
    T_OK(mpm_value_new(cond_m, &item, 'q', MPM_INT(0)));
    T_OK(mpm_value_new(cond_m, &full, 'i', MPM_INT(0)));
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        for (int i = 1; i <= COND_ITEMS; i++) {
            int64_t f;
            if (mpm_condition_acquire(c, 10000)) _exit(2);
            for (;;) {
                if (mpm_value_get_int(full, &f)) _exit(3);
                if (!f) break;
                if (mpm_condition_wait(c, 10000, NULL)) _exit(4);
            }
            if (mpm_value_set(item, MPM_INT(i * 100)) || mpm_value_set(full, MPM_INT(1))) _exit(5);
            if (mpm_condition_notify(c, 1) || mpm_condition_release(c)) _exit(6);
        }
        _exit(0);
    }
    int64_t sum = 0, f, x;
    for (int i = 1; i <= COND_ITEMS; i++) {
        T_OK(mpm_condition_acquire(c, 10000));
        for (;;) {
            T_OK(mpm_value_get_int(full, &f));
            if (f) break;
            bool notified;
            T_OK(mpm_condition_wait(c, 10000, &notified));
            cr_assert(notified, "item %d: timed out", i);
        }
        T_OK(mpm_value_get_int(item, &x));
        cr_assert_eq(x, i * 100, "item %d: got %lld", i, (long long)x);
        sum += x;
        T_OK(mpm_value_set(full, MPM_INT(0)));
        T_OK(mpm_condition_notify(c, 1));
        T_OK(mpm_condition_release(c));
    }
    cr_assert_eq(t_wait_child(p), 0);
    cr_assert_eq(sum, 100 * COND_ITEMS * (COND_ITEMS + 1) / 2);
    mpm_value_close(item);
    mpm_value_close(full);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

/*---- wait_for -------------------------------------------------------------------------------*/

static mpm_value *cond_pred_value;
static atomic_int cond_pred_calls;

static bool cond_pred_at_least_5(void *arg)
{
    int64_t x = -1;
    (void)arg;
    atomic_fetch_add(&cond_pred_calls, 1);
    return mpm_value_get_int(cond_pred_value, &x) == 0 && x >= 5;
}

Test(condition, wait_for_waits_until_a_shared_value_says_so)
{
    mpm_condition *c = cond_new(NULL);
    bool result = false;
    T_OK(mpm_value_new(cond_m, &cond_pred_value, 'i', MPM_INT(0)));
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        /* count up to 5 under the lock, waking the waiter each time */
        for (int i = 1; i <= 5; i++) {
            struct timespec ts = {0, 30000000};
            nanosleep(&ts, NULL);
            if (mpm_condition_acquire(c, 10000)) _exit(2);
            if (mpm_value_set(cond_pred_value, MPM_INT(i))) _exit(3);
            if (mpm_condition_notify_all(c) || mpm_condition_release(c)) _exit(4);
        }
        _exit(0);
    }
    T_OK(mpm_condition_acquire(c, 0));
    atomic_store(&cond_pred_calls, 0);
    T_OK(mpm_condition_wait_for(c, cond_pred_at_least_5, NULL, 10000, &result));
    cr_assert(result);
    /* checked after each wake-up, not once */
    cr_assert_geq(atomic_load(&cond_pred_calls), 2);
    /* it returns holding the lock */
    T_OK(mpm_condition_wait(c, 0, &result));
    T_OK(mpm_condition_release(c));
    cr_assert_eq(t_wait_child(p), 0);
    /* a predicate already true never waits */
    T_OK(mpm_condition_acquire(c, 0));
    int64_t t0 = t_now_ms();
    T_OK(mpm_condition_wait_for(c, cond_pred_at_least_5, NULL, -1, &result));
    cr_assert(result);
    cr_assert_lt(t_now_ms() - t0, 500);
    T_OK(mpm_condition_release(c));
    mpm_value_close(cond_pred_value);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

static bool cond_pred_never(void *arg)
{
    (void)arg;
    atomic_fetch_add(&cond_pred_calls, 1);
    return false;
}

Test(condition, wait_for_times_out_with_the_last_value_of_the_predicate)
{
    mpm_condition *c = cond_new(NULL);
    bool result = true;
    T_OK(mpm_condition_acquire(c, 0));
    atomic_store(&cond_pred_calls, 0);
    int64_t t0 = t_now_ms();
    T_OK(mpm_condition_wait_for(c, cond_pred_never, NULL, 200, &result));
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "condition wait");
    cr_assert(!result);
    cr_assert_geq(atomic_load(&cond_pred_calls), 2);
    /* the lock is held again */
    T_OK(mpm_condition_notify(c, 1));
    T_OK(mpm_condition_release(c));
    /* without the lock: wait's RuntimeError */
    t_assert_err(mpm_condition_wait_for(c, cond_pred_never, NULL, 100, &result), MPM_ERUNTIME,
                 "RuntimeError: cannot wait on un-acquired lock");
    mpm_condition_close(c);
    cond_assert_no_objects();
}

/*---- threads of one process ----------------------------------------------------------------*/

typedef struct cond_thread {
    mpm_condition *c;
    int64_t timeout;
    int rc;
    bool notified;
    atomic_int state; /* 1: holds the lock, about to wait; 2: done */
} cond_thread;

static void *cond_thread_main(void *arg)
{
    cond_thread *t = arg;
    t->rc = mpm_condition_acquire(t->c, 5000);
    if (t->rc == 0) {
        atomic_store(&t->state, 1);
        t->rc = mpm_condition_wait(t->c, t->timeout, &t->notified);
        if (t->rc == 0) t->rc = mpm_condition_release(t->c);
    }
    atomic_store(&t->state, 2);
    return NULL;
}

Test(condition, a_thread_notifies_another_thread_of_its_process)
{
    mpm_condition *c = cond_new(NULL);
    pthread_t th;
    cond_thread t = {.c = c, .timeout = 10000};
    cr_assert_eq(pthread_create(&th, NULL, cond_thread_main, &t), 0);
    int64_t end = t_now_ms() + 5000;
    while (atomic_load(&t.state) == 0 && t_now_ms() < end)
        t_sleep_ms(2);
    /* the thread held the lock: getting it here means it waits */
    T_OK(mpm_condition_acquire(c, 5000));
    cr_assert_eq(cond_nwaiting(c), 1);
    T_OK(mpm_condition_notify(c, 1));
    T_OK(mpm_condition_release(c));
    pthread_join(th, NULL);
    cr_assert_eq(t.rc, 0, "thread: %d", t.rc);
    cr_assert(t.notified);
    mpm_condition_close(c);
    cond_assert_no_objects();
}

Test(condition, closing_the_last_handle_answers_waiters)
{
    mpm_condition *c = cond_new(NULL);
    pthread_t th;
    cond_thread t = {.c = c, .timeout = 10000};
    cr_assert_eq(pthread_create(&th, NULL, cond_thread_main, &t), 0);
    int64_t end = t_now_ms() + 5000;
    while (atomic_load(&t.state) == 0 && t_now_ms() < end)
        t_sleep_ms(2);
    T_OK(mpm_condition_acquire(c, 5000));
    T_OK(mpm_condition_release(c));
    /* the waiter's call has left with the handle's id: closing frees it all */
    mpm_condition_close(c);
    end = t_now_ms() + 3000;
    while (atomic_load(&t.state) != 2 && t_now_ms() < end)
        t_sleep_ms(2);
    cr_assert_eq(atomic_load(&t.state), 2, "the waiter was not answered");
    pthread_join(th, NULL);
    cr_assert_eq(t.rc, MPM_ENOOBJ, "waiter: %d", t.rc);
    cond_assert_no_objects();
}

/*---- processes that die -----------------------------------------------------------------*/

Test(condition, a_waiter_that_dies_leaves_the_lock_free)
{
    mpm_lock *l = NULL;
    T_OK(mpm_lock_new(cond_m, &l));
    mpm_condition *c = cond_new(l);
    int done[2];
    cr_assert_eq(pipe(done), 0);
    pid_t p = cond_spawn_waiter(c, 0, -1, done[1]);
    cr_assert_eq(cond_nwaiting(c), 1);
    cr_assert_eq(kill(p, SIGKILL), 0);
    cr_assert_eq(t_wait_child(p), 128 + SIGKILL);
    cr_assert_eq(cond_nwaiting_settle(c, 0, 3000), 0);
    /* it gave the lock up when it began to wait: nobody died holding it */
    uint64_t token = 0;
    T_OK(mpm_lock_acquire(l, 0, &token));
    T_OK(mpm_condition_notify_all(c));
    T_OK(mpm_lock_release(l));
    close(done[0]);
    close(done[1]);
    mpm_condition_close(c);
    mpm_lock_close(l);
    cond_assert_no_objects();
}

Test(condition, a_notified_waiter_that_dies_before_it_gets_the_lock_leaves_it_free)
{
    mpm_rlock *r = NULL;
    T_OK(mpm_rlock_new(cond_m, &r));
    mpm_condition *c = cond_new(r);
    int done[2];
    cr_assert_eq(pipe(done), 0);
    pid_t p = cond_spawn_waiter(c, 0, -1, done[1]);
    T_OK(mpm_condition_acquire(c, 0));
    T_OK(mpm_condition_notify(c, 1));
    /* now queued for the lock: it dies there */
    cr_assert_eq(kill(p, SIGKILL), 0);
    cr_assert_eq(t_wait_child(p), 128 + SIGKILL);
    t_sleep_ms(200);
    T_OK(mpm_condition_release(c));
    cond_assert_repr(r, "<unlocked _thread.RLock object owner=0 count=0>");
    T_OK(mpm_rlock_acquire(r, 0, NULL));
    T_OK(mpm_rlock_release(r));
    close(done[0]);
    close(done[1]);
    mpm_condition_close(c);
    mpm_rlock_close(r);
    cond_assert_no_objects();
}

Test(condition, acquire_after_a_holder_died_is_eownerdead)
{
    mpm_condition *c = cond_new(NULL);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) _exit(mpm_condition_acquire(c, 5000) ? 2 : 0); /* exits holding it */
    cr_assert_eq(t_wait_child(p), 0);
    int64_t end = t_now_ms() + 3000;
    int rc;
    while ((rc = mpm_condition_acquire(c, 0)) == MPM_ETIMEDOUT && t_now_ms() < end)
        t_sleep_ms(5);
    cr_assert_eq(rc, MPM_EOWNERDEAD, "%d (%s)", rc, mpm_last_error());
    T_OK(mpm_condition_release(c));
    T_OK(mpm_condition_acquire(c, 0));
    T_OK(mpm_condition_release(c));
    mpm_condition_close(c);
    cond_assert_no_objects();
}

/* The holder dies after notify, with the notified waiter queued for the lock:
 * the waiter gets the lock (its wait returns notified, not an error: a wait's
 * answer has no room for the flag), and the owner-died flag waits for the
 * next mpm_lock_acquire, which is told once. */
Test(condition, a_holder_dying_after_notify_passes_the_lock_on_and_the_flag_to_the_next_acquire)
{
    mpm_lock *l = NULL;
    T_OK(mpm_lock_new(cond_m, &l));
    mpm_condition *c = cond_new(l);
    int done[2], held[2];
    char ch, got[4];
    cr_assert_eq(pipe(done), 0);
    pid_t w = cond_spawn_waiter(c, 7, -1, done[1]);
    /* after the waiter's fork: a holder that dies early must close its end */
    cr_assert_eq(pipe(held), 0);
    pid_t h = fork();
    cr_assert_geq(h, 0);
    if (h == 0) {
        close(held[0]);
        if (mpm_lock_acquire(l, 5000, NULL)) _exit(2);
        if (mpm_condition_notify(c, 1)) _exit(3);
        if (write(held[1], "h", 1) != 1) _exit(4);
        pause(); /* dies holding it */
        _exit(5);
    }
    close(held[1]);
    cr_assert_eq(read(held[0], &ch, 1), 1, "the holder did not notify");
    close(held[0]);
    /* notified, the waiter is queued for the lock the holder keeps */
    cr_assert_eq(cond_read_now(done[0], got, 1, 200), 0, "the waiter ran without the lock");
    t_kill_parked(cond_m, h, 0);
    cr_assert_eq(cond_read_now(done[0], got, 1, 3000), 1, "the waiter never got the lock");
    cr_assert_eq(got[0], '7', "the wait returned %c, not notified", got[0]);
    /* it released the lock and exited 0: its wait and release succeeded */
    cr_assert_eq(t_wait_child(w), 0);
    uint64_t token = 0;
    t_assert_err(mpm_lock_acquire(l, 1000, &token), MPM_EOWNERDEAD, mpm_strerror(MPM_EOWNERDEAD));
    cr_assert_gt(token, 0);
    T_OK(mpm_lock_release(l));
    T_OK(mpm_lock_acquire(l, 0, NULL)); /* told once */
    T_OK(mpm_lock_release(l));
    close(done[0]);
    close(done[1]);
    mpm_condition_close(c);
    mpm_lock_close(l);
    cond_assert_no_objects();
}

/*---- shutdown ---------------------------------------------------------------------------*/

/* The server destroys whatever is left in any order, locks before or after
 * the conditions over them, with calls still parked (run under valgrind and
 * ASan this checks the server frees it all and touches nothing freed).
 * Parked calls are children's: a thread of this process would come back
 * into a manager the shutdown has freed. */
Test(condition, shutdown_with_locks_held_and_calls_parked)
{
    mpm_manager *m = NULL;
    T_OK(mpm_manager_start(&m, NULL));
    mpm_lock *l = NULL, *l2 = NULL;
    mpm_rlock *r = NULL;
    mpm_condition *c[4] = {NULL};
    T_OK(mpm_lock_new(m, &l));
    T_OK(mpm_lock_new(m, &l2));
    T_OK(mpm_rlock_new(m, &r));
    T_OK(mpm_condition_new(m, &c[0], l));
    T_OK(mpm_condition_new(m, &c[1], l2));
    T_OK(mpm_condition_new(m, &c[2], r));
    T_OK(mpm_condition_new(m, &c[3], NULL));
    T_OK(mpm_lock_acquire(l, 0, NULL));
    T_OK(mpm_rlock_acquire(r, 0, NULL));
    T_OK(mpm_condition_acquire(c[3], 0));
    pid_t p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = fork();
        cr_assert_geq(p[i], 0);
        if (p[i] == 0) {
            if (i == 0) mpm_lock_acquire(l, -1, NULL);   /* parked on a lock */
            if (i == 1) mpm_condition_acquire(c[0], -1); /* on a condition's lock */
            if (i == 2 && mpm_condition_acquire(c[1], 5000) == 0)
                mpm_condition_wait(c[1], -1, NULL); /* in a wait */
            _exit(0);
        }
    }
    t_sleep_ms(300);
    T_OK(mpm_manager_shutdown(m));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(t_wait_child(p[i]), 0, "child %d", i);
}

/*---- the server's own checks (what any client, in any language, may send) ---------*/

Test(condition, the_server_checks_raw_arguments)
{
    mpm_condition *c = cond_new(NULL), *t = NULL;
    mpm_value *v = NULL;
    mpm_val a[3] = {MPM_INT(1), MPM_INT(-5), MPM_INT(0)};
    bool b = true;
    T_OK(mpm_value_new(cond_m, &v, 'i', MPM_INT(0)));
    /* ownership is checked first, as Python does */
    t_assert_err(mpmi_call(&c->h, MPMI_OP_C_WAIT, a, 2, MPMI_SINK_NONE), MPM_ERUNTIME,
                 "RuntimeError: cannot wait on un-acquired lock");
    T_OK(mpmi_call(&c->h, MPMI_OP_ACQUIRE, a, 1, MPMI_SINK_NONE));
    T_OK(mpmi_call(&c->h, MPMI_OP_OWNED, a, 1, MPMI_SINK_BOOL(&b)));
    cr_assert(b);
    t_assert_err(mpmi_call(&c->h, MPMI_OP_C_WAIT, a, 2, MPMI_SINK_NONE), MPM_EVALUE,
                 "ValueError: timeout must be -1 (none) or >= 0");
    t_assert_err(mpmi_call(&c->h, MPMI_OP_C_WAIT, a, 0, MPMI_SINK_NONE), MPM_EARGS,
                 "TypeError: Condition.C_WAIT takes 1 to 2 arguments (0 given)");
    t_assert_err(mpmi_call(&c->h, MPMI_OP_C_NOTIFY_ALL, a, 2, MPMI_SINK_NONE), MPM_EARGS,
                 "TypeError: Condition.C_NOTIFY_ALL takes 1 arguments (2 given)");
    t_assert_err(mpmi_call(&c->h, MPMI_OP_E_SET, NULL, 0, MPMI_SINK_NONE), MPM_ENOMETHOD,
                 "AttributeError: 'Condition' object has no method E_SET");
    a[1] = MPM_STR("x");
    t_assert_err(mpmi_call(&c->h, MPMI_OP_C_NOTIFY, a, 2, MPMI_SINK_NONE), MPM_ETYPE,
                 "TypeError: 'str' object cannot be interpreted as an integer");
    /* notify's n may be left out (1), wait's timeout too (none: not tried here) */
    T_OK(mpmi_call(&c->h, MPMI_OP_C_NOTIFY, a, 1, MPMI_SINK_NONE));
    a[0] = MPM_INT(2);
    T_OK(mpmi_call(&c->h, MPMI_OP_OWNED, a, 1, MPMI_SINK_BOOL(&b)));
    cr_assert(!b);
    t_assert_err(mpmi_call(&c->h, MPMI_OP_C_NOTIFY, a, 1, MPMI_SINK_NONE), MPM_ERUNTIME,
                 "RuntimeError: cannot notify on un-acquired lock");
    a[0] = MPM_INT(1);
    T_OK(mpmi_call(&c->h, MPMI_OP_RELEASE, a, 1, MPMI_SINK_NONE));

    /* create: a lock id, nil, or nothing */
    a[0] = MPM_INT((int64_t)mpm_handle_id(v));
    t_assert_err(mpmi_create(cond_m, MPM_OBJ_CONDITION, 0, a, 1, (void **)&t), MPM_ETYPE,
                 "TypeError: Condition() needs a Lock or an RLock, got a Value");
    a[0] = MPM_INT(99999);
    t_assert_err(mpmi_create(cond_m, MPM_OBJ_CONDITION, 0, a, 1, (void **)&t), MPM_ENOOBJ,
                 "no object with id 99999");
    a[0] = MPM_NONE;
    a[1] = MPM_NONE;
    t_assert_err(mpmi_create(cond_m, MPM_OBJ_CONDITION, 0, a, 2, (void **)&t), MPM_EARGS,
                 "TypeError: Condition() takes at most 1 argument (2 given)");
    cr_assert_eq(cond_objects(), 3, "a refused create left objects behind");
    T_OK(mpmi_create(cond_m, MPM_OBJ_CONDITION, 0, NULL, 0, (void **)&t));
    cr_assert_eq(cond_objects(), 5);
    mpm_condition_close(t);
    mpm_condition_close(c);
    mpm_value_close(v);
    cond_assert_no_objects();
}
