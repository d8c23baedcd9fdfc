/* lock.c - Python's Lock and RLock, parked on the server.
 *
 * The lock records its owner (session, thread) even for a plain Lock, which
 * any caller may release as in Python: the owner is who must give it back if
 * its process dies, and who a Condition over the lock lets wait and notify.
 * A caller that finds the lock held is parked in a FIFO, and the lock goes to
 * the oldest waiter - not always at once: a releaser that comes straight back
 * may keep it for a bounded turn (turns.h).  A Condition's waiter getting its
 * lock back is never kept waiting for it.
 * Invariant: a free lock has waiters only while a hand-off is deferred.
 *
 * Beyond Python: every grant of the lock to a new owner gets a fencing token,
 * one more than the last (a re-entrant acquire of an RLock gets the token its
 * owner already holds: its ownership did not change hands).  When a session
 * ends holding the lock, it is released (every recursion level) and the next
 * acquirer's answer says the previous owner died.
 *
 * The lock's FIFO also holds a Condition's waits on their way back to the lock
 * (lockcore.h): they are answered with their own bool, and get back the
 * recursion count they gave up. */
#include <stdlib.h>

#include "lockcore.h"
#include "turns.h"

/* Longer than any real wait: treated as no deadline (and no overflow of now + t). */
#define LOCK_FOREVER_MS (INT64_MAX / 4)

typedef struct mpmi_lock {
    mpmi_obj base;
    int recursive; /* RLock */
    int held;
    uint64_t owner_session, owner_thread;
    int64_t count;             /* RLock recursion levels while held */
    uint64_t token;            /* the fencing token of the current (or last) owner */
    int owner_died;            /* a holder died: the next ACQUIRE answer says so */
    mpmi_waitq q;              /* parked acquirers, oldest first */
    mpmi_lockcore_link *links; /* Conditions over this lock */
    mpmi_turns turns;          /* bounded barging (turns.h) */
    /* a deferred hand-off waits for this releaser to come back */
    uint64_t rel_session, rel_thread;
} mpmi_lock;

/* w->data of a Condition's re-acquire (an ACQUIRE's is NULL): its answer. */
static const char lock_notified = 1, lock_timedout = 0;

/*---- waiters -----------------------------------------------------------------*/

/* Make (session, thread) the owner with count levels: 0, or -1 (nothing
 * changed) when the hold cannot be recorded. */
static int lock_take(mpmi_lock *l, uint64_t session, uint64_t thread, int64_t count)
{
    if (mpmi_hold(l->base.srv, session, &l->base)) return -1;
    l->held = 1;
    l->owner_session = session;
    l->owner_thread = thread;
    l->count = count;
    l->token++;
    return 0;
}

/* The owner is gone or done: the lock is free (waiters are the caller's). */
static void lock_drop(mpmi_lock *l)
{
    mpmi_unhold(l->base.srv, l->owner_session, &l->base);
    l->held = 0;
    l->owner_session = l->owner_thread = 0;
    l->count = 0;
}

/* An ACQUIRE's answer: [fencing token, previous owner died].  The flag is
 * told once; a Condition's re-acquire cannot carry it, so it stays pending
 * for the next ACQUIRE rather than be lost. */
static void lock_pack_grant(mpmi_lock *l, msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint64(pk, l->token);
    if (l->owner_died)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    l->owner_died = 0;
}

/* Answer w, which now owns l. */
static void lock_answer(mpmi_lock *l, mpmi_waiter *w)
{
    msgpack_packer *pk = mpmi_answer_pk(w);
    if (!w->data)
        lock_pack_grant(l, pk);
    else if (w->data == &lock_notified)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    mpmi_answer_done(w);
}

/* A free lock goes straight to its oldest waiter. */
static void lock_handoff(mpmi_lock *l)
{
    while (!l->held && l->q.head) {
        mpmi_waiter *w = l->q.head;
        mpmi_waitq_unlink(&l->q, w);
        mpmi_turns_handed_over(&l->turns);
        if (lock_take(l, w->session, w->thread, w->arg)) {
            mpmi_answer_err(w, MPM_ENOMEM, "MemoryError");
            continue;
        }
        lock_answer(l, w);
    }
}

static void lock_run_deferred(mpmi_obj *o)
{
    mpmi_lock *l = (mpmi_lock *)o;
    mpmi_turns_deferred_ran(&l->turns, l->held, &l->q);
    lock_handoff(l);
}

