/* queue_test.c - mpm_queue_*: Queue and JoinableQueue, their errors in
 * Python's words, FIFO under many producers and consumers, back-pressure,
 * timeouts, join, and no work lost to a worker killed holding items.
 *
 * Forked children never call cr_* (nng inside Criterion panics after fork):
 * they report by exit status only. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mpm/mpm.h>

#include "support/support.h"

#include "proxy/client.h" /* raw calls: what a client in another language may send */

static mpm_manager *queue_m;

static void queue_setup(void)
{
    int rc = mpm_manager_start(&queue_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void queue_teardown(void)
{
    mpm_manager_shutdown(queue_m);
    queue_m = NULL;
}

TestSuite(queue, .init = queue_setup, .fini = queue_teardown, .timeout = 30);

static mpm_queue *queue_new(int64_t maxsize, bool joinable)
{
    mpm_queue *q = NULL;
    if (joinable)
        T_OK(mpm_joinable_queue_new(queue_m, &q, maxsize));
    else
        T_OK(mpm_queue_new(queue_m, &q, maxsize));
    cr_assert_not_null(q);
    return q;
}

static size_t queue_qsize(mpm_queue *q)
{
    size_t n = 999;
    T_OK(mpm_queue_qsize(q, &n));
    return n;
}

static int64_t queue_get_int(mpm_queue *q, int64_t timeout)
{
    mpm_val *v = NULL;
    T_OK(mpm_queue_get(q, timeout, &v));
    cr_assert_eq(v->type, MPM_T_INT);
    int64_t i = v->v.i;
    mpm_val_free(v);
    return i;
}

static void queue_assert_repr(void *h, const char *want)
{
    char *s = NULL, b[256];
    T_OK(mpm_handle_repr(h, &s));
    snprintf(b, sizeof b, "%s", s);
    free(s);
    cr_assert_str_eq(b, want);
}

static size_t queue_objects(void)
{
    size_t n = 999;
    T_OK(mpm_manager_object_count(queue_m, &n));
    return n;
}

/* Poll until the server holds want objects (a dead child's session ends when
 * the server reads its EOF), up to 5 s. */
static size_t queue_objects_settle(size_t want)
{
    int64_t end = t_now_ms() + 5000;
    size_t n;
    while ((n = queue_objects()) != want && t_now_ms() < end)
        t_sleep_ms(5);
    return n;
}

/* A child's get of one int: the value, or -1. */
static int64_t queue_child_get_int(mpm_queue *q, int64_t timeout)
{
    mpm_val *v = NULL;
    if (mpm_queue_get(q, timeout, &v) || v->type != MPM_T_INT) return -1;
    int64_t i = v->v.i;
    mpm_val_free(v);
    return i;
}

/*---- the plain methods and their errors --------------------------------------------*/

Test(queue, new_put_get_sizes_and_repr)
{
    mpm_queue *q = queue_new(0, false), *b = queue_new(2, false), *j = queue_new(-3, true);
    bool e = false, f = true;
    cr_assert_eq(mpm_handle_type(q), MPM_OBJ_QUEUE);
    cr_assert_eq(mpm_handle_type(j), MPM_OBJ_JOINABLE_QUEUE);
    queue_assert_repr(q, "<Queue qsize=0 maxsize=0>");
    queue_assert_repr(j, "<JoinableQueue qsize=0 maxsize=0 unfinished=0>");
    T_OK(mpm_queue_empty(q, &e));
    cr_assert(e);
    T_OK(mpm_queue_full(q, &f));
    cr_assert_not(f);
    for (int i = 0; i < 5; i++)
        T_OK(mpm_queue_put(q, MPM_INT(i), -1));
    cr_assert_eq(queue_qsize(q), 5);
    T_OK(mpm_queue_empty(q, &e));
    cr_assert_not(e);
    T_OK(mpm_queue_full(q, &f));
    cr_assert_not(f, "an unbounded queue is never full");
    queue_assert_repr(q, "<Queue qsize=5 maxsize=0>");
    for (int i = 0; i < 5; i++)
        cr_assert_eq(queue_get_int(q, 0), i, "FIFO order");

    T_OK(mpm_queue_put_nowait(b, MPM_STR("a")));
    T_OK(mpm_queue_put(b, MPM_STR("b"), 0));
    T_OK(mpm_queue_full(b, &f));
    cr_assert(f);
    t_assert_err(mpm_queue_put_nowait(b, MPM_STR("c")), MPM_EFULL, "Full");
    queue_assert_repr(b, "<Queue qsize=2 maxsize=2>");
    mpm_val *v = NULL;
    T_OK(mpm_queue_get_nowait(b, &v));
    cr_assert_str_eq(v->v.str.ptr, "a");
    mpm_val_free(v);
    T_OK(mpm_queue_get(b, -1, &v));
    cr_assert_str_eq(v->v.str.ptr, "b");
    mpm_val_free(v);
    v = NULL;
    t_assert_err(mpm_queue_get_nowait(b, &v), MPM_EEMPTY, "Empty");
    cr_assert_null(v);
    t_assert_err(mpm_queue_get(b, 0, &v), MPM_EEMPTY, "Empty");

    mpm_queue_close(q);
    mpm_queue_close(b);
    mpm_queue_close(j);
    mpm_queue_close(NULL);
    cr_assert_eq(queue_objects_settle(0), 0);
}

Test(queue, raw_maxsize_and_copy)
{
    mpm_queue *q = queue_new(7, false), *u = queue_new(-1, false);
    int64_t max = -9;
    mpm_val *v = NULL;
    T_OK(mpmi_call(&q->h, MPMI_OP_Q_MAXSIZE, NULL, 0, MPMI_SINK_INT(&max)));
    cr_assert_eq(max, 7);
    T_OK(mpmi_call(&u->h, MPMI_OP_Q_MAXSIZE, NULL, 0, MPMI_SINK_INT(&max)));
    cr_assert_eq(max, 0, "maxsize <= 0 is unbounded");
    T_OK(mpm_queue_put(q, MPM_INT(1), 0));
    T_OK(mpm_queue_put(q, MPM_STR("x"), 0));
    T_OK(mpmi_call(&q->h, MPMI_OP_COPY, NULL, 0, MPMI_SINK_VAL(&v)));
    char *s = mpm_val_repr(*v);
    cr_assert_str_eq(s, "[1, 'x']");
    free(s);
    mpm_val_free(v);
    cr_assert_eq(queue_qsize(q), 2, "a copy takes nothing");
    mpm_val t = MPM_INT(-7);
    t_assert_err(mpmi_call(&q->h, MPMI_OP_Q_GET, &t, 1, MPMI_SINK_VAL(&v)), MPM_EVALUE,
                 "ValueError: timeout must be -1 (none) or >= 0");
    mpm_val m[2] = {MPM_INT(0), MPM_INT(0)};
    t_assert_err(mpmi_call(&q->h, MPMI_OP_Q_GET_MANY, m, 2, MPMI_SINK_VAL(&v)), MPM_EVALUE,
                 "ValueError: max must be one or more");
    mpm_queue_close(q);
    mpm_queue_close(u);
}

Test(queue, argument_errors)
{
    mpm_queue *q = queue_new(0, false), *j = queue_new(0, true);
    mpm_val *v = NULL;
    size_t n = 7;
    cr_assert_eq(mpm_queue_put(q, MPM_INT(1), -2), MPM_EINVAL);
    cr_assert_eq(mpm_queue_get(q, -5, &v), MPM_EINVAL);
    cr_assert_eq(mpm_queue_get(q, 0, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_queue_get_many(q, 0, 0, &v), MPM_EINVAL);
    cr_assert_eq(mpm_queue_get_many(q, 1, -2, &v), MPM_EINVAL);
    cr_assert_eq(mpm_queue_put_many(q, MPM_INT(1), 0, &n), MPM_EINVAL);
    cr_assert_eq(n, 0);
    cr_assert_eq(mpm_queue_join(j, -3), MPM_EINVAL);
    cr_assert_eq(mpm_queue_qsize(q, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_queue_empty(q, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_queue_full(q, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_queue_put(NULL, MPM_INT(1), 0), MPM_EINVAL);
    /* a plain Queue has no task_done or join, as in Python */
    cr_assert_eq(mpm_queue_task_done(q), MPM_ENOMETHOD);
    cr_assert_eq(mpm_queue_join(q, 0), MPM_ENOMETHOD);
    t_assert_err(mpm_queue_task_done(j), MPM_EVALUE,
                 "ValueError: task_done() called too many times");
    mpm_queue_close(q);
    mpm_queue_close(j);
}

Test(queue, blocking_calls_refuse_a_batch)
{
    mpm_queue *q = queue_new(0, true);
    mpm_val *v = NULL, *w = NULL;
    size_t n;
    T_OK(mpm_batch_begin(queue_m));
    cr_assert_eq(mpm_queue_get(q, -1, &v), MPM_EBATCH);
    cr_assert_eq(mpm_queue_put(q, MPM_INT(1), 100), MPM_EBATCH);
    cr_assert_eq(mpm_queue_get_many(q, 3, -1, &v), MPM_EBATCH);
    cr_assert_eq(mpm_queue_put_many(q, MPM_LIST(NULL, 0), 0, &n), MPM_EBATCH);
    cr_assert_eq(mpm_queue_join(q, 0), MPM_EBATCH);
    /* the non-blocking forms queue */
    T_OK(mpm_queue_put_nowait(q, MPM_INT(41)));
    T_OK(mpm_queue_get_nowait(q, &w));
    cr_assert_eq(mpm_batch_size(queue_m), 2);
    T_OK(mpm_batch_exec(queue_m, NULL, 0));
    cr_assert_not_null(w);
    cr_assert_eq(w->v.i, 41);
    mpm_val_free(w);
    T_OK(mpm_queue_task_done(q));
    T_OK(mpm_queue_join(q, 0));
    mpm_queue_close(q);
}

Test(queue, put_many_and_get_many)
{
    mpm_queue *q = queue_new(3, false);
    mpm_val items[5] = {MPM_INT(0), MPM_INT(1), MPM_INT(2), MPM_INT(3), MPM_INT(4)}, *v = NULL;
    size_t n = 99;
    T_OK(mpm_queue_put_many(q, MPM_LIST(items, 0), 0, &n));
    cr_assert_eq(n, 0);
    t_assert_err(mpm_queue_put_many(q, MPM_LIST(items, 5), 0, &n), MPM_EFULL, "Full");
    cr_assert_eq(n, 3, "as many as fit went in");
    T_OK(mpm_queue_get_many(q, 2, 0, &v));
    cr_assert_eq(v->type, MPM_T_LIST);
    cr_assert_eq(v->v.list.len, 2);
    cr_assert_eq(v->v.list.items[0].v.i, 0);
    cr_assert_eq(v->v.list.items[1].v.i, 1);
    mpm_val_free(v);
    T_OK(mpm_queue_get_many(q, 100, -1, &v));
    cr_assert_eq(v->v.list.len, 1, "get_many returns what is there");
    cr_assert_eq(v->v.list.items[0].v.i, 2);
    mpm_val_free(v);
    v = NULL;
    t_assert_err(mpm_queue_get_many(q, 5, 0, &v), MPM_EEMPTY, "Empty");
    cr_assert_null(v);
    /* unbounded: all at once */
    mpm_queue *u = queue_new(0, false);
    T_OK(mpm_queue_put_many(u, MPM_LIST(items, 5), -1, &n));
    cr_assert_eq(n, 5);
    T_OK(mpm_queue_put_many(u, MPM_LIST(items, 5), -1, NULL));
    cr_assert_eq(queue_qsize(u), 10);
    T_OK(mpm_queue_get_many(u, 10, 0, &v));
    for (size_t i = 0; i < 10; i++)
        cr_assert_eq(v->v.list.items[i].v.i, (int64_t)(i % 5));
    mpm_val_free(v);
    mpm_queue_close(q);
    mpm_queue_close(u);
}

Test(queue, nested_items_come_back_whole)
{
    mpm_queue *q = queue_new(0, false);
    mpm_val inner[3] = {MPM_INT(1), MPM_STR("two"), MPM_NONE};
    mpm_pair pairs[2] = {{MPM_STR("list"), MPM_LIST(inner, 3)},
                         {MPM_FLOAT(0.5), MPM_BYTES("\0x", 2)}};
    mpm_val outer[2] = {MPM_DICT(pairs, 2), MPM_BOOL(true)};
    mpm_val item = MPM_LIST(outer, 2), *v = NULL;
    T_OK(mpm_queue_put(q, item, -1));
    T_OK(mpm_queue_put_many(q, MPM_LIST(&item, 1), -1, NULL));
    queue_assert_repr(q, "<Queue qsize=2 maxsize=0>");
    T_OK(mpm_queue_get(q, -1, &v));
    cr_assert(mpm_val_eq(*v, item));
    char *s = mpm_val_repr(*v);
    cr_assert_str_eq(s, "[{'list': [1, 'two', None], 0.5: b'\\x00x'}, True]");
    free(s);
    mpm_val_free(v);
    T_OK(mpm_queue_get_many(q, 5, -1, &v));
    cr_assert_eq(v->v.list.len, 1);
    cr_assert(mpm_val_eq(v->v.list.items[0], item));
    mpm_val_free(v);
    mpm_queue_close(q);
}

/*---- timeouts and blocking ---------------------------------------------------------*/

/* t_assert_timeouts_precise's waits: a get from an empty queue and a put to
 * a full one, which must time out. */
static int queue_get_timed_out(void *q, int64_t timeout_ms)
{
    mpm_val *v = NULL;
    int rc = mpm_queue_get(q, timeout_ms, &v);
    mpm_val_free(v);
    return rc == MPM_EEMPTY ? 0 : rc ? rc : -1;
}

static int queue_put_timed_out(void *q, int64_t timeout_ms)
{
    int rc = mpm_queue_put(q, MPM_INT(2), timeout_ms);
    return rc == MPM_EFULL ? 0 : rc ? rc : -1;
}

Test(queue, timeouts_are_honoured)
{
    mpm_queue *q = queue_new(1, true);
    mpm_val *v = NULL;
    size_t n = 9;
    int64_t t0 = t_now_ms();
    t_assert_err(mpm_queue_get(q, 200, &v), MPM_EEMPTY, "Empty");
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "get");
    t0 = t_now_ms();
    t_assert_err(mpm_queue_get_many(q, 4, 200, &v), MPM_EEMPTY, "Empty");
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "get_many");
    T_OK(mpm_queue_put(q, MPM_INT(1), 200));
    t0 = t_now_ms();
    t_assert_err(mpm_queue_put(q, MPM_INT(2), 200), MPM_EFULL, "Full");
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "put");
    mpm_val two[2] = {MPM_INT(2), MPM_INT(3)};
    t0 = t_now_ms();
    t_assert_err(mpm_queue_put_many(q, MPM_LIST(two, 2), 200, &n), MPM_EFULL, "Full");
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "put_many");
    cr_assert_eq(n, 0);
    t0 = t_now_ms();
    t_assert_err(mpm_queue_join(q, 200), MPM_ETIMEDOUT, "timed out");
    T_ASSERT_ON_TIME(t_now_ms() - t0, 200, "join");
    cr_assert_eq(queue_qsize(q), 1, "a timed-out put leaves nothing behind");
    /* and within a few milliseconds of the deadline */
    t_assert_timeouts_precise(queue_put_timed_out, q, 20, "put");
    T_OK(mpm_queue_get(q, 0, &v));
    mpm_val_free(v);
    t_assert_timeouts_precise(queue_get_timed_out, q, 20, "get");
    mpm_queue_close(q);
}

#define QUEUE_ZERO_CALLS 21

Test(queue, a_zero_timeout_never_waits)
{
    /* e is empty; f is full and has unfinished work: every call below fails */
    mpm_queue *e = queue_new(0, false), *f = queue_new(1, true);
    T_OK(mpm_queue_put(f, MPM_INT(1), -1));
    mpm_val two[2] = {MPM_INT(2), MPM_INT(3)};
    static const char *const what[5] = {"get", "get_many", "put", "put_many", "join"};
    for (int k = 0; k < 5; k++) {
        int64_t ms[QUEUE_ZERO_CALLS];
        for (int i = 0; i < QUEUE_ZERO_CALLS; i++) {
            mpm_val *v = NULL;
            size_t n = 9;
            int rc = -1, want = k < 2 ? MPM_EEMPTY : k < 4 ? MPM_EFULL : MPM_ETIMEDOUT;
            int64_t t0 = t_now_ms();
            switch (k) {
            case 0:
                rc = mpm_queue_get(e, 0, &v);
                break;
            case 1:
                rc = mpm_queue_get_many(e, 4, 0, &v);
                break;
            case 2:
                rc = mpm_queue_put(f, MPM_INT(2), 0);
                break;
            case 3:
                rc = mpm_queue_put_many(f, MPM_LIST(two, 2), 0, &n);
                break;
            case 4:
                rc = mpm_queue_join(f, 0);
                break;
            }
            ms[i] = t_now_ms() - t0;
            cr_assert_eq(rc, want, "%s: %d (%s)", what[k], rc, mpm_last_error());
        }
        /* the median, so one call descheduled on a loaded machine does not
         * fail it, while a 0 that parks even 10 ms every time does */
        int64_t med = t_median(ms, QUEUE_ZERO_CALLS);
        cr_assert_lt(med, 5, "%s with timeout 0: median call %lld ms", what[k], (long long)med);
    }
    cr_assert_eq(queue_qsize(e), 0);
    cr_assert_eq(queue_qsize(f), 1);
    mpm_queue_close(e);
    mpm_queue_close(f);
}

Test(queue, maxsize_back_pressure)
{
    mpm_queue *q = queue_new(1, false);
    T_OK(mpm_queue_put(q, MPM_INT(1), -1));
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        /* blocks until the parent's get frees the slot */
        int64_t t0 = t_now_ms();
        if (mpm_queue_put(q, MPM_INT(2), 10000)) _exit(2);
        _exit(t_now_ms() - t0 >= 150 ? 0 : 3);
    }
    t_sleep_ms(300);
    cr_assert_eq(queue_qsize(q), 1, "the child's put must wait");
    cr_assert_eq(queue_get_int(q, -1), 1);
    cr_assert_eq(queue_get_int(q, 5000), 2, "the parked put went in");
    cr_assert_eq(t_wait_child(p), 0);
    mpm_queue_close(q);
}

Test(queue, parked_putters_are_admitted_in_arrival_order)
{
    mpm_queue *q = queue_new(1, false);
    T_OK(mpm_queue_put(q, MPM_INT(0), -1));
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        cr_assert_geq(kids[i], 0);
        if (kids[i] == 0) _exit(mpm_queue_put(q, MPM_INT(i + 1), 10000) ? 1 : 0);
        t_sleep_ms(150); /* so they park in order */
    }
    for (int i = 0; i < 4; i++)
        cr_assert_eq(queue_get_int(q, 5000), i);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(t_wait_child(kids[i]), 0);
    mpm_queue_close(q);
}

