/* loop.c - mpmd's event loop: listeners, stream connections, the handshake,
 * request execution, parked calls and their deadlines.  One thread. */
#define _GNU_SOURCE
#include "loop.h"
#include "../protocol/spin.h"
#include "../protocol/url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void mpmi_log(mpmi_srv *s, const char *fmt, ...)
{
    if (!s->log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mpmd[%d]: %s\n", (int)getpid(), msg);
}

int64_t mpmi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mpmi_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int mpmi_ev_add(mpmi_srv *s, mpmi_ev *ev, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = ev};
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, ev->fd, &e);
}

/*---- deadline heap ---------------------------------------------------------*/

static void heap_swap(mpmi_srv *s, size_t a, size_t b)
{
    mpmi_waiter *t = s->heap[a];
    s->heap[a] = s->heap[b];
    s->heap[b] = t;
    s->heap[a]->heap_idx = a;
    s->heap[b]->heap_idx = b;
}

static void heap_up(mpmi_srv *s, size_t i)
{
    while (i && s->heap[(i - 1) / 2]->deadline > s->heap[i]->deadline) {
        heap_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(mpmi_srv *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->heap_len && s->heap[l]->deadline < s->heap[m]->deadline) m = l;
        if (r < s->heap_len && s->heap[r]->deadline < s->heap[m]->deadline) m = r;
        if (m == i) return;
        heap_swap(s, i, m);
        i = m;
    }
}

static int heap_push(mpmi_srv *s, mpmi_waiter *w)
{
    if (s->heap_len == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
        mpmi_waiter **h = realloc(s->heap, cap * sizeof *h);
        if (!h) return -1;
        s->heap = h;
        s->heap_cap = cap;
    }
    w->heap_idx = s->heap_len;
    s->heap[s->heap_len++] = w;
    heap_up(s, w->heap_idx);
    return 0;
}

static void heap_remove(mpmi_srv *s, mpmi_waiter *w)
{
    size_t i = w->heap_idx;
    if (i == SIZE_MAX) return;
    w->heap_idx = SIZE_MAX;
    s->heap_len--;
    if (i == s->heap_len) return;
    s->heap[i] = s->heap[s->heap_len];
    s->heap[i]->heap_idx = i;
    heap_down(s, i);
    heap_up(s, i);
}

/*---- deferred work --------------------------------------------------------------*/

void mpmi_defer(mpmi_obj *o)
{
    mpmi_srv *s = o->srv;
    if (o->deferred || s->finishing) return;
    o->deferred = 1;
    o->defer_iter = s->loop_iter;
    o->dprev = NULL;
    o->dnext = s->deferred;
    if (s->deferred)
        s->deferred->dprev = o;
    else
        s->deferred_tail = o;
    s->deferred = o;
}

void mpmi_undefer(mpmi_obj *o)
{
    mpmi_srv *s = o->srv;
    if (!o->deferred || s->finishing) return; /* finishing: the list is dropped whole */
    if (o->dprev)
        o->dprev->dnext = o->dnext;
    else
        s->deferred = o->dnext;
    if (o->dnext)
        o->dnext->dprev = o->dprev;
    else
        s->deferred_tail = o->dprev;
    o->dnext = o->dprev = NULL;
    o->deferred = 0;
}

/* Run the deferred work put off before this round (all: before sleeping),
 * oldest first.  The list is newest first, so what was put off in this round
 * (also by the callbacks run here) is at its head: taking from the tail finds
 * the next one to run at once, where a scan from the head passed over this
 * round's every time.  run_deferred callbacks must not defer their own object
 * again. */
static void run_deferred(mpmi_srv *s, int all)
{
    mpmi_obj *o;
    while ((o = s->deferred_tail) && (all || o->defer_iter < s->loop_iter)) {
        mpmi_undefer(o);
        o->type->run_deferred(o);
    }
}

/*---- parking ---------------------------------------------------------------*/

mpmi_waiter *mpmi_park(mpmi_call *c, int64_t timeout_ms, void (*on_timeout)(mpmi_waiter *),
                       void (*on_drop)(mpmi_waiter *))
{
    mpmi_waiter *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->srv = c->srv;
    w->req = c->req;
    w->on_timeout = on_timeout;
    w->on_drop = on_drop;
    w->heap_idx = SIZE_MAX;
    w->session = c->sess->id;
    w->parked_ms = mpmi_now_ms();
    /* beyond ~ten years is forever: now + timeout must not overflow */
    w->deadline =
        timeout_ms < 0 || timeout_ms > (INT64_C(1) << 38) ? INT64_MAX : w->parked_ms + timeout_ms;
    if (w->deadline != INT64_MAX && heap_push(c->srv, w)) {
        free(w);
        return NULL;
    }
    c->req->parked = w;
    c->srv->nparked++;
    return w;
}

void mpmi_waiter_no_deadline(mpmi_waiter *w)
{
    heap_remove(w->srv, w);
    w->deadline = INT64_MAX;
}

static void ready_push(mpmi_srv *s, mpmi_req *r)
{
    if (r->queued) return;
    r->queued = 1;
    r->next_ready = NULL;
    if (s->ready_tail) s->ready_tail->next_ready = r;
    else s->ready = r;
    s->ready_tail = r;
}

static void ready_unlink(mpmi_srv *s, mpmi_req *r)
{
    if (!r->queued) return;
    mpmi_req **pp = &s->ready, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next_ready;
    }
    if (*pp) *pp = r->next_ready;
    if (s->ready_tail == r) s->ready_tail = prev;
    r->queued = 0;
}

