/* transport.h - the manager connection as the client's transports see it. */
#ifndef MPMI_TRANSPORT_H
#define MPMI_TRANSPORT_H

#include "../protocol/url.h"
#include "client.h"

#define MPMI_MAX_CREATE_ARGS 4

/* nng+ipc and nng+tcp are unix and TCP streams carrying nng's wire (SP, as
 * server/sp.c serves it), spoken here without libnng: nng cannot be used in a
 * forked child, and its req0 socket allows one request at a time. */
enum { MPMI_TR_UNIX = 1, MPMI_TR_TCP, MPMI_TR_NNG_IPC, MPMI_TR_NNG_TCP };
/* The longest handshake reply a client reads (they are a few dozen bytes): a
 * foreign listener cannot make it allocate much before it has authenticated. */
#define MPMI_HANDSHAKE_MAX 256
#define MPMI_TR_IS_SP(k) ((k) == MPMI_TR_NNG_IPC || (k) == MPMI_TR_NNG_TCP)

/* One connection to the server.  A manager keeps a pool of them: a call takes
 * an idle one (or dials a new one) and gives it back, so a thread waiting in
 * a blocking call never holds up another thread.  All of a process's
 * connections join one session on the server. */
typedef struct mpmi_cconn {
    mpm_manager *m;
    int fd;
    /* nng's wire: the protocol header is still to send / to read; the ids of
     * the next request and of the next reply expected (top bit set) */
    int sp_hdr_out, sp_hdr_in;
    uint32_t sp_send_id, sp_recv_id;
    int connecting;      /* in connect() or the handshake */
    int64_t hs_deadline; /* when connecting gives up (client_now_us), 0: never */
    mpmi_chan chan;
    mpmi_buf out, in;
    msgpack_packer pk; /* over out */
    int unread;        /* replies owed to requests sent without waiting */
    size_t in_used;    /* bytes of in that the last frame took */
    int spin_us;       /* how long to poll for a reply before sleeping */
    struct mpmi_cconn *next;         /* in the idle list */
    struct mpmi_cconn *anext, *aprev; /* in the list of all (under m->mu) */
} mpmi_cconn;

struct mpm_manager {
    pthread_mutex_t mu; /* guards everything below but url/kind/authkey */
    char *url;
    const char *rest; /* url past its scheme */
    int kind;
    unsigned char *authkey;
    size_t klen;
    pid_t pid;         /* the process whose connections these are */
    pid_t mu_pid;      /* the process that made mu */
    pthread_cond_t cv;  /* a connection's early replies were read, or it went */
    mpmi_cconn *idle;  /* connections not in a call */
    mpmi_cconn *all;   /* every connection of this process, idle or not */
    int need_incref;   /* forked: take references on inherited handles first */
    unsigned char token[MPMI_TOKEN_LEN]; /* names this process's session */
    mpmi_handle *handles;
    pid_t server_pid;  /* private manager's server */
    int private_child; /* this process started it and reaps it */
    int shutdown_sent; /* the server was told to stop: wait for it */
    int parent_fd;     /* the private server exits when every copy is closed */
    uint64_t epoch;    /* the server run's number for tokens, top bit set; 0: not asked yet */
};

#endif
