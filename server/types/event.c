/* event.c - Python's Event: a flag that waiters park on until it is set.
 *
 * A set answers every parked waiter at once; answering only queues each reply,
 * so waking thousands costs one pass over the list. */
#include <stdlib.h>

#include "../server.h"

/* Longer than any real wait: treated as no deadline (and no overflow of now + t). */
#define EVENT_FOREVER_MS (INT64_MAX / 4)

typedef struct mpmi_event {
    mpmi_obj base;
    int flag;
    mpmi_waitq q; /* parked waits, oldest first */
} mpmi_event;

static void event_on_timeout(mpmi_waiter *w)
{
    mpmi_event *e = (mpmi_event *)w->obj;
    mpmi_waitq_unlink(&e->q, w);
    /* Python's wait returns the flag as it is on return */
    msgpack_packer *pk = mpmi_answer_pk(w);
    if (e->flag)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    mpmi_answer_done(w);
}

static void event_on_drop(mpmi_waiter *w)
{
    mpmi_waitq_unlink(&((mpmi_event *)w->obj)->q, w);
}

/*---- methods -----------------------------------------------------------------*/

static int event_set(mpmi_obj *o, mpmi_call *c)
{
    mpmi_event *e = (mpmi_event *)o;
    e->flag = 1;
    while (e->q.head) {
        mpmi_waiter *w = e->q.head;
        mpmi_waitq_unlink(&e->q, w);
        msgpack_pack_true(mpmi_answer_pk(w));
        mpmi_answer_done(w);
    }
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int event_clear(mpmi_obj *o, mpmi_call *c)
{
    ((mpmi_event *)o)->flag = 0;
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int event_is_set(mpmi_obj *o, mpmi_call *c)
{
    if (((mpmi_event *)o)->flag) return mpmi_ok(msgpack_pack_true(c->pk));
    return mpmi_ok(msgpack_pack_false(c->pk));
}

/* [timeout_ms] (nil or missing: -1, no deadline) */
static int event_wait(mpmi_obj *o, mpmi_call *c)
{
    mpmi_event *e = (mpmi_event *)o;
    int64_t timeout;
    int rc = mpmi_arg_int_opt(c, 0, -1, &timeout);
    if (rc) return rc;
    if (timeout < -1)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: timeout must be -1 (none) or >= 0");
    if (e->flag) return mpmi_ok(msgpack_pack_true(c->pk));
    if (timeout == 0) return mpmi_ok(msgpack_pack_false(c->pk));
    if (timeout > EVENT_FOREVER_MS) timeout = -1;
    mpmi_waiter *w = mpmi_park(c, timeout, event_on_timeout, event_on_drop);
    if (!w) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    w->obj = o;
    mpmi_waitq_append(&e->q, w);
    return MPMI_PARKED;
}

/*---- type --------------------------------------------------------------------*/

static int event_create(mpmi_call *c, mpmi_obj **out)
{
    if (c->argc > 1)
        return mpmi_fail(c, MPM_EARGS, "TypeError: Event() takes no arguments (%d given)",
                         c->argc - 1);
    mpmi_event *e = calloc(1, sizeof *e);
    if (!e) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    *out = &e->base;
    return 0;
}

static void event_destroy(mpmi_obj *o)
{
    mpmi_event *e = (mpmi_event *)o;
    while (e->q.head) {
        mpmi_waiter *w = e->q.head;
        mpmi_waitq_unlink(&e->q, w);
        mpmi_answer_err(w, MPM_ENOOBJ, "the Event was deleted while waiting");
    }
    free(e);
}

static int event_repr(mpmi_obj *o, mpmi_buf *out)
{
    mpmi_buf_puts(out, ((mpmi_event *)o)->flag ? "<Event set>" : "<Event unset>");
    return out->oom ? MPM_ENOMEM : 0;
}

static int event_copy(mpmi_obj *o, msgpack_packer *pk)
{
    if (((mpmi_event *)o)->flag) return mpmi_ok(msgpack_pack_true(pk));
    return mpmi_ok(msgpack_pack_false(pk));
}

static const mpmi_method event_methods[] = {
    {MPMI_OP_E_SET, event_set, 0, 0, MPMI_MUTATES},
    {MPMI_OP_E_CLEAR, event_clear, 0, 0, MPMI_MUTATES},
    {MPMI_OP_E_ISSET, event_is_set, 0, 0, 0},
    {MPMI_OP_E_WAIT, event_wait, 0, 1, 0},
    {0},
};

const mpmi_type mpmi_type_event = {
    .code = MPM_OBJ_EVENT,
    .name = "Event",
    .create = event_create,
    .destroy = event_destroy,
    .repr = event_repr,
    .copy = event_copy,
    .methods = event_methods,
};
