/* security_test.c - a standalone mpmd under attack.  A raw client speaks the
 * wire by hand (protocol/wire.h): an honest handshake, then replays, reordered
 * and forged frames, garbage, absurd lengths, truncations, malformed and deep
 * bodies, bad calls.  Fake servers check the client's side of the mutual
 * handshake.  After every abuse an honest mpm_connect client must still ping
 * and the server must hold exactly the objects it held before. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpm/mpm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol/buf.h"
#include "protocol/codec.h"
#include "protocol/ops.h"
#include "protocol/wire.h"
#include "support/mpmd.h"
#include "support/raw_client.h"

#define OK(expr)                                                                                   \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        cr_assert_eq(rc_, 0, "%s -> %d (%s): %s", #expr, rc_, mpm_strerror(rc_),                   \
                     mpm_last_error());                                                            \
    } while (0)

static const char KEY[] = "security-test-key";

static char dir[64], sock[128], url[160], keyfile[128];
static pid_t srv_pid = -1;
static mpm_manager *honest;
static mpm_dict *honest_d;
static size_t baseline;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/*---- fixture: a standalone server and an honest client ----------------------------*/

static void setup(void)
{
    unsetenv("MPM_AUTHKEY");
    cr_assert_eq(sodium_init() < 0, 0);
    t_private_dir(dir, sizeof dir, "mpmsec", keyfile, sizeof keyfile, KEY);
    snprintf(sock, sizeof sock, "%s/s", dir);
    snprintf(url, sizeof url, "unix://%s", sock);

    char bound[512];
    srv_pid = t_mpmd_start(url, keyfile, NULL, 10000, bound, sizeof bound);
    cr_assert(srv_pid > 0 && strstr(bound, url), "mpmd did not start: bound '%s'", bound);

    OK(mpm_connect(&honest, url, KEY, strlen(KEY)));
    OK(mpm_dict_new(honest, &honest_d));
    OK(mpm_dict_set(honest_d, MPM_STR("k"), MPM_STR("v")));
    OK(mpm_manager_object_count(honest, &baseline));
    cr_assert_eq(baseline, 1);
}

/* Stop the server: SIGTERM, then SIGKILL after 3 s.  Its wait status. */
static int stop_server(void)
{
    int st = srv_pid > 0 ? t_mpmd_stop(srv_pid, 3000) : 0;
    srv_pid = -1;
    return st;
}

static void teardown(void)
{
    mpm_dict_close(honest_d);
    mpm_manager_close(honest);
    honest_d = NULL;
    honest = NULL;
    stop_server();
    t_private_dir_remove(dir);
}

TestSuite(security, .init = setup, .fini = teardown, .timeout = 30);

/* The server lives, the honest client still works, and the objects are
 * back to the baseline (a dropped session's objects are freed when the server
 * reads its EOF, which may come after our call: wait up to 5 s). */
static void server_fine(void)
{
    cr_assert_eq(waitpid(srv_pid, NULL, WNOHANG), 0, "the server died");
    OK(mpm_ping(honest));
    mpm_val *v = NULL;
    OK(mpm_dict_get(honest_d, MPM_STR("k"), &v));
    cr_assert(mpm_val_eq(*v, MPM_STR("v")), "the honest client's data changed");
    mpm_val_free(v);
    size_t n = 0;
    int64_t end = now_ms() + 5000;
    for (;;) {
        OK(mpm_manager_object_count(honest, &n));
        if (n == baseline || now_ms() > end) break;
        sleep_ms(10);
    }
    cr_assert_eq(n, baseline, "the server holds %zu objects, %zu before", n, baseline);
}

/* The end of every test: the server is fine, and after all it went through
 * it still stops cleanly on SIGTERM.  (Criterion 2.4.1 does not count
 * assertions made in .fini, so this runs in the test body.) */
static void finish(void)
{
    server_fine();
    mpm_dict_close(honest_d);
    mpm_manager_close(honest);
    honest_d = NULL;
    honest = NULL;
    int st = stop_server();
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "mpmd did not stop cleanly on SIGTERM (wait status %#x)", st);
}

/*---- raw wire I/O (support/raw_client.h) ----------------------------------------------*/

/* The raw client's server: 3 s for each handshake step, 5 s for a reply. */
static unsigned char reply_buf[1 << 16];
static const raw_opts RAW = {sock, KEY, 3000, 5000, reply_buf, sizeof reply_buf};

/* The server must answer REFUSED and close.  Returns the reason in why. */
static void expect_refused(int fd, char *why, size_t wn)
{
    unsigned char f[512];
    size_t n = 0;
    int kind;
    uint64_t seq;
    int rc = raw_recv_frame(fd, f, sizeof f, &n, 3000);
    cr_assert_eq(rc, 1, "%s", rc == 0 ? "closed without a REFUSED frame" : "no answer within 3 s");
    cr_assert_eq(mpmi_hdr_read(f, n, &kind, &seq), 0);
    cr_assert_eq(kind, MPMI_K_REFUSED, "got a frame of kind %d, want REFUSED", kind);
    if (why) snprintf(why, wn, "%.*s", (int)(n - MPMI_HDR_LEN), f + MPMI_HDR_LEN);
    rc = raw_recv_frame(fd, f, sizeof f, &n, 3000);
    cr_assert_eq(rc, 0, "%s", rc == 1 ? "a frame after REFUSED" : "the connection stayed open");
}

/* The server must close (a REFUSED frame first is allowed). */
static void expect_closed(int fd)
{
    unsigned char f[512];
    size_t n;
    int rc = raw_recv_frame(fd, f, sizeof f, &n, 3000);
    if (rc == 1) rc = raw_recv_frame(fd, f, sizeof f, &n, 3000);
    cr_assert_eq(rc, 0, "the connection stayed open");
}

/* The server must keep the connection open and quiet for ms. */
static void expect_open(int fd, int ms)
{
    struct pollfd pf = {fd, POLLIN, 0};
    cr_assert_eq(poll(&pf, 1, ms), 0, "the server answered or closed");
}

/*---- bodies and replies ---------------------------------------------------------------*/

/* Send a body of calls on r and parse the results. */
static uint32_t raw_calls(raw *r, const void *p, size_t n, raw_result *res, uint32_t max)
{
    size_t blen;
    const unsigned char *b = raw_call(r, p, n, &blen);
    return raw_parse_reply(b, blen, res, max);
}

/* One call with a body made by the caller; asserts one result and its status
 * (the error code as a positive number, as on the wire). */
#define EXPECT_ONE(r, bytes, n, want_status, res)                                                  \
    do {                                                                                           \
        cr_assert_eq(raw_calls((r), (bytes), (n), &(res), 1), 1, "not one result");                \
        cr_assert_eq((res).status, (int64_t)(want_status), "status %lld (%s), want %lld",          \
                     (long long)(res).status, (res).msg, (long long)(want_status));                \
    } while (0)

static int val_is_str(const raw_result *res, const char *s)
{
    mpmi_rd r;
    mpmi_item it;
    mpmi_rd_init(&r, res->val, res->vn);
    return mpmi_rd_next(&r, &it) == 0 && it.type == MPMI_STR && it.v.s.n == strlen(s) &&
           memcmp(it.v.s.p, s, it.v.s.n) == 0;
}

static int64_t val_int(const raw_result *res)
{
    mpmi_rd r;
    mpmi_item it;
    int64_t v = -1;
    mpmi_rd_init(&r, res->val, res->vn);
    cr_assert_eq(mpmi_rd_next(&r, &it), 0);
    cr_assert_eq(mpmi_item_int(&it, &v), 0, "not an integer result");
    return v;
}

static const unsigned char PING[] = {0x91, 0x92, 0x00, 0x04}; /* [[0, 4]] */

static void raw_ping(raw *r)
{
    raw_result res;
    EXPECT_ONE(r, PING, sizeof PING, 0, res);
    cr_assert(val_is_str(&res, "pong"), "PING did not answer 'pong'");
}

