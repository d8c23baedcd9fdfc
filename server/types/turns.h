/* turns.h - bounded barging, shared by Lock/RLock (lock.c) and Semaphore/
 * BoundedSemaphore (semaphore.c).
 *
 * Waiters are parked in a FIFO and served oldest first, but a release with
 * waiters does not hand over at once: the lock (or permit) stays free until
 * mpmd has looked for input once more (mpmi_defer; up to LOOP_DEFER_US when
 * it does not poll), so a releaser that acquires again at once keeps it
 * (barging).  Handing over at every release made 8 processes looping on one
 * lock do half the pairs of one: each pair waited for a sleeping process to
 * wake.  Barging is allowed only within a turn of MPMI_TURN_MS, counted from
 * the first release after a hand-off (the woken waiter's wake-up does not eat
 * its share); after that the next release or barging attempt serves the
 * oldest waiter.  So waiters are served in arrival order, each holder gets a
 * turn of the same length, and nobody waits longer than the turns of those
 * ahead (Go's sync.Mutex does the like with 1 ms).  A lock passed to and fro,
 * whose releaser does not come back, stops deferring for MPMI_TURN_STRICT_MS
 * after MPMI_TURN_MISSES deferred hand-offs in a row that no barger used. */
#ifndef MPMI_TURNS_H
#define MPMI_TURNS_H

#include "../server.h"

#define MPMI_TURN_MS 5
#define MPMI_TURN_MISSES 3
#define MPMI_TURN_STRICT_MS 50

typedef struct mpmi_turns {
    const mpmi_waiter *head_w; /* the oldest waiter when last looked at ... */
    int64_t head_since;        /* ... and since when it has been first in line */
    int64_t strict_until;      /* no deferred hand-off before (monotonic ms) */
    int misses;                /* deferred hand-offs in a row no barger used */
} mpmi_turns;

/* How long (ms) the oldest waiter of q has been first in line. */
static inline int64_t mpmi_turns_head_age(mpmi_turns *t, const mpmi_waitq *q, int64_t now)
{
    if (q->head != t->head_w) {
        t->head_w = q->head;
        t->head_since = now;
    }
    return now - t->head_since;
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
    } else if (q->head && ++t->misses >= MPMI_TURN_MISSES) {
        t->misses = 0;
        t->strict_until = mpmi_now_ms() + MPMI_TURN_STRICT_MS;
    }
}

/* The oldest waiter was served: the next turn counts from its first release. */
static inline void mpmi_turns_handed_over(mpmi_turns *t)
{
    t->head_w = NULL;
}

/* w leaves the queue without being served: never keep a pointer to it. */
static inline void mpmi_turns_forget(mpmi_turns *t, const mpmi_waiter *w)
{
    if (t->head_w == w) t->head_w = NULL;
}

#endif
