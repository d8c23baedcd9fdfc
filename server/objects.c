/* objects.c - the object table, sessions and their handles, named objects,
 * the collector of objects held only by stored references, and the manager
 * object's methods (object id 0).
 *
 * Lifetime.  o->refs counts handles (per session), a name, and a Condition's
 * hold on its lock; an object whose count falls to 0 goes at once - unless
 * some container has ever been given a reference (nmayref > 0), because a
 * value stored somewhere may still name it.  Such an object becomes a zombie,
 * and a collection traces the references stored in containers from every
 * object with refs > 0: a zombie nobody reaches is freed.  Stored references
 * are not counted because a value can leave a container in many ways (a
 * dict set over it, a list slice, a queue get, a client's death): tracing
 * needs no hook in any of them, and cycles go too.
 *
 * A reference that leaves its last container (a queue get hands it to a
 * worker) must stay openable until the reader attaches: an unreached zombie
 * is freed only after it has stayed unreached for gc_grace_ms.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

static const mpmi_type *const objects_types[] = {
    &mpmi_type_dict,      &mpmi_type_list,      &mpmi_type_namespace,
    &mpmi_type_value,     &mpmi_type_array,     &mpmi_type_lock,
    &mpmi_type_rlock,     &mpmi_type_semaphore, &mpmi_type_bounded_semaphore,
    &mpmi_type_condition, &mpmi_type_event,     &mpmi_type_barrier,
    &mpmi_type_queue,     &mpmi_type_joinable_queue,
};

const mpmi_type *mpmi_type_find(int64_t code)
{
    for (size_t i = 0; i < sizeof objects_types / sizeof objects_types[0]; i++)
        if (objects_types[i]->code == code) return objects_types[i];
    return NULL;
}

mpmi_obj *mpmi_obj_find(mpmi_srv *s, uint64_t id)
{
    mpmi_map_slot *sl = mpmi_map_find(&s->objects, id);
    return sl ? sl->v.ptr : NULL;
}

int mpmi_obj_add(mpmi_srv *s, mpmi_obj *o)
{
    o->id = s->next_id++;
    o->srv = s;
    mpmi_map_slot *sl = mpmi_map_put(&s->objects, o->id, NULL);
    if (!sl) return -1;
    sl->v.ptr = o;
    return 0;
}

static int64_t objects_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void zombie_unlink(mpmi_srv *s, mpmi_obj *o)
{
    if (o->zprev) o->zprev->znext = o->znext;
    else s->zombies = o->znext;
    if (o->znext) o->znext->zprev = o->zprev;
    o->znext = o->zprev = NULL;
    o->zombie = 0;
    o->gc_lost_ms = 0;
    s->nzombies--;
}

static void obj_destroy(mpmi_srv *s, mpmi_obj *o)
{
    if (o->zombie) zombie_unlink(s, o);
    mpmi_undefer(o);
    if (o->may_ref) {
        s->nmayref--;
        if (s->nzombies) s->gc_pending = 1; /* what it referenced may be free now */
    }
    mpmi_map_del(&s->objects, o->id);
    o->type->destroy(o);
}

/* o's last reference went. */
static void obj_last_ref(mpmi_srv *s, mpmi_obj *o)
{
    if (s->nmayref == 0) {
        obj_destroy(s, o);
        return;
    }
    o->zombie = 1;
    o->gc_lost_ms = 0;
    o->zprev = NULL;
    o->znext = s->zombies;
    if (s->zombies) s->zombies->zprev = o;
    s->zombies = o;
    s->nzombies++;
    s->gc_pending = 1;
}

/* A zombie is held again.  If no collection reached it, nothing reached
 * what it references either, and their grace clocks run from before anyone
 * could take those references out of it again: restart every clock. */
static void zombie_revive(mpmi_srv *s, mpmi_obj *o)
{
    int was_lost = o->gc_lost_ms != 0;
    zombie_unlink(s, o);
    if (was_lost)
        for (mpmi_obj *z = s->zombies; z; z = z->znext) z->gc_lost_ms = 0;
}

void mpmi_obj_ref(mpmi_obj *o)
{
    if (o->zombie) zombie_revive(o->srv, o);
    o->refs++;
}

void mpmi_obj_unref(mpmi_srv *s, mpmi_obj *o)
{
    if (s->finishing) return;
    if (--o->refs == 0) obj_last_ref(s, o);
}

uint64_t mpmi_call_session(const mpmi_call *c)
{
    return c->sess->id;
}

