/* lock.c - mpm_lock_* and mpm_rlock_*: Lock and RLock, owned per process and
 * thread, with fencing tokens and owner-death recovery. */
#include "client.h"

/* Shared with condition.c and semaphore.c. */
int mpmi_lock_acquire_h(mpmi_handle *h, int64_t timeout_ms, uint64_t *token, const char *fn)
{
    int rc = mpmi_check(h);
    if (rc) return rc;
    if ((rc = mpmi_check_timeout(timeout_ms))) return rc;
    if (mpmi_in_batch(h->m))
        return mpmi_error(MPM_EBATCH, "%s cannot be queued in a batch", fn);
    mpm_val a[2] = {MPM_INT(mpmi_thread_id()), MPM_INT(timeout_ms)}, *res = NULL;
    rc = mpmi_call(h, MPMI_OP_ACQUIRE, a, 2, MPMI_SINK_VAL(&res));
    if (rc) return rc;
    /* [token, owner_died] when acquired, false when timed out */
    if (res && res->type == MPM_T_LIST && res->v.list.len == 2 &&
        res->v.list.items[0].type == MPM_T_INT && res->v.list.items[1].type == MPM_T_BOOL) {
        int died = res->v.list.items[1].v.b;
        if (token) *token = (uint64_t)res->v.list.items[0].v.i;
        mpm_val_free(res);
        return died ? mpmi_error(MPM_EOWNERDEAD, "%s", mpm_strerror(MPM_EOWNERDEAD)) : 0;
    }
    rc = res && res->type == MPM_T_BOOL && !res->v.b
             ? mpmi_error(MPM_ETIMEDOUT, "timed out")
             : mpmi_error(MPM_EPROTO, "unexpected reply to acquire");
    mpm_val_free(res);
    return rc;
}

static int lock_release_h(mpmi_handle *h)
{
    int rc = mpmi_check(h);
    if (rc) return rc;
    mpm_val t = MPM_INT(mpmi_thread_id());
    return mpmi_call(h, MPMI_OP_RELEASE, &t, 1, MPMI_SINK_NONE);
}

/*---- Lock ----------------------------------------------------------------------*/

int mpm_lock_new(mpm_manager *m, mpm_lock **out)
{
    return mpmi_create(m, MPM_OBJ_LOCK, 0, NULL, 0, (void **)out);
}

void mpm_lock_close(mpm_lock *l)
{
    mpmi_handle_close(l ? &l->h : NULL);
}

int mpm_lock_acquire(mpm_lock *l, int64_t timeout_ms, uint64_t *token)
{
    return mpmi_lock_acquire_h(l ? &l->h : NULL, timeout_ms, token, "mpm_lock_acquire");
}

int mpm_lock_release(mpm_lock *l)
{
    return lock_release_h(l ? &l->h : NULL);
}

int mpm_lock_locked(mpm_lock *l, bool *out)
{
    int rc = mpmi_check(l);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_lock_locked: out is NULL");
    return mpmi_call(&l->h, MPMI_OP_LOCKED, NULL, 0, MPMI_SINK_BOOL(out));
}

/*---- RLock ---------------------------------------------------------------------*/

int mpm_rlock_new(mpm_manager *m, mpm_rlock **out)
{
    return mpmi_create(m, MPM_OBJ_RLOCK, 0, NULL, 0, (void **)out);
}

void mpm_rlock_close(mpm_rlock *r)
{
    mpmi_handle_close(r ? &r->h : NULL);
}

int mpm_rlock_acquire(mpm_rlock *r, int64_t timeout_ms, uint64_t *token)
{
    return mpmi_lock_acquire_h(r ? &r->h : NULL, timeout_ms, token, "mpm_rlock_acquire");
}

int mpm_rlock_release(mpm_rlock *r)
{
    return lock_release_h(r ? &r->h : NULL);
}
