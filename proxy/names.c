/* names.c - named objects, references stored in values, handle tokens and the
 * manager's introspection. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "transport.h"

/*---- named objects -------------------------------------------------------------*/

int mpm_open(mpm_manager *m, const char *name, int type, const mpm_val *args, size_t nargs,
             void **out, bool *created)
{
    mpm_val a[MPMI_MAX_CREATE_ARGS + 2];
    if (!m || !name || !out || (nargs && !args))
        return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    *out = NULL;
    if (type < 0 || type > 255) return mpmi_error(MPM_EINVAL, "ValueError: unknown type %d", type);
    if (nargs > MPMI_MAX_CREATE_ARGS) return mpmi_error(MPM_EINVAL, "too many arguments");
    a[0] = MPM_INT(type);
    a[1] = MPM_STR(name);
    for (size_t i = 0; i < nargs; i++) a[i + 2] = args[i];
    return mpmi_attach(m, MPMI_OP_OPEN, a, (int)nargs + 2, out, created);
}

int mpm_dict_open(mpm_manager *m, const char *name, mpm_dict **out)
{
    return mpm_open(m, name, MPM_OBJ_DICT, NULL, 0, (void **)out, NULL);
}

int mpm_list_open(mpm_manager *m, const char *name, mpm_list **out)
{
    return mpm_open(m, name, MPM_OBJ_LIST, NULL, 0, (void **)out, NULL);
}

int mpm_namespace_open(mpm_manager *m, const char *name, mpm_namespace **out)
{
    return mpm_open(m, name, MPM_OBJ_NAMESPACE, NULL, 0, (void **)out, NULL);
}

int mpm_value_open(mpm_manager *m, const char *name, char typecode, mpm_val init,
                   mpm_value **out)
{
    mpm_val args[2] = {MPM_STRN(&typecode, 1), init};
    return mpm_open(m, name, MPM_OBJ_VALUE, args, 2, (void **)out, NULL);
}

int mpm_array_open(mpm_manager *m, const char *name, char typecode, size_t n, mpm_array **out)
{
    if (n > INT64_MAX) {
        if (out) *out = NULL;
        return mpmi_error(MPM_EINVAL, "mpm_array_open: size too large");
    }
    mpm_val args[2] = {MPM_STRN(&typecode, 1), MPM_INT((int64_t)n)};
    return mpm_open(m, name, MPM_OBJ_ARRAY, args, 2, (void **)out, NULL);
}

int mpm_lock_open(mpm_manager *m, const char *name, mpm_lock **out)
{
    return mpm_open(m, name, MPM_OBJ_LOCK, NULL, 0, (void **)out, NULL);
}

int mpm_rlock_open(mpm_manager *m, const char *name, mpm_rlock **out)
{
    return mpm_open(m, name, MPM_OBJ_RLOCK, NULL, 0, (void **)out, NULL);
}

int mpm_semaphore_open(mpm_manager *m, const char *name, int64_t value, bool bounded,
                       mpm_semaphore **out)
{
    mpm_val arg = MPM_INT(value);
    return mpm_open(m, name, bounded ? MPM_OBJ_BOUNDED_SEMAPHORE : MPM_OBJ_SEMAPHORE, &arg, 1,
                    (void **)out, NULL);
}

int mpm_condition_open(mpm_manager *m, const char *name, mpm_condition **out)
{
    mpm_val arg = MPM_NONE; /* its own RLock: a named lock is opened by its own name */
    return mpm_open(m, name, MPM_OBJ_CONDITION, &arg, 1, (void **)out, NULL);
}

int mpm_event_open(mpm_manager *m, const char *name, mpm_event **out)
{
    return mpm_open(m, name, MPM_OBJ_EVENT, NULL, 0, (void **)out, NULL);
}

int mpm_barrier_open(mpm_manager *m, const char *name, int64_t parties, int64_t timeout_ms,
                     mpm_barrier **out)
{
    int rc = mpmi_check_timeout(timeout_ms);
    if (rc) {
        if (out) *out = NULL;
        return rc;
    }
    mpm_val args[2] = {MPM_INT(parties), MPM_INT(timeout_ms)};
    return mpm_open(m, name, MPM_OBJ_BARRIER, args, 2, (void **)out, NULL);
}

int mpm_queue_open(mpm_manager *m, const char *name, int64_t maxsize, mpm_queue **out)
{
    mpm_val arg = MPM_INT(maxsize);
    return mpm_open(m, name, MPM_OBJ_QUEUE, &arg, 1, (void **)out, NULL);
}