/* The next reply on r is a PING's (sent earlier, pipelined). */
static void raw_expect_pong(raw *r)
{
    size_t blen;
    const unsigned char *p = raw_recv(r, &blen);
    raw_result res;
    cr_assert_eq(raw_parse_reply(p, blen, &res, 1), 1);
    cr_assert(val_is_str(&res, "pong"), "not the PING's reply");
}

/*---- cipher negotiation ------------------------------------------------------------------*/

/* The server picks AES-256-GCM when offered and the CPU has it, XChaCha20-
 * Poly1305 otherwise; both carry calls; an offer of nothing it knows is
 * refused; a cipher byte changed on the way makes the keys differ, so the
 * first sealed frame is refused and nothing runs. */
Test(security, cipher_negotiation)
{
    raw r;
    int picked = -1;
    int aes = crypto_aead_aes256gcm_is_available();
    raw_handshake(&r, &RAW, 0, 0, &picked);
    cr_assert_eq(picked, MPMI_CIPHER_XCHACHA, "a zero offer must get the original cipher");
    raw_ping(&r);
    raw_close(&r);
    raw_handshake(&r, &RAW, 1 << MPMI_CIPHER_XCHACHA, 1 << MPMI_CIPHER_XCHACHA, &picked);
    cr_assert_eq(picked, MPMI_CIPHER_XCHACHA);
    raw_ping(&r);
    raw_close(&r);
    int both = 1 << MPMI_CIPHER_XCHACHA | 1 << MPMI_CIPHER_AESGCM;
    raw_handshake(&r, &RAW, both, both, &picked);
    cr_assert_eq(picked, aes ? MPMI_CIPHER_AESGCM : MPMI_CIPHER_XCHACHA);
    raw_ping(&r);
    raw_ping(&r);
    raw_close(&r);

    /* nothing in common */
    unsigned char f[64];
    int fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    mpmi_hdr_write(f, MPMI_K_HELLO, 0);
    mpmi_hdr_set_cipher(f, 0x80);
    randombytes_buf(f + MPMI_HDR_LEN, MPMI_NONCE_LEN);
    cr_assert_eq(raw_send_frame(fd, f, MPMI_HDR_LEN + MPMI_NONCE_LEN), 0);
    char why[128];
    expect_refused(fd, why, sizeof why);
    cr_assert(strstr(why, "no cipher in common") != NULL, "%s", why);
    close(fd);

    /* the offer as the server saw it differs from the client's own */
    raw_handshake(&r, &RAW, both, 1 << MPMI_CIPHER_XCHACHA, &picked);
    unsigned char out[64];
    size_t on = raw_seal(&r, PING, sizeof PING, out);
    cr_assert_eq(raw_write_all(r.fd, out, on), 0);
    expect_refused(r.fd, why, sizeof why);
    cr_assert(strstr(why, "failed authentication") != NULL, "%s", why);
    raw_close(&r);
    server_fine();
    finish();
}

/*---- authentication ---------------------------------------------------------------------*/

Test(security, wrong_or_missing_authkey_is_eauth)
{
    mpm_manager *m = (mpm_manager *)&m;
    int rc = mpm_connect(&m, url, "wrong key", 9);
    cr_assert_eq(rc, MPM_EAUTH, "%d %s", rc, mpm_last_error());
    cr_assert_null(m);
    cr_assert(strstr(mpm_last_error(), "authentication failed") != NULL, "%s", mpm_last_error());
    server_fine();
    rc = mpm_connect(&m, url, NULL, 0); /* no key at all */
    cr_assert_eq(rc, MPM_EAUTH, "%d %s", rc, mpm_last_error());
    /* the key file's newline is not part of the key */
    rc = mpm_connect(&m, url, "security-test-key\n", strlen(KEY) + 1);
    cr_assert_eq(rc, MPM_EAUTH, "%d %s", rc, mpm_last_error());
    finish();
}

Test(security, raw_wrong_proof_is_refused_with_nothing_more)
{
    raw r;
    raw_connect(&r, &RAW); /* the honest path works */
    raw_ping(&r);
    raw_close(&r);
    /* a proof made with another key */
    unsigned char f[256], cn[MPMI_NONCE_LEN] = {1}, sn[MPMI_NONCE_LEN], tok[MPMI_TOKEN_LEN] = {2};
    size_t n;
    int fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    mpmi_hdr_write(f, MPMI_K_HELLO, 0);
    memcpy(f + MPMI_HDR_LEN, cn, sizeof cn);
    cr_assert_eq(raw_send_frame(fd, f, MPMI_HDR_LEN + MPMI_NONCE_LEN), 0);
    cr_assert_eq(raw_recv_frame(fd, f, sizeof f, &n, 3000), 1);
    memcpy(sn, f + MPMI_HDR_LEN, sizeof sn);
    mpmi_hdr_write(f, MPMI_K_PROOF, 0);
    mpmi_proof(f + MPMI_HDR_LEN, "not the key", 11, "mpm1 client", cn, sn, tok);
    memcpy(f + MPMI_HDR_LEN + MPMI_MAC_LEN, tok, sizeof tok);
    cr_assert_eq(raw_send_frame(fd, f, MPMI_HDR_LEN + MPMI_MAC_LEN + MPMI_TOKEN_LEN), 0);
    char why[128];
    expect_refused(fd, why, sizeof why);
    cr_assert_str_eq(why, "authentication failed");
    close(fd);
    finish();
}

/*---- sealed frames ------------------------------------------------------------------------*/

Test(security, raw_client_with_the_key_gets_a_reply_it_can_open)
{
    raw r;
    raw_connect(&r, &RAW);
    size_t blen;
    const unsigned char *b = raw_call(&r, PING, sizeof PING, &blen);
    static const unsigned char want[] = {0x91, 0x92, 0x00, 0xa4, 'p', 'o', 'n', 'g'};
    cr_assert_eq(blen, sizeof want);
    cr_assert(memcmp(b, want, sizeof want) == 0, "the reply is not [[0, 'pong']]");
    cr_assert_eq(r.ch.recv_seq, 1);
    raw_ping(&r);
    cr_assert_eq(r.ch.recv_seq, 2, "reply sequence numbers do not rise by one");
    OK(mpm_ping(honest));
    raw_close(&r);
    finish();
}

Test(security, replayed_frame_is_refused_and_closed)
{
    raw r;
    raw_connect(&r, &RAW);
    unsigned char f[128];
    size_t fn = raw_seal(&r, PING, sizeof PING, f);
    cr_assert_eq(raw_write_all(r.fd, f, fn), 0);
    size_t blen;
    raw_recv(&r, &blen);
    OK(mpm_ping(honest));                        /* the honest client works throughout */
    cr_assert_eq(raw_write_all(r.fd, f, fn), 0); /* the same bytes again */
    char why[128];
    expect_refused(r.fd, why, sizeof why);
    raw_close(&r);
    finish();
}

Test(security, reordered_frames_are_refused)
{
    raw r;
    raw_connect(&r, &RAW);
    unsigned char f1[128], f2[128];
    raw_seal(&r, PING, sizeof PING, f1);
    size_t n2 = raw_seal(&r, PING, sizeof PING, f2);
    cr_assert_eq(raw_write_all(r.fd, f2, n2), 0); /* 2 before 1 */
    expect_refused(r.fd, NULL, 0);
    raw_close(&r);
    finish();
}

Test(security, frame_from_another_connection_is_refused)
{
    raw a, b;
    raw_connect(&a, &RAW);
    raw_connect(&b, &RAW);
    unsigned char f[128];
    size_t fn = raw_seal(&a, PING, sizeof PING, f);
    cr_assert_eq(raw_write_all(b.fd, f, fn), 0); /* a's first frame on b, where seq 1 is due */
    expect_refused(b.fd, NULL, 0);
    cr_assert_eq(raw_write_all(a.fd, f, fn), 0); /* on its own connection it is fine */
    size_t blen;
    raw_recv(&a, &blen);
    raw_close(&a);
    raw_close(&b);
    finish();
}

