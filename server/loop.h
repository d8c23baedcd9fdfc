/* loop.h - the event loop's structures: server, connections, sessions, requests.
 * Used by loop.c, objects.c, sp.c and main.c; types see only server.h. */
#ifndef MPMI_LOOP_H
#define MPMI_LOOP_H

#include <stdio.h>
#include <sys/uio.h>

#include "../protocol/wire.h"
#include "server.h"

typedef struct mpmi_ev mpmi_ev;
typedef struct mpmi_conn mpmi_conn;

/* Anything registered with epoll starts with this. */
struct mpmi_ev {
    void (*fn)(mpmi_srv *s, mpmi_ev *ev, uint32_t events);
    int fd;
};

struct mpmi_req {
    mpmi_conn *conn;
    mpmi_buf body;  /* the decrypted request body */
    mpmi_rd rd;     /* next call */
    uint32_t exts;  /* EXT values in the body: references to check */
    uint32_t ncalls, done;
    mpmi_buf reply; /* [4 length][16 header][body ...][16 tag room] */
    msgpack_packer pk;
    mpmi_waiter *parked;
    size_t mark; /* where the parked call's result goes */
    mpmi_req *next_ready;
    int queued;
};

enum { MPMI_CS_HELLO, MPMI_CS_PROOF, MPMI_CS_READY, MPMI_CS_CLOSING };

/* What frames a connection's bytes: mpm's own length prefix, or nng's wire
 * (SP) over a unix socket (nng+ipc) or TCP (nng+tcp). */
enum { MPMI_WIRE_NATIVE, MPMI_WIRE_SP_IPC, MPMI_WIRE_SP_TCP };
/* An SP request's backtrace: at most 8 hops of 4 bytes (nng's default TTL). */
#define MPMI_SP_TTL 8
/* Stop reading from a client whose replies pile up unread past this. */
#define MPMI_OUT_HIGH (64u << 20)

struct mpmi_conn {
    mpmi_ev ev;
    mpmi_srv *srv;
    int state;
    int busy; /* a request is running (parked) */
    unsigned char cn[MPMI_NONCE_LEN], sn[MPMI_NONCE_LEN];
    int offer, cipher; /* the HELLO's cipher byte and our pick */
    mpmi_chan chan;
    mpmi_buf in, out;
    uint32_t interest;
    mpmi_session *sess;
    mpmi_req req;
    mpmi_conn *next, *prev;
    char peer[96];
    int64_t born; /* ms: a connection must authenticate soon after */
    int wire;     /* MPMI_WIRE_*: how frames travel */
    int cork;     /* more requests follow the one being handled: queue replies */
    int corked;   /* replies were queued under cork: the drain sends them */
    int sp_ready; /* SP: the peer's protocol header has been checked */
    size_t sp_hlen; /* SP: the backtrace of the request being answered, 0 = none */
    unsigned char sp_hdr[4 * MPMI_SP_TTL];
};

struct mpmi_session {
    uint64_t id;
    unsigned char token[MPMI_TOKEN_LEN];
    int nconns;
    mpmi_map handles; /* object id -> handle count */
    mpmi_map held;    /* object id -> resources held (locks, permits) */
    int ending;
    mpmi_session *next, *prev;
};

typedef struct mpmi_listener {
    mpmi_ev ev;
    int wire; /* MPMI_WIRE_*, given to its connections */
    int is_unix;
    char *path; /* unix socket to unlink at exit */
    char url[128];
} mpmi_listener;

struct mpmi_stats {
    uint64_t calls, errors, refused, bytes_in, bytes_out, conns_total, sessions_total;
    uint64_t errors_by_code[64]; /* [n]: calls failed with -n */
    uint64_t gc_runs, gc_freed;
};

