/* numeric.c - array-module typecodes for Value and Array.
 *
 * Integers are checked in 128 bits so that one comparison against the C
 * type's limits covers every typecode, uint64 values above INT64_MAX and the
 * sums of V_ADD alike.  Messages are the ones Python's array module gives
 * (array.array('b', [200]) -> "signed char is greater than maximum").
 */
#include <stdio.h>
#include <string.h>

#include "numeric.h"

__extension__ typedef __int128 numeric_i128;

typedef struct numeric_spec {
    char tc;
    int kind;
    numeric_i128 min, max;
    const char *over, *under; /* OverflowError texts above max, below min */
} numeric_spec;

static const numeric_spec numeric_specs[] = {
    {'b', MPMI_NUM_SIGNED, INT8_MIN, INT8_MAX, "signed char is greater than maximum",
     "signed char is less than minimum"},
    {'B', MPMI_NUM_UNSIGNED, 0, UINT8_MAX, "unsigned byte integer is greater than maximum",
     "unsigned byte integer is less than minimum"},
    {'h', MPMI_NUM_SIGNED, INT16_MIN, INT16_MAX, "signed short integer is greater than maximum",
     "signed short integer is less than minimum"},
    {'H', MPMI_NUM_UNSIGNED, 0, UINT16_MAX, "unsigned short is greater than maximum",
     "unsigned short is less than minimum"},
    {'i', MPMI_NUM_SIGNED, INT32_MIN, INT32_MAX, "signed integer is greater than maximum",
     "signed integer is less than minimum"},
    {'I', MPMI_NUM_UNSIGNED, 0, UINT32_MAX, "unsigned int is greater than maximum",
     "can't convert negative value to unsigned int"},
    {'l', MPMI_NUM_SIGNED, INT64_MIN, INT64_MAX, "Python int too large to convert to C long",
     "Python int too large to convert to C long"},
    {'L', MPMI_NUM_UNSIGNED, 0, UINT64_MAX, "Python int too large to convert to C unsigned long",
     "can't convert negative value to unsigned int"},
    {'q', MPMI_NUM_SIGNED, INT64_MIN, INT64_MAX, "int too big to convert",
     "int too big to convert"},
    {'Q', MPMI_NUM_UNSIGNED, 0, UINT64_MAX, "int too big to convert",
     "can't convert negative int to unsigned"},
    {'f', MPMI_NUM_FLOAT, 0, 0, NULL, NULL},
    {'d', MPMI_NUM_FLOAT, 0, 0, NULL, NULL},
};

static const numeric_spec *numeric_find(char tc)
{
    for (size_t i = 0; i < sizeof numeric_specs / sizeof numeric_specs[0]; i++)
        if (numeric_specs[i].tc == tc) return &numeric_specs[i];
    return NULL;
}

int mpmi_num_kind(char tc)
{
    const numeric_spec *s = numeric_find(tc);
    return s ? s->kind : MPMI_NUM_SIGNED;
}

int mpmi_num_arg_typecode(mpmi_call *c, int i, const char *who, char *tc)
{
    mpmi_rd r;
    mpmi_item it;
    if (i >= c->argc)
        return mpmi_fail(c, MPM_EARGS, "TypeError: %s() missing required argument 'typecode'", who);
    mpmi_rd_init(&r, c->argv[i].p, c->argv[i].n);
    if (mpmi_rd_next(&r, &it)) return mpmi_fail(c, MPM_EPROTO, "malformed argument");
    if (it.type != MPMI_STR)
        return mpmi_fail(c, MPM_ETYPE,
                         "TypeError: %s() argument 1 must be a unicode character, not %s", who,
                         mpmi_mp_typename(c->argv[i].p, c->argv[i].n));
    if (it.v.s.n != 1 || it.v.s.p[0] == '\0' || !numeric_find(it.v.s.p[0]))
        return mpmi_fail(c, MPM_EVALUE,
                         "ValueError: bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or d)");
    *tc = it.v.s.p[0];
    return 0;
}

/* Store v if it fits the typecode's C type. */
static int numeric_range(mpmi_call *c, const numeric_spec *s, numeric_i128 v, mpmi_num *out)
{
    if (v > s->max) return mpmi_fail(c, MPM_EOVERFLOW, "OverflowError: %s", s->over);
    if (v < s->min) return mpmi_fail(c, MPM_EOVERFLOW, "OverflowError: %s", s->under);
    if (s->kind == MPMI_NUM_SIGNED)
        out->i = (int64_t)v;
    else
        out->u = (uint64_t)v;
    return 0;
}

/* The item as an exact integer (bool, int, uint).  0 or -1. */
static int numeric_int(const mpmi_item *it, numeric_i128 *v)
{
    switch (it->type) {
    case MPMI_BOOL:
        *v = it->v.b;
        return 0;
    case MPMI_INT:
        *v = it->v.i;
        return 0;
    case MPMI_UINT:
        *v = it->v.u;
        return 0;
    default:
        return -1;
    }
}

