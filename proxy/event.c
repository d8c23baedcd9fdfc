/* event.c - mpm_event_*: a flag processes wait on. */
#include "client.h"

int mpm_event_new(mpm_manager *m, mpm_event **out)
{
    return mpmi_create(m, MPM_OBJ_EVENT, 0, NULL, 0, (void **)out);
}

void mpm_event_close(mpm_event *e)
{
    mpmi_handle_close(e ? &e->h : NULL);
}

int mpm_event_set(mpm_event *e)
{
    int rc = mpmi_check(e);
    return rc ? rc : mpmi_call(&e->h, MPMI_OP_E_SET, NULL, 0, MPMI_SINK_NONE);
}

int mpm_event_clear(mpm_event *e)
{
    int rc = mpmi_check(e);
    return rc ? rc : mpmi_call(&e->h, MPMI_OP_E_CLEAR, NULL, 0, MPMI_SINK_NONE);
}

int mpm_event_is_set(mpm_event *e, bool *out)
{
    int rc = mpmi_check(e);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_event_is_set: out is NULL");
    return mpmi_call(&e->h, MPMI_OP_E_ISSET, NULL, 0, MPMI_SINK_BOOL(out));
}

int mpm_event_wait(mpm_event *e, int64_t timeout_ms, bool *flag)
{
    int rc = mpmi_check(e);
    if (rc) return rc;
    if ((rc = mpmi_check_timeout(timeout_ms))) return rc;
    /* its answer decides what the caller does next (as for an acquire) */
    if (mpmi_in_batch(e->h.m))
        return mpmi_error(MPM_EBATCH, "mpm_event_wait cannot be queued in a batch");
    mpm_val t = MPM_INT(timeout_ms);
    /* a timeout is not an error: the flag says it (false), as Python's wait returns */
    return mpmi_call(&e->h, MPMI_OP_E_WAIT, &t, 1, flag ? MPMI_SINK_BOOL(flag) : MPMI_SINK_NONE);
}
