/* server.h - mpmd internals shared by the loop, the object table and the types.
 *
 * One thread owns everything here.  A type is a method table (mpmi_type) over
 * objects that embed mpmi_obj first.  A method reads its arguments from the
 * call, packs exactly one result value on success, and returns 0; or returns a
 * negative MPM_E* after mpmi_fail() set the Python-style message; or parks the
 * call (mpmi_park) and returns MPMI_PARKED, to be answered later.
 */
#ifndef MPMI_SERVER_H
#define MPMI_SERVER_H

#include <mpm/mpm.h>
#include <msgpack.h>
#include <stdint.h>

#include "../protocol/buf.h"
#include "../protocol/codec.h"
#include "../protocol/ops.h"
#include "map.h"

#define MPMI_MAX_ARGS 8
#define MPMI_PARKED 1

typedef struct mpmi_srv mpmi_srv;
typedef struct mpmi_session mpmi_session;
typedef struct mpmi_req mpmi_req;
typedef struct mpmi_type mpmi_type;
typedef struct mpmi_waiter mpmi_waiter;

typedef struct mpmi_obj {
    uint64_t id;
    const mpmi_type *type;
    uint64_t refs; /* handles held by sessions, a name, a Condition's hold on its lock */
    mpmi_srv *srv;
    char *name;             /* named objects: NUL-terminated; else NULL */
    struct mpmi_obj *name_next; /* names whose hash collides */
    /* References stored in values (nested proxies) are not counted in refs:
     * a collector traces them (objects.c), so cycles go too. */
    int may_ref;            /* has been given a value holding a reference */
    int zombie;             /* refs == 0, kept while a stored reference may reach it */
    uint64_t gc_mark;
    int64_t gc_lost_ms;     /* zombie: when a collection first found it unreached */
    struct mpmi_obj *znext, *zprev;
    /* work put off until the loop has looked for more input (mpmi_defer) */
    int deferred;
    uint64_t defer_iter;
    struct mpmi_obj *dnext, *dprev;
} mpmi_obj;

typedef struct mpmi_arg {
    const unsigned char *p;
    size_t n;
} mpmi_arg;

typedef struct mpmi_call {
    mpmi_srv *srv;
    mpmi_session *sess;
    mpmi_req *req;
    int op;
    int argc;
    mpmi_arg argv[MPMI_MAX_ARGS];
    msgpack_packer *pk; /* the result value goes here */
    mpmi_buf *msg;      /* the error message goes here (mpmi_fail) */
    int has_refs;       /* some argument holds an object reference (checked valid) */
} mpmi_call;

typedef int (*mpmi_method_fn)(mpmi_obj *o, mpmi_call *c);

enum { MPMI_MUTATES = 1 };

typedef struct mpmi_method {
    int op; /* 0 ends a table */
    mpmi_method_fn fn;
    int min_args, max_args;
    unsigned flags;
} mpmi_method;

struct mpmi_type {
    int code; /* mpm_objtype */
    const char *name;
    /* Build a new object from c->argv[1..]: 0 with *out, or an error via mpmi_fail. */
    int (*create)(mpmi_call *c, mpmi_obj **out);
    void (*destroy)(mpmi_obj *o);
    /* Python str() of the object. */
    int (*repr)(mpmi_obj *o, mpmi_buf *out);
    /* Pack a snapshot value. */
    int (*copy)(mpmi_obj *o, msgpack_packer *pk);
    /* Optional: typecode character (Value, Array), else 0. */
    char (*typecode)(mpmi_obj *o);
    /* Optional: a session that holds something of o (mpmi_hold) has ended:
     * give back what it held (locks, permits).  Its parked calls are already
     * dropped (on_drop) by then. */
    void (*session_gone)(mpmi_obj *o, uint64_t session);
    /* Containers: call fn on the msgpack bytes of every stored value (a run of
     * one or more whole values: a dict entry gives its key and value), items
     * of parked puts included.  The collector finds references with it, and
     * introspection sizes the object. */
    void (*each_value)(mpmi_obj *o, void (*fn)(void *ctx, const unsigned char *p, size_t n),
                       void *ctx);
    /* Optional: the work mpmi_defer put off (may answer waiters). */
    void (*run_deferred)(mpmi_obj *o);
    const mpmi_method *methods;
};

