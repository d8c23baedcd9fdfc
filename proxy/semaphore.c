/* semaphore.c - mpm_semaphore_*: Semaphore and BoundedSemaphore. */
#include "client.h"

int mpm_semaphore_new(mpm_manager *m, mpm_semaphore **out, int64_t value, bool bounded)
{
    mpm_val v = MPM_INT(value);
    return mpmi_create(m, bounded ? MPM_OBJ_BOUNDED_SEMAPHORE : MPM_OBJ_SEMAPHORE, 0, &v, 1,
                       (void **)out);
}

void mpm_semaphore_close(mpm_semaphore *s)
{
    mpmi_handle_close(s ? &s->h : NULL);
}

int mpm_semaphore_acquire(mpm_semaphore *s, int64_t timeout_ms)
{
    /* the same call and answer as a lock's (a permit has no token nor owner) */
    return mpmi_lock_acquire_h(s ? &s->h : NULL, timeout_ms, NULL, "mpm_semaphore_acquire");
}

int mpm_semaphore_release(mpm_semaphore *s, int64_t n)
{
    int rc = mpmi_check(s);
    if (rc) return rc;
    mpm_val a[2] = {MPM_INT(mpmi_thread_id()), MPM_INT(n)};
    return mpmi_call(&s->h, MPMI_OP_RELEASE, a, 2, MPMI_SINK_NONE);
}

int mpm_semaphore_value(mpm_semaphore *s, int64_t *out)
{
    int rc = mpmi_check(s);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_semaphore_value: out is NULL");
    return mpmi_call(&s->h, MPMI_OP_S_VALUE, NULL, 0, MPMI_SINK_INT(out));
}
