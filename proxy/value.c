/* value.c - mpm_value_*: a shared scalar with an array-module typecode. */
#include "client.h"

int mpm_value_new(mpm_manager *m, mpm_value **out, char typecode, mpm_val init)
{
    mpm_val args[2] = {MPM_STRN(&typecode, 1), init};
    return mpmi_create(m, MPM_OBJ_VALUE, typecode, args, 2, (void **)out);
}

void mpm_value_close(mpm_value *v)
{
    if (v) mpmi_handle_close(&v->h);
}

int mpm_value_get(mpm_value *v, mpm_val **out)
{
    int rc = mpmi_check(v);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_value_get: out is NULL");
    return mpmi_call(&v->h, MPMI_OP_V_GET, NULL, 0, MPMI_SINK_VAL(out));
}

int mpm_value_get_int(mpm_value *v, int64_t *out)
{
    int rc = mpmi_check(v);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_value_get_int: out is NULL");
    /* the int sink truncates a float value, as the API promises */
    return mpmi_call(&v->h, MPMI_OP_V_GET, NULL, 0, MPMI_SINK_INT(out));
}

int mpm_value_get_float(mpm_value *v, double *out)
{
    int rc = mpmi_check(v);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_value_get_float: out is NULL");
    return mpmi_call(&v->h, MPMI_OP_V_GET, NULL, 0, MPMI_SINK_DOUBLE(out));
}

int mpm_value_set(mpm_value *v, mpm_val x)
{
    int rc = mpmi_check(v);
    return rc ? rc : mpmi_call(&v->h, MPMI_OP_V_SET, &x, 1, MPMI_SINK_NONE);
}

int mpm_value_add(mpm_value *v, mpm_val delta, mpm_val **out)
{
    int rc = mpmi_check(v);
    if (rc) return rc;
    return mpmi_call(&v->h, MPMI_OP_V_ADD, &delta, 1, out ? MPMI_SINK_VAL(out) : MPMI_SINK_NONE);
}

int mpm_value_add_int(mpm_value *v, int64_t delta, int64_t *out)
{
    mpm_val d = MPM_INT(delta);
    int rc = mpmi_check(v);
    if (rc) return rc;
    return mpmi_call(&v->h, MPMI_OP_V_ADD, &d, 1, out ? MPMI_SINK_INT(out) : MPMI_SINK_NONE);
}

int mpm_value_cas(mpm_value *v, mpm_val expected, mpm_val desired, bool *swapped)
{
    mpm_val args[2] = {expected, desired};
    int rc = mpmi_check(v);
    if (rc) return rc;
    return mpmi_call(&v->h, MPMI_OP_V_CAS, args, 2,
                     swapped ? MPMI_SINK_BOOL(swapped) : MPMI_SINK_NONE);
}

char mpm_value_typecode(const mpm_value *v)
{
    return v ? v->h.typecode : 0;
}

int mpm_value_repr(mpm_value *v, char **out)
{
    int rc = mpmi_check(v);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_value_repr: out is NULL");
    return mpmi_call(&v->h, MPMI_OP_REPR, NULL, 0, MPMI_SINK_STR(out));
}
