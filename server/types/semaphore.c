/* semaphore.c - Python's Semaphore and BoundedSemaphore.
 *
 * value counts the free permits.  A caller that finds none is parked in a FIFO
 * list, and released permits go to the oldest waiters - the last one not
 * always at once: a releaser that comes straight back may keep it for a
 * bounded turn, as with a Lock (turns.h).  A newcomer never takes a permit
 * from under a waiter outside that turn.  Invariant: while anyone waits,
 * value is 0, or 1 while a hand-off is deferred.
 *
 * Beyond Python: permits are counted per session (and mpmi_hold'ed), so the
 * permits of a process that dies are given back and its place is not lost.
 * Python lets any process release, so the books cannot always say whose
 * permit a release gives back; they never give back more than was taken:
 * - a release by a process that holds none, while others hold some, is on
 *   their behalf (debt): a holder that dies gives back only what that does
 *   not cover (else a BoundedSemaphore could have more holders than its bound);
 * - a release while nobody holds any adds a permit (added): the next acquirer
 *   consumes it rather than holds it, as a Semaphore(0) counting items between
 *   a producer and a consumer does; a consumer that ends gives back nothing. */
#include <stdlib.h>

#include "turns.h"

/* Longer than any real wait: treated as no deadline (and no overflow of now + t). */
#define SEM_FOREVER_MS (INT64_MAX / 4)

typedef struct mpmi_sem {
    mpmi_obj base;
    int64_t value;   /* free permits */
    int64_t initial; /* BoundedSemaphore's bound */
    int bounded;
    mpmi_waitq q;  /* parked acquirers, oldest first */
    mpmi_map held; /* session id -> permits that session holds */
    int64_t sum_held; /* the sum of held */
    int64_t debt;     /* of sum_held, released on the holders' behalf (<= sum_held) */
    int64_t added;    /* of value, added by releases nobody held for (<= value) */
    mpmi_turns turns; /* bounded barging (turns.h) */
    uint64_t last_taker, last_thread; /* who took a permit last ... */
    int64_t last_take_ms;             /* ... and when */
    uint64_t rel_session, rel_thread; /* the releaser a deferred hand-off waits for */
} mpmi_sem;

/*---- waiters -----------------------------------------------------------------*/

/* Take a permit for session: consumed if it was added, else held (recorded
 * for the session).  0, or -1 (nothing taken). */
static int sem_take(mpmi_sem *s, uint64_t session, uint64_t thread)
{
    if (s->added > 0) {
        s->added--;
    } else {
        if (mpmi_hold(s->base.srv, session, &s->base)) return -1;
        mpmi_map_slot *sl = mpmi_map_put(&s->held, session, NULL);
        if (!sl) {
            mpmi_unhold(s->base.srv, session, &s->base);
            return -1;
        }
        sl->v.n++;
        s->sum_held++;
    }
    s->value--;
    s->last_taker = session;
    s->last_thread = thread;
    s->last_take_ms = mpmi_now_ms();
    return 0;
}

/* The answer of a successful acquire: [fencing token, previous owner died];
 * permits are anonymous, so neither applies. */
static void sem_pack_taken(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, 0);
    msgpack_pack_false(pk);
}

/* Hand free permits to the oldest waiters, keeping back keep of them. */
static void sem_wake_keep(mpmi_sem *s, int64_t keep)
{
    while (s->value > keep && s->q.head) {
        mpmi_waiter *w = s->q.head;
        mpmi_waitq_unlink(&s->q, w);
        mpmi_turns_handed_over(&s->turns);
        if (sem_take(s, w->session, w->thread)) {
            mpmi_answer_err(w, MPM_ENOMEM, "MemoryError");
            continue;
        }
        sem_pack_taken(mpmi_answer_pk(w));
        mpmi_answer_done(w);
    }
}

/* Hand every free permit to the oldest waiters (no turn is waited for). */
static void sem_wake(mpmi_sem *s)
{
    mpmi_undefer(&s->base);
    sem_wake_keep(s, 0);
}

/* Nobody took the kept permit back (sem_acquire ends the deferral if so). */
static void sem_run_deferred(mpmi_obj *o)
{
    mpmi_sem *s = (mpmi_sem *)o;
    mpmi_turns_deferred_ran(&s->turns, 0, &s->q);
    sem_wake_keep(s, 0);
}

static void sem_on_timeout(mpmi_waiter *w)
{
    mpmi_sem *s = (mpmi_sem *)w->obj;
    if (s->value > 0 && s->q.head == w) {
        /* a permit is free, its hand-off put off for a barger that has not
         * come: the oldest waiter gets it rather than a timeout */
        sem_wake(s);
        return;
    }
    mpmi_waitq_unlink(&s->q, w);
    msgpack_pack_false(mpmi_answer_pk(w));
    mpmi_answer_done(w);
}

