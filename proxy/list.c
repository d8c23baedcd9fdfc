/* list.c - mpm_list_*: the shared list's typed calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define LIST_CALL(l, op, args, n, sink)                                                            \
    (mpmi_check(l) ? MPM_EINVAL : mpmi_call(&(l)->h, (op), (args), (n), (sink)))

/* An omitted bound travels as None. */
static mpm_val list_bound(int64_t i)
{
    return i == MPM_NIL_INDEX ? MPM_NONE : MPM_INT(i);
}

/* Argument lists are checked here: the server would take a str or a dict as
 * "not iterable" and say so less clearly. */
static int list_need_list(mpm_val v, const char *what)
{
    if (v.type == MPM_T_LIST) return 0;
    return mpmi_error(MPM_ETYPE, "TypeError: %s needs an MPM_T_LIST value", what);
}

int mpm_list_new(mpm_manager *m, mpm_list **out)
{
    return mpmi_create(m, MPM_OBJ_LIST, 0, NULL, 0, (void **)out);
}

int mpm_list_new_from(mpm_manager *m, mpm_list **out, mpm_val init)
{
    if (init.type != MPM_T_LIST) {
        if (out) *out = NULL;
        return mpmi_error(MPM_ETYPE, "TypeError: a list is made from an MPM_T_LIST value");
    }
    return mpmi_create(m, MPM_OBJ_LIST, 0, &init, 1, (void **)out);
}

