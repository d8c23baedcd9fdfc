/* thread_test.c - one client used by many threads at once.
 *
 * libmpm keeps a pool of connections per manager: a calling thread checks one
 * out (client_checkout), makes its call and gives it back (client_checkin), so
 * each call waits only for its own reply, and a thread parked in a blocking
 * call holds up nobody.  Batches and the last error message are per thread;
 * ownership of an RLock and of a Condition's lock is per (process, thread).
 *
 * What these tests aim at: two threads given the same connection, replies
 * crossed between callers (small, large, error and pipelined "unread"
 * replies), a parked call that blocks the pool, ownership taken per process
 * instead of per thread, a batch that captures another thread's calls, an
 * error message overwritten by another thread, and fork() while other threads
 * of the process are idle or in the middle of calls.
 *
 * Criterion's asserts are not thread-safe: worker threads only count failures
 * (and keep the first message), and the main thread asserts.  Forked children
 * never call cr_* either (Criterion after fork breaks): they report by exit
 * status only. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mpm/mpm.h>

#include "support/support.h"

static mpm_manager *thr_m;

static void thr_setup(void)
{
    int rc = mpm_manager_start(&thr_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void thr_teardown(void)
{
    mpm_manager_shutdown(thr_m);
    thr_m = NULL;
}

TestSuite(thread, .init = thr_setup, .fini = thr_teardown, .timeout = 60);

/*---- helpers -------------------------------------------------------------------------------*/

/* Nothing may be left on the server when a test is done (a forked child's
 * references go when the server reads its EOF: let that settle). */
static void thr_assert_no_objects(void)
{
    size_t n = 999;
    int64_t end = t_now_ms() + 5000;
    for (;;) {
        T_OK(mpm_manager_object_count(thr_m, &n));
        if (n == 0 || t_now_ms() >= end) break;
        t_sleep_ms(10);
    }
    cr_assert_eq(n, 0, "%zu objects left on the server", n);
}

static mpm_stats thr_stats(void)
{
    mpm_stats st;
    memset(&st, 0, sizeof st);
    T_OK(mpm_manager_stats(thr_m, &st));
    return st;
}

/* Poll until the server has want calls parked, up to ms. */
static uint64_t thr_parked_settle(uint64_t want, int ms)
{
    int64_t end = t_now_ms() + ms;
    uint64_t n;
    while ((n = thr_stats().parked) != want && t_now_ms() < end)
        t_sleep_ms(5);
    return n;
}

/* A worker thread's failure record: counted, the first one kept. */
typedef struct thr_fails {
    int n;
    char first[512];
} thr_fails;

static void thr_fail(thr_fails *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void thr_fail(thr_fails *f, const char *fmt, ...)
{
    if (f->n++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->first, sizeof f->first, fmt, ap);
        va_end(ap);
    }
}

static void thr_join(pthread_t t)
{
    cr_assert_eq(pthread_join(t, NULL), 0);
}

/*---- actors: a thread that runs one step at a time for the main thread ------------------------*/
/* The main thread scripts what thread A and thread B do, step by step, and
 * asserts on what each step returned and on the thread's own last error. */

enum { A_IDLE, A_POSTED, A_RUNNING, A_DONE };

typedef struct actor {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int (*fn)(void *);
    void *arg;
    int state;
    bool quit;
    int rc;
    char err[512]; /* the actor thread's mpm_last_error() right after the step */
} actor;

static void *actor_main(void *p)
{
    actor *a = p;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->state != A_POSTED && !a->quit)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->quit) break;
        a->state = A_RUNNING;
        int (*fn)(void *) = a->fn;
        void *arg = a->arg;
        pthread_mutex_unlock(&a->mu);
        int rc = fn(arg);
        char err[sizeof a->err];
        snprintf(err, sizeof err, "%s", mpm_last_error());
        pthread_mutex_lock(&a->mu);
        a->rc = rc;
        memcpy(a->err, err, sizeof err);
        a->state = A_DONE;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void actor_start(actor *a)
{
    pthread_condattr_t ca;
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    cr_assert_eq(pthread_create(&a->th, NULL, actor_main, a), 0);
}

static void actor_stop(actor *a)
{
    pthread_mutex_lock(&a->mu);
    a->quit = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    thr_join(a->th);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
}

/* Hand a step to a; it runs while the main thread goes on. */
static void actor_post(actor *a, int (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&a->mu);
    int st = a->state;
    if (st == A_IDLE || st == A_DONE) {
        a->fn = fn;
        a->arg = arg;
        a->state = A_POSTED;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    cr_assert(st == A_IDLE || st == A_DONE, "the actor is still busy with its last step");
}

/* Whether a's step has finished (without taking its result). */
static bool actor_done(actor *a)
{
    pthread_mutex_lock(&a->mu);
    bool d = a->state == A_DONE;
    pthread_mutex_unlock(&a->mu);
    return d;
}

/* Wait up to ms for a's step; its result, asserting that it finished. */
static int actor_wait(actor *a, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->mu);
    while (a->state != A_DONE)
        if (pthread_cond_timedwait(&a->cv, &a->mu, &ts)) break;
    bool done = a->state == A_DONE;
    if (done) a->state = A_IDLE;
    int rc = a->rc;
    pthread_mutex_unlock(&a->mu);
    cr_assert(done, "the actor's step did not finish within %d ms", ms);
    return rc;
}

static int actor_run(actor *a, int (*fn)(void *), void *arg)
{
    actor_post(a, fn, arg);
    return actor_wait(a, 15000);
}

/* The arguments and results of one actor step. */
typedef struct op {
    void *h;
    int64_t n; /* a timeout, a count, a delta */
    const char *key;
    int64_t *iout;
    bool *bout;
    mpm_val **vout;
    char *sout; /* op_read_err */
    size_t slen;
} op;

#define ACT(a, fn, ...) actor_run((a), (fn), &(op){__VA_ARGS__})

