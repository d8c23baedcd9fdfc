/* nng.c - the nng transport (req0/rep0): one raw rep0 socket per listen URL,
 * driven from the event loop through nng's receive/send descriptors.
 *
 * Every nng pipe is an mpmi_conn with fd -1 whose send/release hooks are ours.
 * Pipe events arrive on nng threads: they are queued under a mutex and an
 * eventfd wakes the loop, which alone touches connections.  A pipe is
 * announced at ADD_PRE, which nng runs before the pipe can deliver anything,
 * so a message from a pipe the loop does not know comes from a pipe that is
 * already gone. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../protocol/url.h"
#include "loop.h"

/* Messages taken from one socket per readiness event: fairness to the rest. */
#define NNG_RECV_BATCH 256
/* Upper queues: a burst of replies (many waiters woken at once) or requests
 * must not hit EAGAIN at once; what still does waits in the backlog. */
#ifndef NNG_SENDBUF
#define NNG_SENDBUF 1024
#endif
#define NNG_RECVBUF 1024
/* A raw REP header: pipe id and up to 8 hops of backtrace (nng's max TTL). */
#define NNG_HDR_MAX 64
/* How long fini lets just-queued replies (shutdown's answer) reach the wire:
 * nng 1.5 has no linger, nng_close drops what is still queued. */
#define NNG_LINGER_MS 30

enum { NNG_PEV_ADD, NNG_PEV_REM };

typedef struct nng_state nng_state;

/* One pipe event, handed from an nng thread to the loop. */
typedef struct nng_pev {
    uint32_t pipe;
    int what;
    struct nng_lsock *ls;
    char peer[96];
} nng_pev;

/* One listen URL: its socket, its descriptors, its reply backlog. */
typedef struct nng_lsock {
    mpmi_ev rev; /* NNG_OPT_RECVFD; first, so the loop's mpmi_ev * is ours */
    mpmi_ev sev; /* NNG_OPT_SENDFD, watched only while the backlog holds replies */
    nng_state *st;
    nng_socket sock;
    nng_listener l;
    int open;
    int sev_on;
    nng_msg **bl; /* replies nng would not take yet, oldest at bl[bhead] */
    size_t bhead, blen, bcap;
    char url[256];
} nng_lsock;

struct nng_state {
    mpmi_srv *srv;
    nng_lsock **socks;
    size_t nsocks;
    mpmi_ev qev; /* eventfd: pipe events are queued */
    pthread_mutex_t mu;
    nng_pev *q; /* under mu */
    size_t qlen, qcap;
    mpmi_map conns; /* pipe id -> mpmi_conn *, NULL once we closed it and the pipe lives */
    int64_t last_send_ms;
};

/* Per connection (conn->tr). */
typedef struct nng_pconn {
    nng_lsock *ls;
    uint32_t pipe;
    int gone; /* the pipe is removed: the map no longer names it */
    int kill; /* close the pipe when the connection goes (a reply was lost) */
    size_t hlen;
    unsigned char hdr[NNG_HDR_MAX]; /* the request being answered */
} nng_pconn;

static int64_t nng_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*---- pipe events (nng threads) ---------------------------------------------*/

static void nng_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    nng_lsock *ls = arg;
    nng_state *st = ls->st;
    nng_pev e = {.pipe = nng_pipe_id(p),
                 .what = ev == NNG_PIPE_EV_ADD_PRE ? NNG_PEV_ADD : NNG_PEV_REM,
                 .ls = ls};
    if (e.what == NNG_PEV_ADD) {
        uint64_t pid;
        nng_sockaddr sa;
        char host[INET6_ADDRSTRLEN] = "?";
        if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) == 0) {
            snprintf(e.peer, sizeof e.peer, "nng+ipc:pid %llu", (unsigned long long)pid);
        } else if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0 && sa.s_family == NNG_AF_INET) {
            inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof host);
            snprintf(e.peer, sizeof e.peer, "nng+tcp:%s:%u", host, ntohs(sa.s_in.sa_port));
        } else if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0 && sa.s_family == NNG_AF_INET6) {
            inet_ntop(AF_INET6, sa.s_in6.sa_addr, host, sizeof host);
            snprintf(e.peer, sizeof e.peer, "nng+tcp:[%s]:%u", host, ntohs(sa.s_in6.sa_port));
        } else {
            snprintf(e.peer, sizeof e.peer, "nng pipe %u", e.pipe);
        }
    }
    pthread_mutex_lock(&st->mu);
    if (st->qlen == st->qcap) {
        size_t cap = st->qcap ? st->qcap * 2 : 16;
        nng_pev *q = realloc(st->q, cap * sizeof *q);
        if (!q) {
            /* a lost ADD only makes the pipe's messages close it; a lost REM
             * keeps a dead connection until shutdown */
            pthread_mutex_unlock(&st->mu);
            if (e.what == NNG_PEV_ADD) nng_pipe_close(p);
            return;
        }
        st->q = q;
        st->qcap = cap;
    }
    st->q[st->qlen++] = e;
    pthread_mutex_unlock(&st->mu);
    uint64_t one = 1;
    (void)!write(st->qev.fd, &one, sizeof one);
}

