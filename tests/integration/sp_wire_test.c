/* sp_wire_test.c - mpmd's nng+ipc and nng+tcp listeners spoken to by hand:
 * nng's wire (SP) byte by byte, without nng.  The protocol header, the
 * backtrace carried back, and what is refused; and the regression of nng
 * 1.5.2's listener, which stopped accepting for good after one client closed
 * before the protocol header was written; and the traffic counted for nng's
 * framing. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol/wire.h"
#include "support/mpmd.h"
#include "support/support.h"

static const char KEY[] = "sp-wire-test-key";
static t_nng_srv S; /* mpmd on nng+ipc, nng+tcp and unix:// (S.watch) */

static void setup(void)
{
    const char *extra[] = {"--max-frame", "65536", NULL};
    t_nng_srv_start(&S, "mpmsp", KEY, extra);
}

static void teardown(void)
{
    t_nng_srv_stop(&S);
}

TestSuite(sp_wire, .init = setup, .fini = teardown, .timeout = 60);

/*---- a hand-made SP peer ----------------------------------------------------*/

enum { IPC, TCP };

/* A connected socket to the ipc or tcp listener; reads time out after 5 s. */
static int dial(int kind)
{
    int fd;
    if (kind == IPC) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", S.ipc_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.tcp_port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void put(int fd, const void *p, size_t n)
{
    cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n, "send: %s", strerror(errno));
}

/* Read exactly n bytes: n, or what came before the peer closed (a timeout
 * fails the test: the server must answer or close). */