/* the step must return code, and the actor thread's message be msg */
#define ACT_ERR(a, code, msg, fn, ...)                                                             \
    do {                                                                                           \
        int t_rc_ = ACT(a, fn, __VA_ARGS__);                                                       \
        cr_assert_eq(t_rc_, (code), "%s: got %d (%s)", #fn, t_rc_, (a)->err);                      \
        cr_assert_str_eq((a)->err, (msg), "%s", #fn);                                              \
    } while (0)

#define ACT_OK(a, fn, ...)                                                                         \
    do {                                                                                           \
        int t_rc_ = ACT(a, fn, __VA_ARGS__);                                                       \
        cr_assert_eq(t_rc_, 0, "%s: %d (%s)", #fn, t_rc_, (a)->err);                               \
    } while (0)

static int op_rlock_acquire(void *p)
{
    op *o = p;
    return mpm_rlock_acquire(o->h, o->n, NULL);
}

static int op_rlock_release(void *p)
{
    op *o = p;
    return mpm_rlock_release(o->h);
}

static int op_cond_acquire(void *p)
{
    op *o = p;
    return mpm_condition_acquire(o->h, o->n);
}

static int op_cond_release(void *p)
{
    op *o = p;
    return mpm_condition_release(o->h);
}

static int op_cond_wait(void *p)
{
    op *o = p;
    return mpm_condition_wait(o->h, o->n, o->bout);
}

static int op_cond_notify(void *p)
{
    op *o = p;
    return mpm_condition_notify(o->h, o->n);
}

static int op_cond_notify_all(void *p)
{
    op *o = p;
    return mpm_condition_notify_all(o->h);
}

static int op_value_add(void *p)
{
    op *o = p;
    return mpm_value_add_int(o->h, o->n, o->iout);
}

static int op_value_get(void *p)
{
    op *o = p;
    return mpm_value_get_int(o->h, o->iout);
}

static int op_dict_get(void *p)
{
    op *o = p;
    return mpm_dict_get(o->h, MPM_STR(o->key), o->vout);
}

static int op_dict_contains(void *p)
{
    op *o = p;
    return mpm_dict_contains(o->h, MPM_STR(o->key), o->bout);
}

static int op_batch_begin(void *p)
{
    (void)p;
    return mpm_batch_begin(thr_m);
}

static int op_batch_exec(void *p)
{
    (void)p;
    return mpm_batch_exec(thr_m, NULL, 0);
}

static int op_batch_size(void *p)
{
    op *o = p;
    *o->iout = (int64_t)mpm_batch_size(thr_m);
    return 0;
}

/* No call: what mpm_last_error() says in the actor's thread now. */
static int op_read_err(void *p)
{
    op *o = p;
    snprintf(o->sout, o->slen, "%s", mpm_last_error());
    return 0;
}

/*---- 1. many threads, many calls, every reply to its caller ----------------------------------*/

#define T1_THREADS 8
#define T1_CALLS 10000
#define T1_BASE 1000000000LL /* thread t's Value starts at t * T1_BASE */
#define T1_BIG (96 * 1024)   /* a reply that takes several reads */

typedef struct t1_worker {
    int t;
    mpm_value *v; /* this thread's own */
    mpm_dict *d;  /* shared by all */
    pthread_barrier_t *start;
    int64_t adds;  /* value adds made */
    int64_t calls; /* calls made */
    thr_fails f;
} t1_worker;

static void t1_fill(unsigned char *b, size_t n, int t, int i)
{
    for (size_t j = 0; j < n; j++)
        b[j] = (unsigned char)(t * 31 + i * 7 + (int)(j % 251));
}

/* Each call's answer is specific to (t, i): a reply given to the wrong
 * thread, or the reply of an earlier call, shows as a wrong value. */
static void *t1_main(void *arg)
{
    t1_worker *w = arg;
    const int t = w->t;
    const int64_t base = t * T1_BASE;
    char key[64], want[128];
    unsigned char *big = malloc(T1_BIG);
    if (!big) {
        thr_fail(&w->f, "out of memory");
        return NULL;
    }
    pthread_barrier_wait(w->start);
    for (int i = 0; i < T1_CALLS; i++) {
        mpm_val *x = NULL;
        int64_t got = -1;
        char *s = NULL;
        int rc;
        switch (i % 5) {
        case 0: /* an int reply: this thread's running count */
            rc = mpm_value_add_int(w->v, 1, &got);
            w->adds++;
            if (rc || got != base + w->adds)
                thr_fail(&w->f, "t%d i%d: add -> %d, %" PRId64 " (want %" PRId64 ") %s", t, i, rc,
                         got, base + w->adds, mpm_last_error());
            break;
        case 1: /* a write of a key only this thread writes */
            snprintf(key, sizeof key, "k%d-%d", t, i);
            rc = mpm_dict_set(w->d, MPM_STR(key), MPM_INT(base + i));
            if (rc) thr_fail(&w->f, "t%d i%d: set -> %d %s", t, i, rc, mpm_last_error());
            break;
        case 2: /* read it back */
            snprintf(key, sizeof key, "k%d-%d", t, i - 1);
            rc = mpm_dict_get(w->d, MPM_STR(key), &x);
            if (rc || !x || x->type != MPM_T_INT || x->v.i != base + i - 1)
                thr_fail(&w->f, "t%d i%d: get %s -> %d type %d %" PRId64 " %s", t, i, key, rc,
                         x ? (int)x->type : -1, x && x->type == MPM_T_INT ? x->v.i : -1,
                         mpm_last_error());
            break;
        case 3: /* an error reply, with its message */
            snprintf(key, sizeof key, "m%d-%d", t, i);
            snprintf(want, sizeof want, "KeyError: '%s'", key);
            rc = mpm_dict_get(w->d, MPM_STR(key), &x);
            if (rc != MPM_EKEY || strcmp(mpm_last_error(), want))
                thr_fail(&w->f, "t%d i%d: get %s -> %d '%s'", t, i, key, rc, mpm_last_error());
            break;
        default: /* a string reply of varying length */
            snprintf(want, sizeof want, "Value('q', %" PRId64 ")", base + w->adds);
            rc = mpm_value_repr(w->v, &s);
            if (rc || !s || strcmp(s, want))
                thr_fail(&w->f, "t%d i%d: repr -> %d '%s' (want '%s') %s", t, i, rc,
                         s ? s : "(null)", want, mpm_last_error());
            free(s);
            break;
        }
        mpm_val_free(x);
        w->calls++;

        if (i % 100 == 50) {
            /* create, read and close an object: the close's DECREF goes
             * without waiting, and its reply is read before the next reply on
             * that connection, which may be another thread's call */
            mpm_list *l = NULL;
            mpm_val items[3] = {MPM_INT(t), MPM_INT(i), MPM_STR("x")};
            rc = mpm_list_new_from(thr_m, &l, MPM_LIST(items, 3));
            if (rc) {
                thr_fail(&w->f, "t%d i%d: list_new -> %d %s", t, i, rc, mpm_last_error());
            } else {
                x = NULL;
                rc = mpm_list_get(l, 1, &x);
                if (rc || !x || x->type != MPM_T_INT || x->v.i != i)
                    thr_fail(&w->f, "t%d i%d: list_get -> %d %s", t, i, rc, mpm_last_error());
                mpm_val_free(x);
                mpm_list_close(l);
            }
            w->calls += 3;
        }
        if (i % 1000 == 500) {
            /* a reply of ~100 KB: several reads; bytes left over in a
             * connection's buffer must not reach another call */
            snprintf(key, sizeof key, "big%d-%d", t, i);
            t1_fill(big, T1_BIG, t, i);
            rc = mpm_dict_set(w->d, MPM_STR(key), MPM_BYTES(big, T1_BIG));
            x = NULL;
            if (!rc) rc = mpm_dict_get(w->d, MPM_STR(key), &x);
            if (rc || !x || x->type != MPM_T_BYTES || x->v.str.len != T1_BIG ||
                memcmp(x->v.str.ptr, big, T1_BIG))
                thr_fail(&w->f, "t%d i%d: big value -> %d %s", t, i, rc, mpm_last_error());
            mpm_val_free(x);
            rc = mpm_dict_del(w->d, MPM_STR(key));
            if (rc) thr_fail(&w->f, "t%d i%d: del big -> %d %s", t, i, rc, mpm_last_error());
            w->calls += 3;
        }
    }
    free(big);
    return NULL;
}

Test(thread, eight_threads_ten_thousand_calls_each_every_reply_to_its_caller, .timeout = 60)
{
    mpm_dict *d = NULL;
    T_OK(mpm_dict_new(thr_m, &d));
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, T1_THREADS + 1), 0);
    t1_worker w[T1_THREADS];
    pthread_t th[T1_THREADS];
    memset(w, 0, sizeof w);
    for (int t = 0; t < T1_THREADS; t++) {
        w[t].t = t;
        w[t].d = d;
        w[t].start = &start;
        T_OK(mpm_value_new(thr_m, &w[t].v, 'q', MPM_INT(t * T1_BASE)));
        cr_assert_eq(pthread_create(&th[t], NULL, t1_main, &w[t]), 0);
    }
    pthread_barrier_wait(&start);
    int64_t t0 = t_now_ms();
    for (int t = 0; t < T1_THREADS; t++)
        thr_join(th[t]);
    int64_t took = t_now_ms() - t0;
    pthread_barrier_destroy(&start);

    int64_t calls = 0;
    for (int t = 0; t < T1_THREADS; t++) {
        cr_expect_eq(w[t].f.n, 0, "thread %d: %d failures, the first: %s", t, w[t].f.n,
                     w[t].f.first);
        calls += w[t].calls;
    }
    fprintf(stderr, "thread_test: %" PRId64 " calls from %d threads on one manager in %" PRId64
                    " ms\n",
            calls, T1_THREADS, took);
    cr_assert(calls >= (int64_t)T1_THREADS * T1_CALLS);
    for (int t = 0; t < T1_THREADS; t++)
        cr_assert_eq(w[t].f.n, 0, "thread %d failed", t);

    /* every effect landed exactly once */
    for (int t = 0; t < T1_THREADS; t++) {
        int64_t x = -1;
        T_OK(mpm_value_get_int(w[t].v, &x));
        cr_assert_eq(x, t * T1_BASE + T1_CALLS / 5, "thread %d's Value: %" PRId64, t, x);
    }
    size_t n = 0;
    T_OK(mpm_dict_len(d, &n));
    cr_assert_eq(n, (size_t)T1_THREADS * (T1_CALLS / 5));

    /* one session, and no more connections than threads that called at once
     * (8 workers and this thread): none leaked, none shared */
    mpm_stats st = thr_stats();
    cr_assert_eq(st.sessions, 1, "%" PRIu64 " sessions", st.sessions);
    cr_assert_leq(st.connections, T1_THREADS + 1, "%" PRIu64 " connections for %d threads",
                  st.connections, T1_THREADS + 1);

    for (int t = 0; t < T1_THREADS; t++)
        mpm_value_close(w[t].v);
    mpm_dict_close(d);
    thr_assert_no_objects();
}

/*---- 2. a parked call holds up no other thread --------------------------------------------*/

typedef struct t2_blocker {
    int kind; /* 0: queue get, 1: lock acquire (then release) */
    void *h;
    int64_t timeout;
    int rc;
    mpm_val *item;
    int64_t t0, t1;
    atomic_int done;
    char err[256];
} t2_blocker;

static void *t2_blocker_main(void *arg)
{
    t2_blocker *b = arg;
    b->t0 = t_now_ms();
    if (b->kind == 0) {
        b->rc = mpm_queue_get(b->h, b->timeout, &b->item);
    } else {
        b->rc = mpm_lock_acquire(b->h, b->timeout, NULL);
        if (b->rc == 0) b->rc = mpm_lock_release(b->h);
    }
    snprintf(b->err, sizeof b->err, "%s", mpm_last_error());
    b->t1 = t_now_ms();
    atomic_store(&b->done, 1);
    return NULL;
}

#define T2_PINGS 1000

typedef struct t2_pinger {
    mpm_value *v;
    int64_t t0, t1;
    thr_fails f;
} t2_pinger;

static void *t2_pinger_main(void *arg)
{
    t2_pinger *p = arg;
    p->t0 = t_now_ms();
    for (int i = 0; i < T2_PINGS; i++) {
        int rc = mpm_ping(thr_m);
        if (rc) thr_fail(&p->f, "ping %d -> %d %s", i, rc, mpm_last_error());
    }
    int64_t got = -1;
    int rc = mpm_value_add_int(p->v, 5, &got);
    if (rc || got != 5) thr_fail(&p->f, "add -> %d %" PRId64 " %s", rc, got, mpm_last_error());
    p->t1 = t_now_ms();
    return NULL;
}

Test(thread, a_thread_parked_in_a_long_call_holds_up_no_other_thread, .timeout = 60)
{
    mpm_queue *q1 = NULL, *q2 = NULL;
    mpm_lock *l = NULL;
    mpm_value *v = NULL;
    T_OK(mpm_queue_new(thr_m, &q1, 0));
    T_OK(mpm_queue_new(thr_m, &q2, 0));
    T_OK(mpm_lock_new(thr_m, &l));
    T_OK(mpm_value_new(thr_m, &v, 'i', MPM_INT(0)));
    T_OK(mpm_lock_acquire(l, 0, NULL));

    /* three threads parked at once: a 2 s get on an empty queue, an acquire
     * of a lock held here and a get on another queue (8 s each: long, yet
     * bounded, so that a client that runs one call at a time fails this test
     * by its asserts rather than hanging) */
    t2_blocker b[3] = {
        {.kind = 0, .h = q1, .timeout = 2000},
        {.kind = 1, .h = l, .timeout = 8000},
        {.kind = 0, .h = q2, .timeout = 8000},
    };
    pthread_t bt[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&bt[i], NULL, t2_blocker_main, &b[i]), 0);
    cr_assert_eq(thr_parked_settle(3, 5000), 3, "the three calls did not park");
    cr_assert(!atomic_load(&b[0].done));

    /* meanwhile another thread makes 1000 round trips */
    t2_pinger p;
    memset(&p, 0, sizeof p);
    p.v = v;
    pthread_t pt;
    cr_assert_eq(pthread_create(&pt, NULL, t2_pinger_main, &p), 0);
    thr_join(pt);
    int b0_done = atomic_load(&b[0].done);
    int64_t took = p.t1 - p.t0;
    fprintf(stderr, "thread_test: %d pings beside 3 parked calls in %" PRId64 " ms\n", T2_PINGS,
            took);
    cr_assert_eq(p.f.n, 0, "pinger: %d failures, the first: %s", p.f.n, p.f.first);
    cr_assert(!b0_done, "the pings finished only after the parked 2 s get returned");
    cr_assert_lt(took, 1500, "%d pings beside parked calls took %" PRId64 " ms", T2_PINGS, took);
    cr_assert_eq(thr_stats().parked, 3);

    /* the parked calls are answered, each to its own thread */
    T_OK(mpm_queue_put(q2, MPM_STR("for the third"), 0));
    T_OK(mpm_lock_release(l));
    for (int i = 0; i < 3; i++)
        thr_join(bt[i]);
    cr_assert_eq(b[0].rc, MPM_EEMPTY, "the 2 s get: %d %s", b[0].rc, b[0].err);
    int64_t waited = b[0].t1 - b[0].t0;
    cr_assert(waited >= 1900 && waited < 5000, "a 2 s get returned after %" PRId64 " ms", waited);
    cr_assert_gt(b[0].t1, p.t1 + 200, "the pings did not finish well before the parked get");
    cr_assert_eq(b[1].rc, 0, "the acquire: %d %s", b[1].rc, b[1].err);
    cr_assert_eq(b[2].rc, 0, "the second get: %d %s", b[2].rc, b[2].err);
    cr_assert(b[2].item && b[2].item->type == MPM_T_STR &&
              strcmp(b[2].item->v.str.ptr, "for the third") == 0);
    mpm_val_free(b[2].item);
    cr_assert_eq(thr_stats().parked, 0);

    /* the connections that carried parked calls are fine afterwards */
    bool locked = true;
    T_OK(mpm_lock_locked(l, &locked));
    cr_assert(!locked);
    int64_t x = -1;
    T_OK(mpm_value_get_int(v, &x));
    cr_assert_eq(x, 5);
    mpm_queue_close(q1);
    mpm_queue_close(q2);
    mpm_lock_close(l);
    mpm_value_close(v);
    thr_assert_no_objects();
}

