/* values.c - mpm_val: packing arguments, decoding results into one
 * allocation, repr and equality through the shared codec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

int mpmi_pack_val(msgpack_packer *pk, const mpm_val *v, int depth)
{
    if ((v->type == MPM_T_LIST || v->type == MPM_T_DICT) && depth >= MPMI_MAX_DEPTH)
        return mpmi_error(MPM_EINVAL, "ValueError: values nest at most %d levels", MPMI_MAX_DEPTH);
    switch (v->type) {
    case MPM_T_NONE: return msgpack_pack_nil(pk);
    case MPM_T_BOOL: return v->v.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case MPM_T_INT: return msgpack_pack_int64(pk, v->v.i);
    case MPM_T_FLOAT: return msgpack_pack_double(pk, v->v.f);
    case MPM_T_STR:
    case MPM_T_BYTES:
        if (!v->v.str.ptr && v->v.str.len)
            return mpmi_error(MPM_EINVAL, "ValueError: NULL string with a length");
        if (v->v.str.len > UINT32_MAX) return mpmi_error(MPM_ETOOBIG, "string too long");
        if (v->type == MPM_T_STR) return mpmi_pk_str(pk, v->v.str.ptr, v->v.str.len);
        return msgpack_pack_bin(pk, v->v.str.len) ||
               msgpack_pack_bin_body(pk, v->v.str.ptr, v->v.str.len);
    case MPM_T_LIST:
        if (!v->v.list.items && v->v.list.len)
            return mpmi_error(MPM_EINVAL, "ValueError: NULL list with a length");
        if (v->v.list.len > UINT32_MAX) return mpmi_error(MPM_ETOOBIG, "list too long");
        msgpack_pack_array(pk, v->v.list.len);
        for (size_t i = 0; i < v->v.list.len; i++) {
            int rc = mpmi_pack_val(pk, &v->v.list.items[i], depth + 1);
            if (rc) return rc;
        }
        return 0;
    case MPM_T_DICT:
        if (!v->v.dict.items && v->v.dict.len)
            return mpmi_error(MPM_EINVAL, "ValueError: NULL dict with a length");
        if (v->v.dict.len > UINT32_MAX) return mpmi_error(MPM_ETOOBIG, "dict too long");
        msgpack_pack_map(pk, v->v.dict.len);
        for (size_t i = 0; i < v->v.dict.len; i++) {
            int rc = mpmi_pack_val(pk, &v->v.dict.items[i].key, depth + 1);
            if (!rc) rc = mpmi_pack_val(pk, &v->v.dict.items[i].value, depth + 1);
            if (rc) return rc;
        }
        return 0;
    case MPM_T_REF: {
        unsigned char ref[MPMI_EXT_REF_LEN];
        if (v->v.ref.id == 0 || v->v.ref.type <= 0 || v->v.ref.type > 255)
            return mpmi_error(MPM_EINVAL, "ValueError: not a reference to a shared object");
        mpmi_ext_ref_write(ref, v->v.ref.id, v->v.ref.type);
        return msgpack_pack_ext(pk, sizeof ref, MPMI_EXT_REF) ||
               msgpack_pack_ext_body(pk, ref, sizeof ref);
    }
    }
    return mpmi_error(MPM_EINVAL, "ValueError: unknown mpm_val type %d", (int)v->type);
}

/*---- decoding ----------------------------------------------------------------*/

typedef struct {
    size_t vals, pairs, bytes;
} values_need;

static int values_count(mpmi_rd *r, values_need *n, int depth)
{
    mpmi_item it;
    if (depth > MPMI_MAX_DEPTH || mpmi_rd_next(r, &it)) return -1;
    switch (it.type) {
    case MPMI_STR:
    case MPMI_BIN: n->bytes += it.v.s.n + 1; return 0;
    case MPMI_ARRAY:
        n->vals += it.v.n;
        for (uint32_t i = 0; i < it.v.n; i++)
            if (values_count(r, n, depth + 1)) return -1;
        return 0;
    case MPMI_MAP:
        n->pairs += it.v.n;
        for (uint32_t i = 0; i < 2 * it.v.n; i++)
            if (values_count(r, n, depth + 1)) return -1;
        return 0;
    case MPMI_EXT: return mpmi_ext_ref(&it, NULL, NULL) ? -1 : 0;
    default: return 0;
    }
}

typedef struct {
    mpm_val *vals;
    mpm_pair *pairs;
    char *bytes;
} values_cur;