Test(security, flipped_bits_are_refused)
{
    /* one flipped bit in the ciphertext, the tag, or the header's sequence */
    size_t where[3] = {MPMI_LEN_PREFIX + MPMI_HDR_LEN + 1, 0, MPMI_LEN_PREFIX + 8};
    for (int i = 0; i < 3; i++) {
        raw r;
        raw_connect(&r, &RAW);
        raw_ping(&r);
        unsigned char f[128];
        size_t fn = raw_seal(&r, PING, sizeof PING, f);
        size_t at = where[i] ? where[i] : fn - 1; /* 0: the tag's last byte */
        f[at] ^= 0x10;
        cr_assert_eq(raw_write_all(r.fd, f, fn), 0);
        expect_refused(r.fd, NULL, 0);
        raw_close(&r);
        OK(mpm_ping(honest));
    }
    finish();
}

/*---- garbage, lengths and truncation --------------------------------------------------------*/

Test(security, garbage_instead_of_a_hello_is_refused)
{
    /* a well-framed length with garbage in it */
    int fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    unsigned char junk[40];
    memset(junk, 0xa5, sizeof junk);
    cr_assert_eq(raw_send_frame(fd, junk, sizeof junk), 0);
    expect_refused(fd, NULL, 0);
    close(fd);
    OK(mpm_ping(honest));

    /* plain text: its first four bytes make an absurd length */
    fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(raw_write_all(fd, http, strlen(http)), 0);
    expect_closed(fd);
    close(fd);
    OK(mpm_ping(honest));

    /* an mpm header of the wrong kind first: a DATA frame, a PROOF */
    int kinds[] = {MPMI_K_DATA, MPMI_K_PROOF, MPMI_K_WELCOME, 99};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        unsigned char f[MPMI_HDR_LEN + MPMI_NONCE_LEN];
        mpmi_hdr_write(f, kinds[i], 1);
        memset(f + MPMI_HDR_LEN, 0, MPMI_NONCE_LEN);
        fd = raw_dial(sock);
        cr_assert_geq(fd, 0);
        cr_assert_eq(raw_send_frame(fd, f, sizeof f), 0);
        expect_refused(fd, NULL, 0);
        close(fd);
    }
    /* a hello of the wrong size */
    unsigned char h[MPMI_HDR_LEN + 8];
    mpmi_hdr_write(h, MPMI_K_HELLO, 0);
    memset(h + MPMI_HDR_LEN, 0, 8);
    fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    cr_assert_eq(raw_send_frame(fd, h, sizeof h), 0);
    expect_refused(fd, NULL, 0);
    close(fd);
    finish();
}

static long vm_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0) kb = strtol(line + strlen(field), NULL, 10);
    fclose(f);
    return kb;
}

Test(security, absurd_length_prefix_is_refused_without_allocating_it)
{
    static const unsigned char ff[4] = {0xff, 0xff, 0xff, 0xff};
    /* before the handshake: refused at once, not after waiting for 4 GiB */
    int fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    int64_t t0 = now_ms();
    cr_assert_eq(raw_write_all(fd, ff, 4), 0);
    expect_closed(fd);
    cr_assert_lt(now_ms() - t0, 2000);
    close(fd);
    OK(mpm_ping(honest));

    /* after it, on an authenticated connection */
    raw r;
    raw_connect(&r, &RAW);
    raw_ping(&r);
    cr_assert_eq(raw_write_all(r.fd, ff, 4), 0);
    expect_closed(r.fd);
    raw_close(&r);
    server_fine();

    /* a length just under the limit, with little behind it: the server waits
     * for the rest without reserving the claimed 64 MiB up front */
    long before = vm_kb(srv_pid, "VmRSS:");
    cr_assert_gt(before, 0);
    raw_connect(&r, &RAW);
    unsigned char pre[4 + 64];
    mpmi_put_u32(pre, MPMI_MAX_FRAME_DEFAULT - 1);
    mpmi_hdr_write(pre + 4, MPMI_K_DATA, 1);
    memset(pre + 4 + MPMI_HDR_LEN, 0x5a, sizeof pre - 4 - MPMI_HDR_LEN);
    cr_assert_eq(raw_write_all(r.fd, pre, sizeof pre), 0);
    expect_open(r.fd, 200);
    OK(mpm_ping(honest)); /* a half-received frame holds up nobody */
    long during = vm_kb(srv_pid, "VmRSS:");
    cr_assert_lt(during - before, 16 * 1024, "the server's RSS grew by %ld kB for a %u-byte claim",
                 during - before, MPMI_MAX_FRAME_DEFAULT - 1);
    raw_close(&r);

    /* one byte over the limit is refused */
    fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    mpmi_put_u32(pre, MPMI_MAX_FRAME_DEFAULT + 1);
    cr_assert_eq(raw_write_all(fd, pre, 4), 0);
    expect_closed(fd);
    close(fd);
    finish();
}

Test(security, too_short_length_prefix_is_refused)
{
    unsigned char three[7] = {3, 0, 0, 0, 'M', 'P', 1};
    int fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    cr_assert_eq(raw_write_all(fd, three, sizeof three), 0);
    expect_refused(fd, NULL, 0);
    close(fd);
    raw r;
    raw_connect(&r, &RAW);
    unsigned char zero[4] = {0, 0, 0, 0};
    cr_assert_eq(raw_write_all(r.fd, zero, 4), 0);
    expect_closed(r.fd);
    raw_close(&r);
    finish();
}

Test(security, truncated_frames_then_close_leave_the_server_fine)
{
    /* half a length prefix; half a hello; half a sealed frame */
    int fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    cr_assert_eq(raw_write_all(fd, "\x30\x00", 2), 0);
    expect_open(fd, 100);
    close(fd);
    OK(mpm_ping(honest));

    unsigned char f[MPMI_LEN_PREFIX + MPMI_HDR_LEN + MPMI_NONCE_LEN];
    mpmi_put_u32(f, MPMI_HDR_LEN + MPMI_NONCE_LEN);
    mpmi_hdr_write(f + 4, MPMI_K_HELLO, 0);
    memset(f + 4 + MPMI_HDR_LEN, 7, MPMI_NONCE_LEN);
    fd = raw_dial(sock);
    cr_assert_geq(fd, 0);
    cr_assert_eq(raw_write_all(fd, f, 20), 0);
    expect_open(fd, 100);
    close(fd);
    OK(mpm_ping(honest));

    raw r;
    raw_connect(&r, &RAW);
    /* create an object on this session, then die mid-frame: the object goes */
    static const unsigned char create[] = {0x91, 0x93, 0x00, 0x01, 0x01}; /* [[0, 1, 1]] */
    raw_result res;
    EXPECT_ONE(&r, create, sizeof create, 0, res);
    cr_assert_gt(val_int(&res), 0);
    size_t n = 0;
    OK(mpm_manager_object_count(honest, &n));
    cr_assert_eq(n, baseline + 1);
    unsigned char sealed[128];
    size_t sn = raw_seal(&r, PING, sizeof PING, sealed);
    cr_assert_eq(raw_write_all(r.fd, sealed, sn - 5), 0);
    expect_open(r.fd, 100);
    raw_close(&r);
    finish();
}

/*---- authenticated but malformed ------------------------------------------------------------*/

Test(security, malformed_bodies_get_an_error_reply_and_keep_the_connection)
{
    static const struct {
        const char *what;
        unsigned char bytes[8];
        size_t n;
    } bodies[] = {
        {"not an array", {0x05}, 1},
        {"a map", {0x81, 0x00, 0x04}, 3},
        {"0xc1", {0xc1}, 1},
        {"0xc1 inside", {0x91, 0xc1}, 2},
        {"truncated", {0x92, 0x91}, 2},
        {"two objects", {0x90, 0x90}, 2},
        {"a 2^31-call claim", {0xdd, 0x80, 0, 0, 0, 0x90}, 6},
        {"empty", {0}, 0},
    };
    raw r;
    raw_connect(&r, &RAW);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        raw_result res[2];
        uint32_t k = raw_calls(&r, bodies[i].bytes, bodies[i].n, res, 2);
        cr_assert_eq(k, 1, "%s: %u results", bodies[i].what, k);
        cr_assert_eq(res[0].status, -MPM_EPROTO, "%s: status %lld", bodies[i].what,
                     (long long)res[0].status);
        raw_ping(&r); /* the same connection goes on */
    }
    /* an empty batch is fine, not an error */
    raw_result res[1];
    static const unsigned char none[] = {0x90};
    cr_assert_eq(raw_calls(&r, none, 1, res, 1), 0);
    raw_ping(&r);
    raw_close(&r);
    finish();
}

