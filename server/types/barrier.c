/* barrier.c - Python's threading.Barrier.
 *
 * Each arrival gets the number of parties already waiting as its index (the
 * first 0, the last parties-1, as Python's wait returns); the last arrival
 * answers everyone and the barrier is at once ready for the next round: the
 * server answers all waiters in one step, so Python's draining and resetting
 * states have nothing to do here.  A timeout, an abort or a reset answers
 * every waiter with BrokenBarrierError.
 *
 * Beyond Python: a waiter whose client dies breaks the barrier too, so the
 * others learn of it instead of waiting for a party that will never come. */
#include <stdlib.h>

#include "../server.h"

/* Longer than any real wait: treated as no deadline (and no overflow of now + t). */
#define BARRIER_FOREVER_MS (INT64_MAX / 4)

typedef struct mpmi_barrier {
    mpmi_obj base;
    int64_t parties;
    int64_t timeout; /* default for waits: -1 none */
    int broken;
    int64_t count; /* parties waiting now */
    mpmi_waitq q;  /* waiters in arrival order; w->arg is the index */
} mpmi_barrier;

static void barrier_unlink(mpmi_barrier *b, mpmi_waiter *w)
{
    mpmi_waitq_unlink(&b->q, w);
    b->count--;
}

static void barrier_append(mpmi_barrier *b, mpmi_waiter *w)
{
    mpmi_waitq_append(&b->q, w);
    b->count++;
}

/* Answer every waiter with BrokenBarrierError (abort, reset, timeout, death). */
static void barrier_fail_all(mpmi_barrier *b)
{
    while (b->q.head) {
        mpmi_waiter *w = b->q.head;
        barrier_unlink(b, w);
        mpmi_answer_err(w, MPM_EBROKEN, "BrokenBarrierError");
    }
}

static void barrier_break(mpmi_barrier *b)
{
    b->broken = 1;
    barrier_fail_all(b);
}

static void barrier_on_timeout(mpmi_waiter *w)
{
    mpmi_barrier *b = (mpmi_barrier *)w->obj;
    barrier_unlink(b, w);
    mpmi_answer_err(w, MPM_EBROKEN, "BrokenBarrierError");
    barrier_break(b);
}

/* The waiter's client is gone: w must only be unlinked (the loop frees it),
 * but the others must not wait for a party that will never come. */
static void barrier_on_drop(mpmi_waiter *w)
{
    mpmi_barrier *b = (mpmi_barrier *)w->obj;
    barrier_unlink(b, w);
    barrier_break(b);
}

/*---- methods -----------------------------------------------------------------*/

/* [timeout_ms|nil]: nil (or none given) is the barrier's default. */
static int barrier_wait(mpmi_obj *o, mpmi_call *c)
{
    mpmi_barrier *b = (mpmi_barrier *)o;
    int64_t timeout;
    int rc = mpmi_arg_int_opt(c, 0, b->timeout, &timeout);
    if (rc) return rc;
    if (timeout < -1)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: timeout must be -1 (none) or >= 0");
    if (b->broken) return mpmi_fail(c, MPM_EBROKEN, "BrokenBarrierError");
    int64_t index = b->count;
    if (index + 1 >= b->parties) {
        /* the last party: everyone goes, and the barrier is fresh for the next round */
        while (b->q.head) {
            mpmi_waiter *w = b->q.head;
            barrier_unlink(b, w);
            msgpack_pack_int64(mpmi_answer_pk(w), w->arg);
            mpmi_answer_done(w);
        }
        return mpmi_ok(msgpack_pack_int64(c->pk, index));
    }
    if (timeout == 0) {
        /* Python's wait_for with no time left: the barrier breaks */
        barrier_break(b);
        return mpmi_fail(c, MPM_EBROKEN, "BrokenBarrierError");
    }
    if (timeout > BARRIER_FOREVER_MS) timeout = -1;
    mpmi_waiter *w = mpmi_park(c, timeout, barrier_on_timeout, barrier_on_drop);
    if (!w) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    w->obj = o;
    w->arg = index;
    barrier_append(b, w);
    return MPMI_PARKED;
}

