/* queue.c - mpm_queue_*: Queue and JoinableQueue.
 *
 * A call that may wait (timeout != 0), and one whose result code depends on
 * the answer (put_many's count, join's flag), refuses inside a batch: it
 * cannot be queued and answered later.  put/get with timeout 0 may be batched. */
#include "client.h"

static int queue_no_batch(mpm_queue *q, const char *fn)
{
    if (mpmi_in_batch(q->h.m)) return mpmi_error(MPM_EBATCH, "%s cannot be queued in a batch", fn);
    return 0;
}

int mpm_queue_new(mpm_manager *m, mpm_queue **out, int64_t maxsize)
{
    mpm_val v = MPM_INT(maxsize);
    return mpmi_create(m, MPM_OBJ_QUEUE, 0, &v, 1, (void **)out);
}

int mpm_joinable_queue_new(mpm_manager *m, mpm_queue **out, int64_t maxsize)
{
    mpm_val v = MPM_INT(maxsize);
    return mpmi_create(m, MPM_OBJ_JOINABLE_QUEUE, 0, &v, 1, (void **)out);
}

void mpm_queue_close(mpm_queue *q)
{
    mpmi_handle_close(q ? &q->h : NULL);
}

int mpm_queue_put(mpm_queue *q, mpm_val item, int64_t timeout_ms)
{
    int rc = mpmi_check(q);
    if (rc || (rc = mpmi_check_timeout(timeout_ms))) return rc;
    if (timeout_ms != 0 && (rc = queue_no_batch(q, "mpm_queue_put"))) return rc;
    mpm_val a[2] = {item, MPM_INT(timeout_ms)};
    return mpmi_call(&q->h, MPMI_OP_Q_PUT, a, 2, MPMI_SINK_NONE);
}

int mpm_queue_put_nowait(mpm_queue *q, mpm_val item)
{
    return mpm_queue_put(q, item, 0);
}

int mpm_queue_get(mpm_queue *q, int64_t timeout_ms, mpm_val **out)
{
    int rc = mpmi_check(q);
    if (rc || (rc = mpmi_check_timeout(timeout_ms))) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_queue_get: out is NULL");
    if (timeout_ms != 0 && (rc = queue_no_batch(q, "mpm_queue_get"))) return rc;
    mpm_val t = MPM_INT(timeout_ms);
    return mpmi_call(&q->h, MPMI_OP_Q_GET, &t, 1, MPMI_SINK_VAL(out));
}

int mpm_queue_get_nowait(mpm_queue *q, mpm_val **out)
{
    return mpm_queue_get(q, 0, out);
}

int mpm_queue_put_many(mpm_queue *q, mpm_val items, int64_t timeout_ms, size_t *nput)
{
    size_t put = 0;
    if (nput) *nput = 0;
    int rc = mpmi_check(q);
    if (rc || (rc = mpmi_check_timeout(timeout_ms))) return rc;
    if (items.type != MPM_T_LIST)
        return mpmi_error(MPM_EINVAL, "mpm_queue_put_many: items must be an MPM_T_LIST");
    /* Full depends on the count answered */
    if ((rc = queue_no_batch(q, "mpm_queue_put_many"))) return rc;
    mpm_val a[2] = {items, MPM_INT(timeout_ms)};
    rc = mpmi_call(&q->h, MPMI_OP_Q_PUT_MANY, a, 2, MPMI_SINK_SIZE(&put));
    if (rc) return rc;
    if (nput) *nput = put;
    /* the server answers how many went in, even when not all did */
    if (put < items.v.list.len) return mpmi_error(MPM_EFULL, "Full");
    return 0;
}

int mpm_queue_get_many(mpm_queue *q, size_t max, int64_t timeout_ms, mpm_val **out)
{
    int rc = mpmi_check(q);
    if (rc || (rc = mpmi_check_timeout(timeout_ms))) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_queue_get_many: out is NULL");
    if (max == 0 || max > INT64_MAX)
        return mpmi_error(MPM_EINVAL, "mpm_queue_get_many: max must be one or more");
    if (timeout_ms != 0 && (rc = queue_no_batch(q, "mpm_queue_get_many"))) return rc;
    mpm_val a[2] = {MPM_INT((int64_t)max), MPM_INT(timeout_ms)};
    return mpmi_call(&q->h, MPMI_OP_Q_GET_MANY, a, 2, MPMI_SINK_VAL(out));
}

int mpm_queue_qsize(mpm_queue *q, size_t *out)
{
    int rc = mpmi_check(q);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_queue_qsize: out is NULL");
    return mpmi_call(&q->h, MPMI_OP_Q_QSIZE, NULL, 0, MPMI_SINK_SIZE(out));
}

int mpm_queue_empty(mpm_queue *q, bool *out)
{
    int rc = mpmi_check(q);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_queue_empty: out is NULL");
    return mpmi_call(&q->h, MPMI_OP_Q_EMPTY, NULL, 0, MPMI_SINK_BOOL(out));
}

int mpm_queue_full(mpm_queue *q, bool *out)
{
    int rc = mpmi_check(q);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_queue_full: out is NULL");
    return mpmi_call(&q->h, MPMI_OP_Q_FULL, NULL, 0, MPMI_SINK_BOOL(out));
}

int mpm_queue_task_done(mpm_queue *q)
{
    int rc = mpmi_check(q);
    return rc ? rc : mpmi_call(&q->h, MPMI_OP_Q_TASK_DONE, NULL, 0, MPMI_SINK_NONE);
}

int mpm_queue_join(mpm_queue *q, int64_t timeout_ms)
{
    int rc = mpmi_check(q);
    if (rc || (rc = mpmi_check_timeout(timeout_ms))) return rc;
    /* the answer (false: timed out) is needed now */
    if ((rc = queue_no_batch(q, "mpm_queue_join"))) return rc;
    bool done = false;
    mpm_val t = MPM_INT(timeout_ms);
    rc = mpmi_call(&q->h, MPMI_OP_Q_JOIN, &t, 1, MPMI_SINK_BOOL(&done));
    if (rc) return rc;
    return done ? 0 : mpmi_error(MPM_ETIMEDOUT, "timed out");
}
