/* nng_interop_test.c - mpm's nng wire against the real libnng.  Neither side
 * of mpm links libnng: mpmd's nng+ipc:// and nng+tcp:// listeners
 * (server/sp.c) and libmpm's client for those URLs (proxy/client.c) speak
 * nng's wire (SP over streams) themselves.  A mistake made the same way on
 * both sides would pass every test in which one of them talks to the other,
 * so here each side talks to nng 1.5.2 instead:
 *
 *   - a real req0 socket carries a raw client's whole protocol (handshake,
 *     sealed calls, replies) to mpmd's nng listeners;
 *   - libmpm's client does real work through a real rep0 socket.
 *
 * Both go through a relay thread that turns native frames (a u32 length,
 * little endian, then the frame) into nng messages and back.  nng runs in
 * the test process itself, never in a fork of it, so the relays are threads;
 * they record what went wrong for the test thread to assert. */
#define _GNU_SOURCE
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol/codec.h"
#include "protocol/ops.h"
#include "protocol/wire.h"
#include "support/mpmd.h"
#include "support/raw_client.h"
#include "support/support.h"

static const char KEY[] = "nng-interop-test-key";
static t_nng_srv S; /* mpmd on nng+ipc, nng+tcp and unix:// (S.watch) */

static void setup(void)
{
    t_nng_srv_start(&S, "mpmnng", KEY, NULL);
}

static void teardown(void)
{
    t_nng_srv_stop(&S);
}

TestSuite(nng_interop, .init = setup, .fini = teardown, .timeout = 30);

enum { IPC, TCP };
static const char *const KIND[] = {"ipc", "tcp"};