msgpack_packer *mpmi_answer_pk(mpmi_waiter *w)
{
    mpmi_req *r = w->req;
    r->reply.len = r->mark;
    msgpack_pack_array(&r->pk, 2);
    msgpack_pack_int(&r->pk, 0);
    return &r->pk;
}

static void answer_finish(mpmi_waiter *w)
{
    mpmi_req *r = w->req;
    heap_remove(w->srv, w);
    r->parked = NULL;
    w->srv->nparked--;
    r->done++;
    ready_push(w->srv, r);
    free(w);
}

void mpmi_answer_done(mpmi_waiter *w)
{
    answer_finish(w);
}

void mpmi_answer_err(mpmi_waiter *w, int code, const char *fmt, ...)
{
    mpmi_req *r = w->req;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->reply.len = r->mark;
    msgpack_pack_array(&r->pk, 2);
    msgpack_pack_int(&r->pk, -code);
    mpmi_pk_str(&r->pk, msg, strlen(msg));
    w->srv->stats.errors++;
    if (code < 0 && -code < 64) w->srv->stats.errors_by_code[-code]++;
    answer_finish(w);
}

static void expire_waiters(mpmi_srv *s)
{
    int64_t now = mpmi_now_ms();
    while (s->heap_len && s->heap[0]->deadline <= now) {
        mpmi_waiter *w = s->heap[0];
        mpmi_obj *o = w->obj;
        heap_remove(s, w);
        w->on_timeout(w); /* answers, which frees w */
        if (o) mpmi_obj_values_dropped(s, o); /* a put's items may have gone */
    }
}

/*---- requests --------------------------------------------------------------*/

/* Reply buffer: [4 length][16 header] then the body. */
#define REPLY_OFF (MPMI_LEN_PREFIX + MPMI_HDR_LEN)

static void req_reset(mpmi_req *r)
{
    r->reply.len = 0;
    r->reply.oom = 0;
    mpmi_buf_reserve(&r->reply, REPLY_OFF + 256);
    r->reply.len = REPLY_OFF;
    r->ncalls = r->done = 0;
    r->parked = NULL;
}

static void pack_error(mpmi_req *r, int code, const char *msg, size_t n)
{
    msgpack_pack_array(&r->pk, 2);
    msgpack_pack_int(&r->pk, -code);
    mpmi_pk_str(&r->pk, msg, n);
}

static int call_generic(mpmi_obj *o, mpmi_call *c)
{
    switch (c->op) {
    case MPMI_OP_REPR: {
        mpmi_buf b;
        mpmi_buf_init(&b);
        int rc = o->type->repr(o, &b);
        if (rc == 0 && b.oom) rc = MPM_ENOMEM;
        if (rc == 0) mpmi_pk_str(c->pk, (const char *)b.data, b.len);
        mpmi_buf_free(&b);
        return rc ? mpmi_fail(c, rc, "MemoryError") : 0;
    }
    case MPMI_OP_COPY: return o->type->copy(o, c->pk);
    case MPMI_OP_TYPECODE:
        if (o->type->typecode) {
            char tc = o->type->typecode(o);
            return mpmi_ok(mpmi_pk_str(c->pk, &tc, 1));
        }
        break;
    }
    return mpmi_fail(c, MPM_ENOMETHOD, "AttributeError: '%s' object has no method %s",
                     o->type->name, mpmi_op_name(c->op));
}

static int run_call(mpmi_srv *s, mpmi_req *r, mpmi_call *c)
{
    mpmi_item it;
    int64_t id = 0, op = 0;
    int bad = 0;
    c->argc = 0;
    if (mpmi_rd_next(&r->rd, &it)) return mpmi_fail(c, MPM_EPROTO, "malformed call");
    if (it.type != MPMI_ARRAY) {
        /* a scalar was read whole; a map's pairs must be stepped over */
        if (it.type == MPMI_MAP)
            for (uint64_t i = 0; i < 2ull * it.v.n; i++) mpmi_rd_skip(&r->rd, 1);
        return mpmi_fail(c, MPM_EPROTO, "malformed call: not an array");
    }
    /* Read every element whole, so the next call starts in step whatever this one holds. */
    for (uint32_t i = 0; i < it.v.n; i++) {
        const unsigned char *p;
        size_t len;
        if (mpmi_rd_value(&r->rd, &p, &len)) return mpmi_fail(c, MPM_EPROTO, "malformed call");
        if (i < 2) {
            mpmi_rd one;
            mpmi_item x;
            mpmi_rd_init(&one, p, len);
            if (mpmi_rd_next(&one, &x) || mpmi_item_int(&x, i ? &op : &id)) bad = 1;
            continue;
        }
        if (c->argc < MPMI_MAX_ARGS) c->argv[c->argc] = (mpmi_arg){p, len};
        c->argc++;
    }
    if (it.v.n < 2 || bad || id < 0 || op < 0 || op >= MPMI_OP_MAX)
        return mpmi_fail(c, MPM_EPROTO, "malformed call: want [object id, method, args...]");
    if (c->argc > MPMI_MAX_ARGS) return mpmi_fail(c, MPM_EARGS, "TypeError: too many arguments");
    c->op = (int)op;
    s->stats.calls++;
    if (r->exts) {
        /* references in arguments must name live objects of their type */
        int rc = mpmi_check_refs(c);
        if (rc) return rc;
    }
    if (id == 0) return mpmi_manager_call(c);

    mpmi_obj *o = mpmi_obj_find(s, (uint64_t)id);
    if (!o) return mpmi_fail(c, MPM_ENOOBJ, "no object with id %lld", (long long)id);
    for (const mpmi_method *m = o->type->methods; m && m->op; m++) {
        if (m->op != op) continue;
        if (c->argc < m->min_args || c->argc > m->max_args) {
            if (m->min_args == m->max_args)
                return mpmi_fail(c, MPM_EARGS, "TypeError: %s.%s takes %d arguments (%d given)",
                                 o->type->name, mpmi_op_name(c->op), m->min_args, c->argc);
            return mpmi_fail(c, MPM_EARGS, "TypeError: %s.%s takes %d to %d arguments (%d given)",
                             o->type->name, mpmi_op_name(c->op), m->min_args, m->max_args,
                             c->argc);
        }
        if (c->has_refs) mpmi_after_call(c, o); /* before: a put may hand it on at once */
        int rc = m->fn(o, c);
        if (o->may_ref && s->nzombies) mpmi_after_call(c, o);
        return rc;
    }
    if (c->op != MPMI_OP_REPR && c->op != MPMI_OP_COPY &&
        !(c->op == MPMI_OP_TYPECODE && o->type->typecode))
        return mpmi_fail(c, MPM_ENOMETHOD, "AttributeError: '%s' object has no method %s",
                         o->type->name, mpmi_op_name(c->op));
    if (c->argc) return mpmi_fail(c, MPM_EARGS, "TypeError: %s takes no arguments",
                                  mpmi_op_name(c->op));
    return call_generic(o, c);
}