Test(queue, a_parked_get_is_answered_by_a_later_put)
{
    mpm_queue *q = queue_new(0, false);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        mpm_val *v = NULL;
        if (mpm_queue_get_many(q, 10, 10000, &v)) _exit(2);
        int ok = v->type == MPM_T_LIST && v->v.list.len >= 1 && v->v.list.items[0].v.i == 7;
        mpm_val_free(v);
        _exit(ok ? 0 : 3);
    }
    t_sleep_ms(200);
    T_OK(mpm_queue_put(q, MPM_INT(7), -1));
    cr_assert_eq(t_wait_child(p), 0);
    mpm_queue_close(q);
}

/* A child parks get_many(max) on q's empty queue; exit 0 if it got exactly
 * want[0..nwant) (a list of ints). */
static pid_t queue_parked_get_many(mpm_queue *q, size_t max, const int64_t *want, size_t nwant)
{
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        mpm_val *v = NULL;
        if (mpm_queue_get_many(q, max, 5000, &v)) _exit(2);
        int ok = v->type == MPM_T_LIST && v->v.list.len == nwant;
        for (size_t i = 0; ok && i < nwant; i++)
            ok = v->v.list.items[i].type == MPM_T_INT && v->v.list.items[i].v.i == want[i];
        mpm_val_free(v);
        _exit(ok ? 0 : 3);
    }
    t_wait_parked(queue_m, 1);
    return p;
}

