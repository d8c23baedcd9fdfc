/* condition.c - Python's Condition over a Lock or an RLock.
 *
 * The lock is a Lock or RLock object of its own (the caller's, or, for
 * Condition() without one, an RLock the server makes and registers: it counts
 * as an object and lives as long as the condition).  The condition keeps a
 * reference on it, and keeps no lock state itself: acquire and release go to
 * the lock (lockcore.h).
 *
 * A wait releases every recursion level of the lock and parks in the
 * condition's FIFO.  Notify, or the wait's deadline, moves the waiter to the
 * end of the lock's FIFO; it is answered (true when notified, false on
 * timeout) only once it holds the lock again with its saved count, so wait
 * returns with the lock held, as Python's does, without a second round trip.
 * Waiters are notified oldest first. */
#include <stdlib.h>

#include "lockcore.h"

/* Longer than any real wait: treated as no deadline (and no overflow of now + t). */
#define COND_FOREVER_MS (INT64_MAX / 4)

typedef struct mpmi_cond {
    mpmi_obj base;
    mpmi_obj *lock;          /* NULL only once the lock was destroyed at shutdown */
    mpmi_lockcore_link link; /* lets the lock clear `lock` then */
    mpmi_waitq q;            /* waits not yet notified, oldest first */
    size_t nwaiting;
} mpmi_cond;

/*---- waiters -----------------------------------------------------------------*/

static void cond_unlink(mpmi_cond *cv, mpmi_waiter *w)
{
    mpmi_waitq_unlink(&cv->q, w);
    cv->nwaiting--;
}

static void cond_append(mpmi_cond *cv, mpmi_waiter *w)
{
    mpmi_waitq_append(&cv->q, w);
    cv->nwaiting++;
}

/* Timed out: get the lock back first, then answer false (lockcore). */
static void cond_on_timeout(mpmi_waiter *w)
{
    mpmi_cond *cv = (mpmi_cond *)w->obj;
    cond_unlink(cv, w);
    mpmi_lockcore_reacquire(cv->lock, w, w->arg, 0);
}

/* The waiter gave the lock up when it parked: nothing of the lock to undo. */
static void cond_on_drop(mpmi_waiter *w)
{
    cond_unlink((mpmi_cond *)w->obj, w);
}

/* Wake up to n waiters (n < 0: all): each queues for the lock, which the
 * caller holds, and is answered true once it gets it. */
static void cond_wake(mpmi_cond *cv, int64_t n)
{
    while (cv->q.head && n != 0) {
        mpmi_waiter *w = cv->q.head;
        cond_unlink(cv, w);
        mpmi_lockcore_reacquire(cv->lock, w, w->arg, 1);
        if (n > 0) n--;
    }
}

/*---- methods -----------------------------------------------------------------*/

static int cond_acquire(mpmi_obj *o, mpmi_call *c)
{
    return mpmi_lockcore_acquire(((mpmi_cond *)o)->lock, c);
}

static int cond_release(mpmi_obj *o, mpmi_call *c)
{
    return mpmi_lockcore_release(((mpmi_cond *)o)->lock, c);
}

/* Read the thread argument and check the caller holds the lock: 0, or the
 * RuntimeError "cannot <what> on un-acquired lock". */
static int cond_check_owner(mpmi_cond *cv, mpmi_call *c, const char *what, uint64_t *thread)
{
    int64_t t;
    int rc = mpmi_arg_int(c, 0, &t);
    if (rc) return rc;
    if (!mpmi_lockcore_owned(cv->lock, mpmi_call_session(c), (uint64_t)t))
        return mpmi_fail(c, MPM_ERUNTIME, "RuntimeError: cannot %s on un-acquired lock", what);
    *thread = (uint64_t)t;
    return 0;
}

/* [thread] */
static int cond_owned(mpmi_obj *o, mpmi_call *c)
{
    int64_t t;
    int rc = mpmi_arg_int(c, 0, &t);
    if (rc) return rc;
    if (mpmi_lockcore_owned(((mpmi_cond *)o)->lock, mpmi_call_session(c), (uint64_t)t))
        return mpmi_ok(msgpack_pack_true(c->pk));
    return mpmi_ok(msgpack_pack_false(c->pk));
}

/* [thread, timeout_ms=-1] -> notified */
static int cond_wait(mpmi_obj *o, mpmi_call *c)
{
    mpmi_cond *cv = (mpmi_cond *)o;
    uint64_t thread = 0;
    int64_t timeout;
    /* ownership first, as Python checks it */
    int rc = cond_check_owner(cv, c, "wait", &thread);
    if (rc || (rc = mpmi_arg_int_opt(c, 1, -1, &timeout))) return rc;
    if (timeout < -1)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: timeout must be -1 (none) or >= 0");
    /* Python's wait(0) releases and re-acquires at once: with nobody queued
     * for the lock that changes nothing */
    if (timeout == 0 && !mpmi_lockcore_contended(cv->lock))
        return mpmi_ok(msgpack_pack_false(c->pk));
    if (timeout > COND_FOREVER_MS) timeout = -1;
    /* park before releasing: out of memory then changes nothing.  A wait(0)
     * with others queued is due at once, and the loop re-queues it behind them. */
    mpmi_waiter *w = mpmi_park(c, timeout, cond_on_timeout, cond_on_drop);
    if (!w) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    w->obj = o;
    w->thread = thread;
    w->data = NULL;
    cond_append(cv, w);
    w->arg = mpmi_lockcore_release_all(cv->lock);
    return MPMI_PARKED;
}