static void lock_on_timeout(mpmi_waiter *w)
{
    mpmi_lock *l = (mpmi_lock *)w->obj;
    if (!l->held && l->q.head == w) {
        /* free, its hand-off put off for a barger that has not come: the
         * oldest waiter gets it rather than a timeout */
        mpmi_undefer(&l->base);
        lock_handoff(l);
        return;
    }
    mpmi_waitq_unlink(&l->q, w);
    msgpack_pack_false(mpmi_answer_pk(w));
    mpmi_answer_done(w);
}

static void lock_on_drop(mpmi_waiter *w)
{
    mpmi_waitq_unlink(&((mpmi_lock *)w->obj)->q, w);
}

static int lock_is_owner(const mpmi_lock *l, uint64_t session, uint64_t thread)
{
    return l->held && l->owner_session == session && l->owner_thread == thread;
}

/*---- methods -----------------------------------------------------------------*/

/* [thread, timeout_ms=-1] */
static int lock_acquire(mpmi_obj *o, mpmi_call *c)
{
    mpmi_lock *l = (mpmi_lock *)o;
    int64_t thread = 0, timeout = 0;
    int rc = mpmi_arg_int(c, 0, &thread);
    if (rc || (rc = mpmi_arg_int_opt(c, 1, -1, &timeout))) return rc;
    if (timeout < -1)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: timeout must be -1 (none) or >= 0");
    uint64_t session = mpmi_call_session(c);
    if (l->recursive && lock_is_owner(l, session, (uint64_t)thread)) {
        if (l->count == INT64_MAX)
            return mpmi_fail(c, MPM_EOVERFLOW, "OverflowError: Internal lock count overflowed");
        l->count++;
        msgpack_pack_array(c->pk, 2);
        msgpack_pack_uint64(c->pk, l->token);
        return mpmi_ok(msgpack_pack_false(c->pk));
    }
    if (!l->held && l->q.head && (l->q.head->data || mpmi_turns_head_due(&l->turns, &l->q))) {
        /* the oldest waiter has been passed over long enough, or is a
         * Condition's waiter getting its lock back: its turn */
        mpmi_undefer(o);
        lock_handoff(l);
    }
    /* A hand-off put off for its releaser (turns.h) is that releaser's to
     * take back, nobody else's: taken by whoever came first -- often the
     * previous holder, its turn just over -- it cost the new holder its turn
     * after one pair and sent it to the back of the queue (on one CPU, 8
     * looping processes lost a tenth of their pairs to it).  With nobody
     * left waiting (timed out, or gone), it is anyone's. */
    int reserved = !l->held && o->deferred && l->q.head &&
                   (session != l->rel_session || (uint64_t)thread != l->rel_thread);
    if (!l->held && !reserved) {
        if (lock_take(l, session, (uint64_t)thread, 1))
            return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
        if (o->deferred) {
            /* the put-off hand-off is done with (taken back by its releaser,
             * or by anyone once nobody waits), so the next release puts one
             * off afresh */
            mpmi_undefer(o);
            mpmi_turns_deferred_ran(
                &l->turns, session == l->rel_session && (uint64_t)thread == l->rel_thread, &l->q);
        }
        lock_pack_grant(l, c->pk);
        return 0;
    }
    mpmi_turns_came_back(&l->turns, session, (uint64_t)thread);
    if (timeout == 0) return mpmi_ok(msgpack_pack_false(c->pk));
    if (timeout > LOCK_FOREVER_MS) timeout = -1;
    mpmi_waiter *w = mpmi_park(c, timeout, lock_on_timeout, lock_on_drop);
    if (!w) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    w->obj = o;
    w->thread = (uint64_t)thread;
    w->arg = 1;
    w->data = NULL;
    mpmi_waitq_append(&l->q, w);
    return MPMI_PARKED;
}