struct mpmi_srv {
    int epfd;
    volatile int running;
    int log;
    unsigned char *authkey;
    size_t authkey_len;
    size_t max_frame;
    mpmi_map objects;
    uint64_t next_id;
    mpmi_session *sessions;
    mpmi_map sessions_by_id;
    uint64_t next_session;
    size_t nsessions;
    mpmi_conn *conns;
    size_t nconns;
    mpmi_waiter **heap;
    size_t heap_len, heap_cap;
    mpmi_req *ready, *ready_tail;
    mpmi_listener **listeners;
    size_t nlisteners;
    mpmi_ev sig_ev, parent_ev;
    struct mpmi_stats stats;
    size_t nhandshaking; /* connections not yet authenticated */
    size_t nparked;      /* calls parked now */
    int finishing;       /* shutting down: objects are destroyed wholesale */
    int spin_max, spin_us; /* poll before sleeping (microseconds) */
    int spin_yield;        /* mpmd may use one CPU only: yield at every poll */
    int64_t spin_t0;       /* when the last poll began (µs) */
    const void *last_in;   /* the connection of the last request read (compared only) */
    int64_t multi_until;   /* requests from several clients lately (µs) */
    int spare_fd;        /* given up to accept-and-close when out of descriptors */
    /* named objects: name hash -> first object (chained by name_next) */
    mpmi_map names;
    size_t nnamed;
    uint64_t epoch;      /* random per run: tokens of another run are refused */
    int64_t started_ms;
    /* the collector of objects reached only through stored references */
    size_t nmayref;      /* live objects with may_ref set */
    mpmi_obj *zombies;   /* refs == 0, awaiting a collection */
    size_t nzombies;
    int gc_pending;
    uint64_t gc_epoch;
    int64_t gc_next_us;  /* no collection before (rate limit: 10x its own cost) */
    int64_t gc_grace_ms; /* an unreached zombie lives this long (--gc-grace-ms) */
    mpmi_obj *deferred;  /* objects with deferred work (mpmi_defer), newest first */
    mpmi_obj *deferred_tail; /* ... and the oldest, which runs first */
    uint64_t loop_iter;  /* rounds of the loop */
};

/* How long a connection may take to authenticate. */
#define MPMI_HANDSHAKE_MS 10000
/* How long an nng connection stays open after an answered refusal (sp.c). */
#define MPMI_LINGER_MS 500
/* How long a shutting-down server keeps nng connections open after its last
 * replies (shutdown's, say). */
#define MPMI_SHUTDOWN_LINGER_MS 50

void mpmi_log(mpmi_srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int mpmi_srv_init(mpmi_srv *s);
/* Listen on a URL of either transport; 0 or -1 (logged).  actual gets the
 * URL as bound (port 0 resolved). */
int mpmi_srv_listen(mpmi_srv *s, const char *url, char *actual, size_t n);
int mpmi_srv_watch_parent(mpmi_srv *s, int fd);
int mpmi_srv_run(mpmi_srv *s);
void mpmi_srv_fini(mpmi_srv *s);
int mpmi_ev_add(mpmi_srv *s, mpmi_ev *ev, uint32_t events);

/* Connections, for transports. */
mpmi_conn *mpmi_conn_new(mpmi_srv *s, int fd, const char *peer);
/* Handle one complete frame from c; -1 means close c. */
int mpmi_conn_frame(mpmi_conn *c, unsigned char *frame, size_t len);
void mpmi_conn_close(mpmi_conn *c, const char *why);
/* Write iov to c's socket now; what does not go waits in c->out.  -1: the
 * socket is dead or memory ran out. */
int mpmi_conn_write(mpmi_conn *c, const struct iovec *iov, int n);

/* Sessions and the manager object (objects.c). */
mpmi_session *mpmi_session_join(mpmi_srv *s, const unsigned char *token);
void mpmi_session_leave(mpmi_srv *s, mpmi_session *se);
int mpmi_manager_call(mpmi_call *c);
void mpmi_objects_fini(mpmi_srv *s);
/* Check the object references in c's arguments (they must name live objects
 * of the type they claim): 0, or the error via mpmi_fail; sets c->has_refs. */
int mpmi_check_refs(mpmi_call *c);
/* A call ran on o: note references given to it, schedule a collection when a
 * stored reference may have gone. */
void mpmi_after_call(mpmi_call *c, mpmi_obj *o);
/* Run a due collection (from the loop); force: whatever the rate limit. */
void mpmi_gc_maybe(mpmi_srv *s, int force);
/* Microseconds until a pending collection may run, or -1 for none. */
int64_t mpmi_gc_wait_us(mpmi_srv *s);

/* nng's wire on a stream socket (sp.c): the protocol header to send first,
 * whole messages taken from c->in (-1: close c), a reply sent. */
int mpmi_sp_start(mpmi_conn *c);
int mpmi_sp_drain(mpmi_conn *c);
int mpmi_sp_send(mpmi_conn *c, const unsigned char *frame, size_t len);

#endif