#define NNG_OK(expr)                                                                               \
    do {                                                                                           \
        int nrv_ = (expr);                                                                         \
        cr_assert_eq(nrv_, 0, "%s: %s", #expr, nng_strerror(nrv_));                                \
    } while (0)

/* The largest frame a relay carries; the big value below fits with room. */
#define RELAY_MAX (1u << 20)
#define BIG_LEN (200 * 1024)

/*---- what a relay thread reports ------------------------------------------------*/

typedef struct relay_err {
    pthread_mutex_t mu;
    char msg[256]; /* the first failure; empty when none */
} relay_err;

static void relay_fail(relay_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void relay_fail(relay_err *e, const char *fmt, ...)
{
    pthread_mutex_lock(&e->mu);
    if (!e->msg[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&e->mu);
}

/* Read one native frame from fd into a new nng message (body = the frame):
 * 1, 0 at end of stream, -1 on failure (recorded). */
static int relay_read_frame(int fd, nng_msg **out, int ms, relay_err *e)
{
    unsigned char pre[MPMI_LEN_PREFIX];
    int rc = raw_read_exact(fd, pre, sizeof pre, ms);
    if (rc == 0) return 0;
    if (rc < 0) {
        relay_fail(e, "no native frame within %d ms", ms);
        return -1;
    }
    uint32_t n = mpmi_get_u32(pre);
    if (n > RELAY_MAX) {
        relay_fail(e, "a native frame of %u bytes", n);
        return -1;
    }
    nng_msg *m;
    int rv = nng_msg_alloc(&m, n);
    if (rv) {
        relay_fail(e, "nng_msg_alloc: %s", nng_strerror(rv));
        return -1;
    }
    if (raw_read_exact(fd, nng_msg_body(m), n, ms) != 1) {
        nng_msg_free(m);
        relay_fail(e, "a native frame of %u bytes cut short", n);
        return -1;
    }
    *out = m;
    return 1;
}

/*---- 1: a raw client -> native frames -> real nng req0 -> mpmd ---------------------*/

/* Accepts one connection on a Unix socket and carries each of its frames to
 * mpmd as a request on a real req0 socket, and the reply back, until the
 * client hangs up. */
typedef struct req_relay {
    int lfd;        /* the listening Unix socket */
    nng_socket req; /* dialled to mpmd's nng listener */
    pthread_t th;
    int carried; /* requests answered */
    relay_err err;
} req_relay;

static void *req_relay_run(void *arg)
{
    req_relay *r = arg;
    struct pollfd pf = {r->lfd, POLLIN, 0};
    if (poll(&pf, 1, 10000) != 1) {
        relay_fail(&r->err, "nobody connected to the relay");
        return NULL;
    }
    int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        relay_fail(&r->err, "accept: %s", strerror(errno));
        return NULL;
    }
    for (;;) {
        nng_msg *m, *rep;
        int rc = relay_read_frame(fd, &m, 10000, &r->err);
        if (rc <= 0) break; /* 0: the client hung up, the end */
        int rv = nng_sendmsg(r->req, m, 0);
        if (rv) {
            nng_msg_free(m);
            relay_fail(&r->err, "nng_sendmsg: %s", nng_strerror(rv));
            break;
        }
        rv = nng_recvmsg(r->req, &rep, 0);
        if (rv) {
            relay_fail(&r->err, "nng_recvmsg (reply %d): %s", r->carried + 1, nng_strerror(rv));
            break;
        }
        rc = raw_send_frame(fd, nng_msg_body(rep), nng_msg_len(rep));
        nng_msg_free(rep);
        if (rc) {
            relay_fail(&r->err, "the client went before its reply");
            break;
        }
        r->carried++;
    }
    close(fd);
    return NULL;
}

/* A relay at path to mpmd's nng listener of this kind. */
static void req_relay_start(req_relay *r, int kind, const char *path)
{
    char url[200];
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->err.mu, NULL);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    r->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(r->lfd, 0);
    cr_assert_eq(bind(r->lfd, (struct sockaddr *)&sa, sizeof sa), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(r->lfd, 1), 0);
    if (kind == IPC)
        snprintf(url, sizeof url, "ipc://%s", S.ipc_path);
    else
        snprintf(url, sizeof url, "tcp://127.0.0.1:%d", S.tcp_port);
    NNG_OK(nng_req0_open(&r->req));
    NNG_OK(nng_socket_set_ms(r->req, NNG_OPT_RECVTIMEO, 5000));
    NNG_OK(nng_socket_set_ms(r->req, NNG_OPT_SENDTIMEO, 5000));
    NNG_OK(nng_socket_set_ms(r->req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE));
    NNG_OK(nng_socket_set_size(r->req, NNG_OPT_RECVMAXSZ, RELAY_MAX + 1024));
    NNG_OK(nng_dial(r->req, url, NULL, 0)); /* synchronous: mpmd is there */
    cr_assert_eq(pthread_create(&r->th, NULL, req_relay_run, r), 0);
}

/* After the client hung up: the relay ended without a failure. */
static void req_relay_finish(req_relay *r, const char *path)
{
    pthread_join(r->th, NULL);
    nng_close(r->req);
    close(r->lfd);
    unlink(path);
    pthread_mutex_destroy(&r->err.mu);
    cr_assert_str_empty(r->err.msg, "relay: %s", r->err.msg);
}

static unsigned char reply_buf[RELAY_MAX];

/* Send b (freed) on r: the results, exactly want of them. */
static void body_call(raw *r, raw_body *b, raw_result *res, uint32_t want)
{
    uint32_t n = raw_body_send(r, b, res, want);
    cr_assert_eq(n, want, "%u results, want %u", n, want);
}

static mpmi_item item_of(const raw_result *res)
{
    mpmi_rd rd;
    mpmi_item it;
    mpmi_rd_init(&rd, res->val, res->vn);
    cr_assert_eq(mpmi_rd_next(&rd, &it), 0, "a result that does not parse");
    return it;
}

static int64_t int_of(const raw_result *res)
{
    mpmi_item it = item_of(res);
    int64_t v = -1;
    cr_assert_eq(mpmi_item_int(&it, &v), 0, "not an integer result");
    return v;
}

#define ASSERT_OK_RESULT(res, what)                                                                \
    cr_assert_eq((res).status, 0, "%s: status %lld (%s)", (what), (long long)(res).status,         \
                 (res).msg)

/* The whole protocol through a real req0 socket: the handshake (HELLO,
 * CHALLENGE, PROOF, WELCOME), then sealed calls: PING; CREATE a dict; one
 * body of three calls with a value of 200 KiB (several reads on either side
 * of nng); GETITEM of both values; a missing key answered with its error;
 * LEN; DECREF.  Over nng+ipc and nng+tcp. */
Test(nng_interop, real_req0_client_talks_to_mpmd)
{
    static unsigned char big[BIG_LEN];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + i / 251);
    for (int kind = IPC; kind <= TCP; kind++) {
        char path[160];
        snprintf(path, sizeof path, "%s/relay-%s.sock", S.dir, KIND[kind]);
        req_relay rl;
        req_relay_start(&rl, kind, path);
        const raw_opts o = {path, KEY, 5000, 5000, reply_buf, sizeof reply_buf};
        raw r;
        raw_connect(&r, &o); /* the handshake, each step through nng */

        raw_result res[3];
        raw_body b;
        raw_body_init(&b, 1);
        raw_body_call(&b, 0, MPMI_OP_PING, 0);
        body_call(&r, &b, res, 1);
        ASSERT_OK_RESULT(res[0], "PING");
        mpmi_item it = item_of(&res[0]);
        cr_assert(it.type == MPMI_STR && it.v.s.n == 4 && memcmp(it.v.s.p, "pong", 4) == 0,
                  "PING did not answer 'pong'");

        raw_body_init(&b, 1);
        raw_body_call(&b, 0, MPMI_OP_CREATE, 1);
        msgpack_pack_int(&b.pk, MPM_OBJ_DICT);
        body_call(&r, &b, res, 1);
        ASSERT_OK_RESULT(res[0], "CREATE");
        int64_t did = int_of(&res[0]);
        cr_assert_gt(did, 0);
        size_t objs = 0;
        T_OK(mpm_manager_object_count(S.watch, &objs));
        cr_assert_eq(objs, 1, "the server holds %zu objects, want the new dict", objs);

        raw_body_init(&b, 3);
        raw_body_call(&b, (uint64_t)did, MPMI_OP_SETITEM, 2);
        raw_body_str(&b, "n");
        msgpack_pack_int(&b.pk, 7);
        raw_body_call(&b, (uint64_t)did, MPMI_OP_SETITEM, 2);
        raw_body_str(&b, "big");
        msgpack_pack_bin(&b.pk, sizeof big);
        msgpack_pack_bin_body(&b.pk, big, sizeof big);
        raw_body_call(&b, (uint64_t)did, MPMI_OP_LEN, 0);
        body_call(&r, &b, res, 3);
        ASSERT_OK_RESULT(res[0], "SETITEM n");
        ASSERT_OK_RESULT(res[1], "SETITEM big");
        ASSERT_OK_RESULT(res[2], "LEN");
        cr_assert_eq(int_of(&res[2]), 2);

        raw_body_init(&b, 3);
        raw_body_call(&b, (uint64_t)did, MPMI_OP_GETITEM, 1);
        raw_body_str(&b, "n");
        raw_body_call(&b, (uint64_t)did, MPMI_OP_GETITEM, 1);
        raw_body_str(&b, "big");
        raw_body_call(&b, (uint64_t)did, MPMI_OP_GETITEM, 1);
        raw_body_str(&b, "missing");
        body_call(&r, &b, res, 3);
        ASSERT_OK_RESULT(res[0], "GETITEM n");
        cr_assert_eq(int_of(&res[0]), 7);
        ASSERT_OK_RESULT(res[1], "GETITEM big");
        it = item_of(&res[1]);
        cr_assert(it.type == MPMI_BIN && it.v.s.n == sizeof big,
                  "the big value came back as "
                  "type %d, %u bytes",
                  it.type, it.v.s.n);
        cr_assert_eq(memcmp(it.v.s.p, big, sizeof big), 0, "the big value came back changed");
        cr_assert_eq(res[2].status, -MPM_EKEY, "GETITEM missing: status %lld (%s)",
                     (long long)res[2].status, res[2].msg);

        raw_body_init(&b, 1);
        raw_body_call(&b, 0, MPMI_OP_DECREF, 1);
        msgpack_pack_int64(&b.pk, did);
        body_call(&r, &b, res, 1);
        ASSERT_OK_RESULT(res[0], "DECREF");
        T_OK(mpm_manager_object_count(S.watch, &objs));
        cr_assert_eq(objs, 0, "the server still holds %zu objects", objs);

        raw_close(&r);
        req_relay_finish(&rl, path);
        /* HELLO, PROOF and the five bodies */
        cr_assert_eq(rl.carried, 7, "%s: the relay carried %d requests", KIND[kind], rl.carried);
    }
}

