#include "raw_client.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "protocol/codec.h"
#include "support.h"

/*---- frame I/O ---------------------------------------------------------------------------*/

int raw_dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    return fd;
}

int raw_write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int raw_read_exact(int fd, void *p, size_t n, int ms)
{
    unsigned char *b = p;
    int64_t end = t_now_ms() + ms;
    while (n) {
        int left = (int)(end - t_now_ms());
        struct pollfd pf = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, left) == 0) return -1;
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE))) return 0;
        if (r < 0) return -1;
        b += r;
        n -= (size_t)r;
    }
    return 1;
}

int raw_send_frame(int fd, const void *frame, size_t n)
{
    unsigned char pre[4];
    mpmi_put_u32(pre, (uint32_t)n);
    return raw_write_all(fd, pre, 4) || raw_write_all(fd, frame, n) ? -1 : 0;
}

int raw_recv_frame(int fd, unsigned char *buf, size_t cap, size_t *n, int ms)
{
    unsigned char pre[4];
    int rc = raw_read_exact(fd, pre, 4, ms);
    if (rc != 1) return rc;
    uint32_t len = mpmi_get_u32(pre);
    cr_assert_leq(len, cap, "the server sent a frame of %u bytes", len);
    rc = raw_read_exact(fd, buf, len, ms);
    if (rc != 1) return rc;
    *n = len;
    return 1;
}

/*---- the authenticated connection ----------------------------------------------------*/

void raw_handshake(raw *r, const raw_opts *o, int offer, int key_offer, int *picked)
{
    unsigned char f[256], cn[MPMI_NONCE_LEN], sn[MPMI_NONCE_LEN], tok[MPMI_TOKEN_LEN];
    unsigned char want[MPMI_MAC_LEN];
    size_t n, klen = strlen(o->key);
    int kind;
    uint64_t seq;
    cr_assert_eq(sodium_init() < 0, 0);
    r->o = o;
    r->fd = raw_dial(o->path);
    cr_assert_geq(r->fd, 0, "cannot connect to %s", o->path);
    randombytes_buf(cn, sizeof cn);
    randombytes_buf(tok, sizeof tok);
    mpmi_hdr_write(f, MPMI_K_HELLO, 0);
    mpmi_hdr_set_cipher(f, offer);
    memcpy(f + MPMI_HDR_LEN, cn, sizeof cn);
    cr_assert_eq(raw_send_frame(r->fd, f, MPMI_HDR_LEN + MPMI_NONCE_LEN), 0);
    cr_assert_eq(raw_recv_frame(r->fd, f, sizeof f, &n, o->hello_ms), 1, "no challenge");
    cr_assert_eq(mpmi_hdr_read(f, n, &kind, &seq), 0);
    cr_assert_eq(kind, MPMI_K_CHALLENGE);
    cr_assert_eq(n, MPMI_HDR_LEN + MPMI_NONCE_LEN);
    int cipher = mpmi_hdr_cipher(f);
    if (picked) *picked = cipher;
    memcpy(sn, f + MPMI_HDR_LEN, sizeof sn);
    mpmi_hdr_write(f, MPMI_K_PROOF, 0);
    mpmi_proof(f + MPMI_HDR_LEN, o->key, klen, "mpm1 client", cn, sn, tok);
    memcpy(f + MPMI_HDR_LEN + MPMI_MAC_LEN, tok, sizeof tok);
    cr_assert_eq(raw_send_frame(r->fd, f, MPMI_HDR_LEN + MPMI_MAC_LEN + MPMI_TOKEN_LEN), 0);
    cr_assert_eq(raw_recv_frame(r->fd, f, sizeof f, &n, o->hello_ms), 1, "no welcome");
    cr_assert_eq(mpmi_hdr_read(f, n, &kind, &seq), 0);
    cr_assert_eq(kind, MPMI_K_WELCOME, "kind %d: %.*s", kind, (int)(n - MPMI_HDR_LEN),
                 f + MPMI_HDR_LEN);
    cr_assert_eq(n, MPMI_HDR_LEN + MPMI_MAC_LEN + 8);
    mpmi_proof(want, o->key, klen, "mpm1 server", cn, sn, tok);
    cr_assert_eq(crypto_verify_32(want, f + MPMI_HDR_LEN), 0, "the server's proof is wrong");
    mpmi_chan_init_cipher(&r->ch, o->key, klen, cn, sn, 0, key_offer, cipher);
}

void raw_connect(raw *r, const raw_opts *o)
{
    raw_handshake(r, o, 0, 0, NULL);
}

void raw_close(raw *r)
{
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
}