/*---- 3. RLock: owned per (process, thread) --------------------------------------------------*/

Test(thread, an_rlock_is_owned_by_one_thread_of_the_process, .timeout = 60)
{
    mpm_rlock *r = NULL;
    T_OK(mpm_rlock_new(thr_m, &r));
    actor A, B;
    actor_start(&A);
    actor_start(&B);

    ACT_OK(&A, op_rlock_acquire, .h = r, .n = 0);
    /* B shares A's process and manager but not its ownership */
    ACT_ERR(&B, MPM_ERUNTIME, "RuntimeError: cannot release un-acquired lock", op_rlock_release,
            .h = r);
    ACT_ERR(&B, MPM_ETIMEDOUT, "timed out", op_rlock_acquire, .h = r, .n = 0);
    int64_t t0 = t_now_ms();
    ACT_ERR(&B, MPM_ETIMEDOUT, "timed out", op_rlock_acquire, .h = r, .n = 200);
    int64_t took = t_now_ms() - t0;
    cr_assert(took >= 150 && took < 2000, "a 200 ms acquire took %" PRId64 " ms", took);
    /* nor does this (third) thread */
    t_assert_err(mpm_rlock_release(r), MPM_ERUNTIME,
                 "RuntimeError: cannot release un-acquired lock");
    t_assert_err(mpm_rlock_acquire(r, 0, NULL), MPM_ETIMEDOUT, "timed out");

    /* A re-enters, without waiting and with an endless wait alike */
    ACT_OK(&A, op_rlock_acquire, .h = r, .n = 0);
    ACT_OK(&A, op_rlock_acquire, .h = r, .n = -1);

    /* B parks; A gives back its three levels; only the last one lets B in */
    op bwait = {.h = r, .n = 20000};
    actor_post(&B, op_rlock_acquire, &bwait);
    cr_assert_eq(thr_parked_settle(1, 5000), 1, "B's acquire did not park");
    ACT_OK(&A, op_rlock_release, .h = r);
    ACT_OK(&A, op_rlock_release, .h = r);
    t_sleep_ms(100);
    cr_assert(!actor_done(&B), "B got the RLock while A still held a level");
    ACT_OK(&A, op_rlock_release, .h = r);
    int rc = actor_wait(&B, 5000);
    cr_assert_eq(rc, 0, "B's acquire: %d %s", rc, B.err);

    /* now B owns it, and A is the stranger */
    ACT_ERR(&A, MPM_ERUNTIME, "RuntimeError: cannot release un-acquired lock", op_rlock_release,
            .h = r);
    ACT_ERR(&A, MPM_ETIMEDOUT, "timed out", op_rlock_acquire, .h = r, .n = 0);
    ACT_OK(&B, op_rlock_acquire, .h = r, .n = 0);
    ACT_OK(&B, op_rlock_release, .h = r);
    ACT_OK(&B, op_rlock_release, .h = r);
    ACT_ERR(&B, MPM_ERUNTIME, "RuntimeError: cannot release un-acquired lock", op_rlock_release,
            .h = r);
    char *s = NULL;
    T_OK(mpm_handle_repr(r, &s));
    cr_assert_str_eq(s, "<unlocked _thread.RLock object owner=0 count=0>");
    free(s);

    actor_stop(&A);
    actor_stop(&B);
    mpm_rlock_close(r);
    thr_assert_no_objects();
}