/*---- 2: libmpm -> real nng rep0 -> native frames -> mpmd ----------------------------*/

/* A raw rep0 socket: each request comes with its header (the pipe's id,
 * then the backtrace), which goes back with the reply.  Each nng pipe (one
 * of libmpm's connections) gets its own native connection to mpmd, so the
 * server sees libmpm's connections as they are; when the pipe goes, so does
 * its native connection. */
#define MAX_PIPES 16

typedef struct rep_pipe {
    uint32_t id; /* 0: a free slot */
    int fd;      /* the native connection, -1 until the first request */
    int gone;    /* nng removed the pipe */
} rep_pipe;

typedef struct rep_relay {
    nng_socket rep;
    pthread_t th;
    relay_err err; /* err.mu also guards pipes, npipes and stop */
    rep_pipe pipes[MAX_PIPES];
    int npipes;  /* pipes nng added, in all (NNG_PIPE_EV_ADD_PRE) */
    int carried; /* requests answered */
    int stop;
} rep_relay;

static void rep_relay_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    rep_relay *r = arg;
    uint32_t id = (uint32_t)nng_pipe_id(p);
    int i = 0;
    pthread_mutex_lock(&r->err.mu);
    if (ev == NNG_PIPE_EV_ADD_PRE) {
        r->npipes++;
        for (i = 0; i < MAX_PIPES && r->pipes[i].id; i++) {
        }
        if (i < MAX_PIPES) r->pipes[i] = (rep_pipe){id, -1, 0};
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        for (i = 0; i < MAX_PIPES; i++)
            if (r->pipes[i].id == id) r->pipes[i].gone = 1;
    }
    pthread_mutex_unlock(&r->err.mu);
    if (ev == NNG_PIPE_EV_ADD_PRE && i == MAX_PIPES)
        relay_fail(&r->err, "more than %d nng pipes at once", MAX_PIPES);
}

