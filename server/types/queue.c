/* queue.c - Python's Queue and JoinableQueue.
 *
 * Items are mpmi_blobs (their msgpack bytes) in a ring.  Blocked gets and
 * puts wait in two FIFO lists; queue_pump moves items to the oldest getters
 * and admits the oldest putters as room frees, so nobody barges.  Invariants
 * after every method: getters wait only while the queue is empty, putters only
 * while it is full.
 *
 * Beyond Python: a JoinableQueue remembers, per session, the items it handed
 * out that are not yet task_done (each one mpmi_hold'ed); when the session
 * ends they go back to the head of the queue, still unfinished.  A plain Queue
 * tracks nothing (at-most-once, as Python).
 *
 * Q_PUT_MANY answers the count it put, also on timeout or with timeout 0, so
 * the caller learns how many went in (the proxy turns count < len into Full).
 */
#include <stdlib.h>
#include <string.h>

#include "../server.h"

/* Longer than any real wait: treated as no deadline (and no overflow of now + t). */
#define QUEUE_FOREVER_MS (INT64_MAX / 4)

/* One stored item; seq orders deliveries (for task_done across sessions). */
typedef struct queue_ent {
    mpmi_blob *b;
    uint64_t seq;
} queue_ent;

/* A deque of entries: a power-of-two ring. */
typedef struct queue_ring {
    queue_ent *e;
    size_t head, len, cap;
} queue_ring;

typedef struct queue_obj {
    mpmi_obj base;
    int64_t maxsize; /* <= 0: unbounded */
    int joinable;
    queue_ring items;
    mpmi_waitq getters; /* w->arg: 0 for Q_GET, else Q_GET_MANY's max */
    mpmi_waitq putters; /* w->data: queue_pend; w->arg: 1 for Q_PUT */
    mpmi_waitq joiners;
    int64_t unfinished; /* JoinableQueue: items put and not yet task_done */
    uint64_t seq;       /* deliveries so far */
    mpmi_map out;       /* session id -> queue_ring * of its un-done items */
} queue_obj;

/* The items a parked put still has to put. */
typedef struct queue_pend {
    mpmi_blob **b;
    uint32_t n, next;
} queue_pend;

/*---- the ring ----------------------------------------------------------------*/

static queue_ent *queue_ring_at(queue_ring *r, size_t i)
{
    return &r->e[(r->head + i) & (r->cap - 1)];
}

/* Room for need entries: 0, or -1 with the ring untouched. */
static int queue_ring_reserve(queue_ring *r, size_t need)
{
    if (need <= r->cap) return 0;
    size_t cap = r->cap ? r->cap : 16;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof *r->e) return -1;
        cap *= 2;
    }
    queue_ent *e = malloc(cap * sizeof *e);
    if (!e) return -1;
    for (size_t i = 0; i < r->len; i++)
        e[i] = *queue_ring_at(r, i);
    free(r->e);
    r->e = e;
    r->head = 0;
    r->cap = cap;
    return 0;
}

/* Give memory back after a burst; failing to is harmless. */
static void queue_ring_shrink(queue_ring *r)
{
    if (r->cap <= 64 || r->len >= r->cap / 4) return;
    size_t cap = r->cap / 2;
    queue_ent *e = malloc(cap * sizeof *e);
    if (!e) return;
    for (size_t i = 0; i < r->len; i++)
        e[i] = *queue_ring_at(r, i);
    free(r->e);
    r->e = e;
    r->head = 0;
    r->cap = cap;
}

/* Room must be reserved. */
static void queue_ring_push(queue_ring *r, queue_ent x)
{
    *queue_ring_at(r, r->len++) = x;
}

static void queue_ring_push_front(queue_ring *r, queue_ent x)
{
    r->head = (r->head - 1) & (r->cap - 1);
    r->len++;
    r->e[r->head] = x;
}