int mpm_joinable_queue_open(mpm_manager *m, const char *name, int64_t maxsize, mpm_queue **out)
{
    mpm_val arg = MPM_INT(maxsize);
    return mpm_open(m, name, MPM_OBJ_JOINABLE_QUEUE, &arg, 1, (void **)out, NULL);
}

int mpm_names(mpm_manager *m, mpm_val **out)
{
    if (!m || !out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    return mpmi_call_id(m, 0, MPMI_OP_NAMES, NULL, 0, MPMI_SINK_VAL(out));
}

int mpm_name_delete(mpm_manager *m, const char *name)
{
    if (!m || !name) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    mpm_val arg = MPM_STR(name);
    return mpmi_call_id(m, 0, MPMI_OP_NAME_DEL, &arg, 1, MPMI_SINK_NONE);
}

/*---- references in values -------------------------------------------------------*/

mpm_val mpm_ref(const void *handle)
{
    const mpmi_handle *h = handle;
    /* a NULL handle gives a reference that packing refuses (a closed one is
     * freed memory: the handle must be open) */
    mpm_val v = {.type = MPM_T_REF};
    if (h) {
        v.v.ref.id = h->id;
        v.v.ref.type = h->type;
    }
    return v;
}

static int names_check_want(int want)
{
    if (want < 0 || want > 255) return mpmi_error(MPM_EINVAL, "ValueError: unknown type %d", want);
    return 0;
}

int mpm_handle_from_val(mpm_manager *m, mpm_val v, int want, void **out)
{
    if (!m || !out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    *out = NULL;
    int rc = names_check_want(want);
    if (rc) return rc;
    if (v.type != MPM_T_REF)
        return mpmi_error(MPM_ETYPE, "TypeError: the value is not a reference to a shared object");
    if (want && v.v.ref.type != want)
        return mpmi_error(MPM_ETYPE, "TypeError: the reference is to a %s, not a %s",
                          mpmi_objtype_name(v.v.ref.type) ? mpmi_objtype_name(v.v.ref.type) : "?",
                          mpmi_objtype_name(want) ? mpmi_objtype_name(want) : "?");
    mpm_val args[2] = {MPM_INT((int64_t)v.v.ref.id), MPM_INT(v.v.ref.type)};
    return mpmi_attach(m, MPMI_OP_ATTACH, args, 2, out, NULL);
}

/*---- tokens ------------------------------------------------------------------------*/

/* The server's run number, asked once per manager. */
static int names_epoch(mpm_manager *m, uint64_t *epoch)
{
    pthread_mutex_lock(&m->mu);
    uint64_t e = m->epoch;
    pthread_mutex_unlock(&m->mu);
    if (!e) {
        if (mpmi_in_batch(m))
            return mpmi_error(MPM_EBATCH, "a token needs the server's answer: not in a batch");
        int64_t v;
        int rc = mpmi_call_id(m, 0, MPMI_OP_EPOCH, NULL, 0, MPMI_SINK_INT(&v));
        if (rc) return rc;
        e = (uint64_t)v | UINT64_C(1) << 63; /* nonzero even when the number is 0 */
        pthread_mutex_lock(&m->mu);
        m->epoch = e;
        pthread_mutex_unlock(&m->mu);
    }
    *epoch = e & ~(UINT64_C(1) << 63);
    return 0;
}

int mpm_handle_token(const void *handle, char *buf, size_t len)
{
    int rc = mpmi_check(handle);
    if (rc) return rc;
    if (!buf || len < MPM_TOKEN_MAX)
        return mpmi_error(MPM_EINVAL, "ValueError: a token needs a buffer of MPM_TOKEN_MAX bytes");
    const mpmi_handle *h = handle;
    uint64_t epoch = 0;
    if ((rc = names_epoch(h->m, &epoch))) return rc;
    const char *tn = mpmi_objtype_name(h->type);
    snprintf(buf, len, "mpm1:%s:%" PRIu64 ":%08" PRIx64, tn ? tn : "?", h->id, epoch);
    return 0;
}

int mpm_handle_from_token(mpm_manager *m, const char *token, int want, void **out)
{
    if (!m || !token || !out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    *out = NULL;
    int rc = names_check_want(want);
    if (rc) return rc;
    char tn[32];
    uint64_t id, epoch;
    int used = 0, type = 0;
    if (strlen(token) >= MPM_TOKEN_MAX ||
        sscanf(token, "mpm1:%31[A-Za-z]:%" SCNu64 ":%8" SCNx64 "%n", tn, &id, &epoch, &used) != 3 ||
        token[used] != 0 || id == 0)
        return mpmi_error(MPM_EVALUE, "ValueError: not an mpm handle token: '%.80s'", token);
    for (int t = 1; t < 256; t++) {
        const char *n = mpmi_objtype_name(t);
        if (!n) break;
        if (strcmp(n, tn) == 0) type = t;
    }
    if (!type) return mpmi_error(MPM_EVALUE, "ValueError: unknown type '%s' in token", tn);
    if (want && want != type)
        return mpmi_error(MPM_ETYPE, "TypeError: the token names a %s, not a %s", tn,
                          mpmi_objtype_name(want) ? mpmi_objtype_name(want) : "?");
    mpm_val args[3] = {MPM_INT((int64_t)id), MPM_INT(type), MPM_INT((int64_t)epoch)};
    return mpmi_attach(m, MPMI_OP_ATTACH, args, 3, out, NULL);
}

/*---- introspection ----------------------------------------------------------------*/

static uint64_t names_u64(const mpm_val *v)
{
    if (v->type == MPM_T_INT) return (uint64_t)v->v.i;
    if (v->type == MPM_T_FLOAT && v->v.f >= 0) return (uint64_t)v->v.f; /* beyond int64 */
    return 0;
}

int mpm_manager_stats(mpm_manager *m, mpm_stats *out)
{
    if (!m || !out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    if (mpmi_in_batch(m)) return mpmi_error(MPM_EBATCH, "stats need the answer now: not in a batch");
    mpm_val *v;
    int rc = mpmi_call_id(m, 0, MPMI_OP_STATS, NULL, 0, MPMI_SINK_VAL(&v));
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    if (v->type != MPM_T_DICT) {
        mpm_val_free(v);
        return mpmi_error(MPM_EPROTO, "unexpected reply type");
    }
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"objects", offsetof(mpm_stats, objects)},
        {"named", offsetof(mpm_stats, named)},
        {"sessions", offsetof(mpm_stats, sessions)},
        {"connections", offsetof(mpm_stats, connections)},
        {"parked", offsetof(mpm_stats, parked)},
        {"calls", offsetof(mpm_stats, calls)},
        {"errors", offsetof(mpm_stats, errors)},
        {"refused", offsetof(mpm_stats, refused)},
        {"bytes_in", offsetof(mpm_stats, bytes_in)},
        {"bytes_out", offsetof(mpm_stats, bytes_out)},
        {"connections_total", offsetof(mpm_stats, connections_total)},
        {"sessions_total", offsetof(mpm_stats, sessions_total)},
        {"uptime_ms", offsetof(mpm_stats, uptime_ms)},
        {"pid", offsetof(mpm_stats, pid)},
        {"zombies", offsetof(mpm_stats, unheld)},
        {"gc_runs", offsetof(mpm_stats, gc_runs)},
        {"gc_freed", offsetof(mpm_stats, gc_freed)},
    };
    for (size_t i = 0; i < v->v.dict.len; i++) {
        const mpm_pair *p = &v->v.dict.items[i];
        if (p->key.type != MPM_T_STR) continue;
        if (strcmp(p->key.v.str.ptr, "errors_by_code") == 0 && p->value.type == MPM_T_DICT) {
            for (size_t k = 0; k < p->value.v.dict.len; k++) {
                const mpm_pair *e = &p->value.v.dict.items[k];
                if (e->key.type == MPM_T_INT && e->key.v.i > 0 && e->key.v.i < 64)
                    out->errors_by_code[e->key.v.i] = names_u64(&e->value);
            }
            continue;
        }
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
            if (strcmp(p->key.v.str.ptr, fields[f].name) == 0)
                *(uint64_t *)((char *)out + fields[f].off) = names_u64(&p->value);
    }
    mpm_val_free(v);
    return 0;
}

int mpm_manager_objects(mpm_manager *m, mpm_val **out)
{
    if (!m || !out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    return mpmi_call_id(m, 0, MPMI_OP_OBJECTS, NULL, 0, MPMI_SINK_VAL(out));
}

int mpm_manager_sessions(mpm_manager *m, size_t *out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    mpm_stats st;
    int rc = mpm_manager_stats(m, &st);
    if (rc) return rc;
    *out = (size_t)st.sessions;
    return 0;
}