/* Close the native connections of the pipes nng removed (all of them when
 * all); returns whether to stop. */
static int rep_relay_reap(rep_relay *r, int all)
{
    pthread_mutex_lock(&r->err.mu);
    for (int i = 0; i < MAX_PIPES; i++) {
        rep_pipe *p = &r->pipes[i];
        if (p->id && (p->gone || all)) {
            if (p->fd >= 0) close(p->fd);
            *p = (rep_pipe){0, -1, 0};
        }
    }
    int stop = r->stop;
    pthread_mutex_unlock(&r->err.mu);
    return stop;
}

/* The native connection of pipe id (dialled at its first request); -1: the
 * pipe is gone (unknown: gone and reaped); -2: mpmd cannot be reached. */
static int rep_relay_conn(rep_relay *r, uint32_t id)
{
    int fd = -1, i;
    pthread_mutex_lock(&r->err.mu);
    for (i = 0; i < MAX_PIPES && r->pipes[i].id != id; i++) {
    }
    if (i < MAX_PIPES && !r->pipes[i].gone) {
        if (r->pipes[i].fd < 0) r->pipes[i].fd = raw_dial(S.sock_path);
        fd = r->pipes[i].fd < 0 ? -2 : r->pipes[i].fd;
    }
    pthread_mutex_unlock(&r->err.mu);
    return fd;
}