Test(queue, a_parked_get_many_returns_as_soon_as_one_item_is_there_up_to_max)
{
    mpm_queue *q = queue_new(0, false);
    static const int64_t seven[1] = {7}, first[2] = {0, 1};
    /* one item is enough: not ten, not the 5 s timeout */
    pid_t p = queue_parked_get_many(q, 10, seven, 1);
    int64_t t0 = t_now_ms();
    T_OK(mpm_queue_put(q, MPM_INT(7), -1));
    int st = t_wait_child(p);
    int64_t el = t_now_ms() - t0;
    cr_assert_leq(el, 1000, "get_many(10) returned %lld ms after the put", (long long)el);
    cr_assert_eq(st, 0, "get_many(10) did not return just the one item");
    /* five at once: the parked get_many(2) takes two, the rest stay */
    mpm_val five[5] = {MPM_INT(0), MPM_INT(1), MPM_INT(2), MPM_INT(3), MPM_INT(4)};
    p = queue_parked_get_many(q, 2, first, 2);
    T_OK(mpm_queue_put_many(q, MPM_LIST(five, 5), -1, NULL));
    cr_assert_eq(t_wait_child(p), 0, "get_many(2) did not return the first two items");
    cr_assert_eq(queue_qsize(q), 3);
    for (int i = 2; i < 5; i++)
        cr_assert_eq(queue_get_int(q, 0), i);
    mpm_queue_close(q);
}