Test(security, malformed_calls_get_an_error_each)
{
    raw r;
    raw_connect(&r, &RAW);
    static const struct {
        const char *what;
        unsigned char bytes[12];
        size_t n;
    } calls[] = {
        {"a call that is an int", {0x91, 0x05}, 2},
        {"a call of one element", {0x91, 0x91, 0x00}, 3},
        {"an empty call", {0x91, 0x90}, 2},
        {"a negative object id", {0x91, 0x92, 0xff, 0x04}, 4},
        {"a string object id", {0x91, 0x92, 0xa1, 'x', 0x04}, 5},
        {"a float method", {0x91, 0x92, 0x00, 0xcb, 0x40, 0x10, 0, 0, 0, 0, 0, 0}, 12},
        {"a nil method", {0x91, 0x92, 0x00, 0xc0}, 4},
        {"an object id above int64",
         {0x91, 0x92, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x04},
         12},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        raw_result res;
        cr_assert_eq(raw_calls(&r, calls[i].bytes, calls[i].n, &res, 1), 1, "%s", calls[i].what);
        cr_assert_eq(res.status, -MPM_EPROTO, "%s: status %lld (%s)", calls[i].what,
                     (long long)res.status, res.msg);
    }
    raw_ping(&r);
    raw_close(&r);
    finish();
}

Test(security, a_malformed_call_does_not_shift_the_calls_after_it)
{
    /* [[[0, 4]], [0, 6]]: call 1 is malformed (one element); call 2 asks for
     * the object count.  The server must not read call 1's insides as call 2. */
    raw r;
    raw_connect(&r, &RAW);
    static const unsigned char b1[] = {0x92, 0x91, 0x92, 0x00, 0x04, 0x92, 0x00, 0x06};
    raw_result res[2];
    cr_assert_eq(raw_calls(&r, b1, sizeof b1, res, 2), 2);
    cr_assert_eq(res[0].status, -MPM_EPROTO);
    cr_assert_eq(res[1].status, 0, "call 2 failed: %s", res[1].msg);
    cr_assert(!val_is_str(&res[1], "pong"),
              "call 2 answered 'pong': the server ran a PING hidden inside the malformed call 1");
    cr_assert_eq(val_int(&res[1]), (int64_t)baseline);
    /* [{0: 4}, [0, 6]] and [["x", 4], [0, 6]]: the same with a map and a bad id */
    static const unsigned char b2[] = {0x92, 0x81, 0x00, 0x04, 0x92, 0x00, 0x06};
    cr_assert_eq(raw_calls(&r, b2, sizeof b2, res, 2), 2);
    cr_assert_eq(res[0].status, -MPM_EPROTO);
    cr_assert_eq(res[1].status, 0, "call 2 after a map failed: %s", res[1].msg);
    static const unsigned char b3[] = {0x92, 0x92, 0x91, 0x00, 0x04, 0x92, 0x00, 0x06};
    cr_assert_eq(raw_calls(&r, b3, sizeof b3, res, 2), 2);
    cr_assert_eq(res[0].status, -MPM_EPROTO);
    cr_assert_eq(res[1].status, 0, "call 2 after a list object id failed: %s", res[1].msg);
    raw_ping(&r);
    raw_close(&r);
    finish();
}

Test(security, bad_calls_get_python_errors_and_change_nothing)
{
    raw r;
    raw_connect(&r, &RAW);
    raw_result res;
    raw_body b;

    /* a dict of this session's own */
    static const unsigned char create[] = {0x91, 0x93, 0x00, 0x01, 0x01}; /* [[0, 1, 1]] */
    EXPECT_ONE(&r, create, sizeof create, 0, res);
    uint64_t id = (uint64_t)val_int(&res);
    uint64_t hid = mpm_handle_id(honest_d);

#define ONE_CALL(obj, op, nargs, packargs, want)                                                   \
    do {                                                                                           \
        raw_body_init(&b, 1);                                                                      \
        raw_body_call(&b, (obj), (op), (nargs));                                                   \
        packargs;                                                                                  \
        EXPECT_ONE(&r, b.b.data, b.b.len, -(want), res);                                           \
        mpmi_buf_free(&b.b);                                                                       \
    } while (0)

    ONE_CALL(999999, MPMI_OP_LEN, 0, (void)0, MPM_ENOOBJ);
    cr_assert_str_eq(res.msg, "no object with id 999999");
    ONE_CALL(0, 99, 0, (void)0, MPM_ENOMETHOD);
    ONE_CALL(id, 99, 0, (void)0, MPM_ENOMETHOD);
    ONE_CALL(id, MPMI_OP_TYPECODE, 0, (void)0, MPM_ENOMETHOD);
    /* wrong argument counts */
    ONE_CALL(id, MPMI_OP_GETITEM, 0, (void)0, MPM_EARGS);
    cr_assert(strncmp(res.msg, "TypeError: ", 11) == 0, "%s", res.msg);
    ONE_CALL(id, MPMI_OP_SETITEM, 3,
             (msgpack_pack_int(&b.pk, 1), msgpack_pack_int(&b.pk, 2), msgpack_pack_int(&b.pk, 3)),
             MPM_EARGS);
    ONE_CALL(id, MPMI_OP_REPR, 1, msgpack_pack_int(&b.pk, 1), MPM_EARGS);
    ONE_CALL(0, MPMI_OP_CREATE, 0, (void)0, MPM_EARGS);
    ONE_CALL(0, MPMI_OP_SLEEP, 0, (void)0, MPM_EARGS);
    ONE_CALL(0, MPMI_OP_PING, 9, for (int i = 0; i < 9; i++) msgpack_pack_int(&b.pk, i), MPM_EARGS);
    /* wrong argument types */
    ONE_CALL(id, MPMI_OP_GETITEM, 1, (msgpack_pack_array(&b.pk, 1), msgpack_pack_int(&b.pk, 1)),
             MPM_ETYPE);
    cr_assert_str_eq(res.msg, "TypeError: unhashable type: 'list'");
    ONE_CALL(id, MPMI_OP_D_UPDATE, 1, msgpack_pack_int(&b.pk, 5), MPM_ETYPE);
    ONE_CALL(id, MPMI_OP_D_UPDATE_FROM, 1, mpmi_pk_str(&b.pk, "x", 1), MPM_ETYPE);
    ONE_CALL(id, MPMI_OP_D_UPDATE_FROM, 1, msgpack_pack_uint64(&b.pk, 424242), MPM_ENOOBJ);
    ONE_CALL(0, MPMI_OP_CREATE, 1, mpmi_pk_str(&b.pk, "dict", 4), MPM_ETYPE);
    ONE_CALL(0, MPMI_OP_CREATE, 1, msgpack_pack_int(&b.pk, 99), MPM_EVALUE);
    ONE_CALL(0, MPMI_OP_CREATE, 2, (msgpack_pack_int(&b.pk, 1), msgpack_pack_int(&b.pk, 5)),
             MPM_ETYPE);
    ONE_CALL(0, MPMI_OP_SLEEP, 1, mpmi_pk_str(&b.pk, "x", 1), MPM_ETYPE);
    ONE_CALL(0, MPMI_OP_SLEEP, 1, msgpack_pack_int(&b.pk, -5), MPM_EVALUE);
    ONE_CALL(0, MPMI_OP_INCREF, 1, mpmi_pk_str(&b.pk, "x", 1), MPM_ETYPE);
    ONE_CALL(0, MPMI_OP_DECREF, 1, msgpack_pack_uint64(&b.pk, 123456), MPM_ENOOBJ);
    ONE_CALL(0, MPMI_OP_TYPEOF, 1, msgpack_pack_uint64(&b.pk, 123456), MPM_ENOOBJ);
    /* a Python error from a real method */
    ONE_CALL(id, MPMI_OP_GETITEM, 1, mpmi_pk_str(&b.pk, "x", 1), MPM_EKEY);
    cr_assert_str_eq(res.msg, "KeyError: 'x'");

    /* another session's object cannot be released from here */
    ONE_CALL(0, MPMI_OP_DECREF, 1, msgpack_pack_uint64(&b.pk, hid), MPM_ENOOBJ);
    /* a DECREF with one bad id releases none of the good ones */
    ONE_CALL(0, MPMI_OP_DECREF, 2,
             (msgpack_pack_uint64(&b.pk, id), msgpack_pack_uint64(&b.pk, 777)), MPM_ENOOBJ);
    size_t n = 0;
    OK(mpm_manager_object_count(honest, &n));
    cr_assert_eq(n, baseline + 1, "a refused call changed the object table");

    /* a batch: a bad call between good ones fails alone */
    raw_body_init(&b, 3);
    raw_body_call(&b, 0, MPMI_OP_PING, 0);
    raw_body_call(&b, 0, 99, 0);
    raw_body_call(&b, id, MPMI_OP_LEN, 0);
    raw_result three[3];
    cr_assert_eq(raw_calls(&r, b.b.data, b.b.len, three, 3), 3);
    mpmi_buf_free(&b.b);
    cr_assert_eq(three[0].status, 0);
    cr_assert_eq(three[1].status, -MPM_ENOMETHOD);
    cr_assert_eq(three[2].status, 0);
    cr_assert_eq(val_int(&three[2]), 0);
    raw_ping(&r);
    raw_close(&r); /* the session's dict goes with it */
    finish();
#undef ONE_CALL
}

