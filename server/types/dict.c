/* dict.c - Python's dict: insertion-ordered, any hashable key.
 *
 * Layout follows CPython's compact dict: a dense array of entries in insertion
 * order (deleted ones become NULL holes) and a sparse open-addressing index of
 * u32 positions into it.  An entry is one allocation: the key's hash, the
 * value's length, then the key's and the value's msgpack bytes (a key's length
 * is found by skipping it: keys are scalars).  About 50 bytes per small entry.
 */
#include <stdlib.h>
#include <string.h>

#include "../server.h"

#define IX_EMPTY 0u
#define IX_DUMMY UINT32_MAX

typedef struct dict_entry {
    uint32_t hash;
    uint32_t vlen;
    unsigned char data[]; /* key bytes, then value bytes */
} dict_entry;

typedef struct mpmi_dict {
    mpmi_obj base;
    dict_entry **entries;
    size_t nentries; /* used slots of entries, holes included */
    size_t cap;
    size_t len;
    uint32_t *index; /* IX_EMPTY, IX_DUMMY, or entry position + 1 */
    size_t icap;     /* power of two */
    size_t fill;     /* index slots not empty (entries and tombstones) */
} mpmi_dict;

static size_t entry_klen(const dict_entry *e)
{
    mpmi_rd r;
    mpmi_rd_init(&r, e->data, SIZE_MAX / 2);
    mpmi_rd_skip(&r, 0);
    return (size_t)(r.p - e->data);
}

static dict_entry *entry_new(uint32_t hash, const unsigned char *k, size_t kn,
                             const unsigned char *v, size_t vn)
{
    if (vn > UINT32_MAX) return NULL;
    dict_entry *e = malloc(sizeof *e + kn + vn);
    if (!e) return NULL;
    e->hash = hash;
    e->vlen = (uint32_t)vn;
    memcpy(e->data, k, kn);
    memcpy(e->data + kn, v, vn);
    return e;
}

static uint32_t fold(uint64_t h)
{
    return (uint32_t)(h ^ (h >> 32));
}

/* Hash a key argument, or fail with Python's TypeError. */
static int dict_hash(mpmi_call *c, const unsigned char *k, size_t kn, uint32_t *h)
{
    uint64_t h64;
    if (mpmi_mp_hash(k, kn, &h64))
        return mpmi_fail(c, MPM_ETYPE, "TypeError: unhashable type: '%s'", mpmi_mp_typename(k, kn));
    *h = fold(h64);
    return 0;
}

/* Index slot holding key, or of the place it would go (*found 0). */
static size_t dict_probe(const mpmi_dict *d, const unsigned char *k, size_t kn, uint32_t h,
                         int *found)
{
    size_t mask = d->icap - 1, i = h & mask, free_slot = SIZE_MAX;
    *found = 0;
    for (;;) {
        uint32_t ix = d->index[i];
        if (ix == IX_EMPTY) return free_slot != SIZE_MAX ? free_slot : i;
        if (ix == IX_DUMMY) {
            if (free_slot == SIZE_MAX) free_slot = i;
        } else {
            const dict_entry *e = d->entries[ix - 1];
            if (e->hash == h && mpmi_mp_eq(e->data, entry_klen(e), k, kn)) {
                *found = 1;
                return i;
            }
        }
        i = (i + 1) & mask;
    }
}

/* Compact the entries and rebuild an index with room for need entries. */
static int dict_resize(mpmi_dict *d, size_t need)
{
    size_t icap = 8;
    while (icap * 2 < need * 3) icap *= 2; /* load at most 2/3 */
    uint32_t *ix = calloc(icap, sizeof *ix);
    if (!ix) return -1;
    size_t j = 0;
    for (size_t i = 0; i < d->nentries; i++)
        if (d->entries[i]) d->entries[j++] = d->entries[i];
    d->nentries = j;
    for (size_t i = 0; i < j; i++) {
        size_t s = d->entries[i]->hash & (icap - 1);
        while (ix[s] != IX_EMPTY) s = (s + 1) & (icap - 1);
        ix[s] = (uint32_t)(i + 1);
    }
    free(d->index);
    d->index = ix;
    d->icap = icap;
    d->fill = j;
    return 0;
}

