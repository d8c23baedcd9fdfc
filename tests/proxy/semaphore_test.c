/* semaphore_test.c - mpm_semaphore_*: Semaphore and BoundedSemaphore, their
 * errors in Python's words, timeouts, FIFO hand-off with bounded turns, and
 * permits given back when the process holding them dies.
 *
 * Forked children never call cr_* (nng inside Criterion panics after fork):
 * they report by exit status only. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mpm/mpm.h>

#include "support/support.h"

#include "proxy/client.h" /* raw calls: what a client in another language may send */

static mpm_manager *sem_m;

static void sem_setup(void)
{
    int rc = mpm_manager_start(&sem_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void sem_teardown(void)
{
    mpm_manager_shutdown(sem_m);
    sem_m = NULL;
}

TestSuite(semaphore, .init = sem_setup, .fini = sem_teardown, .timeout = 30);

static mpm_semaphore *sem_new(int64_t value, bool bounded)
{
    mpm_semaphore *s = NULL;
    T_OK(mpm_semaphore_new(sem_m, &s, value, bounded));
    cr_assert_not_null(s);
    return s;
}

static int64_t sem_value(mpm_semaphore *s)
{
    int64_t v = -999;
    T_OK(mpm_semaphore_value(s, &v));
    return v;
}

static void sem_assert_repr(void *h, const char *want)
{
    char *s = NULL, b[256];
    T_OK(mpm_handle_repr(h, &s));
    snprintf(b, sizeof b, "%s", s);
    free(s);
    cr_assert_str_eq(b, want);
}

/* Nothing may be left on the server when a test is done. */
static void sem_assert_no_objects(void)
{
    size_t n = 999;
    int64_t end = t_now_ms() + 5000;
    /* a dead child's handles go when the server reads its EOF: let it settle */
    for (;;) {
        T_OK(mpm_manager_object_count(sem_m, &n));
        if (n == 0 || t_now_ms() >= end) break;
        t_sleep_ms(10);
    }
    cr_assert_eq(n, 0, "%zu objects left on the server", n);
}

/* Poll until value is want (the server gives a dead process's permits back
 * when it reads its EOF), up to ms. */
static int64_t sem_value_settle(mpm_semaphore *s, int64_t want, int ms)
{
    int64_t end = t_now_ms() + ms, v;
    while ((v = sem_value(s)) != want && t_now_ms() < end)
        t_sleep_ms(5);
    return v;
}

/*---- creation and the plain methods ----------------------------------------------*/

Test(semaphore, new_holds_its_initial_value)
{
    mpm_semaphore *s = sem_new(2, false), *b = sem_new(3, true), *z = sem_new(0, false);
    cr_assert_eq(sem_value(s), 2);
    cr_assert_eq(sem_value(b), 3);
    cr_assert_eq(sem_value(z), 0);
    cr_assert_eq(mpm_handle_type(s), MPM_OBJ_SEMAPHORE);
    cr_assert_eq(mpm_handle_type(b), MPM_OBJ_BOUNDED_SEMAPHORE);
    sem_assert_repr(s, "<Semaphore value=2>");
    sem_assert_repr(b, "<BoundedSemaphore value=3/3>");
    T_OK(mpm_semaphore_acquire(b, 0));
    sem_assert_repr(b, "<BoundedSemaphore value=2/3>");
    mpm_semaphore_close(s);
    mpm_semaphore_close(b);
    mpm_semaphore_close(z);
    mpm_semaphore_close(NULL);
    sem_assert_no_objects();
}

Test(semaphore, negative_initial_value_is_value_error)
{
    mpm_semaphore *s = (mpm_semaphore *)1;
    t_assert_err(mpm_semaphore_new(sem_m, &s, -1, false), MPM_EVALUE,
                 "ValueError: semaphore initial value must be >= 0");
    cr_assert_null(s);
    s = (mpm_semaphore *)1;
    t_assert_err(mpm_semaphore_new(sem_m, &s, -5, true), MPM_EVALUE,
                 "ValueError: semaphore initial value must be >= 0");
    cr_assert_null(s);
    sem_assert_no_objects();
}

Test(semaphore, acquire_takes_and_release_gives_back)
{
    mpm_semaphore *s = sem_new(2, false);
    T_OK(mpm_semaphore_acquire(s, -1));
    cr_assert_eq(sem_value(s), 1);
    T_OK(mpm_semaphore_acquire(s, 1000));
    cr_assert_eq(sem_value(s), 0);
    t_assert_err(mpm_semaphore_acquire(s, 0), MPM_ETIMEDOUT, "timed out");
    cr_assert_eq(sem_value(s), 0);
    T_OK(mpm_semaphore_release(s, 1));
    cr_assert_eq(sem_value(s), 1);
    /* an unbounded Semaphore may go past its initial value, as in Python */
    T_OK(mpm_semaphore_release(s, 3));
    cr_assert_eq(sem_value(s), 4);
    for (int i = 0; i < 4; i++)
        T_OK(mpm_semaphore_acquire(s, 0));
    t_assert_err(mpm_semaphore_acquire(s, 0), MPM_ETIMEDOUT, "timed out");
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

Test(semaphore, release_of_less_than_one_is_value_error)
{
    mpm_semaphore *s = sem_new(1, false), *b = sem_new(1, true);
    t_assert_err(mpm_semaphore_release(s, 0), MPM_EVALUE, "ValueError: n must be one or more");
    t_assert_err(mpm_semaphore_release(s, -3), MPM_EVALUE, "ValueError: n must be one or more");
    t_assert_err(mpm_semaphore_release(b, 0), MPM_EVALUE, "ValueError: n must be one or more");
    cr_assert_eq(sem_value(s), 1);
    cr_assert_eq(sem_value(b), 1);
    mpm_semaphore_close(s);
    mpm_semaphore_close(b);
    sem_assert_no_objects();
}

Test(semaphore, bounded_over_release_is_value_error_and_changes_nothing)
{
    mpm_semaphore *b = sem_new(2, true);
    t_assert_err(mpm_semaphore_release(b, 1), MPM_EVALUE,
                 "ValueError: Semaphore released too many times");
    cr_assert_eq(sem_value(b), 2);
    T_OK(mpm_semaphore_acquire(b, 0));
    cr_assert_eq(sem_value(b), 1);
    /* two would take it to 3 > 2: refused whole, not partly applied */
    t_assert_err(mpm_semaphore_release(b, 2), MPM_EVALUE,
                 "ValueError: Semaphore released too many times");
    cr_assert_eq(sem_value(b), 1);
    T_OK(mpm_semaphore_release(b, 1));
    cr_assert_eq(sem_value(b), 2);
    t_assert_err(mpm_semaphore_release(b, 1), MPM_EVALUE,
                 "ValueError: Semaphore released too many times");
    /* BoundedSemaphore(0) can never be released */
    mpm_semaphore *z = sem_new(0, true);
    t_assert_err(mpm_semaphore_release(z, 1), MPM_EVALUE,
                 "ValueError: Semaphore released too many times");
    sem_assert_repr(z, "<BoundedSemaphore value=0/0>");
    mpm_semaphore_close(b);
    mpm_semaphore_close(z);
    sem_assert_no_objects();
}

Test(semaphore, bad_arguments)
{
    mpm_semaphore *s = sem_new(0, false);
    int64_t v;
    t_assert_err(mpm_semaphore_acquire(s, -2), MPM_EINVAL,
                 "invalid timeout -2 ms (-1: none, or >= 0)");
    t_assert_err(mpm_semaphore_acquire(s, INT64_MIN), MPM_EINVAL,
                 "invalid timeout -9223372036854775808 ms (-1: none, or >= 0)");
    t_assert_err(mpm_semaphore_acquire(NULL, 0), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_semaphore_release(NULL, 1), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_semaphore_value(NULL, &v), MPM_EINVAL, "ValueError: NULL handle");
    t_assert_err(mpm_semaphore_value(s, NULL), MPM_EINVAL, "mpm_semaphore_value: out is NULL");
    cr_assert_eq(mpm_semaphore_new(NULL, &s, 1, false), MPM_EINVAL);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

#define SEM_NZERO 20

/* Non-blocking acquires of an empty semaphore are refused at once: the median
 * of SEM_NZERO must be under 5 ms (one parked for even 10 ms fails; the median
 * lets a loaded machine delay a few). */
Test(semaphore, timeout_zero_never_waits)
{
    for (int bounded = 0; bounded < 2; bounded++) {
        mpm_semaphore *s = sem_new(0, bounded);
        int64_t took[SEM_NZERO];
        for (int i = 0; i < SEM_NZERO; i++) {
            int64_t t0 = t_now_ms();
            t_assert_err(mpm_semaphore_acquire(s, 0), MPM_ETIMEDOUT, "timed out");
            took[i] = t_now_ms() - t0;
        }
        int64_t med = t_median(took, SEM_NZERO);
        cr_assert_lt(med, 5, "bounded %d: non-blocking acquires took %lld ms (median), up to %lld",
                     bounded, (long long)med, (long long)took[SEM_NZERO - 1]);
        mpm_semaphore_close(s);
    }
    sem_assert_no_objects();
}

/* A timed acquire waits its timeout, and not much longer (T_ASSERT_ON_TIME).
 * 50 ms too: a deadline rounded up to whole seconds, or to any tick over
 * 150 ms, fails it. */
/* t_assert_timeouts_precise's wait: an acquire that must time out. */
static int sem_timed_out(void *s, int64_t timeout_ms)
{
    int rc = mpm_semaphore_acquire(s, timeout_ms);
    return rc == MPM_ETIMEDOUT ? 0 : rc ? rc : -1;
}

Test(semaphore, timeout_is_honoured)
{
    static const int64_t timeouts[] = {50, 200};
    for (int bounded = 0; bounded < 2; bounded++) {
        mpm_semaphore *s = sem_new(0, bounded);
        const char *what = bounded ? "BoundedSemaphore acquire" : "Semaphore acquire";
        for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
            int64_t t0 = t_now_ms();
            t_assert_err(mpm_semaphore_acquire(s, timeouts[i]), MPM_ETIMEDOUT, "timed out");
            T_ASSERT_ON_TIME(t_now_ms() - t0, timeouts[i], what);
        }
        /* and within a few milliseconds of the deadline */
        t_assert_timeouts_precise(sem_timed_out, s, 20, what);
        cr_assert_eq(sem_value(s), 0);
        mpm_semaphore_close(s);
    }
    sem_assert_no_objects();
}

Test(semaphore, acquire_cannot_be_batched_but_release_can)
{
    mpm_semaphore *s = sem_new(1, false);
    int64_t v = -1;
    T_OK(mpm_batch_begin(sem_m));
    t_assert_err(mpm_semaphore_acquire(s, 0), MPM_EBATCH,
                 "mpm_semaphore_acquire cannot be queued in a batch");
    T_OK(mpm_semaphore_release(s, 2));
    T_OK(mpm_semaphore_value(s, &v));
    cr_assert_eq(mpm_batch_size(sem_m), 2);
    T_OK(mpm_batch_exec(sem_m, NULL, 0));
    cr_assert_eq(v, 3);
    /* the failed probe for a batch left none open */
    T_OK(mpm_semaphore_acquire(s, 0));
    cr_assert_eq(sem_value(s), 2);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

/*---- waiting threads: FIFO, bounded turns -----------------------------------------*/

#define SEM_NWAITERS 4

typedef struct sem_waiter {
    mpm_semaphore *s;
    int64_t timeout;
    int rc;
    atomic_int *seq;
    int order; /* 1-based rank among the waiters that got a permit */
    int ready[2];
} sem_waiter;

static void *sem_waiter_main(void *arg)
{
    sem_waiter *w = arg;
    int64_t v;
    /* open this thread's connection first, so only the acquire is left */
    if (mpm_semaphore_value(w->s, &v)) {
        w->rc = -1000;
        return NULL;
    }
    if (write(w->ready[1], "r", 1) != 1) {
        w->rc = -1001;
        return NULL;
    }
    w->rc = mpm_semaphore_acquire(w->s, w->timeout);
    if (w->rc == 0) w->order = atomic_fetch_add(w->seq, 1) + 1;
    return NULL;
}

static void sem_start_waiter(pthread_t *t, sem_waiter *w)
{
    char ch;
    cr_assert_eq(pipe(w->ready), 0);
    cr_assert_eq(pthread_create(t, NULL, sem_waiter_main, w), 0);
    cr_assert_eq(read(w->ready[0], &ch, 1), 1);
    close(w->ready[0]);
    close(w->ready[1]);
    /* its acquire is on the wire: give the server time to park it */
    t_sleep_ms(150);
}

Test(semaphore, waiters_get_permits_in_arrival_order)
{
    mpm_semaphore *s = sem_new(0, false);
    atomic_int seq = 0;
    pthread_t t[SEM_NWAITERS];
    sem_waiter w[SEM_NWAITERS];
    for (int i = 0; i < SEM_NWAITERS; i++) {
        w[i] = (sem_waiter){.s = s, .timeout = 20000, .seq = &seq};
        sem_start_waiter(&t[i], &w[i]);
    }
    for (int i = 0; i < SEM_NWAITERS; i++) {
        T_OK(mpm_semaphore_release(s, 1));
        int64_t end = t_now_ms() + 5000;
        while (atomic_load(&seq) < i + 1 && t_now_ms() < end)
            t_sleep_ms(2);
        cr_assert_eq(atomic_load(&seq), i + 1, "release %d woke nobody", i);
        cr_assert_eq(w[i].order, i + 1, "waiter %d was served as number %d", i, w[i].order);
        /* the permit went to the oldest waiter: none is left to take */
        t_assert_err(mpm_semaphore_acquire(s, 0), MPM_ETIMEDOUT, "timed out");
        cr_assert_eq(sem_value(s), 0);
    }
    for (int i = 0; i < SEM_NWAITERS; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].rc, 0, "waiter %d: %d", i, w[i].rc);
    }
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

/* Two threads loop acquire+release on Semaphore(1).  Handing the permit to
 * the waiter at every release would make them alternate, one pair each (and
 * every pair wait for a sleeping thread); with turns (turns.h) a releaser
 * that is straight back keeps it for a while, and then the other gets it. */
#define SEM_TURN_MS 400

/* A thread looping acquire (+ hold_ms) + release on s from start to end. */
typedef struct sem_looper {
    mpm_semaphore *s;
    int me;
    atomic_int *last; /* NULL, or who made the last pair (changed under the permit) */
    atomic_int *runs; /* ... and how often the permit changed hands */
    int64_t start, end, hold_ms;
    int64_t pairs, longest_wait, rc;
} sem_looper;

static void *sem_looper_main(void *arg)
{
    sem_looper *l = arg;
    int64_t v;
    /* this thread's connection first: its handshake is no wait for a permit */
    if ((l->rc = mpm_semaphore_value(l->s, &v))) return NULL;
    while (t_now_ms() < l->start)
        t_sleep_ms(1);
    while (t_now_ms() < l->end) {
        int64_t t0 = t_now_ms();
        if ((l->rc = mpm_semaphore_acquire(l->s, 10000))) return NULL;
        if (t_now_ms() - t0 > l->longest_wait) l->longest_wait = t_now_ms() - t0;
        if (l->last && atomic_exchange(l->last, l->me) != l->me) atomic_fetch_add(l->runs, 1);
        if (l->hold_ms) t_sleep_ms((int)l->hold_ms);
        l->pairs++;
        if ((l->rc = mpm_semaphore_release(l->s, 1))) return NULL;
    }
    return NULL;
}

Test(semaphore, a_releaser_straight_back_keeps_the_permit_for_a_turn_then_the_waiter_gets_it)
{
    mpm_semaphore *s = sem_new(1, true);
    atomic_int last = -1, runs = 0;
    int64_t start = t_now_ms() + 100, end = start + SEM_TURN_MS;
    sem_looper l[2] = {{.s = s, .me = 0, .last = &last, .runs = &runs, .start = start, .end = end},
                       {.s = s, .me = 1, .last = &last, .runs = &runs, .start = start, .end = end}};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, sem_looper_main, &l[1]), 0);
    sem_looper_main(&l[0]);
    pthread_join(t, NULL);
    cr_assert_eq(l[0].rc, 0, "%lld", (long long)l[0].rc);
    cr_assert_eq(l[1].rc, 0, "%lld", (long long)l[1].rc);
    int64_t pairs = l[0].pairs + l[1].pairs;
    fprintf(stderr, "semaphore_test: pairs %lld and %lld in %d runs\n", (long long)l[0].pairs,
            (long long)l[1].pairs, atomic_load(&runs));
    /* both got it, and not a pair at a time (handing over at every release,
     * most runs were one pair long: 3-5 pairs a run on average) */
    cr_assert_gt(l[0].pairs, 0);
    cr_assert_gt(l[1].pairs, 0);
    cr_assert_geq(pairs, 10 * (int64_t)atomic_load(&runs), "%lld pairs in %d runs",
                  (long long)pairs, atomic_load(&runs));
    cr_assert_eq(sem_value(s), 1);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

typedef struct sem_barger {
    mpm_semaphore *s;
    atomic_int ready, go;
    int rc;
} sem_barger;

/* Another thread: once told, try for a permit without waiting. */
static void *sem_barger_main(void *arg)
{
    sem_barger *b = arg;
    int64_t v;
    b->rc = mpm_semaphore_value(b->s, &v); /* its own connection, opened now */
    atomic_store(&b->ready, 1);
    if (b->rc) return NULL;
    while (!atomic_load(&b->go))
        ;
    b->rc = mpm_semaphore_acquire(b->s, 0);
    if (b->rc == 0) mpm_semaphore_release(b->s, 1);
    return NULL;
}

/* A thread that waits for a permit and gives it back hold_ms after. */
typedef struct sem_giver {
    mpm_semaphore *s;
    int hold_ms;
    int rc;
} sem_giver;

static void *sem_giver_main(void *arg)
{
    sem_giver *r = arg;
    r->rc = mpm_semaphore_acquire(r->s, 10000);
    if (r->rc) return NULL;
    if (r->hold_ms) t_sleep_ms(r->hold_ms);
    r->rc = mpm_semaphore_release(r->s, 1);
    return NULL;
}

/* Start r in *t; return once its acquire is parked. */
static void sem_park_giver(pthread_t *t, sem_giver *r, mpm_semaphore *s, int hold_ms)
{
    *r = (sem_giver){.s = s, .hold_ms = hold_ms};
    cr_assert_eq(pthread_create(t, NULL, sem_giver_main, r), 0);
    t_wait_parked(sem_m, 1);
}

static void sem_join_giver(pthread_t t, sem_giver *r)
{
    pthread_join(t, NULL);
    cr_assert_eq(r->rc, 0, "giver: %d", r->rc);
}

/* lock_test's after_three_hand_offs_nobody_barged_a_releaser_soon_keeps_its_turn_again
 * on a Semaphore(1): after three releases whose releaser did not come back for
 * the permit kept for it, releases hand permits over at once only briefly. */
Test(semaphore, after_three_hand_offs_nobody_barged_a_releaser_soon_keeps_its_turn_again)
{
    mpm_semaphore *s = sem_new(1, false);
    pthread_t t;
    sem_giver r;
    for (int i = 0; i < 3; i++) {
        T_OK(mpm_semaphore_acquire(s, 0));
        sem_park_giver(&t, &r, s, 0);
        T_OK(mpm_semaphore_release(s, 1));
        sem_join_giver(t, &r);
    }
    int64_t third = t_now_ms();
    t_sleep_ms(10);
    bool kept = false;
    do {
        T_OK(mpm_semaphore_acquire(s, 0));
        sem_park_giver(&t, &r, s, 5);
        T_OK(mpm_semaphore_release(s, 1));
        int rc = mpm_semaphore_acquire(s, 0);
        cr_assert(rc == 0 || rc == MPM_ETIMEDOUT, "acquire: %d", rc);
        kept = rc == 0;
        if (kept) T_OK(mpm_semaphore_release(s, 1));
        sem_join_giver(t, &r);
    } while (!kept && t_now_ms() - third < 40);
    cr_assert(kept, "after three hand-offs nobody barged, releases hand over at once for long");
    cr_assert_eq(sem_value(s), 1);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

/* The permit a release keeps back for a moment, in case its releaser comes
 * straight back (turns.h), is the releaser's, not anybody's: another thread's
 * try right after the release fails, and the parked waiter gets the permit
 * (see lock_test's a_hand_off_put_off_for_the_releaser_is_not_taken_by_another). */
Test(semaphore, a_permit_kept_back_for_the_releaser_is_not_taken_by_another)
{
    mpm_semaphore *s = sem_new(1, false);
    atomic_int seq = 0;
    for (int round = 0; round < 10; round++) {
        T_OK(mpm_semaphore_acquire(s, 0));
        sem_barger b = {.s = s};
        pthread_t tb, tw;
        cr_assert_eq(pthread_create(&tb, NULL, sem_barger_main, &b), 0);
        while (!atomic_load(&b.ready))
            t_sleep_ms(1);
        sem_waiter w = {.s = s, .timeout = 10000, .seq = &seq};
        char ch;
        cr_assert_eq(pipe(w.ready), 0);
        cr_assert_eq(pthread_create(&tw, NULL, sem_waiter_main, &w), 0);
        cr_assert_eq(read(w.ready[0], &ch, 1), 1);
        /* release as soon as the waiter is parked: its turn has not run out */
        t_wait_parked(sem_m, 1);
        T_OK(mpm_semaphore_release(s, 1));
        atomic_store(&b.go, 1);
        pthread_join(tb, NULL);
        pthread_join(tw, NULL);
        close(w.ready[0]);
        close(w.ready[1]);
        cr_assert_eq(b.rc, MPM_ETIMEDOUT, "round %d: another thread took the permit (%d)", round,
                     b.rc);
        cr_assert_eq(w.rc, 0, "round %d: waiter: %d", round, w.rc);
        T_OK(mpm_semaphore_release(s, 1)); /* the waiter's permit */
    }
    cr_assert_eq(sem_value(s), 1);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

typedef struct sem_returner {
    mpm_semaphore *s;
    int ready[2];
    int rc, back; /* back: the try right after release(2) got a permit */
} sem_returner;

/* Another thread: wait for a permit (first in line), give back two, and try
 * for one again at once. */
static void *sem_returner_main(void *arg)
{
    sem_returner *r = arg;
    int64_t v;
    if ((r->rc = mpm_semaphore_value(r->s, &v))) return NULL;
    if (write(r->ready[1], "r", 1) != 1) {
        r->rc = -1001;
        return NULL;
    }
    if ((r->rc = mpm_semaphore_acquire(r->s, 10000))) return NULL;
    if ((r->rc = mpm_semaphore_release(r->s, 2))) return NULL;
    int rc = mpm_semaphore_acquire(r->s, 0);
    r->back = rc == 0;
    if (rc && rc != MPM_ETIMEDOUT) r->rc = rc;
    return NULL;
}

/* A release of several permits hands all but one to the waiters and keeps
 * that one back for the releaser - the releaser, not the waiter that just got
 * a permit (the last to take one then): coming straight back, the releaser
 * gets it, in some rounds at least (it must be back within the moment the
 * server waits: timing).  Keeping it for the wrong one, it never did. */
Test(semaphore, a_release_of_several_keeps_one_back_for_its_releaser)
{
    int back = 0;
    for (int round = 0; round < 5; round++) {
        mpm_semaphore *s = sem_new(0, false);
        atomic_int seq = 0;
        sem_returner r = {.s = s};
        pthread_t tr, tw[2];
        sem_waiter w[2];
        char ch;
        cr_assert_eq(pipe(r.ready), 0);
        cr_assert_eq(pthread_create(&tr, NULL, sem_returner_main, &r), 0);
        cr_assert_eq(read(r.ready[0], &ch, 1), 1);
        close(r.ready[0]);
        close(r.ready[1]);
        t_sleep_ms(150); /* parked first */
        for (int i = 0; i < 2; i++) {
            w[i] = (sem_waiter){.s = s, .timeout = 10000, .seq = &seq};
            sem_start_waiter(&tw[i], &w[i]);
        }
        /* the returner's permit: its turn starts now */
        T_OK(mpm_semaphore_release(s, 1));
        pthread_join(tr, NULL);
        cr_assert_eq(r.rc, 0, "round %d: %d", round, r.rc);
        back += r.back;
        /* the first waiter got a permit at once; the second gets the
         * returner's, or the one kept back if the returner came too late
         * (their order is not checked: two grants a moment apart can reach
         * their threads in either order) */
        if (r.back) T_OK(mpm_semaphore_release(s, 1));
        for (int i = 0; i < 2; i++) {
            pthread_join(tw[i], NULL);
            cr_assert_eq(w[i].rc, 0, "round %d: waiter %d: %d", round, i, w[i].rc);
        }
        cr_assert_eq(sem_value(s), 0);
        mpm_semaphore_close(s);
    }
    fprintf(stderr, "semaphore_test: the releaser of 2 was back in time in %d of 5 rounds\n", back);
    cr_assert_gt(back, 0, "the permit kept back never went to its releaser");
    sem_assert_no_objects();
}

/* Threads that each hold one of several permits for a long while: a holder
 * coming back after a hold longer than a turn must queue behind the waiters,
 * even when another permit was handed over just before (that hand-off starts
 * no turn of its own).  Otherwise a waiter waits two holds instead of one. */
#define SEM_HOLD_MS 100

Test(semaphore, a_long_holder_coming_back_queues_behind_the_waiters)
{
    mpm_semaphore *s = sem_new(2, false);
    pthread_t t[4];
    sem_looper h[4];
    int64_t start = t_now_ms() + 300, end = start + 16 * SEM_HOLD_MS;
    for (int i = 0; i < 4; i++) {
        h[i] = (sem_looper){.s = s, .start = start, .end = end, .hold_ms = SEM_HOLD_MS};
        cr_assert_eq(pthread_create(&t[i], NULL, sem_looper_main, &h[i]), 0);
    }
    int64_t longest = 0, least = INT64_MAX, most = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(h[i].rc, 0, "thread %d: %lld", i, (long long)h[i].rc);
        if (h[i].longest_wait > longest) longest = h[i].longest_wait;
        if (h[i].pairs < least) least = h[i].pairs;
        if (h[i].pairs > most) most = h[i].pairs;
    }
    fprintf(stderr,
            "semaphore_test: 4 threads, 2 permits, %d ms holds: pairs %lld %lld %lld %lld, longest "
            "wait %lld ms\n",
            SEM_HOLD_MS, (long long)h[0].pairs, (long long)h[1].pairs, (long long)h[2].pairs,
            (long long)h[3].pairs, (long long)longest);
    /* 2 holders for 4 threads, served in turn: they take turns evenly (a
     * holder barging back made counts like 4 and 9), and a waiter waits one
     * hold (100 ms; up to 250 on a loaded machine; 200-300 barging) */
    cr_assert_leq(most - least, 2, "pairs from %lld to %lld", (long long)least, (long long)most);
    cr_assert_lt(longest, SEM_HOLD_MS * 4, "a waiter waited %lld ms", (long long)longest);
    cr_assert_eq(sem_value(s), 2);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

/* nwait waiters park on a Semaphore(0); one release of n: all are served
 * within a second and left permits stay free. */
static void sem_release_to_waiters(int nwait, int64_t n)
{
    mpm_semaphore *s = sem_new(0, false);
    atomic_int seq = 0;
    pthread_t t[4];
    sem_waiter w[4];
    cr_assert_leq(nwait, 4);
    for (int i = 0; i < nwait; i++) {
        w[i] = (sem_waiter){.s = s, .timeout = 20000, .seq = &seq};
        sem_start_waiter(&t[i], &w[i]);
    }
    int64_t t0 = t_now_ms();
    T_OK(mpm_semaphore_release(s, n));
    for (int i = 0; i < nwait; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].rc, 0, "waiter %d: %d", i, w[i].rc);
    }
    cr_assert_lt(t_now_ms() - t0, 1000, "served after %lld ms", (long long)(t_now_ms() - t0));
    cr_assert_eq(sem_value(s), n - nwait);
    if (n == nwait) t_assert_err(mpm_semaphore_acquire(s, 0), MPM_ETIMEDOUT, "timed out");
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

Test(semaphore, release_of_n_wakes_n_waiters_and_keeps_the_rest)
{
    sem_release_to_waiters(3, 5); /* three waiters served, two permits left free */
}

/* With waiters, all but the last released permit go at once; the last waits
 * only until mpmd has looked for the releaser's own acquire (turns.h). */
Test(semaphore, release_of_n_to_n_waiters_serves_them_all)
{
    sem_release_to_waiters(3, 3);
}

Test(semaphore, a_timed_out_waiter_leaves_the_queue)
{
    mpm_semaphore *s = sem_new(0, false);
    atomic_int seq = 0;
    pthread_t t[2];
    sem_waiter w[2];
    w[0] = (sem_waiter){.s = s, .timeout = 300, .seq = &seq};
    w[1] = (sem_waiter){.s = s, .timeout = 20000, .seq = &seq};
    sem_start_waiter(&t[0], &w[0]);
    sem_start_waiter(&t[1], &w[1]);
    pthread_join(t[0], NULL);
    cr_assert_eq(w[0].rc, MPM_ETIMEDOUT);
    /* the permit goes to the one still waiting, not to the gone one */
    T_OK(mpm_semaphore_release(s, 1));
    pthread_join(t[1], NULL);
    cr_assert_eq(w[1].rc, 0);
    cr_assert_eq(sem_value(s), 0);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

/*---- processes: permits are counted per process, given back when it dies ---------*/

/* Fork a child that parks in an acquire of s; return once want calls are
 * parked in all (the child's among them). */
static pid_t sem_park_child(mpm_semaphore *s, uint64_t want)
{
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        mpm_semaphore_acquire(s, -1);
        _exit(3);
    }
    t_wait_parked(sem_m, want);
    return p;
}

/* A process SIGKILLed while parked in an acquire leaves the queue: the permit
 * released next is not consumed by it, and a live waiter parked behind it
 * gets it.  A Semaphore(0), or a BoundedSemaphore(1) whose permit this thread
 * holds (one of 0 cannot be released). */
static void sem_dead_waiter(bool bounded)
{
    mpm_semaphore *s = sem_new(bounded ? 1 : 0, bounded);
    if (bounded) T_OK(mpm_semaphore_acquire(s, 0));
    t_kill_parked(sem_m, sem_park_child(s, 1), 0);
    T_OK(mpm_semaphore_release(s, 1));
    cr_assert_eq(sem_value(s), 1, "bounded %d: the dead waiter took the permit", bounded);
    T_OK(mpm_semaphore_acquire(s, 0));

    /* again, with a live waiter (a thread here) parked behind the dead one */
    pid_t p = sem_park_child(s, 1);
    atomic_int seq = 0;
    pthread_t t;
    sem_waiter w = {.s = s, .timeout = 5000, .seq = &seq};
    cr_assert_eq(pipe(w.ready), 0);
    cr_assert_eq(pthread_create(&t, NULL, sem_waiter_main, &w), 0);
    t_wait_parked(sem_m, 2);
    t_kill_parked(sem_m, p, 1);
    T_OK(mpm_semaphore_release(s, 1));
    pthread_join(t, NULL);
    close(w.ready[0]);
    close(w.ready[1]);
    cr_assert_eq(w.rc, 0, "bounded %d: the live waiter: %d", bounded, w.rc);
    cr_assert_eq(sem_value(s), 0);
    T_OK(mpm_semaphore_release(s, 1)); /* the waiter's permit */
    cr_assert_eq(sem_value(s), 1);
    mpm_semaphore_close(s);
}

Test(semaphore, a_waiter_killed_while_parked_gets_no_permit)
{
    sem_dead_waiter(false);
    sem_dead_waiter(true);
    sem_assert_no_objects();
}

Test(semaphore, sigkill_of_a_holder_gives_its_permits_to_a_parked_acquirer)
{
    mpm_semaphore *s = sem_new(2, false);
    int go[2];
    char ch;
    cr_assert_eq(pipe(go), 0);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        close(go[0]);
        if (mpm_semaphore_acquire(s, 5000) || mpm_semaphore_acquire(s, 5000)) _exit(2);
        if (write(go[1], "h", 1) != 1) _exit(3);
        for (;;)
            pause();
    }
    close(go[1]);
    cr_assert_eq(read(go[0], &ch, 1), 1, "the child did not take its permits");
    close(go[0]);
    cr_assert_eq(sem_value(s), 0);

    atomic_int seq = 0;
    pthread_t t;
    sem_waiter w = {.s = s, .timeout = 10000, .seq = &seq};
    sem_start_waiter(&t, &w);
    int64_t t0 = t_now_ms();
    cr_assert_eq(kill(p, SIGKILL), 0);
    cr_assert_eq(t_wait_child(p), 128 + SIGKILL);
    int64_t end = t0 + 3000;
    while (atomic_load(&seq) == 0 && t_now_ms() < end)
        t_sleep_ms(2);
    int64_t took = t_now_ms() - t0;
    pthread_join(t, NULL);
    cr_assert_eq(w.rc, 0, "parked acquire: %d", w.rc);
    cr_assert_leq(took, 1000, "the parked acquirer got a permit %lld ms after the kill",
                  (long long)took);
    /* two given back, one taken by the waiter */
    cr_assert_eq(sem_value(s), 1);
    T_OK(mpm_semaphore_release(s, 1));
    cr_assert_eq(sem_value(s), 2);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

Test(semaphore, an_exiting_process_gives_back_only_what_it_still_holds)
{
    mpm_semaphore *s = sem_new(3, false);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        /* takes 3, gives 1 back itself, exits holding 2 */
        for (int i = 0; i < 3; i++)
            if (mpm_semaphore_acquire(s, 5000)) _exit(2);
        if (mpm_semaphore_release(s, 1)) _exit(3);
        _exit(0);
    }
    cr_assert_eq(t_wait_child(p), 0);
    cr_assert_eq(sem_value_settle(s, 3, 3000), 3);

    /* a process that releases more than it took is not paid twice */
    p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        if (mpm_semaphore_acquire(s, 5000)) _exit(2);
        if (mpm_semaphore_release(s, 2)) _exit(3);
        _exit(0);
    }
    cr_assert_eq(t_wait_child(p), 0);
    t_sleep_ms(200);
    cr_assert_eq(sem_value(s), 4);

    /* permits this process holds are its own: a child's death does not touch them */
    T_OK(mpm_semaphore_acquire(s, 0));
    p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) _exit(mpm_semaphore_acquire(s, 5000) ? 2 : 0);
    cr_assert_eq(t_wait_child(p), 0);
    cr_assert_eq(sem_value_settle(s, 3, 3000), 3);
    T_OK(mpm_semaphore_release(s, 1));
    cr_assert_eq(sem_value(s), 4);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

/* A child that takes a permit of s and exits when told (sem_end_holder),
 * without releasing it: the caller may release on its behalf meanwhile. */
typedef struct sem_holder {
    pid_t pid;
    int go, back; /* the child says it holds; the caller says it may exit */
} sem_holder;

static sem_holder sem_start_holder(mpm_semaphore *s)
{
    int go[2], back[2];
    char ch;
    cr_assert_eq(pipe(go), 0);
    cr_assert_eq(pipe(back), 0);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        close(go[0]);
        close(back[1]);
        if (mpm_semaphore_acquire(s, 5000)) _exit(2);
        if (write(go[1], "h", 1) != 1) _exit(3);
        if (read(back[0], &ch, 1) != 1) _exit(4);
        _exit(0);
    }
    close(go[1]);
    close(back[0]);
    cr_assert_eq(read(go[0], &ch, 1), 1, "the child took no permit");
    return (sem_holder){.pid = p, .go = go[0], .back = back[1]};
}