/* Threads of one process exclude each other through an RLock: each adds 1 to
 * a Value by a read and a write (not the atomic add), holding two levels. */
#define T3_THREADS 4
#define T3_INCS 150

typedef struct t3_worker {
    mpm_rlock *r;
    mpm_value *v;
    pthread_barrier_t *start;
    thr_fails f;
} t3_worker;

static void *t3_main(void *arg)
{
    t3_worker *w = arg;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < T3_INCS; i++) {
        int64_t x = -1;
        int rc = mpm_rlock_acquire(w->r, 20000, NULL);
        if (!rc) rc = mpm_rlock_acquire(w->r, 0, NULL);
        if (rc) {
            thr_fail(&w->f, "i%d: acquire -> %d %s", i, rc, mpm_last_error());
            return NULL;
        }
        rc = mpm_value_get_int(w->v, &x);
        if (!rc) rc = mpm_value_set(w->v, MPM_INT(x + 1));
        if (rc) thr_fail(&w->f, "i%d: get/set -> %d %s", i, rc, mpm_last_error());
        rc = mpm_rlock_release(w->r);
        if (!rc) rc = mpm_rlock_release(w->r);
        if (rc) {
            thr_fail(&w->f, "i%d: release -> %d %s", i, rc, mpm_last_error());
            return NULL;
        }
    }
    return NULL;
}

Test(thread, threads_of_one_process_exclude_each_other_through_an_rlock, .timeout = 60)
{
    mpm_rlock *r = NULL;
    mpm_value *v = NULL;
    T_OK(mpm_rlock_new(thr_m, &r));
    T_OK(mpm_value_new(thr_m, &v, 'q', MPM_INT(0)));
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, T3_THREADS), 0);
    t3_worker w[T3_THREADS];
    pthread_t th[T3_THREADS];
    memset(w, 0, sizeof w);
    int64_t t0 = t_now_ms();
    for (int t = 0; t < T3_THREADS; t++) {
        w[t].r = r;
        w[t].v = v;
        w[t].start = &start;
        cr_assert_eq(pthread_create(&th[t], NULL, t3_main, &w[t]), 0);
    }
    for (int t = 0; t < T3_THREADS; t++)
        thr_join(th[t]);
    pthread_barrier_destroy(&start);
    fprintf(stderr, "thread_test: %d locked increments by %d threads in %" PRId64 " ms\n",
            T3_THREADS * T3_INCS, T3_THREADS, t_now_ms() - t0);
    for (int t = 0; t < T3_THREADS; t++)
        cr_assert_eq(w[t].f.n, 0, "thread %d: %d failures, the first: %s", t, w[t].f.n,
                     w[t].f.first);
    int64_t x = -1;
    T_OK(mpm_value_get_int(v, &x));
    cr_assert_eq(x, T3_THREADS * T3_INCS, "lost updates: the RLock let two threads in at once");
    char *s = NULL;
    T_OK(mpm_handle_repr(r, &s));
    cr_assert_str_eq(s, "<unlocked _thread.RLock object owner=0 count=0>");
    free(s);
    mpm_rlock_close(r);
    mpm_value_close(v);
    thr_assert_no_objects();
}

/*---- 4. Condition: wait in one thread, notify from another ---------------------------------*/

/* The number of waiters not yet notified, from the repr "<Condition(..., n)>". */
static int t4_nwaiting(mpm_condition *c)
{
    char *s = NULL;
    T_OK(mpm_handle_repr(c, &s));
    char *comma = strrchr(s, ',');
    cr_assert_not_null(comma, "%s", s);
    int n = atoi(comma + 1);
    free(s);
    return n;
}

static int t4_nwaiting_settle(mpm_condition *c, int want, int ms)
{
    int64_t end = t_now_ms() + ms;
    int n;
    while ((n = t4_nwaiting(c)) != want && t_now_ms() < end)
        t_sleep_ms(5);
    return n;
}

Test(thread, a_condition_is_waited_on_in_one_thread_and_notified_from_another, .timeout = 60)
{
    mpm_condition *c = NULL;
    T_OK(mpm_condition_new(thr_m, &c, NULL)); /* over an RLock of its own */
    actor A, B, C;
    actor_start(&A);
    actor_start(&B);
    actor_start(&C);
    const char *notify_msg = "RuntimeError: cannot notify on un-acquired lock";

    /* A holds the lock: B, another thread of the same process, does not */
    ACT_OK(&A, op_cond_acquire, .h = c, .n = 0);
    ACT_ERR(&B, MPM_ERUNTIME, notify_msg, op_cond_notify, .h = c, .n = 1);
    ACT_ERR(&B, MPM_ERUNTIME, notify_msg, op_cond_notify_all, .h = c);
    ACT_ERR(&B, MPM_ERUNTIME, "RuntimeError: cannot wait on un-acquired lock", op_cond_wait,
            .h = c, .n = 0, .bout = &(bool){false});
    ACT_ERR(&B, MPM_ERUNTIME, "RuntimeError: cannot release un-acquired lock", op_cond_release,
            .h = c);
    ACT_ERR(&B, MPM_ETIMEDOUT, "timed out", op_cond_acquire, .h = c, .n = 0);
    t_assert_err(mpm_condition_notify(c, 1), MPM_ERUNTIME, notify_msg);

    /* A waits (giving the lock up on the server); C waits too */
    bool a_notified = false, c_notified = false;
    op await = {.h = c, .n = 20000, .bout = &a_notified};
    actor_post(&A, op_cond_wait, &await);
    cr_assert_eq(t4_nwaiting_settle(c, 1, 5000), 1, "A is not waiting");
    ACT_OK(&C, op_cond_acquire, .h = c, .n = 5000);
    op cwait = {.h = c, .n = 20000, .bout = &c_notified};
    actor_post(&C, op_cond_wait, &cwait);
    cr_assert_eq(t4_nwaiting_settle(c, 2, 5000), 2, "C is not waiting");

    /* nobody holds the lock now: B still may not notify */
    ACT_ERR(&B, MPM_ERUNTIME, notify_msg, op_cond_notify, .h = c, .n = 1);

    /* B takes the lock and wakes one: A, the first to wait */
    ACT_OK(&B, op_cond_acquire, .h = c, .n = 5000);
    ACT_OK(&B, op_cond_notify, .h = c, .n = 1);
    cr_assert_eq(t4_nwaiting(c), 1);
    t_sleep_ms(100);
    cr_assert(!actor_done(&A), "A returned from wait while B held the lock");
    ACT_OK(&B, op_cond_release, .h = c);
    int rc = actor_wait(&A, 5000);
    cr_assert_eq(rc, 0, "A's wait: %d %s", rc, A.err);
    cr_assert(a_notified);
    cr_assert(!actor_done(&C), "C woke without a notify");

    /* A holds the lock again after its wait: B cannot take it, A notifies C */
    ACT_ERR(&B, MPM_ETIMEDOUT, "timed out", op_cond_acquire, .h = c, .n = 0);
    ACT_ERR(&B, MPM_ERUNTIME, notify_msg, op_cond_notify_all, .h = c);
    ACT_OK(&A, op_cond_notify_all, .h = c);
    ACT_OK(&A, op_cond_release, .h = c);
    rc = actor_wait(&C, 5000);
    cr_assert_eq(rc, 0, "C's wait: %d %s", rc, C.err);
    cr_assert(c_notified);
    ACT_OK(&C, op_cond_release, .h = c);
    ACT_ERR(&A, MPM_ERUNTIME, "RuntimeError: cannot release un-acquired lock", op_cond_release,
            .h = c);

    char *s = NULL;
    T_OK(mpm_handle_repr(c, &s));
    cr_assert_str_eq(s, "<Condition(<unlocked _thread.RLock object owner=0 count=0>, 0)>");
    free(s);
    actor_stop(&A);
    actor_stop(&B);
    actor_stop(&C);
    mpm_condition_close(c);
    thr_assert_no_objects();
}