int mpm_list_new_range(mpm_manager *m, mpm_list **out, int64_t start, int64_t stop)
{
    /* unsigned difference: stop - start may not fit an int64 */
    uint64_t n = stop > start ? (uint64_t)stop - (uint64_t)start : 0;
    if (n > UINT32_MAX) {
        if (out) *out = NULL;
        return mpmi_error(MPM_ETOOBIG, "range of %llu items is too large", (unsigned long long)n);
    }
    mpm_val *items = malloc((n ? n : 1) * sizeof *items);
    if (!items) {
        if (out) *out = NULL;
        return mpmi_error(MPM_ENOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < n; i++)
        items[i] = MPM_INT(start + (int64_t)i);
    mpm_val init = MPM_LIST(items, (size_t)n);
    int rc = mpmi_create(m, MPM_OBJ_LIST, 0, &init, 1, (void **)out);
    /* arguments are packed by the call (or by the batch queueing it) */
    free(items);
    return rc;
}

void mpm_list_close(mpm_list *l)
{
    mpmi_handle_close(l ? &l->h : NULL);
}

int mpm_list_get(mpm_list *l, int64_t i, mpm_val **out)
{
    mpm_val a = MPM_INT(i);
    return LIST_CALL(l, MPMI_OP_GETITEM, &a, 1, MPMI_SINK_VAL(out));
}

int mpm_list_set(mpm_list *l, int64_t i, mpm_val value)
{
    mpm_val a[2] = {MPM_INT(i), value};
    return LIST_CALL(l, MPMI_OP_SETITEM, a, 2, MPMI_SINK_NONE);
}

int mpm_list_del(mpm_list *l, int64_t i)
{
    mpm_val a = MPM_INT(i);
    return LIST_CALL(l, MPMI_OP_DELITEM, &a, 1, MPMI_SINK_NONE);
}

int mpm_list_get_slice(mpm_list *l, mpm_slice s, mpm_val **out)
{
    mpm_val a[3];
    mpmi_slice_args(s, a);
    return LIST_CALL(l, MPMI_OP_L_GETSLICE, a, 3, MPMI_SINK_VAL(out));
}

int mpm_list_set_slice(mpm_list *l, mpm_slice s, mpm_val items)
{
    mpm_val a[4];
    if (list_need_list(items, "slice assignment")) return MPM_ETYPE;
    mpmi_slice_args(s, a);
    a[3] = items;
    return LIST_CALL(l, MPMI_OP_L_SETSLICE, a, 4, MPMI_SINK_NONE);
}

int mpm_list_del_slice(mpm_list *l, mpm_slice s)
{
    mpm_val a[3];
    mpmi_slice_args(s, a);
    return LIST_CALL(l, MPMI_OP_L_DELSLICE, a, 3, MPMI_SINK_NONE);
}

int mpm_list_append(mpm_list *l, mpm_val value)
{
    return LIST_CALL(l, MPMI_OP_L_APPEND, &value, 1, MPMI_SINK_NONE);
}

int mpm_list_extend(mpm_list *l, mpm_val items)
{
    if (list_need_list(items, "extend")) return MPM_ETYPE;
    return LIST_CALL(l, MPMI_OP_L_EXTEND, &items, 1, MPMI_SINK_NONE);
}

int mpm_list_extend_from(mpm_list *l, mpm_list *other)
{
    if (mpmi_check(l) || mpmi_check(other)) return MPM_EINVAL;
    /* an id means something only on the server that issued it */
    if (other->h.m != l->h.m &&
        strcmp(mpm_manager_address(other->h.m), mpm_manager_address(l->h.m)) != 0)
        return mpmi_error(MPM_EINVAL, "ValueError: the lists live on different servers");
    mpm_val id = MPM_INT((int64_t)other->h.id);
    return mpmi_call(&l->h, MPMI_OP_L_EXTEND_FROM, &id, 1, MPMI_SINK_NONE);
}

int mpm_list_insert(mpm_list *l, int64_t i, mpm_val value)
{
    mpm_val a[2] = {MPM_INT(i), value};
    return LIST_CALL(l, MPMI_OP_L_INSERT, a, 2, MPMI_SINK_NONE);
}

int mpm_list_pop(mpm_list *l, mpm_val **out)
{
    return LIST_CALL(l, MPMI_OP_L_POP, NULL, 0, out ? MPMI_SINK_VAL(out) : MPMI_SINK_NONE);
}

int mpm_list_pop_at(mpm_list *l, int64_t i, mpm_val **out)
{
    mpm_val a = MPM_INT(i);
    return LIST_CALL(l, MPMI_OP_L_POP, &a, 1, out ? MPMI_SINK_VAL(out) : MPMI_SINK_NONE);
}

int mpm_list_remove(mpm_list *l, mpm_val value)
{
    return LIST_CALL(l, MPMI_OP_L_REMOVE, &value, 1, MPMI_SINK_NONE);
}

int mpm_list_index(mpm_list *l, mpm_val value, size_t *out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    return LIST_CALL(l, MPMI_OP_L_INDEX, &value, 1, MPMI_SINK_SIZE(out));
}

int mpm_list_index_range(mpm_list *l, mpm_val value, int64_t start, int64_t stop, size_t *out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    mpm_val a[3] = {value, list_bound(start), list_bound(stop)};
    return LIST_CALL(l, MPMI_OP_L_INDEX, a, 3, MPMI_SINK_SIZE(out));
}

int mpm_list_count(mpm_list *l, mpm_val value, size_t *out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    return LIST_CALL(l, MPMI_OP_L_COUNT, &value, 1, MPMI_SINK_SIZE(out));
}

int mpm_list_sort(mpm_list *l, bool reverse)
{
    mpm_val a = MPM_BOOL(reverse);
    return LIST_CALL(l, MPMI_OP_L_SORT, &a, 1, MPMI_SINK_NONE);
}

int mpm_list_reverse(mpm_list *l)
{
    return LIST_CALL(l, MPMI_OP_L_REVERSE, NULL, 0, MPMI_SINK_NONE);
}

int mpm_list_len(mpm_list *l, size_t *out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    return LIST_CALL(l, MPMI_OP_LEN, NULL, 0, MPMI_SINK_SIZE(out));
}

int mpm_list_contains(mpm_list *l, mpm_val value, bool *out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    return LIST_CALL(l, MPMI_OP_CONTAINS, &value, 1, MPMI_SINK_BOOL(out));
}

int mpm_list_imul(mpm_list *l, int64_t n)
{
    mpm_val a = MPM_INT(n);
    return LIST_CALL(l, MPMI_OP_L_IMUL, &a, 1, MPMI_SINK_NONE);
}

int mpm_list_copy(mpm_list *l, mpm_val **out)
{
    return LIST_CALL(l, MPMI_OP_COPY, NULL, 0, MPMI_SINK_VAL(out));
}

int mpm_list_repr(mpm_list *l, char **out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    return LIST_CALL(l, MPMI_OP_REPR, NULL, 0, MPMI_SINK_STR(out));
}

int mpm_list_print(mpm_list *l)
{
    char *s = NULL;
    int rc = mpm_list_repr(l, &s);
    if (rc) return rc;
    int bad = fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF;
    free(s);
    return bad ? mpmi_error(MPM_ESYS, "cannot write to stdout") : 0;
}