int mpmi_hold(mpmi_srv *s, uint64_t session, mpmi_obj *o)
{
    mpmi_map_slot *sl = mpmi_map_find(&s->sessions_by_id, session);
    if (!sl) return -1;
    mpmi_session *se = sl->v.ptr;
    if (se->ending) return -1;
    mpmi_map_slot *h = mpmi_map_put(&se->held, o->id, NULL);
    if (!h) return -1;
    h->v.n++;
    return 0;
}

void mpmi_unhold(mpmi_srv *s, uint64_t session, mpmi_obj *o)
{
    mpmi_map_slot *sl = mpmi_map_find(&s->sessions_by_id, session);
    if (!sl) return;
    mpmi_session *se = sl->v.ptr;
    mpmi_map_slot *h = mpmi_map_find(&se->held, o->id);
    if (h && --h->v.n == 0) mpmi_map_del(&se->held, o->id);
}

/* Add n handles of session se on object o. */
static int objects_hold(mpmi_session *se, mpmi_obj *o, uint64_t n)
{
    mpmi_map_slot *sl = mpmi_map_put(&se->handles, o->id, NULL);
    if (!sl) return -1;
    sl->v.n += n;
    if (o->zombie) zombie_revive(o->srv, o);
    o->refs += n;
    return 0;
}

/* Drop n of session se's handles on o; the object dies with its last handle. */
static void objects_release(mpmi_srv *s, mpmi_session *se, mpmi_obj *o, uint64_t n)
{
    mpmi_map_slot *sl = mpmi_map_find(&se->handles, o->id);
    if (!sl) return;
    if (n > sl->v.n) n = sl->v.n;
    sl->v.n -= n;
    if (sl->v.n == 0) mpmi_map_del(&se->handles, o->id);
    o->refs -= n;
    if (o->refs == 0) obj_last_ref(s, o);
}

/*---- sessions --------------------------------------------------------------*/

mpmi_session *mpmi_session_join(mpmi_srv *s, const unsigned char *token)
{
    for (mpmi_session *se = s->sessions; se; se = se->next) {
        if (memcmp(se->token, token, MPMI_TOKEN_LEN) == 0) {
            se->nconns++;
            return se;
        }
    }
    mpmi_session *se = calloc(1, sizeof *se);
    if (!se) return NULL;
    se->id = s->next_session++;
    memcpy(se->token, token, MPMI_TOKEN_LEN);
    se->nconns = 1;
    mpmi_map_slot *sl = mpmi_map_put(&s->sessions_by_id, se->id, NULL);
    if (!sl) {
        free(se);
        return NULL;
    }
    sl->v.ptr = se;
    se->next = s->sessions;
    if (s->sessions) s->sessions->prev = se;
    s->sessions = se;
    s->nsessions++;
    s->stats.sessions_total++;
    return se;
}

void mpmi_session_leave(mpmi_srv *s, mpmi_session *se)
{
    if (--se->nconns > 0) return;
    se->ending = 1;
    /* The process is gone.  First what it held of objects (locks, permits)
     * goes back, while the objects surely live; then its handles. */
    size_t nh = 0, kh = 0;
    MPMI_MAP_EACH(&se->held, sl) nh++;
    uint64_t *held = nh ? malloc(nh * sizeof *held) : NULL;
    if (held) MPMI_MAP_EACH(&se->held, sl) held[kh++] = sl->key;
    for (size_t i = 0; i < kh; i++) {
        mpmi_obj *o = mpmi_obj_find(s, held[i]);
        if (o && o->type->session_gone) o->type->session_gone(o, se->id);
    }
    free(held);
    mpmi_map_free(&se->held);
    size_t n = 0;
    MPMI_MAP_EACH(&se->handles, sl) n++;
    uint64_t *ids = n ? malloc(n * sizeof *ids) : NULL;
    size_t k = 0;
    if (ids) MPMI_MAP_EACH(&se->handles, sl) ids[k++] = sl->key;
    for (size_t i = 0; i < k; i++) {
        mpmi_obj *o = mpmi_obj_find(s, ids[i]);
        mpmi_map_slot *sl = mpmi_map_find(&se->handles, ids[i]);
        if (o && sl) objects_release(s, se, o, sl->v.n);
    }
    free(ids);
    mpmi_map_free(&se->handles);
    mpmi_map_del(&s->sessions_by_id, se->id);
    /* its parked puts (items with references, maybe) are gone */
    if (s->nzombies) s->gc_pending = 1;
    mpmi_log(s, "session %llu ended", (unsigned long long)se->id);
    if (se->prev) se->prev->next = se->next;
    else s->sessions = se->next;
    if (se->next) se->next->prev = se->prev;
    s->nsessions--;
    free(se);
}