/* A parked call.  The type links it into its own wait lists (next/prev) and
 * must unlink it in on_timeout, on_drop and before answering it. */
struct mpmi_waiter {
    mpmi_srv *srv;
    mpmi_req *req;
    mpmi_obj *obj;
    int64_t deadline;    /* monotonic ms; INT64_MAX = none */
    int64_t parked_ms;   /* when it was parked (monotonic ms) */
    size_t heap_idx;     /* position in the deadline heap, or SIZE_MAX */
    void (*on_timeout)(mpmi_waiter *w); /* must answer (mpmi_answer_*) */
    void (*on_drop)(mpmi_waiter *w);    /* client gone: unlink only */
    mpmi_waiter *next, *prev;
    void *data;
    int64_t arg;
    uint64_t session; /* the parked caller's session */
    uint64_t thread;  /* free for the type: e.g. the caller's thread id */
};

/* A method's result: packing can only fail for lack of memory, which the reply
 * buffer remembers and the sender checks, so a pack's own -1 (== MPM_EKEY!)
 * must never become the method's return code: `return mpmi_ok(pack...)`. */
static inline int mpmi_ok(int packed)
{
    (void)packed;
    return 0;
}

/* Parked calls in arrival order: what every blocking type queues its waiters in. */
typedef struct mpmi_waitq {
    mpmi_waiter *head, *tail;
} mpmi_waitq;

static inline void mpmi_waitq_append(mpmi_waitq *q, mpmi_waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail) q->tail->next = w;
    else q->head = w;
    q->tail = w;
}

static inline void mpmi_waitq_unlink(mpmi_waitq *q, mpmi_waiter *w)
{
    if (w->prev) w->prev->next = w->next;
    else q->head = w->next;
    if (w->next) w->next->prev = w->prev;
    else q->tail = w->prev;
    w->next = w->prev = NULL;
}

