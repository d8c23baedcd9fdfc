/* array.c - Python's manager.Array(typecode, sequence): a fixed-length
 * array.array.  Elements are stored natively, 8 bytes each (int64, uint64 or
 * double by typecode), not as msgpack bytes: every element is a number of a
 * known kind, and this is what makes indexing and updates cheap. */
#include <stdlib.h>
#include <string.h>

#include "numeric.h"

typedef struct mpmi_array {
    mpmi_obj base;
    char tc;
    size_t len;
    mpmi_num *items;
} mpmi_array;

/* Argument i as an index into a of length len, for "IndexError: <what> index
 * out of range". */
static int array_index(mpmi_call *c, int i, size_t len, const char *what, size_t *out)
{
    mpmi_rd r;
    mpmi_item it;
    int64_t v;
    mpmi_rd_init(&r, c->argv[i].p, c->argv[i].n);
    if (mpmi_rd_next(&r, &it)) return mpmi_fail(c, MPM_EPROTO, "malformed argument");
    if (it.type == MPMI_UINT)
        return mpmi_fail(c, MPM_EINDEX, "IndexError: cannot fit 'int' into an index-sized integer");
    if (mpmi_item_int(&it, &v))
        return mpmi_fail(c, MPM_ETYPE, "TypeError: array indices must be integers");
    return mpmi_index(c, v, len, what, out);
}

/* Convert the n msgpack elements at r into a new array of nums (NULL when n
 * is 0); a bad element fails the whole conversion. */
static int array_convert(mpmi_call *c, char tc, mpmi_rd *r, uint32_t n, mpmi_num **out)
{
    mpmi_num *v = NULL;
    *out = NULL;
    if (n == 0) return 0;
    v = malloc((size_t)n * sizeof *v);
    if (!v) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *p;
        size_t pn;
        int rc;
        if (mpmi_rd_value(r, &p, &pn))
            rc = mpmi_fail(c, MPM_EPROTO, "malformed argument");
        else
            rc = mpmi_num_from(c, tc, p, pn, &v[i]);
        if (rc) {
            free(v);
            return rc;
        }
    }
    *out = v;
    return 0;
}

/*---- methods -----------------------------------------------------------------*/

static int array_getitem(mpmi_obj *o, mpmi_call *c)
{
    mpmi_array *a = (mpmi_array *)o;
    size_t i;
    int rc = array_index(c, 0, a->len, "array", &i);
    if (rc) return rc;
    mpmi_num_pack(c->pk, a->tc, a->items[i]);
    return 0;
}

static int array_setitem(mpmi_obj *o, mpmi_call *c)
{
    mpmi_array *a = (mpmi_array *)o;
    size_t i;
    mpmi_num x;
    /* Python checks the index before the value */
    int rc = array_index(c, 0, a->len, "array assignment", &i);
    if (rc) return rc;
    if ((rc = mpmi_num_from(c, a->tc, c->argv[1].p, c->argv[1].n, &x))) return rc;
    a->items[i] = x;
    msgpack_pack_nil(c->pk);
    return 0;
}

static int array_getslice(mpmi_obj *o, mpmi_call *c)
{
    mpmi_array *a = (mpmi_array *)o;
    int64_t start, stop, step;
    size_t count;
    int rc = mpmi_arg_slice(c, 0, a->len, &start, &stop, &step, &count);
    if (rc) return rc;
    msgpack_pack_array(c->pk, count);
    for (size_t k = 0; k < count; k++)
        mpmi_num_pack(c->pk, a->tc, a->items[start + (int64_t)k * step]);
    return 0;
}

static int array_setslice(mpmi_obj *o, mpmi_call *c)
{
    mpmi_array *a = (mpmi_array *)o;
    int64_t start, stop, step;
    size_t count;
    uint32_t n;
    mpmi_rd r;
    mpmi_num *v;
    int rc = mpmi_arg_slice(c, 0, a->len, &start, &stop, &step, &count);
    if (rc) return rc;
    if ((rc = mpmi_arg_array(c, 3, &n, &r))) return rc;
    /* the length is fixed: a slice is replaced only by as many items */
    if (n != count) {
        if (step == 1)
            return mpmi_fail(c, MPM_EVALUE, "ValueError: can only assign array of same length");
        return mpmi_fail(c, MPM_EVALUE,
                         "ValueError: attempt to assign array of size %u to extended slice of "
                         "size %zu",
                         n, count);
    }
    /* convert every item before storing any, so a bad one changes nothing */
    if ((rc = array_convert(c, a->tc, &r, n, &v))) return rc;
    for (size_t k = 0; k < count; k++)
        a->items[start + (int64_t)k * step] = v[k];
    free(v);
    msgpack_pack_nil(c->pk);
    return 0;
}