static int conn_send(mpmi_conn *c, unsigned char *frame, size_t len);

static int req_send(mpmi_conn *c)
{
    mpmi_req *r = &c->req;
    if (r->reply.oom || mpmi_buf_reserve(&r->reply, MPMI_TAG_LEN)) {
        mpmi_log(c->srv, "%s: out of memory building a reply", c->peer);
        return -1;
    }
    size_t body = r->reply.len - REPLY_OFF;
    size_t flen = mpmi_seal(&c->chan, r->reply.data + MPMI_LEN_PREFIX, body);
    mpmi_put_u32(r->reply.data, (uint32_t)flen);
    return conn_send(c, r->reply.data + MPMI_LEN_PREFIX, flen);
}

/* Run the request's remaining calls.  1 = parked, 0 = finished and sent,
 * -1 = the connection must close. */
static int req_run(mpmi_conn *conn)
{
    mpmi_req *r = &conn->req;
    mpmi_srv *s = conn->srv;
    mpmi_buf msg;
    mpmi_buf_init(&msg);
    while (r->done < r->ncalls) {
        mpmi_call c = {.srv = s, .sess = conn->sess, .req = r, .pk = &r->pk, .msg = &msg};
        size_t mark = r->reply.len;
        msgpack_pack_array(&r->pk, 2);
        msgpack_pack_int(&r->pk, 0);
        msg.len = 0;
        int rc = run_call(s, r, &c);
        if (rc == MPMI_PARKED) {
            r->mark = mark;
            r->reply.len = mark;
            conn->busy = 1;
            mpmi_buf_free(&msg);
            return 1;
        }
        if (rc == 0 && r->reply.len - REPLY_OFF + MPMI_TAG_LEN + 64 > s->max_frame) {
            /* the answer cannot be sent: say so instead of dropping the client */
            rc = mpmi_fail(&c, MPM_ETOOBIG, "reply of %zu bytes is over the %zu-byte frame limit",
                           r->reply.len - mark, s->max_frame);
        }
        if (rc < 0) {
            s->stats.errors++;
            if (-rc < 64) s->stats.errors_by_code[-rc]++;
            r->reply.len = mark;
            if (msg.len == 0) mpmi_buf_puts(&msg, mpm_strerror(rc));
            pack_error(r, rc, (const char *)msg.data, msg.len);
        }
        r->done++;
    }
    mpmi_buf_free(&msg);
    conn->busy = 0;
    return req_send(conn);
}

static void conn_interest(mpmi_conn *c)
{
    if (c->ev.fd < 0) return;
    uint32_t want = EPOLLRDHUP;
    if (!c->busy && c->out.len < MPMI_OUT_HIGH) want |= EPOLLIN;
    if (c->out.len) want |= EPOLLOUT;
    if (want == c->interest) return;
    struct epoll_event e = {.events = want, .data.ptr = &c->ev};
    epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->ev.fd, &e);
    c->interest = want;
}

static int conn_request(mpmi_conn *c, const unsigned char *body, size_t n)
{
    mpmi_req *r = &c->req;
    mpmi_item it;
    req_reset(r);
    r->body.len = 0;
    if (mpmi_buf_append(&r->body, body, n)) return -1;
    mpmi_rd_init(&r->rd, r->body.data, r->body.len);
    if (mpmi_mp_check_body_exts(r->body.data, r->body.len, &r->exts) || mpmi_rd_next(&r->rd, &it) ||
        it.type != MPMI_ARRAY) {
        /* authenticated but malformed: answer, keep the connection */
        c->srv->stats.errors++;
        msgpack_pack_array(&r->pk, 1);
        pack_error(r, MPM_EPROTO, "malformed request body", 22);
        return req_send(c);
    }
    r->ncalls = it.v.n;
    msgpack_pack_array(&r->pk, r->ncalls);
    return req_run(c) < 0 ? -1 : 0;
}

/*---- handshake and frames --------------------------------------------------*/