Test(security, a_method_the_type_lacks_is_enomethod_with_or_without_arguments)
{
    /* list.append called on a dict: the dict has no such method whatever the
     * arguments, as Python's AttributeError says */
    raw r;
    raw_connect(&r, &RAW);
    raw_result res;
    uint64_t hid = mpm_handle_id(honest_d);
    raw_body b;
    raw_body_init(&b, 1);
    raw_body_call(&b, hid, MPMI_OP_L_APPEND, 0);
    cr_assert_eq(raw_calls(&r, b.b.data, b.b.len, &res, 1), 1);
    mpmi_buf_free(&b.b);
    cr_assert_eq(res.status, -MPM_ENOMETHOD, "no arguments: status %lld (%s)",
                 (long long)res.status, res.msg);
    raw_body_init(&b, 1);
    raw_body_call(&b, hid, MPMI_OP_L_APPEND, 1);
    msgpack_pack_int(&b.pk, 1);
    cr_assert_eq(raw_calls(&r, b.b.data, b.b.len, &res, 1), 1);
    mpmi_buf_free(&b.b);
    cr_assert_eq(res.status, -MPM_ENOMETHOD, "one argument: status %lld (%s)",
                 (long long)res.status, res.msg);
    raw_close(&r);
    finish();
}

Test(security, method_numbers_out_of_range_run_nothing)
{
    /* [[0, 2^32 + 4]] is not PING, [[id, 2^32 + 20]] is not REPR, [[0, -1]] is
     * nothing: each is refused (as an unknown method or a malformed call) */
    raw r;
    raw_connect(&r, &RAW);
    raw_result res;
    raw_body b;
    uint64_t hid = mpm_handle_id(honest_d);
    struct {
        uint64_t obj;
        int64_t op;
    } cases[] = {
        {0, (INT64_C(1) << 32) + MPMI_OP_PING},
        {hid, (INT64_C(1) << 32) + MPMI_OP_REPR},
        {0, -1},
        {hid, -(INT64_C(1) << 32) + MPMI_OP_LEN},
        {0, INT64_MAX},
        {0, INT64_MIN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        raw_body_init(&b, 1);
        raw_body_call(&b, cases[i].obj, cases[i].op, 0);
        cr_assert_eq(raw_calls(&r, b.b.data, b.b.len, &res, 1), 1);
        mpmi_buf_free(&b.b);
        cr_assert(res.status == -MPM_ENOMETHOD || res.status == -MPM_EPROTO,
                  "method %lld on object %llu ran (status %lld%s)", (long long)cases[i].op,
                  (unsigned long long)cases[i].obj, (long long)res.status,
                  val_is_str(&res, "pong") ? ", answered 'pong'" : "");
    }
    raw_ping(&r);
    raw_close(&r);
    finish();
}

Test(security, nesting_deeper_than_32_is_an_error_and_the_connection_lives)
{
    raw r;
    raw_connect(&r, &RAW);
    for (int depth = 33; depth <= 1000; depth += 967) {
        raw_body b;
        raw_body_init(&b, 1);
        raw_body_call(&b, 0, MPMI_OP_PING, 1);
        for (int i = 0; i < depth; i++)
            msgpack_pack_array(&b.pk, 1);
        msgpack_pack_nil(&b.pk);
        raw_result res;
        cr_assert_eq(raw_calls(&r, b.b.data, b.b.len, &res, 1), 1);
        mpmi_buf_free(&b.b);
        cr_assert_eq(res.status, -MPM_EPROTO, "depth %d: status %lld", depth,
                     (long long)res.status);
        raw_ping(&r);
    }
    /* a deep value stored in a dict is refused the same way and stores nothing */
    raw_body b;
    raw_body_init(&b, 1);
    raw_body_call(&b, mpm_handle_id(honest_d), MPMI_OP_SETITEM, 2);
    mpmi_pk_str(&b.pk, "deep", 4);
    for (int i = 0; i < 40; i++)
        msgpack_pack_array(&b.pk, 1);
    msgpack_pack_nil(&b.pk);
    raw_result res;
    cr_assert_eq(raw_calls(&r, b.b.data, b.b.len, &res, 1), 1);
    mpmi_buf_free(&b.b);
    cr_assert_neq(res.status, 0);
    bool in = true;
    OK(mpm_dict_contains(honest_d, MPM_STR("deep"), &in));
    cr_assert(!in);
    raw_close(&r);
    finish();
}

/*---- the loop never waits on one client ---------------------------------------------------*/

Test(security, pipelined_frames_are_answered_in_order)
{
    raw r;
    raw_connect(&r, &RAW);
    unsigned char f[256];
    static const unsigned char sleep50[] = {0x91, 0x93, 0x00, 0x05, 0x32}; /* [[0, 5, 50]] */
    size_t n1 = raw_seal(&r, sleep50, sizeof sleep50, f);
    size_t n2 = raw_seal(&r, PING, sizeof PING, f + n1);
    cr_assert_eq(raw_write_all(r.fd, f, n1 + n2), 0); /* both in one write */
    size_t blen;
    const unsigned char *b = raw_recv(&r, &blen);
    raw_result res;
    cr_assert_eq(raw_parse_reply(b, blen, &res, 1), 1);
    cr_assert_eq(res.status, 0);
    cr_assert_eq(res.vn, 1);
    cr_assert_eq(res.val[0], 0xc0, "the sleep's reply is not None");
    raw_expect_pong(&r);
    raw_close(&r);
    finish();
}

/* Requests held back while replies piled up (over 64 MiB unsent) are served
 * when the replies drain, though nothing more comes from the client.  Its own
 * suite for a longer timeout (~30 s under valgrind): a per-test timeout over a
 * suite's makes Criterion 2.4.1's runner leak 48 bytes, which LeakSanitizer
 * fails. */
TestSuite(security_big, .init = setup, .fini = teardown, .timeout = 120);

Test(security_big, requests_behind_big_replies_are_served)
{
    static unsigned char big_buf[40u << 20];
    const raw_opts big_raw = {sock, KEY, 3000, 20000, big_buf, sizeof big_buf};
    size_t big = 24u << 20;
    char *v = calloc(1, big);
    cr_assert_not_null(v);
    OK(mpm_dict_set(honest_d, MPM_STR("big"), MPM_BYTES(v, big)));
    free(v);
    raw r;
    raw_connect(&r, &big_raw);
    raw_body b;
    raw_body_init(&b, 1);
    raw_body_call(&b, mpm_handle_id(honest_d), MPMI_OP_GETITEM, 1);
    mpmi_pk_str(&b.pk, "big", 3);
    unsigned char f[2048];
    size_t n = 0;
    for (int i = 0; i < 3; i++) /* 72 MiB of replies */
        n += raw_seal(&r, b.b.data, b.b.len, f + n);
    n += raw_seal(&r, PING, sizeof PING, f + n);
    mpmi_buf_free(&b.b);
    cr_assert_eq(raw_write_all(r.fd, f, n), 0); /* and nothing more */
    for (int i = 0; i < 3; i++) {
        size_t blen;
        const unsigned char *p = raw_recv(&r, &blen);
        cr_assert_gt(blen, big, "reply %d: %zu bytes", i, blen);
        (void)p;
    }
    raw_expect_pong(&r);
    raw_close(&r);
    OK(mpm_dict_del(honest_d, MPM_STR("big")));
    finish();
}

/* Replies to frames that came in one write leave together; a forged frame
 * behind two good ones still lets their answers out before the refusal. */
Test(security, answers_before_a_refusal_in_one_write)
{
    raw r;
    raw_connect(&r, &RAW);
    unsigned char f[512];
    size_t n = raw_seal(&r, PING, sizeof PING, f);
    n += raw_seal(&r, PING, sizeof PING, f + n);
    size_t n3 = raw_seal(&r, PING, sizeof PING, f + n);
    f[n + n3 - 1] ^= 1; /* the third one's tag: forged */
    cr_assert_eq(raw_write_all(r.fd, f, n + n3), 0);
    raw_expect_pong(&r);
    raw_expect_pong(&r);
    unsigned char g[256];
    size_t gn;
    cr_assert_eq(raw_recv_frame(r.fd, g, sizeof g, &gn, 3000), 1, "no refusal");
    int kind;
    uint64_t seq;
    cr_assert_eq(mpmi_hdr_read(g, gn, &kind, &seq), 0);
    cr_assert_eq(kind, MPMI_K_REFUSED);
    cr_assert_eq(raw_recv_frame(r.fd, g, sizeof g, &gn, 3000), 0, "not closed after the refusal");
    raw_close(&r);
    finish();
}

Test(security, slow_and_idle_clients_hold_up_nobody)
{
    /* a hello sent one byte at a time still gets its challenge */
    int slow = raw_dial(sock);
    cr_assert_geq(slow, 0);
    unsigned char f[MPMI_LEN_PREFIX + MPMI_HDR_LEN + MPMI_NONCE_LEN];
    mpmi_put_u32(f, MPMI_HDR_LEN + MPMI_NONCE_LEN);
    mpmi_hdr_write(f + 4, MPMI_K_HELLO, 0);
    randombytes_buf(f + 4 + MPMI_HDR_LEN, MPMI_NONCE_LEN);
    for (size_t i = 0; i < sizeof f; i++) {
        cr_assert_eq(raw_write_all(slow, f + i, 1), 0);
        if (i % 8 == 0) OK(mpm_ping(honest));
    }
    unsigned char g[128];
    size_t n;
    cr_assert_eq(raw_recv_frame(slow, g, sizeof g, &n, 3000), 1);
    int kind;
    uint64_t seq;
    cr_assert_eq(mpmi_hdr_read(g, n, &kind, &seq), 0);
    cr_assert_eq(kind, MPMI_K_CHALLENGE);
    /* many idle connections, some mid-handshake, and many dropped at once */
    int idle[64];
    for (int i = 0; i < 64; i++) {
        idle[i] = raw_dial(sock);
        cr_assert_geq(idle[i], 0);
        if (i % 2) cr_assert_eq(raw_write_all(idle[i], f, 10), 0);
    }
    int64_t t0 = now_ms();
    for (int i = 0; i < 20; i++)
        OK(mpm_ping(honest));
    cr_assert_lt(now_ms() - t0, 2000);
    for (int i = 0; i < 64; i++)
        close(idle[i]);
    close(slow);
    for (int i = 0; i < 200; i++) {
        int fd = raw_dial(sock);
        cr_assert_geq(fd, 0);
        close(fd);
    }
    finish();
}

/* CPU time (user + system, in clock ticks) a process has used. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* fields after the command name */
    if (!p) return -1;
    long utime = 0, stime = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) != 2)
        return -1;
    return utime + stime;
}

