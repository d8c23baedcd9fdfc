/*
 * mpm.h - the mpm client library (libmpm).
 *
 * mpm is Python's multiprocessing.Manager for C programs: a manager server
 * (mpmd) holds shared objects, and any number of processes, on this host or on
 * others, use them through typed handles.  Start a private manager with
 * mpm_manager_start(), or reach a running mpmd with mpm_connect().
 *
 * Conventions
 *  - Every call returns 0 or a negative MPM_E* code; mpm_strerror() names a
 *    code and mpm_last_error() gives the message of the calling thread's last
 *    failure, in Python's words when the server raised it ("KeyError: 'x'").
 *  - Arguments are mpm_val, small tagged values built in place with MPM_INT(),
 *    MPM_STR() and friends: no allocation.  Argument memory is borrowed for the
 *    duration of the call.
 *  - Results returned through an mpm_val ** are one allocation owned by the
 *    caller: free the whole tree with mpm_val_free().  Strings in results are
 *    NUL-terminated.  Results returned through char ** are freed with free().
 *  - Handles (mpm_dict *, mpm_list *, ...) belong to their manager.  Close one
 *    with its _close function; mpm_manager_close() and mpm_manager_shutdown()
 *    close whatever is still open.  Every close accepts NULL.
 *  - Timeouts are milliseconds: -1 waits forever, 0 never waits.
 *  - fork() is transparent: a child that inherited a manager and its handles
 *    simply uses them; on its first call it opens its own connection and takes
 *    its own references, whatever the transport (nng+ URLs included: libmpm
 *    speaks nng's wire without libnng).
 */
#ifndef MPM_MPM_H
#define MPM_MPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/*---- errors ----------------------------------------------------------------*/

/* MPM_ERRNO_MAP(XX): every error code, its number and its short description.
 * The first group mirrors the Python exception a Manager would raise. */
#define MPM_ERRNO_MAP(XX)                                                          \
    XX(EKEY, 1, "KeyError")                                                        \
    XX(EINDEX, 2, "IndexError")                                                    \
    XX(EVALUE, 3, "ValueError")                                                    \
    XX(ETYPE, 4, "TypeError")                                                      \
    XX(EOVERFLOW, 5, "OverflowError")                                              \
    XX(EATTR, 6, "AttributeError")                                                 \
    XX(ERUNTIME, 7, "RuntimeError")                                                \
    XX(EBROKEN, 8, "BrokenBarrierError")                                           \
    XX(EFULL, 9, "queue.Full")                                                     \
    XX(EEMPTY, 10, "queue.Empty")                                                  \
    XX(ENOMEM, 20, "out of memory")                                                \
    XX(EINVAL, 21, "invalid argument")                                             \
    XX(ENOOBJ, 22, "no such object")                                               \
    XX(ENOMETHOD, 23, "no such method for this type")                              \
    XX(EARGS, 24, "wrong number of arguments")                                     \
    XX(EPROTO, 25, "protocol error")                                               \
    XX(EAUTH, 26, "authentication failed")                                         \
    XX(ECLOSED, 27, "connection closed")                                           \
    XX(ETIMEDOUT, 28, "timed out")                                                 \
    XX(ECONNREFUSED, 29, "connection refused")                                     \
    XX(EADDR, 30, "bad address")                                                   \
    XX(ESYS, 31, "system error")                                                   \
    XX(ETOOBIG, 32, "message too large")                                           \
    XX(ESHUTDOWN, 33, "server is shutting down")                                   \
    XX(ETRANSPORT, 34, "transport error")                                          \
    XX(EBATCH, 35, "call not allowed inside a batch")                              \
    XX(ESTATE, 36, "handle is closed or invalid")                                  \
    XX(EOWNERDEAD, 37, "acquired, but the previous owner died holding it")

/* enum mpm_err: the negative error codes returned by every call.
 * MPM_ETRANSPORT is no longer returned (libmpm speaks nng's wire itself, and
 * nng+ URLs work after fork); its number stays reserved. */
enum mpm_err {
    MPM_OK = 0,
#define MPM_XX_ENUM(name, num, text) MPM_##name = -(num),
    MPM_ERRNO_MAP(MPM_XX_ENUM)
#undef MPM_XX_ENUM
};

/* mpm_strerror returns the static description of code (0 or MPM_E*). */
const char *mpm_strerror(int code);
/* mpm_last_error returns the calling thread's message for its last failed call
 * (e.g. "KeyError: 'x'"), or "" when none failed.  Valid until the thread's next
 * call into mpm. */
const char *mpm_last_error(void);

/*---- values ----------------------------------------------------------------*/

/* mpm_type names the kind of value an mpm_val holds. */
typedef enum mpm_type {
    MPM_T_NONE,
    MPM_T_BOOL,
    MPM_T_INT,
    MPM_T_FLOAT,
    MPM_T_STR,
    MPM_T_BYTES,
    MPM_T_LIST,
    MPM_T_DICT,
    MPM_T_REF, /* a reference to a shared object (a nested proxy): mpm_ref() */
} mpm_type;

typedef struct mpm_val mpm_val;
typedef struct mpm_pair mpm_pair;

/* mpm_val is a value as mpm stores it: None, bool, 64-bit int, double, str
 * (UTF-8), bytes, list, dict (ordered key/value pairs), or a reference to a
 * shared object (MPM_T_REF: a handle stored inside a dict, list, Namespace or
 * queue; mpm_handle_from_val() turns it back into a handle).  Lists and dicts
 * nest up to 32 levels. */
struct mpm_val {
    mpm_type type;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *ptr;
            size_t len;
        } str; /* MPM_T_STR and MPM_T_BYTES */
        struct {
            const mpm_val *items;
            size_t len;
        } list;
        struct {
            const mpm_pair *items;
            size_t len;
        } dict;
        struct {
            uint64_t id; /* the object's id on its server */
            int type;    /* its mpm_objtype */
        } ref;           /* MPM_T_REF */
    } v;
};

/* mpm_pair is one key/value entry of an MPM_T_DICT value. */
struct mpm_pair {
    mpm_val key;
    mpm_val value;
};