/*---- many producers and consumers --------------------------------------------------*/

#define QUEUE_NPROD 4
#define QUEUE_NCONS 4
#define QUEUE_PER_PROD 25000
#define QUEUE_CHUNK 500

static int queue_producer(mpm_queue *q, int id)
{
    mpm_val *chunk = malloc(QUEUE_CHUNK * sizeof *chunk);
    if (!chunk) return 2;
    for (int i = 0; i < QUEUE_PER_PROD; i += QUEUE_CHUNK) {
        for (int k = 0; k < QUEUE_CHUNK; k++)
            chunk[k] = MPM_INT((int64_t)id * 1000000 + i + k);
        if (mpm_queue_put_many(q, MPM_LIST(chunk, QUEUE_CHUNK), -1, NULL)) return 3;
    }
    free(chunk);
    return 0;
}

/* Takes ints until a None (a stop sign): reports [count, sum, sum of squares]
 * on res, after checking each producer's items came in order. */
static int queue_consumer(mpm_queue *q, mpm_queue *res)
{
    int64_t last[QUEUE_NPROD], count = 0, sum = 0, sq = 0;
    for (int i = 0; i < QUEUE_NPROD; i++)
        last[i] = -1;
    for (;;) {
        mpm_val *v = NULL;
        if (mpm_queue_get_many(q, 1000, 20000, &v)) return 2;
        size_t stops = 0;
        for (size_t i = 0; i < v->v.list.len; i++) {
            mpm_val it = v->v.list.items[i];
            if (it.type == MPM_T_NONE) {
                stops++;
                continue;
            }
            if (it.type != MPM_T_INT || stops) return 3; /* nothing comes after the stops */
            int64_t p = it.v.i / 1000000, k = it.v.i % 1000000;
            if (p < 0 || p >= QUEUE_NPROD || k <= last[p]) return 4;
            last[p] = k;
            count++;
            sum += it.v.i;
            sq += it.v.i * it.v.i % 1000000007;
        }
        mpm_val_free(v);
        if (stops) {
            /* the other consumers' stop signs go back */
            for (size_t i = 1; i < stops; i++)
                if (mpm_queue_put(q, MPM_NONE, -1)) return 5;
            break;
        }
    }
    mpm_val r[3] = {MPM_INT(count), MPM_INT(sum), MPM_INT(sq)};
    return mpm_queue_put(res, MPM_LIST(r, 3), -1) ? 6 : 0;
}