static int array_len(mpmi_obj *o, mpmi_call *c)
{
    msgpack_pack_uint64(c->pk, ((mpmi_array *)o)->len);
    return 0;
}

static int array_contains(mpmi_obj *o, mpmi_call *c)
{
    mpmi_array *a = (mpmi_array *)o;
    for (size_t i = 0; i < a->len; i++) {
        if (mpmi_num_eq(a->tc, a->items[i], c->argv[0].p, c->argv[0].n)) {
            msgpack_pack_true(c->pk);
            return 0;
        }
    }
    msgpack_pack_false(c->pk);
    return 0;
}

/*---- type --------------------------------------------------------------------*/

/* argv: [type, typecode, items | n?] */
static int array_create(mpmi_call *c, mpmi_obj **out)
{
    char tc;
    mpmi_item it;
    mpmi_rd r;
    mpmi_num *items = NULL;
    size_t len = 0;
    int rc;
    if (c->argc > 3)
        return mpmi_fail(c, MPM_EARGS, "TypeError: array() takes at most 2 arguments (%d given)",
                         c->argc - 1);
    if ((rc = mpmi_num_arg_typecode(c, 1, "array", &tc))) return rc;
    if (c->argc > 2) {
        mpmi_rd_init(&r, c->argv[2].p, c->argv[2].n);
        if (mpmi_rd_next(&r, &it)) return mpmi_fail(c, MPM_EPROTO, "malformed argument");
        if (it.type == MPMI_ARRAY) {
            if ((rc = array_convert(c, tc, &r, it.v.n, &items))) return rc;
            len = it.v.n;
        } else if (it.type == MPMI_INT || it.type == MPMI_UINT) {
            /* Array(typecode, n): n zeros, as multiprocessing.Array allows */
            if (it.type == MPMI_INT && it.v.i < 0)
                return mpmi_fail(c, MPM_EVALUE, "ValueError: array size must be >= 0");
            /* bound it: a typo must not make the server try to allocate terabytes */
            if (it.type == MPMI_UINT || (uint64_t)it.v.i > UINT32_MAX)
                return mpmi_fail(c, MPM_ENOMEM, "MemoryError: array size too large");
            len = (size_t)it.v.i;
            if (len && !(items = calloc(len, sizeof *items)))
                return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
        } else {
            return mpmi_fail(c, MPM_ETYPE,
                             "TypeError: cannot use a %s to initialize an array with typecode '%c'",
                             mpmi_mp_typename(c->argv[2].p, c->argv[2].n), tc);
        }
    }
    mpmi_array *a = calloc(1, sizeof *a);
    if (!a) {
        free(items);
        return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    }
    a->tc = tc;
    a->len = len;
    a->items = items;
    *out = &a->base;
    return 0;
}

static void array_destroy(mpmi_obj *o)
{
    free(((mpmi_array *)o)->items);
    free(o);
}

static int array_repr(mpmi_obj *o, mpmi_buf *out)
{
    mpmi_array *a = (mpmi_array *)o;
    mpmi_buf_printf(out, "array('%c'", a->tc);
    if (a->len) {
        /* Python prints an empty array as array('i'), without a list */
        mpmi_buf_puts(out, ", [");
        for (size_t i = 0; i < a->len && !out->oom; i++) {
            if (i) mpmi_buf_puts(out, ", ");
            mpmi_num_repr(out, a->tc, a->items[i]);
        }
        mpmi_buf_putc(out, ']');
    }
    mpmi_buf_putc(out, ')');
    return out->oom ? MPM_ENOMEM : 0;
}

static int array_copy(mpmi_obj *o, msgpack_packer *pk)
{
    mpmi_array *a = (mpmi_array *)o;
    msgpack_pack_array(pk, a->len);
    for (size_t i = 0; i < a->len; i++)
        mpmi_num_pack(pk, a->tc, a->items[i]);
    return 0;
}

static char array_typecode(mpmi_obj *o)
{
    return ((mpmi_array *)o)->tc;
}

static const mpmi_method array_methods[] = {
    {MPMI_OP_GETITEM, array_getitem, 1, 1, 0},
    {MPMI_OP_SETITEM, array_setitem, 2, 2, MPMI_MUTATES},
    {MPMI_OP_L_GETSLICE, array_getslice, 0, 3, 0},
    {MPMI_OP_L_SETSLICE, array_setslice, 4, 4, MPMI_MUTATES},
    {MPMI_OP_LEN, array_len, 0, 0, 0},
    {MPMI_OP_CONTAINS, array_contains, 1, 1, 0},
    {0},
};

const mpmi_type mpmi_type_array = {
    .code = MPM_OBJ_ARRAY,
    .name = "array",
    .create = array_create,
    .destroy = array_destroy,
    .repr = array_repr,
    .copy = array_copy,
    .typecode = array_typecode,
    .methods = array_methods,
};