/* Argument constructors: build an mpm_val in place, no allocation. */
#define MPM_NONE ((mpm_val){.type = MPM_T_NONE})
#define MPM_BOOL(x) ((mpm_val){.type = MPM_T_BOOL, .v.b = (x)})
#define MPM_INT(x) ((mpm_val){.type = MPM_T_INT, .v.i = (int64_t)(x)})
#define MPM_FLOAT(x) ((mpm_val){.type = MPM_T_FLOAT, .v.f = (double)(x)})
#define MPM_STR(s) ((mpm_val){.type = MPM_T_STR, .v.str = {(s), strlen(s)}})
#define MPM_STRN(s, n) ((mpm_val){.type = MPM_T_STR, .v.str = {(s), (n)}})
#define MPM_BYTES(p, n) ((mpm_val){.type = MPM_T_BYTES, .v.str = {(const char *)(p), (n)}})
#define MPM_LIST(items, n) ((mpm_val){.type = MPM_T_LIST, .v.list = {(items), (n)}})
#define MPM_DICT(pairs, n) ((mpm_val){.type = MPM_T_DICT, .v.dict = {(pairs), (n)}})

/* mpm_val_free frees a result tree returned by mpm.  Accepts NULL. */
void mpm_val_free(mpm_val *v);
/* mpm_val_repr formats v as Python's repr() would ("{1: '1', 0.25: None}").
 * Returns a malloc'd string (caller frees with free()), or NULL on no memory. */
char *mpm_val_repr(mpm_val v);
/* mpm_val_print writes mpm_val_repr(v) and a newline to stdout.  0 or MPM_E*. */
int mpm_val_print(mpm_val v);
/* mpm_val_parse reads one Python literal - None, True, False, ints, floats
 * (inf, -inf and nan as mpm_val_repr prints them, or float('inf')), 'str' and "str" with Python's
 * escapes, b'bytes', [lists], (tuples, as lists) and {dicts} - as mpm_val_repr
 * prints them, into *out (free with mpm_val_free).  MPM_EVALUE, with the
 * position in mpm_last_error(), for anything else. */
int mpm_val_parse(const char *text, mpm_val **out);
/* mpm_val_eq tells whether a == b as Python compares them (1 == 1.0 == True,
 * [1, 2] == [1.0, 2], dicts regardless of order).  One difference: a NaN equals
 * an identical NaN here (as Python's dict lookup treats the same NaN object). */
bool mpm_val_eq(mpm_val a, mpm_val b);

/* mpm_slice is Python's slice(start, stop, step); MPM_NIL_INDEX stands for an
 * omitted bound, as in l[2:] or l[::-1]. */
typedef struct mpm_slice {
    int64_t start, stop, step;
} mpm_slice;
#define MPM_NIL_INDEX INT64_MIN
/* MPM_SLICE(a, b) is l[a:b]; MPM_SLICE3(a, b, s) is l[a:b:s]. */
#define MPM_SLICE(a, b) ((mpm_slice){(a), (b), MPM_NIL_INDEX})
#define MPM_SLICE3(a, b, s) ((mpm_slice){(a), (b), (s)})

/*---- managers ----------------------------------------------------------------*/

/* mpm_manager is a connection to one mpmd, shared by every handle made from it. */
typedef struct mpm_manager mpm_manager;

/* mpm_start_opts tunes mpm_manager_start; a zeroed struct (or NULL) gives the
 * defaults. */
typedef struct mpm_start_opts {
    const char *mpmd_path; /* server binary; default $MPM_MPMD, then the built one, then PATH */
    const char *listen;    /* extra URL for the server to listen on (e.g. "tcp://127.0.0.1:0") */
    bool log;              /* let the server log to stderr */
    bool no_env;           /* do not export MPM_ADDRESS and MPM_AUTHKEY (see below) */
} mpm_start_opts;

/* mpm_manager_start starts a private mpmd as a child process, listening on a
 * unix socket in a new 0700 directory with a random authkey, and connects to
 * it (Python's `with Manager() as manager:`).  The server ends when
 * mpm_manager_shutdown() is called, or when this process and every process
 * forked from it have exited.  Unless opts->no_env, it also sets MPM_ADDRESS
 * (the socket's URL) and MPM_AUTHKEY (the key, as text) in this process's
 * environment, so a program it later starts with exec joins the same manager
 * with mpm_connect(&m, NULL, NULL, 0) (setenv: call it before starting
 * threads).  On success *out is the manager: 0; otherwise a negative MPM_E*
 * and *out is NULL. */
int mpm_manager_start(mpm_manager **out, const mpm_start_opts *opts);

/* mpm_connect reaches a running mpmd at url: unix:///path, tcp://host:port,
 * nng+ipc:///path or nng+tcp://host:port (NULL: $MPM_ADDRESS), proving the
 * authkey (len bytes; NULL means $MPM_AUTHKEY, or no key when that is unset).  0 with *out set, or
 * MPM_EAUTH, MPM_ECONNREFUSED, MPM_EADDR, ...  Frames are sealed with
 * AES-256-GCM when both ends' CPUs have it, else XChaCha20-Poly1305
 * (MPM_CIPHER=xchacha20 in the environment forces the latter).  Connecting
 * and the handshake together may take $MPM_CONNECT_TIMEOUT_MS (default 10000,
 * as long as mpmd allows a handshake; -1 or 0: no bound) before
 * MPM_ECONNREFUSED ("no answer within ..."): an address that accepts but never
 * answers, or answers a byte at a time, does not hang the caller.  This bounds
 * every new connection (a new thread's or a forked child's first call, which
 * then fails the same way), not calls; resolving a host name is not bounded.
 * After sending a call, libmpm polls for the reply for up to $MPM_SPIN_US
 * microseconds (default 50; 0: never) before sleeping, a window that adapts
 * to how soon replies come; a process allowed one CPU only yields that CPU
 * between looks, so a server sharing it runs at once.  A thread allowed
 * several CPUs whose calls keep finding its CPU shared moves itself to another
 * of them now and then (its affinity is narrowed for a moment, then put back
 * as it was): the scheduler often leaves it on the server's CPU while another
 * CPU idles. */
int mpm_connect(mpm_manager **out, const char *url, const void *authkey, size_t len);

/* mpm_manager_close closes every open handle of m, disconnects and frees m;
 * the server goes on.  Objects only this process referenced are freed by the
 * server.  Accepts NULL. */
void mpm_manager_close(mpm_manager *m);

/* mpm_manager_shutdown asks the server to stop (all its objects go), waits for
 * a private server to exit, then frees m as mpm_manager_close does.  0, or the
 * error of the shutdown call (m is freed in every case).  Accepts NULL. */