/* Make room for one more entry at the end. */
static int dict_room(mpmi_dict *d)
{
    if ((d->fill + 1) * 3 > d->icap * 2) {
        /* many holes: compacting may be enough; else double */
        size_t need = d->len + 1 > d->nentries / 2 ? (d->len + 1) * 2 : d->len + 1;
        if (dict_resize(d, need)) return -1;
    }
    if (d->nentries == d->cap) {
        size_t cap = d->cap ? d->cap + d->cap / 2 : 8;
        dict_entry **e = realloc(d->entries, cap * sizeof *e);
        if (!e) return -1;
        d->entries = e;
        d->cap = cap;
    }
    return 0;
}

/* d[k] = v.  0, or MPM_ENOMEM. */
static int dict_store(mpmi_dict *d, const unsigned char *k, size_t kn, uint32_t h,
                      const unsigned char *v, size_t vn)
{
    int found = 0;
    size_t slot = d->icap ? dict_probe(d, k, kn, h, &found) : 0;
    if (found) {
        /* Python keeps the first key object and its position */
        size_t pos = d->index[slot] - 1;
        dict_entry *old = d->entries[pos];
        size_t okn = entry_klen(old);
        dict_entry *e = entry_new(h, old->data, okn, v, vn);
        if (!e) return MPM_ENOMEM;
        d->entries[pos] = e;
        free(old);
        return 0;
    }
    if (!d->icap || (d->fill + 1) * 3 > d->icap * 2 || d->nentries == d->cap) {
        if (dict_room(d)) return MPM_ENOMEM;
        slot = dict_probe(d, k, kn, h, &found);
    }
    dict_entry *e = entry_new(h, k, kn, v, vn);
    if (!e) return MPM_ENOMEM;
    d->entries[d->nentries] = e;
    if (d->index[slot] == IX_EMPTY) d->fill++;
    d->index[slot] = (uint32_t)(++d->nentries);
    d->len++;
    return 0;
}

static dict_entry *dict_lookup(const mpmi_dict *d, const unsigned char *k, size_t kn, uint32_t h,
                               size_t *slot)
{
    int found;
    if (!d->icap) return NULL;
    size_t s = dict_probe(d, k, kn, h, &found);
    if (!found) return NULL;
    if (slot) *slot = s;
    return d->entries[d->index[s] - 1];
}

/* Unlink the entry at index slot s and return it (caller frees). */
static dict_entry *dict_unlink(mpmi_dict *d, size_t s)
{
    size_t pos = d->index[s] - 1;
    dict_entry *e = d->entries[pos];
    d->entries[pos] = NULL;
    d->index[s] = IX_DUMMY;
    d->len--;
    while (d->nentries && !d->entries[d->nentries - 1]) d->nentries--;
    if (d->len == 0) {
        /* start over: drops the tombstones */
        memset(d->index, 0, d->icap * sizeof *d->index);
        d->nentries = 0;
        d->fill = 0;
    }
    return e;
}

static void dict_clear(mpmi_dict *d)
{
    for (size_t i = 0; i < d->nentries; i++) free(d->entries[i]);
    free(d->entries);
    free(d->index);
    d->entries = NULL;
    d->index = NULL;
    d->nentries = d->cap = d->len = d->icap = d->fill = 0;
}

static int pack_entry_kv(msgpack_packer *pk, const dict_entry *e, int key, int val)
{
    size_t kn = entry_klen(e);
    if (key) mpmi_pk_raw(pk, e->data, kn);
    if (val) mpmi_pk_raw(pk, e->data + kn, e->vlen);
    return 0;
}