/*---- connections (loop thread) ---------------------------------------------*/

static void nng_sev_set(nng_lsock *ls, int on)
{
    if (ls->sev_on == on || ls->sev.fd < 0) return;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &ls->sev};
    if (epoll_ctl(ls->st->srv->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, ls->sev.fd, &e) == 0)
        ls->sev_on = on;
}

/* Hand m to nng without blocking; what it will not take yet waits, in order. */
static int nng_lsock_send(nng_lsock *ls, nng_msg *m)
{
    if (ls->blen == 0) {
        int rv = nng_sendmsg(ls->sock, m, NNG_FLAG_NONBLOCK);
        if (rv == 0) return 0;
        if (rv != NNG_EAGAIN || ls->sev.fd < 0) {
            mpmi_log(ls->st->srv, "%s: send: %s", ls->url, nng_strerror(rv));
            nng_msg_free(m);
            return -1;
        }
    }
    if (ls->bhead + ls->blen == ls->bcap) {
        if (ls->bhead) {
            memmove(ls->bl, ls->bl + ls->bhead, ls->blen * sizeof *ls->bl);
            ls->bhead = 0;
        }
        if (ls->blen == ls->bcap) {
            size_t cap = ls->bcap ? ls->bcap * 2 : 64;
            nng_msg **bl = realloc(ls->bl, cap * sizeof *bl);
            if (!bl) {
                nng_msg_free(m);
                return -1;
            }
            ls->bl = bl;
            ls->bcap = cap;
        }
    }
    ls->bl[ls->bhead + ls->blen++] = m;
    nng_sev_set(ls, 1);
    return 0;
}

static void nng_send_event(mpmi_srv *s, mpmi_ev *ev, uint32_t events)
{
    nng_lsock *ls = (nng_lsock *)((char *)ev - offsetof(nng_lsock, sev));
    (void)s;
    (void)events;
    while (ls->blen) {
        nng_msg *m = ls->bl[ls->bhead];
        int rv = nng_sendmsg(ls->sock, m, NNG_FLAG_NONBLOCK);
        if (rv == NNG_EAGAIN) return;
        if (rv) nng_msg_free(m);
        ls->bhead++;
        ls->blen--;
    }
    ls->bhead = 0;
    nng_sev_set(ls, 0);
}

static int nng_conn_send(mpmi_conn *c, unsigned char *frame, size_t len)
{
    nng_pconn *pc = c->tr;
    nng_msg *m;
    if (pc->hlen == 0) return 0; /* no request to answer: nothing can carry it */
    if (nng_msg_alloc(&m, len)) goto fail;
    memcpy(nng_msg_body(m), frame, len);
    if (nng_msg_header_append(m, pc->hdr, pc->hlen)) {
        nng_msg_free(m);
        goto fail;
    }
    pc->hlen = 0; /* one reply per request */
    pc->ls->st->last_send_ms = nng_now_ms();
    if (nng_lsock_send(pc->ls, m) == 0) return 0;
fail:
    pc->kill = 1; /* the client would wait forever: make it see the pipe go */
    return -1;
}