static int send_plain(mpmi_conn *c, int kind, const void *body, size_t n)
{
    unsigned char f[MPMI_LEN_PREFIX + MPMI_HDR_LEN + 64];
    if (n > 64) n = 64;
    mpmi_hdr_write(f + MPMI_LEN_PREFIX, kind, 0);
    if (kind == MPMI_K_CHALLENGE) mpmi_hdr_set_cipher(f + MPMI_LEN_PREFIX, c->cipher);
    memcpy(f + MPMI_LEN_PREFIX + MPMI_HDR_LEN, body, n);
    mpmi_put_u32(f, (uint32_t)(MPMI_HDR_LEN + n));
    return conn_send(c, f + MPMI_LEN_PREFIX, MPMI_HDR_LEN + n);
}

static int refuse(mpmi_conn *c, const char *why)
{
    c->srv->stats.refused++;
    mpmi_log(c->srv, "%s: refused: %s", c->peer, why);
    send_plain(c, MPMI_K_REFUSED, why, strlen(why));
    return -1;
}

int mpmi_conn_frame(mpmi_conn *c, unsigned char *f, size_t n)
{
    int kind;
    uint64_t seq;
    mpmi_srv *s = c->srv;
    if (mpmi_hdr_read(f, n, &kind, &seq)) return refuse(c, "not an mpm frame");
    switch (c->state) {
    case MPMI_CS_HELLO:
        if (kind != MPMI_K_HELLO || n != MPMI_HDR_LEN + MPMI_NONCE_LEN)
            return refuse(c, "expected hello");
        c->offer = mpmi_hdr_cipher(f);
        if ((c->cipher = mpmi_cipher_pick(c->offer)) < 0)
            return refuse(c, "no cipher in common");
        memcpy(c->cn, f + MPMI_HDR_LEN, MPMI_NONCE_LEN);
        randombytes_buf(c->sn, sizeof c->sn);
        c->state = MPMI_CS_PROOF;
        return send_plain(c, MPMI_K_CHALLENGE, c->sn, sizeof c->sn);
    case MPMI_CS_PROOF: {
        unsigned char want[MPMI_MAC_LEN], reply[MPMI_MAC_LEN + 8];
        const unsigned char *token = f + MPMI_HDR_LEN + MPMI_MAC_LEN;
        if (kind != MPMI_K_PROOF || n != MPMI_HDR_LEN + MPMI_MAC_LEN + MPMI_TOKEN_LEN)
            return refuse(c, "authentication failed");
        mpmi_proof(want, s->authkey, s->authkey_len, "mpm1 client", c->cn, c->sn, token);
        if (crypto_verify_32(want, f + MPMI_HDR_LEN)) return refuse(c, "authentication failed");
        c->sess = mpmi_session_join(s, token);
        if (!c->sess) return refuse(c, "out of memory");
        mpmi_proof(reply, s->authkey, s->authkey_len, "mpm1 server", c->cn, c->sn, token);
        mpmi_put_u64(reply + MPMI_MAC_LEN, c->sess->id);
        mpmi_chan_init_cipher(&c->chan, s->authkey, s->authkey_len, c->cn, c->sn, 1, c->offer,
                              c->cipher);
        c->state = MPMI_CS_READY;
        s->nhandshaking--;
        mpmi_log(s, "%s: session %llu joined", c->peer, (unsigned long long)c->sess->id);
        return send_plain(c, MPMI_K_WELCOME, reply, sizeof reply);
    }
    case MPMI_CS_READY: {
        unsigned char *body;
        size_t blen;
        if (c->busy) return refuse(c, "request while another is running");
        if (mpmi_open(&c->chan, f, n, &body, &blen))
            return refuse(c, "frame failed authentication (forged, replayed or reordered)");
        return conn_request(c, body, blen);
    }
    default: return -1;
    }
}

/*---- stream connections ----------------------------------------------------*/

/* w bytes (> 0) went out on c: counted as traffic, whatever frames them
 * (nng's wire frames differently); returns w. */
static size_t conn_sent(mpmi_conn *c, ssize_t w)
{
    c->srv->stats.bytes_out += (uint64_t)w;
    return (size_t)w;
}

int mpmi_conn_write(mpmi_conn *c, const struct iovec *iov, int n)
{
    size_t skip = 0; /* bytes of iov already on the wire */
    if (c->out.len == 0 && !c->cork) {
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->ev.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        if (w > 0) skip = conn_sent(c, w);
    }
    for (int i = 0; i < n; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        if (mpmi_buf_append(&c->out, (const unsigned char *)iov[i].iov_base + skip,
                            iov[i].iov_len - skip))
            return -1;
        skip = 0;
    }
    if (c->cork || c->corked)
        c->corked = 1; /* conn_drain sends it, sets the interest */
    else
        conn_interest(c);
    return 0;
}

/* frame has MPMI_LEN_PREFIX spare bytes before it: the native prefix goes there */
static int conn_send(mpmi_conn *c, unsigned char *frame, size_t len)
{
    if (c->wire != MPMI_WIRE_NATIVE) return mpmi_sp_send(c, frame, len);
    mpmi_put_u32(frame - MPMI_LEN_PREFIX, (uint32_t)len);
    struct iovec iov = {frame - MPMI_LEN_PREFIX, len + MPMI_LEN_PREFIX};
    return mpmi_conn_write(c, &iov, 1);
}