Test(security, running_out_of_descriptors_does_not_spin_or_stop_the_server)
{
    /* A second server limited to 32 descriptors; 60 clients connect and say
     * nothing.  The server must keep serving the client it has, must not
     * spin on the listener it cannot accept from, and must accept again once
     * the idle clients go. */
    char sock2[160], url2[200];
    snprintf(sock2, sizeof sock2, "%s/s2", dir);
    snprintf(url2, sizeof url2, "unix://%s", sock2);
    char mpmd[PATH_MAX];
    t_mpmd_path(mpmd, sizeof mpmd);
    pid_t parent = getpid();
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        execl(mpmd, "mpmd", "--listen", url2, "--authkey-file", keyfile, "--quiet", (char *)NULL);
        _exit(127);
    }
    int64_t end = now_ms() + 5000;
    int fd;
    while ((fd = raw_dial(sock2)) < 0 && now_ms() < end)
        sleep_ms(10);
    cr_assert_geq(fd, 0, "the second mpmd did not start");
    close(fd);
    /* limit it from here: a limit set in the child before exec would be
     * virtualised away when the test runs under valgrind */
    struct rlimit rl = {32, 32};
    cr_assert_eq(prlimit(p, RLIMIT_NOFILE, &rl, NULL), 0, "prlimit: %s", strerror(errno));
    mpm_manager *h2 = NULL;
    int rc = mpm_connect(&h2, url2, KEY, strlen(KEY));
    cr_assert_eq(rc, 0, "%s", mpm_last_error());

    enum { IDLE = 60 };
    int idle[IDLE];
    for (int i = 0; i < IDLE; i++) {
        idle[i] = raw_dial(sock2);
        cr_assert_geq(idle[i], 0, "connect %d failed", i);
    }
    sleep_ms(200);
    long t0 = cpu_ticks(p);
    int64_t w0 = now_ms();
    sleep_ms(1000);
    long used = cpu_ticks(p) - t0;
    int64_t wall = now_ms() - w0;
    long hz = sysconf(_SC_CLK_TCK);
    rc = mpm_ping(h2);
    for (int i = 0; i < IDLE; i++)
        close(idle[i]);
    int alive = waitpid(p, NULL, WNOHANG) == 0;
    cr_expect(alive, "the server died when it ran out of descriptors");
    cr_expect_eq(rc, 0, "the connected client stopped working: %s", mpm_last_error());
    cr_expect_lt(used * 1000 / hz, wall / 4,
                 "the server burnt %ld ms of CPU in %lld ms while it could not accept",
                 used * 1000 / hz, (long long)wall);
    /* once the idle clients are gone, new ones get in */
    mpm_manager *h3 = NULL;
    end = now_ms() + 3000;
    while ((rc = mpm_connect(&h3, url2, KEY, strlen(KEY))) != 0 && now_ms() < end)
        sleep_ms(50);
    cr_expect_eq(rc, 0, "no new client gets in after the idle ones left: %s", mpm_last_error());
    mpm_manager_close(h3);
    mpm_manager_close(h2);
    kill(p, SIGTERM);
    int st = 0;
    end = now_ms() + 3000;
    while (waitpid(p, &st, WNOHANG) == 0 && now_ms() < end)
        sleep_ms(10);
    if (now_ms() >= end) {
        kill(p, SIGKILL);
        waitpid(p, &st, 0);
    }
    unlink(sock2);
    finish();
}