static void sem_on_drop(mpmi_waiter *w)
{
    mpmi_waitq_unlink(&((mpmi_sem *)w->obj)->q, w);
}

/*---- methods -----------------------------------------------------------------*/

/* [thread, timeout_ms]: permits belong to the process; the thread only says
 * whether a permit kept back for a releaser (sem_release) is this caller's. */
static int sem_acquire(mpmi_obj *o, mpmi_call *c)
{
    mpmi_sem *s = (mpmi_sem *)o;
    int64_t thread = 0, timeout = 0;
    int rc = mpmi_arg_int(c, 0, &thread);
    if (rc || (rc = mpmi_arg_int_opt(c, 1, -1, &timeout))) return rc;
    if (timeout < -1)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: timeout must be -1 (none) or >= 0");
    if (s->value > 0 && mpmi_turns_head_due(&s->turns, &s->q)) {
        /* a deferred hand-off whose oldest waiter was passed over long
         * enough: its turn */
        sem_wake(s);
    }
    /* the permit a deferred hand-off keeps back is its releaser's to take
     * back, nobody else's (see lock.c); with nobody left waiting, anyone's */
    uint64_t session = mpmi_call_session(c);
    int reserved = s->value == 1 && s->base.deferred && s->q.head &&
                   (session != s->rel_session || (uint64_t)thread != s->rel_thread);
    if (s->value > 0 && !reserved) {
        if (sem_take(s, session, (uint64_t)thread)) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
        if (s->base.deferred) {
            /* the kept permit is taken (see lock.c) */
            mpmi_undefer(o);
            mpmi_turns_deferred_ran(
                &s->turns, session == s->rel_session && (uint64_t)thread == s->rel_thread, &s->q);
        }
        sem_pack_taken(c->pk);
        return 0;
    }
    mpmi_turns_came_back(&s->turns, session, (uint64_t)thread);
    if (timeout == 0) return mpmi_ok(msgpack_pack_false(c->pk));
    if (timeout > SEM_FOREVER_MS) timeout = -1;
    mpmi_waiter *w = mpmi_park(c, timeout, sem_on_timeout, sem_on_drop);
    if (!w) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    w->obj = o;
    w->thread = (uint64_t)thread;
    mpmi_waitq_append(&s->q, w);
    return MPMI_PARKED;
}