static size_t get(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, (char *)p + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        cr_assert(r >= 0 || errno == ECONNRESET,
                  "recv: %s (the server neither answered nor closed)", strerror(errno));
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

/* The server closes fd without another byte. */
static void assert_closed(int fd, const char *why)
{
    char b[64];
    cr_assert_eq(get(fd, b, sizeof b), 0, "%s: the server answered instead of closing", why);
    close(fd);
}

static const unsigned char REQ_HDR[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};

/* Send our protocol header (req0) and check the server's (rep0). */
static void hello(int fd)
{
    unsigned char h[8];
    static const unsigned char want[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0};
    put(fd, REQ_HDR, sizeof REQ_HDR);
    cr_assert_eq(get(fd, h, 8), 8, "no protocol header from the server");
    cr_assert_eq(memcmp(h, want, 8), 0, "server header %02x %02x %02x %02x %02x %02x %02x %02x",
                 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
}

/* One message: backtrace words (host order, written big endian), then body. */
static void send_msg(int fd, int kind, const uint32_t *bt, int nbt, const void *body, size_t n)
{
    unsigned char m[512];
    size_t o = 0;
    if (kind == IPC) m[o++] = 1;
    mpmi_put_be64(m + o, 4 * (uint64_t)nbt + n);
    o += 8;
    for (int i = 0; i < nbt; i++) {
        uint32_t be = htonl(bt[i]);
        memcpy(m + o, &be, 4);
        o += 4;
    }
    cr_assert_leq(o + n, sizeof m);
    memcpy(m + o, body, n);
    put(fd, m, o + n);
}

/* One message in: its payload length (payload in p), or 0 when the server closed. */
static size_t recv_msg(int fd, int kind, unsigned char *p, size_t cap)
{
    unsigned char pre[9];
    size_t pn = kind == IPC ? 9 : 8;
    if (get(fd, pre, pn) != pn) return 0;
    if (kind == IPC) cr_assert_eq(pre[0], 1, "ipc message type %u", pre[0]);
    uint64_t len = mpmi_get_be64(pre + pn - 8);
    cr_assert(len > 0 && len <= cap, "message of %llu bytes", (unsigned long long)len);
    cr_assert_eq(get(fd, p, (size_t)len), (size_t)len, "message cut short");
    return (size_t)len;
}

/* A request of garbage answered by a REFUSED frame behind backtrace bt. */
static void assert_refused_reply(int fd, int kind, const uint32_t *bt, int nbt)
{
    unsigned char p[256];
    size_t n = recv_msg(fd, kind, p, sizeof p);
    cr_assert_geq(n, 4 * (size_t)nbt + MPMI_HDR_LEN, "reply of %zu bytes", n);
    for (int i = 0; i < nbt; i++) {
        uint32_t be;
        memcpy(&be, p + 4 * i, 4);
        cr_assert_eq(ntohl(be), bt[i], "backtrace word %d: %08x, want %08x", i, ntohl(be), bt[i]);
    }
    const unsigned char *f = p + 4 * nbt;
    cr_assert(f[0] == 'M' && f[1] == 'P', "not an mpm frame behind the backtrace");
    cr_assert_eq(f[3], MPMI_K_REFUSED, "frame kind %d, want REFUSED", f[3]);
}

/* The server still serves both nng listeners and holds no stray objects. */
static void assert_serving(void)
{
    const char *urls[] = {S.ipc_url, S.tcp_url};
    for (int i = 0; i < 2; i++) {
        mpm_manager *m = NULL;
        T_OK(mpm_connect(&m, urls[i], KEY, strlen(KEY)));
        T_OK(mpm_ping(m));
        mpm_manager_close(m);
    }
    size_t objs = 99;
    T_OK(mpm_manager_object_count(S.watch, &objs));
    cr_assert_eq(objs, 0);
}

/*---- tests ----------------------------------------------------------------------*/

/* Peers that leave during the protocol header: before it, halfway, right
 * after the server's.  Every later client must still get in (nng 1.5.2's
 * listener stopped accepting after the first of these). */
Test(sp_wire, peers_leaving_early_leave_the_listener_up)
{
    for (int kind = IPC; kind <= TCP; kind++) {
        for (int i = 0; i < 20; i++)
            close(dial(kind));
        for (int i = 0; i < 5; i++) {
            int fd = dial(kind);
            put(fd, REQ_HDR, 3);
            close(fd);
        }
        for (int i = 0; i < 5; i++) {
            int fd = dial(kind);
            unsigned char h[8];
            cr_assert_eq(get(fd, h, 8), 8);
            close(fd);
        }
        /* a fresh peer is heard at once */
        int fd = dial(kind);
        hello(fd);
        uint32_t bt[] = {0x80000001u};
        send_msg(fd, kind, bt, 1, "not a frame", 11);
        assert_refused_reply(fd, kind, bt, 1);
        close(fd);
    }
    assert_serving();
}

/* A reply carries the request's whole backtrace back, hops included.  After
 * a refusal the connection stays until the peer's next message (nng's req0
 * loses a reply when the connection closes right behind it), or a moment. */
Test(sp_wire, backtrace_carried_back)
{
    for (int kind = IPC; kind <= TCP; kind++) {
        int fd = dial(kind);
        hello(fd);
        uint32_t bt[] = {0x00000007u, 0x00012345u, 0x80abcdefu};
        int64_t t0 = t_now_ms(); /* before the refusal: the linger is counted from it */
        send_msg(fd, kind, bt, 3, "garbage, not a frame", 20);
        assert_refused_reply(fd, kind, bt, 3);
        if (kind == IPC) {
            send_msg(fd, kind, bt + 2, 1, "more", 4);
            assert_closed(fd, "a message after a refusal");
        } else {
            assert_closed(fd, "after a refusal, unprompted");
            int64_t took = t_now_ms() - t0;
            cr_assert(took >= 400 && took < 3000, "closed %lld ms after the refusal",
                      (long long)took);
        }
    }
    assert_serving();
}

/* More hops than nng's TTL (8): dropped unanswered, as nng drops it, and
 * the connection goes on. */
Test(sp_wire, too_many_hops_dropped)
{
    for (int kind = IPC; kind <= TCP; kind++) {
        int fd = dial(kind);
        hello(fd);
        uint32_t far[9] = {1, 2, 3, 4, 5, 6, 7, 8, 0x80000009u};
        send_msg(fd, kind, far, 9, "dropped", 7);
        uint32_t bt[] = {0x80000042u};
        send_msg(fd, kind, bt, 1, "answered", 8);
        assert_refused_reply(fd, kind, bt, 1); /* the first reply is the second request's */
        close(fd);
    }
    assert_serving();
}

/* What is not nng's req0 wire is closed without a reply. */
Test(sp_wire, refusals)
{
    static const unsigned char pub_hdr[8] = {0, 'S', 'P', 0, 0, 0x20, 0, 0};
    static const unsigned char bad_tail[8] = {0, 'S', 'P', 0, 0, 0x30, 1, 0};
    mpm_stats before, after;
    T_OK(mpm_manager_stats(S.watch, &before));
    for (int kind = IPC; kind <= TCP; kind++) {
        int fd = dial(kind);
        put(fd, pub_hdr, 8); /* a pub0 peer */
        unsigned char h[8];
        cr_assert_eq(get(fd, h, 8), 8); /* the server's header went first */
        assert_closed(fd, "pub0 peer");

        fd = dial(kind);
        put(fd, bad_tail, 8);
        cr_assert_eq(get(fd, h, 8), 8);
        assert_closed(fd, "reserved header bytes set");

        fd = dial(kind);
        put(fd, "GET / HTTP/1.0\r\n\r\n", 18);
        cr_assert_eq(get(fd, h, 8), 8);
        assert_closed(fd, "an HTTP request");

        /* a message without a request id (no word with the top bit) */
        fd = dial(kind);
        hello(fd);
        uint32_t no_id[] = {0x00000001u};
        send_msg(fd, kind, no_id, 1, "", 0);
        assert_closed(fd, "no request id");

        /* a length over --max-frame: closed before the body comes */
        fd = dial(kind);
        hello(fd);
        unsigned char big[9];
        size_t o = 0;
        if (kind == IPC) big[o++] = 1;
        mpmi_put_be64(big + o, (uint64_t)1 << 40);
        put(fd, big, o + 8);
        assert_closed(fd, "a 1 TiB message announced");
    }
    /* over ipc, a message type other than 1 */
    int fd = dial(IPC);
    hello(fd);
    unsigned char odd[9] = {2, 0, 0, 0, 0, 0, 0, 0, 0};
    put(fd, odd, sizeof odd);
    assert_closed(fd, "ipc message type 2");
    T_OK(mpm_manager_stats(S.watch, &after));
    cr_assert_eq(after.refused - before.refused, 11, "refusals counted: %llu",
                 (unsigned long long)(after.refused - before.refused));
    assert_serving();
}

/* A message may arrive in pieces (the pauses let the server read each
 * piece on its own, mostly: either way the reply must come). */
Test(sp_wire, split_message)
{
    int fd = dial(IPC);
    put(fd, REQ_HDR, 5);
    t_sleep_ms(20);
    put(fd, REQ_HDR + 5, 3);
    unsigned char h[8];
    cr_assert_eq(get(fd, h, 8), 8);
    /* a request in three pieces */
    unsigned char m[9 + 4 + 11];
    m[0] = 1;
    mpmi_put_be64(m + 1, 15);
    uint32_t be = htonl(0x80000005u);
    memcpy(m + 9, &be, 4);
    memcpy(m + 13, "not a frame", 11);
    put(fd, m, 4);
    t_sleep_ms(20);
    put(fd, m + 4, 10);
    t_sleep_ms(20);
    put(fd, m + 14, sizeof m - 14);
    uint32_t bt[] = {0x80000005u};
    assert_refused_reply(fd, IPC, bt, 1);
    close(fd);
    assert_serving();
}

/* Several messages in one write are taken one after another: one dropped
 * (over the TTL), a HELLO answered by a CHALLENGE, a second HELLO refused (the
 * server expected a proof), each reply behind its own request id. */
Test(sp_wire, joined_messages)
{
    for (int kind = IPC; kind <= TCP; kind++) {
        unsigned char buf[512], hello_frame[MPMI_HDR_LEN + MPMI_NONCE_LEN] = {0};
        size_t o = 0;
        mpmi_hdr_write(hello_frame, MPMI_K_HELLO, 0);
        mpmi_hdr_set_cipher(hello_frame, mpmi_cipher_offer());
        const uint32_t ids[3][9] = {
            {1, 2, 3, 4, 5, 6, 7, 8, 0x80000009u}, {0x80000101u}, {0x80000102u}};
        const int nw[3] = {9, 1, 1};
        for (int m = 0; m < 3; m++) {
            if (kind == IPC) buf[o++] = 1;
            mpmi_put_be64(buf + o, 4 * (uint64_t)nw[m] + sizeof hello_frame);
            o += 8;
            for (int w = 0; w < nw[m]; w++) {
                uint32_t be = htonl(ids[m][w]);
                memcpy(buf + o, &be, 4);
                o += 4;
            }
            memcpy(buf + o, hello_frame, sizeof hello_frame);
            o += sizeof hello_frame;
        }
        int fd = dial(kind);
        hello(fd);
        put(fd, buf, o); /* one write */
        unsigned char p[256];
        size_t n = recv_msg(fd, kind, p, sizeof p);
        cr_assert_geq(n, 4 + MPMI_HDR_LEN, "reply of %zu bytes", n);
        uint32_t be;
        memcpy(&be, p, 4);
        cr_assert_eq(ntohl(be), 0x80000101u, "first reply for %08x", ntohl(be));
        cr_assert_eq(p[4 + 3], MPMI_K_CHALLENGE, "kind %d, want CHALLENGE", p[4 + 3]);
        assert_refused_reply(fd, kind, ids[2], 1);
        close(fd);
    }
    assert_serving();
}

/* Random bytes, after a good protocol header or instead of one, with
 * plausible and absurd lengths: the server closes or refuses, and goes on. */
Test(sp_wire, random_bytes)
{
    unsigned seed = (unsigned)t_now_ms();
    srand(seed);
    cr_log_info("random_bytes: seed %u", seed);
    for (int i = 0; i < 200; i++) {
        int kind = i % 2 ? TCP : IPC;
        int fd = dial(kind);
        unsigned char b[300];
        size_t n = 1 + (size_t)(rand() % (int)sizeof b);
        for (size_t k = 0; k < n; k++)
            b[k] = (unsigned char)rand();
        if (i % 3) {
            hello(fd);
            /* often a well-formed start: ipc type byte, a small length */
            if (i % 3 == 1 && n > 9) {
                size_t o = 0;
                if (kind == IPC) b[o++] = 1;
                mpmi_put_be64(b + o, (uint64_t)(rand() % 400));
            }
        }
        /* the server may close first: a failed send is an answer too */
        (void)!send(fd, b, n, MSG_NOSIGNAL);
        close(fd);
    }
    cr_assert_eq(waitpid(S.pid, NULL, WNOHANG), 0, "mpmd died (seed %u)", seed);
    assert_serving();
}

/* Traffic counts every byte on the wire: the same calls cost nng's framing
 * more than mpm's own (a 4-byte length): a 9-byte (ipc) or 8-byte (tcp)
 * header and a 4-byte request id each way.  (Both were counted as 4 bytes.) */
Test(sp_wire, traffic_counts_nngs_framing)
{
    enum { CALLS = 50 };
    const char *urls[] = {S.unix_url, S.ipc_url, S.tcp_url};
    mpm_manager *m[3];
    int64_t in[3], out[3];
    for (int i = 0; i < 3; i++) {
        T_OK(mpm_connect(&m[i], urls[i], KEY, strlen(KEY)));
        T_OK(mpm_ping(m[i])); /* connected and answered before counting */
    }
    for (int i = 0; i < 3; i++) {
        mpm_stats a, b;
        T_OK(mpm_manager_stats(S.watch, &a));
        for (int k = 0; k < CALLS; k++)
            T_OK(mpm_ping(m[i]));
        T_OK(mpm_manager_stats(S.watch, &b));
        in[i] = (int64_t)(b.bytes_in - a.bytes_in);
        out[i] = (int64_t)(b.bytes_out - a.bytes_out);
        cr_assert_gt(in[i], CALLS * MPMI_HDR_LEN, "%s: %lld bytes in for %d calls", urls[i],
                     (long long)in[i], CALLS);
    }
    /* the watch's second STATS request is in every delta alike; a STATS
     * reply's size moves with the figures it carries: replies within a few
     * bytes */
    cr_assert_eq(in[1] - in[0], CALLS * 9, "nng+ipc: %lld bytes more in than unix://, want %d",
                 (long long)(in[1] - in[0]), CALLS * 9);
    cr_assert_eq(in[2] - in[0], CALLS * 8, "nng+tcp: %lld bytes more in than unix://, want %d",
                 (long long)(in[2] - in[0]), CALLS * 8);
    cr_assert(llabs(out[1] - out[0] - CALLS * 9) <= 8, "nng+ipc: %lld bytes more out, want ~%d",
              (long long)(out[1] - out[0]), CALLS * 9);
    cr_assert(llabs(out[2] - out[0] - CALLS * 8) <= 8, "nng+tcp: %lld bytes more out, want ~%d",
              (long long)(out[2] - out[0]), CALLS * 8);
    for (int i = 0; i < 3; i++)
        mpm_manager_close(m[i]);
}