/*---- 5. batches are per thread --------------------------------------------------------------*/

typedef struct t5_batch {
    mpm_value *v;
    mpm_dict *d;
    int64_t add, got_add, got_get;
    mpm_val *got_item;
    int rc[4];
} t5_batch;

/* Thread A queues four calls in its open batch. */
static int t5_queue(void *p)
{
    t5_batch *b = p;
    b->rc[0] = mpm_value_add_int(b->v, 10, &b->got_add);
    b->rc[1] = mpm_dict_set(b->d, MPM_STR("a"), MPM_STR("from A"));
    b->rc[2] = mpm_dict_get(b->d, MPM_STR("a"), &b->got_item);
    b->rc[3] = mpm_value_get_int(b->v, &b->got_get);
    return b->rc[0] || b->rc[1] || b->rc[2] || b->rc[3];
}

/* Thread A queues a get of a missing key. */
static int t5_queue_missing(void *p)
{
    t5_batch *b = p;
    return mpm_dict_get(b->d, MPM_STR("zz"), &b->got_item);
}

#define T5_THREADS 4
#define T5_BATCHES 100
#define T5_CALLS 20

typedef struct t5_worker {
    int t;
    mpm_value *v;
    mpm_dict *d;
    pthread_barrier_t *start;
    thr_fails f;
} t5_worker;

/* Even threads run batches, odd threads plain calls, all at once. */
static void *t5_main(void *arg)
{
    t5_worker *w = arg;
    const int t = w->t;
    int64_t count = 0;
    char key[64];
    pthread_barrier_wait(w->start);
    for (int k = 0; k < T5_BATCHES; k++) {
        int64_t outs[T5_CALLS];
        mpm_val *vals[T5_CALLS];
        int codes[T5_CALLS];
        bool batch = t % 2 == 0;
        memset(vals, 0, sizeof vals);
        if (batch && mpm_batch_begin(thr_m)) {
            thr_fail(&w->f, "k%d: batch_begin %s", k, mpm_last_error());
            return NULL;
        }
        for (int j = 0; j < T5_CALLS; j++) {
            outs[j] = -1;
            int rc;
            if (j % 2 == 0) {
                rc = mpm_value_add_int(w->v, 1, &outs[j]);
            } else {
                snprintf(key, sizeof key, "t%d-%d-%d", t, k, j);
                rc = mpm_dict_setdefault(w->d, MPM_STR(key), MPM_INT(t * 100000 + k * 100 + j),
                                         &vals[j]);
            }
            if (rc) thr_fail(&w->f, "k%d j%d: %d %s", k, j, rc, mpm_last_error());
            if (batch && mpm_batch_size(thr_m) != (size_t)j + 1)
                thr_fail(&w->f, "k%d j%d: batch size %zu", k, j, mpm_batch_size(thr_m));
        }
        if (batch) {
            int rc = mpm_batch_exec(thr_m, codes, T5_CALLS);
            if (rc) thr_fail(&w->f, "k%d: batch_exec %d %s", k, rc, mpm_last_error());
        }
        for (int j = 0; j < T5_CALLS; j++) {
            if (j % 2 == 0) {
                if (outs[j] != ++count)
                    thr_fail(&w->f, "t%d k%d j%d: add gave %" PRId64 " (want %" PRId64 ")", t, k,
                             j, outs[j], count);
            } else {
                mpm_val *x = vals[j];
                if (!x || x->type != MPM_T_INT || x->v.i != t * 100000 + k * 100 + j)
                    thr_fail(&w->f, "t%d k%d j%d: setdefault gave a wrong value", t, k, j);
                mpm_val_free(x);
            }
        }
    }
    return NULL;
}