void mpmi_objects_fini(mpmi_srv *s)
{
    while (s->sessions) {
        s->sessions->nconns = 1;
        mpmi_session_leave(s, s->sessions);
    }
    /* What is left is kept alive by other objects (or named, later): destroy
     * them without following references, which may point at each other. */
    s->finishing = 1; /* unref no longer destroys: everything goes here */
    s->deferred = s->deferred_tail = NULL;
    MPMI_MAP_EACH(&s->objects, sl)
    {
        mpmi_obj *o = sl->v.ptr;
        free(o->name);
        o->type->destroy(o);
    }
    mpmi_map_free(&s->objects);
    mpmi_map_free(&s->names);
    mpmi_map_free(&s->sessions_by_id);
}

/*---- the collector ------------------------------------------------------------*/

typedef struct gc_ctx {
    mpmi_srv *s;
    uint64_t epoch;
    mpmi_obj **stack;
    size_t n, cap;
    int oom;
} gc_ctx;

static void gc_reach(gc_ctx *g, mpmi_obj *o)
{
    if (o->gc_mark == g->epoch) return;
    o->gc_mark = g->epoch;
    if (!o->may_ref || !o->type->each_value) return;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        mpmi_obj **st = realloc(g->stack, cap * sizeof *st);
        if (!st) {
            g->oom = 1;
            return;
        }
        g->stack = st;
        g->cap = cap;
    }
    g->stack[g->n++] = o;
}

/* Every item of stored (validated) values, flat: array and map headers are
 * read as items and their elements follow. */
static void gc_scan(void *ctx, const unsigned char *p, size_t n)
{
    gc_ctx *g = ctx;
    mpmi_rd r;
    mpmi_item it;
    uint64_t id;
    mpmi_rd_init(&r, p, n);
    while (r.p < r.end) {
        if (mpmi_rd_next(&r, &it)) return;
        if (it.type == MPMI_EXT && mpmi_ext_ref(&it, &id, NULL) == 0) {
            mpmi_obj *o = mpmi_obj_find(g->s, id);
            if (o) gc_reach(g, o);
        }
    }
}

static void gc_collect(mpmi_srv *s)
{
    int64_t t0 = objects_now_us(), now_ms = t0 / 1000;
    gc_ctx g = {.s = s, .epoch = ++s->gc_epoch};
    s->gc_pending = 0;
    s->stats.gc_runs++;
    MPMI_MAP_EACH(&s->objects, sl)
    {
        mpmi_obj *o = sl->v.ptr;
        if (o->refs) gc_reach(&g, o);
    }
    while (g.n && !g.oom) {
        mpmi_obj *o = g.stack[--g.n];
        o->type->each_value(o, gc_scan, &g);
    }
    free(g.stack);
    if (g.oom) { /* a partial trace proves nothing: free nothing, try later */
        s->gc_pending = 1;
        s->gc_next_us = objects_now_us() + 100000;
        return;
    }
    size_t ndead = 0, k = 0;
    int64_t next_due = INT64_MAX;
    for (mpmi_obj *z = s->zombies; z; z = z->znext) {
        if (z->gc_mark == g.epoch) {
            z->gc_lost_ms = 0; /* reached again */
            continue;
        }
        if (!z->gc_lost_ms) z->gc_lost_ms = now_ms;
        if (now_ms - z->gc_lost_ms >= s->gc_grace_ms) ndead++;
        else if (z->gc_lost_ms + s->gc_grace_ms < next_due) next_due = z->gc_lost_ms + s->gc_grace_ms;
    }
    uint64_t *dead = ndead ? malloc(ndead * sizeof *dead) : NULL;
    if (dead) {
        for (mpmi_obj *z = s->zombies; z; z = z->znext)
            if (z->gc_mark != g.epoch && now_ms - z->gc_lost_ms >= s->gc_grace_ms) dead[k++] = z->id;
        /* by id: destroying one (a Condition) may change the list */
        for (size_t i = 0; i < k; i++) {
            mpmi_obj *o = mpmi_obj_find(s, dead[i]);
            if (o && o->zombie) obj_destroy(s, o);
        }
        s->stats.gc_freed += k;
        free(dead);
    } else if (ndead) {
        next_due = now_ms; /* no memory for the list: again soon */
    }
    int64_t end = objects_now_us(), cost = end - t0;
    s->gc_next_us = end + (cost * 10 > 1000 ? cost * 10 : 1000);
    if (next_due != INT64_MAX) {
        /* unreached zombies in their grace time: look again when it ends */
        s->gc_pending = 1;
        if (next_due * 1000 > s->gc_next_us) s->gc_next_us = next_due * 1000;
    }
}

