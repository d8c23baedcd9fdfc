/* namespace.c - Python's manager.Namespace(): named attributes, each a stored
 * value, kept in insertion order.
 *
 * Attributes live in a dense array in insertion order with an open-addressing
 * index of positions beside it.  A delete closes the gap and rebuilds the
 * index: namespaces are small and deletes rare, and this keeps order exact
 * without tombstones.
 */
#include <stdlib.h>
#include <string.h>

#include "../server.h"

typedef struct namespace_attr {
    uint64_t hash;
    uint32_t nlen, vlen;
    unsigned char data[]; /* name (UTF-8, no NUL), then the value's msgpack bytes */
} namespace_attr;

typedef struct mpmi_namespace {
    mpmi_obj base;
    namespace_attr **attrs;
    size_t len, cap;
    uint32_t *index; /* 0 = empty, else position + 1 */
    size_t icap;     /* power of two, at least twice len; 0 before the first attribute */
} mpmi_namespace;

/* A name argument: a non-empty str without NUL, and its hash. */
static int namespace_name(mpmi_call *c, const unsigned char *p, size_t n, const char **name,
                          size_t *nlen, uint64_t *hash)
{
    mpmi_rd r;
    mpmi_item it;
    mpmi_rd_init(&r, p, n);
    if (mpmi_rd_next(&r, &it)) return mpmi_fail(c, MPM_EPROTO, "malformed argument");
    if (it.type != MPMI_STR)
        return mpmi_fail(c, MPM_ETYPE, "TypeError: attribute name must be string, not '%s'",
                         mpmi_mp_typename(p, n));
    if (it.v.s.n == 0)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: attribute name must not be empty");
    if (memchr(it.v.s.p, '\0', it.v.s.n))
        return mpmi_fail(c, MPM_EVALUE, "ValueError: attribute name must not contain NUL");
    /* the codec's seeded hash of the str, whatever its msgpack encoding */
    mpmi_mp_hash(p, n, hash);
    *name = it.v.s.p;
    *nlen = it.v.s.n;
    return 0;
}

static void namespace_index_put(uint32_t *index, size_t icap, uint64_t hash, size_t pos)
{
    size_t s = hash & (icap - 1);
    while (index[s])
        s = (s + 1) & (icap - 1);
    index[s] = (uint32_t)(pos + 1);
}

/* Rebuild the index with room for need attributes.  0 or -1. */
static int namespace_reindex(mpmi_namespace *ns, size_t need)
{
    size_t icap = 8;
    while (icap < need * 2)
        icap *= 2;
    uint32_t *ix = calloc(icap, sizeof *ix);
    if (!ix) return -1;
    for (size_t i = 0; i < ns->len; i++)
        namespace_index_put(ix, icap, ns->attrs[i]->hash, i);
    free(ns->index);
    ns->index = ix;
    ns->icap = icap;
    return 0;
}

/* Index slot of name, or SIZE_MAX when absent. */
static size_t namespace_find(const mpmi_namespace *ns, const char *name, size_t nlen, uint64_t hash)
{
    if (!ns->icap) return SIZE_MAX;
    for (size_t s = hash & (ns->icap - 1);; s = (s + 1) & (ns->icap - 1)) {
        uint32_t ix = ns->index[s];
        if (!ix) return SIZE_MAX;
        const namespace_attr *a = ns->attrs[ix - 1];
        if (a->hash == hash && a->nlen == nlen && memcmp(a->data, name, nlen) == 0) return s;
    }
}

static namespace_attr *namespace_attr_new(uint64_t hash, const char *name, size_t nlen,
                                          const unsigned char *v, size_t vn)
{
    if (nlen > UINT32_MAX || vn > UINT32_MAX) return NULL;
    namespace_attr *a = malloc(sizeof *a + nlen + vn);
    if (!a) return NULL;
    a->hash = hash;
    a->nlen = (uint32_t)nlen;
    a->vlen = (uint32_t)vn;
    memcpy(a->data, name, nlen);
    memcpy(a->data + nlen, v, vn);
    return a;
}

/* ns.name = v: replaces in place, or appends.  0 or MPM_ENOMEM. */
static int namespace_store(mpmi_namespace *ns, const char *name, size_t nlen, uint64_t hash,
                           const unsigned char *v, size_t vn)
{
    namespace_attr *a = namespace_attr_new(hash, name, nlen, v, vn);
    if (!a) return MPM_ENOMEM;
    size_t s = namespace_find(ns, name, nlen, hash);
    if (s != SIZE_MAX) {
        /* Python keeps an attribute's place when it is reassigned */
        size_t pos = ns->index[s] - 1;
        free(ns->attrs[pos]);
        ns->attrs[pos] = a;
        return 0;
    }
    if (ns->len == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 4;
        namespace_attr **na = realloc(ns->attrs, cap * sizeof *na);
        if (!na) goto oom;
        ns->attrs = na;
        ns->cap = cap;
    }
    if ((ns->len + 1) * 2 > ns->icap && namespace_reindex(ns, ns->len + 1)) goto oom;
    ns->attrs[ns->len] = a;
    namespace_index_put(ns->index, ns->icap, hash, ns->len);
    ns->len++;
    return 0;
oom:
    free(a);
    return MPM_ENOMEM;
}

