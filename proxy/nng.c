/* nng.c - the client's nng transport: one req0 socket per connection, one frame
 * per message.  nng is not fork-safe: client_ensure refuses a forked child
 * before anything here runs, and mpm_manager_close in a child never calls in.
 *
 * A req0 socket never reports a lost server: it waits for the dialer to
 * reconnect and re-sends.  The calls are not idempotent and a new pipe would
 * need a new handshake anyway, so the first pipe's removal ends the
 * connection: a pending receive is cancelled and answers MPM_ECLOSED. */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "transport.h"

typedef struct nng_cli {
    nng_socket sock;
    nng_aio *aio; /* the receive in progress */
    pthread_mutex_t mu;
    int waiting; /* under mu: aio is pending */
    int lost;    /* under mu: the pipe is gone */
} nng_cli;

/* Runs on an nng thread. */
static void nng_cli_pipe_rem(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    nng_cli *c = arg;
    (void)p;
    (void)ev;
    pthread_mutex_lock(&c->mu);
    c->lost = 1;
    if (c->waiting) nng_aio_cancel(c->aio);
    pthread_mutex_unlock(&c->mu);
}

static int nng_cli_err(mpmi_cconn *cc, const char *what, int rv)
{
    int code;
    switch (rv) {
    case NNG_ECLOSED:
    case NNG_ECONNRESET:
    case NNG_ECONNSHUT:
    case NNG_ECANCELED:
        code = MPM_ECLOSED;
        break;
    case NNG_ETIMEDOUT:
        code = MPM_ETIMEDOUT;
        break;
    case NNG_ENOMEM:
        code = MPM_ENOMEM;
        break;
    case NNG_EMSGSIZE:
        code = MPM_ETOOBIG;
        break;
    default:
        code = MPM_ETRANSPORT;
        break;
    }
    if (code == MPM_ECLOSED) return mpmi_error(code, "connection to %s lost", cc->m->url);
    return mpmi_error(code, "%s %s: %s", what, cc->m->url, nng_strerror(rv));
}

static void nng_cli_free(nng_cli *c)
{
    nng_close(c->sock); /* returns after the pipe callbacks have run */
    if (c->aio) nng_aio_free(c->aio);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int mpmi_nng_dial(mpmi_cconn *cc)
{
    const char *url = cc->m->url + 4; /* past "nng+" */
    nng_dialer d;
    int rv;
    mpmi_nng_close(cc);
    nng_cli *c = calloc(1, sizeof *c);
    if (!c) return mpmi_error(MPM_ENOMEM, "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    if ((rv = nng_req0_open(&c->sock))) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return mpmi_error(MPM_ETRANSPORT, "nng socket: %s", nng_strerror(rv));
    }
    /* never re-send a request behind the caller's back */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, MPMI_MAX_FRAME_DEFAULT);
    if ((rv = nng_aio_alloc(&c->aio, NULL, NULL)) ||
        (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, nng_cli_pipe_rem, c)) ||
        (rv = nng_dialer_create(&d, c->sock, url))) {
        nng_cli_free(c);
        if (rv == NNG_EADDRINVAL || rv == NNG_EINVAL || rv == NNG_ENOTSUP)
            return mpmi_error(MPM_EADDR, "bad address '%s': %s", cc->m->url, nng_strerror(rv));
        return mpmi_error(MPM_ETRANSPORT, "nng dialer for %s: %s", cc->m->url, nng_strerror(rv));
    }
    if (strncmp(url, "tcp://", 6) == 0) {
        nng_dialer_set_bool(d, NNG_OPT_TCP_KEEPALIVE, true);
        nng_dialer_set_bool(d, NNG_OPT_TCP_NODELAY, true);
    }
    /* a blocking dial, so a refused connection surfaces here */
    if ((rv = nng_dialer_start(d, 0))) {
        nng_cli_free(c);
        switch (rv) {
        case NNG_ECONNREFUSED:
        case NNG_ENOENT:
        case NNG_ECONNRESET:
        case NNG_ECONNSHUT:
        case NNG_ETIMEDOUT:
        case NNG_EPEERAUTH:
        case NNG_EPERM:
            return mpmi_error(MPM_ECONNREFUSED, "cannot connect to %s: %s", cc->m->url,
                              nng_strerror(rv));
        case NNG_EADDRINVAL:
        case NNG_EINVAL:
            return mpmi_error(MPM_EADDR, "bad address '%s': %s", cc->m->url, nng_strerror(rv));
        default:
            return mpmi_error(MPM_ETRANSPORT, "cannot connect to %s: %s", cc->m->url, nng_strerror(rv));
        }
    }
    cc->nng = c;
    return 0;
}