int mpm_manager_shutdown(mpm_manager *m);

/* mpm_manager_address returns the URL m is connected to (borrowed). */
const char *mpm_manager_address(const mpm_manager *m);

/* mpm_ping makes one round trip to the server.  0 or MPM_E*. */
int mpm_ping(mpm_manager *m);

/* mpm_manager_object_count stores in *n how many objects the server holds
 * (Python's _number_of_objects()).  0 or MPM_E*. */
int mpm_manager_object_count(mpm_manager *m, size_t *n);

/* mpm_manager_debug_sleep parks one call on the server for ms milliseconds and
 * then answers it: a probe of the server's parked-call machinery for tests and
 * diagnostics.  0 or MPM_E*. */
int mpm_manager_debug_sleep(mpm_manager *m, int64_t ms);

/* mpm_stats is the server's state and counters since it started. */
typedef struct mpm_stats {
    uint64_t objects;     /* objects alive (anonymous and named) */
    uint64_t named;       /* of those, named */
    uint64_t sessions;    /* sessions connected: one per manager handle per
                           * process (mpm_connect or mpm_manager_start) */
    uint64_t connections; /* connections open (authenticated or not) */
    uint64_t parked;      /* calls waiting now (lock acquires, queue gets, ...) */
    uint64_t calls;       /* calls run */
    uint64_t errors;      /* calls answered with an error */
    uint64_t errors_by_code[64]; /* [n]: calls that failed with -n (MPM_EKEY = 1, ...) */
    uint64_t refused;     /* frames or handshakes refused (bad key, forged, garbage) */
    uint64_t bytes_in, bytes_out; /* read from and written to client connections:
                                   * every byte, handshakes and framing included */
    uint64_t connections_total, sessions_total;
    uint64_t uptime_ms;
    uint64_t pid;         /* the server's process id */
    uint64_t unheld;      /* objects no handle, name or Condition holds: kept by
                           * references stored in values, or waiting for the
                           * collector (docs/protocol.md) */
    uint64_t gc_runs;     /* collections run */
    uint64_t gc_freed;    /* objects they freed */
} mpm_stats;

/* mpm_manager_stats fills *out with the server's counters (mpm's answer to
 * Python's debug_info()).  0 or MPM_E*. */
int mpm_manager_stats(mpm_manager *m, mpm_stats *out);

/* mpm_manager_objects stores in *out an MPM_T_LIST with one MPM_T_DICT per
 * live object, in id order: {'id': 5, 'type': 'dict', 'name': None or 'jobs',
 * 'refs': handles of every process, plus one for a name and one per
 * Condition built on a lock (references stored in values are traced, not
 * counted), 'size': approximate bytes of server memory}.  Free with mpm_val_free.  0 or MPM_E*. */
int mpm_manager_objects(mpm_manager *m, mpm_val **out);

/* mpm_manager_sessions stores in *out how many sessions are connected: one per
 * manager handle per process (a process that connected twice counts twice; a
 * forked child that used an inherited manager has its own).  0 or MPM_E*. */
int mpm_manager_sessions(mpm_manager *m, size_t *out);

/*---- batching ----------------------------------------------------------------*/

/* mpm_batch_begin makes the calling thread's later calls on m queue instead
 * of running: each returns 0 at once, and its result pointers (mpm_val **,
 * int64_t *, new handles, ...) are filled in by mpm_batch_exec, so they must
 * stay valid until then.  0, or MPM_EBATCH when a batch is already open.
 * Calls that may block, whose answer decides what the caller does next, are
 * refused with MPM_EBATCH and queue nothing: acquires (Lock, RLock, Semaphore,
 * Condition), Condition, Event and Barrier waits, a queue's join and
 * put_many, and its put, get and get_many unless their timeout is 0. */
int mpm_batch_begin(mpm_manager *m);

/* mpm_batch_exec sends every queued call in one message and waits for all
 * results.  If codes is not NULL it receives each call's result code, in order
 * (up to ncodes).  Returns 0 when every call succeeded, otherwise the first
 * failing call's code (its message is mpm_last_error()). */
int mpm_batch_exec(mpm_manager *m, int *codes, size_t ncodes);

/* mpm_batch_size returns how many calls the calling thread has queued on m. */
size_t mpm_batch_size(const mpm_manager *m);

/*---- handles in general --------------------------------------------------------*/

/* mpm_objtype names the type of a shared object. */
typedef enum mpm_objtype {
    MPM_OBJ_DICT = 1,
    MPM_OBJ_LIST = 2,
    MPM_OBJ_NAMESPACE = 3,
    MPM_OBJ_VALUE = 4,
    MPM_OBJ_ARRAY = 5,
    MPM_OBJ_LOCK = 6,
    MPM_OBJ_RLOCK = 7,
    MPM_OBJ_SEMAPHORE = 8,
    MPM_OBJ_BOUNDED_SEMAPHORE = 9,
    MPM_OBJ_CONDITION = 10,
    MPM_OBJ_EVENT = 11,
    MPM_OBJ_BARRIER = 12,
    MPM_OBJ_QUEUE = 13,
    MPM_OBJ_JOINABLE_QUEUE = 14,
} mpm_objtype;

typedef struct mpm_dict mpm_dict;
typedef struct mpm_list mpm_list;
typedef struct mpm_namespace mpm_namespace;
typedef struct mpm_value mpm_value;
typedef struct mpm_array mpm_array;
typedef struct mpm_lock mpm_lock;
typedef struct mpm_rlock mpm_rlock;
typedef struct mpm_semaphore mpm_semaphore;
typedef struct mpm_condition mpm_condition;
typedef struct mpm_event mpm_event;
typedef struct mpm_barrier mpm_barrier;
typedef struct mpm_queue mpm_queue;

/* mpm_handle_repr stores in *out Python's str() of the object behind any handle
 * (mpm_dict *, mpm_list *, ...): "{1: '1'}", "Value('i', 5)".  The caller
 * frees *out with free().  0 or MPM_E*. */
int mpm_handle_repr(const void *handle, char **out);
/* mpm_handle_print writes mpm_handle_repr and a newline to stdout.  0 or MPM_E*
 * (MPM_EBATCH inside a batch: printing needs the answer now). */