Test(queue, four_producers_four_consumers_lose_and_duplicate_nothing)
{
    mpm_queue *q = queue_new(2000, false), *res = queue_new(0, false);
    pid_t prod[QUEUE_NPROD], cons[QUEUE_NCONS];
    for (int i = 0; i < QUEUE_NCONS; i++) {
        cons[i] = fork();
        cr_assert_geq(cons[i], 0);
        if (cons[i] == 0) _exit(queue_consumer(q, res));
    }
    for (int i = 0; i < QUEUE_NPROD; i++) {
        prod[i] = fork();
        cr_assert_geq(prod[i], 0);
        if (prod[i] == 0) _exit(queue_producer(q, i));
    }
    for (int i = 0; i < QUEUE_NPROD; i++)
        cr_assert_eq(t_wait_child(prod[i]), 0, "producer %d", i);
    for (int i = 0; i < QUEUE_NCONS; i++)
        T_OK(mpm_queue_put(q, MPM_NONE, -1));
    for (int i = 0; i < QUEUE_NCONS; i++)
        cr_assert_eq(t_wait_child(cons[i]), 0, "consumer %d", i);
    int64_t count = 0, sum = 0, sq = 0, wsum = 0, wsq = 0;
    for (int i = 0; i < QUEUE_NCONS; i++) {
        mpm_val *v = NULL;
        T_OK(mpm_queue_get(res, 0, &v));
        count += v->v.list.items[0].v.i;
        sum += v->v.list.items[1].v.i;
        sq += v->v.list.items[2].v.i;
        mpm_val_free(v);
    }
    for (int64_t p = 0; p < QUEUE_NPROD; p++)
        for (int64_t k = 0; k < QUEUE_PER_PROD; k++) {
            int64_t x = p * 1000000 + k;
            wsum += x;
            wsq += x * x % 1000000007;
        }
    cr_assert_eq(count, QUEUE_NPROD * QUEUE_PER_PROD);
    cr_assert_eq(sum, wsum);
    cr_assert_eq(sq, wsq);
    cr_assert_eq(queue_qsize(q), 0);
    mpm_queue_close(q);
    mpm_queue_close(res);
}

