/* common.c - what every type's methods share: errors, arguments, slices. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../server.h"

int mpmi_fail(mpmi_call *c, int code, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    c->msg->len = 0;
    if (n > 0) mpmi_buf_append(c->msg, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
    return code;
}

int mpmi_fail_repr(mpmi_call *c, int code, const char *prefix, const unsigned char *p, size_t n,
                   const char *suffix)
{
    c->msg->len = 0;
    mpmi_buf_puts(c->msg, prefix);
    if (n > 200) {
        /* keep error messages short whatever the value */
        mpmi_buf tmp;
        mpmi_buf_init(&tmp);
        mpmi_mp_repr(p, n, &tmp);
        mpmi_buf_append(c->msg, tmp.data, tmp.len < 200 ? tmp.len : 200);
        if (tmp.len > 200) mpmi_buf_puts(c->msg, "...");
        mpmi_buf_free(&tmp);
    } else {
        mpmi_mp_repr(p, n, c->msg);
    }
    mpmi_buf_puts(c->msg, suffix);
    return code;
}

static int arg_item(mpmi_call *c, int i, mpmi_item *it)
{
    mpmi_rd r;
    if (i >= c->argc) return -1;
    mpmi_rd_init(&r, c->argv[i].p, c->argv[i].n);
    return mpmi_rd_next(&r, it);
}

int mpmi_arg_int(mpmi_call *c, int i, int64_t *v)
{
    mpmi_item it;
    if (arg_item(c, i, &it)) return mpmi_fail(c, MPM_EARGS, "TypeError: missing argument");
    if (mpmi_item_int(&it, v) == 0) return 0;
    if (it.type == MPMI_UINT) return mpmi_fail(c, MPM_EOVERFLOW, "OverflowError: int too large");
    return mpmi_fail(c, MPM_ETYPE, "TypeError: '%s' object cannot be interpreted as an integer",
                     mpmi_mp_typename(c->argv[i].p, c->argv[i].n));
}

int mpmi_arg_int_opt(mpmi_call *c, int i, int64_t dflt, int64_t *v)
{
    mpmi_item it;
    if (i >= c->argc || (arg_item(c, i, &it) == 0 && it.type == MPMI_NIL)) {
        *v = dflt;
        return 0;
    }
    return mpmi_arg_int(c, i, v);
}

int mpmi_arg_bool(mpmi_call *c, int i, int *v)
{
    mpmi_item it;
    if (arg_item(c, i, &it)) return mpmi_fail(c, MPM_EARGS, "TypeError: missing argument");
    if (it.type == MPMI_BOOL) *v = it.v.b;
    else if (it.type == MPMI_INT) *v = it.v.i != 0;
    else if (it.type == MPMI_NIL) *v = 0;
    else return mpmi_fail(c, MPM_ETYPE, "TypeError: expected a bool");
    return 0;
}

int mpmi_arg_str(mpmi_call *c, int i, const char **p, size_t *n)
{
    mpmi_item it;
    if (arg_item(c, i, &it)) return mpmi_fail(c, MPM_EARGS, "TypeError: missing argument");
    if (it.type != MPMI_STR)
        return mpmi_fail(c, MPM_ETYPE, "TypeError: expected str, got '%s'",
                         mpmi_mp_typename(c->argv[i].p, c->argv[i].n));
    *p = it.v.s.p;
    *n = it.v.s.n;
    return 0;
}

static int arg_container(mpmi_call *c, int i, int type, uint32_t *n, mpmi_rd *r)
{
    mpmi_item it;
    if (i >= c->argc) return mpmi_fail(c, MPM_EARGS, "TypeError: missing argument");
    mpmi_rd_init(r, c->argv[i].p, c->argv[i].n);
    if (mpmi_rd_next(r, &it)) return mpmi_fail(c, MPM_EPROTO, "malformed argument");
    if (it.type != type)
        return mpmi_fail(c, MPM_ETYPE, "TypeError: '%s' object is not %s",
                         mpmi_mp_typename(c->argv[i].p, c->argv[i].n),
                         type == MPMI_ARRAY ? "iterable" : "a mapping");
    *n = it.v.n;
    return 0;
}

int mpmi_arg_array(mpmi_call *c, int i, uint32_t *n, mpmi_rd *r)
{
    return arg_container(c, i, MPMI_ARRAY, n, r);
}

int mpmi_arg_map(mpmi_call *c, int i, uint32_t *n, mpmi_rd *r)
{
    return arg_container(c, i, MPMI_MAP, n, r);
}

int mpmi_arg_obj(mpmi_call *c, int i, int type, mpmi_obj **o)
{
    int64_t id;
    int rc = mpmi_arg_int(c, i, &id);
    if (rc) return rc;
    *o = id > 0 ? mpmi_obj_find(c->srv, (uint64_t)id) : NULL;
    if (!*o) return mpmi_fail(c, MPM_ENOOBJ, "no object with id %lld", (long long)id);
    if (type && (*o)->type->code != type) {
        const mpmi_type *t = mpmi_type_find(type);
        return mpmi_fail(c, MPM_ETYPE, "TypeError: expected a %s, got a %s",
                         t ? t->name : "?", (*o)->type->name);
    }
    return 0;
}

int mpmi_index(mpmi_call *c, int64_t i, size_t len, const char *what, size_t *out)
{
    if (i < 0) i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len)
        return mpmi_fail(c, MPM_EINDEX, "IndexError: %s index out of range", what);
    *out = (size_t)i;
    return 0;
}

/* Python's PySlice_AdjustIndices. */
int mpmi_arg_slice(mpmi_call *c, int i, size_t len, int64_t *start, int64_t *stop, int64_t *step,
                   size_t *count)
{
    int64_t st, sp, stp;
    int rc;
    if ((rc = mpmi_arg_int_opt(c, i + 2, 1, &stp))) return rc;
    if (stp == 0) return mpmi_fail(c, MPM_EVALUE, "ValueError: slice step cannot be zero");
    if (stp == INT64_MIN) stp = -INT64_MAX;
    int64_t n = (int64_t)len;
    if ((rc = mpmi_arg_int_opt(c, i, stp < 0 ? INT64_MAX : 0, &st))) return rc;
    if ((rc = mpmi_arg_int_opt(c, i + 1, stp < 0 ? INT64_MIN : INT64_MAX, &sp))) return rc;
    if (st < 0) {
        st = st < -n ? (stp < 0 ? -1 : 0) : st + n;
    } else if (st >= n) {
        st = stp < 0 ? n - 1 : n;
    }
    if (sp < 0) {
        sp = sp < -n ? (stp < 0 ? -1 : 0) : sp + n;
    } else if (sp >= n) {
        sp = stp < 0 ? n - 1 : n;
    }
    size_t cnt = 0;
    if (stp < 0) {
        if (sp < st) cnt = (size_t)((st - sp - 1) / (-stp) + 1);
    } else {
        if (st < sp) cnt = (size_t)((sp - st - 1) / stp + 1);
    }
    *start = st;
    *stop = sp;
    *step = stp;
    *count = cnt;
    return 0;
}

mpmi_blob *mpmi_blob_new(const void *p, size_t n)
{
    if (n > UINT32_MAX) return NULL;
    mpmi_blob *b = malloc(sizeof *b + n);
    if (!b) return NULL;
    b->n = (uint32_t)n;
    memcpy(b->p, p, n);
    return b;
}