int mpm_handle_print(const void *handle);
/* mpm_handle_id returns the server's id of the object behind a handle. */
uint64_t mpm_handle_id(const void *handle);
/* mpm_handle_type returns the mpm_objtype of a handle. */
mpm_objtype mpm_handle_type(const void *handle);
/* mpm_handle_close releases a handle of any type; the object is freed when no
 * process holds it any more.  Accepts NULL. */
void mpm_handle_close(void *handle);

/*---- named objects, nested handles, tokens ---------------------------------------*/
/* Named objects are Python's `register('get_queue', ...)` pattern: the first
 * process to open a name creates the object, every later one - on any host -
 * gets the same object.  A named object lives until mpm_name_delete() or the
 * server's end, whoever holds handles; anonymous objects live while a handle
 * or a reference from another object's value holds them. */

/* mpm_open opens the object called name, creating it when no object has that
 * name: type (an mpm_objtype) and the creation arguments args[0..nargs) are
 * those of the matching mpm_xxx_new call's server side (used only when
 * creating).  type 0 opens an existing object of any type (MPM_EKEY when
 * there is none).  MPM_ETYPE when the name holds an object of another type.
 * *created (may be NULL) tells whether this call created it.  On success
 * *out is a new handle (cast it to mpm_dict * etc.; close as usual). */
int mpm_open(mpm_manager *m, const char *name, int type, const mpm_val *args, size_t nargs,
             void **out, bool *created);
/* Typed open-or-create by name; the creation arguments are those of the
 * matching _new and are ignored when the object exists already.  Each is
 * mpm_open with its type: MPM_ETYPE when name holds another type. */
/* mpm_dict_open: the dict called name. */
int mpm_dict_open(mpm_manager *m, const char *name, mpm_dict **out);
/* mpm_list_open: the list called name (empty when created). */
int mpm_list_open(mpm_manager *m, const char *name, mpm_list **out);
/* mpm_namespace_open: the Namespace called name. */
int mpm_namespace_open(mpm_manager *m, const char *name, mpm_namespace **out);
/* mpm_value_open: the Value called name (Value(typecode, init) when created). */
int mpm_value_open(mpm_manager *m, const char *name, char typecode, mpm_val init,
                   mpm_value **out);
/* mpm_array_open: the Array called name (n zeros of typecode when created). */
int mpm_array_open(mpm_manager *m, const char *name, char typecode, size_t n, mpm_array **out);
/* mpm_lock_open: the Lock called name. */
int mpm_lock_open(mpm_manager *m, const char *name, mpm_lock **out);
/* mpm_rlock_open: the RLock called name. */
int mpm_rlock_open(mpm_manager *m, const char *name, mpm_rlock **out);
/* mpm_semaphore_open: the Semaphore (bounded: BoundedSemaphore) called name. */
int mpm_semaphore_open(mpm_manager *m, const char *name, int64_t value, bool bounded,
                       mpm_semaphore **out);
/* mpm_condition_open: the Condition called name (with an RLock of its own). */
int mpm_condition_open(mpm_manager *m, const char *name, mpm_condition **out);
/* mpm_event_open: the Event called name. */
int mpm_event_open(mpm_manager *m, const char *name, mpm_event **out);
/* mpm_barrier_open: the Barrier called name. */
int mpm_barrier_open(mpm_manager *m, const char *name, int64_t parties, int64_t timeout_ms,
                     mpm_barrier **out);
/* mpm_queue_open: the Queue called name. */
int mpm_queue_open(mpm_manager *m, const char *name, int64_t maxsize, mpm_queue **out);
/* mpm_joinable_queue_open: the JoinableQueue called name. */
int mpm_joinable_queue_open(mpm_manager *m, const char *name, int64_t maxsize,
                            mpm_queue **out);

/* mpm_names stores in *out an MPM_T_DICT of every name, sorted, to its
 * object's type name ({'jobs': 'Queue', 'results': 'dict'}).  0 or MPM_E*. */
int mpm_names(mpm_manager *m, mpm_val **out);
/* mpm_name_delete removes name: the object goes when no handle or reference
 * holds it any more.  MPM_EKEY when there is no such name. */
int mpm_name_delete(mpm_manager *m, const char *name);

/* mpm_ref is the value that stores a handle inside a dict, list, Namespace or
 * queue (d['inner'] = manager.dict() in Python): whoever reads it back, in any
 * process, turns it into a handle of the same object with
 * mpm_handle_from_val().  The object lives while a stored reference or a
 * handle holds it. */
mpm_val mpm_ref(const void *handle);
#define MPM_REF(h) mpm_ref(h)

/* mpm_handle_from_val opens a new handle on the object a MPM_T_REF value
 * names.  want is the mpm_objtype expected (0: any): MPM_ETYPE otherwise;
 * MPM_ENOOBJ when the object is gone; MPM_ETYPE when v is not a reference. */
int mpm_handle_from_val(mpm_manager *m, mpm_val v, int want, void **out);

/* MPM_TOKEN_MAX bounds a handle token's length, NUL included. */
#define MPM_TOKEN_MAX 64
/* mpm_handle_token writes a short text token naming the object behind handle
 * ("mpm1:dict:42:9f86d081"): pass it in argv, the environment or a file to a
 * process that was not forked from this one (or on another host), which
 * opens it with mpm_handle_from_token.  The token grants nothing without the
 * authkey, and it is valid while the object lives.  0, or MPM_EINVAL when
 * len < MPM_TOKEN_MAX. */
int mpm_handle_token(const void *handle, char *buf, size_t len);
/* mpm_handle_from_token opens a new handle from a token (want as for
 * mpm_handle_from_val).  MPM_EVALUE for a malformed token or one from another
 * server (a restarted one included); MPM_ENOOBJ when the object is gone. */
int mpm_handle_from_token(mpm_manager *m, const char *token, int want, void **out);

/*---- dict ----------------------------------------------------------------------*/
/* A shared dict with Python's semantics: insertion order, any hashable value as
 * key (None, bool, int, float, str, bytes; 1, 1.0 and True are one key). */

/* mpm_dict_new creates an empty shared dict.  0 with *out set, or MPM_E*. */
int mpm_dict_new(mpm_manager *m, mpm_dict **out);
/* mpm_dict_new_from creates a shared dict holding a copy of init (MPM_T_DICT). */
int mpm_dict_new_from(mpm_manager *m, mpm_dict **out, mpm_val init);
/* mpm_dict_close releases d.  Accepts NULL. */
void mpm_dict_close(mpm_dict *d);
/* mpm_dict_set is d[key] = value.  MPM_ETYPE for an unhashable key. */
int mpm_dict_set(mpm_dict *d, mpm_val key, mpm_val value);
/* mpm_dict_get is d[key]: *out gets the value (free with mpm_val_free), or
 * MPM_EKEY when key is missing. */