static void nng_conn_release(mpmi_conn *c)
{
    nng_pconn *pc = c->tr;
    nng_state *st = pc->ls->st;
    if (!pc->gone) {
        /* closed by us while the pipe lives: remember it, so its next message
         * closes the pipe (an immediate close could drop our last reply) */
        mpmi_map_slot *sl = mpmi_map_find(&st->conns, pc->pipe);
        if (sl) sl->v.ptr = NULL;
        if (pc->kill) nng_pipe_close((nng_pipe){.id = pc->pipe});
    }
    free(pc);
    c->tr = NULL;
}

static void nng_conn_add(nng_state *st, const nng_pev *e)
{
    mpmi_srv *s = st->srv;
    nng_pipe p = {.id = e->pipe};
    int created;
    nng_pconn *pc = calloc(1, sizeof *pc);
    mpmi_map_slot *sl = pc ? mpmi_map_put(&st->conns, e->pipe, &created) : NULL;
    mpmi_conn *c = sl ? mpmi_conn_new(s, -1, e->peer) : NULL;
    if (!c) {
        if (sl) mpmi_map_del(&st->conns, e->pipe);
        free(pc);
        mpmi_log(s, "%s: out of memory", e->peer);
        nng_pipe_close(p);
        return;
    }
    pc->ls = e->ls;
    pc->pipe = e->pipe;
    c->interest = 0;
    c->send = nng_conn_send;
    c->release = nng_conn_release;
    c->tr = pc;
    sl->v.ptr = c;
    mpmi_log(s, "%s: connected", e->peer);
}

static void nng_conn_rem(nng_state *st, uint32_t pipe)
{
    mpmi_map_slot *sl = mpmi_map_find(&st->conns, pipe);
    if (!sl) return;
    mpmi_conn *c = sl->v.ptr;
    mpmi_map_del(&st->conns, pipe);
    if (!c) return;
    ((nng_pconn *)c->tr)->gone = 1;
    mpmi_conn_close(c, "client went away");
}

/* Apply queued pipe events, in the order nng raised them. */
static void nng_events(nng_state *st)
{
    for (;;) {
        pthread_mutex_lock(&st->mu);
        nng_pev *q = st->q;
        size_t n = st->qlen;
        st->q = NULL;
        st->qlen = st->qcap = 0;
        pthread_mutex_unlock(&st->mu);
        if (!n) {
            free(q);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            if (q[i].what == NNG_PEV_ADD)
                nng_conn_add(st, &q[i]);
            else
                nng_conn_rem(st, q[i].pipe);
        }
        free(q);
    }
}

static void nng_queue_event(mpmi_srv *s, mpmi_ev *ev, uint32_t events)
{
    nng_state *st = s->nng;
    uint64_t n;
    (void)events;
    (void)!read(ev->fd, &n, sizeof n);
    nng_events(st);
}

static void nng_msg_in(nng_lsock *ls, nng_msg *m)
{
    nng_state *st = ls->st;
    uint32_t pipe = nng_pipe_id(nng_msg_get_pipe(m));
    mpmi_map_slot *sl = mpmi_map_find(&st->conns, pipe);
    if (!sl) {
        nng_events(st); /* its ADD may still be queued */
        sl = mpmi_map_find(&st->conns, pipe);
    }
    mpmi_conn *c = sl ? sl->v.ptr : NULL;
    size_t hlen = nng_msg_header_len(m);
    if (!c || hlen > NNG_HDR_MAX) {
        /* a pipe that is gone or that we closed on: make sure it ends */
        nng_pipe_close(nng_msg_get_pipe(m));
        nng_msg_free(m);
        return;
    }
    nng_pconn *pc = c->tr;
    memcpy(pc->hdr, nng_msg_header(m), hlen);
    pc->hlen = hlen;
    if (mpmi_conn_frame(c, nng_msg_body(m), nng_msg_len(m))) mpmi_conn_close(c, "protocol error");
    nng_msg_free(m);
}

static void nng_recv_event(mpmi_srv *s, mpmi_ev *ev, uint32_t events)
{
    nng_lsock *ls = (nng_lsock *)ev;
    (void)events;
    for (int i = 0; i < NNG_RECV_BATCH && s->running; i++) {
        nng_msg *m;
        int rv = nng_recvmsg(ls->sock, &m, NNG_FLAG_NONBLOCK);
        if (rv == NNG_EAGAIN) return;
        if (rv) {
            mpmi_log(s, "%s: receive: %s", ls->url, nng_strerror(rv));
            return;
        }
        nng_msg_in(ls, m);
    }
}