static void *rep_relay_run(void *arg)
{
    rep_relay *r = arg;
    while (!rep_relay_reap(r, 0)) {
        nng_msg *m, *rep = NULL;
        int rv = nng_recvmsg(r->rep, &m, 0); /* NNG_OPT_RECVTIMEO: a moment */
        if (rv == NNG_ETIMEDOUT) continue;
        if (rv) {
            relay_fail(&r->err, "nng_recvmsg: %s", nng_strerror(rv));
            break;
        }
        uint32_t id = (uint32_t)nng_pipe_id(nng_msg_get_pipe(m));
        int fd = rep_relay_conn(r, id);
        if (fd < 0) {
            nng_msg_free(m);
            if (fd == -1) continue; /* the pipe went already: nobody to answer */
            relay_fail(&r->err, "cannot connect to %s", S.sock_path);
            break;
        }
        int rc = raw_send_frame(fd, nng_msg_body(m), nng_msg_len(m));
        if (rc == 0) rc = relay_read_frame(fd, &rep, 5000, &r->err) == 1 ? 0 : -1;
        if (rc == 0) rc = nng_msg_header_append(rep, nng_msg_header(m), nng_msg_header_len(m));
        nng_msg_free(m);
        if (rc) {
            if (rep) nng_msg_free(rep);
            relay_fail(&r->err, "request %d on pipe %u was not answered", r->carried + 1, id);
            break;
        }
        rv = nng_sendmsg(r->rep, rep, 0);
        if (rv) {
            nng_msg_free(rep);
            relay_fail(&r->err, "nng_sendmsg: %s", nng_strerror(rv));
            break;
        }
        r->carried++;
    }
    rep_relay_reap(r, 1);
    return NULL;
}

/* A relay listening on url (tcp://127.0.0.1:0: the port taken in *port). */
static void rep_relay_start(rep_relay *r, const char *url, int *port)
{
    nng_listener l;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->err.mu, NULL);
    for (int i = 0; i < MAX_PIPES; i++)
        r->pipes[i].fd = -1;
    NNG_OK(nng_rep0_open_raw(&r->rep));
    NNG_OK(nng_socket_set_ms(r->rep, NNG_OPT_RECVTIMEO, 20));
    NNG_OK(nng_socket_set_ms(r->rep, NNG_OPT_SENDTIMEO, 5000));
    NNG_OK(nng_socket_set_size(r->rep, NNG_OPT_RECVMAXSZ, RELAY_MAX + 1024));
    /* before the pipe starts: its first request may come before ADD_POST */
    NNG_OK(nng_pipe_notify(r->rep, NNG_PIPE_EV_ADD_PRE, rep_relay_pipe_event, r));
    NNG_OK(nng_pipe_notify(r->rep, NNG_PIPE_EV_REM_POST, rep_relay_pipe_event, r));
    NNG_OK(nng_listen(r->rep, url, &l, 0));
    if (port) NNG_OK(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, port));
    cr_assert_eq(pthread_create(&r->th, NULL, rep_relay_run, r), 0);
}

static void rep_relay_finish(rep_relay *r)
{
    pthread_mutex_lock(&r->err.mu);
    r->stop = 1;
    pthread_mutex_unlock(&r->err.mu);
    pthread_join(r->th, NULL);
    nng_close(r->rep); /* its pipe callbacks are done when it returns */
    pthread_mutex_destroy(&r->err.mu);
    cr_assert_str_empty(r->err.msg, "relay: %s", r->err.msg);
}

/* The server's sessions come down to want (the watch's own is one) within
 * 3 s. */
