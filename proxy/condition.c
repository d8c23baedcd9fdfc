/* condition.c - mpm_condition_*: Python's Condition; wait releases and
 * re-acquires the lock on the server, wait_for runs its predicate here. */
#include <time.h>

#include "client.h"

/* From lock.c (client.h is not this file's to extend). */

static int64_t cond_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mpm_condition_new(mpm_manager *m, mpm_condition **out, void *lock)
{
    const mpmi_handle *lh = lock;
    if (out) *out = NULL;
    if (lh && lh->type != MPM_OBJ_LOCK && lh->type != MPM_OBJ_RLOCK)
        return mpmi_error(MPM_ETYPE, "TypeError: Condition() needs a Lock or an RLock");
    if (lh && lh->m != m)
        return mpmi_error(MPM_EINVAL, "ValueError: the lock belongs to another manager");
    /* nil: the server makes the condition an RLock of its own */
    mpm_val a = lh ? MPM_INT((int64_t)lh->id) : MPM_NONE;
    return mpmi_create(m, MPM_OBJ_CONDITION, 0, &a, 1, (void **)out);
}

void mpm_condition_close(mpm_condition *c)
{
    mpmi_handle_close(c ? &c->h : NULL);
}

int mpm_condition_acquire(mpm_condition *c, int64_t timeout_ms)
{
    return mpmi_lock_acquire_h(c ? &c->h : NULL, timeout_ms, NULL, "mpm_condition_acquire");
}

int mpm_condition_release(mpm_condition *c)
{
    int rc = mpmi_check(c);
    if (rc) return rc;
    mpm_val t = MPM_INT(mpmi_thread_id());
    return mpmi_call(&c->h, MPMI_OP_RELEASE, &t, 1, MPMI_SINK_NONE);
}

int mpm_condition_wait(mpm_condition *c, int64_t timeout_ms, bool *notified)
{
    int rc = mpmi_check(c);
    if (rc) return rc;
    if ((rc = mpmi_check_timeout(timeout_ms))) return rc;
    if (mpmi_in_batch(c->h.m))
        return mpmi_error(MPM_EBATCH, "mpm_condition_wait cannot be queued in a batch");
    bool got = false;
    mpm_val a[2] = {MPM_INT(mpmi_thread_id()), MPM_INT(timeout_ms)};
    rc = mpmi_call(&c->h, MPMI_OP_C_WAIT, a, 2, MPMI_SINK_BOOL(&got));
    if (!rc && notified) *notified = got;
    return rc;
}

int mpm_condition_wait_for(mpm_condition *c, bool (*pred)(void *arg), void *arg, int64_t timeout_ms,
                           bool *result)
{
    int rc = mpmi_check(c);
    if (rc) return rc;
    if (!pred) return mpmi_error(MPM_EINVAL, "mpm_condition_wait_for: pred is NULL");
    if ((rc = mpmi_check_timeout(timeout_ms))) return rc;
    /* Python's wait_for: one deadline for the whole loop, set when the first
     * wait starts; the predicate is checked (with the lock held) after every
     * wake-up, spurious or not */
    int64_t end = -1, left = timeout_ms;
    bool ok = pred(arg);
    while (!ok) {
        if (timeout_ms >= 0) {
            if (end < 0) {
                end = cond_now_ms() + timeout_ms;
            } else {
                left = end - cond_now_ms();
                if (left <= 0) break;
            }
        }
        if ((rc = mpm_condition_wait(c, left, NULL))) break;
        ok = pred(arg);
    }
    if (result) *result = ok;
    return rc;
}

int mpm_condition_notify(mpm_condition *c, int64_t n)
{
    int rc = mpmi_check(c);
    if (rc) return rc;
    mpm_val a[2] = {MPM_INT(mpmi_thread_id()), MPM_INT(n)};
    return mpmi_call(&c->h, MPMI_OP_C_NOTIFY, a, 2, MPMI_SINK_NONE);
}

int mpm_condition_notify_all(mpm_condition *c)
{
    int rc = mpmi_check(c);
    if (rc) return rc;
    mpm_val t = MPM_INT(mpmi_thread_id());
    return mpmi_call(&c->h, MPMI_OP_C_NOTIFY_ALL, &t, 1, MPMI_SINK_NONE);
}
