/* list.c - Python's list: a vector of stored values.
 *
 * Each item is one mpmi_blob holding its msgpack bytes; the list is a growable
 * array of blob pointers.  Items are decoded only to compare them (==, <) and
 * to print them.  Every method first allocates whatever it needs and only then
 * changes the list, so a failing call (bad argument, no memory) changes
 * nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "../server.h"

/* l *= n refuses results above this many payload bytes: one small request
 * must not be able to make the server allocate without bound. */
#define LIST_IMUL_MAX_BYTES ((uint64_t)1 << 32)

typedef struct list_obj {
    mpmi_obj base;
    mpmi_blob **items;
    size_t len;
    size_t cap;
} list_obj;

/*---- storage -----------------------------------------------------------------*/

/* Room for need items.  0, or -1 with the list untouched. */
static int list_reserve(list_obj *l, size_t need)
{
    if (need <= l->cap) return 0;
    size_t cap = l->cap ? l->cap + l->cap / 2 : 8;
    if (cap < need) cap = need;
    if (cap > SIZE_MAX / sizeof *l->items) return -1;
    mpmi_blob **items = realloc(l->items, cap * sizeof *items);
    if (!items) return -1;
    l->items = items;
    l->cap = cap;
    return 0;
}

/* Give memory back after large deletions; failing to is harmless. */
static void list_shrink(list_obj *l)
{
    if (l->cap <= 16 || l->len >= l->cap / 4) return;
    size_t cap = l->cap / 2;
    mpmi_blob **items = realloc(l->items, cap * sizeof *items);
    if (items) {
        l->items = items;
        l->cap = cap;
    }
}

static void list_free_blobs(mpmi_blob **b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(b[i]);
}

static void list_clear(list_obj *l)
{
    list_free_blobs(l->items, l->len);
    free(l->items);
    l->items = NULL;
    l->len = l->cap = 0;
}

static mpmi_blob *list_blob_dup(const mpmi_blob *b)
{
    return mpmi_blob_new(b->p, b->n);
}

/* Copies of the n elements read from r, in a new array (*out NULL when n is 0).
 * 0, or MPM_ENOMEM with nothing allocated. */
static int list_blobs_read(mpmi_rd *r, uint32_t n, mpmi_blob ***out)
{
    *out = NULL;
    if (n == 0) return 0;
    mpmi_blob **b = malloc((size_t)n * sizeof *b);
    if (!b) return MPM_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *p;
        size_t len;
        /* the request body was checked whole, so this only fails on no memory */
        if (mpmi_rd_value(r, &p, &len) || !(b[i] = mpmi_blob_new(p, len))) {
            list_free_blobs(b, i);
            free(b);
            return MPM_ENOMEM;
        }
    }
    *out = b;
    return 0;
}

/* Copies of src[0..n).  0, or MPM_ENOMEM with nothing allocated. */
static int list_blobs_dup(mpmi_blob *const *src, size_t n, mpmi_blob ***out)
{
    *out = NULL;
    if (n == 0) return 0;
    if (n > SIZE_MAX / sizeof **out) return MPM_ENOMEM;
    mpmi_blob **b = malloc(n * sizeof *b);
    if (!b) return MPM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!(b[i] = list_blob_dup(src[i]))) {
            list_free_blobs(b, i);
            free(b);
            return MPM_ENOMEM;
        }
    }
    *out = b;
    return 0;
}

/* Append n taken blobs; room must already be reserved. */
static void list_push(list_obj *l, mpmi_blob **b, size_t n)
{
    if (n) memcpy(l->items + l->len, b, n * sizeof *b);
    l->len += n;
}

/* Remove and free items [i, i + n). */
static void list_erase(list_obj *l, size_t i, size_t n)
{
    list_free_blobs(l->items + i, n);
    memmove(l->items + i, l->items + i + n, (l->len - i - n) * sizeof *l->items);
    l->len -= n;
    list_shrink(l);
}

static int list_nomem(mpmi_call *c)
{
    return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
}

/* Position of the first item equal to v in [start, stop), or SIZE_MAX. */
static size_t list_find(const list_obj *l, const mpmi_arg *v, size_t start, size_t stop)
{
    for (size_t i = start; i < stop && i < l->len; i++)
        if (mpmi_mp_eq(l->items[i]->p, l->items[i]->n, v->p, v->n)) return i;
    return SIZE_MAX;
}

/*---- arguments, with Python's messages -----------------------------------------*/