void mpmi_gc_maybe(mpmi_srv *s, int force)
{
    if (!s->gc_pending) return;
    if (!s->nzombies) {
        s->gc_pending = 0;
        return;
    }
    if (force || objects_now_us() >= s->gc_next_us) gc_collect(s);
}

int64_t mpmi_gc_wait_us(mpmi_srv *s)
{
    if (!s->gc_pending || !s->nzombies) return -1;
    int64_t d = s->gc_next_us - objects_now_us();
    return d < 0 ? 0 : d;
}

/* Methods that never take a value out of a container: after them a
 * collection has nothing new to find. */
static int op_reads_only(int op)
{
    switch (op) {
    case MPMI_OP_REPR: case MPMI_OP_COPY: case MPMI_OP_LEN: case MPMI_OP_CONTAINS:
    case MPMI_OP_GETITEM: case MPMI_OP_D_GET: case MPMI_OP_D_KEYS: case MPMI_OP_D_VALUES:
    case MPMI_OP_D_ITEMS: case MPMI_OP_L_GETSLICE: case MPMI_OP_L_INDEX: case MPMI_OP_L_COUNT:
    case MPMI_OP_L_APPEND: case MPMI_OP_L_EXTEND: case MPMI_OP_L_INSERT:
    case MPMI_OP_NS_GETATTR: case MPMI_OP_NS_DIR: case MPMI_OP_Q_PUT_MANY:
    case MPMI_OP_Q_QSIZE: case MPMI_OP_Q_EMPTY: case MPMI_OP_Q_FULL: case MPMI_OP_Q_MAXSIZE:
    case MPMI_OP_Q_JOIN:
        return 1;
    default: return 0;
    }
}

static void obj_may_ref(mpmi_srv *s, mpmi_obj *o)
{
    if (o->may_ref || !o->type->each_value) return;
    o->may_ref = 1;
    s->nmayref++;
}

void mpmi_after_call(mpmi_call *c, mpmi_obj *o)
{
    mpmi_srv *s = c->srv;
    if (c->has_refs) obj_may_ref(s, o);
    if (o->may_ref && s->nzombies && !op_reads_only(c->op)) s->gc_pending = 1;
}

void mpmi_obj_copied_values(mpmi_obj *dst, const mpmi_obj *src)
{
    if (src->may_ref) obj_may_ref(dst->srv, dst);
}

void mpmi_obj_values_dropped(mpmi_srv *s, const mpmi_obj *o)
{
    if (o->may_ref && s->nzombies) s->gc_pending = 1;
}

/* Check one argument's references. */
static int check_refs_in(mpmi_call *c, const unsigned char *p, size_t n)
{
    mpmi_rd r;
    mpmi_item it;
    mpmi_rd_init(&r, p, n);
    while (r.p < r.end) {
        if (mpmi_rd_next(&r, &it)) return mpmi_fail(c, MPM_EPROTO, "malformed value");
        if (it.type != MPMI_EXT) continue;
        uint64_t id;
        int type;
        if (mpmi_ext_ref(&it, &id, &type))
            return mpmi_fail(c, MPM_EVALUE, "ValueError: unsupported extension value (type %d)",
                             it.v.ext.type);
        mpmi_obj *o = mpmi_obj_find(c->srv, id);
        if (!o) return mpmi_fail(c, MPM_ENOOBJ, "no object with id %llu", (unsigned long long)id);
        if (o->type->code != type)
            return mpmi_fail(c, MPM_ETYPE, "TypeError: object %llu is a %s, not a %s",
                             (unsigned long long)id, o->type->name, mpmi_objtype_name(type));
        /* a reference in flight again (a worker forwarding it): its grace
         * runs from when it next leaves a container, not from before */
        if (o->zombie) o->gc_lost_ms = 0;
        c->has_refs = 1;
    }
    return 0;
}

int mpmi_check_refs(mpmi_call *c)
{
    int n = c->argc < MPMI_MAX_ARGS ? c->argc : MPMI_MAX_ARGS;
    for (int i = 0; i < n; i++) {
        int rc = check_refs_in(c, c->argv[i].p, c->argv[i].n);
        if (rc) return rc;
    }
    return 0;
}

/* Approximate server memory of o: its values and their bookkeeping. */
static void size_add(void *ctx, const unsigned char *p, size_t n)
{
    (void)p;
    *(uint64_t *)ctx += n + 24;
}