static int barrier_abort(mpmi_obj *o, mpmi_call *c)
{
    barrier_break((mpmi_barrier *)o);
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int barrier_reset(mpmi_obj *o, mpmi_call *c)
{
    mpmi_barrier *b = (mpmi_barrier *)o;
    barrier_fail_all(b);
    b->broken = 0;
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int barrier_parties(mpmi_obj *o, mpmi_call *c)
{
    return mpmi_ok(msgpack_pack_int64(c->pk, ((mpmi_barrier *)o)->parties));
}

static int barrier_n_waiting(mpmi_obj *o, mpmi_call *c)
{
    return mpmi_ok(msgpack_pack_int64(c->pk, ((mpmi_barrier *)o)->count));
}

static int barrier_broken(mpmi_obj *o, mpmi_call *c)
{
    if (((mpmi_barrier *)o)->broken) return mpmi_ok(msgpack_pack_true(c->pk));
    return mpmi_ok(msgpack_pack_false(c->pk));
}

/*---- type --------------------------------------------------------------------*/

/* argv: [type, parties, timeout_ms=-1 (nil: -1)] */
static int barrier_create(mpmi_call *c, mpmi_obj **out)
{
    int64_t parties, timeout;
    if (c->argc < 2 || c->argc > 3)
        return mpmi_fail(c, MPM_EARGS, "TypeError: Barrier() takes 1 or 2 arguments (%d given)",
                         c->argc - 1);
    int rc = mpmi_arg_int(c, 1, &parties);
    if (rc || (rc = mpmi_arg_int_opt(c, 2, -1, &timeout))) return rc;
    if (parties < 1) return mpmi_fail(c, MPM_EVALUE, "ValueError: parties must be > 0");
    if (timeout < -1)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: timeout must be -1 (none) or >= 0");
    mpmi_barrier *b = calloc(1, sizeof *b);
    if (!b) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    b->parties = parties;
    b->timeout = timeout;
    *out = &b->base;
    return 0;
}

static void barrier_destroy(mpmi_obj *o)
{
    mpmi_barrier *b = (mpmi_barrier *)o;
    while (b->q.head) {
        mpmi_waiter *w = b->q.head;
        barrier_unlink(b, w);
        mpmi_answer_err(w, MPM_ENOOBJ, "the Barrier was deleted while waiting");
    }
    free(b);
}

static int barrier_repr(mpmi_obj *o, mpmi_buf *out)
{
    mpmi_barrier *b = (mpmi_barrier *)o;
    mpmi_buf_printf(out, "<Barrier parties=%lld n_waiting=%lld broken=%s>", (long long)b->parties,
                    (long long)b->count, b->broken ? "True" : "False");
    return out->oom ? MPM_ENOMEM : 0;
}

/* A snapshot: [parties, n_waiting, broken]. */
static int barrier_copy(mpmi_obj *o, msgpack_packer *pk)
{
    mpmi_barrier *b = (mpmi_barrier *)o;
    msgpack_pack_array(pk, 3);
    msgpack_pack_int64(pk, b->parties);
    msgpack_pack_int64(pk, b->count);
    if (b->broken) return mpmi_ok(msgpack_pack_true(pk));
    return mpmi_ok(msgpack_pack_false(pk));
}

static const mpmi_method barrier_methods[] = {
    {MPMI_OP_B_WAIT, barrier_wait, 0, 1, MPMI_MUTATES},
    {MPMI_OP_B_ABORT, barrier_abort, 0, 0, MPMI_MUTATES},
    {MPMI_OP_B_RESET, barrier_reset, 0, 0, MPMI_MUTATES},
    {MPMI_OP_B_PARTIES, barrier_parties, 0, 0, 0},
    {MPMI_OP_B_NWAITING, barrier_n_waiting, 0, 0, 0},
    {MPMI_OP_B_BROKEN, barrier_broken, 0, 0, 0},
    {0},
};

const mpmi_type mpmi_type_barrier = {
    .code = MPM_OBJ_BARRIER,
    .name = "Barrier",
    .create = barrier_create,
    .destroy = barrier_destroy,
    .repr = barrier_repr,
    .copy = barrier_copy,
    .methods = barrier_methods,
};