static void await_sessions(size_t want)
{
    size_t n = 0;
    for (int64_t end = t_now_ms() + 3000;; t_sleep_ms(10)) {
        T_OK(mpm_manager_sessions(S.watch, &n));
        if (n == want || t_now_ms() > end) break;
    }
    cr_assert_eq(n, want, "the server has %zu sessions, want %zu", n, want);
}

/* libmpm's client through a real rep0 socket: connect (the handshake), a
 * dict made, filled (a 200 KiB value too), read back and counted, PING, the
 * dict closed (its DECREF goes without waiting for the reply, which libmpm
 * reads before the next one: the PING after it), the manager closed.  The
 * server saw all of it happen (the watch's view), and the session went
 * when libmpm hung up on nng.  Over nng+ipc and nng+tcp. */
Test(nng_interop, libmpm_talks_to_real_rep0)
{
    static unsigned char big[BIG_LEN];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 13 + i / 509);
    for (int kind = IPC; kind <= TCP; kind++) {
        char nurl[200], url[200];
        int port = 0;
        rep_relay rl;
        if (kind == IPC) {
            snprintf(nurl, sizeof nurl, "ipc://%s/r.ipc", S.dir);
            rep_relay_start(&rl, nurl, NULL);
            snprintf(url, sizeof url, "nng+%s", nurl);
        } else {
            rep_relay_start(&rl, "tcp://127.0.0.1:0", &port);
            cr_assert_gt(port, 0);
            snprintf(url, sizeof url, "nng+tcp://127.0.0.1:%d", port);
        }
        mpm_manager *m = NULL;
        T_OK(mpm_connect(&m, url, KEY, strlen(KEY)));
        await_sessions(2);

        mpm_dict *d = NULL;
        T_OK(mpm_dict_new(m, &d));
        T_OK(mpm_dict_set(d, MPM_STR("k"), MPM_INT(42)));
        T_OK(mpm_dict_set(d, MPM_STR("big"), MPM_BYTES(big, sizeof big)));
        mpm_val *v = NULL;
        T_OK(mpm_dict_get(d, MPM_STR("k"), &v));
        cr_assert(v->type == MPM_T_INT && v->v.i == 42, "%s: d['k'] is not 42", KIND[kind]);
        mpm_val_free(v);
        v = NULL;
        T_OK(mpm_dict_get(d, MPM_STR("big"), &v));
        cr_assert(v->type == MPM_T_BYTES && v->v.str.len == sizeof big &&
                      memcmp(v->v.str.ptr, big, sizeof big) == 0,
                  "%s: d['big'] came back changed", KIND[kind]);
        mpm_val_free(v);
        t_assert_err(mpm_dict_get(d, MPM_STR("missing"), &v), MPM_EKEY, "KeyError: 'missing'");
        size_t n = 0;
        T_OK(mpm_dict_len(d, &n));
        cr_assert_eq(n, 2);
        T_OK(mpm_ping(m));
        T_OK(mpm_manager_object_count(S.watch, &n));
        cr_assert_eq(n, 1, "the server holds %zu objects, want the dict", n);

        mpm_dict_close(d);
        T_OK(mpm_ping(m)); /* reads the DECREF's reply first */
        T_OK(mpm_manager_object_count(S.watch, &n));
        cr_assert_eq(n, 0, "the server still holds %zu objects", n);
        mpm_manager_close(m);
        await_sessions(1);

        rep_relay_finish(&rl);
        cr_assert_geq(rl.npipes, 1);
        /* HELLO, PROOF, then CREATE, 2 SETs, 3 GETs, LEN, PING, DECREF, PING */
        cr_assert_geq(rl.carried, 12, "%s: the relay carried %d requests", KIND[kind], rl.carried);
        cr_log_info("%s: libmpm used %d nng pipe(s) for %d requests", KIND[kind], rl.npipes,
                    rl.carried);
    }
}