static uint64_t obj_size(mpmi_obj *o)
{
    uint64_t n = 96; /* the object and its table slot */
    if (o->type->each_value) o->type->each_value(o, size_add, &n);
    if (o->name) n += strlen(o->name) + 1;
    return n;
}

/*---- names ----------------------------------------------------------------------*/

#define NAME_MAX_LEN 1024

static uint64_t name_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: names are few; the map mixes */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h ? h : 1; /* the map keeps key 0 for itself */
}

static mpmi_obj *name_find(mpmi_srv *s, const char *p, size_t n, uint64_t h)
{
    mpmi_map_slot *sl = mpmi_map_find(&s->names, h);
    for (mpmi_obj *o = sl ? sl->v.ptr : NULL; o; o = o->name_next)
        if (strlen(o->name) == n && memcmp(o->name, p, n) == 0) return o;
    return NULL;
}

static int name_add(mpmi_srv *s, mpmi_obj *o, const char *p, size_t n, uint64_t h)
{
    char *name = malloc(n + 1);
    if (!name) return -1;
    mpmi_map_slot *sl = mpmi_map_put(&s->names, h, NULL);
    if (!sl) {
        free(name);
        return -1;
    }
    memcpy(name, p, n);
    name[n] = 0;
    o->name = name;
    o->name_next = sl->v.ptr;
    sl->v.ptr = o;
    s->nnamed++;
    o->refs++; /* the name holds it */
    return 0;
}

/* Take o's name away (the caller drops the name's reference). */
static void name_remove(mpmi_srv *s, mpmi_obj *o)
{
    uint64_t h = name_hash(o->name, strlen(o->name));
    mpmi_map_slot *sl = mpmi_map_find(&s->names, h);
    mpmi_obj **pp = sl ? (mpmi_obj **)&sl->v.ptr : NULL;
    while (pp && *pp && *pp != o) pp = &(*pp)->name_next;
    if (pp && *pp) *pp = o->name_next;
    if (sl && !sl->v.ptr) mpmi_map_del(&s->names, h);
    free(o->name);
    o->name = NULL;
    o->name_next = NULL;
    s->nnamed--;
}

static int arg_name(mpmi_call *c, int i, const char **p, size_t *n)
{
    if (i >= c->argc || mpmi_arg_str(c, i, p, n))
        return mpmi_fail(c, MPM_ETYPE, "TypeError: a name must be a str");
    if (*n == 0 || *n > NAME_MAX_LEN || memchr(*p, 0, *n))
        return mpmi_fail(c, MPM_EVALUE, "ValueError: a name is 1 to %d bytes, without NUL",
                         NAME_MAX_LEN);
    return 0;
}

/* [id, type, typecode|nil, created] for a new handle of the caller on o. */
static int answer_handle(mpmi_call *c, mpmi_obj *o, int created)
{
    if (objects_hold(c->sess, o, 1)) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    char tc = o->type->typecode ? o->type->typecode(o) : 0;
    msgpack_pack_array(c->pk, 4);
    msgpack_pack_uint64(c->pk, o->id);
    msgpack_pack_int(c->pk, o->type->code);
    if (tc) mpmi_pk_str(c->pk, &tc, 1);
    else msgpack_pack_nil(c->pk);
    return mpmi_ok(created ? msgpack_pack_true(c->pk) : msgpack_pack_false(c->pk));
}

static void repr_name(mpmi_buf *b, const char *p, size_t n)
{
    mpmi_repr_str(b, p, n, 0);
}

