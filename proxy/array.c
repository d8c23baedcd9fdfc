/* array.c - mpm_array_*: a shared fixed-length array with an array-module
 * typecode. */
#include "client.h"

int mpm_array_new(mpm_manager *m, mpm_array **out, char typecode, mpm_val items)
{
    mpm_val args[2] = {MPM_STRN(&typecode, 1), items};
    return mpmi_create(m, MPM_OBJ_ARRAY, typecode, args, 2, (void **)out);
}

int mpm_array_new_zeroed(mpm_manager *m, mpm_array **out, char typecode, size_t n)
{
    if (n > INT64_MAX) {
        if (out) *out = NULL;
        return mpmi_error(MPM_EINVAL, "mpm_array_new_zeroed: size too large");
    }
    mpm_val args[2] = {MPM_STRN(&typecode, 1), MPM_INT(n)};
    return mpmi_create(m, MPM_OBJ_ARRAY, typecode, args, 2, (void **)out);
}

void mpm_array_close(mpm_array *a)
{
    if (a) mpmi_handle_close(&a->h);
}

int mpm_array_get(mpm_array *a, int64_t i, mpm_val **out)
{
    mpm_val idx = MPM_INT(i);
    int rc = mpmi_check(a);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_array_get: out is NULL");
    return mpmi_call(&a->h, MPMI_OP_GETITEM, &idx, 1, MPMI_SINK_VAL(out));
}

int mpm_array_set(mpm_array *a, int64_t i, mpm_val x)
{
    mpm_val args[2] = {MPM_INT(i), x};
    int rc = mpmi_check(a);
    return rc ? rc : mpmi_call(&a->h, MPMI_OP_SETITEM, args, 2, MPMI_SINK_NONE);
}

int mpm_array_get_slice(mpm_array *a, mpm_slice s, mpm_val **out)
{
    mpm_val args[3];
    int rc = mpmi_check(a);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_array_get_slice: out is NULL");
    mpmi_slice_args(s, args);
    return mpmi_call(&a->h, MPMI_OP_L_GETSLICE, args, 3, MPMI_SINK_VAL(out));
}

int mpm_array_set_slice(mpm_array *a, mpm_slice s, mpm_val items)
{
    mpm_val args[4];
    int rc = mpmi_check(a);
    if (rc) return rc;
    mpmi_slice_args(s, args);
    args[3] = items;
    return mpmi_call(&a->h, MPMI_OP_L_SETSLICE, args, 4, MPMI_SINK_NONE);
}

int mpm_array_len(mpm_array *a, size_t *out)
{
    int rc = mpmi_check(a);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_array_len: out is NULL");
    return mpmi_call(&a->h, MPMI_OP_LEN, NULL, 0, MPMI_SINK_SIZE(out));
}

int mpm_array_contains(mpm_array *a, mpm_val x, bool *out)
{
    int rc = mpmi_check(a);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_array_contains: out is NULL");
    return mpmi_call(&a->h, MPMI_OP_CONTAINS, &x, 1, MPMI_SINK_BOOL(out));
}

int mpm_array_tolist(mpm_array *a, mpm_val **out)
{
    int rc = mpmi_check(a);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_array_tolist: out is NULL");
    return mpmi_call(&a->h, MPMI_OP_COPY, NULL, 0, MPMI_SINK_VAL(out));
}

char mpm_array_typecode(const mpm_array *a)
{
    return a ? a->h.typecode : 0;
}

int mpm_array_repr(mpm_array *a, char **out)
{
    int rc = mpmi_check(a);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_array_repr: out is NULL");
    return mpmi_call(&a->h, MPMI_OP_REPR, NULL, 0, MPMI_SINK_STR(out));
}