int mpm_dict_get(mpm_dict *d, mpm_val key, mpm_val **out);
/* mpm_dict_get_default is d.get(key, dflt): never MPM_EKEY. */
int mpm_dict_get_default(mpm_dict *d, mpm_val key, mpm_val dflt, mpm_val **out);
/* mpm_dict_del is del d[key]; MPM_EKEY when missing. */
int mpm_dict_del(mpm_dict *d, mpm_val key);
/* mpm_dict_contains is key in d, stored in *out. */
int mpm_dict_contains(mpm_dict *d, mpm_val key, bool *out);
/* mpm_dict_len is len(d), stored in *out. */
int mpm_dict_len(mpm_dict *d, size_t *out);
/* mpm_dict_keys is list(d.keys()): a snapshot MPM_T_LIST in *out. */
int mpm_dict_keys(mpm_dict *d, mpm_val **out);
/* mpm_dict_values is list(d.values()): a snapshot MPM_T_LIST in *out. */
int mpm_dict_values(mpm_dict *d, mpm_val **out);
/* mpm_dict_items is list(d.items()): an MPM_T_LIST of 2-element lists. */
int mpm_dict_items(mpm_dict *d, mpm_val **out);
/* mpm_dict_copy is d.copy(): a snapshot MPM_T_DICT in *out, in d's order.
 * Iterate its v.dict.items to walk the dict without holding the server. */
int mpm_dict_copy(mpm_dict *d, mpm_val **out);
/* mpm_dict_update is d.update(pairs) for an MPM_T_DICT value. */
int mpm_dict_update(mpm_dict *d, mpm_val pairs);
/* mpm_dict_update_from is d.update(other) for another shared dict, done on the
 * server in one step. */
int mpm_dict_update_from(mpm_dict *d, mpm_dict *other);
/* mpm_dict_pop is d.pop(key): the value in *out, or MPM_EKEY. */
int mpm_dict_pop(mpm_dict *d, mpm_val key, mpm_val **out);
/* mpm_dict_pop_default is d.pop(key, dflt). */
int mpm_dict_pop_default(mpm_dict *d, mpm_val key, mpm_val dflt, mpm_val **out);
/* mpm_dict_popitem is d.popitem(): the last inserted pair, removed, as *key
 * and *value (either may be NULL to discard); MPM_EKEY when d is empty. */
int mpm_dict_popitem(mpm_dict *d, mpm_val **key, mpm_val **value);
/* mpm_dict_setdefault is d.setdefault(key, dflt): the value now at key in *out
 * (out may be NULL).  Atomic on the server. */
int mpm_dict_setdefault(mpm_dict *d, mpm_val key, mpm_val dflt, mpm_val **out);
/* mpm_dict_clear is d.clear(). */
int mpm_dict_clear(mpm_dict *d);
/* mpm_dict_repr is str(d) in *out (free with free()). */
int mpm_dict_repr(mpm_dict *d, char **out);
/* mpm_dict_print prints str(d) and a newline on stdout. */
int mpm_dict_print(mpm_dict *d);

/*---- list ----------------------------------------------------------------------*/
/* A shared list with Python's semantics; indices may be negative (from the end). */

/* mpm_list_new creates an empty shared list. */
int mpm_list_new(mpm_manager *m, mpm_list **out);
/* mpm_list_new_from creates a shared list holding a copy of init (MPM_T_LIST). */
int mpm_list_new_from(mpm_manager *m, mpm_list **out, mpm_val init);
/* mpm_list_new_range creates list(range(start, stop)). */
int mpm_list_new_range(mpm_manager *m, mpm_list **out, int64_t start, int64_t stop);
/* mpm_list_close releases l.  Accepts NULL. */
void mpm_list_close(mpm_list *l);
/* mpm_list_get is l[i]; MPM_EINDEX when out of range. */
int mpm_list_get(mpm_list *l, int64_t i, mpm_val **out);
/* mpm_list_set is l[i] = value; MPM_EINDEX when out of range. */
int mpm_list_set(mpm_list *l, int64_t i, mpm_val value);
/* mpm_list_del is del l[i]; MPM_EINDEX when out of range. */
int mpm_list_del(mpm_list *l, int64_t i);
/* mpm_list_get_slice is l[s]: an MPM_T_LIST in *out. */
int mpm_list_get_slice(mpm_list *l, mpm_slice s, mpm_val **out);
/* mpm_list_set_slice is l[s] = items (MPM_T_LIST); an extended slice (step
 * other than 1) needs exactly as many items as it selects (MPM_EVALUE). */
int mpm_list_set_slice(mpm_list *l, mpm_slice s, mpm_val items);
/* mpm_list_del_slice is del l[s]. */
int mpm_list_del_slice(mpm_list *l, mpm_slice s);
/* mpm_list_append is l.append(value). */
int mpm_list_append(mpm_list *l, mpm_val value);
/* mpm_list_extend is l.extend(items) (and l += items) for an MPM_T_LIST. */
int mpm_list_extend(mpm_list *l, mpm_val items);
/* mpm_list_extend_from is l.extend(other) for another shared list (or l itself). */
int mpm_list_extend_from(mpm_list *l, mpm_list *other);
/* mpm_list_insert is l.insert(i, value) (i clipped to the list, as in Python). */
int mpm_list_insert(mpm_list *l, int64_t i, mpm_val value);
/* mpm_list_pop is l.pop(): the last item, removed, in *out (out may be NULL);
 * MPM_EINDEX when empty. */
int mpm_list_pop(mpm_list *l, mpm_val **out);
/* mpm_list_pop_at is l.pop(i). */
int mpm_list_pop_at(mpm_list *l, int64_t i, mpm_val **out);
/* mpm_list_remove is l.remove(value): the first equal item; MPM_EVALUE if none. */
int mpm_list_remove(mpm_list *l, mpm_val value);
/* mpm_list_index is l.index(value) in *out; MPM_EVALUE if absent. */
int mpm_list_index(mpm_list *l, mpm_val value, size_t *out);
/* mpm_list_index_range is l.index(value, start, stop) (MPM_NIL_INDEX = omitted). */
int mpm_list_index_range(mpm_list *l, mpm_val value, int64_t start, int64_t stop, size_t *out);
/* mpm_list_count is l.count(value) in *out. */
int mpm_list_count(mpm_list *l, mpm_val value, size_t *out);
/* mpm_list_sort is l.sort(reverse=reverse): stable; MPM_ETYPE (and l unchanged)
 * when two items cannot be ordered, as '<' between 'str' and 'int'. */