/* OPEN [type|0, name, create args...] */
static int manager_open(mpmi_call *c)
{
    mpmi_srv *s = c->srv;
    int64_t code;
    const char *name;
    size_t nlen;
    if (c->argc < 2) return mpmi_fail(c, MPM_EARGS, "TypeError: open needs a type and a name");
    int rc = mpmi_arg_int(c, 0, &code);
    if (rc) return rc;
    if ((rc = arg_name(c, 1, &name, &nlen))) return rc;
    const mpmi_type *t = code ? mpmi_type_find(code) : NULL;
    if (code && !t) return mpmi_fail(c, MPM_EVALUE, "ValueError: unknown type %lld", (long long)code);
    uint64_t h = name_hash(name, nlen);
    mpmi_obj *o = name_find(s, name, nlen, h);
    if (o) {
        if (t && o->type != t) {
            mpmi_buf b;
            mpmi_buf_init(&b);
            repr_name(&b, name, nlen);
            rc = mpmi_fail(c, MPM_ETYPE, "TypeError: %.*s is a %s, not a %s", (int)b.len,
                           (const char *)b.data, o->type->name, t->name);
            mpmi_buf_free(&b);
            return rc;
        }
        return answer_handle(c, o, 0);
    }
    if (!t) {
        mpmi_buf b;
        mpmi_buf_init(&b);
        repr_name(&b, name, nlen);
        rc = mpmi_fail(c, MPM_EKEY, "KeyError: %.*s", (int)b.len, (const char *)b.data);
        mpmi_buf_free(&b);
        return rc;
    }
    /* create reads its arguments from argv[1]: drop the name */
    mpmi_call cc = *c;
    for (int i = 1; i + 1 < c->argc && i + 1 < MPMI_MAX_ARGS; i++) cc.argv[i] = c->argv[i + 1];
    cc.argc = c->argc - 1;
    rc = t->create(&cc, &o);
    if (rc) return rc;
    o->type = t;
    if (mpmi_obj_add(s, o)) {
        t->destroy(o);
        return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    }
    if (name_add(s, o, name, nlen, h)) {
        mpmi_map_del(&s->objects, o->id);
        t->destroy(o);
        return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    }
    if (c->has_refs) obj_may_ref(s, o);
    if (s->log) { /* as a repr: a name may hold any byte */
        mpmi_buf b;
        mpmi_buf_init(&b);
        repr_name(&b, name, nlen);
        mpmi_log(s, "session %llu created %s %.*s", (unsigned long long)c->sess->id, t->name,
                 (int)b.len, b.oom ? "" : (const char *)b.data);
        mpmi_buf_free(&b);
    }
    return answer_handle(c, o, 1);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp((*(mpmi_obj *const *)a)->name, (*(mpmi_obj *const *)b)->name);
}

static int manager_names(mpmi_call *c)
{
    mpmi_srv *s = c->srv;
    mpmi_obj **v = s->nnamed ? malloc(s->nnamed * sizeof *v) : NULL;
    size_t k = 0;
    if (s->nnamed && !v) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    MPMI_MAP_EACH(&s->names, sl)
    for (mpmi_obj *o = sl->v.ptr; o && k < s->nnamed; o = o->name_next) v[k++] = o;
    if (k) qsort(v, k, sizeof *v, name_cmp);
    msgpack_pack_map(c->pk, k);
    for (size_t i = 0; i < k; i++) {
        mpmi_pk_str(c->pk, v[i]->name, strlen(v[i]->name));
        mpmi_pk_str(c->pk, v[i]->type->name, strlen(v[i]->type->name));
    }
    free(v);
    return 0;
}

static int manager_name_del(mpmi_call *c)
{
    const char *name;
    size_t nlen;
    if (c->argc != 1) return mpmi_fail(c, MPM_EARGS, "TypeError: delete takes 1 argument");
    int rc = arg_name(c, 0, &name, &nlen);
    if (rc) return rc;
    mpmi_obj *o = name_find(c->srv, name, nlen, name_hash(name, nlen));
    if (!o) {
        mpmi_buf b;
        mpmi_buf_init(&b);
        repr_name(&b, name, nlen);
        rc = mpmi_fail(c, MPM_EKEY, "KeyError: %.*s", (int)b.len, (const char *)b.data);
        mpmi_buf_free(&b);
        return rc;
    }
    name_remove(c->srv, o);
    mpmi_obj_unref(c->srv, o);
    return mpmi_ok(msgpack_pack_nil(c->pk));
}

/* ATTACH [id, type|0 [, epoch]] */
static int manager_attach(mpmi_call *c)
{
    int64_t id, code, epoch;
    if (c->argc < 2 || c->argc > 3)
        return mpmi_fail(c, MPM_EARGS, "TypeError: attach takes 2 or 3 arguments");
    int rc = mpmi_arg_int(c, 0, &id);
    if (!rc) rc = mpmi_arg_int(c, 1, &code);
    if (!rc && c->argc == 3) rc = mpmi_arg_int(c, 2, &epoch);
    if (rc) return rc;
    if (c->argc == 3 && (uint64_t)epoch != c->srv->epoch)
        return mpmi_fail(c, MPM_EVALUE, "ValueError: the token is from another server (or an "
                                        "earlier run of this one)");
    mpmi_obj *o = id > 0 ? mpmi_obj_find(c->srv, (uint64_t)id) : NULL;
    if (!o) return mpmi_fail(c, MPM_ENOOBJ, "no object with id %lld", (long long)id);
    if (code && o->type->code != code) {
        const char *want = code > 0 && code < 256 ? mpmi_objtype_name((int)code) : NULL;
        return mpmi_fail(c, MPM_ETYPE, "TypeError: object %lld is a %s, not a %s", (long long)id,
                         o->type->name, want ? want : "known type");
    }
    return answer_handle(c, o, 0);
}

