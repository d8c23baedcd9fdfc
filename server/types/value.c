/* value.c - Python's manager.Value(typecode, value), with the typecode
 * enforced as multiprocessing.Value's C type would, and atomic add and
 * compare-and-set so that counters need no lock.  One event-loop thread runs
 * every method, so each method is atomic as it stands. */
#include <stdlib.h>

#include "numeric.h"

typedef struct mpmi_value {
    mpmi_obj base;
    char tc;
    mpmi_num x;
} mpmi_value;

/*---- methods -----------------------------------------------------------------*/

static int value_get(mpmi_obj *o, mpmi_call *c)
{
    mpmi_value *v = (mpmi_value *)o;
    mpmi_num_pack(c->pk, v->tc, v->x);
    return 0;
}

static int value_set(mpmi_obj *o, mpmi_call *c)
{
    mpmi_value *v = (mpmi_value *)o;
    mpmi_num x;
    int rc = mpmi_num_from(c, v->tc, c->argv[0].p, c->argv[0].n, &x);
    if (rc) return rc;
    v->x = x;
    msgpack_pack_nil(c->pk);
    return 0;
}

static int value_add(mpmi_obj *o, mpmi_call *c)
{
    mpmi_value *v = (mpmi_value *)o;
    mpmi_num x;
    int rc = mpmi_num_add(c, v->tc, v->x, c->argv[0].p, c->argv[0].n, &x);
    if (rc) return rc;
    v->x = x;
    mpmi_num_pack(c->pk, v->tc, x);
    return 0;
}

static int value_cas(mpmi_obj *o, mpmi_call *c)
{
    mpmi_value *v = (mpmi_value *)o;
    mpmi_num desired;
    /* a desired value the typecode cannot hold is an error whether or not
     * expected matches: the caller's bug should not depend on a race */
    int rc = mpmi_num_from(c, v->tc, c->argv[1].p, c->argv[1].n, &desired);
    if (rc) return rc;
    if (!mpmi_num_eq(v->tc, v->x, c->argv[0].p, c->argv[0].n)) {
        msgpack_pack_false(c->pk);
        return 0;
    }
    v->x = desired;
    msgpack_pack_true(c->pk);
    return 0;
}

/*---- type --------------------------------------------------------------------*/

/* argv: [type, typecode, value?] */
static int value_create(mpmi_call *c, mpmi_obj **out)
{
    char tc;
    mpmi_num x = {0};
    if (c->argc > 3)
        return mpmi_fail(c, MPM_EARGS, "TypeError: Value() takes at most 2 arguments (%d given)",
                         c->argc - 1);
    int rc = mpmi_num_arg_typecode(c, 1, "Value", &tc);
    if (rc) return rc;
    if (c->argc > 2 && (rc = mpmi_num_from(c, tc, c->argv[2].p, c->argv[2].n, &x))) return rc;
    mpmi_value *v = calloc(1, sizeof *v);
    if (!v) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    v->tc = tc;
    v->x = x;
    *out = &v->base;
    return 0;
}

static void value_destroy(mpmi_obj *o)
{
    free(o);
}

static int value_repr(mpmi_obj *o, mpmi_buf *out)
{
    mpmi_value *v = (mpmi_value *)o;
    mpmi_buf_printf(out, "Value('%c', ", v->tc);
    mpmi_num_repr(out, v->tc, v->x);
    mpmi_buf_putc(out, ')');
    return out->oom ? MPM_ENOMEM : 0;
}

static int value_copy(mpmi_obj *o, msgpack_packer *pk)
{
    mpmi_value *v = (mpmi_value *)o;
    mpmi_num_pack(pk, v->tc, v->x);
    return 0;
}

static char value_typecode(mpmi_obj *o)
{
    return ((mpmi_value *)o)->tc;
}

static const mpmi_method value_methods[] = {
    {MPMI_OP_V_GET, value_get, 0, 0, 0},
    {MPMI_OP_V_SET, value_set, 1, 1, MPMI_MUTATES},
    {MPMI_OP_V_ADD, value_add, 1, 1, MPMI_MUTATES},
    {MPMI_OP_V_CAS, value_cas, 2, 2, MPMI_MUTATES},
    {0},
};

const mpmi_type mpmi_type_value = {
    .code = MPM_OBJ_VALUE,
    .name = "Value",
    .create = value_create,
    .destroy = value_destroy,
    .repr = value_repr,
    .copy = value_copy,
    .typecode = value_typecode,
    .methods = value_methods,
};
