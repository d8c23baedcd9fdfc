/* turns.h - bounded barging, shared by Lock/RLock (lock.c) and Semaphore/
 * BoundedSemaphore (semaphore.c).
 *
 * Waiters are parked in a FIFO and served oldest first, but a release with
 * waiters does not hand over at once: the lock (or permit) stays free until
 * mpmd has looked for input once more (mpmi_defer; up to LOOP_DEFER_US when
 * it does not poll), so a releaser that acquires again at once keeps it
 * (barging); only that releaser: another acquirer in that moment queues
 * (lock.c, semaphore.c).  Handing over at every release made 8 processes looping on one
 * lock do half the pairs of one: each pair waited for a sleeping process to
 * wake.  Barging is allowed only while the oldest waiter has been first in
 * line for less than MPMI_TURN_MS - counted from when it parked, or from the
 * last hand-off to a waiter if that came later (the new holder's turn); after
 * that the next release or barging attempt serves it.  So waiters are served
 * in arrival order, each holder gets a turn of the same length, and nobody
 * waits longer than the turns (or holds) of those ahead (Go's sync.Mutex does
 * the like with 1 ms).  A lock passed to and fro, whose releaser does not
 * come back, stops deferring for a while after MPMI_TURN_MISSES deferred
 * hand-offs in a row that no barger used: 2 ms, doubling at each such run of
 * misses up to a second, back to 2 ms once a barger uses a deferral; and
 * ended when a releaser comes back as fast as a barger would.  It was
 * a fixed 50 ms: when 8 processes start looping at once, the first
 * releasers, their CPU crowded by the others' first calls, come back too late
 * (300 us) three times in the first millisecond, and for 50 ms every release
 * handed over at once, each pair waiting for a waiter to run: half the rate
 * (in 0.25 s slices of 8 processes started together, such slices made 0.8 of
 * the pairs of one process; with the backoff, 0.95-1.0).
 *
 * Turns are 20 ms, not 5: a hand-off to a sleeping waiter often wakes it onto
 * mpmd's CPU (a synchronous wake-up, while the releaser still polls on the
 * other CPU), and there the two share one CPU for the whole turn at a quarter
 * of the rate while the other CPU idles.  With 8 processes looping on one Lock
 * on 2 CPUs, 20 ms turns made 10-19% more pairs than 5 ms turns (three
 * interleaved sets of 8 runs); on one CPU, the same. */
#ifndef MPMI_TURNS_H
#define MPMI_TURNS_H

#include "../server.h"

#define MPMI_TURN_MS 20
#define MPMI_TURN_MISSES 3
#define MPMI_TURN_STRICT_MIN_MS 2
#define MPMI_TURN_STRICT_MAX_MS 1000
#define MPMI_TURN_BACK_US 200 /* no longer than a deferred hand-off waits at least */

typedef struct mpmi_turns {
    int64_t handed_ms;    /* the last hand-off to a waiter (monotonic ms) */
    int64_t strict_until; /* no deferred hand-off before (monotonic ms) */
    int misses;           /* deferred hand-offs in a row no barger used */
    int64_t strict_ms;    /* the next strict period (0: MPMI_TURN_STRICT_MIN_MS) */
    /* the last release handed over at once while deferring was off: when
     * (monotonic us) and by whom */
    int64_t strict_rel_us;
    uint64_t strict_rel_session, strict_rel_thread;
} mpmi_turns;

/* How long (ms) the oldest waiter of q has been first in line for this turn. */
static inline int64_t mpmi_turns_head_age(const mpmi_turns *t, const mpmi_waitq *q, int64_t now)
{
    int64_t since = q->head->parked_ms > t->handed_ms ? q->head->parked_ms : t->handed_ms;
    return now - since;
}

/* A release with waiters: may the hand-off wait for the releaser to come
 * back?  (The caller defers the object, or hands over at once.) */
static inline int mpmi_turns_may_defer(mpmi_turns *t, const mpmi_waitq *q)
{
    if (!q->head) return 0;
    int64_t now = mpmi_now_ms();
    return now >= t->strict_until && mpmi_turns_head_age(t, q, now) < MPMI_TURN_MS;
}

/* An acquire finds it free while waiters wait (a deferred hand-off): has the
 * oldest waiter been passed over long enough, so that it must go first? */
static inline int mpmi_turns_head_due(mpmi_turns *t, const mpmi_waitq *q)
{
    return q->head && mpmi_turns_head_age(t, q, mpmi_now_ms()) >= MPMI_TURN_MS;
}

/* The deferred hand-off runs: taken says whether a barger took what was
 * released.  Unused deferrals in a row turn deferring off for a while. */
static inline void mpmi_turns_deferred_ran(mpmi_turns *t, int taken, const mpmi_waitq *q)
{
    if (taken) {
        t->misses = 0;
        t->strict_ms = MPMI_TURN_STRICT_MIN_MS;
    } else if (q->head && ++t->misses >= MPMI_TURN_MISSES) {
        t->misses = 0;
        if (t->strict_ms < MPMI_TURN_STRICT_MIN_MS) t->strict_ms = MPMI_TURN_STRICT_MIN_MS;
        t->strict_until = mpmi_now_ms() + t->strict_ms;
        t->strict_ms =
            t->strict_ms * 2 > MPMI_TURN_STRICT_MAX_MS ? MPMI_TURN_STRICT_MAX_MS : t->strict_ms * 2;
    }
}

/* A release with waiters was handed over at once: note the releaser, in
 * case deferring is off and it comes straight back (mpmi_turns_came_back). */
static inline void mpmi_turns_handed_at_once(mpmi_turns *t, uint64_t session, uint64_t thread)
{
    t->strict_rel_us = mpmi_now_us();
    t->strict_rel_session = session;
    t->strict_rel_thread = thread;
}

/* An acquire must wait: if deferring is off and this is the releaser of the
 * last hand-off, back sooner than a deferred hand-off waits for it
 * (MPMI_TURN_BACK_US), deferring would have kept its turn: turn deferring
 * back on.  (Releasers that came back too late put it off; these come back
 * in time now - 8 processes looping after the lock was passed to and fro
 * for a while, when the pause had grown long.) */
static inline void mpmi_turns_came_back(mpmi_turns *t, uint64_t session, uint64_t thread)
{
    if (session != t->strict_rel_session || thread != t->strict_rel_thread ||
        mpmi_now_ms() >= t->strict_until || mpmi_now_us() - t->strict_rel_us > MPMI_TURN_BACK_US)
        return;
    t->strict_until = 0;
    t->strict_ms = MPMI_TURN_STRICT_MIN_MS;
    t->misses = 0;
}

/* The oldest waiter was served: its turn starts now. */
static inline void mpmi_turns_handed_over(mpmi_turns *t)
{
    t->handed_ms = mpmi_now_ms();
}

#endif