/* [thread, n=1]: n <= 0 wakes nobody, as in Python */
static int cond_notify(mpmi_obj *o, mpmi_call *c)
{
    mpmi_cond *cv = (mpmi_cond *)o;
    uint64_t thread = 0;
    int64_t n;
    int rc = cond_check_owner(cv, c, "notify", &thread);
    if (rc || (rc = mpmi_arg_int_opt(c, 1, 1, &n))) return rc;
    if (n > 0) cond_wake(cv, n);
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

/* [thread] */
static int cond_notify_all(mpmi_obj *o, mpmi_call *c)
{
    mpmi_cond *cv = (mpmi_cond *)o;
    uint64_t thread = 0;
    int rc = cond_check_owner(cv, c, "notify", &thread);
    if (rc) return rc;
    cond_wake(cv, -1);
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

/*---- type --------------------------------------------------------------------*/

/* argv: [type, lock id | nil] (nil or missing: an RLock of its own) */
static int cond_create(mpmi_call *c, mpmi_obj **out)
{
    mpmi_obj *lock = NULL;
    if (c->argc > 2)
        return mpmi_fail(c, MPM_EARGS, "TypeError: Condition() takes at most 1 argument (%d given)",
                         c->argc - 1);
    /* 0xc0: msgpack nil */
    int own = c->argc < 2 || (c->argv[1].n == 1 && c->argv[1].p[0] == 0xc0);
    if (!own) {
        int rc = mpmi_arg_obj(c, 1, 0, &lock);
        if (rc) return rc;
        if (!mpmi_lockcore_is_lock(lock))
            return mpmi_fail(c, MPM_ETYPE,
                             "TypeError: Condition() needs a Lock or an RLock, got a %s",
                             lock->type->name);
    }
    mpmi_cond *cv = calloc(1, sizeof *cv);
    if (!cv) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    if (own && !(lock = mpmi_lockcore_new_rlock(c->srv))) {
        free(cv);
        return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    }
    cv->link.lockp = &cv->lock;
    mpmi_lockcore_attach(lock, &cv->link);
    *out = &cv->base;
    return 0;
}

static void cond_destroy(mpmi_obj *o)
{
    mpmi_cond *cv = (mpmi_cond *)o;
    while (cv->q.head) {
        mpmi_waiter *w = cv->q.head;
        cond_unlink(cv, w);
        mpmi_answer_err(w, MPM_ENOOBJ, "the Condition was deleted while waiting");
    }
    mpmi_lockcore_detach(&cv->link); /* may destroy the lock */
    free(cv);
}

static int cond_repr(mpmi_obj *o, mpmi_buf *out)
{
    mpmi_cond *cv = (mpmi_cond *)o;
    mpmi_buf_puts(out, "<Condition(");
    if (cv->lock) {
        int rc = cv->lock->type->repr(cv->lock, out);
        if (rc) return rc;
    }
    mpmi_buf_printf(out, ", %zu)>", cv->nwaiting);
    return out->oom ? MPM_ENOMEM : 0;
}

/* A snapshot: how many wait (not yet notified). */
static int cond_copy(mpmi_obj *o, msgpack_packer *pk)
{
    return mpmi_ok(msgpack_pack_uint64(pk, ((mpmi_cond *)o)->nwaiting));
}

static const mpmi_method cond_methods[] = {
    {MPMI_OP_ACQUIRE, cond_acquire, 1, 2, MPMI_MUTATES},
    {MPMI_OP_RELEASE, cond_release, 1, 1, MPMI_MUTATES},
    {MPMI_OP_OWNED, cond_owned, 1, 1, 0},
    {MPMI_OP_C_WAIT, cond_wait, 1, 2, MPMI_MUTATES},
    {MPMI_OP_C_NOTIFY, cond_notify, 1, 2, MPMI_MUTATES},
    {MPMI_OP_C_NOTIFY_ALL, cond_notify_all, 1, 1, MPMI_MUTATES},
    {0},
};

const mpmi_type mpmi_type_condition = {
    .code = MPM_OBJ_CONDITION,
    .name = "Condition",
    .create = cond_create,
    .destroy = cond_destroy,
    .repr = cond_repr,
    .copy = cond_copy,
    .methods = cond_methods,
};
