#include "codec.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*---- reading ---------------------------------------------------------------*/

static int rd_need(mpmi_rd *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n ? 0 : -1;
}

static uint64_t rd_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

static int rd_len(mpmi_rd *r, int nbytes, uint32_t *n)
{
    if (rd_need(r, (size_t)nbytes)) return -1;
    *n = (uint32_t)rd_be(r->p, nbytes);
    r->p += nbytes;
    return 0;
}

static int rd_body(mpmi_rd *r, mpmi_item *it, int type, uint32_t n)
{
    if (rd_need(r, n)) return -1;
    it->type = type;
    it->v.s.p = (const char *)r->p;
    it->v.s.n = n;
    r->p += n;
    return 0;
}

static int rd_ext(mpmi_rd *r, mpmi_item *it, uint32_t n)
{
    if (rd_need(r, 1 + (size_t)n)) return -1;
    it->type = MPMI_EXT;
    r->exts++;
    it->v.ext.type = (int8_t)r->p[0];
    it->v.ext.p = r->p + 1;
    it->v.ext.n = n;
    r->p += 1 + n;
    return 0;
}

int mpmi_rd_next(mpmi_rd *r, mpmi_item *it)
{
    uint32_t n;
    if (rd_need(r, 1)) return -1;
    unsigned c = *r->p++;
    if (c <= 0x7f) {
        it->type = MPMI_INT;
        it->v.i = c;
        return 0;
    }
    if (c >= 0xe0) {
        it->type = MPMI_INT;
        it->v.i = (int8_t)c;
        return 0;
    }
    if ((c & 0xf0) == 0x80) {
        it->type = MPMI_MAP;
        it->v.n = c & 0x0f;
        return 0;
    }
    if ((c & 0xf0) == 0x90) {
        it->type = MPMI_ARRAY;
        it->v.n = c & 0x0f;
        return 0;
    }
    if ((c & 0xe0) == 0xa0) return rd_body(r, it, MPMI_STR, c & 0x1f);
    switch (c) {
    case 0xc0:
        it->type = MPMI_NIL;
        return 0;
    case 0xc2:
    case 0xc3:
        it->type = MPMI_BOOL;
        it->v.b = c == 0xc3;
        return 0;
    case 0xc4: return rd_len(r, 1, &n) ? -1 : rd_body(r, it, MPMI_BIN, n);
    case 0xc5: return rd_len(r, 2, &n) ? -1 : rd_body(r, it, MPMI_BIN, n);
    case 0xc6: return rd_len(r, 4, &n) ? -1 : rd_body(r, it, MPMI_BIN, n);
    case 0xc7: return rd_len(r, 1, &n) ? -1 : rd_ext(r, it, n);
    case 0xc8: return rd_len(r, 2, &n) ? -1 : rd_ext(r, it, n);
    case 0xc9: return rd_len(r, 4, &n) ? -1 : rd_ext(r, it, n);
    case 0xca: {
        if (rd_need(r, 4)) return -1;
        uint32_t u = (uint32_t)rd_be(r->p, 4);
        float f;
        memcpy(&f, &u, 4);
        r->p += 4;
        it->type = MPMI_FLOAT;
        it->v.f = f;
        return 0;
    }
    case 0xcb: {
        if (rd_need(r, 8)) return -1;
        uint64_t u = rd_be(r->p, 8);
        memcpy(&it->v.f, &u, 8);
        r->p += 8;
        it->type = MPMI_FLOAT;
        return 0;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: {
        int nb = 1 << (c - 0xcc);
        if (rd_need(r, (size_t)nb)) return -1;
        uint64_t u = rd_be(r->p, nb);
        r->p += nb;
        if (u > (uint64_t)INT64_MAX) {
            it->type = MPMI_UINT;
            it->v.u = u;
        } else {
            it->type = MPMI_INT;
            it->v.i = (int64_t)u;
        }
        return 0;
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        int nb = 1 << (c - 0xd0);
        if (rd_need(r, (size_t)nb)) return -1;
        uint64_t u = rd_be(r->p, nb);
        r->p += nb;
        int shift = 64 - 8 * nb;
        it->type = MPMI_INT;
        it->v.i = shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
        return 0;
    }
    case 0xd4: return rd_ext(r, it, 1);
    case 0xd5: return rd_ext(r, it, 2);
    case 0xd6: return rd_ext(r, it, 4);
    case 0xd7: return rd_ext(r, it, 8);
    case 0xd8: return rd_ext(r, it, 16);
    case 0xd9: return rd_len(r, 1, &n) ? -1 : rd_body(r, it, MPMI_STR, n);
    case 0xda: return rd_len(r, 2, &n) ? -1 : rd_body(r, it, MPMI_STR, n);
    case 0xdb: return rd_len(r, 4, &n) ? -1 : rd_body(r, it, MPMI_STR, n);
    case 0xdc:
    case 0xdd:
        if (rd_len(r, c == 0xdc ? 2 : 4, &n)) return -1;
        it->type = MPMI_ARRAY;
        it->v.n = n;
        return 0;
    case 0xde:
    case 0xdf:
        if (rd_len(r, c == 0xde ? 2 : 4, &n)) return -1;
        it->type = MPMI_MAP;
        it->v.n = n;
        return 0;
    default: /* 0xc1 never used */
        return -1;
    }
}

int mpmi_rd_skip(mpmi_rd *r, int depth)
{
    mpmi_item it;
    if (mpmi_rd_next(r, &it)) return -1;
    if (it.type != MPMI_ARRAY && it.type != MPMI_MAP) return 0;
    if (depth >= MPMI_MAX_DEPTH) return -1;
    uint64_t k = it.type == MPMI_MAP ? 2ull * it.v.n : it.v.n;
    /* every element takes at least a byte: refuse impossible counts early */
    if (k > (uint64_t)(r->end - r->p)) return -1;
    for (uint64_t i = 0; i < k; i++)
        if (mpmi_rd_skip(r, depth + 1)) return -1;
    return 0;
}

int mpmi_rd_value(mpmi_rd *r, const unsigned char **p, size_t *n)
{
    const unsigned char *start = r->p;
    if (mpmi_rd_skip(r, 0)) return -1;
    *p = start;
    *n = (size_t)(r->p - start);
    return 0;
}

int mpmi_mp_check(const void *p, size_t n)
{
    mpmi_rd r;
    mpmi_rd_init(&r, p, n);
    return mpmi_rd_skip(&r, 0) == 0 && r.p == r.end ? 0 : -1;
}

int mpmi_mp_check_body(const void *p, size_t n)
{
    mpmi_rd r;
    mpmi_rd_init(&r, p, n);
    /* the body's array and each call's array hold values of MPMI_MAX_DEPTH levels */
    return mpmi_rd_skip(&r, -2) == 0 && r.p == r.end ? 0 : -1;
}

int mpmi_mp_check_body_exts(const void *p, size_t n, uint32_t *exts)
{
    mpmi_rd r;
    mpmi_rd_init(&r, p, n);
    int rc = mpmi_rd_skip(&r, -2) == 0 && r.p == r.end ? 0 : -1;
    *exts = r.exts;
    return rc;
}

int mpmi_ext_ref(const mpmi_item *it, uint64_t *id, int *type)
{
    if (it->type != MPMI_EXT || it->v.ext.type != MPMI_EXT_REF || it->v.ext.n != MPMI_EXT_REF_LEN)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | it->v.ext.p[i];
    if (v == 0 || !mpmi_objtype_name(it->v.ext.p[8])) return -1;
    if (id) *id = v;
    if (type) *type = it->v.ext.p[8];
    return 0;
}

void mpmi_ext_ref_write(unsigned char out[MPMI_EXT_REF_LEN], uint64_t id, int type)
{
    for (int i = 7; i >= 0; i--, id >>= 8) out[i] = (unsigned char)id;
    out[8] = (unsigned char)type;
}

const char *mpmi_objtype_name(int code)
{
    static const char *const names[] = {
        NULL,        "dict",  "list",      "Namespace",        "Value",
        "array", /* the server's name for it, as in Python's array errors */     "Lock",  "RLock",     "Semaphore",        "BoundedSemaphore",
        "Condition", "Event", "Barrier",   "Queue",            "JoinableQueue",
    };
    return code > 0 && code < (int)(sizeof names / sizeof names[0]) ? names[code] : NULL;
}

/* Python's proxy class name for a type: DictProxy, ListProxy, ... */
static const char *proxy_name(int code)
{
    static const char *const names[] = {
        NULL,          "DictProxy",      "ListProxy",   "NamespaceProxy",   "ValueProxy",
        "ArrayProxy",  "AcquirerProxy",  "AcquirerProxy", "AcquirerProxy",  "AcquirerProxy",
        "ConditionProxy", "EventProxy",  "BarrierProxy", "AutoProxy[Queue]", "AutoProxy[JoinableQueue]",
    };
    return code > 0 && code < (int)(sizeof names / sizeof names[0]) ? names[code] : "BaseProxy";
}

int mpmi_item_int(const mpmi_item *it, int64_t *v)
{
    if (it->type == MPMI_INT) *v = it->v.i;
    else if (it->type == MPMI_BOOL) *v = it->v.b;
    else return -1;
    return 0;
}

static const char *item_typename(const mpmi_item *it)
{
    switch (it->type) {
    case MPMI_NIL: return "NoneType";
    case MPMI_BOOL: return "bool";
    case MPMI_INT:
    case MPMI_UINT: return "int";
    case MPMI_FLOAT: return "float";
    case MPMI_STR: return "str";
    case MPMI_BIN: return "bytes";
    case MPMI_ARRAY: return "list";
    case MPMI_MAP: return "dict";
    default: return "proxy";
    }
}

const char *mpmi_mp_typename(const void *p, size_t n)
{
    mpmi_rd r;
    mpmi_item it;
    mpmi_rd_init(&r, p, n);
    if (mpmi_rd_next(&r, &it)) return "invalid";
    return item_typename(&it);
}

/*---- hashing and equality --------------------------------------------------*/

static unsigned char hash_key[crypto_shorthash_KEYBYTES];

void mpmi_hash_seed(const unsigned char key[16])
{
    memcpy(hash_key, key, sizeof hash_key);
}

static uint64_t sip(int tag, const void *p, size_t n)
{
    unsigned char small[64], out[8];
    uint64_t h;
    if (n < sizeof small) {
        small[0] = (unsigned char)tag;
        memcpy(small + 1, p, n);
        crypto_shorthash(out, small, n + 1, hash_key);
    } else {
        crypto_shorthash(out, p, n, hash_key);
        out[0] ^= (unsigned char)tag;
    }
    memcpy(&h, out, 8);
    return h;
}

/* Numbers that Python calls equal must hash alike: integral floats hash as ints. */
static uint64_t hash_int(int64_t v)
{
    return sip('i', &v, sizeof v);
}

int mpmi_mp_hash(const void *p, size_t n, uint64_t *h)
{
    mpmi_rd r;
    mpmi_item it;
    mpmi_rd_init(&r, p, n);
    if (mpmi_rd_next(&r, &it)) return -1;
    switch (it.type) {
    case MPMI_NIL: *h = 0x9e3779b97f4a7c15ull; return 0;
    case MPMI_BOOL: *h = hash_int(it.v.b); return 0;
    case MPMI_INT: *h = hash_int(it.v.i); return 0;
    case MPMI_UINT: *h = sip('u', &it.v.u, 8); return 0;
    case MPMI_FLOAT: {
        double f = it.v.f;
        if (f == floor(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0) {
            *h = hash_int((int64_t)f);
        } else if (f == floor(f) && f >= 0 && f < 18446744073709551616.0) {
            uint64_t u = (uint64_t)f;
            *h = sip('u', &u, 8);
        } else {
            *h = sip('f', &f, sizeof f);
        }
        return 0;
    }
    case MPMI_STR: *h = sip('s', it.v.s.p, it.v.s.n); return 0;
    case MPMI_BIN: *h = sip('b', it.v.s.p, it.v.s.n); return 0;
    case MPMI_EXT: *h = sip('e', it.v.ext.p, it.v.ext.n) ^ (uint64_t)it.v.ext.type; return 0;
    default: return -1; /* list, dict: unhashable */
    }
}

/* A number in one of three exact forms. */
typedef struct {
    int kind; /* 'i', 'u', 'f' */
    int64_t i;
    uint64_t u;
    double f;
} num;

static int as_num(const mpmi_item *it, num *x)
{
    switch (it->type) {
    case MPMI_BOOL: x->kind = 'i'; x->i = it->v.b; return 0;
    case MPMI_INT: x->kind = 'i'; x->i = it->v.i; return 0;
    case MPMI_UINT: x->kind = 'u'; x->u = it->v.u; return 0;
    case MPMI_FLOAT: x->kind = 'f'; x->f = it->v.f; return 0;
    default: return -1;
    }
}

/* -1, 0, 1 for a<b, a==b, a>b; 2 when unordered (NaN). */
static int num_cmp(const num *a, const num *b)
{
    if (a->kind == 'f' || b->kind == 'f') {
        long double x = a->kind == 'f' ? a->f : a->kind == 'i' ? (long double)a->i : (long double)a->u;
        long double y = b->kind == 'f' ? b->f : b->kind == 'i' ? (long double)b->i : (long double)b->u;
        if (x != x || y != y) return 2;
        return x < y ? -1 : x > y;
    }
    if (a->kind == b->kind) {
        if (a->kind == 'i') return a->i < b->i ? -1 : a->i > b->i;
        return a->u < b->u ? -1 : a->u > b->u;
    }
    return a->kind == 'i' ? -1 : 1; /* any int64 < any uint above INT64_MAX */
}

static int eq_rd(mpmi_rd *a, mpmi_rd *b, int depth);

/* Compare one map's pairs against another's, order ignored (Python dict ==). */
static int map_eq(mpmi_rd *a, mpmi_rd *b, uint32_t n, int depth)
{
    const unsigned char *bstart = b->p;
    mpmi_rd bend = *b;
    for (uint32_t i = 0; i < n; i++)
        if (mpmi_rd_skip(&bend, depth) || mpmi_rd_skip(&bend, depth)) return -1;
    int all = 1;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *kp, *vp;
        size_t kn, vn;
        if (mpmi_rd_value(a, &kp, &kn) || mpmi_rd_value(a, &vp, &vn)) return -1;
        if (!all) continue;
        mpmi_rd s = {bstart, bend.p, 0};
        int found = 0;
        for (uint32_t j = 0; j < n && !found; j++) {
            const unsigned char *kp2, *vp2;
            size_t kn2, vn2;
            if (mpmi_rd_value(&s, &kp2, &kn2) || mpmi_rd_value(&s, &vp2, &vn2)) return -1;
            if (mpmi_mp_eq(kp, kn, kp2, kn2)) found = mpmi_mp_eq(vp, vn, vp2, vn2) ? 1 : -1;
        }
        if (found != 1) all = 0;
    }
    b->p = bend.p;
    return all;
}

static int eq_rd(mpmi_rd *a, mpmi_rd *b, int depth)
{
    mpmi_item x, y;
    if (depth > MPMI_MAX_DEPTH || mpmi_rd_next(a, &x) || mpmi_rd_next(b, &y)) return -1;
    num nx, ny;
    if (as_num(&x, &nx) == 0 && as_num(&y, &ny) == 0) return num_cmp(&nx, &ny) == 0;
    if (x.type != y.type) {
        /* skip the rest of containers so callers stay in step */
        if (x.type == MPMI_ARRAY || x.type == MPMI_MAP) {
            uint64_t k = x.type == MPMI_MAP ? 2ull * x.v.n : x.v.n;
            for (uint64_t i = 0; i < k; i++)
                if (mpmi_rd_skip(a, depth + 1)) return -1;
        }
        if (y.type == MPMI_ARRAY || y.type == MPMI_MAP) {
            uint64_t k = y.type == MPMI_MAP ? 2ull * y.v.n : y.v.n;
            for (uint64_t i = 0; i < k; i++)
                if (mpmi_rd_skip(b, depth + 1)) return -1;
        }
        return 0;
    }
    switch (x.type) {
    case MPMI_NIL: return 1;
    case MPMI_STR:
    case MPMI_BIN: return x.v.s.n == y.v.s.n && memcmp(x.v.s.p, y.v.s.p, x.v.s.n) == 0;
    case MPMI_EXT:
        return x.v.ext.type == y.v.ext.type && x.v.ext.n == y.v.ext.n &&
               memcmp(x.v.ext.p, y.v.ext.p, x.v.ext.n) == 0;
    case MPMI_ARRAY: {
        int all = x.v.n == y.v.n;
        uint32_t common = x.v.n < y.v.n ? x.v.n : y.v.n;
        for (uint32_t i = 0; i < common; i++) {
            int e = eq_rd(a, b, depth + 1);
            if (e < 0) return -1;
            all &= e;
        }
        for (uint32_t i = common; i < x.v.n; i++)
            if (mpmi_rd_skip(a, depth + 1)) return -1;
        for (uint32_t i = common; i < y.v.n; i++)
            if (mpmi_rd_skip(b, depth + 1)) return -1;
        return all;
    }
    case MPMI_MAP: {
        if (x.v.n != y.v.n) {
            for (uint64_t i = 0; i < 2ull * x.v.n; i++)
                if (mpmi_rd_skip(a, depth + 1)) return -1;
            for (uint64_t i = 0; i < 2ull * y.v.n; i++)
                if (mpmi_rd_skip(b, depth + 1)) return -1;
            return 0;
        }
        return map_eq(a, b, x.v.n, depth + 1);
    }
    }
    return 0;
}

int mpmi_mp_eq(const void *a, size_t an, const void *b, size_t bn)
{
    if (an == bn && memcmp(a, b, an) == 0) return 1;
    mpmi_rd x, y;
    mpmi_rd_init(&x, a, an);
    mpmi_rd_init(&y, b, bn);
    return eq_rd(&x, &y, 0) == 1;
}

/*---- ordering (Python's <) ------------------------------------------------*/

static int lt_rd(mpmi_rd *a, mpmi_rd *b, int *res, const char **ta, const char **tb)
{
    mpmi_item x, y;
    if (mpmi_rd_next(a, &x) || mpmi_rd_next(b, &y)) return -1;
    num nx, ny;
    *ta = item_typename(&x);
    *tb = item_typename(&y);
    if (as_num(&x, &nx) == 0 && as_num(&y, &ny) == 0) {
        int c = num_cmp(&nx, &ny);
        *res = c == -1 ? -1 : c == 2 ? 2 : c;
        return 0;
    }
    if (x.type != y.type) return -2;
    switch (x.type) {
    case MPMI_STR:
    case MPMI_BIN: {
        uint32_t m = x.v.s.n < y.v.s.n ? x.v.s.n : y.v.s.n;
        int c = memcmp(x.v.s.p, y.v.s.p, m);
        if (c == 0) c = x.v.s.n < y.v.s.n ? -1 : x.v.s.n > y.v.s.n;
        *res = c < 0 ? -1 : c > 0;
        return 0;
    }
    case MPMI_ARRAY: {
        uint32_t m = x.v.n < y.v.n ? x.v.n : y.v.n;
        for (uint32_t i = 0; i < m; i++) {
            const unsigned char *pa = a->p, *pb = b->p;
            mpmi_rd ea = *a, eb = *b;
            if (mpmi_rd_skip(&ea, 1) || mpmi_rd_skip(&eb, 1)) return -1;
            if (!mpmi_mp_eq(pa, (size_t)(ea.p - pa), pb, (size_t)(eb.p - pb))) {
                /* Python compares the first unequal pair with < */
                return lt_rd(a, b, res, ta, tb);
            }
            *a = ea;
            *b = eb;
        }
        *res = x.v.n < y.v.n ? -1 : x.v.n > y.v.n;
        return 0;
    }
    default: return -2; /* None, dict, proxies: no ordering */
    }
}

int mpmi_mp_lt(const void *a, size_t an, const void *b, size_t bn, int *lt)
{
    mpmi_rd x, y;
    int res = 0;
    const char *ta, *tb;
    mpmi_rd_init(&x, a, an);
    mpmi_rd_init(&y, b, bn);
    if (lt_rd(&x, &y, &res, &ta, &tb)) return -1;
    *lt = res == -1;
    return 0;
}

/*---- repr ------------------------------------------------------------------*/

void mpmi_repr_float(mpmi_buf *out, double d)
{
    if (isnan(d)) {
        mpmi_buf_puts(out, "nan");
        return;
    }
    if (isinf(d)) {
        mpmi_buf_puts(out, d < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d) break;
    }
    /* e is [-]d[.ddd]e[+-]XX: split into sign, digits and exponent */
    const char *s = e;
    int neg = *s == '-';
    if (neg) s++;
    char digits[24];
    int nd = 0;
    while (*s && *s != 'e') {
        if (*s != '.') digits[nd++] = *s;
        s++;
    }
    int exp = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    if (neg) mpmi_buf_putc(out, '-');
    if (exp >= -5 + 1 && exp < 16) { /* Python's repr: fixed for 1e-4 <= |d| < 1e16 */
        int decpt = exp + 1;
        if (decpt <= 0) {
            mpmi_buf_puts(out, "0.");
            for (int i = 0; i < -decpt; i++) mpmi_buf_putc(out, '0');
            mpmi_buf_append(out, digits, (size_t)nd);
        } else if (decpt >= nd) {
            mpmi_buf_append(out, digits, (size_t)nd);
            for (int i = nd; i < decpt; i++) mpmi_buf_putc(out, '0');
            mpmi_buf_puts(out, ".0");
        } else {
            mpmi_buf_append(out, digits, (size_t)decpt);
            mpmi_buf_putc(out, '.');
            mpmi_buf_append(out, digits + decpt, (size_t)(nd - decpt));
        }
    } else {
        mpmi_buf_putc(out, digits[0]);
        if (nd > 1) {
            mpmi_buf_putc(out, '.');
            mpmi_buf_append(out, digits + 1, (size_t)(nd - 1));
        }
        mpmi_buf_printf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
}

/* Code points Python's str.isprintable() refuses beyond the C0/C1 controls:
 * separators other than space (Zs, Zl, Zp), format characters (Cf) and
 * private use (Co).  Unassigned code points (Cn) are not tracked. */
static int unprintable(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        {0xa0, 0xa0},       {0xad, 0xad},       {0x600, 0x605},     {0x61c, 0x61c},
        {0x6dd, 0x6dd},     {0x70f, 0x70f},     {0x890, 0x891},     {0x8e2, 0x8e2},
        {0x1680, 0x1680},   {0x180e, 0x180e},   {0x2000, 0x200f},   {0x2028, 0x202f},
        {0x205f, 0x2064},   {0x2066, 0x206f},   {0x3000, 0x3000},   {0xd800, 0xf8ff},
        {0xfeff, 0xfeff},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
        {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0001, 0xe0001},
        {0xe0020, 0xe007f}, {0xf0000, 0x10ffff},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (cp >= ranges[i][0] && cp <= ranges[i][1]) return 1;
    return 0;
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0; *out gets the code point. */
static int utf8_decode(const unsigned char *p, size_t n, uint32_t *out)
{
    unsigned c = p[0];
    int len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    if (len == 2 && cp < 0x80) return 0;
    *out = cp;
    return len;
}

void mpmi_repr_str(mpmi_buf *out, const char *s, size_t n, int is_bytes)
{
    const unsigned char *p = (const unsigned char *)s;
    int sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    if (is_bytes) mpmi_buf_putc(out, 'b');
    mpmi_buf_putc(out, q);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '\\' || c == (unsigned)q) {
            mpmi_buf_putc(out, '\\');
            mpmi_buf_putc(out, (int)c);
        } else if (c == '\n') {
            mpmi_buf_puts(out, "\\n");
        } else if (c == '\r') {
            mpmi_buf_puts(out, "\\r");
        } else if (c == '\t') {
            mpmi_buf_puts(out, "\\t");
        } else if (c >= 0x20 && c < 0x7f) {
            mpmi_buf_putc(out, (int)c);
        } else if (c >= 0x80 && !is_bytes) {
            uint32_t cp = 0;
            int len = utf8_decode(p + i, n - i, &cp);
            if (len > 1) {
                if (cp < 0xa0 || unprintable(cp)) /* C1 controls and the like */
                    mpmi_buf_printf(out, cp < 0x100 ? "\\x%02x" : cp < 0x10000 ? "\\u%04x" : "\\U%08x",
                                    (unsigned)cp);
                else
                    mpmi_buf_append(out, p + i, (size_t)len);
                i += (size_t)len;
                continue;
            }
            mpmi_buf_printf(out, "\\x%02x", c); /* not UTF-8: show the byte */
        } else {
            mpmi_buf_printf(out, "\\x%02x", c);
        }
        i++;
    }
    mpmi_buf_putc(out, q);
}

static int repr_rd(mpmi_rd *r, mpmi_buf *out, int depth)
{
    mpmi_item it;
    if (depth > MPMI_MAX_DEPTH || mpmi_rd_next(r, &it)) return -1;
    switch (it.type) {
    case MPMI_NIL: mpmi_buf_puts(out, "None"); break;
    case MPMI_BOOL: mpmi_buf_puts(out, it.v.b ? "True" : "False"); break;
    case MPMI_INT: mpmi_buf_printf(out, "%lld", (long long)it.v.i); break;
    case MPMI_UINT: mpmi_buf_printf(out, "%llu", (unsigned long long)it.v.u); break;
    case MPMI_FLOAT: mpmi_repr_float(out, it.v.f); break;
    case MPMI_STR: mpmi_repr_str(out, it.v.s.p, it.v.s.n, 0); break;
    case MPMI_BIN: mpmi_repr_str(out, it.v.s.p, it.v.s.n, 1); break;
    case MPMI_ARRAY:
        mpmi_buf_putc(out, '[');
        for (uint32_t i = 0; i < it.v.n; i++) {
            if (i) mpmi_buf_puts(out, ", ");
            if (repr_rd(r, out, depth + 1)) return -1;
        }
        mpmi_buf_putc(out, ']');
        break;
    case MPMI_MAP:
        mpmi_buf_putc(out, '{');
        for (uint32_t i = 0; i < it.v.n; i++) {
            if (i) mpmi_buf_puts(out, ", ");
            if (repr_rd(r, out, depth + 1)) return -1;
            mpmi_buf_puts(out, ": ");
            if (repr_rd(r, out, depth + 1)) return -1;
        }
        mpmi_buf_putc(out, '}');
        break;
    case MPMI_EXT: {
        uint64_t id;
        int type;
        if (mpmi_ext_ref(&it, &id, &type) == 0) {
            /* Python: <DictProxy object, typeid 'dict' at 0x7f...> */
            mpmi_buf_printf(out, "<%s object, typeid '%s', id %llu>", proxy_name(type),
                            mpmi_objtype_name(type), (unsigned long long)id);
        } else {
            mpmi_buf_printf(out, "<ext %d>", it.v.ext.type);
        }
        break;
    }
    }
    return out->oom ? -1 : 0;
}

int mpmi_mp_repr(const void *p, size_t n, mpmi_buf *out)
{
    mpmi_rd r;
    mpmi_rd_init(&r, p, n);
    return repr_rd(&r, out, 0);
}
