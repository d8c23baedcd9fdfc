/* codec.h - the one msgpack codec both sides use.
 *
 * Packing goes through msgpack-c's packer into an mpmi_buf.  Reading is a small
 * bounds-checked cursor over msgpack bytes: the server keeps values as their
 * msgpack bytes and only looks inside when a method needs to (hash, equality,
 * ordering, repr), so reading never allocates.
 */
#ifndef MPMI_CODEC_H
#define MPMI_CODEC_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Deepest nesting of arrays/maps accepted in a value. */
#define MPMI_MAX_DEPTH 32
/* Extension type: a reference to another managed object (nested proxies).
 * Its 9 bytes: the object id (u64 big-endian), then its type (mpm_objtype). */
#define MPMI_EXT_REF 1
#define MPMI_EXT_REF_LEN 9

enum mpmi_vt {
    MPMI_NIL,
    MPMI_BOOL,
    MPMI_INT,   /* fits int64 */
    MPMI_UINT,  /* above INT64_MAX */
    MPMI_FLOAT,
    MPMI_STR,
    MPMI_BIN,
    MPMI_ARRAY, /* n = element count; elements follow */
    MPMI_MAP,   /* n = pair count; pairs follow */
    MPMI_EXT,
};

typedef struct mpmi_item {
    int type;
    union {
        int b;
        int64_t i;
        uint64_t u;
        double f;
        uint32_t n;
        struct {
            const char *p;
            uint32_t n;
        } s; /* STR, BIN */
        struct {
            int8_t type;
            const unsigned char *p;
            uint32_t n;
        } ext;
    } v;
} mpmi_item;

typedef struct mpmi_rd {
    const unsigned char *p;
    const unsigned char *end;
    uint32_t exts; /* EXT items read so far */
} mpmi_rd;

static inline void mpmi_rd_init(mpmi_rd *r, const void *p, size_t n)
{
    r->p = (const unsigned char *)p;
    r->end = r->p + n;
    r->exts = 0;
}

/* Read one item's header (for arrays and maps only the count).  0 or -1. */
int mpmi_rd_next(mpmi_rd *r, mpmi_item *it);
/* Skip one whole object, nesting at most MPMI_MAX_DEPTH - depth.  0 or -1. */
int mpmi_rd_skip(mpmi_rd *r, int depth);
/* The whole object at r: its bytes, and r moved past it.  0 or -1. */
int mpmi_rd_value(mpmi_rd *r, const unsigned char **p, size_t *n);

/* Exactly one well-formed object fills p[0..n).  0 or -1. */
int mpmi_mp_check(const void *p, size_t n);
/* The same for a request or reply body: an array of calls or results, whose
 * values may each nest MPMI_MAX_DEPTH levels. */
int mpmi_mp_check_body(const void *p, size_t n);
/* mpmi_mp_check_body that also counts the EXT items in *exts. */
int mpmi_mp_check_body_exts(const void *p, size_t n, uint32_t *exts);

/* Python type name of the object at p ("int", "str", "list", ...). */
const char *mpmi_mp_typename(const void *p, size_t n);

/* Hash a dict key so that values Python calls equal (1, 1.0, True) hash alike.
 * 0, or -1 when the key is unhashable (array, map): msg then names the type. */
int mpmi_mp_hash(const void *p, size_t n, uint64_t *h);
void mpmi_hash_seed(const unsigned char key[16]);

/* Python ==.  1 or 0. */
int mpmi_mp_eq(const void *a, size_t an, const void *b, size_t bn);
/* Python <.  0 with *lt set, or -1 when not comparable (TypeError). */
int mpmi_mp_lt(const void *a, size_t an, const void *b, size_t bn, int *lt);
/* Python repr appended to out.  0 or -1. */
int mpmi_mp_repr(const void *p, size_t n, mpmi_buf *out);
/* repr of a bare string / float as Python would print them. */
void mpmi_repr_str(mpmi_buf *out, const char *s, size_t n, int is_bytes);
void mpmi_repr_float(mpmi_buf *out, double d);

/* An EXT item that is a well-formed object reference: 0 with *id and *type
 * (either may be NULL), or -1. */
int mpmi_ext_ref(const mpmi_item *it, uint64_t *id, int *type);
void mpmi_ext_ref_write(unsigned char out[MPMI_EXT_REF_LEN], uint64_t id, int type);
/* Python's name of an object type code ("dict", "Queue"), or NULL. */
const char *mpmi_objtype_name(int code);

/* The item as an int64 (INT, BOOL).  0 or -1. */
int mpmi_item_int(const mpmi_item *it, int64_t *v);

/* Packing helpers on an mpmi_buf. */
static inline void mpmi_pk_init(msgpack_packer *pk, mpmi_buf *b)
{
    msgpack_packer_init(pk, b, mpmi_buf_write_cb);
}
static inline int mpmi_pk_str(msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}
/* Copy raw msgpack bytes into the packer's output. */
static inline int mpmi_pk_raw(msgpack_packer *pk, const void *p, size_t n)
{
    return mpmi_buf_append((mpmi_buf *)pk->data, p, n);
}

#endif