/*---- errors and arguments (types.c) ----*/
int mpmi_fail(mpmi_call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Fail with "<prefix><repr of value><suffix>", e.g. KeyError: 'x'. */
int mpmi_fail_repr(mpmi_call *c, int code, const char *prefix, const unsigned char *p, size_t n,
                   const char *suffix);
int mpmi_arg_int(mpmi_call *c, int i, int64_t *v);
/* Like mpmi_arg_int, but nil (or a missing argument) gives dflt. */
int mpmi_arg_int_opt(mpmi_call *c, int i, int64_t dflt, int64_t *v);
int mpmi_arg_bool(mpmi_call *c, int i, int *v);
int mpmi_arg_str(mpmi_call *c, int i, const char **p, size_t *n);
/* The argument is an array: its element count and a reader at its first element. */
int mpmi_arg_array(mpmi_call *c, int i, uint32_t *n, mpmi_rd *r);
int mpmi_arg_map(mpmi_call *c, int i, uint32_t *n, mpmi_rd *r);
/* An object argument of the given type (0 = any). */
int mpmi_arg_obj(mpmi_call *c, int i, int type, mpmi_obj **o);
/* Resolve Python slice bounds for a sequence of length len. */
int mpmi_arg_slice(mpmi_call *c, int i, size_t len, int64_t *start, int64_t *stop, int64_t *step,
                   size_t *count);
/* Normalise a Python index (negative from the end): 0, or IndexError with what. */
int mpmi_index(mpmi_call *c, int64_t i, size_t len, const char *what, size_t *out);

/* A stored value: its msgpack bytes. */
typedef struct mpmi_blob {
    uint32_t n;
    unsigned char p[];
} mpmi_blob;
mpmi_blob *mpmi_blob_new(const void *p, size_t n);

/*---- objects (objects.c) ----*/
mpmi_obj *mpmi_obj_find(mpmi_srv *s, uint64_t id);
/* Register a created object under a new id. */
int mpmi_obj_add(mpmi_srv *s, mpmi_obj *o);
const mpmi_type *mpmi_type_find(int64_t code); /* NULL for any unknown code */

/* The calling session's id: with a thread id, who owns a lock. */
uint64_t mpmi_call_session(const mpmi_call *c);
/* Record that session holds n more (or, unhold, fewer) of o's resources, so
 * o->type->session_gone hears of the session's end.  Holding the resource does
 * not keep o alive. */
int mpmi_hold(mpmi_srv *s, uint64_t session, mpmi_obj *o);
void mpmi_unhold(mpmi_srv *s, uint64_t session, mpmi_obj *o);
/* References between objects (a Condition keeps its lock alive). */
void mpmi_obj_ref(mpmi_obj *o);
/* Drop a reference; the object dies with its last.  At shutdown, when every
 * object is destroyed in no set order, it does nothing (and never reads o,
 * which may be gone already). */
void mpmi_obj_unref(mpmi_srv *s, mpmi_obj *o);
/* dst was given copies of src's stored values (update, extend): if they may
 * hold references, the collector must trace dst too. */
void mpmi_obj_copied_values(mpmi_obj *dst, const mpmi_obj *src);
/* Values o held outside its container (a parked put's items) were freed:
 * what only they reached may be collectable now. */
void mpmi_obj_values_dropped(mpmi_srv *s, const mpmi_obj *o);

/*---- deferred work (loop.c) ----*/
/* Run o->type->run_deferred once the loop has polled for input again (at the
 * end of its next round of events, or before it sleeps, whichever is first):
 * a request already on its way - a lock's releaser acquiring again - is seen
 * first.  Once until it runs; an object that dies is forgotten. */
void mpmi_defer(mpmi_obj *o);
void mpmi_undefer(mpmi_obj *o);

/*---- parking (loop.c) ----*/
/* Park the current call until answered or timeout_ms passes (-1: never).
 * The method must then return MPMI_PARKED and not answer the waiter itself
 * before returning (an answer given before the return would be overwritten). */
mpmi_waiter *mpmi_park(mpmi_call *c, int64_t timeout_ms, void (*on_timeout)(mpmi_waiter *),
                       void (*on_drop)(mpmi_waiter *));
/* Answer a parked call: mpmi_answer_pk gives the packer for the success value;
 * then mpmi_answer_done.  Or mpmi_answer_err.  The waiter is freed after. */
msgpack_packer *mpmi_answer_pk(mpmi_waiter *w);
void mpmi_answer_done(mpmi_waiter *w);
void mpmi_answer_err(mpmi_waiter *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int64_t mpmi_now_ms(void);
int64_t mpmi_now_us(void); /* CLOCK_MONOTONIC, microseconds */
/* Take a parked call's deadline away: it waits until answered (a notified
 * Condition waiter re-acquiring its lock). */
void mpmi_waiter_no_deadline(mpmi_waiter *w);

/*---- the types ----*/
extern const mpmi_type mpmi_type_dict;
extern const mpmi_type mpmi_type_list;
extern const mpmi_type mpmi_type_namespace;
extern const mpmi_type mpmi_type_value;
extern const mpmi_type mpmi_type_array;
extern const mpmi_type mpmi_type_lock;
extern const mpmi_type mpmi_type_rlock;
extern const mpmi_type mpmi_type_semaphore;
extern const mpmi_type mpmi_type_bounded_semaphore;
extern const mpmi_type mpmi_type_condition;
extern const mpmi_type mpmi_type_event;
extern const mpmi_type mpmi_type_barrier;
extern const mpmi_type mpmi_type_queue;
extern const mpmi_type mpmi_type_joinable_queue;

#endif
