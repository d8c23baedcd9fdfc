/* objects.c - the object table, sessions and their handles, and the manager
 * object's methods (object id 0). */
#include <stdlib.h>
#include <string.h>

#include "loop.h"

static const mpmi_type *const objects_types[] = {
    &mpmi_type_dict,      &mpmi_type_list,      &mpmi_type_namespace,
    &mpmi_type_value,     &mpmi_type_array,     &mpmi_type_lock,
    &mpmi_type_rlock,     &mpmi_type_semaphore, &mpmi_type_bounded_semaphore,
    &mpmi_type_condition, &mpmi_type_event,     &mpmi_type_barrier,
    &mpmi_type_queue,     &mpmi_type_joinable_queue,
};

const mpmi_type *mpmi_type_find(int code)
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

static void obj_destroy(mpmi_srv *s, mpmi_obj *o)
{
    mpmi_map_del(&s->objects, o->id);
    o->type->destroy(o);
}

void mpmi_obj_ref(mpmi_obj *o)
{
    o->refs++;
}

void mpmi_obj_unref(mpmi_srv *s, mpmi_obj *o)
{
    if (s->finishing) return;
    if (--o->refs == 0) obj_destroy(s, o);
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
    if (o->refs == 0) obj_destroy(s, o);
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
    MPMI_MAP_EACH(&s->objects, sl)
    {
        mpmi_obj *o = sl->v.ptr;
        o->type->destroy(o);
    }
    mpmi_map_free(&s->objects);
    mpmi_map_free(&s->sessions_by_id);
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
        const mpmi_type *t = mpmi_type_find((int)code);
        if (!t) return mpmi_fail(c, MPM_EVALUE, "ValueError: unknown type %lld", (long long)code);
        rc = t->create(c, &o);
        if (rc) return rc;
        o->type = t;
        if (mpmi_obj_add(s, o) || objects_hold(c->sess, o, 1)) {
            if (o->id) mpmi_map_del(&s->objects, o->id);
            t->destroy(o);
            return mpmi_fail(c, MPM_ENOMEM, "MemoryError");
        }
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
    case MPMI_OP_NOBJECTS: return mpmi_ok(msgpack_pack_uint64(c->pk, s->objects.len));
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