/* Python names the argument's role when an index is not an int. */
static int list_arg_int(mpmi_call *c, int i, int64_t *v, const char *fmt)
{
    int rc = mpmi_arg_int(c, i, v);
    if (rc == MPM_ETYPE) return mpmi_fail(c, rc, fmt, mpmi_mp_typename(c->argv[i].p, c->argv[i].n));
    return rc;
}

static int list_arg_index(mpmi_call *c, int i, int64_t *v)
{
    return list_arg_int(c, i, v, "TypeError: list indices must be integers or slices, not %s");
}

static int list_arg_slice(mpmi_call *c, size_t len, int64_t *start, int64_t *stop, int64_t *step,
                          size_t *count)
{
    int rc = mpmi_arg_slice(c, 0, len, start, stop, step, count);
    if (rc == MPM_ETYPE)
        return mpmi_fail(c, rc,
                         "TypeError: slice indices must be integers or None or have an "
                         "__index__ method");
    return rc;
}

/*---- ordering -------------------------------------------------------------------*/

/* The operand types Python names when a < b fails: for lists, those of the
 * first unequal pair of elements, found the way list < list finds it. */
static void list_lt_names(const unsigned char *a, size_t an, const unsigned char *b, size_t bn,
                          const char **ta, const char **tb)
{
    for (;;) {
        mpmi_rd x, y;
        mpmi_item ix, iy;
        *ta = mpmi_mp_typename(a, an);
        *tb = mpmi_mp_typename(b, bn);
        mpmi_rd_init(&x, a, an);
        mpmi_rd_init(&y, b, bn);
        if (mpmi_rd_next(&x, &ix) || mpmi_rd_next(&y, &iy)) return;
        if (ix.type != MPMI_ARRAY || iy.type != MPMI_ARRAY) return;
        uint32_t m = ix.v.n < iy.v.n ? ix.v.n : iy.v.n, i;
        for (i = 0; i < m; i++) {
            const unsigned char *pa, *pb;
            size_t na, nb;
            if (mpmi_rd_value(&x, &pa, &na) || mpmi_rd_value(&y, &pb, &nb)) return;
            if (!mpmi_mp_eq(pa, na, pb, nb)) {
                a = pa;
                an = na;
                b = pb;
                bn = nb;
                break;
            }
        }
        if (i == m) return;
    }
}

typedef struct list_sorter {
    mpmi_call *c;
    int failed;
} list_sorter;

/* a < b.  On the first failure the TypeError is set and every later
 * comparison answers 0, so the sort runs out quickly and is thrown away. */
static int list_lt(list_sorter *s, const mpmi_blob *a, const mpmi_blob *b)
{
    int lt;
    if (s->failed) return 0;
    if (mpmi_mp_lt(a->p, a->n, b->p, b->n, &lt) == 0) return lt;
    const char *ta, *tb;
    list_lt_names(a->p, a->n, b->p, b->n, &ta, &tb);
    mpmi_fail(s->c, MPM_ETYPE, "TypeError: '<' not supported between instances of '%s' and '%s'",
              ta, tb);
    s->failed = 1;
    return 0;
}

static void list_reverse_range(mpmi_blob **v, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        mpmi_blob *t = v[i];
        v[i] = v[j - 1];
        v[j - 1] = t;
    }
}

/* The length of the run starting at v, as CPython's count_run; a strictly
 * descending run is reversed in place. */
static size_t list_count_run(list_sorter *s, mpmi_blob **v, size_t n)
{
    size_t k = 1;
    if (n == 1) return 1;
    if (list_lt(s, v[1], v[0])) {
        for (k = 2; k < n && list_lt(s, v[k], v[k - 1]); k++)
            ;
        list_reverse_range(v, k);
    } else {
        for (k = 2; k < n && !list_lt(s, v[k], v[k - 1]); k++)
            ;
    }
    return k;
}

/* Binary insertion sort of v[0..n), v[0..sorted) already in order: CPython's
 * binarysort, comparing the item being placed on the left. */
static void list_binarysort(list_sorter *s, mpmi_blob **v, size_t n, size_t sorted)
{
    for (size_t i = sorted; i < n; i++) {
        mpmi_blob *pivot = v[i];
        size_t lo = 0, hi = i;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (list_lt(s, pivot, v[mid]))
                hi = mid;
            else
                lo = mid + 1;
        }
        memmove(v + lo + 1, v + lo, (i - lo) * sizeof *v);
        v[lo] = pivot;
    }
}