static void namespace_clear(mpmi_namespace *ns)
{
    for (size_t i = 0; i < ns->len; i++)
        free(ns->attrs[i]);
    free(ns->attrs);
    free(ns->index);
    ns->attrs = NULL;
    ns->index = NULL;
    ns->len = ns->cap = ns->icap = 0;
}

static int namespace_no_attr(mpmi_call *c, const char *name, size_t nlen)
{
    /* Python quotes the name as it is, not its repr */
    return mpmi_fail(c, MPM_EATTR, "AttributeError: 'Namespace' object has no attribute '%.*s'",
                     (int)(nlen > 200 ? 200 : nlen), name);
}

/* Order two byte strings as Python orders str (UTF-8 bytes sort by code point). */
static int namespace_bytecmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r) return r;
    return an < bn ? -1 : an > bn;
}

static int namespace_attr_cmp(const void *x, const void *y)
{
    const namespace_attr *a = *(namespace_attr *const *)x, *b = *(namespace_attr *const *)y;
    return namespace_bytecmp(a->data, a->nlen, b->data, b->nlen);
}

/*---- methods -----------------------------------------------------------------*/

static int namespace_getattr(mpmi_obj *o, mpmi_call *c)
{
    mpmi_namespace *ns = (mpmi_namespace *)o;
    const char *name = NULL;
    size_t nlen = 0;
    uint64_t hash;
    int rc = namespace_name(c, c->argv[0].p, c->argv[0].n, &name, &nlen, &hash);
    if (rc) return rc;
    size_t s = namespace_find(ns, name, nlen, hash);
    if (s == SIZE_MAX) return namespace_no_attr(c, name, nlen);
    const namespace_attr *a = ns->attrs[ns->index[s] - 1];
    mpmi_pk_raw(c->pk, a->data + a->nlen, a->vlen);
    return 0;
}

static int namespace_setattr(mpmi_obj *o, mpmi_call *c)
{
    const char *name = NULL;
    size_t nlen = 0;
    uint64_t hash;
    int rc = namespace_name(c, c->argv[0].p, c->argv[0].n, &name, &nlen, &hash);
    if (rc) return rc;
    rc = namespace_store((mpmi_namespace *)o, name, nlen, hash, c->argv[1].p, c->argv[1].n);
    if (rc) return mpmi_fail(c, rc, "MemoryError");
    msgpack_pack_nil(c->pk);
    return 0;
}

static int namespace_delattr(mpmi_obj *o, mpmi_call *c)
{
    mpmi_namespace *ns = (mpmi_namespace *)o;
    const char *name = NULL;
    size_t nlen = 0;
    uint64_t hash;
    int rc = namespace_name(c, c->argv[0].p, c->argv[0].n, &name, &nlen, &hash);
    if (rc) return rc;
    size_t s = namespace_find(ns, name, nlen, hash);
    if (s == SIZE_MAX) return namespace_no_attr(c, name, nlen);
    size_t pos = ns->index[s] - 1;
    free(ns->attrs[pos]);
    memmove(ns->attrs + pos, ns->attrs + pos + 1, (ns->len - pos - 1) * sizeof *ns->attrs);
    ns->len--;
    /* positions after pos moved down: rebuild the index in place (same size,
     * so no allocation can fail here) */
    memset(ns->index, 0, ns->icap * sizeof *ns->index);
    for (size_t i = 0; i < ns->len; i++)
        namespace_index_put(ns->index, ns->icap, ns->attrs[i]->hash, i);
    msgpack_pack_nil(c->pk);
    return 0;
}

static int namespace_dir(mpmi_obj *o, mpmi_call *c)
{
    mpmi_namespace *ns = (mpmi_namespace *)o;
    namespace_attr **sorted = NULL;
    if (ns->len) {
        sorted = malloc(ns->len * sizeof *sorted);
        if (!sorted) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
        memcpy(sorted, ns->attrs, ns->len * sizeof *sorted);
        qsort(sorted, ns->len, sizeof *sorted, namespace_attr_cmp);
    }
    msgpack_pack_array(c->pk, ns->len);
    for (size_t i = 0; i < ns->len; i++)
        mpmi_pk_str(c->pk, (const char *)sorted[i]->data, sorted[i]->nlen);
    free(sorted);
    return 0;
}

/*---- type --------------------------------------------------------------------*/