/* [thread] */
static int lock_release(mpmi_obj *o, mpmi_call *c)
{
    mpmi_lock *l = (mpmi_lock *)o;
    int64_t thread = 0;
    int rc = mpmi_arg_int(c, 0, &thread);
    if (rc) return rc;
    if (l->recursive) {
        if (!lock_is_owner(l, mpmi_call_session(c), (uint64_t)thread))
            return mpmi_fail(c, MPM_ERUNTIME, "RuntimeError: cannot release un-acquired lock");
        if (--l->count > 0) return mpmi_ok(msgpack_pack_nil(c->pk));
    } else if (!l->held) {
        return mpmi_fail(c, MPM_ERUNTIME, "RuntimeError: release unlocked lock");
    }
    /* a plain Lock may be released by anyone (Python): the owner's session
     * stops holding it all the same */
    lock_drop(l);
    /* the releaser may be back at once (turns.h); a Condition's waiter is not
     * kept waiting */
    if (l->q.head && !l->q.head->data && mpmi_turns_may_defer(&l->turns, &l->q)) {
        l->rel_session = mpmi_call_session(c);
        l->rel_thread = (uint64_t)thread;
        mpmi_defer(o);
    } else {
        if (l->q.head) mpmi_turns_handed_at_once(&l->turns, mpmi_call_session(c), (uint64_t)thread);
        lock_handoff(l);
    }
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int lock_locked(mpmi_obj *o, mpmi_call *c)
{
    if (((mpmi_lock *)o)->held) return mpmi_ok(msgpack_pack_true(c->pk));
    return mpmi_ok(msgpack_pack_false(c->pk));
}

/* [thread] */
static int lock_owned(mpmi_obj *o, mpmi_call *c)
{
    int64_t thread = 0;
    int rc = mpmi_arg_int(c, 0, &thread);
    if (rc) return rc;
    if (lock_is_owner((mpmi_lock *)o, mpmi_call_session(c), (uint64_t)thread))
        return mpmi_ok(msgpack_pack_true(c->pk));
    return mpmi_ok(msgpack_pack_false(c->pk));
}

/*---- type --------------------------------------------------------------------*/

static mpmi_lock *lock_alloc(int recursive)
{
    mpmi_lock *l = calloc(1, sizeof *l);
    if (l) l->recursive = recursive;
    return l;
}

/* argv: [type] */
static int lock_create_common(mpmi_call *c, mpmi_obj **out, int recursive)
{
    if (c->argc > 1)
        return mpmi_fail(c, MPM_EARGS, "TypeError: %s() takes no arguments (%d given)",
                         recursive ? "RLock" : "Lock", c->argc - 1);
    mpmi_lock *l = lock_alloc(recursive);
    if (!l) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    *out = &l->base;
    return 0;
}

static int lock_create(mpmi_call *c, mpmi_obj **out)
{
    return lock_create_common(c, out, 0);
}

static int rlock_create(mpmi_call *c, mpmi_obj **out)
{
    return lock_create_common(c, out, 1);
}

static void lock_destroy(mpmi_obj *o)
{
    mpmi_lock *l = (mpmi_lock *)o;
    while (l->q.head) {
        mpmi_waiter *w = l->q.head;
        mpmi_waitq_unlink(&l->q, w);
        mpmi_answer_err(w, MPM_ENOOBJ, "the %s was deleted while waiting", o->type->name);
    }
    /* the holder's session need not hear of it when it ends */
    if (l->held) mpmi_unhold(o->srv, l->owner_session, o);
    for (mpmi_lockcore_link *k = l->links; k; k = k->next)
        *k->lockp = NULL;
    free(l);
}

static void lock_session_gone(mpmi_obj *o, uint64_t session)
{
    mpmi_lock *l = (mpmi_lock *)o;
    if (!l->held || l->owner_session != session) return;
    /* every recursion level goes, and whoever gets the lock next is told */
    lock_drop(l);
    l->owner_died = 1;
    lock_handoff(l);
}

static int lock_repr(mpmi_obj *o, mpmi_buf *out)
{
    mpmi_lock *l = (mpmi_lock *)o;
    const char *state = l->held ? "locked" : "unlocked";
    if (l->recursive)
        mpmi_buf_printf(out, "<%s _thread.RLock object owner=%llu count=%lld>", state,
                        (unsigned long long)l->owner_thread, (long long)l->count);
    else
        mpmi_buf_printf(out, "<%s _thread.lock object>", state);
    return out->oom ? MPM_ENOMEM : 0;
}

static int lock_copy(mpmi_obj *o, msgpack_packer *pk)
{
    if (((mpmi_lock *)o)->held) return mpmi_ok(msgpack_pack_true(pk));
    return mpmi_ok(msgpack_pack_false(pk));
}

static const mpmi_method lock_methods[] = {
    {MPMI_OP_ACQUIRE, lock_acquire, 1, 2, MPMI_MUTATES},
    {MPMI_OP_RELEASE, lock_release, 1, 1, MPMI_MUTATES},
    {MPMI_OP_LOCKED, lock_locked, 0, 0, 0},
    {MPMI_OP_OWNED, lock_owned, 1, 1, 0},
    {0},
};

const mpmi_type mpmi_type_lock = {
    .code = MPM_OBJ_LOCK,
    .name = "Lock",
    .create = lock_create,
    .destroy = lock_destroy,
    .repr = lock_repr,
    .copy = lock_copy,
    .session_gone = lock_session_gone,
    .run_deferred = lock_run_deferred,
    .methods = lock_methods,
};

const mpmi_type mpmi_type_rlock = {
    .code = MPM_OBJ_RLOCK,
    .name = "RLock",
    .create = rlock_create,
    .destroy = lock_destroy,
    .repr = lock_repr,
    .copy = lock_copy,
    .session_gone = lock_session_gone,
    .run_deferred = lock_run_deferred,
    .methods = lock_methods,
};

/*---- for Condition (lockcore.h) --------------------------------------------------*/

int mpmi_lockcore_is_lock(const mpmi_obj *o)
{
    return o->type == &mpmi_type_lock || o->type == &mpmi_type_rlock;
}

mpmi_obj *mpmi_lockcore_new_rlock(mpmi_srv *s)
{
    mpmi_lock *l = lock_alloc(1);
    if (!l) return NULL;
    l->base.type = &mpmi_type_rlock;
    if (mpmi_obj_add(s, &l->base)) {
        free(l);
        return NULL;
    }
    return &l->base;
}

void mpmi_lockcore_attach(mpmi_obj *lock, mpmi_lockcore_link *link)
{
    mpmi_lock *l = (mpmi_lock *)lock;
    *link->lockp = lock;
    link->prev = NULL;
    link->next = l->links;
    if (l->links) l->links->prev = link;
    l->links = link;
    mpmi_obj_ref(lock);
}

void mpmi_lockcore_detach(mpmi_lockcore_link *link)
{
    mpmi_obj *lock = *link->lockp;
    if (!lock) return; /* destroyed first, at shutdown */
    mpmi_lock *l = (mpmi_lock *)lock;
    if (link->prev)
        link->prev->next = link->next;
    else
        l->links = link->next;
    if (link->next) link->next->prev = link->prev;
    link->next = link->prev = NULL;
    *link->lockp = NULL;
    mpmi_obj_unref(lock->srv, lock);
}

int mpmi_lockcore_owned(mpmi_obj *lock, uint64_t session, uint64_t thread)
{
    return lock_is_owner((mpmi_lock *)lock, session, thread);
}

int mpmi_lockcore_acquire(mpmi_obj *lock, mpmi_call *c)
{
    return lock_acquire(lock, c);
}

int mpmi_lockcore_release(mpmi_obj *lock, mpmi_call *c)
{
    return lock_release(lock, c);
}

int mpmi_lockcore_contended(mpmi_obj *lock)
{
    return ((mpmi_lock *)lock)->q.head != NULL;
}

int64_t mpmi_lockcore_release_all(mpmi_obj *lock)
{
    mpmi_lock *l = (mpmi_lock *)lock;
    int64_t count = l->recursive ? l->count : 1;
    lock_drop(l);
    lock_handoff(l);
    return count;
}

void mpmi_lockcore_reacquire(mpmi_obj *lock, mpmi_waiter *w, int64_t count, int notified)
{
    mpmi_lock *l = (mpmi_lock *)lock;
    w->obj = lock;
    w->arg = count;
    w->data = (void *)(notified ? &lock_notified : &lock_timedout);
    /* the re-acquire after a wait has no deadline, as Python's */
    mpmi_waiter_no_deadline(w);
    w->on_timeout = lock_on_timeout;
    w->on_drop = lock_on_drop;
    if (l->held || l->q.head) {
        mpmi_waitq_append(&l->q, w);
        return;
    }
    mpmi_undefer(lock); /* free and deferred: the waiters it was put off for are gone */
    if (lock_take(l, w->session, w->thread, count)) {
        mpmi_answer_err(w, MPM_ENOMEM, "MemoryError");
        return;
    }
    lock_answer(l, w);
}