/*---- listening -------------------------------------------------------------*/

static nng_state *nng_state_get(mpmi_srv *s)
{
    if (s->nng) return s->nng;
    nng_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->srv = s;
    st->qev.fn = nng_queue_event;
    st->qev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (st->qev.fd < 0 || mpmi_ev_add(s, &st->qev, EPOLLIN)) {
        if (st->qev.fd >= 0) close(st->qev.fd);
        free(st);
        return NULL;
    }
    pthread_mutex_init(&st->mu, NULL);
    s->nng = st;
    return st;
}

static int nng_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

/* The same rule as a native tcp:// listener: no key, loopback only. */
static int nng_check_tcp(mpmi_srv *s, const char *hp)
{
    char host[256], port[32];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (mpmi_split_hostport(hp, host, sizeof host, port, sizeof port)) {
        fprintf(stderr, "mpmd: bad tcp address '%s' (want nng+tcp://HOST:PORT)\n", hp);
        return -1;
    }
    int wild = !host[0] || strcmp(host, "*") == 0;
    int rc = getaddrinfo(wild ? NULL : host, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "mpmd: cannot resolve '%s': %s\n", host, gai_strerror(rc));
        return -1;
    }
    int loop = nng_is_loopback(ai->ai_addr);
    freeaddrinfo(ai);
    if (!loop && s->authkey_len == 0) {
        fprintf(stderr,
                "mpmd: refusing to listen on non-loopback %s without an authkey "
                "(use --authkey-file or MPM_AUTHKEY)\n",
                hp);
        return -1;
    }
    return 0;
}

static void nng_lsock_free(mpmi_srv *s, nng_lsock *ls)
{
    if (ls->rev.fd >= 0) epoll_ctl(s->epfd, EPOLL_CTL_DEL, ls->rev.fd, NULL);
    nng_sev_set(ls, 0);
    if (ls->open) nng_close(ls->sock); /* runs the last REM callbacks before it returns */
    for (size_t i = 0; i < ls->blen; i++)
        nng_msg_free(ls->bl[ls->bhead + i]);
    free(ls->bl);
    free(ls);
}

static int nng_fail(const char *url, const char *what, int rv)
{
    fprintf(stderr, "mpmd: cannot listen on %s: %s: %s\n", url, what, nng_strerror(rv));
    return -1;
}