/* Tell the holder to exit, and wait for it; give its end time to reach mpmd. */
static void sem_end_holder(sem_holder *h)
{
    cr_assert_eq(write(h->back, "x", 1), 1);
    cr_assert_eq(t_wait_child(h->pid), 0);
    close(h->go);
    close(h->back);
    t_sleep_ms(200);
}

Test(semaphore, bounded_give_back_never_passes_the_bound)
{
    mpm_semaphore *b = sem_new(1, true);
    sem_holder h = sem_start_holder(b);
    cr_assert_eq(sem_value(b), 0);
    T_OK(mpm_semaphore_release(b, 1)); /* on the child's behalf, as Python allows */
    sem_end_holder(&h);                /* it dies "holding" the permit already given back */
    cr_assert_eq(sem_value(b), 1);
    sem_assert_repr(b, "<BoundedSemaphore value=1/1>");
    mpm_semaphore_close(b);
    sem_assert_no_objects();
}

/* A child takes the only permit; this process releases it on the child's
 * behalf (as Python allows) and takes it itself; the child exits.  Given back
 * again, the permit would be free while this process holds it: two holders
 * of a (Bounded)Semaphore(1). */
static void sem_released_on_behalf(bool bounded)
{
    mpm_semaphore *s = sem_new(1, bounded);
    sem_holder h = sem_start_holder(s);
    T_OK(mpm_semaphore_release(s, 1)); /* on the child's behalf */
    T_OK(mpm_semaphore_acquire(s, 0)); /* now this process holds it */
    sem_end_holder(&h);
    cr_assert_eq(sem_value(s), 0, "the permit was given back twice");
    t_assert_err(mpm_semaphore_acquire(s, 0), MPM_ETIMEDOUT, "timed out");
    T_OK(mpm_semaphore_release(s, 1));
    cr_assert_eq(sem_value(s), 1);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

Test(semaphore, a_permit_released_on_a_holders_behalf_is_not_given_back_again)
{
    sem_released_on_behalf(true);
    sem_released_on_behalf(false);
}

/* A Semaphore(0) counting items: a producer releases, consumers acquire and
 * never release.  Permits a release added while nobody held any are consumed,
 * not held: a consumer that ends - exiting or killed - gives back nothing, or
 * the next consumer would take an item that does not exist. */
Test(semaphore, items_consumed_from_a_counting_semaphore_are_not_given_back)
{
    mpm_semaphore *s = sem_new(0, false);
    /* the first consumer is parked before any item exists */
    pid_t c1 = fork();
    cr_assert_geq(c1, 0);
    if (c1 == 0) _exit(mpm_semaphore_acquire(s, 10000) || mpm_semaphore_acquire(s, 10000) ? 2 : 0);
    t_wait_parked(sem_m, 1);
    T_OK(mpm_semaphore_release(s, 3));   /* three items */
    cr_assert_eq(t_wait_child(c1), 0);   /* took two, exited */
    sem_holder c2 = sem_start_holder(s); /* the second consumer, killed */
    cr_assert_eq(kill(c2.pid, SIGKILL), 0);
    cr_assert_eq(t_wait_child(c2.pid), 128 + SIGKILL);
    close(c2.go);
    close(c2.back);
    t_sleep_ms(200);
    cr_assert_eq(sem_value(s), 0, "consumed items came back");
    t_assert_err(mpm_semaphore_acquire(s, 0), MPM_ETIMEDOUT, "timed out");
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

Test(semaphore, processes_share_permits)
{
    /* 4 processes × 50 acquire/release pairs through a Semaphore(2): every
     * child finishes and the value ends where it began */
    mpm_semaphore *s = sem_new(2, true);
    pid_t p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = fork();
        cr_assert_geq(p[i], 0);
        if (p[i] == 0) {
            for (int k = 0; k < 50; k++) {
                if (mpm_semaphore_acquire(s, 10000)) _exit(2);
                if (mpm_semaphore_release(s, 1)) _exit(3);
            }
            _exit(0);
        }
    }
    for (int i = 0; i < 4; i++)
        cr_assert_eq(t_wait_child(p[i]), 0, "child %d", i);
    cr_assert_eq(sem_value(s), 2);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

/*---- the server's own checks (what any client, in any language, may send) ---------*/

Test(semaphore, the_server_checks_raw_arguments)
{
    mpm_semaphore *s = sem_new(1, false);
    mpm_val a[2];
    int64_t v = -1;
    a[0] = MPM_INT(1);
    a[1] = MPM_INT(-5);
    t_assert_err(mpmi_call(&s->h, MPMI_OP_ACQUIRE, a, 2, MPMI_SINK_NONE), MPM_EVALUE,
                 "ValueError: timeout must be -1 (none) or >= 0");
    a[0] = MPM_STR("x");
    a[1] = MPM_INT(0);
    t_assert_err(mpmi_call(&s->h, MPMI_OP_ACQUIRE, a, 2, MPMI_SINK_NONE), MPM_ETYPE,
                 "TypeError: 'str' object cannot be interpreted as an integer");
    t_assert_err(mpmi_call(&s->h, MPMI_OP_ACQUIRE, a, 0, MPMI_SINK_NONE), MPM_EARGS,
                 "TypeError: Semaphore.ACQUIRE takes 1 to 2 arguments (0 given)");
    a[0] = MPM_INT(1);
    a[1] = MPM_INT(INT64_MAX);
    t_assert_err(mpmi_call(&s->h, MPMI_OP_RELEASE, a, 2, MPMI_SINK_NONE), MPM_EOVERFLOW,
                 "OverflowError: semaphore value too large");
    t_assert_err(mpmi_call(&s->h, MPMI_OP_E_WAIT, NULL, 0, MPMI_SINK_NONE), MPM_ENOMETHOD,
                 "AttributeError: 'Semaphore' object has no method E_WAIT");
    /* the thread's timeout may be left out (nil: none) and n defaults to 1 */
    T_OK(mpmi_call(&s->h, MPMI_OP_ACQUIRE, a, 1, MPMI_SINK_NONE));
    T_OK(mpmi_call(&s->h, MPMI_OP_RELEASE, a, 1, MPMI_SINK_NONE));
    T_OK(mpmi_call(&s->h, MPMI_OP_COPY, NULL, 0, MPMI_SINK_INT(&v)));
    cr_assert_eq(v, 1);
    cr_assert_eq(sem_value(s), 1);

    mpm_semaphore *t = NULL;
    a[0] = MPM_STR("x");
    t_assert_err(mpmi_create(sem_m, MPM_OBJ_SEMAPHORE, 0, a, 1, (void **)&t), MPM_ETYPE,
                 "TypeError: 'str' object cannot be interpreted as an integer");
    a[0] = MPM_INT(1);
    a[1] = MPM_INT(2);
    t_assert_err(mpmi_create(sem_m, MPM_OBJ_BOUNDED_SEMAPHORE, 0, a, 2, (void **)&t), MPM_EARGS,
                 "TypeError: BoundedSemaphore() takes at most 1 argument (2 given)");
    /* Python's default: Semaphore() is Semaphore(1) */
    T_OK(mpmi_create(sem_m, MPM_OBJ_SEMAPHORE, 0, NULL, 0, (void **)&t));
    cr_assert_eq(sem_value(t), 1);
    mpm_semaphore_close(t);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}

Test(semaphore, an_enormous_timeout_waits_like_none)
{
    mpm_semaphore *s = sem_new(0, false);
    atomic_int seq = 0;
    pthread_t t;
    sem_waiter w = {.s = s, .timeout = INT64_MAX, .seq = &seq};
    sem_start_waiter(&t, &w);
    T_OK(mpm_semaphore_release(s, 1));
    pthread_join(t, NULL);
    cr_assert_eq(w.rc, 0);
    cr_assert_eq(sem_value(s), 0);
    mpm_semaphore_close(s);
    sem_assert_no_objects();
}