size_t raw_seal(raw *r, const void *body, size_t n, unsigned char *out)
{
    memcpy(out + MPMI_LEN_PREFIX + MPMI_HDR_LEN, body, n);
    size_t fl = mpmi_seal(&r->ch, out + MPMI_LEN_PREFIX, n);
    mpmi_put_u32(out, (uint32_t)fl);
    return fl + MPMI_LEN_PREFIX;
}

void raw_send(raw *r, const void *body, size_t n)
{
    unsigned char *f = malloc(n + 64);
    cr_assert_not_null(f);
    size_t fn = raw_seal(r, body, n, f);
    int rc = raw_write_all(r->fd, f, fn);
    free(f);
    cr_assert_eq(rc, 0, "send failed");
}

const unsigned char *raw_recv(raw *r, size_t *blen)
{
    unsigned char *buf = r->o->buf, *body;
    size_t n = 0;
    int rc = raw_recv_frame(r->fd, buf, r->o->cap, &n, r->o->reply_ms);
    if (rc == 0) cr_assert_fail("the server closed the connection");
    cr_assert_eq(rc, 1, "no reply within %d ms", r->o->reply_ms);
    int kind;
    uint64_t seq;
    cr_assert_eq(mpmi_hdr_read(buf, n, &kind, &seq), 0);
    cr_assert_eq(kind, MPMI_K_DATA, "a frame of kind %d (%.*s), want DATA", kind,
                 (int)(n - MPMI_HDR_LEN), buf + MPMI_HDR_LEN);
    cr_assert_eq(mpmi_open(&r->ch, buf, n, &body, blen), 0, "the reply does not open");
    return body;
}

const unsigned char *raw_call(raw *r, const void *body, size_t n, size_t *blen)
{
    raw_send(r, body, n);
    return raw_recv(r, blen);
}

/*---- request bodies and replies -------------------------------------------------------*/

void raw_body_init(raw_body *b, uint32_t ncalls)
{
    mpmi_buf_init(&b->b);
    mpmi_pk_init(&b->pk, &b->b);
    msgpack_pack_array(&b->pk, ncalls);
}

void raw_body_call(raw_body *b, uint64_t id, int64_t op, uint32_t nargs)
{
    msgpack_pack_array(&b->pk, 2 + nargs);
    msgpack_pack_uint64(&b->pk, id);
    msgpack_pack_int64(&b->pk, op);
}

void raw_body_str(raw_body *b, const char *s)
{
    mpmi_pk_str(&b->pk, s, strlen(s));
}

uint32_t raw_body_send(raw *r, raw_body *b, raw_result *res, uint32_t max)
{
    size_t blen;
    cr_assert_eq(b->b.oom, 0);
    const unsigned char *p = raw_call(r, b->b.data, b->b.len, &blen);
    uint32_t n = raw_parse_reply(p, blen, res, max);
    mpmi_buf_free(&b->b);
    return n;
}

uint32_t raw_parse_reply(const unsigned char *p, size_t n, raw_result *res, uint32_t max)
{
    mpmi_rd r;
    mpmi_item it, st;
    mpmi_rd_init(&r, p, n);
    cr_assert_eq(mpmi_mp_check(p, n), 0, "the reply is not one msgpack value");
    cr_assert_eq(mpmi_rd_next(&r, &it), 0);
    cr_assert_eq(it.type, MPMI_ARRAY, "the reply is not an array");
    uint32_t count = it.v.n;
    cr_assert_leq(count, max);
    for (uint32_t i = 0; i < count; i++) {
        cr_assert_eq(mpmi_rd_next(&r, &it), 0);
        cr_assert(it.type == MPMI_ARRAY && it.v.n == 2, "result %u is not [status, value]", i);
        cr_assert_eq(mpmi_rd_next(&r, &st), 0);
        cr_assert_eq(st.type, MPMI_INT, "result %u has no integer status", i);
        res[i].status = st.v.i;
        cr_assert_eq(mpmi_rd_value(&r, &res[i].val, &res[i].vn), 0);
        res[i].msg[0] = 0;
        if (st.v.i != 0) {
            mpmi_rd m;
            mpmi_item s;
            mpmi_rd_init(&m, res[i].val, res[i].vn);
            cr_assert_eq(mpmi_rd_next(&m, &s), 0);
            cr_assert_eq(s.type, MPMI_STR, "error %u has no message", i);
            cr_assert_gt(s.v.s.n, 0, "error %u has an empty message", i);
            snprintf(res[i].msg, sizeof res[i].msg, "%.*s", (int)s.v.s.n, s.v.s.p);
        }
    }
    return count;
}