int mpmi_nng_listen(mpmi_srv *s, const char *url, char *actual, size_t n)
{
    const char *rest = url + 4; /* past "nng+" */
    int is_ipc = strncmp(rest, "ipc://", 6) == 0 && rest[6];
    int is_tcp = strncmp(rest, "tcp://", 6) == 0 && rest[6];
    if (!is_ipc && !is_tcp) {
        fprintf(stderr,
                "mpmd: unknown URL scheme: %s (unix://, tcp://, nng+ipc://, "
                "nng+tcp://)\n",
                url);
        return -1;
    }
    if (is_tcp && nng_check_tcp(s, rest + 6)) return -1;
    nng_state *st = nng_state_get(s);
    nng_lsock *ls = calloc(1, sizeof *ls);
    nng_lsock **socks = st ? realloc(st->socks, (st->nsocks + 1) * sizeof *socks) : NULL;
    if (socks) st->socks = socks;
    if (!ls || !socks) {
        free(ls);
        fprintf(stderr, "mpmd: out of memory\n");
        return -1;
    }
    ls->st = st;
    ls->rev.fn = nng_recv_event;
    ls->rev.fd = -1;
    ls->sev.fn = nng_send_event;
    ls->sev.fd = -1;
    snprintf(ls->url, sizeof ls->url, "%s", url);

    int rv, fd;
    if ((rv = nng_rep0_open_raw(&ls->sock))) {
        nng_lsock_free(s, ls);
        return nng_fail(url, "socket", rv);
    }
    ls->open = 1;
    /* sizes before the listener exists, so its pipes inherit them */
    nng_socket_set_size(ls->sock, NNG_OPT_RECVMAXSZ, s->max_frame);
    nng_socket_set_int(ls->sock, NNG_OPT_SENDBUF, NNG_SENDBUF);
    nng_socket_set_int(ls->sock, NNG_OPT_RECVBUF, NNG_RECVBUF);
    if ((rv = nng_pipe_notify(ls->sock, NNG_PIPE_EV_ADD_PRE, nng_pipe_event, ls)) ||
        (rv = nng_pipe_notify(ls->sock, NNG_PIPE_EV_REM_POST, nng_pipe_event, ls))) {
        nng_lsock_free(s, ls);
        return nng_fail(url, "pipe notify", rv);
    }
    if ((rv = nng_listener_create(&ls->l, ls->sock, rest))) {
        nng_lsock_free(s, ls);
        return nng_fail(url, "listener", rv);
    }
    nng_listener_set_size(ls->l, NNG_OPT_RECVMAXSZ, s->max_frame);
    if (is_ipc && (rv = nng_listener_set_int(ls->l, NNG_OPT_IPC_PERMISSIONS, 0600))) {
        nng_lsock_free(s, ls);
        return nng_fail(url, "permissions", rv);
    }
    if (is_tcp) {
        /* a vanished peer (host down, cable out) is noticed only this way */
        nng_listener_set_bool(ls->l, NNG_OPT_TCP_KEEPALIVE, true);
        nng_listener_set_bool(ls->l, NNG_OPT_TCP_NODELAY, true);
    }
    if ((rv = nng_listener_start(ls->l, 0))) {
        nng_lsock_free(s, ls);
        return nng_fail(url, "listen", rv);
    }
    if ((rv = nng_socket_get_int(ls->sock, NNG_OPT_RECVFD, &fd))) {
        nng_lsock_free(s, ls);
        return nng_fail(url, "receive descriptor", rv);
    }
    ls->rev.fd = fd;
    if (mpmi_ev_add(s, &ls->rev, EPOLLIN)) {
        ls->rev.fd = -1;
        nng_lsock_free(s, ls);
        fprintf(stderr, "mpmd: cannot watch %s: %s\n", url, strerror(errno));
        return -1;
    }
    /* without a send descriptor a full queue fails the reply instead of waiting */
    if (nng_socket_get_int(ls->sock, NNG_OPT_SENDFD, &fd) == 0) ls->sev.fd = fd;

    if (is_tcp) {
        nng_sockaddr sa;
        char host[INET6_ADDRSTRLEN] = "";
        if ((rv = nng_listener_get_addr(ls->l, NNG_OPT_LOCADDR, &sa))) {
            nng_lsock_free(s, ls);
            return nng_fail(url, "local address", rv);
        }
        if (sa.s_family == NNG_AF_INET6) {
            inet_ntop(AF_INET6, sa.s_in6.sa_addr, host, sizeof host);
            snprintf(actual, n, "nng+tcp://[%s]:%u", host, ntohs(sa.s_in6.sa_port));
        } else {
            inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof host);
            snprintf(actual, n, "nng+tcp://%s:%u", host, ntohs(sa.s_in.sa_port));
        }
    } else {
        snprintf(actual, n, "%s", url);
    }
    snprintf(ls->url, sizeof ls->url, "%s", actual);
    st->socks[st->nsocks++] = ls;
    mpmi_log(s, "listening on %s", actual);
    return 0;
}

void mpmi_nng_fini(mpmi_srv *s)
{
    nng_state *st = s->nng;
    if (!st) return;
    /* mpmi_srv_fini has closed every connection; any left go now, while
     * their sockets still exist */
    MPMI_MAP_EACH(&st->conns, sl)
    {
        mpmi_conn *c = sl->v.ptr;
        if (!c) continue;
        ((nng_pconn *)c->tr)->gone = 1;
        mpmi_conn_close(c, "server shutting down");
    }
    mpmi_map_free(&st->conns);
    int64_t since = nng_now_ms() - st->last_send_ms;
    if (st->last_send_ms && since < NNG_LINGER_MS) {
        struct timespec ts = {0, (long)(NNG_LINGER_MS - since) * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* REM events nng_close queues are moot: nobody reads them */
    for (size_t i = 0; i < st->nsocks; i++)
        nng_lsock_free(s, st->socks[i]);
    free(st->socks);
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, st->qev.fd, NULL);
    close(st->qev.fd);
    pthread_mutex_destroy(&st->mu);
    free(st->q);
    free(st);
    s->nng = NULL;
}