Test(thread, a_batch_open_in_one_thread_does_not_capture_another_threads_calls, .timeout = 60)
{
    mpm_value *v = NULL;
    mpm_dict *d = NULL;
    T_OK(mpm_value_new(thr_m, &v, 'q', MPM_INT(0)));
    T_OK(mpm_dict_new(thr_m, &d));
    actor A, B;
    actor_start(&A);
    actor_start(&B);
    t5_batch ab;
    memset(&ab, 0, sizeof ab);
    ab.v = v;
    ab.d = d;
    ab.got_add = ab.got_get = -1;
    int64_t n = -1, got = -1;
    bool has = true;

    ACT_OK(&A, op_batch_begin);
    cr_assert_eq(actor_run(&A, t5_queue, &ab), 0, "queueing: %s", A.err);
    cr_assert_eq(ab.got_add, -1, "a queued call ran at once");
    ACT_OK(&A, op_batch_size, .iout = &n);
    cr_assert_eq(n, 4);

    /* B's calls run at once, beside A's open batch */
    ACT_OK(&B, op_batch_size, .iout = &n);
    cr_assert_eq(n, 0, "B sees A's batch");
    ACT_OK(&B, op_value_add, .h = v, .n = 1, .iout = &got);
    cr_assert_eq(got, 1);
    ACT_OK(&B, op_dict_contains, .h = d, .key = "a", .bout = &has);
    cr_assert(!has, "A's queued set ran before A's batch_exec");
    /* and so do this thread's */
    cr_assert_eq(mpm_batch_size(thr_m), 0);
    T_OK(mpm_value_get_int(v, &got));
    cr_assert_eq(got, 1);
    /* B may not run A's batch, and has none of its own to run */
    ACT_ERR(&B, MPM_EBATCH, "no batch is open on this manager", op_batch_exec);
    /* B opens its own batch while A's is open */
    ACT_OK(&B, op_batch_begin);
    int64_t b_add = -1;
    ACT_OK(&B, op_value_add, .h = v, .n = 100, .iout = &b_add);
    ACT_OK(&B, op_batch_size, .iout = &n);
    cr_assert_eq(n, 1);
    ACT_OK(&A, op_batch_size, .iout = &n);
    cr_assert_eq(n, 4, "A's batch took B's call");

    /* A's exec runs A's four calls and fills A's results */
    ACT_OK(&A, op_batch_exec);
    cr_assert_eq(ab.got_add, 11);
    cr_assert_eq(ab.got_get, 11);
    cr_assert(ab.got_item && ab.got_item->type == MPM_T_STR &&
              strcmp(ab.got_item->v.str.ptr, "from A") == 0);
    mpm_val_free(ab.got_item);
    ab.got_item = NULL;
    cr_assert_eq(b_add, -1, "B's queued call ran with A's batch");
    ACT_OK(&B, op_batch_exec);
    cr_assert_eq(b_add, 111);
    ACT_OK(&A, op_batch_size, .iout = &n);
    cr_assert_eq(n, 0);

    /* a failing batch: A's message is A's, B's is B's */
    mpm_val *x = NULL;
    ACT_OK(&A, op_batch_begin);
    cr_assert_eq(actor_run(&A, t5_queue_missing, &ab), 0, "queueing: %s", A.err);
    ACT_ERR(&B, MPM_EKEY, "KeyError: 'yy'", op_dict_get, .h = d, .key = "yy", .vout = &x);
    ACT_ERR(&A, MPM_EKEY, "KeyError: 'zz'", op_batch_exec);
    char msg[256] = "";
    ACT_OK(&B, op_read_err, .sout = msg, .slen = sizeof msg);
    cr_assert_str_eq(msg, "KeyError: 'yy'");

    actor_stop(&A);
    actor_stop(&B);

    /* and under load: batch threads beside plain-call threads */
    mpm_value *wv[T5_THREADS];
    t5_worker w[T5_THREADS];
    pthread_t th[T5_THREADS];
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, T5_THREADS), 0);
    memset(w, 0, sizeof w);
    int64_t t0 = t_now_ms();
    for (int t = 0; t < T5_THREADS; t++) {
        T_OK(mpm_value_new(thr_m, &wv[t], 'q', MPM_INT(0)));
        w[t].t = t;
        w[t].v = wv[t];
        w[t].d = d;
        w[t].start = &start;
        cr_assert_eq(pthread_create(&th[t], NULL, t5_main, &w[t]), 0);
    }
    for (int t = 0; t < T5_THREADS; t++)
        thr_join(th[t]);
    pthread_barrier_destroy(&start);
    fprintf(stderr, "thread_test: %d threads x %d batches (or plain calls) of %d in %" PRId64
                    " ms\n",
            T5_THREADS, T5_BATCHES, T5_CALLS, t_now_ms() - t0);
    for (int t = 0; t < T5_THREADS; t++) {
        cr_assert_eq(w[t].f.n, 0, "thread %d: %d failures, the first: %s", t, w[t].f.n,
                     w[t].f.first);
        int64_t y = -1;
        T_OK(mpm_value_get_int(wv[t], &y));
        cr_assert_eq(y, T5_BATCHES * T5_CALLS / 2);
        mpm_value_close(wv[t]);
    }
    mpm_value_close(v);
    mpm_dict_close(d);
    thr_assert_no_objects();
}

/*---- 6. threads and fork ---------------------------------------------------------------------*/

/* What a forked child does with the manager it inherited: every failure is a
 * distinct exit status. */
#define T6_CHILD_THREADS 3
#define T6_CHILD_CALLS 200

typedef struct t6_child_worker {
    mpm_value *v;
    mpm_dict *d;
    int t;
    int bad;
} t6_child_worker;

static void *t6_child_thread(void *arg)
{
    t6_child_worker *w = arg;
    char key[64];
    for (int i = 0; i < T6_CHILD_CALLS; i++) {
        int64_t got = -1;
        if (mpm_value_add_int(w->v, 1, &got) || got < 1) w->bad++;
        snprintf(key, sizeof key, "child%d-%d-%d", (int)getpid(), w->t, i);
        if (mpm_dict_set(w->d, MPM_STR(key), MPM_INT(i))) w->bad++;
        mpm_val *x = NULL;
        if (mpm_dict_get(w->d, MPM_STR(key), &x) || !x || x->type != MPM_T_INT || x->v.i != i)
            w->bad++;
        mpm_val_free(x);
    }
    return NULL;
}

/* The child's first calls race from several threads at once: they open the
 * child's own session and take its references exactly once. */
static int t6_child(mpm_dict *d, mpm_value *v, mpm_value *cv)
{
    pthread_t th[T6_CHILD_THREADS];
    t6_child_worker w[T6_CHILD_THREADS];
    memset(w, 0, sizeof w);
    for (int t = 0; t < T6_CHILD_THREADS; t++) {
        w[t].v = cv;
        w[t].d = d;
        w[t].t = t;
        if (pthread_create(&th[t], NULL, t6_child_thread, &w[t])) return 2;
    }
    mpm_val *x = NULL;
    int rc = mpm_dict_get(d, MPM_STR("parent"), &x);
    if (rc || !x || x->type != MPM_T_INT || x->v.i != 42) return 3;
    mpm_val_free(x);
    int64_t got = -1;
    if (mpm_value_get_int(v, &got)) return 4;
    for (int t = 0; t < T6_CHILD_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < T6_CHILD_THREADS; t++)
        if (w[t].bad) return 10 + t;
    /* an object of the child's own, and an error message of its own */
    mpm_list *l = NULL;
    if (mpm_list_new_range(thr_m, &l, 0, 3)) return 5;
    size_t n = 0;
    if (mpm_list_len(l, &n) || n != 3) return 6;
    mpm_list_close(l);
    if (mpm_dict_get(d, MPM_STR("nope"), &x) != MPM_EKEY) return 7;
    if (strcmp(mpm_last_error(), "KeyError: 'nope'")) return 8;
    size_t sessions = 0;
    if (mpm_manager_sessions(thr_m, &sessions) || sessions < 2) return 9;
    return 0;
}

Test(thread, a_child_forked_beside_idle_threads_uses_the_inherited_manager, .timeout = 60)
{
    mpm_dict *d = NULL;
    mpm_value *v = NULL, *cv = NULL;
    T_OK(mpm_dict_new(thr_m, &d));
    T_OK(mpm_value_new(thr_m, &v, 'q', MPM_INT(7)));
    T_OK(mpm_value_new(thr_m, &cv, 'q', MPM_INT(0)));
    T_OK(mpm_dict_set(d, MPM_STR("parent"), MPM_INT(42)));

    /* four threads make calls at once, so the pool holds several
     * connections, then sit idle */
    actor A[4];
    for (int i = 0; i < 4; i++)
        actor_start(&A[i]);
    op sl[4];
    int64_t slout[4];
    for (int i = 0; i < 4; i++) {
        sl[i] = (op){.h = v, .n = 1, .iout = &slout[i]};
        actor_post(&A[i], op_value_add, &sl[i]);
    }
    for (int i = 0; i < 4; i++)
        cr_assert_eq(actor_wait(&A[i], 10000), 0, "%s", A[i].err);

    for (int round = 0; round < 3; round++) {
        pid_t p = fork();
        cr_assert_geq(p, 0);
        if (p == 0) _exit(t6_child(d, v, cv));
        int st = t_wait_child(p);
        cr_assert_eq(st, 0, "round %d: the child failed with %d", round, st);
        /* the parent's threads and connections are untouched by the child */
        for (int i = 0; i < 4; i++) {
            int64_t got = -1;
            ACT_OK(&A[i], op_value_add, .h = v, .n = 1, .iout = &got);
            cr_assert_eq(got, 7 + 4 + round * 4 + i + 1);
        }
        int64_t x = -1;
        ACT_OK(&A[round], op_value_get, .h = cv, .iout = &x);
        cr_assert_eq(x, (round + 1) * T6_CHILD_THREADS * T6_CHILD_CALLS);
    }
    size_t n = 0;
    T_OK(mpm_dict_len(d, &n));
    cr_assert_eq(n, 1 + 3 * T6_CHILD_THREADS * T6_CHILD_CALLS);

    /* the children's sessions end; ours goes on */
    int64_t end = t_now_ms() + 5000;
    size_t sessions = 0;
    for (;;) {
        T_OK(mpm_manager_sessions(thr_m, &sessions));
        if (sessions == 1 || t_now_ms() >= end) break;
        t_sleep_ms(10);
    }
    cr_assert_eq(sessions, 1);
    for (int i = 0; i < 4; i++)
        actor_stop(&A[i]);
    mpm_dict_close(d);
    mpm_value_close(v);
    mpm_value_close(cv);
    thr_assert_no_objects();
}

