/* sp.c - nng's wire (the SP protocols' stream mapping) spoken by the loop
 * itself, for nng+ipc:// and nng+tcp:// listeners: any nng, nanomsg or
 * mangos req0 client reaches mpmd without mpmd running nng.
 *
 * Why not libnng: nng 1.5.2's listener stops accepting for good when a client
 * closes its connection before nng has written the protocol header (the
 * error reaches the accept loop as "closed"), so one connect-and-close on an
 * nng+ipc socket left every later client hanging in its handshake.  Its
 * threads also cost a wake-up per hand-off.  The wire is small:
 *
 *   both sides first send 8 bytes: 00 'S' 'P' 00, the protocol (16 bits, big
 *   endian: req0 is 0x30, rep0 0x31), 00 00;
 *   then each message is its length (8 bytes, big endian) and its bytes; over
 *   ipc a type byte (1) comes before the length;
 *   a request starts with its backtrace: 4-byte words, the last (the request
 *   id) with its top bit set, one more per device it went through.  The reply
 *   carries the same backtrace back, then the body.
 *
 * The body is an mpm frame, handled like a native one. */
#include <stdint.h>
#include <string.h>

#include "loop.h"

int mpmi_sp_start(mpmi_conn *c)
{
    static const unsigned char hdr[MPMI_SP_HDR_LEN] = {0, 'S', 'P', 0, 0, MPMI_SP_PROTO_REP, 0, 0};
    struct iovec iov = {(void *)hdr, sizeof hdr};
    return mpmi_conn_write(c, &iov, 1);
}

/* Bytes that are not nng's req0 wire: counted like a native refusal; -1. */
static int sp_refused(mpmi_conn *c)
{
    c->srv->stats.refused++;
    return -1;
}

/* The peer's protocol header: 1 checked, 0 not all here yet, -1 refused. */
static int sp_check_peer(mpmi_conn *c)
{
    static const unsigned char magic[4] = {0, 'S', 'P', 0};
    const unsigned char *h = c->in.data;
    size_t n = c->in.len < 4 ? c->in.len : 4;
    int bad = memcmp(h, magic, n) != 0;
    if (!bad && c->in.len < MPMI_SP_HDR_LEN) return 0; /* but an HTTP probe goes at once */
    if (bad || h[6] || h[7]) {
        mpmi_log(c->srv, "%s: refused: not an nng (SP) peer", c->peer);
        return sp_refused(c);
    }
    unsigned proto = (unsigned)h[4] << 8 | h[5];
    if (proto != MPMI_SP_PROTO_REQ) {
        mpmi_log(c->srv, "%s: refused: nng peer speaks protocol 0x%x, not req0", c->peer, proto);
        return sp_refused(c);
    }
    mpmi_buf_consume(&c->in, MPMI_SP_HDR_LEN);
    c->sp_ready = 1;
    return 1;
}

/* After an answered refusal the connection stays open until the peer's next
 * message, its hang-up or MPMI_LINGER_MS (expire_handshakes): nng 1.5.2's
 * req0 throws away a reply that came before its receive was posted when the
 * connection closes right behind it, and the client would hear "connection
 * lost" instead of why it was refused.  The session goes now. */
static void sp_linger(mpmi_conn *c)
{
    mpmi_srv *s = c->srv;
    if (c->sess) {
        mpmi_session_leave(s, c->sess);
        c->sess = NULL;
    }
    if (c->state == MPMI_CS_READY) s->nhandshaking++; /* swept like a handshake */
    c->state = MPMI_CS_CLOSING;
    c->born = mpmi_now_ms();
}

int mpmi_sp_drain(mpmi_conn *c)
{
    size_t pre = c->wire == MPMI_WIRE_SP_IPC ? 9 : 8; /* ipc: type byte, length */
    size_t off = 0;
    int rc = 0;
    if (c->state == MPMI_CS_CLOSING) return c->in.len ? -1 : 0;
    if (!c->sp_ready) {
        int ok = sp_check_peer(c);
        if (ok <= 0) return ok;
    }
    while (!c->busy && c->out.len < MPMI_OUT_HIGH && c->in.len - off >= pre) {
        unsigned char *p = c->in.data + off;
        if (pre == 9 && p[0] != 1) {
            mpmi_log(c->srv, "%s: nng ipc message of unknown type %u", c->peer, p[0]);
            rc = sp_refused(c);
            break;
        }
        uint64_t len = mpmi_get_be64(p + pre - 8);
        if (len > c->srv->max_frame) {
            /* as nng does: the connection goes, nothing is answered */
            mpmi_log(c->srv, "%s: message of %llu bytes is over the %zu-byte limit", c->peer,
                     (unsigned long long)len, c->srv->max_frame);
            rc = sp_refused(c);
            break;
        }
        if (c->in.len - off - pre < len) break;
        unsigned char *m = p + pre;
        off += pre + (size_t)len;
        size_t h = 0;
        int end = 0;
        while (!end && h < sizeof c->sp_hdr) {
            if (len - h < 4) break;
            end = m[h] & 0x80;
            h += 4;
        }
        if (!end && h < sizeof c->sp_hdr) {
            mpmi_log(c->srv, "%s: nng request without a request id", c->peer);
            rc = sp_refused(c);
            break;
        }
        if (!end) continue; /* more hops than nng allows: dropped, as nng does */
        memcpy(c->sp_hdr, m, h);
        c->sp_hlen = h;
        c->cork = c->in.len > off; /* more follows: see conn_drain */
        rc = mpmi_conn_frame(c, m + h, (size_t)len - h);
        if (rc && c->sp_hlen == 0) {
            sp_linger(c); /* it was answered: let the answer be read */
            off = c->in.len;
            rc = 0;
            break;
        }
        if (rc) break;
    }
    mpmi_buf_consume(&c->in, off);
    return rc;
}

int mpmi_sp_send(mpmi_conn *c, const unsigned char *frame, size_t len)
{
    unsigned char pre[9];
    size_t pn = 0;
    if (c->sp_hlen == 0) return 0; /* no request to answer: nothing can carry it */
    if (c->wire == MPMI_WIRE_SP_IPC) pre[pn++] = 1;
    mpmi_put_be64(pre + pn, (uint64_t)(c->sp_hlen + len));
    pn += 8;
    struct iovec iov[3] = {{pre, pn}, {c->sp_hdr, c->sp_hlen}, {(void *)frame, len}};
    c->sp_hlen = 0; /* one reply per request */
    return mpmi_conn_write(c, iov, 3);
}
