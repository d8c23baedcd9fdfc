/* dict.c - mpm_dict_*: the shared dict's typed calls. */
#include <stdio.h>
#include <stdlib.h>

#include "client.h"

#define DICT_CALL(d, op, args, n, sink) \
    (mpmi_check(d) ? MPM_EINVAL : mpmi_call(&(d)->h, (op), (args), (n), (sink)))

int mpm_dict_new(mpm_manager *m, mpm_dict **out)
{
    return mpmi_create(m, MPM_OBJ_DICT, 0, NULL, 0, (void **)out);
}

int mpm_dict_new_from(mpm_manager *m, mpm_dict **out, mpm_val init)
{
    if (init.type != MPM_T_DICT) {
        if (out) *out = NULL;
        return mpmi_error(MPM_ETYPE, "TypeError: a dict is made from an MPM_T_DICT value");
    }
    return mpmi_create(m, MPM_OBJ_DICT, 0, &init, 1, (void **)out);
}

void mpm_dict_close(mpm_dict *d)
{
    mpmi_handle_close(d ? &d->h : NULL);
}

int mpm_dict_set(mpm_dict *d, mpm_val key, mpm_val value)
{
    mpm_val a[2] = {key, value};
    return DICT_CALL(d, MPMI_OP_SETITEM, a, 2, MPMI_SINK_NONE);
}

int mpm_dict_get(mpm_dict *d, mpm_val key, mpm_val **out)
{
    return DICT_CALL(d, MPMI_OP_GETITEM, &key, 1, MPMI_SINK_VAL(out));
}

int mpm_dict_get_default(mpm_dict *d, mpm_val key, mpm_val dflt, mpm_val **out)
{
    mpm_val a[2] = {key, dflt};
    return DICT_CALL(d, MPMI_OP_D_GET, a, 2, MPMI_SINK_VAL(out));
}

int mpm_dict_del(mpm_dict *d, mpm_val key)
{
    return DICT_CALL(d, MPMI_OP_DELITEM, &key, 1, MPMI_SINK_NONE);
}

int mpm_dict_contains(mpm_dict *d, mpm_val key, bool *out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    return DICT_CALL(d, MPMI_OP_CONTAINS, &key, 1, MPMI_SINK_BOOL(out));
}

int mpm_dict_len(mpm_dict *d, size_t *out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    return DICT_CALL(d, MPMI_OP_LEN, NULL, 0, MPMI_SINK_SIZE(out));
}

int mpm_dict_keys(mpm_dict *d, mpm_val **out)
{
    return DICT_CALL(d, MPMI_OP_D_KEYS, NULL, 0, MPMI_SINK_VAL(out));
}

int mpm_dict_values(mpm_dict *d, mpm_val **out)
{
    return DICT_CALL(d, MPMI_OP_D_VALUES, NULL, 0, MPMI_SINK_VAL(out));
}

int mpm_dict_items(mpm_dict *d, mpm_val **out)
{
    return DICT_CALL(d, MPMI_OP_D_ITEMS, NULL, 0, MPMI_SINK_VAL(out));
}

int mpm_dict_copy(mpm_dict *d, mpm_val **out)
{
    return DICT_CALL(d, MPMI_OP_COPY, NULL, 0, MPMI_SINK_VAL(out));
}

int mpm_dict_update(mpm_dict *d, mpm_val pairs)
{
    if (pairs.type != MPM_T_DICT)
        return mpmi_error(MPM_ETYPE, "TypeError: update needs an MPM_T_DICT value");
    return DICT_CALL(d, MPMI_OP_D_UPDATE, &pairs, 1, MPMI_SINK_NONE);
}

int mpm_dict_update_from(mpm_dict *d, mpm_dict *other)
{
    if (mpmi_check(other)) return MPM_EINVAL;
    mpm_val id = MPM_INT((int64_t)other->h.id);
    return DICT_CALL(d, MPMI_OP_D_UPDATE_FROM, &id, 1, MPMI_SINK_NONE);
}

int mpm_dict_pop(mpm_dict *d, mpm_val key, mpm_val **out)
{
    return DICT_CALL(d, MPMI_OP_D_POP, &key, 1, MPMI_SINK_VAL(out));
}

int mpm_dict_pop_default(mpm_dict *d, mpm_val key, mpm_val dflt, mpm_val **out)
{
    mpm_val a[2] = {key, dflt};
    return DICT_CALL(d, MPMI_OP_D_POP, a, 2, MPMI_SINK_VAL(out));
}

int mpm_dict_popitem(mpm_dict *d, mpm_val **key, mpm_val **value)
{
    return DICT_CALL(d, MPMI_OP_D_POPITEM, NULL, 0, MPMI_SINK_PAIR(key, value));
}

int mpm_dict_setdefault(mpm_dict *d, mpm_val key, mpm_val dflt, mpm_val **out)
{
    mpm_val a[2] = {key, dflt};
    return DICT_CALL(d, MPMI_OP_D_SETDEFAULT, a, 2, MPMI_SINK_VAL(out));
}

int mpm_dict_clear(mpm_dict *d)
{
    return DICT_CALL(d, MPMI_OP_D_CLEAR, NULL, 0, MPMI_SINK_NONE);
}

int mpm_dict_repr(mpm_dict *d, char **out)
{
    return mpm_handle_repr(d, out);
}

int mpm_dict_print(mpm_dict *d)
{
    return mpm_handle_print(d);
}
