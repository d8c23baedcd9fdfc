/* client.h - libmpm internals: the manager connection, calls, handles. */
#ifndef MPMI_CLIENT_H
#define MPMI_CLIENT_H

#include <mpm/mpm.h>
#include <pthread.h>
#include <sys/types.h>

#include "../protocol/buf.h"
#include "../protocol/codec.h"
#include "../protocol/ops.h"
#include "../protocol/wire.h"

typedef struct mpmi_handle mpmi_handle;

/* Every typed handle (struct mpm_dict, ...) is exactly this. */
struct mpmi_handle {
    mpm_manager *m;
    uint64_t id;
    int type;      /* mpm_objtype */
    char typecode; /* Value, Array */
    mpmi_handle *next, *prev;
};

struct mpm_dict { mpmi_handle h; };
struct mpm_list { mpmi_handle h; };
struct mpm_namespace { mpmi_handle h; };
struct mpm_value { mpmi_handle h; };
struct mpm_array { mpmi_handle h; };
struct mpm_lock { mpmi_handle h; };
struct mpm_rlock { mpmi_handle h; };
struct mpm_semaphore { mpmi_handle h; };
struct mpm_condition { mpmi_handle h; };
struct mpm_event { mpmi_handle h; };
struct mpm_barrier { mpmi_handle h; };
struct mpm_queue { mpmi_handle h; };

/* Where a call's result goes. */
enum mpmi_sink_kind {
    MPMI_R_NONE,   /* discard */
    MPMI_R_VAL,    /* mpm_val ** */
    MPMI_R_INT,    /* int64_t * (ints and bools) */
    MPMI_R_SIZE,   /* size_t * (non-negative ints) */
    MPMI_R_BOOL,   /* bool * */
    MPMI_R_DOUBLE, /* double * (floats and ints) */
    MPMI_R_STR,    /* char ** (malloc'd, NUL-terminated) */
    MPMI_R_PAIR,   /* 2-element array -> mpm_val ** out, mpm_val ** out2 */
    MPMI_R_HANDLE, /* object id -> ((mpmi_handle *)out)->id */
    MPMI_R_ATTACH, /* [id, type, typecode|nil, created] -> handle out, bool *out2 */
};

typedef struct mpmi_sink {
    int kind;
    void *out;
    void *out2;
} mpmi_sink;

#define MPMI_SINK_NONE ((mpmi_sink){MPMI_R_NONE, NULL, NULL})
#define MPMI_SINK_VAL(p) ((mpmi_sink){MPMI_R_VAL, (p), NULL})
#define MPMI_SINK_INT(p) ((mpmi_sink){MPMI_R_INT, (p), NULL})
#define MPMI_SINK_SIZE(p) ((mpmi_sink){MPMI_R_SIZE, (p), NULL})
#define MPMI_SINK_BOOL(p) ((mpmi_sink){MPMI_R_BOOL, (p), NULL})
#define MPMI_SINK_DOUBLE(p) ((mpmi_sink){MPMI_R_DOUBLE, (p), NULL})
#define MPMI_SINK_STR(p) ((mpmi_sink){MPMI_R_STR, (p), NULL})
#define MPMI_SINK_PAIR(a, b) ((mpmi_sink){MPMI_R_PAIR, (a), (b)})

/* Call method op on the object behind h (id 0 / h NULL-safe: use mpmi_call_id)
 * with nargs packed mpm_val arguments.  In a batch: queued, returns 0.
 * Otherwise 0, or the negative code (mpm_last_error() has the message). */
int mpmi_call(mpmi_handle *h, int op, const mpm_val *args, int nargs, mpmi_sink sink);
int mpmi_call_id(mpm_manager *m, uint64_t id, int op, const mpm_val *args, int nargs,
                 mpmi_sink sink);

/* Create an object of type with create-arguments args, and a handle of size
 * size (sizeof(struct mpm_xxx)) for it in *out.  0 or a negative code. */
int mpmi_create(mpm_manager *m, int type, char typecode, const mpm_val *args, int nargs,
                void **out);

/* A manager call (OPEN, ATTACH) answering [id, type, typecode, created]: a
 * new handle in *out, and *created when not NULL.  0 or a negative code. */
int mpmi_attach(mpm_manager *m, int op, const mpm_val *args, int nargs, void **out,
                bool *created);

/* Check a handle before use: MPM_EINVAL (and message) for NULL. */
int mpmi_check(const void *h);

/* Release a handle (decref on the server, free).  NULL-safe. */
void mpmi_handle_close(mpmi_handle *h);

/* This thread's id within the process (1, 2, ...): with the session, the
 * owner of an RLock or a Condition's lock. */
uint64_t mpmi_thread_id(void);

/* Acquire the Lock, RLock, Condition or Semaphore behind h (proxy/lock.c):
 * 0, MPM_EOWNERDEAD or MPM_ETIMEDOUT; fn names the caller in messages. */
int mpmi_lock_acquire_h(mpmi_handle *h, int64_t timeout_ms, uint64_t *token, const char *fn);

/* A blocking call's timeout: -1 (forever) or >= 0.  0, or MPM_EINVAL. */
int mpmi_check_timeout(int64_t timeout_ms);

/* Whether the calling thread has a batch open on m (blocking calls refuse). */
int mpmi_in_batch(const mpm_manager *m);

/* Set the calling thread's last error message; returns code. */
int mpmi_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The three slice fields as arguments (MPM_NIL_INDEX -> None). */
void mpmi_slice_args(mpm_slice s, mpm_val out[3]);

/* Pack an mpm_val.  0, or MPM_EINVAL/MPM_ETOOBIG (message set) for a bad one. */
int mpmi_pack_val(msgpack_packer *pk, const mpm_val *v, int depth);
/* Decode msgpack bytes into one allocation of mpm_val.  0 or negative. */
int mpmi_decode_val(const unsigned char *p, size_t n, mpm_val **out);

#endif