/*---- the client's half of the mutual handshake ------------------------------------------------*/

/* A fake server on its own socket: mode 0 proves nothing (it has no key);
 * mode 1 has the key but answers with frames sealed under another key; mode
 * 2 has the key, answers one call honestly, then replays that answer. */
static void fake_server(int lfd, int mode)
{
    unsigned char f[512], cn[MPMI_NONCE_LEN], sn[MPMI_NONCE_LEN], tok[MPMI_TOKEN_LEN], *body;
    size_t n, blen;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) _exit(2);
    if (raw_recv_frame(fd, f, sizeof f, &n, 5000) != 1 || n != MPMI_HDR_LEN + MPMI_NONCE_LEN)
        _exit(3);
    memcpy(cn, f + MPMI_HDR_LEN, sizeof cn);
    int offer = mpmi_hdr_cipher(f), cipher = mpmi_cipher_pick(offer);
    if (cipher < 0) _exit(8);
    randombytes_buf(sn, sizeof sn);
    mpmi_hdr_write(f, MPMI_K_CHALLENGE, 0);
    mpmi_hdr_set_cipher(f, cipher);
    memcpy(f + MPMI_HDR_LEN, sn, sizeof sn);
    if (raw_send_frame(fd, f, MPMI_HDR_LEN + MPMI_NONCE_LEN)) _exit(4);
    if (raw_recv_frame(fd, f, sizeof f, &n, 5000) != 1) _exit(5);
    memcpy(tok, f + MPMI_HDR_LEN + MPMI_MAC_LEN, sizeof tok);
    mpmi_hdr_write(f, MPMI_K_WELCOME, 0);
    if (mode == 0)
        randombytes_buf(f + MPMI_HDR_LEN, MPMI_MAC_LEN);
    else
        mpmi_proof(f + MPMI_HDR_LEN, KEY, strlen(KEY), "mpm1 server", cn, sn, tok);
    mpmi_put_u64(f + MPMI_HDR_LEN + MPMI_MAC_LEN, 1);
    if (raw_send_frame(fd, f, MPMI_HDR_LEN + MPMI_MAC_LEN + 8)) _exit(6);
    mpmi_chan ch;
    mpmi_chan_init_cipher(&ch, mode == 1 ? "forger" : KEY, mode == 1 ? 6 : strlen(KEY), cn, sn, 1,
                          offer, cipher);
    mpmi_chan in;
    mpmi_chan_init_cipher(&in, KEY, strlen(KEY), cn, sn, 1, offer, cipher);
    unsigned char saved[128];
    size_t saved_n = 0;
    static const unsigned char pong[] = {0x91, 0x92, 0x00, 0xa4, 'p', 'o', 'n', 'g'};
    for (int call = 0; raw_recv_frame(fd, f, sizeof f, &n, 5000) == 1; call++) {
        if (mpmi_open(&in, f, n, &body, &blen)) _exit(7);
        if (mode == 2 && call > 0) {
            raw_send_frame(fd, saved, saved_n); /* the first answer again */
            continue;
        }
        memcpy(f + MPMI_HDR_LEN, pong, sizeof pong);
        n = mpmi_seal(&ch, f, sizeof pong);
        memcpy(saved, f, n);
        saved_n = n;
        raw_send_frame(fd, f, n);
    }
    _exit(0);
}

static pid_t fake_start(const char *path, int mode)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(lfd, 0);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(lfd, 4), 0);
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fake_server(lfd, mode);
    }
    close(lfd);
    return p;
}

static void fake_stop(pid_t p, const char *path)
{
    int st;
    int64_t end = now_ms() + 3000;
    while (waitpid(p, &st, WNOHANG) == 0 && now_ms() < end)
        sleep_ms(10);
    kill(p, SIGKILL);
    waitpid(p, &st, 0);
    unlink(path);
}

Test(security, client_refuses_a_server_that_cannot_prove_the_key)
{
    char path[160], furl[200];
    snprintf(path, sizeof path, "%s/fake0", dir);
    snprintf(furl, sizeof furl, "unix://%s", path);
    pid_t p = fake_start(path, 0);
    mpm_manager *m = NULL;
    int rc = mpm_connect(&m, furl, KEY, strlen(KEY));
    fake_stop(p, path);
    cr_assert_eq(rc, MPM_EAUTH, "connected to a server without the key: %d %s", rc,
                 mpm_last_error());
    cr_assert_null(m);
    finish();
}

Test(security, client_refuses_forged_and_replayed_replies)
{
    char path[160], furl[200];
    snprintf(path, sizeof path, "%s/fake1", dir);
    snprintf(furl, sizeof furl, "unix://%s", path);
    pid_t p = fake_start(path, 1);
    mpm_manager *m = NULL;
    OK(mpm_connect(&m, furl, KEY, strlen(KEY)));
    int rc = mpm_ping(m);
    mpm_manager_close(m);
    fake_stop(p, path);
    cr_assert_eq(rc, MPM_EPROTO, "accepted a reply sealed under another key: %d %s", rc,
                 mpm_last_error());

    snprintf(path, sizeof path, "%s/fake2", dir);
    snprintf(furl, sizeof furl, "unix://%s", path);
    p = fake_start(path, 2);
    OK(mpm_connect(&m, furl, KEY, strlen(KEY)));
    OK(mpm_ping(m)); /* the honest first answer */
    rc = mpm_ping(m);
    mpm_manager_close(m);
    fake_stop(p, path);
    cr_assert_eq(rc, MPM_EPROTO, "accepted a replayed reply: %d %s", rc, mpm_last_error());
    finish();
}

Test(security, connect_errors_are_named)
{
    mpm_manager *m = NULL;
    char nowhere[200];
    snprintf(nowhere, sizeof nowhere, "unix://%s/nobody-listens", dir);
    cr_assert_eq(mpm_connect(&m, nowhere, KEY, strlen(KEY)), MPM_ECONNREFUSED);
    cr_assert_null(m);
    cr_assert_eq(mpm_connect(&m, "carrier-pigeon://x", KEY, strlen(KEY)), MPM_EADDR);
    cr_assert_eq(mpm_connect(&m, "unix://", KEY, strlen(KEY)), MPM_EADDR);
    unsetenv("MPM_ADDRESS"); /* a NULL url means $MPM_ADDRESS */
    cr_assert_eq(mpm_connect(&m, NULL, KEY, strlen(KEY)), MPM_EADDR);
    cr_assert(strstr(mpm_last_error(), "MPM_ADDRESS") != NULL, "%s", mpm_last_error());
    cr_assert_eq(mpm_connect(NULL, url, KEY, strlen(KEY)), MPM_EINVAL);
    finish();
}

/*---- random calls ------------------------------------------------------------------*/

#ifndef FUZZ_N
#define FUZZ_N 3000
#endif
static uint64_t fuzz_state;