/*---- JoinableQueue -----------------------------------------------------------------*/

Test(queue, join_wakes_when_the_last_task_is_done)
{
    mpm_queue *q = queue_new(0, true);
    for (int i = 0; i < 3; i++)
        T_OK(mpm_queue_put(q, MPM_INT(i), -1));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(queue_get_int(q, 0), i);
    queue_assert_repr(q, "<JoinableQueue qsize=0 maxsize=0 unfinished=3>");
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) _exit(mpm_queue_join(q, 10000) ? 2 : 0);
    t_wait_parked(queue_m, 1);
    for (int i = 0; i < 2; i++) {
        T_OK(mpm_queue_task_done(q));
        t_sleep_ms(100); /* time enough for a wrongly woken join to return */
        int st = 0;
        cr_assert_eq(waitpid(p, &st, WNOHANG), 0, "join returned after task_done %d of 3", i + 1);
    }
    int64_t t0 = t_now_ms();
    T_OK(mpm_queue_task_done(q));
    int st = t_wait_child(p);
    int64_t el = t_now_ms() - t0;
    cr_assert_leq(el, 1000, "join returned %lld ms after the last task_done", (long long)el);
    cr_assert_eq(st, 0, "join did not return true");
    T_OK(mpm_queue_join(q, 0));
    queue_assert_repr(q, "<JoinableQueue qsize=0 maxsize=0 unfinished=0>");
    t_assert_err(mpm_queue_task_done(q), MPM_EVALUE,
                 "ValueError: task_done() called too many times");
    mpm_queue_close(q);
}