static int native_drain(mpmi_conn *c)
{
    size_t off = 0;
    int rc = 0;
    while (!c->busy && c->out.len < MPMI_OUT_HIGH && c->in.len - off >= MPMI_LEN_PREFIX) {
        uint32_t flen = mpmi_get_u32(c->in.data + off);
        if (flen < MPMI_HDR_LEN || flen > c->srv->max_frame) {
            rc = refuse(c, flen < MPMI_HDR_LEN ? "truncated frame" : "frame too large");
            break;
        }
        if (c->in.len - off - MPMI_LEN_PREFIX < flen) break;
        off += MPMI_LEN_PREFIX;
        c->cork = c->in.len - off > flen;
        rc = mpmi_conn_frame(c, c->in.data + off, flen);
        off += flen;
        if (rc) break;
    }
    mpmi_buf_consume(&c->in, off);
    return rc;
}

/* Handle whole frames in c->in; -1 means close.  Replies to requests that
 * came in one read leave in one write (a close's DECREF and the next call,
 * say): one send instead of one per reply. */
static int conn_drain(mpmi_conn *c)
{
    int rc = c->wire != MPMI_WIRE_NATIVE ? mpmi_sp_drain(c) : native_drain(c);
    c->cork = 0;
    if (c->corked) {
        c->corked = 0;
        ssize_t w = send(c->ev.fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        if (w > 0) mpmi_buf_consume(&c->out, conn_sent(c, w));
        conn_interest(c);
    }
    return rc;
}

/* After requests from two clients, polling yields for this long. */
#define LOOP_MULTI_US 1000
static int64_t loop_now_us(void);

static void conn_event(mpmi_srv *s, mpmi_ev *ev, uint32_t events)
{
    mpmi_conn *c = (mpmi_conn *)ev;
    if (events & EPOLLOUT) {
        while (c->out.len) {
            ssize_t w = send(c->ev.fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                mpmi_conn_close(c, "write failed");
                return;
            }
            mpmi_buf_consume(&c->out, conn_sent(c, w));
        }
        /* requests left unread while replies piled up past MPMI_OUT_HIGH: the
         * client may have sent them all, so no new byte comes to wake us */
        if (!c->busy && c->in.len && c->out.len < MPMI_OUT_HIGH && conn_drain(c)) {
            mpmi_conn_close(c, "protocol error");
            return;
        }
        conn_interest(c);
    }
    if ((events & EPOLLIN) && !c->busy) {
        if (c != s->last_in) {
            /* requests from more than one client: see loop_spin_wait */
            s->last_in = c;
            s->multi_until = loop_now_us() + LOOP_MULTI_US;
        }
        for (int rounds = 0; rounds < 4; rounds++) {
            if (mpmi_buf_reserve(&c->in, 64 * 1024)) {
                mpmi_conn_close(c, "out of memory");
                return;
            }
            ssize_t got = recv(c->ev.fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                mpmi_conn_close(c, got == 0 ? "client went away" : "read failed");
                return;
            }
            c->in.len += (size_t)got;
            s->stats.bytes_in += (size_t)got;
            if (conn_drain(c)) {
                mpmi_conn_close(c, "protocol error");
                return;
            }
            if ((size_t)got < 64 * 1024 || c->busy) break;
        }
        conn_interest(c);
        return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        /* busy connections do not read; a hang-up still ends them */
        mpmi_conn_close(c, "client went away");
        return;
    }
}

mpmi_conn *mpmi_conn_new(mpmi_srv *s, int fd, const char *peer)
{
    mpmi_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ev.fn = conn_event;
    c->ev.fd = fd;
    c->srv = s;
    c->state = MPMI_CS_HELLO;
    c->req.conn = c;
    mpmi_pk_init(&c->req.pk, &c->req.reply);
    c->born = mpmi_now_ms();
    s->nhandshaking++;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    s->stats.conns_total++;
    return c;
}

void mpmi_conn_close(mpmi_conn *c, const char *why)
{
    mpmi_srv *s = c->srv;
    mpmi_req *r = &c->req;
    mpmi_log(s, "%s: %s", c->peer, why);
    if (r->parked) {
        mpmi_waiter *w = r->parked;
        mpmi_obj *o = w->obj;
        heap_remove(s, w);
        if (w->on_drop) w->on_drop(w);
        free(w);
        if (o) mpmi_obj_values_dropped(s, o);
        r->parked = NULL;
        s->nparked--;
    }
    ready_unlink(s, r);
    if (c->state != MPMI_CS_READY) s->nhandshaking--;
    if (c->sess) mpmi_session_leave(s, c->sess);
    if (c->ev.fd >= 0) {
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->ev.fd, NULL);
        close(c->ev.fd);
    }
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    mpmi_buf_free(&c->in);
    mpmi_buf_free(&c->out);
    mpmi_buf_free(&r->body);
    mpmi_buf_free(&r->reply);
    free(c);
}

static void run_ready(mpmi_srv *s)
{
    while (s->ready) {
        mpmi_req *r = s->ready;
        s->ready = r->next_ready;
        if (!s->ready) s->ready_tail = NULL;
        r->queued = 0;
        mpmi_conn *c = r->conn;
        int rc = req_run(c);
        if (rc < 0 || (rc == 0 && conn_drain(c))) {
            mpmi_conn_close(c, "closed after a parked call");
            continue;
        }
        conn_interest(c);
    }
}

/*---- listeners -------------------------------------------------------------*/