static void pk_kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
    mpmi_pk_str(pk, k, strlen(k));
    msgpack_pack_uint64(pk, v);
}

static int manager_stats(mpmi_call *c)
{
    mpmi_srv *s = c->srv;
    size_t nerr = 0;
    for (int i = 0; i < 64; i++) nerr += s->stats.errors_by_code[i] != 0;
    msgpack_pack_map(c->pk, 18);
    pk_kv_u64(c->pk, "objects", s->objects.len);
    pk_kv_u64(c->pk, "named", s->nnamed);
    pk_kv_u64(c->pk, "sessions", s->nsessions);
    pk_kv_u64(c->pk, "connections", s->nconns);
    pk_kv_u64(c->pk, "parked", s->nparked);
    pk_kv_u64(c->pk, "calls", s->stats.calls);
    pk_kv_u64(c->pk, "errors", s->stats.errors);
    mpmi_pk_str(c->pk, "errors_by_code", 14);
    msgpack_pack_map(c->pk, nerr);
    for (int i = 0; i < 64; i++) {
        if (!s->stats.errors_by_code[i]) continue;
        msgpack_pack_int(c->pk, i);
        msgpack_pack_uint64(c->pk, s->stats.errors_by_code[i]);
    }
    pk_kv_u64(c->pk, "refused", s->stats.refused);
    pk_kv_u64(c->pk, "bytes_in", s->stats.bytes_in);
    pk_kv_u64(c->pk, "bytes_out", s->stats.bytes_out);
    pk_kv_u64(c->pk, "connections_total", s->stats.conns_total);
    pk_kv_u64(c->pk, "sessions_total", s->stats.sessions_total);
    pk_kv_u64(c->pk, "uptime_ms", (uint64_t)(mpmi_now_ms() - s->started_ms));
    pk_kv_u64(c->pk, "pid", (uint64_t)getpid());
    pk_kv_u64(c->pk, "zombies", s->nzombies);
    pk_kv_u64(c->pk, "gc_runs", s->stats.gc_runs);
    pk_kv_u64(c->pk, "gc_freed", s->stats.gc_freed);
    return 0;
}

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int manager_objects(mpmi_call *c)
{
    mpmi_srv *s = c->srv;
    size_t n = s->objects.len, k = 0;
    uint64_t *ids = n ? malloc(n * sizeof *ids) : NULL;
    if (n && !ids) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    MPMI_MAP_EACH(&s->objects, sl) if (k < n) ids[k++] = sl->key;
    if (k) qsort(ids, k, sizeof *ids, id_cmp);
    msgpack_pack_array(c->pk, k);
    for (size_t i = 0; i < k; i++) {
        mpmi_obj *o = mpmi_obj_find(s, ids[i]);
        msgpack_pack_map(c->pk, 5);
        pk_kv_u64(c->pk, "id", o->id);
        mpmi_pk_str(c->pk, "type", 4);
        mpmi_pk_str(c->pk, o->type->name, strlen(o->type->name));
        mpmi_pk_str(c->pk, "name", 4);
        if (o->name) mpmi_pk_str(c->pk, o->name, strlen(o->name));
        else msgpack_pack_nil(c->pk);
        pk_kv_u64(c->pk, "refs", o->refs);
        pk_kv_u64(c->pk, "size", obj_size(o));
    }
    free(ids);
    return 0;
}

/*---- manager methods -------------------------------------------------------*/

static void sleep_timeout(mpmi_waiter *w)
{
    msgpack_pack_nil(mpmi_answer_pk(w));
    mpmi_answer_done(w);
}

/* INCREF takes a handle on every id that still exists and answers the list of
 * those that did not (a forked child's inherited handle may have died: that
 * must not cost it the others).  DECREF checks every id first, so a bad one
 * changes nothing. */