Test(queue, task_done_in_the_same_process)
{
    mpm_queue *q = queue_new(0, true);
    T_OK(mpm_queue_put(q, MPM_INT(1), -1));
    T_OK(mpm_queue_put(q, MPM_INT(2), -1));
    cr_assert_eq(queue_get_int(q, 0), 1);
    T_OK(mpm_queue_task_done(q));
    cr_assert_eq(mpm_queue_join(q, 0), MPM_ETIMEDOUT);
    cr_assert_eq(queue_get_int(q, 0), 2);
    T_OK(mpm_queue_task_done(q));
    T_OK(mpm_queue_join(q, 0));
    t_assert_err(mpm_queue_task_done(q), MPM_EVALUE,
                 "ValueError: task_done() called too many times");
    mpm_queue_close(q);
}

Test(queue, sigkill_of_a_worker_gives_its_items_to_another)
{
    mpm_queue *q = queue_new(0, true);
    for (int i = 0; i < 5; i++)
        T_OK(mpm_queue_put(q, MPM_INT(i), -1));
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t a = fork();
    cr_assert_geq(a, 0);
    if (a == 0) {
        mpm_val *v = NULL;
        char c = 'x';
        if (mpm_queue_get_many(q, 3, 0, &v) || v->v.list.len != 3) _exit(2);
        mpm_val_free(v);
        /* one of the three done: the other two must come back */
        if (mpm_queue_task_done(q)) _exit(3);
        if (write(go[1], &c, 1) != 1) _exit(4);
        pause();
        _exit(5);
    }
    char c;
    cr_assert_eq(read(go[0], &c, 1), 1);
    cr_assert_eq(queue_qsize(q), 2);
    cr_assert_eq(kill(a, SIGKILL), 0);
    cr_assert_eq(t_wait_child(a), 128 + SIGKILL);
    /* the server puts them back when it reads the dead client's EOF */
    int64_t end = t_now_ms() + 5000;
    while (queue_qsize(q) != 4 && t_now_ms() < end)
        t_sleep_ms(5);
    cr_assert_eq(queue_qsize(q), 4);
    pid_t b = fork();
    cr_assert_geq(b, 0);
    if (b == 0) {
        /* the killed worker's un-done items first, in their order */
        static const int want[4] = {1, 2, 3, 4};
        for (int i = 0; i < 4; i++) {
            if (queue_child_get_int(q, 5000) != want[i]) _exit(2);
            if (mpm_queue_task_done(q)) _exit(3);
        }
        _exit(0);
    }
    T_OK(mpm_queue_join(q, 10000));
    cr_assert_eq(t_wait_child(b), 0);
    close(go[0]);
    close(go[1]);
    mpm_queue_close(q);
}

/* A child takes n items (get_many) and waits to be killed; returns its pid
 * once it has them. */
static pid_t queue_holder(mpm_queue *q, size_t n)
{
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t a = fork();
    cr_assert_geq(a, 0);
    if (a == 0) {
        mpm_val *v = NULL;
        char c = 'x';
        if (mpm_queue_get_many(q, n, 0, &v) || v->v.list.len != n) _exit(2);
        mpm_val_free(v);
        if (write(go[1], &c, 1) != 1) _exit(4);
        pause();
        _exit(5);
    }
    char c;
    cr_assert_eq(read(go[0], &c, 1), 1);
    close(go[0]);
    close(go[1]);
    return a;
}

Test(queue, a_killed_workers_items_go_straight_to_a_parked_getter)
{
    mpm_queue *q = queue_new(0, true);
    mpm_val two[2] = {MPM_STR("a"), MPM_STR("b")};
    T_OK(mpm_queue_put_many(q, MPM_LIST(two, 2), -1, NULL));
    pid_t a = queue_holder(q, 2);
    pid_t b = fork();
    cr_assert_geq(b, 0);
    if (b == 0) {
        mpm_val *v = NULL;
        if (mpm_queue_get_many(q, 10, 10000, &v)) _exit(2);
        int ok = v->v.list.len == 2 && mpm_val_eq(v->v.list.items[0], two[0]) &&
                 mpm_val_eq(v->v.list.items[1], two[1]);
        mpm_val_free(v);
        if (!ok) _exit(3);
        _exit(mpm_queue_task_done(q) || mpm_queue_task_done(q) ? 4 : 0);
    }
    t_sleep_ms(200); /* b parks on the empty queue */
    cr_assert_eq(kill(a, SIGKILL), 0);
    cr_assert_eq(t_wait_child(a), 128 + SIGKILL);
    T_OK(mpm_queue_join(q, 10000));
    cr_assert_eq(t_wait_child(b), 0);
    cr_assert_eq(queue_qsize(q), 0);
    mpm_queue_close(q);
}