int mpm_list_sort(mpm_list *l, bool reverse);
/* mpm_list_reverse is l.reverse(). */
int mpm_list_reverse(mpm_list *l);
/* mpm_list_len is len(l) in *out. */
int mpm_list_len(mpm_list *l, size_t *out);
/* mpm_list_contains is value in l, in *out. */
int mpm_list_contains(mpm_list *l, mpm_val value, bool *out);
/* mpm_list_imul is l *= n (n <= 0 empties the list). */
int mpm_list_imul(mpm_list *l, int64_t n);
/* mpm_list_copy is l[:]: a snapshot MPM_T_LIST in *out. */
int mpm_list_copy(mpm_list *l, mpm_val **out);
/* mpm_list_repr is str(l) in *out (free with free()). */
int mpm_list_repr(mpm_list *l, char **out);
/* mpm_list_print prints str(l) and a newline on stdout. */
int mpm_list_print(mpm_list *l);

/*---- Namespace -------------------------------------------------------------------*/
/* A shared attribute bag, Python's manager.Namespace(). */

/* mpm_namespace_new creates an empty Namespace. */
int mpm_namespace_new(mpm_manager *m, mpm_namespace **out);
/* mpm_namespace_close releases ns.  Accepts NULL. */
void mpm_namespace_close(mpm_namespace *ns);
/* mpm_namespace_set is ns.name = value (name: a non-empty identifier-like
 * string; MPM_EVALUE otherwise). */
int mpm_namespace_set(mpm_namespace *ns, const char *name, mpm_val value);
/* mpm_namespace_get is ns.name; MPM_EATTR when absent. */
int mpm_namespace_get(mpm_namespace *ns, const char *name, mpm_val **out);
/* mpm_namespace_del is del ns.name; MPM_EATTR when absent. */
int mpm_namespace_del(mpm_namespace *ns, const char *name);
/* mpm_namespace_dir lists the attribute names, sorted, as an MPM_T_LIST of str. */
int mpm_namespace_dir(mpm_namespace *ns, mpm_val **out);
/* mpm_namespace_repr is str(ns), "Namespace(a=1, b='x')", in *out (free()). */
int mpm_namespace_repr(mpm_namespace *ns, char **out);
/* mpm_namespace_print prints str(ns) and a newline on stdout. */
int mpm_namespace_print(mpm_namespace *ns);

/*---- Value -----------------------------------------------------------------------*/
/* A shared scalar with an array-module typecode: 'b' 'B' 'h' 'H' 'i' 'I' 'l'
 * 'L' 'q' 'Q' (integers of that C type's range) or 'f' 'd' (floats).  Storing
 * a value outside the typecode's range is MPM_EOVERFLOW and changes nothing. */

/* mpm_value_new creates Value(typecode, init); MPM_EVALUE for a bad typecode. */
int mpm_value_new(mpm_manager *m, mpm_value **out, char typecode, mpm_val init);
/* mpm_value_close releases v.  Accepts NULL. */
void mpm_value_close(mpm_value *v);
/* mpm_value_get is v.value, in *out. */
int mpm_value_get(mpm_value *v, mpm_val **out);
/* mpm_value_get_int is v.value as an int64 (floats are truncated). */
int mpm_value_get_int(mpm_value *v, int64_t *out);
/* mpm_value_get_float is v.value as a double. */
int mpm_value_get_float(mpm_value *v, double *out);
/* mpm_value_set is v.value = x (MPM_ETYPE for a non-number, MPM_EOVERFLOW). */
int mpm_value_set(mpm_value *v, mpm_val x);
/* mpm_value_add atomically adds delta and stores the new value in *out (out
 * may be NULL): a counter needs no lock.  MPM_EOVERFLOW leaves v unchanged. */
int mpm_value_add(mpm_value *v, mpm_val delta, mpm_val **out);
/* mpm_value_add_int is mpm_value_add for integer deltas and results. */
int mpm_value_add_int(mpm_value *v, int64_t delta, int64_t *out);
/* mpm_value_cas atomically sets v to desired if it equals expected; *swapped
 * tells whether it did (may be NULL). */
int mpm_value_cas(mpm_value *v, mpm_val expected, mpm_val desired, bool *swapped);
/* mpm_value_typecode returns v's typecode ('i', 'd', ...). */
char mpm_value_typecode(const mpm_value *v);
/* mpm_value_repr is str(v), "Value('i', 5)", in *out (free()). */
int mpm_value_repr(mpm_value *v, char **out);

/*---- Array -----------------------------------------------------------------------*/
/* A shared fixed-length array with an array-module typecode (as Value). */

/* mpm_array_new creates Array(typecode, items) from an MPM_T_LIST of numbers. */
int mpm_array_new(mpm_manager *m, mpm_array **out, char typecode, mpm_val items);
/* mpm_array_new_zeroed creates Array(typecode, n): n zeros. */
int mpm_array_new_zeroed(mpm_manager *m, mpm_array **out, char typecode, size_t n);
/* mpm_array_close releases a.  Accepts NULL. */
void mpm_array_close(mpm_array *a);
/* mpm_array_get is a[i]; MPM_EINDEX when out of range. */
int mpm_array_get(mpm_array *a, int64_t i, mpm_val **out);
/* mpm_array_set is a[i] = x (MPM_EINDEX, MPM_ETYPE, MPM_EOVERFLOW). */
int mpm_array_set(mpm_array *a, int64_t i, mpm_val x);
/* mpm_array_get_slice is a[s] as an MPM_T_LIST. */
int mpm_array_get_slice(mpm_array *a, mpm_slice s, mpm_val **out);
/* mpm_array_set_slice is a[s] = items; the length never changes, so items
 * must have as many elements as s selects (MPM_EVALUE otherwise). */
