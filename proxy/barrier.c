/* barrier.c - mpm_barrier_*: Python's Barrier, broken rather than hung. */
#include "client.h"

int mpm_barrier_new(mpm_manager *m, mpm_barrier **out, int64_t parties, int64_t timeout_ms)
{
    int rc = mpmi_check_timeout(timeout_ms);
    if (rc) {
        if (out) *out = NULL;
        return rc;
    }
    mpm_val a[2] = {MPM_INT(parties), MPM_INT(timeout_ms)};
    return mpmi_create(m, MPM_OBJ_BARRIER, 0, a, 2, (void **)out);
}

void mpm_barrier_close(mpm_barrier *b)
{
    mpmi_handle_close(b ? &b->h : NULL);
}

int mpm_barrier_wait(mpm_barrier *b, int64_t timeout_ms, int64_t *index)
{
    int rc = mpmi_check(b);
    if (rc) return rc;
    if (timeout_ms != MPM_BARRIER_DEFAULT && (rc = mpmi_check_timeout(timeout_ms))) return rc;
    if (mpmi_in_batch(b->h.m))
        return mpmi_error(MPM_EBATCH, "mpm_barrier_wait cannot be queued in a batch");
    /* nil: the barrier's own default, kept on the server */
    mpm_val t = timeout_ms == MPM_BARRIER_DEFAULT ? MPM_NONE : MPM_INT(timeout_ms);
    return mpmi_call(&b->h, MPMI_OP_B_WAIT, &t, 1, index ? MPMI_SINK_INT(index) : MPMI_SINK_NONE);
}

int mpm_barrier_abort(mpm_barrier *b)
{
    int rc = mpmi_check(b);
    return rc ? rc : mpmi_call(&b->h, MPMI_OP_B_ABORT, NULL, 0, MPMI_SINK_NONE);
}

int mpm_barrier_reset(mpm_barrier *b)
{
    int rc = mpmi_check(b);
    return rc ? rc : mpmi_call(&b->h, MPMI_OP_B_RESET, NULL, 0, MPMI_SINK_NONE);
}

int mpm_barrier_parties(mpm_barrier *b, int64_t *out)
{
    int rc = mpmi_check(b);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_barrier_parties: out is NULL");
    return mpmi_call(&b->h, MPMI_OP_B_PARTIES, NULL, 0, MPMI_SINK_INT(out));
}

int mpm_barrier_n_waiting(mpm_barrier *b, int64_t *out)
{
    int rc = mpmi_check(b);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_barrier_n_waiting: out is NULL");
    return mpmi_call(&b->h, MPMI_OP_B_NWAITING, NULL, 0, MPMI_SINK_INT(out));
}

int mpm_barrier_broken(mpm_barrier *b, bool *out)
{
    int rc = mpmi_check(b);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_barrier_broken: out is NULL");
    return mpmi_call(&b->h, MPMI_OP_B_BROKEN, NULL, 0, MPMI_SINK_BOOL(out));
}