#define DICT_EACH(d, e)                                                                    \
    for (size_t e##_i = 0; e##_i < (d)->nentries; e##_i++)                                  \
        for (dict_entry *e = (d)->entries[e##_i]; e; e = NULL)

/*---- methods -----------------------------------------------------------------*/

static int dict_getitem(mpmi_obj *o, mpmi_call *c)
{
    mpmi_dict *d = (mpmi_dict *)o;
    uint32_t h = 0;
    int rc = dict_hash(c, c->argv[0].p, c->argv[0].n, &h);
    if (rc) return rc;
    dict_entry *e = dict_lookup(d, c->argv[0].p, c->argv[0].n, h, NULL);
    if (!e) return mpmi_fail_repr(c, MPM_EKEY, "KeyError: ", c->argv[0].p, c->argv[0].n, "");
    return pack_entry_kv(c->pk, e, 0, 1);
}

static int dict_get(mpmi_obj *o, mpmi_call *c)
{
    mpmi_dict *d = (mpmi_dict *)o;
    uint32_t h = 0;
    int rc = dict_hash(c, c->argv[0].p, c->argv[0].n, &h);
    if (rc) return rc;
    dict_entry *e = dict_lookup(d, c->argv[0].p, c->argv[0].n, h, NULL);
    if (e) return pack_entry_kv(c->pk, e, 0, 1);
    if (c->argc > 1) return mpmi_ok(mpmi_pk_raw(c->pk, c->argv[1].p, c->argv[1].n));
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int dict_setitem(mpmi_obj *o, mpmi_call *c)
{
    uint32_t h = 0;
    int rc = dict_hash(c, c->argv[0].p, c->argv[0].n, &h);
    if (rc) return rc;
    rc = dict_store((mpmi_dict *)o, c->argv[0].p, c->argv[0].n, h, c->argv[1].p, c->argv[1].n);
    if (rc) return mpmi_fail(c, rc, "MemoryError");
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int dict_delitem(mpmi_obj *o, mpmi_call *c)
{
    mpmi_dict *d = (mpmi_dict *)o;
    uint32_t h = 0;
    size_t s;
    int rc = dict_hash(c, c->argv[0].p, c->argv[0].n, &h);
    if (rc) return rc;
    if (!dict_lookup(d, c->argv[0].p, c->argv[0].n, h, &s))
        return mpmi_fail_repr(c, MPM_EKEY, "KeyError: ", c->argv[0].p, c->argv[0].n, "");
    free(dict_unlink(d, s));
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int dict_contains(mpmi_obj *o, mpmi_call *c)
{
    uint32_t h = 0;
    int rc = dict_hash(c, c->argv[0].p, c->argv[0].n, &h);
    if (rc) return rc;
    dict_entry *e = dict_lookup((mpmi_dict *)o, c->argv[0].p, c->argv[0].n, h, NULL);
    return e ? mpmi_ok(msgpack_pack_true(c->pk)) : mpmi_ok(msgpack_pack_false(c->pk));
}

static int dict_len(mpmi_obj *o, mpmi_call *c)
{
    return mpmi_ok(msgpack_pack_uint64(c->pk, ((mpmi_dict *)o)->len));
}

static int dict_list(mpmi_obj *o, msgpack_packer *pk, int what)
{
    mpmi_dict *d = (mpmi_dict *)o;
    msgpack_pack_array(pk, d->len);
    DICT_EACH(d, e)
    {
        if (what == 2) msgpack_pack_array(pk, 2);
        pack_entry_kv(pk, e, what != 1, what != 0);
    }
    return 0;
}

static int dict_keys(mpmi_obj *o, mpmi_call *c)
{
    return dict_list(o, c->pk, 0);
}

static int dict_values(mpmi_obj *o, mpmi_call *c)
{
    return dict_list(o, c->pk, 1);
}

static int dict_items(mpmi_obj *o, mpmi_call *c)
{
    return dict_list(o, c->pk, 2);
}

static int dict_copy(mpmi_obj *o, msgpack_packer *pk)
{
    mpmi_dict *d = (mpmi_dict *)o;
    msgpack_pack_map(pk, d->len);
    DICT_EACH(d, e) pack_entry_kv(pk, e, 1, 1);
    return 0;
}

/* Store every pair of a map argument; keys are all checked first so a bad
 * one changes nothing. */
static int dict_update_map(mpmi_dict *d, mpmi_call *c, int argi)
{
    uint32_t n = 0, h = 0;
    mpmi_rd r;
    int rc = mpmi_arg_map(c, argi, &n, &r);
    if (rc) return rc;
    mpmi_rd check = r;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *k, *v;
        size_t kn, vn;
        mpmi_rd_value(&check, &k, &kn);
        mpmi_rd_value(&check, &v, &vn);
        if ((rc = dict_hash(c, k, kn, &h))) return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *k, *v;
        size_t kn, vn;
        mpmi_rd_value(&r, &k, &kn);
        mpmi_rd_value(&r, &v, &vn);
        dict_hash(c, k, kn, &h);
        if (dict_store(d, k, kn, h, v, vn)) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    }
    return 0;
}

static int dict_update(mpmi_obj *o, mpmi_call *c)
{
    int rc = dict_update_map((mpmi_dict *)o, c, 0);
    return rc ? rc : mpmi_ok(msgpack_pack_nil(c->pk));
}

static int dict_update_from(mpmi_obj *o, mpmi_call *c)
{
    mpmi_obj *other;
    int rc = mpmi_arg_obj(c, 0, MPM_OBJ_DICT, &other);
    if (rc) return rc;
    if (other != o) {
        mpmi_dict *src = (mpmi_dict *)other;
        mpmi_obj_copied_values(o, other);
        DICT_EACH(src, e)
        {
            size_t kn = entry_klen(e);
            if (dict_store((mpmi_dict *)o, e->data, kn, e->hash, e->data + kn, e->vlen))
                return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
        }
    }
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

static int dict_pop(mpmi_obj *o, mpmi_call *c)
{
    mpmi_dict *d = (mpmi_dict *)o;
    uint32_t h = 0;
    size_t s;
    int rc = dict_hash(c, c->argv[0].p, c->argv[0].n, &h);
    if (rc) return rc;
    if (!dict_lookup(d, c->argv[0].p, c->argv[0].n, h, &s)) {
        if (c->argc > 1) return mpmi_ok(mpmi_pk_raw(c->pk, c->argv[1].p, c->argv[1].n));
        return mpmi_fail_repr(c, MPM_EKEY, "KeyError: ", c->argv[0].p, c->argv[0].n, "");
    }
    dict_entry *e = dict_unlink(d, s);
    pack_entry_kv(c->pk, e, 0, 1);
    free(e);
    return 0;
}

static int dict_popitem(mpmi_obj *o, mpmi_call *c)
{
    mpmi_dict *d = (mpmi_dict *)o;
    if (d->len == 0) return mpmi_fail(c, MPM_EKEY, "KeyError: 'popitem(): dictionary is empty'");
    size_t pos = d->nentries - 1; /* trailing holes are trimmed, so this is the last item */
    dict_entry *last = d->entries[pos];
    size_t s = last->hash & (d->icap - 1);
    while (d->index[s] != pos + 1) s = (s + 1) & (d->icap - 1);
    dict_entry *e = dict_unlink(d, s);
    msgpack_pack_array(c->pk, 2);
    pack_entry_kv(c->pk, e, 1, 1);
    free(e);
    return 0;
}

static int dict_setdefault(mpmi_obj *o, mpmi_call *c)
{
    mpmi_dict *d = (mpmi_dict *)o;
    uint32_t h = 0;
    int rc = dict_hash(c, c->argv[0].p, c->argv[0].n, &h);
    if (rc) return rc;
    dict_entry *e = dict_lookup(d, c->argv[0].p, c->argv[0].n, h, NULL);
    if (e) return pack_entry_kv(c->pk, e, 0, 1);
    static const unsigned char nil = 0xc0;
    const unsigned char *v = c->argc > 1 ? c->argv[1].p : &nil;
    size_t vn = c->argc > 1 ? c->argv[1].n : 1;
    if (dict_store(d, c->argv[0].p, c->argv[0].n, h, v, vn))
        return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    return mpmi_ok(mpmi_pk_raw(c->pk, v, vn));
}

static int dict_clear_m(mpmi_obj *o, mpmi_call *c)
{
    dict_clear((mpmi_dict *)o);
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

/*---- type --------------------------------------------------------------------*/

static int dict_create(mpmi_call *c, mpmi_obj **out)
{
    mpmi_dict *d = calloc(1, sizeof *d);
    if (!d) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    if (c->argc > 1) {
        int rc = dict_update_map(d, c, 1);
        if (rc) {
            dict_clear(d);
            free(d);
            return rc;
        }
    }
    *out = &d->base;
    return 0;
}

static void dict_destroy(mpmi_obj *o)
{
    dict_clear((mpmi_dict *)o);
    free(o);
}

static void dict_each_value(mpmi_obj *o, void (*fn)(void *, const unsigned char *, size_t),
                            void *ctx)
{
    mpmi_dict *d = (mpmi_dict *)o;
    for (size_t i = 0; i < d->nentries; i++) {
        dict_entry *e = d->entries[i];
        if (e) fn(ctx, e->data, entry_klen(e) + e->vlen);
    }
}

static int dict_repr(mpmi_obj *o, mpmi_buf *out)
{
    mpmi_dict *d = (mpmi_dict *)o;
    int first = 1;
    mpmi_buf_putc(out, '{');
    DICT_EACH(d, e)
    {
        size_t kn = entry_klen(e);
        if (!first) mpmi_buf_puts(out, ", ");
        first = 0;
        mpmi_mp_repr(e->data, kn, out);
        mpmi_buf_puts(out, ": ");
        mpmi_mp_repr(e->data + kn, e->vlen, out);
    }
    mpmi_buf_putc(out, '}');
    return out->oom ? MPM_ENOMEM : 0;
}

static const mpmi_method dict_methods[] = {
    {MPMI_OP_GETITEM, dict_getitem, 1, 1, 0},
    {MPMI_OP_SETITEM, dict_setitem, 2, 2, MPMI_MUTATES},
    {MPMI_OP_DELITEM, dict_delitem, 1, 1, MPMI_MUTATES},
    {MPMI_OP_D_GET, dict_get, 1, 2, 0},
    {MPMI_OP_CONTAINS, dict_contains, 1, 1, 0},
    {MPMI_OP_LEN, dict_len, 0, 0, 0},
    {MPMI_OP_D_KEYS, dict_keys, 0, 0, 0},
    {MPMI_OP_D_VALUES, dict_values, 0, 0, 0},
    {MPMI_OP_D_ITEMS, dict_items, 0, 0, 0},
    {MPMI_OP_D_UPDATE, dict_update, 1, 1, MPMI_MUTATES},
    {MPMI_OP_D_UPDATE_FROM, dict_update_from, 1, 1, MPMI_MUTATES},
    {MPMI_OP_D_POP, dict_pop, 1, 2, MPMI_MUTATES},
    {MPMI_OP_D_POPITEM, dict_popitem, 0, 0, MPMI_MUTATES},
    {MPMI_OP_D_SETDEFAULT, dict_setdefault, 1, 2, MPMI_MUTATES},
    {MPMI_OP_D_CLEAR, dict_clear_m, 0, 0, MPMI_MUTATES},
    {0},
};

const mpmi_type mpmi_type_dict = {
    .code = MPM_OBJ_DICT,
    .name = "dict",
    .create = dict_create,
    .destroy = dict_destroy,
    .repr = dict_repr,
    .copy = dict_copy,
    .each_value = dict_each_value,
    .methods = dict_methods,
};