static void listener_event(mpmi_srv *s, mpmi_ev *ev, uint32_t events)
{
    mpmi_listener *l = (mpmi_listener *)ev;
    (void)events;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->ev.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
            /* Out of descriptors: the pending connection would keep the listener
             * readable and the loop spinning.  Accept it on the spare and drop it. */
            close(s->spare_fd);
            fd = accept4(l->ev.fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) close(fd);
            s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            s->stats.refused++;
            mpmi_log(s, "accept on %s: out of descriptors, connection dropped", l->url);
            continue;
        }
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                mpmi_log(s, "accept on %s: %s", l->url, strerror(errno));
            return;
        }
        char peer[96];
        const char *kind = l->wire == MPMI_WIRE_NATIVE ? "" : "nng+";
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            char host[64], port[16];
            mpmi_tcp_tune(fd);
            getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
                        NI_NUMERICHOST | NI_NUMERICSERV);
            snprintf(peer, sizeof peer, "%stcp:%s:%s", kind, host, port);
        } else {
            struct ucred cr;
            socklen_t cl = sizeof cr;
            const char *unix_kind = l->wire == MPMI_WIRE_NATIVE ? "unix" : "nng+ipc";
            if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
                snprintf(peer, sizeof peer, "%s:pid %d", unix_kind, (int)cr.pid);
            else
                snprintf(peer, sizeof peer, "%s", unix_kind);
        }
        mpmi_conn *c = mpmi_conn_new(s, fd, peer);
        if (!c || mpmi_ev_add(s, &c->ev, EPOLLIN | EPOLLRDHUP)) {
            if (c) {
                c->ev.fd = -1;
                mpmi_conn_close(c, "cannot watch");
            }
            close(fd);
            continue;
        }
        c->interest = EPOLLIN | EPOLLRDHUP;
        c->wire = l->wire;
        if (c->wire != MPMI_WIRE_NATIVE && mpmi_sp_start(c)) {
            mpmi_conn_close(c, "write failed");
            continue;
        }
        mpmi_log(s, "%s: connected", peer);
    }
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

/* scheme: "tcp://" or "nng+tcp://", for messages and the bound URL */
static int listen_tcp(mpmi_srv *s, const char *scheme, const char *hp, mpmi_listener *l,
                      char *actual, size_t an)
{
    char host[256], port[32];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (mpmi_split_hostport(hp, host, sizeof host, port, sizeof port)) {
        fprintf(stderr, "mpmd: bad tcp address '%s' (want %sHOST:PORT)\n", hp, scheme);
        return -1;
    }
    /* "*" is every address, as nng spells it */
    int wild = !host[0] || strcmp(host, "*") == 0;
    int rc = getaddrinfo(wild ? NULL : host, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "mpmd: cannot resolve '%s': %s\n", host, gai_strerror(rc));
        return -1;
    }
    if (!is_loopback(ai->ai_addr) && s->authkey_len == 0) {
        fprintf(stderr, "mpmd: refusing to listen on non-loopback %s without an authkey "
                        "(use --authkey-file or MPM_AUTHKEY)\n", hp);
        freeaddrinfo(ai);
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) {
        freeaddrinfo(ai);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
        fprintf(stderr, "mpmd: cannot listen on %s%s: %s\n", scheme, hp, strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char h2[64], p2[16];
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    getnameinfo((struct sockaddr *)&ss, sl, h2, sizeof h2, p2, sizeof p2,
                NI_NUMERICHOST | NI_NUMERICSERV);
    if (ss.ss_family == AF_INET6)
        snprintf(actual, an, "%s[%s]:%s", scheme, h2, p2);
    else
        snprintf(actual, an, "%s%s:%s", scheme, h2, p2);
    l->ev.fd = fd;
    return 0;
}

/* scheme: "unix://" or "nng+ipc://"; an nng+ipc socket is made mode 0600 */
static int listen_unix(mpmi_srv *s, const char *scheme, const char *path, mpmi_listener *l,
                       char *actual, size_t an)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    (void)s;
    if (!path[0]) {
        fprintf(stderr, "mpmd: %s needs a path (%s/path/to/socket)\n", scheme, scheme);
        return -1;
    }
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "mpmd: unix socket path too long: %s\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        /* a socket nobody answers on is stale: take its place */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(probe);
            fprintf(stderr, "mpmd: %s is in use by a running server\n", path);
            return -1;
        }
        if (probe >= 0) close(probe);
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    /* nng+ipc sockets are the owner's alone, as nng's listener made them; the
     * mask is set around bind so the file is never more open (one thread here) */
    mode_t old = l->wire != MPMI_WIRE_NATIVE ? umask(0177) : 0;
    int bad = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    if (l->wire != MPMI_WIRE_NATIVE) umask(old);
    if (bad || listen(fd, SOMAXCONN)) {
        fprintf(stderr, "mpmd: cannot listen on %s%s: %s\n", scheme, path, strerror(errno));
        close(fd);
        return -1;
    }
    l->ev.fd = fd;
    l->is_unix = 1;
    l->path = strdup(path);
    snprintf(actual, an, "%s%s", scheme, path);
    return 0;
}