/* fork() while other threads are in the middle of calls: a parent thread may
 * hold the manager's mutex or have a connection checked out at that moment. */
#define T6_BUSY 4

typedef struct t6_busy {
    int t;
    mpm_value *v;
    mpm_dict *d;
    atomic_int *stop;
    int64_t calls;
    thr_fails f;
} t6_busy;

static void *t6_busy_main(void *arg)
{
    t6_busy *w = arg;
    int64_t count = 0;
    char key[32];
    snprintf(key, sizeof key, "busy%d", w->t);
    while (!atomic_load(w->stop)) {
        int64_t got = -1;
        int rc = mpm_value_add_int(w->v, 1, &got);
        if (rc || got != ++count)
            thr_fail(&w->f, "t%d: add -> %d %" PRId64 " (want %" PRId64 ") %s", w->t, rc, got,
                     count, mpm_last_error());
        mpm_val *x = NULL;
        rc = mpm_dict_get(w->d, MPM_STR(key), &x);
        if (rc || !x || x->type != MPM_T_INT || x->v.i != w->t)
            thr_fail(&w->f, "t%d: get -> %d %s", w->t, rc, mpm_last_error());
        mpm_val_free(x);
        w->calls += 2;
    }
    return NULL;
}

Test(thread, children_forked_while_other_threads_are_in_calls_work, .timeout = 60)
{
    mpm_dict *d = NULL;
    mpm_value *v = NULL, *cv = NULL;
    T_OK(mpm_dict_new(thr_m, &d));
    T_OK(mpm_value_new(thr_m, &v, 'q', MPM_INT(7)));
    T_OK(mpm_value_new(thr_m, &cv, 'q', MPM_INT(0)));
    T_OK(mpm_dict_set(d, MPM_STR("parent"), MPM_INT(42)));
    atomic_int stop = 0;
    t6_busy w[T6_BUSY];
    mpm_value *wv[T6_BUSY];
    pthread_t th[T6_BUSY];
    memset(w, 0, sizeof w);
    for (int t = 0; t < T6_BUSY; t++) {
        char key[32];
        snprintf(key, sizeof key, "busy%d", t);
        T_OK(mpm_dict_set(d, MPM_STR(key), MPM_INT(t)));
        T_OK(mpm_value_new(thr_m, &wv[t], 'q', MPM_INT(0)));
        w[t] = (t6_busy){.t = t, .v = wv[t], .d = d, .stop = &stop};
        cr_assert_eq(pthread_create(&th[t], NULL, t6_busy_main, &w[t]), 0);
    }
    t_sleep_ms(50);
    enum { ROUNDS = 8 };
    int status[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        pid_t p = fork();
        if (p == 0) _exit(t6_child(d, v, cv));
        status[round] = p < 0 ? -2 : t_wait_child(p);
        t_sleep_ms(5);
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < T6_BUSY; t++)
        thr_join(th[t]);
    for (int round = 0; round < ROUNDS; round++)
        cr_assert_eq(status[round], 0, "round %d: the child failed with %d", round,
                     status[round]);
    for (int t = 0; t < T6_BUSY; t++) {
        cr_assert_eq(w[t].f.n, 0, "thread %d: %d failures, the first: %s", t, w[t].f.n,
                     w[t].f.first);
        cr_assert_gt(w[t].calls, 0);
        int64_t x = -1;
        T_OK(mpm_value_get_int(wv[t], &x));
        cr_assert_eq(x, w[t].calls / 2);
        mpm_value_close(wv[t]);
    }
    int64_t x = -1;
    T_OK(mpm_value_get_int(cv, &x));
    cr_assert_eq(x, ROUNDS * T6_CHILD_THREADS * T6_CHILD_CALLS);
    mpm_dict_close(d);
    mpm_value_close(v);
    mpm_value_close(cv);
    thr_assert_no_objects();
}

/*---- 7. the last error is per thread ----------------------------------------------------------*/

static int op_list_get(void *p)
{
    op *o = p;
    return mpm_list_get(o->h, o->n, o->vout);
}

static int op_ns_get(void *p)
{
    op *o = p;
    return mpm_namespace_get(o->h, o->key, o->vout);
}

static int op_null_handle(void *p)
{
    (void)p;
    return mpm_dict_set(NULL, MPM_INT(1), MPM_INT(1));
}

#define T7_THREADS 4
#define T7_ROUNDS 2000

typedef struct t7_worker {
    int t;
    mpm_dict *d;
    mpm_list *l;
    pthread_barrier_t *start;
    thr_fails f;
} t7_worker;

/* Each thread fails in its own way, all at once, and reads its own message. */
static void *t7_main(void *arg)
{
    t7_worker *w = arg;
    char key[64], want[128];
    pthread_barrier_wait(w->start);
    for (int i = 0; i < T7_ROUNDS; i++) {
        mpm_val *x = NULL;
        int rc, code;
        if (w->t % 2 == 0) {
            snprintf(key, sizeof key, "t%d-%d", w->t, i);
            snprintf(want, sizeof want, "KeyError: '%s'", key);
            rc = mpm_dict_get(w->d, MPM_STR(key), &x);
            code = MPM_EKEY;
        } else {
            snprintf(want, sizeof want, "IndexError: list index out of range");
            rc = mpm_list_get(w->l, 1000 + i, &x);
            code = MPM_EINDEX;
        }
        if (rc != code || strcmp(mpm_last_error(), want))
            thr_fail(&w->f, "t%d i%d: %d '%s' (want %d '%s')", w->t, i, rc, mpm_last_error(),
                     code, want);
        mpm_val_free(x);
    }
    return NULL;
}