int mpmi_nng_send(mpmi_cconn *cc, unsigned char *frame, size_t len)
{
    nng_cli *c = cc->nng;
    nng_msg *msg;
    int rv, lost;
    if (!c) return mpmi_error(MPM_ECLOSED, "not connected to %s", cc->m->url);
    pthread_mutex_lock(&c->mu);
    lost = c->lost;
    pthread_mutex_unlock(&c->mu);
    if (lost) return nng_cli_err(cc, "send to", NNG_ECLOSED);
    if ((rv = nng_msg_alloc(&msg, len))) return nng_cli_err(cc, "send to", rv);
    memcpy(nng_msg_body(msg), frame, len);
    if ((rv = nng_sendmsg(c->sock, msg, 0))) {
        nng_msg_free(msg);
        return nng_cli_err(cc, "send to", rv);
    }
    /* Post the receive at once: nng 1.5's req0 drops a reply that arrived
     * before the receive was posted when the connection closes behind it (a
     * refusal, a shutdown).  Every send here is followed by a receive. */
    pthread_mutex_lock(&c->mu);
    if (!c->lost) {
        c->waiting = 1;
        nng_recv_aio(c->sock, c->aio);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static int nng_cli_take(mpmi_cconn *cc, nng_msg *msg, unsigned char **frame, size_t *len)
{
    size_t n = nng_msg_len(msg);
    cc->in.len = 0;
    if (mpmi_buf_reserve(&cc->in, n ? n : 1)) {
        nng_msg_free(msg);
        return mpmi_error(MPM_ENOMEM, "out of memory");
    }
    memcpy(cc->in.data, nng_msg_body(msg), n);
    cc->in.len = n;
    nng_msg_free(msg);
    *frame = cc->in.data;
    *len = n;
    return 0;
}

int mpmi_nng_recv(mpmi_cconn *cc, unsigned char **frame, size_t *len)
{
    nng_cli *c = cc->nng;
    nng_msg *msg;
    int rv;
    if (!c) return mpmi_error(MPM_ECLOSED, "not connected to %s", cc->m->url);
    if (c->waiting) { /* posted by mpmi_nng_send */
        nng_aio_wait(c->aio);
        pthread_mutex_lock(&c->mu);
        c->waiting = 0;
        pthread_mutex_unlock(&c->mu);
        rv = nng_aio_result(c->aio);
        if (rv == 0) return nng_cli_take(cc, nng_aio_get_msg(c->aio), frame, len);
        if (rv != NNG_ECANCELED) return nng_cli_err(cc, "receive from", rv);
    }
    /* the pipe went: a reply that arrived just before it (shutdown's) is
     * still waiting in the socket */
    if (nng_recvmsg(c->sock, &msg, NNG_FLAG_NONBLOCK) == 0) return nng_cli_take(cc, msg, frame, len);
    return nng_cli_err(cc, "receive from", NNG_ECLOSED);
}

void mpmi_nng_close(mpmi_cconn *cc)
{
    if (!cc || !cc->nng) return;
    nng_cli_free(cc->nng);
    cc->nng = NULL;
}