int mpmi_srv_listen(mpmi_srv *s, const char *url, char *actual, size_t an)
{
    mpmi_listener *l = calloc(1, sizeof *l);
    mpmi_listener **ls = realloc(s->listeners, (s->nlisteners + 1) * sizeof *ls);
    if (!l || !ls) {
        free(l);
        if (ls) s->listeners = ls;
        return -1;
    }
    s->listeners = ls;
    l->ev.fn = listener_event;
    l->ev.fd = -1;
    int rc;
    /* nng+ipc and nng+tcp speak nng's wire (SP) on the same sockets */
    if (strncmp(url, "unix://", 7) == 0)
        rc = listen_unix(s, "unix://", url + 7, l, actual, an);
    else if (strncmp(url, "tcp://", 6) == 0)
        rc = listen_tcp(s, "tcp://", url + 6, l, actual, an);
    else if (strncmp(url, "nng+ipc://", 10) == 0) {
        l->wire = MPMI_WIRE_SP_IPC;
        rc = listen_unix(s, "nng+ipc://", url + 10, l, actual, an);
    } else if (strncmp(url, "nng+tcp://", 10) == 0) {
        l->wire = MPMI_WIRE_SP_TCP;
        rc = listen_tcp(s, "nng+tcp://", url + 10, l, actual, an);
    } else {
        fprintf(stderr, "mpmd: unknown URL scheme: %s (unix://, tcp://, nng+ipc://, nng+tcp://)\n",
                url);
        rc = -1;
    }
    if (rc || mpmi_ev_add(s, &l->ev, EPOLLIN)) {
        if (l->ev.fd >= 0) close(l->ev.fd);
        free(l->path);
        free(l);
        return -1;
    }
    snprintf(l->url, sizeof l->url, "%s", actual);
    s->listeners[s->nlisteners++] = l;
    mpmi_log(s, "listening on %s", actual);
    return 0;
}

/*---- the loop --------------------------------------------------------------*/

static void sig_event(mpmi_srv *s, mpmi_ev *ev, uint32_t events)
{
    struct signalfd_siginfo si;
    (void)events;
    while (read(ev->fd, &si, sizeof si) == sizeof si) {
        mpmi_log(s, "signal %u: shutting down", si.ssi_signo);
        s->running = 0;
    }
}

static void parent_event(mpmi_srv *s, mpmi_ev *ev, uint32_t events)
{
    char b[64];
    (void)events;
    ssize_t n = read(ev->fd, b, sizeof b);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        mpmi_log(s, "the manager's processes are gone: shutting down");
        s->running = 0;
    }
}

int mpmi_srv_watch_parent(mpmi_srv *s, int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->parent_ev.fn = parent_event;
    s->parent_ev.fd = fd;
    return mpmi_ev_add(s, &s->parent_ev, EPOLLIN);
}

int mpmi_srv_init(mpmi_srv *s)
{
    unsigned char seed[16];
    memset(s, 0, sizeof *s);
    if (sodium_init() < 0) return -1;
    randombytes_buf(seed, sizeof seed);
    mpmi_hash_seed(seed);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) return -1;
    s->max_frame = MPMI_MAX_FRAME_DEFAULT;
    randombytes_buf(&s->epoch, sizeof s->epoch);
    s->epoch &= 0xffffffffu; /* 8 hex digits in a token */
    s->started_ms = mpmi_now_ms();
    s->gc_grace_ms = 1000;
    s->next_id = 1;
    s->next_session = 1;
    s->running = 1;
    s->parent_ev.fd = -1;
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    s->sig_ev.fn = sig_event;
    s->sig_ev.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->sig_ev.fd < 0 || mpmi_ev_add(s, &s->sig_ev, EPOLLIN)) return -1;
    return 0;
}

/* Before sleeping, poll for a short while: on VMs a sleeping CPU takes tens of
 * microseconds to wake, more than a whole call, and the next request of a
 * busy client usually comes within a few.  The window doubles when polling
 * catches something and halves when it does not; input that woke us soon
 * after polling gave up widens it to what would have caught it (spin.h).
 * 0 .. spin_max, set by --spin-us.
 *
 * Allowed one CPU only, mpmd yields between looks: whom it polls for may
 * share that CPU, and then the yield runs it at once, cheaper than sleeping
 * and being woken (pinned together, single calls and Lock pairs went 5-9%
 * faster than with no polling there); or it runs on another CPU (processes
 * pinned apart), and polling catches its request without waking a CPU (5-8
 * times the calls per second of no polling).  Spinning without yielding
 * there starved a partner on the same CPU for the whole window. */
static int64_t loop_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* How long a sleeping loop waits for input before doing deferred work. */
#define LOOP_DEFER_US 200
/* How long a poll with deferred work spins before it yields between looks. */
#define LOOP_DEFER_YIELD_US 5

/* epoll_wait for up to us microseconds: epoll_pwait2 (Linux 5.11), else
 * (an older kernel, valgrind or a seccomp filter that does not know it) ppoll on
 * the epoll descriptor; epoll_wait's milliseconds would be 5 times too long.
 * Returns the events (0 on error). */
static int loop_wait_us(mpmi_srv *s, struct epoll_event *evs, int max, long us)
{
    static int no_pwait2;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    int n = -1;
    if (!no_pwait2) {
        n = epoll_pwait2(s->epfd, evs, max, &ts, NULL);
        if (n < 0 && errno != EINTR) no_pwait2 = 1; /* ENOSYS, or EPERM from a seccomp filter */
    }
    if (no_pwait2) {
        struct pollfd p = {.fd = s->epfd, .events = POLLIN};
        n = ppoll(&p, 1, &ts, NULL) > 0 ? epoll_wait(s->epfd, evs, max, 0) : 0;
    }
    return n < 0 ? 0 : n;
}