Test(thread, each_thread_keeps_its_own_last_error, .timeout = 60)
{
    mpm_dict *d = NULL;
    mpm_list *l = NULL;
    mpm_namespace *ns = NULL;
    T_OK(mpm_dict_new(thr_m, &d));
    T_OK(mpm_list_new_range(thr_m, &l, 0, 2));
    T_OK(mpm_namespace_new(thr_m, &ns));
    actor A, B, C, D;
    actor_start(&A);
    actor_start(&B);
    actor_start(&C);
    actor_start(&D);
    mpm_val *x = NULL;
    char ma[256], mb[256], mc[256], md[256];

    /* this thread's own error first */
    t_assert_err(mpm_dict_get(d, MPM_STR("main"), &x), MPM_EKEY, "KeyError: 'main'");

    ACT_ERR(&A, MPM_EKEY, "KeyError: 'a'", op_dict_get, .h = d, .key = "a", .vout = &x);
    ACT_ERR(&B, MPM_EKEY, "KeyError: 'b'", op_dict_get, .h = d, .key = "b", .vout = &x);
    ACT_ERR(&C, MPM_EINDEX, "IndexError: list index out of range", op_list_get, .h = l, .n = 5,
            .vout = &x);
    ACT_ERR(&D, MPM_EATTR, "AttributeError: 'Namespace' object has no attribute 'dd'", op_ns_get,
            .h = ns, .key = "dd", .vout = &x);
    /* a client-side error in a fifth thread (this one) after the others */
    t_assert_err(mpm_dict_set(NULL, MPM_INT(1), MPM_INT(1)), MPM_EINVAL,
                 "ValueError: NULL handle");

    /* each thread still reads its own message */
    ACT_OK(&A, op_read_err, .sout = ma, .slen = sizeof ma);
    ACT_OK(&B, op_read_err, .sout = mb, .slen = sizeof mb);
    ACT_OK(&C, op_read_err, .sout = mc, .slen = sizeof mc);
    ACT_OK(&D, op_read_err, .sout = md, .slen = sizeof md);
    cr_assert_str_eq(ma, "KeyError: 'a'");
    cr_assert_str_eq(mb, "KeyError: 'b'");
    cr_assert_str_eq(mc, "IndexError: list index out of range");
    cr_assert_str_eq(md, "AttributeError: 'Namespace' object has no attribute 'dd'");
    cr_assert_str_eq(mpm_last_error(), "ValueError: NULL handle");

    /* a thread that never failed has no message */
    actor E;
    actor_start(&E);
    char me[256] = "x";
    ACT_OK(&E, op_read_err, .sout = me, .slen = sizeof me);
    cr_assert_str_eq(me, "");
    ACT_ERR(&E, MPM_EINVAL, "ValueError: NULL handle", op_null_handle);
    ACT_OK(&A, op_read_err, .sout = ma, .slen = sizeof ma);
    cr_assert_str_eq(ma, "KeyError: 'a'");
    actor_stop(&E);
    actor_stop(&A);
    actor_stop(&B);
    actor_stop(&C);
    actor_stop(&D);

    /* and under load: four threads failing differently at once */
    t7_worker w[T7_THREADS];
    pthread_t th[T7_THREADS];
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, T7_THREADS), 0);
    memset(w, 0, sizeof w);
    for (int t = 0; t < T7_THREADS; t++) {
        w[t] = (t7_worker){.t = t, .d = d, .l = l, .start = &start};
        cr_assert_eq(pthread_create(&th[t], NULL, t7_main, &w[t]), 0);
    }
    for (int t = 0; t < T7_THREADS; t++)
        thr_join(th[t]);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < T7_THREADS; t++)
        cr_assert_eq(w[t].f.n, 0, "thread %d: %d failures, the first: %s", t, w[t].f.n,
                     w[t].f.first);
    cr_assert_str_eq(mpm_last_error(), "ValueError: NULL handle");

    mpm_dict_close(d);
    mpm_list_close(l);
    mpm_namespace_close(ns);
    thr_assert_no_objects();
}

/*---- 8. a thread's close comes before its own next call -------------------------------------*/

/* mpm_list_close sends its DECREF without waiting for the answer
 * (client_decref_nowait): the reply is read before that connection's next
 * reply.  With one thread the next call goes on that connection, after the
 * DECREF.  With other threads calling, the closing thread's next call may go
 * on another connection of the pool, and the server may run it first: the
 * object the thread has just closed is still there for it. */
#define T8_PINGERS 7
#define T8_ROUNDS 20000

static void *t8_pinger(void *arg)
{
    atomic_int *stop = arg;
    while (!atomic_load(stop))
        mpm_ping(thr_m);
    return NULL;
}

Test(thread, a_threads_close_comes_before_its_own_next_call, .timeout = 60)
{
    atomic_int stop = 0;
    pthread_t th[T8_PINGERS];
    for (int t = 0; t < T8_PINGERS; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, t8_pinger, &stop), 0);
    int seen = 0, first = -1, rc = 0;
    int64_t t0 = t_now_ms();
    for (int i = 0; i < T8_ROUNDS && !rc; i++) {
        mpm_list *l = NULL;
        size_t n = 999;
        rc = mpm_list_new(thr_m, &l);
        if (rc) break;
        mpm_list_close(l);
        rc = mpm_manager_object_count(thr_m, &n);
        if (!rc && n != 0 && seen++ == 0) first = i;
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < T8_PINGERS; t++)
        thr_join(th[t]);
    fprintf(stderr, "thread_test: %d create/close/count rounds beside %d pinging threads in %" PRId64
                    " ms\n",
            T8_ROUNDS, T8_PINGERS, t_now_ms() - t0);
    cr_assert_eq(rc, 0, "%d %s", rc, mpm_last_error());
    cr_assert_eq(seen, 0,
                 "in %d of %d rounds (the first: %d) the count right after the close still "
                 "held the closed object",
                 seen, T8_ROUNDS, first);
    thr_assert_no_objects();
}

/*---- a pipelined close, and connections given back with its reply unread -------------------*/

typedef struct close_race {
    mpm_dict *d;
    mpm_list *l;
    size_t bign;
    char *big;
    atomic_int go, b_rc, a_rc, a_done, b_done;
} close_race;

/* B: a call that holds the connection A's close went on, then gives it back
 * with A's reply unread (a value over the frame limit fails before it is
 * sent) or read late (a large value that goes). */
static void *close_race_b(void *arg)
{
    close_race *r = arg;
    while (!atomic_load(&r->go))
        t_sleep_ms(0);
    atomic_store(&r->b_rc, mpm_dict_set(r->d, MPM_STR("big"), MPM_STRN(r->big, r->bign)));
    atomic_store(&r->b_done, 1);
    return NULL;
}

/* A: closes a handle (its DECREF pipelined), lets B take the connection,
 * then calls: it must wait for its reply to be read, and be woken. */
static void *close_race_a(void *arg)
{
    close_race *r = arg;
    mpm_list_close(r->l);
    atomic_store(&r->go, 1);
    t_sleep_ms(5);
    atomic_store(&r->a_rc, mpm_ping(thr_m));
    atomic_store(&r->a_done, 1);
    return NULL;
}

static void close_race_start(close_race *r, size_t bign, pthread_t *a, pthread_t *b)
{
    memset(r, 0, sizeof *r);
    r->bign = bign;
    r->big = malloc(bign);
    cr_assert_not_null(r->big);
    memset(r->big, 'x', bign);
    T_OK(mpm_dict_new(thr_m, &r->d));
    T_OK(mpm_list_new(thr_m, &r->l));
    cr_assert_eq(pthread_create(b, NULL, close_race_b, r), 0);
    cr_assert_eq(pthread_create(a, NULL, close_race_a, r), 0);
}

Test(thread, a_close_is_not_lost_behind_a_call_that_fails_before_it_is_sent, .timeout = 60)
{
    close_race r;
    pthread_t a, b;
    close_race_start(&r, 70u << 20, &a, &b); /* over the 64 MiB frame limit */
    int64_t end = t_now_ms() + 5000;
    while (!atomic_load(&r.a_done) && t_now_ms() < end)
        t_sleep_ms(5);
    int stuck = !atomic_load(&r.a_done);
    if (stuck) T_OK(mpm_ping(thr_m)); /* wakes A, so the test can end */
    thr_join(a);
    thr_join(b);
    cr_assert(!stuck, "a call after a pipelined close waited 5 s for a connection given back");
    cr_assert_eq(atomic_load(&r.b_rc), MPM_ETOOBIG);
    cr_assert_eq(atomic_load(&r.a_rc), 0);
    mpm_dict_close(r.d);
    free(r.big);
    thr_assert_no_objects();
}

/* fork while a thread waits for its close's reply: the child, which has no
 * such thread, closes the inherited manager without waiting for it. */
Test(thread, a_child_forked_while_a_thread_waits_on_a_close_closes_the_manager, .timeout = 60)
{
    close_race r;
    pthread_t a, b;
    close_race_start(&r, 48u << 20, &a, &b); /* goes: B holds the connection a while */
    t_sleep_ms(15);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        alarm(20);
        mpm_manager_close(thr_m);
        _exit(0);
    }
    int st = -1, done = 0;
    int64_t end = t_now_ms() + 5000;
    while (!done && t_now_ms() < end) {
        done = waitpid(pid, &st, WNOHANG) == pid;
        if (!done) t_sleep_ms(5);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    thr_join(a);
    thr_join(b);
    cr_assert(done, "the child hung in mpm_manager_close");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    cr_assert_eq(atomic_load(&r.b_rc), 0, "B: %s", mpm_strerror(atomic_load(&r.b_rc)));
    cr_assert_eq(atomic_load(&r.a_rc), 0);
    mpm_dict_close(r.d);
    free(r.big);
    thr_assert_no_objects();
}