/* The item as a double (bool, int, uint, float).  0 or -1. */
static int numeric_real(const mpmi_item *it, double *v)
{
    numeric_i128 i;
    if (it->type == MPMI_FLOAT) {
        *v = it->v.f;
        return 0;
    }
    if (numeric_int(it, &i)) return -1;
    *v = it->type == MPMI_UINT ? (double)it->v.u : (double)(int64_t)i;
    return 0;
}

/* A float typecode's stored form: 'f' keeps only float precision, as C would. */
static double numeric_round(char tc, double d)
{
    return tc == 'f' ? (double)(float)d : d;
}

static int numeric_read(const unsigned char *p, size_t n, mpmi_item *it)
{
    mpmi_rd r;
    mpmi_rd_init(&r, p, n);
    return mpmi_rd_next(&r, it);
}

int mpmi_num_from(mpmi_call *c, char tc, const unsigned char *p, size_t n, mpmi_num *out)
{
    const numeric_spec *s = numeric_find(tc);
    mpmi_item it;
    if (!s || numeric_read(p, n, &it)) return mpmi_fail(c, MPM_EPROTO, "malformed argument");
    if (s->kind == MPMI_NUM_FLOAT) {
        double d;
        if (numeric_real(&it, &d))
            return mpmi_fail(c, MPM_ETYPE, "TypeError: must be real number, not %s",
                             mpmi_mp_typename(p, n));
        out->f = numeric_round(tc, d);
        return 0;
    }
    numeric_i128 v;
    if (numeric_int(&it, &v))
        return mpmi_fail(c, MPM_ETYPE, "TypeError: '%s' object cannot be interpreted as an integer",
                         mpmi_mp_typename(p, n));
    return numeric_range(c, s, v, out);
}

int mpmi_num_add(mpmi_call *c, char tc, mpmi_num cur, const unsigned char *p, size_t n,
                 mpmi_num *out)
{
    const numeric_spec *s = numeric_find(tc);
    mpmi_item it;
    if (!s || numeric_read(p, n, &it)) return mpmi_fail(c, MPM_EPROTO, "malformed argument");
    if (s->kind == MPMI_NUM_FLOAT) {
        double d;
        if (numeric_real(&it, &d))
            return mpmi_fail(c, MPM_ETYPE,
                             "TypeError: unsupported operand type(s) for +: 'float' and '%s'",
                             mpmi_mp_typename(p, n));
        out->f = numeric_round(tc, cur.f + d);
        return 0;
    }
    numeric_i128 d;
    if (it.type == MPMI_FLOAT) /* the sum would be a float, which an int typecode cannot hold */
        return mpmi_fail(c, MPM_ETYPE,
                         "TypeError: 'float' object cannot be interpreted as an integer");
    if (numeric_int(&it, &d))
        return mpmi_fail(c, MPM_ETYPE,
                         "TypeError: unsupported operand type(s) for +: 'int' and '%s'",
                         mpmi_mp_typename(p, n));
    numeric_i128 v = s->kind == MPMI_NUM_SIGNED ? (numeric_i128)cur.i : (numeric_i128)cur.u;
    return numeric_range(c, s, v + d, out);
}

int mpmi_num_eq(char tc, mpmi_num x, const unsigned char *p, size_t n)
{
    int kind = mpmi_num_kind(tc);
    mpmi_item it;
    numeric_i128 b;
    if (numeric_read(p, n, &it)) return 0;
    if (kind == MPMI_NUM_FLOAT || it.type == MPMI_FLOAT) {
        /* long double holds every int64, uint64 and double exactly, so 2**53 + 1
         * differs from 2.0**53 as it does in Python */
        long double a, bf;
        if (kind == MPMI_NUM_FLOAT)
            a = x.f;
        else if (kind == MPMI_NUM_SIGNED)
            a = (long double)x.i;
        else
            a = (long double)x.u;
        if (it.type == MPMI_FLOAT)
            bf = it.v.f;
        else if (numeric_int(&it, &b) == 0)
            bf = (long double)b;
        else
            return 0;
        return a == bf;
    }
    if (numeric_int(&it, &b)) return 0;
    return (kind == MPMI_NUM_SIGNED ? (numeric_i128)x.i : (numeric_i128)x.u) == b;
}

void mpmi_num_pack(msgpack_packer *pk, char tc, mpmi_num x)
{
    switch (mpmi_num_kind(tc)) {
    case MPMI_NUM_SIGNED:
        msgpack_pack_int64(pk, x.i);
        break;
    case MPMI_NUM_UNSIGNED:
        msgpack_pack_uint64(pk, x.u);
        break;
    default:
        msgpack_pack_double(pk, x.f);
        break;
    }
}

void mpmi_num_repr(mpmi_buf *out, char tc, mpmi_num x)
{
    switch (mpmi_num_kind(tc)) {
    case MPMI_NUM_SIGNED:
        mpmi_buf_printf(out, "%lld", (long long)x.i);
        break;
    case MPMI_NUM_UNSIGNED:
        mpmi_buf_printf(out, "%llu", (unsigned long long)x.u);
        break;
    default:
        mpmi_repr_float(out, x.f);
        break;
    }
}