/* argv: [type, {name: value, ...}?]; every name is checked before any is stored. */
static int namespace_create(mpmi_call *c, mpmi_obj **out)
{
    uint32_t n = 0;
    mpmi_rd r;
    int rc;
    if (c->argc > 2)
        return mpmi_fail(c, MPM_EARGS, "TypeError: Namespace() takes at most 1 argument (%d given)",
                         c->argc - 1);
    if (c->argc > 1) {
        if ((rc = mpmi_arg_map(c, 1, &n, &r))) return rc;
        mpmi_rd check = r;
        for (uint32_t i = 0; i < n; i++) {
            const unsigned char *k, *v;
            size_t kn, vn, nlen;
            const char *name = NULL;
            uint64_t hash;
            if (mpmi_rd_value(&check, &k, &kn) || mpmi_rd_value(&check, &v, &vn))
                return mpmi_fail(c, MPM_EPROTO, "malformed argument");
            if ((rc = namespace_name(c, k, kn, &name, &nlen, &hash))) return rc;
        }
    }
    mpmi_namespace *ns = calloc(1, sizeof *ns);
    if (!ns) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *k, *v;
        size_t kn, vn, nlen;
        const char *name = NULL;
        uint64_t hash;
        mpmi_rd_value(&r, &k, &kn);
        mpmi_rd_value(&r, &v, &vn);
        namespace_name(c, k, kn, &name, &nlen, &hash);
        if (namespace_store(ns, name, nlen, hash, v, vn)) {
            namespace_clear(ns);
            free(ns);
            return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
        }
    }
    *out = &ns->base;
    return 0;
}

static void namespace_destroy(mpmi_obj *o)
{
    namespace_clear((mpmi_namespace *)o);
    free(o);
}

static void namespace_each_value(mpmi_obj *o,
                                 void (*fn)(void *, const unsigned char *, size_t), void *ctx)
{
    mpmi_namespace *ns = (mpmi_namespace *)o;
    for (size_t i = 0; i < ns->len; i++)
        fn(ctx, ns->attrs[i]->data + ns->attrs[i]->nlen, ns->attrs[i]->vlen);
}

typedef struct namespace_item {
    size_t off, len; /* "name=repr" within the scratch buffer */
    const unsigned char *base;
} namespace_item;

static int namespace_item_cmp(const void *x, const void *y)
{
    const namespace_item *a = x, *b = y;
    return namespace_bytecmp(a->base + a->off, a->len, b->base + b->off, b->len);
}

/* Python's Namespace.__repr__: "name=repr" for each name not starting with
 * '_', and those strings sorted (so "a-b=1" comes before "a=1", as in Python). */
static int namespace_repr(mpmi_obj *o, mpmi_buf *out)
{
    mpmi_namespace *ns = (mpmi_namespace *)o;
    mpmi_buf tmp;
    namespace_item *items = ns->len ? malloc(ns->len * sizeof *items) : NULL;
    size_t k = 0;
    if (ns->len && !items) return MPM_ENOMEM;
    mpmi_buf_init(&tmp);
    for (size_t i = 0; i < ns->len; i++) {
        const namespace_attr *a = ns->attrs[i];
        if (a->data[0] == '_') continue;
        items[k].off = tmp.len;
        mpmi_buf_append(&tmp, a->data, a->nlen);
        mpmi_buf_putc(&tmp, '=');
        mpmi_mp_repr(a->data + a->nlen, a->vlen, &tmp);
        items[k].len = tmp.len - items[k].off;
        k++;
    }
    int rc = tmp.oom ? MPM_ENOMEM : 0;
    if (!rc) {
        for (size_t i = 0; i < k; i++)
            items[i].base = tmp.data;
        if (k > 1) qsort(items, k, sizeof *items, namespace_item_cmp);
        mpmi_buf_puts(out, "Namespace(");
        for (size_t i = 0; i < k; i++) {
            if (i) mpmi_buf_puts(out, ", ");
            mpmi_buf_append(out, tmp.data + items[i].off, items[i].len);
        }
        mpmi_buf_putc(out, ')');
        rc = out->oom ? MPM_ENOMEM : 0;
    }
    mpmi_buf_free(&tmp);
    free(items);
    return rc;
}

static int namespace_copy(mpmi_obj *o, msgpack_packer *pk)
{
    mpmi_namespace *ns = (mpmi_namespace *)o;
    msgpack_pack_map(pk, ns->len);
    for (size_t i = 0; i < ns->len; i++) {
        const namespace_attr *a = ns->attrs[i];
        mpmi_pk_str(pk, (const char *)a->data, a->nlen);
        mpmi_pk_raw(pk, a->data + a->nlen, a->vlen);
    }
    return 0;
}

static const mpmi_method namespace_methods[] = {
    {MPMI_OP_NS_GETATTR, namespace_getattr, 1, 1, 0},
    {MPMI_OP_NS_SETATTR, namespace_setattr, 2, 2, MPMI_MUTATES},
    {MPMI_OP_NS_DELATTR, namespace_delattr, 1, 1, MPMI_MUTATES},
    {MPMI_OP_NS_DIR, namespace_dir, 0, 0, 0},
    {0},
};

const mpmi_type mpmi_type_namespace = {
    .code = MPM_OBJ_NAMESPACE,
    .name = "Namespace",
    .create = namespace_create,
    .destroy = namespace_destroy,
    .repr = namespace_repr,
    .copy = namespace_copy,
    .each_value = namespace_each_value,
    .methods = namespace_methods,
};
