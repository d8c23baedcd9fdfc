/* lockcore.h - what a Condition needs of its Lock or RLock (lock.c).
 *
 * A Condition keeps no lock state of its own: it is all in the lock object, so
 * the lock is one whichever handle (the lock's or the condition's) acquires
 * it.  These calls let condition.c release the lock for a wait and park its
 * waiter in the lock's FIFO to get it back, atomically on the server. */
#ifndef MPMI_LOCKCORE_H
#define MPMI_LOCKCORE_H

#include "../server.h"

/* A Condition's link to its lock.  References keep the lock alive while a
 * condition uses it, but at shutdown the objects nobody released (named ones,
 * say) are destroyed in any order: the lock then clears *lockp, so the
 * condition never touches a freed lock. */
typedef struct mpmi_lockcore_link {
    mpmi_obj **lockp;
    struct mpmi_lockcore_link *next, *prev;
} mpmi_lockcore_link;

/* Whether o is a Lock or an RLock. */
int mpmi_lockcore_is_lock(const mpmi_obj *o);

/* A new RLock object of the server's own (a Condition made without a lock),
 * registered in the object table with no references: the caller takes one
 * with mpmi_obj_ref.  NULL when out of memory. */
mpmi_obj *mpmi_lockcore_new_rlock(mpmi_srv *s);

/* Take the lock's reference for a Condition and link it (see above). */
void mpmi_lockcore_attach(mpmi_obj *lock, mpmi_lockcore_link *link);
/* Undo mpmi_lockcore_attach, dropping the reference; the lock may die. */
void mpmi_lockcore_detach(mpmi_lockcore_link *link);

/* Whether the lock is held by this session's thread. */
int mpmi_lockcore_owned(mpmi_obj *lock, uint64_t session, uint64_t thread);

/* The lock's ACQUIRE and RELEASE methods, for a Condition to delegate to
 * (same arguments, same answers; c->argv[0] is the thread). */
int mpmi_lockcore_acquire(mpmi_obj *lock, mpmi_call *c);
int mpmi_lockcore_release(mpmi_obj *lock, mpmi_call *c);

/* Whether waiters are queued for the lock (a Condition's wait with timeout 0
 * must then let them go first, as Python's release-and-reacquire does). */
int mpmi_lockcore_contended(mpmi_obj *lock);

/* Release every recursion level its owner holds, for a wait, handing the lock
 * to its first waiter; returns the recursion count to restore later (1 for a
 * Lock).  The caller has checked ownership. */
int64_t mpmi_lockcore_release_all(mpmi_obj *lock);

/* Give a parked Condition wait w the lock back with count recursion levels.
 * If the lock is free it is taken at once and w is answered now; otherwise w
 * joins the end of the lock's FIFO (w->obj becomes the lock, and its on_drop
 * and on_timeout the lock's: the deadline no longer applies, as Python's
 * re-acquire after a wait has none) and is answered when granted.  Either way
 * the answer is the bool notified.  Call only where answering is allowed (not
 * inside the method that parked w). */
void mpmi_lockcore_reacquire(mpmi_obj *lock, mpmi_waiter *w, int64_t count, int notified);

#endif