/* CPython's merge_compute_minrun. */
static size_t list_minrun(size_t n)
{
    size_t r = 0;
    while (n >= 64) {
        r |= n & 1;
        n >>= 1;
    }
    return n + r;
}

/* Stable merge of v[0..mid) and v[mid..n) through tmp (n slots); the right
 * item goes first only when strictly less, as in CPython's merges. */
static void list_merge(list_sorter *s, mpmi_blob **v, size_t mid, size_t n, mpmi_blob **tmp)
{
    size_t i = 0, j = mid, k = 0;
    while (i < mid && j < n)
        tmp[k++] = list_lt(s, v[j], v[i]) ? v[j++] : v[i++];
    while (i < mid)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

/* Sort v[0..n) stably.  Runs are found and extended exactly as CPython does,
 * so below 64 items the comparisons (and so a TypeError's wording) match
 * Python's; longer lists merge their runs pairwise without galloping.
 * 0, or MPM_ENOMEM / the comparison's error (c's message set). */
static int list_sort_vec(mpmi_call *c, mpmi_blob **v, size_t n)
{
    list_sorter s = {c, 0};
    if (n < 2) return 0;
    size_t minrun = list_minrun(n), nruns = 0;
    size_t *runs = malloc((n / minrun + 2) * sizeof *runs); /* run start offsets, then n */
    mpmi_blob **tmp = n >= 64 ? malloc(n * sizeof *tmp) : NULL;
    if (!runs || (n >= 64 && !tmp)) {
        free(runs);
        free(tmp);
        return list_nomem(c);
    }
    for (size_t lo = 0; lo < n && !s.failed;) {
        size_t rest = n - lo, k = list_count_run(&s, v + lo, rest);
        if (k < minrun) {
            size_t force = rest < minrun ? rest : minrun;
            list_binarysort(&s, v + lo, force, k);
            k = force;
        }
        runs[nruns++] = lo;
        lo += k;
    }
    runs[nruns] = n;
    while (nruns > 1 && !s.failed) {
        size_t m = 0;
        for (size_t r = 0; r < nruns; r += 2) {
            if (r + 1 < nruns)
                list_merge(&s, v + runs[r], runs[r + 1] - runs[r], runs[r + 2] - runs[r], tmp);
            runs[m++] = runs[r];
        }
        runs[m] = n;
        nruns = m;
    }
    free(runs);
    free(tmp);
    return s.failed ? MPM_ETYPE : 0;
}

/*---- methods ---------------------------------------------------------------------*/

static int list_getitem(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int64_t i;
    size_t pos;
    int rc = list_arg_index(c, 0, &i);
    if (rc || (rc = mpmi_index(c, i, l->len, "list", &pos))) return rc;
    mpmi_pk_raw(c->pk, l->items[pos]->p, l->items[pos]->n);
    return 0;
}

static int list_setitem(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int64_t i;
    size_t pos;
    int rc = list_arg_index(c, 0, &i);
    if (rc || (rc = mpmi_index(c, i, l->len, "list assignment", &pos))) return rc;
    mpmi_blob *b = mpmi_blob_new(c->argv[1].p, c->argv[1].n);
    if (!b) return list_nomem(c);
    free(l->items[pos]);
    l->items[pos] = b;
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_delitem(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int64_t i;
    size_t pos;
    int rc = list_arg_index(c, 0, &i);
    if (rc || (rc = mpmi_index(c, i, l->len, "list assignment", &pos))) return rc;
    list_erase(l, pos, 1);
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_getslice(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int64_t start, stop, step;
    size_t count;
    int rc = list_arg_slice(c, l->len, &start, &stop, &step, &count);
    if (rc) return rc;
    msgpack_pack_array(c->pk, (uint32_t)count);
    for (size_t k = 0; k < count; k++) {
        const mpmi_blob *b = l->items[start + (int64_t)k * step];
        mpmi_pk_raw(c->pk, b->p, b->n);
    }
    return 0;
}

static int list_setslice(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int64_t start, stop, step;
    size_t count;
    uint32_t n;
    mpmi_rd r;
    mpmi_blob **nb;
    int rc = list_arg_slice(c, l->len, &start, &stop, &step, &count);
    if (rc) return rc;
    if ((rc = mpmi_arg_array(c, 3, &n, &r))) {
        if (rc != MPM_ETYPE) return rc;
        return mpmi_fail(c, rc,
                         step == 1 ? "TypeError: can only assign an iterable"
                                   : "TypeError: must assign iterable to extended slice");
    }
    if (step != 1 && n != count)
        return mpmi_fail(c, MPM_EVALUE,
                         "ValueError: attempt to assign sequence of size %u to extended slice "
                         "of size %zu",
                         n, count);
    if ((rc = list_blobs_read(&r, n, &nb))) return mpmi_fail(c, rc, "MemoryError");
    if (step == 1) {
        /* l[start:start+count] = items: the length may change */
        size_t at = (size_t)start, newlen = l->len - count + n;
        if (list_reserve(l, newlen)) {
            list_free_blobs(nb, n);
            free(nb);
            return list_nomem(c);
        }
        list_free_blobs(l->items + at, count);
        size_t tail = l->len - at - count;
        if (tail) /* items may be NULL on an empty list: no memmove(NULL, ...) */
            memmove(l->items + at + n, l->items + at + count, tail * sizeof *l->items);
        if (n) memcpy(l->items + at, nb, (size_t)n * sizeof *nb);
        l->len = newlen;
        list_shrink(l);
    } else {
        for (size_t k = 0; k < count; k++) {
            size_t at = (size_t)(start + (int64_t)k * step);
            free(l->items[at]);
            l->items[at] = nb[k];
        }
    }
    free(nb);
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_delslice(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int64_t start, stop, step;
    size_t count;
    int rc = list_arg_slice(c, l->len, &start, &stop, &step, &count);
    if (rc) return rc;
    if (count == 0) {
        /* nothing selected */
    } else if (step == 1) {
        list_erase(l, (size_t)start, count);
    } else {
        if (step < 0) {
            /* the same items, walked forwards */
            start += step * (int64_t)(count - 1);
            step = -step;
        }
        size_t next = (size_t)start, k = 0, j = (size_t)start;
        for (size_t i = (size_t)start; i < l->len; i++) {
            if (k < count && i == next) {
                free(l->items[i]);
                k++;
                next += (size_t)step;
            } else {
                l->items[j++] = l->items[i];
            }
        }
        l->len = j;
        list_shrink(l);
    }
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_append(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    mpmi_blob *b = mpmi_blob_new(c->argv[0].p, c->argv[0].n);
    if (!b || list_reserve(l, l->len + 1)) {
        free(b);
        return list_nomem(c);
    }
    list_push(l, &b, 1);
    msgpack_pack_nil(c->pk);
    return 0;
}

/* Append n taken blobs, reserving first; on no memory they are freed. */
static int list_push_new(list_obj *l, mpmi_call *c, mpmi_blob **nb, size_t n)
{
    if (list_reserve(l, l->len + n)) {
        list_free_blobs(nb, n);
        free(nb);
        return list_nomem(c);
    }
    list_push(l, nb, n);
    free(nb);
    return 0;
}

static int list_extend(mpmi_obj *o, mpmi_call *c)
{
    uint32_t n;
    mpmi_rd r;
    mpmi_blob **nb;
    int rc = mpmi_arg_array(c, 0, &n, &r);
    if (rc) return rc;
    if ((rc = list_blobs_read(&r, n, &nb))) return mpmi_fail(c, rc, "MemoryError");
    if ((rc = list_push_new((list_obj *)o, c, nb, n))) return rc;
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_extend_from(mpmi_obj *o, mpmi_call *c)
{
    mpmi_obj *other;
    mpmi_blob **nb;
    int rc = mpmi_arg_obj(c, 0, MPM_OBJ_LIST, &other);
    if (rc) return rc;
    /* copy first: other may be this list, whose array the reserve moves */
    size_t n = ((list_obj *)other)->len;
    if ((rc = list_blobs_dup(((list_obj *)other)->items, n, &nb)))
        return mpmi_fail(c, rc, "MemoryError");
    if ((rc = list_push_new((list_obj *)o, c, nb, n))) return rc;
    mpmi_obj_copied_values(o, other);
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_insert(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int64_t i;
    int rc = mpmi_arg_int(c, 0, &i);
    if (rc) return rc;
    /* Python clips the position to the list instead of failing */
    int64_t n = (int64_t)l->len;
    if (i < 0) {
        i += n;
        if (i < 0) i = 0;
    } else if (i > n) {
        i = n;
    }
    mpmi_blob *b = mpmi_blob_new(c->argv[1].p, c->argv[1].n);
    if (!b || list_reserve(l, l->len + 1)) {
        free(b);
        return list_nomem(c);
    }
    memmove(l->items + i + 1, l->items + i, (l->len - (size_t)i) * sizeof *l->items);
    l->items[i] = b;
    l->len++;
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_pop(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int64_t i = -1;
    size_t pos;
    int rc;
    /* an explicit None is a TypeError in Python, so no _opt here */
    if (c->argc > 0 && (rc = mpmi_arg_int(c, 0, &i))) return rc;
    if (l->len == 0) return mpmi_fail(c, MPM_EINDEX, "IndexError: pop from empty list");
    if ((rc = mpmi_index(c, i, l->len, "pop", &pos))) return rc;
    mpmi_pk_raw(c->pk, l->items[pos]->p, l->items[pos]->n);
    list_erase(l, pos, 1);
    return 0;
}

static int list_remove(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    size_t pos = list_find(l, &c->argv[0], 0, l->len);
    if (pos == SIZE_MAX)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: list.remove(x): x not in list");
    list_erase(l, pos, 1);
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_index(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    static const char bad[] = "TypeError: slice indices must be integers or have an __index__ "
                              "method";
    int64_t start, stop, n = (int64_t)l->len;
    int rc = mpmi_arg_int_opt(c, 1, 0, &start);
    if (rc == 0) rc = mpmi_arg_int_opt(c, 2, INT64_MAX, &stop);
    if (rc) return rc == MPM_ETYPE ? mpmi_fail(c, rc, bad) : rc;
    /* list.index clips like a slice, without raising */
    if (start < 0) {
        start += n;
        if (start < 0) start = 0;
    }
    if (stop < 0) {
        stop += n;
        if (stop < 0) stop = 0;
    }
    size_t pos = start < stop ? list_find(l, &c->argv[0], (size_t)start, (size_t)stop) : SIZE_MAX;
    if (pos == SIZE_MAX)
        return mpmi_fail_repr(c, MPM_EVALUE, "ValueError: ", c->argv[0].p, c->argv[0].n,
                              " is not in list");
    msgpack_pack_uint64(c->pk, pos);
    return 0;
}

static int list_count(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    uint64_t k = 0;
    for (size_t i = 0; i < l->len; i++)
        k += mpmi_mp_eq(l->items[i]->p, l->items[i]->n, c->argv[0].p, c->argv[0].n) != 0;
    msgpack_pack_uint64(c->pk, k);
    return 0;
}

static int list_sort(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int reverse = 0, rc;
    if (c->argc > 0 && (rc = mpmi_arg_bool(c, 0, &reverse))) return rc;
    if (l->len < 2) {
        msgpack_pack_nil(c->pk);
        return 0;
    }
    /* sort a copy of the pointers: a failed comparison leaves the list as it was */
    mpmi_blob **v = malloc(l->len * sizeof *v);
    if (!v) return list_nomem(c);
    memcpy(v, l->items, l->len * sizeof *v);
    /* Python reverses around the sort so equal items keep their order */
    if (reverse) list_reverse_range(v, l->len);
    if ((rc = list_sort_vec(c, v, l->len))) {
        free(v);
        return rc;
    }
    if (reverse) list_reverse_range(v, l->len);
    free(l->items);
    l->items = v;
    l->cap = l->len;
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_reverse(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    list_reverse_range(l->items, l->len);
    msgpack_pack_nil(c->pk);
    return 0;
}

static int list_len(mpmi_obj *o, mpmi_call *c)
{
    msgpack_pack_uint64(c->pk, ((list_obj *)o)->len);
    return 0;
}

static int list_contains(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    if (list_find(l, &c->argv[0], 0, l->len) != SIZE_MAX)
        msgpack_pack_true(c->pk);
    else
        msgpack_pack_false(c->pk);
    return 0;
}

static int list_imul(mpmi_obj *o, mpmi_call *c)
{
    list_obj *l = (list_obj *)o;
    int64_t n;
    int rc = list_arg_int(c, 0, &n, "TypeError: can't multiply sequence by non-int of type '%s'");
    if (rc) return rc;
    if (n <= 0) {
        list_clear(l);
    } else if (n > 1 && l->len) {
        uint64_t bytes = 0;
        for (size_t i = 0; i < l->len; i++)
            bytes += l->items[i]->n + sizeof(mpmi_blob *);
        if ((uint64_t)n > LIST_IMUL_MAX_BYTES / bytes) return list_nomem(c);
        size_t len = l->len, total = len * (size_t)n;
        if (list_reserve(l, total)) return list_nomem(c);
        /* fill the new slots past len; len only grows once all copies exist */
        for (size_t i = len; i < total; i++) {
            if (!(l->items[i] = list_blob_dup(l->items[i % len]))) {
                list_free_blobs(l->items + len, i - len);
                return list_nomem(c);
            }
        }
        l->len = total;
    }
    msgpack_pack_nil(c->pk);
    return 0;
}

/*---- type ------------------------------------------------------------------------*/

static int list_create(mpmi_call *c, mpmi_obj **out)
{
    if (c->argc > 2)
        return mpmi_fail(c, MPM_EARGS, "TypeError: list expected at most 1 argument, got %d",
                         c->argc - 1);
    list_obj *l = calloc(1, sizeof *l);
    if (!l) return list_nomem(c);
    if (c->argc > 1) {
        uint32_t n;
        mpmi_rd r;
        mpmi_blob **nb;
        int rc = mpmi_arg_array(c, 1, &n, &r);
        if (rc == 0 && (rc = list_blobs_read(&r, n, &nb))) mpmi_fail(c, rc, "MemoryError");
        if (rc) {
            free(l);
            return rc;
        }
        l->items = nb;
        l->len = l->cap = n;
    }
    *out = &l->base;
    return 0;
}

static void list_destroy(mpmi_obj *o)
{
    list_clear((list_obj *)o);
    free(o);
}

static int list_repr(mpmi_obj *o, mpmi_buf *out)
{
    list_obj *l = (list_obj *)o;
    mpmi_buf_putc(out, '[');
    for (size_t i = 0; i < l->len; i++) {
        if (i) mpmi_buf_puts(out, ", ");
        mpmi_mp_repr(l->items[i]->p, l->items[i]->n, out);
    }
    mpmi_buf_putc(out, ']');
    return out->oom ? MPM_ENOMEM : 0;
}

static int list_copy(mpmi_obj *o, msgpack_packer *pk)
{
    list_obj *l = (list_obj *)o;
    msgpack_pack_array(pk, (uint32_t)l->len);
    for (size_t i = 0; i < l->len; i++)
        mpmi_pk_raw(pk, l->items[i]->p, l->items[i]->n);
    return 0;
}

static const mpmi_method list_methods[] = {
    {MPMI_OP_GETITEM, list_getitem, 1, 1, 0},
    {MPMI_OP_SETITEM, list_setitem, 2, 2, MPMI_MUTATES},
    {MPMI_OP_DELITEM, list_delitem, 1, 1, MPMI_MUTATES},
    {MPMI_OP_L_GETSLICE, list_getslice, 3, 3, 0},
    {MPMI_OP_L_SETSLICE, list_setslice, 4, 4, MPMI_MUTATES},
    {MPMI_OP_L_DELSLICE, list_delslice, 3, 3, MPMI_MUTATES},
    {MPMI_OP_L_APPEND, list_append, 1, 1, MPMI_MUTATES},
    {MPMI_OP_L_EXTEND, list_extend, 1, 1, MPMI_MUTATES},
    {MPMI_OP_L_EXTEND_FROM, list_extend_from, 1, 1, MPMI_MUTATES},
    {MPMI_OP_L_INSERT, list_insert, 2, 2, MPMI_MUTATES},
    {MPMI_OP_L_POP, list_pop, 0, 1, MPMI_MUTATES},
    {MPMI_OP_L_REMOVE, list_remove, 1, 1, MPMI_MUTATES},
    {MPMI_OP_L_INDEX, list_index, 1, 3, 0},
    {MPMI_OP_L_COUNT, list_count, 1, 1, 0},
    {MPMI_OP_L_SORT, list_sort, 0, 1, MPMI_MUTATES},
    {MPMI_OP_L_REVERSE, list_reverse, 0, 0, MPMI_MUTATES},
    {MPMI_OP_LEN, list_len, 0, 0, 0},
    {MPMI_OP_CONTAINS, list_contains, 1, 1, 0},
    {MPMI_OP_L_IMUL, list_imul, 1, 1, MPMI_MUTATES},
    {0},
};

static void list_each_value(mpmi_obj *o, void (*fn)(void *, const unsigned char *, size_t),
                            void *ctx)
{
    list_obj *l = (list_obj *)o;
    for (size_t i = 0; i < l->len; i++) fn(ctx, l->items[i]->p, l->items[i]->n);
}

const mpmi_type mpmi_type_list = {
    .code = MPM_OBJ_LIST,
    .name = "list",
    .create = list_create,
    .destroy = list_destroy,
    .repr = list_repr,
    .copy = list_copy,
    .each_value = list_each_value,
    .methods = list_methods,
};