static queue_ent queue_ring_pop(queue_ring *r)
{
    queue_ent x = r->e[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    return x;
}

static void queue_ring_free(queue_ring *r)
{
    for (size_t i = 0; i < r->len; i++)
        free(queue_ring_at(r, i)->b);
    free(r->e);
    memset(r, 0, sizeof *r);
}

/*---- state -------------------------------------------------------------------*/

static int queue_full(const queue_obj *q)
{
    return q->maxsize > 0 && q->items.len >= (uint64_t)q->maxsize;
}

static void queue_pend_free(queue_pend *p)
{
    if (!p) return;
    for (uint32_t i = p->next; i < p->n; i++)
        free(p->b[i]);
    free(p->b);
    free(p);
}

/* Put b (taken) at the tail; room in the ring must be reserved.  The put
 * counts as unfinished work from now on, as in Python. */
static void queue_enter(queue_obj *q, mpmi_blob *b)
{
    queue_ring_push(&q->items, (queue_ent){b, 0});
    q->unfinished++;
}

/* The head item for session, packed raw into pk.  A JoinableQueue keeps it in
 * the session's un-done list; a plain Queue frees it. */
static void queue_deliver(queue_obj *q, uint64_t session, msgpack_packer *pk)
{
    queue_ent x = queue_ring_pop(&q->items);
    mpmi_pk_raw(pk, x.b->p, x.b->n);
    if (q->joinable) {
        mpmi_map_slot *sl = mpmi_map_put(&q->out, session, NULL);
        queue_ring *r = sl ? sl->v.ptr : NULL;
        if (sl && !r && (r = calloc(1, sizeof *r))) sl->v.ptr = r;
        if (sl && !r) mpmi_map_del(&q->out, session);
        /* no memory: delivered untracked (at-most-once) rather than not at all */
        if (r && !queue_ring_reserve(r, r->len + 1) && !mpmi_hold(q->base.srv, session, &q->base)) {
            x.seq = ++q->seq;
            queue_ring_push(r, x);
            return;
        }
        if (r && r->len == 0) {
            queue_ring_free(r);
            free(r);
            mpmi_map_del(&q->out, session);
        }
    }
    free(x.b);
}

/* Answer a parked getter from the queue (not empty). */
static void queue_answer_getter(queue_obj *q, mpmi_waiter *w)
{
    msgpack_packer *pk = mpmi_answer_pk(w);
    if (w->arg == 0) {
        queue_deliver(q, w->session, pk);
    } else {
        size_t k = q->items.len < (uint64_t)w->arg ? q->items.len : (size_t)w->arg;
        msgpack_pack_array(pk, (uint32_t)k);
        while (k--)
            queue_deliver(q, w->session, pk);
    }
    mpmi_answer_done(w);
}

/* Admit what the oldest putter can put; answer it when all its items are in. */
static void queue_admit(queue_obj *q, mpmi_waiter *w)
{
    queue_pend *p = w->data;
    while (p->next < p->n && !queue_full(q)) {
        if (queue_ring_reserve(&q->items, q->items.len + 1)) break;
        queue_enter(q, p->b[p->next++]);
    }
    if (p->next < p->n) return;
    mpmi_waitq_unlink(&q->putters, w);
    msgpack_packer *pk = mpmi_answer_pk(w);
    if (w->arg)
        msgpack_pack_nil(pk);
    else
        msgpack_pack_uint32(pk, p->n);
    mpmi_answer_done(w);
    queue_pend_free(p);
}

/* Move items to the oldest getters and admit the oldest putters until neither
 * can go on: restores the invariants after any change. */
static void queue_pump(queue_obj *q)
{
    for (;;) {
        int moved = 0;
        while (q->items.len && q->getters.head) {
            mpmi_waiter *w = q->getters.head;
            mpmi_waitq_unlink(&q->getters, w);
            queue_answer_getter(q, w);
            moved = 1;
        }
        while (q->putters.head && !queue_full(q)) {
            size_t before = q->items.len;
            mpmi_waiter *w = q->putters.head;
            queue_admit(q, w);
            if (q->items.len == before && q->putters.head == w) break; /* no memory */
            moved = 1;
        }
        if (!moved) break;
    }
    queue_ring_shrink(&q->items);
}

/* Every parked joiner learns the work is done. */
static void queue_wake_joiners(queue_obj *q)
{
    while (q->joiners.head) {
        mpmi_waiter *w = q->joiners.head;
        mpmi_waitq_unlink(&q->joiners, w);
        msgpack_pack_true(mpmi_answer_pk(w));
        mpmi_answer_done(w);
    }
}

/*---- waiters -----------------------------------------------------------------*/

static void queue_get_on_timeout(mpmi_waiter *w)
{
    mpmi_waitq_unlink(&((queue_obj *)w->obj)->getters, w);
    mpmi_answer_err(w, MPM_EEMPTY, "Empty");
}

/* A dead client's get never took anything: just forget it. */
static void queue_get_on_drop(mpmi_waiter *w)
{
    mpmi_waitq_unlink(&((queue_obj *)w->obj)->getters, w);
}

static void queue_put_on_timeout(mpmi_waiter *w)
{
    queue_obj *q = (queue_obj *)w->obj;
    queue_pend *p = w->data;
    mpmi_waitq_unlink(&q->putters, w);
    if (w->arg) {
        mpmi_answer_err(w, MPM_EFULL, "Full");
    } else {
        msgpack_pack_uint32(mpmi_answer_pk(w), p->next);
        mpmi_answer_done(w);
    }
    queue_pend_free(p);
}

/* A dead client's put never enters (what a put_many already put stays). */
static void queue_put_on_drop(mpmi_waiter *w)
{
    mpmi_waitq_unlink(&((queue_obj *)w->obj)->putters, w);
    queue_pend_free(w->data);
}

static void queue_join_on_timeout(mpmi_waiter *w)
{
    mpmi_waitq_unlink(&((queue_obj *)w->obj)->joiners, w);
    msgpack_pack_false(mpmi_answer_pk(w));
    mpmi_answer_done(w);
}

static void queue_join_on_drop(mpmi_waiter *w)
{
    mpmi_waitq_unlink(&((queue_obj *)w->obj)->joiners, w);
}

/*---- methods -----------------------------------------------------------------*/

static int queue_nomem(mpmi_call *c)
{
    return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
}

/* The timeout argument i: -1 (forever) or >= 0. */
static int queue_arg_timeout(mpmi_call *c, int i, int64_t *t)
{
    int rc = mpmi_arg_int_opt(c, i, -1, t);
    if (rc) return rc;
    if (*t < -1) return mpmi_fail(c, MPM_EVALUE, "ValueError: timeout must be -1 (none) or >= 0");
    if (*t > QUEUE_FOREVER_MS) *t = -1;
    return 0;
}

/* Put p's items: as many as fit now, parking for the rest unless timeout is 0.
 * single: Q_PUT (answers nil or Full) rather than Q_PUT_MANY (the count). */
static int queue_put_common(queue_obj *q, mpmi_call *c, queue_pend *p, int64_t timeout, int single)
{
    if (!q->putters.head) {
        while (p->next < p->n && !queue_full(q)) {
            if (queue_ring_reserve(&q->items, q->items.len + 1)) {
                queue_pend_free(p);
                return queue_nomem(c);
            }
            queue_enter(q, p->b[p->next++]);
        }
        queue_pump(q);
    }
    if (p->next == p->n || timeout == 0) {
        uint32_t put = p->next;
        queue_pend_free(p);
        if (single) {
            if (put == 0) return mpmi_fail(c, MPM_EFULL, "Full");
            return mpmi_ok(msgpack_pack_nil(c->pk));
        }
        return mpmi_ok(msgpack_pack_uint32(c->pk, put));
    }
    mpmi_waiter *w = mpmi_park(c, timeout, queue_put_on_timeout, queue_put_on_drop);
    if (!w) {
        queue_pend_free(p);
        return queue_nomem(c);
    }
    w->obj = &q->base;
    w->data = p;
    w->arg = single;
    mpmi_waitq_append(&q->putters, w);
    return MPMI_PARKED;
}

/* [item, timeout_ms] */
static int queue_put(mpmi_obj *o, mpmi_call *c)
{
    int64_t timeout;
    int rc = queue_arg_timeout(c, 1, &timeout);
    if (rc) return rc;
    queue_pend *p = calloc(1, sizeof *p);
    if (p) p->b = malloc(sizeof *p->b);
    if (!p || !p->b || !(p->b[0] = mpmi_blob_new(c->argv[0].p, c->argv[0].n))) {
        if (p) free(p->b);
        free(p);
        return queue_nomem(c);
    }
    p->n = 1;
    return queue_put_common((queue_obj *)o, c, p, timeout, 1);
}

/* [items, timeout_ms] -> count put */
static int queue_put_many(mpmi_obj *o, mpmi_call *c)
{
    int64_t timeout;
    uint32_t n;
    mpmi_rd r;
    int rc = mpmi_arg_array(c, 0, &n, &r);
    if (rc || (rc = queue_arg_timeout(c, 1, &timeout))) return rc;
    queue_pend *p = calloc(1, sizeof *p);
    if (!p || (n && !(p->b = malloc((size_t)n * sizeof *p->b)))) {
        free(p);
        return queue_nomem(c);
    }
    for (; p->n < n; p->n++) {
        const unsigned char *v;
        size_t len;
        /* the request body was checked whole, so this only fails on no memory */
        if (mpmi_rd_value(&r, &v, &len) || !(p->b[p->n] = mpmi_blob_new(v, len))) {
            queue_pend_free(p);
            return queue_nomem(c);
        }
    }
    return queue_put_common((queue_obj *)o, c, p, timeout, 0);
}

/* Q_GET (max 0: the bare item) and Q_GET_MANY (max >= 1: an array). */
static int queue_get_common(queue_obj *q, mpmi_call *c, int64_t max, int64_t timeout)
{
    if (q->items.len) {
        if (max == 0) {
            queue_deliver(q, mpmi_call_session(c), c->pk);
        } else {
            size_t k = q->items.len < (uint64_t)max ? q->items.len : (size_t)max;
            msgpack_pack_array(c->pk, (uint32_t)k);
            while (k--)
                queue_deliver(q, mpmi_call_session(c), c->pk);
        }
        queue_pump(q);
        return 0;
    }
    if (timeout == 0) return mpmi_fail(c, MPM_EEMPTY, "Empty");
    mpmi_waiter *w = mpmi_park(c, timeout, queue_get_on_timeout, queue_get_on_drop);
    if (!w) return queue_nomem(c);
    w->obj = &q->base;
    w->arg = max;
    mpmi_waitq_append(&q->getters, w);
    return MPMI_PARKED;
}

/* [timeout_ms] */
static int queue_get(mpmi_obj *o, mpmi_call *c)
{
    int64_t timeout;
    int rc = queue_arg_timeout(c, 0, &timeout);
    return rc ? rc : queue_get_common((queue_obj *)o, c, 0, timeout);
}

/* [max, timeout_ms] -> [items] */
static int queue_get_many(mpmi_obj *o, mpmi_call *c)
{
    int64_t max, timeout;
    int rc = mpmi_arg_int(c, 0, &max);
    if (rc || (rc = queue_arg_timeout(c, 1, &timeout))) return rc;
    if (max < 1) return mpmi_fail(c, MPM_EVALUE, "ValueError: max must be one or more");
    /* one answer carries at most UINT32_MAX items: more is still "up to max" */
    if (max > UINT32_MAX) max = UINT32_MAX;
    return queue_get_common((queue_obj *)o, c, max, timeout);
}

static int queue_qsize(mpmi_obj *o, mpmi_call *c)
{
    return mpmi_ok(msgpack_pack_uint64(c->pk, ((queue_obj *)o)->items.len));
}

static int queue_empty(mpmi_obj *o, mpmi_call *c)
{
    if (((queue_obj *)o)->items.len == 0) return mpmi_ok(msgpack_pack_true(c->pk));
    return mpmi_ok(msgpack_pack_false(c->pk));
}

static int queue_full_m(mpmi_obj *o, mpmi_call *c)
{
    if (queue_full((queue_obj *)o)) return mpmi_ok(msgpack_pack_true(c->pk));
    return mpmi_ok(msgpack_pack_false(c->pk));
}

static int queue_maxsize(mpmi_obj *o, mpmi_call *c)
{
    return mpmi_ok(msgpack_pack_int64(c->pk, ((queue_obj *)o)->maxsize));
}

/* Forget session's oldest un-done item. */
static void queue_done_one(queue_obj *q, uint64_t session, queue_ring *r)
{
    queue_ent x = queue_ring_pop(r);
    free(x.b);
    mpmi_unhold(q->base.srv, session, &q->base);
    if (r->len == 0) {
        free(r->e);
        free(r);
        mpmi_map_del(&q->out, session);
    } else {
        queue_ring_shrink(r);
    }
}

/* [n=1]: marks the caller's oldest delivered items done.  A process that holds
 * none may mark another's (Python lets anyone call task_done): then the item
 * delivered first, whoever holds it, so it is not handed out again. */
static int queue_task_done(mpmi_obj *o, mpmi_call *c)
{
    queue_obj *q = (queue_obj *)o;
    int64_t n;
    int rc = mpmi_arg_int_opt(c, 0, 1, &n);
    if (rc) return rc;
    if (n < 1) return mpmi_fail(c, MPM_EVALUE, "ValueError: n must be one or more");
    if (n > q->unfinished)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: task_done() called too many times");
    uint64_t me = mpmi_call_session(c);
    for (int64_t i = 0; i < n; i++) {
        q->unfinished--;
        mpmi_map_slot *sl = mpmi_map_find(&q->out, me);
        if (!sl) {
            /* the oldest delivery among the other sessions' heads */
            MPMI_MAP_EACH(&q->out, s)
            {
                queue_ring *r = s->v.ptr;
                if (!sl || queue_ring_at(r, 0)->seq < queue_ring_at(sl->v.ptr, 0)->seq) sl = s;
            }
        }
        /* none: a task_done ahead of the get, as Python allows */
        if (sl) queue_done_one(q, sl->key, sl->v.ptr);
    }
    if (q->unfinished == 0) queue_wake_joiners(q);
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

/* [timeout_ms] -> true when all work is done, false on timeout */
static int queue_join(mpmi_obj *o, mpmi_call *c)
{
    queue_obj *q = (queue_obj *)o;
    int64_t timeout;
    int rc = queue_arg_timeout(c, 0, &timeout);
    if (rc) return rc;
    if (q->unfinished == 0) return mpmi_ok(msgpack_pack_true(c->pk));
    if (timeout == 0) return mpmi_ok(msgpack_pack_false(c->pk));
    mpmi_waiter *w = mpmi_park(c, timeout, queue_join_on_timeout, queue_join_on_drop);
    if (!w) return queue_nomem(c);
    w->obj = o;
    mpmi_waitq_append(&q->joiners, w);
    return MPMI_PARKED;
}

/*---- type --------------------------------------------------------------------*/

/* The session's un-done items go back to the head, in their order, still
 * unfinished: the next worker gets them first. */
static void queue_session_gone(mpmi_obj *o, uint64_t session)
{
    queue_obj *q = (queue_obj *)o;
    mpmi_map_slot *sl = mpmi_map_find(&q->out, session);
    if (!sl) return;
    queue_ring *r = sl->v.ptr;
    mpmi_map_del(&q->out, session);
    if (queue_ring_reserve(&q->items, q->items.len + r->len)) {
        /* no memory to put them back: the work is lost, but join must not hang */
        q->unfinished -= (int64_t)r->len;
        if (q->unfinished <= 0) {
            q->unfinished = 0;
            queue_wake_joiners(q);
        }
        queue_ring_free(r);
        free(r);
        return;
    }
    while (r->len) {
        queue_ent x = *queue_ring_at(r, r->len - 1);
        r->len--;
        x.seq = 0;
        queue_ring_push_front(&q->items, x);
    }
    queue_ring_free(r);
    free(r);
    queue_pump(q);
}

/* argv: [type, maxsize=0] */
static int queue_create_common(mpmi_call *c, mpmi_obj **out, int joinable)
{
    int64_t maxsize;
    if (c->argc > 2)
        return mpmi_fail(c, MPM_EARGS, "TypeError: %s() takes at most 1 argument (%d given)",
                         joinable ? "JoinableQueue" : "Queue", c->argc - 1);
    int rc = mpmi_arg_int_opt(c, 1, 0, &maxsize);
    if (rc) return rc;
    queue_obj *q = calloc(1, sizeof *q);
    if (!q) return queue_nomem(c);
    q->maxsize = maxsize > 0 ? maxsize : 0;
    q->joinable = joinable;
    *out = &q->base;
    return 0;
}

static int queue_create(mpmi_call *c, mpmi_obj **out)
{
    return queue_create_common(c, out, 0);
}

static int queue_create_joinable(mpmi_call *c, mpmi_obj **out)
{
    return queue_create_common(c, out, 1);
}

static void queue_answer_gone(mpmi_obj *o, mpmi_waitq *wq)
{
    while (wq->head) {
        mpmi_waiter *w = wq->head;
        mpmi_waitq_unlink(wq, w);
        if (wq == &((queue_obj *)o)->putters) queue_pend_free(w->data);
        mpmi_answer_err(w, MPM_ENOOBJ, "the %s was deleted while waiting", o->type->name);
    }
}

static void queue_destroy(mpmi_obj *o)
{
    queue_obj *q = (queue_obj *)o;
    queue_answer_gone(o, &q->getters);
    queue_answer_gone(o, &q->putters);
    queue_answer_gone(o, &q->joiners);
    MPMI_MAP_EACH(&q->out, sl)
    {
        queue_ring *r = sl->v.ptr;
        /* the living holders' sessions need not hear of it when they end */
        for (size_t k = r->len; k; k--)
            mpmi_unhold(o->srv, sl->key, o);
        queue_ring_free(r);
        free(r);
    }
    mpmi_map_free(&q->out);
    queue_ring_free(&q->items);
    free(q);
}

/* Queued items, items handed out and not done, and items of parked puts. */
static void queue_each_value(mpmi_obj *o, void (*fn)(void *, const unsigned char *, size_t),
                             void *ctx)
{
    queue_obj *q = (queue_obj *)o;
    for (size_t i = 0; i < q->items.len; i++) {
        const mpmi_blob *b = queue_ring_at(&q->items, i)->b;
        fn(ctx, b->p, b->n);
    }
    MPMI_MAP_EACH(&q->out, sl)
    {
        queue_ring *r = sl->v.ptr;
        for (size_t i = 0; i < r->len; i++) {
            const mpmi_blob *b = queue_ring_at(r, i)->b;
            if (b) fn(ctx, b->p, b->n);
        }
    }
    for (mpmi_waiter *w = q->putters.head; w; w = w->next) {
        const queue_pend *p = w->data;
        for (uint32_t i = p->next; i < p->n; i++) fn(ctx, p->b[i]->p, p->b[i]->n);
    }
}

static int queue_repr(mpmi_obj *o, mpmi_buf *out)
{
    queue_obj *q = (queue_obj *)o;
    mpmi_buf_printf(out, "<%s qsize=%zu maxsize=%lld", o->type->name, q->items.len,
                    (long long)q->maxsize);
    if (q->joinable) mpmi_buf_printf(out, " unfinished=%lld", (long long)q->unfinished);
    mpmi_buf_putc(out, '>');
    return out->oom ? MPM_ENOMEM : 0;
}

static int queue_copy(mpmi_obj *o, msgpack_packer *pk)
{
    queue_obj *q = (queue_obj *)o;
    msgpack_pack_array(pk, (uint32_t)q->items.len);
    for (size_t i = 0; i < q->items.len; i++) {
        const mpmi_blob *b = queue_ring_at(&q->items, i)->b;
        mpmi_pk_raw(pk, b->p, b->n);
    }
    return 0;
}

static const mpmi_method queue_methods[] = {
    {MPMI_OP_Q_PUT, queue_put, 1, 2, MPMI_MUTATES},
    {MPMI_OP_Q_GET, queue_get, 0, 1, MPMI_MUTATES},
    {MPMI_OP_Q_PUT_MANY, queue_put_many, 1, 2, MPMI_MUTATES},
    {MPMI_OP_Q_GET_MANY, queue_get_many, 1, 2, MPMI_MUTATES},
    {MPMI_OP_Q_QSIZE, queue_qsize, 0, 0, 0},
    {MPMI_OP_Q_EMPTY, queue_empty, 0, 0, 0},
    {MPMI_OP_Q_FULL, queue_full_m, 0, 0, 0},
    {MPMI_OP_Q_MAXSIZE, queue_maxsize, 0, 0, 0},
    {0},
};

/* a plain Queue has no task_done or join: ENOMETHOD, as Python's AttributeError */
static const mpmi_method queue_joinable_methods[] = {
    {MPMI_OP_Q_PUT, queue_put, 1, 2, MPMI_MUTATES},
    {MPMI_OP_Q_GET, queue_get, 0, 1, MPMI_MUTATES},
    {MPMI_OP_Q_PUT_MANY, queue_put_many, 1, 2, MPMI_MUTATES},
    {MPMI_OP_Q_GET_MANY, queue_get_many, 1, 2, MPMI_MUTATES},
    {MPMI_OP_Q_QSIZE, queue_qsize, 0, 0, 0},
    {MPMI_OP_Q_EMPTY, queue_empty, 0, 0, 0},
    {MPMI_OP_Q_FULL, queue_full_m, 0, 0, 0},
    {MPMI_OP_Q_MAXSIZE, queue_maxsize, 0, 0, 0},
    {MPMI_OP_Q_TASK_DONE, queue_task_done, 0, 1, MPMI_MUTATES},
    {MPMI_OP_Q_JOIN, queue_join, 0, 1, 0},
    {0},
};

const mpmi_type mpmi_type_queue = {
    .code = MPM_OBJ_QUEUE,
    .name = "Queue",
    .create = queue_create,
    .destroy = queue_destroy,
    .repr = queue_repr,
    .copy = queue_copy,
    .each_value = queue_each_value,
    .methods = queue_methods,
};

const mpmi_type mpmi_type_joinable_queue = {
    .code = MPM_OBJ_JOINABLE_QUEUE,
    .name = "JoinableQueue",
    .create = queue_create_joinable,
    .destroy = queue_destroy,
    .repr = queue_repr,
    .copy = queue_copy,
    .session_gone = queue_session_gone,
    .each_value = queue_each_value,
    .methods = queue_joinable_methods,
};