int mpm_array_set_slice(mpm_array *a, mpm_slice s, mpm_val items);
/* mpm_array_len is len(a). */
int mpm_array_len(mpm_array *a, size_t *out);
/* mpm_array_contains is x in a, stored in *out. */
int mpm_array_contains(mpm_array *a, mpm_val x, bool *out);
/* mpm_array_tolist is a[:] as an MPM_T_LIST. */
int mpm_array_tolist(mpm_array *a, mpm_val **out);
/* mpm_array_typecode returns a's typecode. */
char mpm_array_typecode(const mpm_array *a);
/* mpm_array_repr is str(a), "array('i', [1, 2])", in *out (free()). */
int mpm_array_repr(mpm_array *a, char **out);

/*---- synchronization ---------------------------------------------------------*/
/* Locks, semaphores, conditions, events and barriers live on the server: a
 * waiting call is parked there (it costs the server memory, not a thread) and
 * answered when it can go on or its timeout passes.  Waiters are served in
 * arrival order (a releaser of a Lock, RLock, Semaphore or BoundedSemaphore that
 * acquires again at once may keep it for a turn of 20 ms first:
 * docs/differences.md).
 * Ownership (RLock, Condition) is
 * per process and thread.
 *
 * When a process ends without releasing (exit, crash, SIGKILL, lost host), its
 * locks and permits are given back; the next acquirer of such a lock gets
 * MPM_EOWNERDEAD instead of 0 (it holds the lock; the data the lock guarded may
 * be half-changed), and a barrier it was waiting on breaks. */

/* mpm_lock_new creates a Lock (Python's manager.Lock()). */
int mpm_lock_new(mpm_manager *m, mpm_lock **out);
/* mpm_lock_close releases the handle l (not the lock).  Accepts NULL. */
void mpm_lock_close(mpm_lock *l);
/* mpm_lock_acquire waits up to timeout_ms (-1 forever, 0 never) for l.  0:
 * acquired; MPM_EOWNERDEAD: acquired, and the previous holder died holding it;
 * MPM_ETIMEDOUT: not acquired.  If token is not NULL it gets the fencing token:
 * a number that rises with every acquisition of this lock. */
int mpm_lock_acquire(mpm_lock *l, int64_t timeout_ms, uint64_t *token);
/* mpm_lock_release releases l; any process may (as in Python).  MPM_ERUNTIME
 * ("release unlocked lock") when it is not held. */
int mpm_lock_release(mpm_lock *l);
/* mpm_lock_locked stores in *out whether l is held. */
int mpm_lock_locked(mpm_lock *l, bool *out);

/* mpm_rlock_new creates an RLock: re-entrant, owned by one thread of one process. */
int mpm_rlock_new(mpm_manager *m, mpm_rlock **out);
/* mpm_rlock_close releases the handle r.  Accepts NULL. */
void mpm_rlock_close(mpm_rlock *r);
/* mpm_rlock_acquire is mpm_lock_acquire for an RLock; the owner may acquire
 * again (each acquire needs a release). */
int mpm_rlock_acquire(mpm_rlock *r, int64_t timeout_ms, uint64_t *token);
/* mpm_rlock_release releases one level; MPM_ERUNTIME ("cannot release
 * un-acquired lock") unless the calling thread owns r. */
int mpm_rlock_release(mpm_rlock *r);

/* mpm_semaphore_new creates Semaphore(value) (bounded: BoundedSemaphore(value),
 * whose release above value is MPM_EVALUE).  value < 0 is MPM_EVALUE. */
int mpm_semaphore_new(mpm_manager *m, mpm_semaphore **out, int64_t value, bool bounded);
/* mpm_semaphore_close releases the handle s.  Accepts NULL. */
void mpm_semaphore_close(mpm_semaphore *s);
/* mpm_semaphore_acquire takes one permit, waiting up to timeout_ms.  0, or
 * MPM_ETIMEDOUT.  Permits held by a process whose session ends are given back
 * - except one that a release made while nobody held any (a Semaphore(0)
 * counting items: consumed, not held), and one already released on the
 * holder's behalf by another process (docs/differences.md). */
int mpm_semaphore_acquire(mpm_semaphore *s, int64_t timeout_ms);
/* mpm_semaphore_release gives back n permits (n >= 1).  A BoundedSemaphore
 * released above its initial value: MPM_EVALUE ("Semaphore released too many
 * times"), and nothing changes. */
int mpm_semaphore_release(mpm_semaphore *s, int64_t n);
/* mpm_semaphore_value stores the free permits in *out (Python's get_value()). */
int mpm_semaphore_value(mpm_semaphore *s, int64_t *out);

/* mpm_condition_new creates Condition(lock): lock is an mpm_lock * or an
 * mpm_rlock * (NULL: a new RLock of its own).  The condition keeps the lock
 * alive. */
int mpm_condition_new(mpm_manager *m, mpm_condition **out, void *lock);
/* mpm_condition_close releases the handle c.  Accepts NULL. */
void mpm_condition_close(mpm_condition *c);
/* mpm_condition_acquire acquires the condition's lock (as mpm_lock_acquire,
 * MPM_EOWNERDEAD included), without a fencing token.  For tokens, make the
 * condition over an RLock and acquire that with mpm_rlock_acquire (wait and
 * notify accept it); after a wait, a re-entrant mpm_rlock_acquire(r, 0, &t)
 * returns the token the wait took the lock under (docs/differences.md). */
int mpm_condition_acquire(mpm_condition *c, int64_t timeout_ms);
/* mpm_condition_release releases the condition's lock (as mpm_lock_release or
 * mpm_rlock_release, with their MPM_ERUNTIME when the lock is not held, or, an
 * RLock, not held by the caller). */
int mpm_condition_release(mpm_condition *c);
/* mpm_condition_wait releases the lock, waits until notified or timeout_ms,
 * and re-acquires the lock before it returns (all on the server, atomically).
 * *notified (may be NULL) tells which.  MPM_ERUNTIME ("cannot wait on
 * un-acquired lock") unless the caller holds the lock. */
int mpm_condition_wait(mpm_condition *c, int64_t timeout_ms, bool *notified);
/* mpm_condition_wait_for is Python's wait_for: waits until pred(arg) is true
 * (evaluated here, with the lock held) or timeout_ms passes; *result gets the
 * last value of pred. */
int mpm_condition_wait_for(mpm_condition *c, bool (*pred)(void *arg), void *arg,
                           int64_t timeout_ms, bool *result);
/* mpm_condition_notify wakes up to n waiters; MPM_ERUNTIME unless the caller
 * holds the lock. */