static int manager_ref(mpmi_call *c, int inc)
{
    uint32_t missing = 0;
    int64_t id;
    for (int i = 0; i < c->argc; i++) {
        int rc = mpmi_arg_int(c, i, &id);
        if (rc) return rc;
        mpmi_obj *o = id > 0 ? mpmi_obj_find(c->srv, (uint64_t)id) : NULL;
        if (!o && inc) {
            missing++;
            continue;
        }
        if (!o) return mpmi_fail(c, MPM_ENOOBJ, "no object with id %lld", (long long)id);
        if (!inc && !mpmi_map_find(&c->sess->handles, o->id))
            return mpmi_fail(c, MPM_ENOOBJ, "this process holds no handle on object %llu",
                             (unsigned long long)o->id);
    }
    if (inc) msgpack_pack_array(c->pk, missing);
    for (int i = 0; i < c->argc; i++) {
        mpmi_arg_int(c, i, &id);
        mpmi_obj *o = id > 0 ? mpmi_obj_find(c->srv, (uint64_t)id) : NULL;
        if (!o) {
            if (inc) msgpack_pack_int64(c->pk, id);
            continue; /* decref: released earlier in this same call */
        }
        if (inc) {
            if (objects_hold(c->sess, o, 1)) return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
        } else {
            objects_release(c->srv, c->sess, o, 1);
        }
    }
    if (!inc) msgpack_pack_nil(c->pk);
    return 0;
}

int mpmi_manager_call(mpmi_call *c)
{
    mpmi_srv *s = c->srv;
    switch (c->op) {
    case MPMI_OP_CREATE: {
        int64_t code;
        mpmi_obj *o = NULL;
        if (c->argc < 1) return mpmi_fail(c, MPM_EARGS, "TypeError: create needs a type");
        int rc = mpmi_arg_int(c, 0, &code);
        if (rc) return rc;
        const mpmi_type *t = code ? mpmi_type_find(code) : NULL;
        if (!t) return mpmi_fail(c, MPM_EVALUE, "ValueError: unknown type %lld", (long long)code);
        rc = t->create(c, &o);
        if (rc) return rc;
        o->type = t;
        if (mpmi_obj_add(s, o) || objects_hold(c->sess, o, 1)) {
            if (o->id) mpmi_map_del(&s->objects, o->id);
            t->destroy(o);
            return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
        }
        if (c->has_refs) obj_may_ref(s, o);
        return mpmi_ok(msgpack_pack_uint64(c->pk, o->id));
    }
    case MPMI_OP_INCREF: return manager_ref(c, 1);
    case MPMI_OP_DECREF: return manager_ref(c, 0);
    case MPMI_OP_PING: return mpmi_ok(mpmi_pk_str(c->pk, "pong", 4));
    case MPMI_OP_SLEEP: {
        int64_t ms;
        if (c->argc != 1) return mpmi_fail(c, MPM_EARGS, "TypeError: sleep takes 1 argument");
        int rc = mpmi_arg_int(c, 0, &ms);
        if (rc) return rc;
        if (ms < 0) return mpmi_fail(c, MPM_EVALUE, "ValueError: sleep length must be >= 0");
        return mpmi_park(c, ms, sleep_timeout, NULL) ? MPMI_PARKED
                                                     : mpmi_fail(c, MPM_ENOMEM, "MemoryError");
    }
    case MPMI_OP_NOBJECTS:
        mpmi_gc_maybe(s, 1);
        return mpmi_ok(msgpack_pack_uint64(c->pk, s->objects.len));
    case MPMI_OP_OPEN: return manager_open(c);
    case MPMI_OP_NAMES: return manager_names(c);
    case MPMI_OP_NAME_DEL: return manager_name_del(c);
    case MPMI_OP_ATTACH: return manager_attach(c);
    case MPMI_OP_STATS: mpmi_gc_maybe(s, 1); return manager_stats(c);
    case MPMI_OP_OBJECTS: mpmi_gc_maybe(s, 1); return manager_objects(c);
    case MPMI_OP_EPOCH: return mpmi_ok(msgpack_pack_uint64(c->pk, s->epoch));
    case MPMI_OP_SHUTDOWN:
        mpmi_log(s, "shutdown requested by session %llu", (unsigned long long)c->sess->id);
        s->running = 0;
        return mpmi_ok(msgpack_pack_nil(c->pk));
    case MPMI_OP_TYPEOF: {
        mpmi_obj *o;
        if (c->argc != 1) return mpmi_fail(c, MPM_EARGS, "TypeError: typeof takes 1 argument");
        int rc = mpmi_arg_obj(c, 0, 0, &o);
        if (rc) return rc;
        char tc = o->type->typecode ? o->type->typecode(o) : 0;
        msgpack_pack_array(c->pk, 2);
        msgpack_pack_int(c->pk, o->type->code);
        return tc ? mpmi_ok(mpmi_pk_str(c->pk, &tc, 1)) : mpmi_ok(msgpack_pack_nil(c->pk));
    }
    default:
        return mpmi_fail(c, MPM_ENOMETHOD, "the manager has no method %d", c->op);
    }
}