Test(queue, task_done_by_another_process_settles_the_item)
{
    mpm_queue *q = queue_new(0, true);
    T_OK(mpm_queue_put(q, MPM_INT(1), -1));
    pid_t a = queue_holder(q, 1);
    /* Python lets anyone mark it done: then it is not handed out again */
    T_OK(mpm_queue_task_done(q));
    T_OK(mpm_queue_join(q, 0));
    cr_assert_eq(kill(a, SIGKILL), 0);
    cr_assert_eq(t_wait_child(a), 128 + SIGKILL);
    t_sleep_ms(200);
    cr_assert_eq(queue_qsize(q), 0);
    T_OK(mpm_queue_join(q, 0));
    mpm_queue_close(q);
}

Test(queue, a_worker_exiting_without_task_done_gives_its_items_back)
{
    mpm_queue *q = queue_new(0, true);
    T_OK(mpm_queue_put(q, MPM_STR("job"), -1));
    pid_t a = fork();
    cr_assert_geq(a, 0);
    if (a == 0) {
        mpm_val *v = NULL;
        _exit(mpm_queue_get(q, 0, &v) ? 1 : 0);
    }
    cr_assert_eq(t_wait_child(a), 0);
    int64_t end = t_now_ms() + 5000;
    while (queue_qsize(q) != 1 && t_now_ms() < end)
        t_sleep_ms(5);
    mpm_val *v = NULL;
    T_OK(mpm_queue_get(q, 0, &v));
    cr_assert_str_eq(v->v.str.ptr, "job");
    mpm_val_free(v);
    T_OK(mpm_queue_task_done(q));
    T_OK(mpm_queue_join(q, 0));
    mpm_queue_close(q);
}

Test(queue, a_plain_queue_does_not_give_items_back)
{
    mpm_queue *q = queue_new(0, false);
    T_OK(mpm_queue_put(q, MPM_INT(1), -1));
    pid_t a = fork();
    cr_assert_geq(a, 0);
    if (a == 0) {
        mpm_val *v = NULL;
        _exit(mpm_queue_get(q, 0, &v) ? 1 : 0);
    }
    cr_assert_eq(t_wait_child(a), 0);
    t_sleep_ms(100);
    cr_assert_eq(queue_qsize(q), 0, "at-most-once, as Python");
    mpm_queue_close(q);
}

/*---- blocked calls of a dying client -----------------------------------------------*/

/* The child parks a call on q after making an object of its own, whose going
 * tells the parent the server has seen the child's end. */
static void queue_kill_parked(mpm_queue *q, int put)
{
    size_t before = queue_objects();
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        mpm_event *e = NULL;
        mpm_val *v = NULL;
        char c = 'x';
        if (mpm_event_new(queue_m, &e) || write(go[1], &c, 1) != 1) _exit(2);
        if (put)
            mpm_queue_put(q, MPM_INT(666), -1);
        else
            mpm_queue_get(q, -1, &v);
        _exit(3);
    }
    char c;
    cr_assert_eq(read(go[0], &c, 1), 1);
    t_sleep_ms(200); /* let its call park */
    cr_assert_eq(kill(p, SIGKILL), 0);
    cr_assert_eq(t_wait_child(p), 128 + SIGKILL);
    cr_assert_eq(queue_objects_settle(before), before);
    close(go[0]);
    close(go[1]);
}

Test(queue, a_parked_get_of_a_killed_client_takes_nothing)
{
    mpm_queue *q = queue_new(0, true);
    queue_kill_parked(q, 0);
    T_OK(mpm_queue_put(q, MPM_INT(5), -1));
    cr_assert_eq(queue_qsize(q), 1);
    cr_assert_eq(queue_get_int(q, 0), 5);
    mpm_queue *p = queue_new(0, false);
    queue_kill_parked(p, 0);
    T_OK(mpm_queue_put(p, MPM_INT(6), -1));
    cr_assert_eq(queue_qsize(p), 1);
    mpm_queue_close(q);
    mpm_queue_close(p);
}

Test(queue, a_parked_put_of_a_killed_client_never_enters)
{
    mpm_queue *q = queue_new(1, true);
    T_OK(mpm_queue_put(q, MPM_INT(1), -1));
    queue_kill_parked(q, 1);
    cr_assert_eq(queue_get_int(q, 0), 1);
    mpm_val *v = NULL;
    t_assert_err(mpm_queue_get(q, 100, &v), MPM_EEMPTY, "Empty");
    T_OK(mpm_queue_task_done(q));
    T_OK(mpm_queue_join(q, 0));
    mpm_queue_close(q);
}

Test(queue, closing_the_last_handle_frees_the_queue_and_its_items)
{
    size_t before = queue_objects();
    mpm_queue *q = queue_new(0, true);
    T_OK(mpm_queue_put(q, MPM_STR("left behind"), -1));
    T_OK(mpm_queue_put(q, MPM_STR("taken"), -1));
    mpm_val *v = NULL;
    T_OK(mpm_queue_get(q, 0, &v));
    mpm_val_free(v);
    mpm_queue_close(q);
    cr_assert_eq(queue_objects_settle(before), before);
}