static int loop_spin_wait(mpmi_srv *s, struct epoll_event *evs, int max)
{
    if (s->spin_us == 0) s->spin_us = 1;
    s->spin_t0 = loop_now_us();
    int64_t end = s->spin_t0 + s->spin_us;
    for (;;) {
        int n = epoll_wait(s->epfd, evs, max, 0);
        if (n != 0) {
            if (n > 0) s->spin_us = s->spin_us * 2 > s->spin_max ? s->spin_max : s->spin_us * 2;
            return n < 0 ? 0 : n;
        }
        int64_t now = loop_now_us();
        if (now >= end) break;
        /* whom we poll for may be waiting for this CPU: a lock's releaser
         * (deferred hand-off), one of several busy clients (more processes
         * than CPUs), or anyone when mpmd has one CPU; a yield costs ~1 µs
         * when nobody is.  A releaser on another CPU is back within a few
         * µs: yielding from the start for it made every pair of a turn
         * later by part of a yield (a holder in its turn made 0.96 of the
         * pairs of a process alone; 1.0 when mpmd yields only after 5 µs) */
        if ((s->deferred && now - s->spin_t0 >= LOOP_DEFER_YIELD_US) || now < s->multi_until ||
            s->spin_yield)
            sched_yield();
    }
    if (s->spin_us > 1) s->spin_us /= 2; /* a 1 µs window still notices a busy client */
    return 0;
}

/* Drop connections that have not authenticated in time: without a deadline,
 * anyone who can connect could hold descriptors without the key. */
static void expire_handshakes(mpmi_srv *s)
{
    int64_t now = mpmi_now_ms();
    for (mpmi_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == MPMI_CS_CLOSING) {
            if (now - c->born > MPMI_LINGER_MS) mpmi_conn_close(c, "closed after a refusal");
            continue;
        }
        if (c->state != MPMI_CS_READY && now - c->born > MPMI_HANDSHAKE_MS) {
            s->stats.refused++;
            mpmi_conn_close(c, "did not authenticate in time");
        }
    }
}

int mpmi_srv_run(mpmi_srv *s)
{
    struct epoll_event evs[64];
    int64_t next_sweep = 0;
    while (s->running) {
        int timeout = -1;
        if (s->heap_len) {
            int64_t d = s->heap[0]->deadline - mpmi_now_ms();
            timeout = d <= 0 ? 0 : d > 60000 ? 60000 : (int)d;
        }
        if (s->nhandshaking) {
            int64_t now = mpmi_now_ms();
            if (now >= next_sweep) {
                expire_handshakes(s);
                next_sweep = now + 1000;
            }
            if (s->nhandshaking && (timeout < 0 || timeout > 1000)) timeout = 1000;
        }
        int64_t gc_us = mpmi_gc_wait_us(s);
        if (gc_us > 60000000) gc_us = 60000000;
        if (gc_us >= 0 && (timeout < 0 || gc_us / 1000 + 1 < timeout)) timeout = (int)(gc_us / 1000 + 1);
        if (s->ready) timeout = 0;
        s->loop_iter++;
        int spun = timeout != 0 && s->spin_max;
        int n = spun ? loop_spin_wait(s, evs, 64) : 0;
        if (n == 0 && s->deferred && timeout != 0) {
            /* whoever the put-off work waits for (a lock's releaser) may
             * need longer than the poll (its CPU shared with us or another
             * process, or polling off): give it a moment, or its
             * turn ends at the first release and the lock favours whoever
             * happens to run on the other CPU */
            sched_yield(); /* on one CPU it runs now, and no timer is armed */
            n = epoll_wait(s->epfd, evs, 64, 0);
            if (n == 0) n = loop_wait_us(s, evs, 64, LOOP_DEFER_US);
        }
        if (n == 0 && s->deferred) {
            /* nothing came while polling: do the put-off work before sleeping */
            run_deferred(s, 1);
            run_ready(s);
            /* what ran may have deferred more, parked with a deadline or
             * queued work: the timeout worked out above is stale */
            continue;
        }
        if (n == 0) {
            n = epoll_wait(s->epfd, evs, 64, timeout);
            /* woken soon after: polling that long would have caught it */
            if (spun && n > 0)
                mpmi_spin_widen(&s->spin_us, s->spin_max, loop_now_us() - s->spin_t0);
        }
        if (n < 0 && errno != EINTR) return -1;
        for (int i = 0; i < n && s->running; i++) {
            mpmi_ev *ev = evs[i].data.ptr;
            ev->fn(s, ev, evs[i].events);
            run_ready(s);
        }
        if (s->deferred) run_deferred(s, 0);
        expire_waiters(s);
        run_ready(s);
        mpmi_gc_maybe(s, 0);
    }
    return 0;
}

void mpmi_srv_fini(mpmi_srv *s)
{
    /* answer nothing more: drop every connection, then every object.  A
     * just-written reply (to shutdown, say) gets its chance to leave first, and
     * an nng client a moment to take it before its connection closes (sp.c) */
    int nng = 0;
    for (mpmi_conn *c = s->conns; c; c = c->next) {
        if (c->out.len) (void)!send(c->ev.fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        nng |= c->wire != MPMI_WIRE_NATIVE;
    }
    if (nng) {
        struct timespec ts = {0, MPMI_SHUTDOWN_LINGER_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    while (s->conns)
        mpmi_conn_close(s->conns, "server shutting down");
    mpmi_objects_fini(s);
    for (size_t i = 0; i < s->nlisteners; i++) {
        mpmi_listener *l = s->listeners[i];
        close(l->ev.fd);
        if (l->path) unlink(l->path);
        free(l->path);
        free(l);
    }
    free(s->listeners);
    free(s->heap);
    if (s->sig_ev.fd >= 0) close(s->sig_ev.fd);
    if (s->spare_fd >= 0) close(s->spare_fd);
    if (s->parent_ev.fd >= 0) close(s->parent_ev.fd);
    close(s->epfd);
    if (s->authkey) sodium_memzero(s->authkey, s->authkey_len);
    free(s->authkey);
}