static int values_fill(mpmi_rd *r, mpm_val *v, values_cur *c)
{
    mpmi_item it;
    if (mpmi_rd_next(r, &it)) return -1;
    memset(v, 0, sizeof *v);
    switch (it.type) {
    case MPMI_NIL: v->type = MPM_T_NONE; break;
    case MPMI_BOOL: v->type = MPM_T_BOOL; v->v.b = it.v.b; break;
    case MPMI_INT: v->type = MPM_T_INT; v->v.i = it.v.i; break;
    case MPMI_UINT: v->type = MPM_T_FLOAT; v->v.f = (double)it.v.u; break; /* beyond int64 */
    case MPMI_FLOAT: v->type = MPM_T_FLOAT; v->v.f = it.v.f; break;
    case MPMI_STR:
    case MPMI_BIN:
        v->type = it.type == MPMI_STR ? MPM_T_STR : MPM_T_BYTES;
        memcpy(c->bytes, it.v.s.p, it.v.s.n);
        c->bytes[it.v.s.n] = 0;
        v->v.str.ptr = c->bytes;
        v->v.str.len = it.v.s.n;
        c->bytes += it.v.s.n + 1;
        break;
    case MPMI_ARRAY: {
        mpm_val *items = c->vals;
        c->vals += it.v.n;
        v->type = MPM_T_LIST;
        v->v.list.items = items;
        v->v.list.len = it.v.n;
        for (uint32_t i = 0; i < it.v.n; i++)
            if (values_fill(r, &items[i], c)) return -1;
        break;
    }
    case MPMI_EXT: {
        uint64_t id;
        int type;
        if (mpmi_ext_ref(&it, &id, &type)) return -1;
        v->type = MPM_T_REF;
        v->v.ref.id = id;
        v->v.ref.type = type;
        break;
    }
    case MPMI_MAP: {
        mpm_pair *pairs = c->pairs;
        c->pairs += it.v.n;
        v->type = MPM_T_DICT;
        v->v.dict.items = pairs;
        v->v.dict.len = it.v.n;
        for (uint32_t i = 0; i < it.v.n; i++)
            if (values_fill(r, &pairs[i].key, c) || values_fill(r, &pairs[i].value, c)) return -1;
        break;
    }
    default: return -1;
    }
    return 0;
}

int mpmi_decode_val(const unsigned char *p, size_t n, mpm_val **out)
{
    values_need need = {1, 0, 0};
    mpmi_rd r;
    mpmi_rd_init(&r, p, n);
    /* snapshots wrap stored values in up to two levels (items(): a list of
     * [key, value] pairs), so a result may nest two levels deeper than a value */
    if (values_count(&r, &need, -2)) return mpmi_error(MPM_EPROTO, "malformed value in reply");
    size_t size = need.vals * sizeof(mpm_val) + need.pairs * sizeof(mpm_pair) + need.bytes;
    char *mem = malloc(size ? size : 1);
    if (!mem) return mpmi_error(MPM_ENOMEM, "out of memory");
    values_cur c = {(mpm_val *)mem + 1, (mpm_pair *)(mem + need.vals * sizeof(mpm_val)),
                    mem + need.vals * sizeof(mpm_val) + need.pairs * sizeof(mpm_pair)};
    mpmi_rd_init(&r, p, n);
    if (values_fill(&r, (mpm_val *)mem, &c)) {
        free(mem);
        return mpmi_error(MPM_EPROTO, "malformed value in reply");
    }
    *out = (mpm_val *)mem;
    return 0;
}

void mpm_val_free(mpm_val *v)
{
    free(v);
}

char *mpm_val_repr(mpm_val v)
{
    mpmi_buf b, r;
    msgpack_packer pk;
    mpmi_buf_init(&b);
    mpmi_buf_init(&r);
    mpmi_pk_init(&pk, &b);
    if (mpmi_pack_val(&pk, &v, 0) || b.oom || mpmi_mp_repr(b.data, b.len, &r) ||
        mpmi_buf_putc(&r, 0)) {
        mpmi_buf_free(&b);
        mpmi_buf_free(&r);
        return NULL;
    }
    mpmi_buf_free(&b);
    return (char *)r.data;
}

int mpm_val_print(mpm_val v)
{
    char *s = mpm_val_repr(v);
    if (!s) return MPM_ENOMEM;
    puts(s);
    free(s);
    return 0;
}

bool mpm_val_eq(mpm_val a, mpm_val b)
{
    mpmi_buf x, y;
    msgpack_packer px, py;
    mpmi_buf_init(&x);
    mpmi_buf_init(&y);
    mpmi_pk_init(&px, &x);
    mpmi_pk_init(&py, &y);
    bool eq = mpmi_pack_val(&px, &a, 0) == 0 && mpmi_pack_val(&py, &b, 0) == 0 && !x.oom &&
              !y.oom && mpmi_mp_eq(x.data, x.len, y.data, y.len);
    mpmi_buf_free(&x);
    mpmi_buf_free(&y);
    return eq;
}

void mpmi_slice_args(mpm_slice s, mpm_val out[3])
{
    out[0] = s.start == MPM_NIL_INDEX ? MPM_NONE : MPM_INT(s.start);
    out[1] = s.stop == MPM_NIL_INDEX ? MPM_NONE : MPM_INT(s.stop);
    out[2] = s.step == MPM_NIL_INDEX ? MPM_NONE : MPM_INT(s.step);
}