static uint64_t fuzz_next(void)
{
    /* splitmix64: seeded, so a failure replays */
    uint64_t z = (fuzz_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fuzz_value(msgpack_packer *pk, int depth)
{
    static const int64_t ints[] = {0, 1, -1, 2, 7, 100, -129, 255, 65536, INT32_MAX,
                                   INT32_MIN, INT64_MAX, INT64_MIN, 1LL << 40};
    static const char *strs[] = {"", "k", "x", "a\"b'c", "\xff\xfe", "name", "_hidden"};
    switch (fuzz_next() % (depth < 3 ? 11 : 8)) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: fuzz_next() & 1 ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case 2:
    case 3: msgpack_pack_int64(pk, ints[fuzz_next() % (sizeof ints / sizeof ints[0])]); break;
    case 4: msgpack_pack_uint64(pk, UINT64_MAX - fuzz_next() % 3); break;
    case 5: msgpack_pack_double(pk, (double)(int64_t)fuzz_next() / 1e9); break;
    case 6: {
        const char *s = strs[fuzz_next() % (sizeof strs / sizeof strs[0])];
        mpmi_pk_str(pk, s, strlen(s));
        break;
    }
    case 7: msgpack_pack_bin(pk, 3); msgpack_pack_bin_body(pk, "\0\1\2", 3); break;
    case 8:
    case 9: {
        uint32_t n = fuzz_next() % 4;
        msgpack_pack_array(pk, n);
        for (uint32_t i = 0; i < n; i++) fuzz_value(pk, depth + 1);
        break;
    }
    default: {
        uint32_t n = fuzz_next() % 3;
        msgpack_pack_map(pk, n);
        for (uint32_t i = 0; i < 2 * n; i++) fuzz_value(pk, depth + 1);
        break;
    }
    }
}

/* Calls that could wait are left out: a random one could park for good. */
static int fuzz_blocking(int64_t op)
{
    static const int64_t ops[] = {5, 7, 100, 110, 123, 130, 140, 141, 142, 143, 148};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (ops[i] == op) return 1;
    return 0;
}

Test(security, random_authenticated_calls_on_every_type_change_nothing_they_must_not)
{
    /* objects of every type, held by a second client: random calls may change
     * them, but never the honest client's dict, the server's health or its
     * bookkeeping (object count back to the baseline once they are closed) */
    mpm_manager *m2;
    OK(mpm_connect(&m2, url, KEY, strlen(KEY)));
    void *objs[14];
    mpm_val items[] = {MPM_INT(1), MPM_STR("a")};
    OK(mpm_dict_new(m2, (mpm_dict **)&objs[0]));
    OK(mpm_list_new_from(m2, (mpm_list **)&objs[1], MPM_LIST(items, 2)));
    OK(mpm_namespace_new(m2, (mpm_namespace **)&objs[2]));
    OK(mpm_value_new(m2, (mpm_value **)&objs[3], 'i', MPM_INT(5)));
    OK(mpm_array_new_zeroed(m2, (mpm_array **)&objs[4], 'd', 4));
    OK(mpm_lock_new(m2, (mpm_lock **)&objs[5]));
    OK(mpm_rlock_new(m2, (mpm_rlock **)&objs[6]));
    OK(mpm_semaphore_new(m2, (mpm_semaphore **)&objs[7], 2, false));
    OK(mpm_semaphore_new(m2, (mpm_semaphore **)&objs[8], 2, true));
    OK(mpm_condition_new(m2, (mpm_condition **)&objs[9], NULL));
    OK(mpm_event_new(m2, (mpm_event **)&objs[10]));
    OK(mpm_barrier_new(m2, (mpm_barrier **)&objs[11], 3, -1));
    OK(mpm_queue_new(m2, (mpm_queue **)&objs[12], 4));
    OK(mpm_joinable_queue_new(m2, (mpm_queue **)&objs[13], 0));

    fuzz_state = 20261122;
    raw r;
    raw_connect(&r, &RAW);
    for (int i = 0; i < FUZZ_N; i++) {
        raw_body b;
        uint32_t ncalls = 1 + fuzz_next() % 4;
        raw_body_init(&b, ncalls);
        for (uint32_t k = 0; k < ncalls; k++) {
            uint64_t id = fuzz_next() % 8 == 0 ? fuzz_next() % 50
                                               : mpm_handle_id(objs[fuzz_next() % 14]);
            if (id == mpm_handle_id(honest_d)) id = 0;
            int64_t op;
            do op = fuzz_next() % 8 == 0 ? (int64_t)(fuzz_next() % 300) - 20
                                         : (int64_t)(1 + fuzz_next() % 150);
            while (fuzz_blocking(op));
            uint32_t nargs = fuzz_next() % 5;
            raw_body_call(&b, id, op, nargs);
            for (uint32_t a = 0; a < nargs; a++) fuzz_value(&b.pk, 1);
        }
        size_t blen;
        const unsigned char *body = raw_call(&r, b.b.data, b.b.len, &blen);
        mpmi_rd rd;
        mpmi_item it;
        mpmi_rd_init(&rd, body, blen);
        cr_assert_eq(mpmi_rd_next(&rd, &it), 0, "request %d: unreadable reply", i);
        cr_assert_eq(it.type, MPMI_ARRAY, "request %d: the reply is not an array", i);
        cr_assert_eq(it.v.n, ncalls, "request %d: %u results for %u calls", i, it.v.n, ncalls);
        mpmi_buf_free(&b.b);
        if (i % 500 == 0) OK(mpm_ping(honest));
    }
    raw_close(&r);
    for (int i = 0; i < 14; i++) mpm_handle_close(objs[i]);
    mpm_manager_close(m2);
    finish();
}

/*---- deferred work must not be lost ------------------------------------------------------*/

static mpm_lock *sec_y;
static volatile int sec_v_rc = 1;

static void *sec_waiter(void *arg)
{
    (void)arg;
    sec_v_rc = mpm_lock_acquire(sec_y, -1, NULL);
    return NULL;
}

/* A client that speaks the wire may put an acquire and a release in one
 * request.  Raw client R holds lock Y, a thread V waits for Y, R parks on X
 * in a request [ACQUIRE X, RELEASE Y], and X is released: mpmd runs X's
 * (deferred) hand-off to R, which goes on with RELEASE Y, deferring Y's
 * hand-off to V.  mpmd must not then sleep with that work undone. */
Test(security, a_hand_off_deferred_while_deferred_work_runs_is_not_lost)
{
    mpm_lock *x;
    OK(mpm_lock_new(honest, &x));
    OK(mpm_lock_new(honest, &sec_y));
    uint64_t xid = mpm_handle_id(x), yid = mpm_handle_id(sec_y);
    raw r;
    raw_connect(&r, &RAW);
    raw_body b;
    raw_result res[2];
    size_t blen;
    raw_body_init(&b, 1); /* R takes Y */
    raw_body_call(&b, yid, MPMI_OP_ACQUIRE, 2);
    msgpack_pack_int(&b.pk, 7);
    msgpack_pack_int(&b.pk, -1);
    const unsigned char *p = raw_call(&r, b.b.data, b.b.len, &blen);
    cr_assert_eq(raw_parse_reply(p, blen, res, 2), 1);
    cr_assert_eq(res[0].status, 0, "%s", res[0].msg);
    mpmi_buf_free(&b.b);

    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, sec_waiter, NULL), 0);
    sleep_ms(200); /* V waits for Y */
    OK(mpm_lock_acquire(x, -1, NULL));
    raw_body_init(&b, 2);
    raw_body_call(&b, xid, MPMI_OP_ACQUIRE, 2);
    msgpack_pack_int(&b.pk, 7);
    msgpack_pack_int(&b.pk, -1);
    raw_body_call(&b, yid, MPMI_OP_RELEASE, 1);
    msgpack_pack_int(&b.pk, 7);
    raw_send(&r, b.b.data, b.b.len);
    mpmi_buf_free(&b.b);
    sleep_ms(200); /* R parked on X */
    OK(mpm_lock_release(x));
    p = raw_recv(&r, &blen);
    cr_assert_eq(raw_parse_reply(p, blen, res, 2), 2);
    cr_assert_eq(res[0].status, 0, "acquire X: %s", res[0].msg);
    cr_assert_eq(res[1].status, 0, "release Y: %s", res[1].msg);

    int64_t end = now_ms() + 3000;
    while (sec_v_rc == 1 && now_ms() < end)
        sleep_ms(5);
    int hung = sec_v_rc == 1;
    raw r2;
    if (hung) raw_connect(&r2, &RAW); /* an unrelated event wakes mpmd: the test can end */
    pthread_join(t, NULL);
    if (hung) raw_close(&r2);
    raw_close(&r);
    cr_assert(!hung, "a waiter for a free lock waited 3 s: a deferred hand-off was never run");
    cr_assert_eq(sec_v_rc, 0);
    OK(mpm_lock_release(sec_y));
    mpm_lock_close(x);
    mpm_lock_close(sec_y);
}