/* [thread, n=1] */
static int sem_release(mpmi_obj *o, mpmi_call *c)
{
    mpmi_sem *s = (mpmi_sem *)o;
    int64_t thread, n;
    int rc = mpmi_arg_int(c, 0, &thread);
    if (rc || (rc = mpmi_arg_int_opt(c, 1, 1, &n))) return rc;
    if (n < 1) return mpmi_fail(c, MPM_EVALUE, "ValueError: n must be one or more");
    if (s->bounded && n > s->initial - s->value)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: Semaphore released too many times");
    if (n > INT64_MAX - s->value)
        return mpmi_fail(c, MPM_EOVERFLOW, "OverflowError: semaphore value too large");
    /* What this process gives back it no longer holds; what it gives back
     * beyond that (allowed, as in Python) is for others, or new (the top). */
    uint64_t session = mpmi_call_session(c);
    mpmi_map_slot *sl = mpmi_map_find(&s->held, session);
    int64_t own = 0;
    if (sl) {
        own = n < (int64_t)sl->v.n ? n : (int64_t)sl->v.n;
        sl->v.n -= (uint64_t)own;
        if (sl->v.n == 0) mpmi_map_del(&s->held, session);
        s->sum_held -= own;
        for (int64_t k = own; k; k--)
            mpmi_unhold(o->srv, session, o);
        if (s->debt > s->sum_held) s->debt = s->sum_held; /* released twice */
    }
    /* the rest: on the other holders' behalf, as far as they hold; beyond
     * that, added permits (see the top) */
    int64_t rest = n - own, behalf = s->sum_held - s->debt;
    if (behalf > rest) behalf = rest;
    s->debt += behalf;
    s->added += rest - behalf;
    s->value += n;
    /* the releaser may be back at once (turns.h): all but one permit go to
     * waiters now, the last when mpmd has looked for its acquire.  Only for
     * a releaser (thread) that took a permit last and within a turn: with several
     * permits another holder's hand-off starts no turn of its own, and a
     * holder that kept its permit longer than a turn has had its turn. */
    if (s->last_taker == session && s->last_thread == (uint64_t)thread &&
        mpmi_now_ms() - s->last_take_ms < MPMI_TURN_MS && mpmi_turns_may_defer(&s->turns, &s->q)) {
        /* noted first: handing out permits changes the last taker */
        s->rel_session = session;
        s->rel_thread = (uint64_t)thread;
        sem_wake_keep(s, 1);
        if (s->q.head) mpmi_defer(o);
    } else {
        if (s->q.head) mpmi_turns_handed_at_once(&s->turns, session, (uint64_t)thread);
        sem_wake(s);
    }
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int sem_get_value(mpmi_obj *o, mpmi_call *c)
{
    return mpmi_ok(msgpack_pack_int64(c->pk, ((mpmi_sem *)o)->value));
}

/*---- type --------------------------------------------------------------------*/

static void sem_session_gone(mpmi_obj *o, uint64_t session)
{
    mpmi_sem *s = (mpmi_sem *)o;
    mpmi_map_slot *sl = mpmi_map_find(&s->held, session);
    if (!sl) return;
    int64_t k = (int64_t)sl->v.n;
    mpmi_map_del(&s->held, session);
    s->sum_held -= k;
    /* what was released on the holders' behalf is taken to be this
     * process's first: given back twice, it would make a permit from nothing */
    int64_t covered = k < s->debt ? k : s->debt;
    s->debt -= covered;
    k -= covered;
    int64_t limit = s->bounded ? s->initial : INT64_MAX; /* a last guard */
    s->value = k > limit - s->value ? limit : s->value + k;
    sem_wake(s);
}

/* argv: [type, value=1] */
static int sem_create_common(mpmi_call *c, mpmi_obj **out, int bounded)
{
    int64_t value;
    if (c->argc > 2)
        return mpmi_fail(c, MPM_EARGS, "TypeError: %s() takes at most 1 argument (%d given)",
                         bounded ? "BoundedSemaphore" : "Semaphore", c->argc - 1);
    int rc = mpmi_arg_int_opt(c, 1, 1, &value);
    if (rc) return rc;
    if (value < 0)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: semaphore initial value must be >= 0");
    mpmi_sem *s = calloc(1, sizeof *s);
    if (!s) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    s->value = s->initial = value;
    s->bounded = bounded;
    *out = &s->base;
    return 0;
}

static int sem_create(mpmi_call *c, mpmi_obj **out)
{
    return sem_create_common(c, out, 0);
}

static int sem_create_bounded(mpmi_call *c, mpmi_obj **out)
{
    return sem_create_common(c, out, 1);
}

static void sem_destroy(mpmi_obj *o)
{
    mpmi_sem *s = (mpmi_sem *)o;
    while (s->q.head) {
        mpmi_waiter *w = s->q.head;
        mpmi_waitq_unlink(&s->q, w);
        mpmi_answer_err(w, MPM_ENOOBJ, "the %s was deleted while waiting", o->type->name);
    }
    /* the living holders' sessions need not hear of it when they end */
    MPMI_MAP_EACH(&s->held, sl)
    {
        for (uint64_t k = sl->v.n; k; k--)
            mpmi_unhold(o->srv, sl->key, o);
    }
    mpmi_map_free(&s->held);
    free(s);
}

static int sem_repr(mpmi_obj *o, mpmi_buf *out)
{
    mpmi_sem *s = (mpmi_sem *)o;
    if (s->bounded)
        mpmi_buf_printf(out, "<BoundedSemaphore value=%lld/%lld>", (long long)s->value,
                        (long long)s->initial);
    else
        mpmi_buf_printf(out, "<Semaphore value=%lld>", (long long)s->value);
    return out->oom ? MPM_ENOMEM : 0;
}

static int sem_copy(mpmi_obj *o, msgpack_packer *pk)
{
    return mpmi_ok(msgpack_pack_int64(pk, ((mpmi_sem *)o)->value));
}

static const mpmi_method sem_methods[] = {
    {MPMI_OP_ACQUIRE, sem_acquire, 1, 2, MPMI_MUTATES},
    {MPMI_OP_RELEASE, sem_release, 1, 2, MPMI_MUTATES},
    {MPMI_OP_S_VALUE, sem_get_value, 0, 0, 0},
    {0},
};

const mpmi_type mpmi_type_semaphore = {
    .code = MPM_OBJ_SEMAPHORE,
    .name = "Semaphore",
    .create = sem_create,
    .destroy = sem_destroy,
    .repr = sem_repr,
    .copy = sem_copy,
    .session_gone = sem_session_gone,
    .run_deferred = sem_run_deferred,
    .methods = sem_methods,
};

const mpmi_type mpmi_type_bounded_semaphore = {
    .code = MPM_OBJ_BOUNDED_SEMAPHORE,
    .name = "BoundedSemaphore",
    .create = sem_create_bounded,
    .destroy = sem_destroy,
    .repr = sem_repr,
    .copy = sem_copy,
    .session_gone = sem_session_gone,
    .run_deferred = sem_run_deferred,
    .methods = sem_methods,
};