int mpm_condition_notify(mpm_condition *c, int64_t n);
/* mpm_condition_notify_all wakes every waiter; MPM_ERUNTIME unless the caller
 * holds the lock. */
int mpm_condition_notify_all(mpm_condition *c);

/* mpm_event_new creates an Event, initially clear. */
int mpm_event_new(mpm_manager *m, mpm_event **out);
/* mpm_event_close releases the handle e.  Accepts NULL. */
void mpm_event_close(mpm_event *e);
/* mpm_event_set sets the flag and wakes every waiter. */
int mpm_event_set(mpm_event *e);
/* mpm_event_clear clears the flag. */
int mpm_event_clear(mpm_event *e);
/* mpm_event_is_set stores the flag in *out. */
int mpm_event_is_set(mpm_event *e, bool *out);
/* mpm_event_wait waits until the flag is set or timeout_ms passes; *flag (may
 * be NULL) gets the flag as it returns (false: timed out). */
int mpm_event_wait(mpm_event *e, int64_t timeout_ms, bool *flag);

/* mpm_barrier_new creates Barrier(parties, timeout): timeout_ms is the default
 * for waits (-1: none).  parties < 1 is MPM_EVALUE. */
int mpm_barrier_new(mpm_manager *m, mpm_barrier **out, int64_t parties, int64_t timeout_ms);
/* mpm_barrier_close releases the handle b.  Accepts NULL. */
void mpm_barrier_close(mpm_barrier *b);
/* mpm_barrier_wait waits for all parties; *index (may be NULL) gets this
 * caller's arrival index, 0 .. parties-1.  timeout_ms: MPM_BARRIER_DEFAULT for
 * the barrier's own.  MPM_EBROKEN when the barrier is or becomes broken (abort,
 * a timeout, a waiting process that died): every waiter gets it. */
int mpm_barrier_wait(mpm_barrier *b, int64_t timeout_ms, int64_t *index);
#define MPM_BARRIER_DEFAULT INT64_MIN
/* mpm_barrier_abort breaks the barrier: current and later waiters get
 * MPM_EBROKEN until mpm_barrier_reset. */
int mpm_barrier_abort(mpm_barrier *b);
/* mpm_barrier_reset returns the barrier to its empty state; current waiters
 * get MPM_EBROKEN. */
int mpm_barrier_reset(mpm_barrier *b);
/* mpm_barrier_parties stores the number of parties in *out. */
int mpm_barrier_parties(mpm_barrier *b, int64_t *out);
/* mpm_barrier_n_waiting stores how many are waiting in *out. */
int mpm_barrier_n_waiting(mpm_barrier *b, int64_t *out);
/* mpm_barrier_broken stores whether the barrier is broken in *out. */
int mpm_barrier_broken(mpm_barrier *b, bool *out);

/*---- queues ------------------------------------------------------------------*/
/* Queue and JoinableQueue (Python's manager.Queue() / JoinableQueue()): FIFO of
 * any values; a blocked put or get waits on the server, in arrival order.
 *
 * Beyond Python: an item a JoinableQueue handed to a process stays that
 * process's until it calls task_done; if the process ends first (exit, crash,
 * SIGKILL), the item goes back to the head of the queue for the next worker,
 * so no work is lost.  A plain Queue keeps Python's at-most-once delivery.  A
 * blocked call of a process that dies never takes an item. */

/* mpm_queue_new creates Queue(maxsize); maxsize <= 0 means unbounded. */
int mpm_queue_new(mpm_manager *m, mpm_queue **out, int64_t maxsize);
/* mpm_joinable_queue_new creates JoinableQueue(maxsize). */
int mpm_joinable_queue_new(mpm_manager *m, mpm_queue **out, int64_t maxsize);
/* mpm_queue_close releases the handle q.  Accepts NULL. */
void mpm_queue_close(mpm_queue *q);
/* mpm_queue_put is q.put(item, timeout): waits up to timeout_ms for room
 * (-1: forever; 0: q.put_nowait).  0, or MPM_EFULL when there was no room. */
int mpm_queue_put(mpm_queue *q, mpm_val item, int64_t timeout_ms);
/* mpm_queue_put_nowait is q.put_nowait(item): mpm_queue_put with timeout 0. */
int mpm_queue_put_nowait(mpm_queue *q, mpm_val item);
/* mpm_queue_get is q.get(timeout): the oldest item in *out (free with
 * mpm_val_free), or MPM_EEMPTY when none came within timeout_ms. */
int mpm_queue_get(mpm_queue *q, int64_t timeout_ms, mpm_val **out);
/* mpm_queue_get_nowait is q.get_nowait(): mpm_queue_get with timeout 0. */
int mpm_queue_get_nowait(mpm_queue *q, mpm_val **out);
/* mpm_queue_put_many puts the items of an MPM_T_LIST in order, in one round
 * trip, waiting up to timeout_ms for room as needed.  *nput (may be NULL)
 * gets how many went in; MPM_EFULL if not all did. */
int mpm_queue_put_many(mpm_queue *q, mpm_val items, int64_t timeout_ms, size_t *nput);
/* mpm_queue_get_many takes up to max items in one round trip: it returns as
 * soon as at least one is there (an MPM_T_LIST in *out), or MPM_EEMPTY when
 * none came within timeout_ms. */
int mpm_queue_get_many(mpm_queue *q, size_t max, int64_t timeout_ms, mpm_val **out);
/* mpm_queue_qsize stores the number of items queued in *out. */
int mpm_queue_qsize(mpm_queue *q, size_t *out);
/* mpm_queue_empty stores whether q is empty in *out. */
int mpm_queue_empty(mpm_queue *q, bool *out);
/* mpm_queue_full stores whether q is full in *out (never, when unbounded). */
int mpm_queue_full(mpm_queue *q, bool *out);
/* mpm_queue_task_done is q.task_done() (JoinableQueue): marks this process's
 * oldest unfinished item done.  MPM_EVALUE ("task_done() called too many
 * times") when none is unfinished; MPM_ENOMETHOD on a plain Queue. */
int mpm_queue_task_done(mpm_queue *q);
/* mpm_queue_join is q.join() (JoinableQueue): waits until every item put has
 * been marked done, up to timeout_ms (beyond Python).  0 or MPM_ETIMEDOUT. */
int mpm_queue_join(mpm_queue *q, int64_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
