/* client.c - libmpm's connection: connect and handshake, one call or a batch
 * per frame, fork detection, handles, the private manager. */
#define _GNU_SOURCE
#include "client.h"

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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../protocol/spin.h"
#include "transport.h"

#ifndef MPM_MPMD_BUILD_PATH
#define MPM_MPMD_BUILD_PATH ""
#endif

/* Frame buffer: [4 length][16 header] then the body. */
#define REQ_OFF (MPMI_LEN_PREFIX + MPMI_HDR_LEN)

/*---- per-thread state: last error, open batch ----------------------------*/

static __thread char client_errmsg[512];

typedef struct client_batch {
    mpm_manager *m;
    mpmi_buf body; /* packed calls */
    msgpack_packer pk;
    uint32_t n;
    mpmi_sink *sinks;
    size_t cap;
    int failed; /* a call could not even be packed */
} client_batch;

static __thread client_batch *client_tls_batch;
/* This thread's handle close whose reply is not read yet: its next call on
 * that manager must not overtake it (see client_decref_nowait). */
static __thread mpm_manager *client_tls_pend_m;
static __thread mpmi_cconn *client_tls_pend_c;

int mpmi_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(client_errmsg, sizeof client_errmsg, fmt, ap);
    va_end(ap);
    return code;
}

const char *mpm_last_error(void)
{
    return client_errmsg;
}

/* getpid() is a system call; fork detection asks on every call.  Cache it,
 * refreshed in the child by an atfork handler. */
static pid_t client_pid;
static pthread_once_t client_pid_once = PTHREAD_ONCE_INIT;

static pthread_mutex_t client_fork_mu = PTHREAD_MUTEX_INITIALIZER;

/* The client's longest poll (client_spin_limit below), -1 until asked. */
static int client_spin_max = -1;
/* This process may use one CPU only: poll yielding (client_spin_limit). */
static int client_one_cpu;

static void client_pid_child(void)
{
    client_pid = getpid();
    client_spin_max = -1; /* a child may be given other CPUs: ask again */
    pthread_mutex_init(&client_fork_mu, NULL);
}

static void client_pid_init(void)
{
    client_pid = getpid();
    pthread_atfork(NULL, NULL, client_pid_child);
}

static pid_t client_getpid(void)
{
    pthread_once(&client_pid_once, client_pid_init);
    return client_pid;
}

uint64_t mpmi_thread_id(void)
{
    static uint64_t next;
    static __thread uint64_t mine;
    if (!mine) mine = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
    return mine;
}

int mpmi_check(const void *h)
{
    if (!h) return mpmi_error(MPM_EINVAL, "ValueError: NULL handle");
    return 0;
}

/*---- connecting ----------------------------------------------------------*/

static int client_parse_url(mpm_manager *m, const char *url)
{
    static const struct {
        const char *prefix;
        int kind;
    } kinds[] = {
        {"unix://", MPMI_TR_UNIX},
        {"tcp://", MPMI_TR_TCP},
        {"nng+ipc://", MPMI_TR_NNG_IPC},
        {"nng+tcp://", MPMI_TR_NNG_TCP},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncmp(url, kinds[i].prefix, n) == 0 && url[n]) {
            m->kind = kinds[i].kind;
            m->rest = url + n;
            return 0;
        }
    }
    return mpmi_error(MPM_EADDR, "bad address '%s' (want unix:///path, tcp://host:port, "
                                 "nng+ipc:///path or nng+tcp://host:port)", url);
}

/* How long connecting and the handshake may take in all (ms):
 * $MPM_CONNECT_TIMEOUT_MS (-1 or 0: no bound), else as long as mpmd gives a
 * handshake.  Without a bound, an address whose listener accepts but never
 * answers (a hung or foreign server) would hold mpm_connect, or the first
 * call of a thread or forked child, forever. */
static int client_connect_ms(void)
{
    const char *e = getenv("MPM_CONNECT_TIMEOUT_MS");
    char *end;
    long v = e && *e ? strtol(e, &end, 10) : 10000;
    if (e && *e && *end) v = 10000; /* not a number: the default */
    return v <= 0 ? 0 : v > 3600000 ? 3600000 : (int)v;
}

static int64_t client_now_us(void);

/* Bound fd's blocking connect, sends and receives by what is left of c's
 * connecting time (us <= 0 of it left: -1), or unbind them (c not
 * connecting or no bound). */
static int client_fd_deadline(mpmi_cconn *c, int fd)
{
    int64_t left = 0;
    if (c->hs_deadline) {
        left = c->hs_deadline - client_now_us();
        if (left <= 0) return -1;
    }
    struct timeval tv = {(time_t)(left / 1000000), (suseconds_t)(left % 1000000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return 0;
}

/* What is left of c's connecting time, for poll(): -1 no bound, 0 none. */
static int client_left_ms(const mpmi_cconn *c)
{
    if (!c->hs_deadline) return -1;
    int64_t left = c->hs_deadline - client_now_us();
    return left <= 0 ? 0 : (int)((left + 999) / 1000);
}

static int client_too_slow(mpmi_cconn *c)
{
    return mpmi_error(MPM_ECONNREFUSED, "cannot connect to %s: no answer within %d ms", c->m->url,
                      client_connect_ms());
}

/* connect() within c's connecting time: 0 or an errno (ETIMEDOUT). */
static int client_connect_fd(mpmi_cconn *c, int fd, const struct sockaddr *sa, socklen_t len)
{
    if (client_fd_deadline(c, fd)) return ETIMEDOUT;
    if (connect(fd, sa, len) == 0) return 0;
    int e = errno;
    if (e == EINTR) {
        /* the connection goes on: wait for it (a signal is not a refusal) */
        for (;;) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int ms = client_left_ms(c);
            if (ms == 0) return ETIMEDOUT;
            int r = poll(&p, 1, ms);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return r == 0 ? ETIMEDOUT : errno;
            socklen_t el = sizeof e;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el)) return errno;
            return e;
        }
    }
    return e == EINPROGRESS || e == EAGAIN ? ETIMEDOUT : e; /* SO_SNDTIMEO ran out */
}

static int client_connect_failed(mpmi_cconn *c, int e)
{
    if (e == ETIMEDOUT) return client_too_slow(c);
    return mpmi_error(MPM_ECONNREFUSED, "cannot connect to %s: %s", c->m->url, strerror(e));
}

static int client_dial_stream(mpmi_cconn *c)
{
    mpm_manager *m = c->m;
    int fd = -1;
    if (m->kind == MPMI_TR_UNIX || m->kind == MPMI_TR_NNG_IPC) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(m->rest) >= sizeof sa.sun_path)
            return mpmi_error(MPM_EADDR, "unix socket path too long");
        strcpy(sa.sun_path, m->rest);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return mpmi_error(MPM_ESYS, "socket: %s", strerror(errno));
        int e = client_connect_fd(c, fd, (struct sockaddr *)&sa, sizeof sa);
        if (e) {
            close(fd);
            return client_connect_failed(c, e);
        }
    } else {
        char host[256], port[32];
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *a;
        if (mpmi_split_hostport(m->rest, host, sizeof host, port, sizeof port))
            return mpmi_error(MPM_EADDR, "bad tcp address '%s' (want %s://host:port)", m->url,
                              m->kind == MPMI_TR_TCP ? "tcp" : "nng+tcp");
        int rc = getaddrinfo(host, port, &hints, &ai);
        if (rc) return mpmi_error(MPM_EADDR, "cannot resolve '%s': %s", host, gai_strerror(rc));
        int e = ECONNREFUSED;
        for (a = ai; a; a = a->ai_next) {
            fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) continue;
            if ((e = client_connect_fd(c, fd, a->ai_addr, a->ai_addrlen)) == 0) break;
            close(fd);
            fd = -1;
        }
        freeaddrinfo(ai);
        if (fd < 0) return client_connect_failed(c, e);
        mpmi_tcp_tune(fd);
    }
    c->fd = fd;
    if (MPMI_TR_IS_SP(m->kind)) {
        /* the protocol headers go with the first request and its reply */
        c->sp_hdr_out = c->sp_hdr_in = 1;
        c->sp_send_id = c->sp_recv_id = 0x80000000u | (randombytes_random() & 0x7fffffffu);
    }
    return 0;
}

static int stream_write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int stream_write_all_fd(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Send one frame over nng's wire: [type 1 (ipc)] length (8 bytes, big
 * endian), the request id (4 bytes, top bit set), the frame. */
static int client_sp_send(mpmi_cconn *c, unsigned char *frame, size_t len)
{
    static const unsigned char hdr[MPMI_SP_HDR_LEN] = {0, 'S', 'P', 0, 0, MPMI_SP_PROTO_REQ, 0, 0};
    unsigned char pre[MPMI_SP_HDR_LEN + 13];
    size_t n = 0;
    if (c->sp_hdr_out) {
        memcpy(pre, hdr, MPMI_SP_HDR_LEN);
        n = MPMI_SP_HDR_LEN;
    }
    if (c->m->kind == MPMI_TR_NNG_IPC) pre[n++] = 1;
    mpmi_put_be64(pre + n, 4 + (uint64_t)len);
    n += 8;
    uint32_t id = c->sp_send_id;
    c->sp_send_id = (id + 1) | 0x80000000u;
    mpmi_put_be32(pre + n, id);
    n += 4;
    struct iovec iov[2] = {{pre, n}, {frame, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    size_t left = n + len;
    while (left) {
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return mpmi_error(MPM_ECLOSED, "connection to %s lost", c->m->url);
        left -= (size_t)w;
        while (mh.msg_iovlen && (size_t)w >= mh.msg_iov->iov_len) {
            w -= (ssize_t)mh.msg_iov->iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen) {
            mh.msg_iov->iov_base = (unsigned char *)mh.msg_iov->iov_base + w;
            mh.msg_iov->iov_len -= (size_t)w;
        }
    }
    c->sp_hdr_out = 0;
    return 0;
}

/* Send one frame (4 bytes of room precede it). */
static int client_send(mpmi_cconn *c, unsigned char *frame, size_t len)
{
    if (MPMI_TR_IS_SP(c->m->kind)) return client_sp_send(c, frame, len);
    mpmi_put_u32(frame - MPMI_LEN_PREFIX, (uint32_t)len);
    if (stream_write_all(c->fd, frame - MPMI_LEN_PREFIX, len + MPMI_LEN_PREFIX))
        return mpmi_error(MPM_ECLOSED, "connection to %s lost", c->m->url);
    return 0;
}

/* Waking a sleeping CPU costs tens of microseconds on VMs, more than a whole
 * call; a reply that comes back within a few microseconds is better caught
 * awake.  So before sleeping in recv, poll for a short while, as long as
 * recent replies came back in time: the window doubles on a catch and halves
 * on a miss, and a reply that woke us soon after polling gave up widens it to
 * what would have caught it (spin.h); between 0 and MPM_SPIN_US.  A process
 * allowed one CPU only yields between looks (client_one_cpu): the server may
 * share that CPU and must run for the reply to come (mpmd does the same). */
static int client_spin_limit(void)
{
    if (client_spin_max < 0) {
        cpu_set_t set;
        const char *e = getenv("MPM_SPIN_US");
        int lim = e ? atoi(e) : 50;
        client_one_cpu = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < 2;
        client_spin_max = lim < 0 ? 0 : lim;
    }
    return client_spin_max;
}

static int64_t client_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A thread whose calls keep finding its CPU shared (client_spin_recv) moves
 * to another of its CPUs, once in a while: when the scheduler has placed it
 * on mpmd's CPU while another CPU idles (a waiter woken by mpmd is often put
 * there), the two take turns on one CPU, each call costing two context
 * switches, for many milliseconds before the load balancer parts them.
 * Leaving that CPU out of its affinity moves it at once; the affinity is put
 * back as it was straight after.  Where every CPU is busy a move gains
 * nothing: the wait between moves doubles while moves do not end the
 * crowding, up to a second. */
#define CLIENT_CROWDED_CALLS 32
#define CLIENT_MOVE_GAP_MIN_US 2000
#define CLIENT_MOVE_GAP_MAX_US 1000000
static __thread unsigned client_crowd_streak;
static __thread int64_t client_move_after_us, client_move_gap_us = CLIENT_MOVE_GAP_MIN_US;

static void client_crowded(int crowded, int64_t now)
{
    if (!crowded) {
        if (client_crowd_streak >= CLIENT_CROWDED_CALLS)
            client_move_gap_us = CLIENT_MOVE_GAP_MIN_US;
        client_crowd_streak = 0;
        return;
    }
    if (++client_crowd_streak < CLIENT_CROWDED_CALLS || now < client_move_after_us) return;
    client_crowd_streak = 0;
    client_move_after_us = now + client_move_gap_us;
    if (client_move_gap_us < CLIENT_MOVE_GAP_MAX_US) client_move_gap_us *= 2;
    cpu_set_t all, other;
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof all, &all)) return;
    other = all;
    CPU_CLR(cpu, &other);
    if (CPU_COUNT(&other) == 0 || sched_setaffinity(0, sizeof other, &other)) return;
    sched_setaffinity(0, sizeof all, &all);
}

/* Returns what recv returned, or -2: nothing yet, block. */
static ssize_t client_spin_recv(mpmi_cconn *c, int64_t *t0)
{
    int lim = client_spin_limit();
    if (lim == 0) return -2;
    if (c->spin_us == 0) c->spin_us = lim;
    *t0 = client_now_us();
    int64_t end = *t0 + c->spin_us;
    /* Yield first: if mpmd (or another process) is waiting for this CPU,
     * polling would only keep it from the reply.  With nobody waiting the
     * yield returns at once (~1 µs, while mpmd works on the request); if it
     * took longer, somebody ran: this CPU is crowded (more processes than
     * CPUs), so go on yielding instead of spinning; so too on a process's
     * only CPU, which the server may share. */
    sched_yield();
    int64_t now = client_now_us();
    int crowded = client_one_cpu || now - *t0 > 3;
    if (!client_one_cpu) client_crowded(crowded, now);
    do {
        ssize_t r = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, MSG_DONTWAIT);
        if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            if (c->spin_us < lim) c->spin_us = c->spin_us * 2 > lim ? lim : c->spin_us * 2;
            return r;
        }
        if (crowded)
            sched_yield();
        else
            __builtin_ia32_pause();
    } while (client_now_us() < end);
    return -2;
}

/* After sleeping for a reply: had it come within the longest window, polling
 * would have caught it, so widen; otherwise narrow. */
static void client_spin_learn(mpmi_cconn *c, int64_t t0)
{
    int lim = client_spin_limit();
    if (lim == 0 || t0 == 0) return;
    if (!mpmi_spin_widen(&c->spin_us, lim, client_now_us() - t0) && c->spin_us > 1) c->spin_us /= 2;
}

/* Sleep until the server's bytes come, and read them (what recv returns).
 * Over a unix socket the wait is poll(), not a blocking recv: the kernel
 * wakes a process asleep in a unix socket's recv whenever the peer reads what
 * it sent (the space freed is announced on the same wait queue, and recv's
 * waiter does not tell the two apart), so a client blocked in recv was woken
 * once per call for nothing, two context switches more on one CPU.  poll's
 * waiter wakes for input only.  (TCP announces freed space only to a blocked
 * writer: one blocking recv is the cheaper wait there.) */
static ssize_t client_wait_recv(mpmi_cconn *c)
{
    void *p = c->in.data + c->in.len;
    size_t n = c->in.cap - c->in.len;
    int k = c->m->kind;
    if (k != MPMI_TR_UNIX && k != MPMI_TR_NNG_IPC) return recv(c->fd, p, n, 0);
    for (;;) {
        int ms = client_left_ms(c);
        if (ms == 0) {
            errno = EAGAIN; /* connecting took too long */
            return -1;
        }
        struct pollfd pf = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pf, 1, ms);
        if (r < 0) return -1; /* EINTR: the caller goes round again */
        if (r == 0) continue; /* the deadline, seen above */
        ssize_t got = recv(c->fd, p, n, MSG_DONTWAIT);
        if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return got;
    }
}

/* Receive one frame into c->in: *frame points at its header.  Bytes past the
 * frame (the next pipelined reply) stay in c->in for the next call.  Over
 * nng's wire the server's protocol header comes before the first reply, and
 * each reply carries back the id of its request (replies come in order). */
static int client_recv(mpmi_cconn *c, unsigned char **frame, size_t *len)
{
    static const unsigned char rep_hdr[MPMI_SP_HDR_LEN] = {0, 'S', 'P', 0, 0, MPMI_SP_PROTO_REP,
                                                           0, 0};
    int sp = MPMI_TR_IS_SP(c->m->kind);
    /* what precedes the frame: its length; over nng's wire also the type
     * byte (ipc) and the request id */
    size_t pre = !sp ? MPMI_LEN_PREFIX : c->m->kind == MPMI_TR_NNG_IPC ? 13 : 12;
    size_t want = 0; /* the frame and what precedes it, once known */
    mpmi_buf_consume(&c->in, c->in_used);
    c->in_used = 0;
    if (mpmi_buf_reserve(&c->in, 16384)) return mpmi_error(MPM_ENOMEM, "out of memory");
    for (;;) {
        if (c->sp_hdr_in && c->in.len >= MPMI_SP_HDR_LEN) {
            if (memcmp(c->in.data, rep_hdr, MPMI_SP_HDR_LEN))
                return mpmi_error(
                    MPM_EPROTO, "%s does not answer as nng's rep0 (not an mpm server)", c->m->url);
            mpmi_buf_consume(&c->in, MPMI_SP_HDR_LEN);
            c->sp_hdr_in = 0;
        }
        if (!want && !c->sp_hdr_in && c->in.len >= pre) {
            const unsigned char *p = c->in.data;
            uint64_t n;
            if (!sp) {
                n = mpmi_get_u32(p);
            } else {
                if (c->m->kind == MPMI_TR_NNG_IPC && p[0] != 1)
                    return mpmi_error(MPM_EPROTO, "nng message of unknown type %u from server",
                                      p[0]);
                n = mpmi_get_be64(p + pre - 12);
                if (n < 4 || mpmi_get_be32(p + pre - 4) != c->sp_recv_id)
                    return mpmi_error(MPM_EPROTO, "server answered a request that was not asked");
                n -= 4;
            }
            if (n < MPMI_HDR_LEN || n > (c->connecting ? MPMI_HANDSHAKE_MAX : MPMI_MAX_REPLY))
                return mpmi_error(MPM_EPROTO, "bad frame length %llu from %s",
                                  (unsigned long long)n, c->m->url);
            want = pre + (size_t)n;
            if (c->in.cap < want && mpmi_buf_reserve(&c->in, want - c->in.len))
                return mpmi_error(MPM_ENOMEM, "out of memory");
        }
        if (want && c->in.len >= want) break;
        /* one recv usually brings the whole reply */
        int64_t t0 = 0;
        ssize_t r = client_spin_recv(c, &t0);
        if (r == -2) {
            if (c->connecting && client_fd_deadline(c, c->fd)) return client_too_slow(c);
            r = client_wait_recv(c);
            client_spin_learn(c, t0);
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) /* connecting only */
            return client_too_slow(c);
        if (r <= 0) return mpmi_error(MPM_ECLOSED, "connection to %s lost", c->m->url);
        c->in.len += (size_t)r;
    }
    if (sp) c->sp_recv_id = (c->sp_recv_id + 1) | 0x80000000u;
    c->in_used = want;
    *frame = c->in.data + pre;
    *len = want - pre;
    return 0;
}

/* Close and free a connection.  Only our descriptor goes, never shutdown():
 * in a forked child it would reach into the parent's connection. */
static void client_conn_free(mpmi_cconn *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    mpmi_buf_free(&c->out);
    mpmi_buf_free(&c->in);
    free(c);
}

static int client_refused(const unsigned char *f, size_t n)
{
    int kind;
    uint64_t seq;
    if (mpmi_hdr_read(f, n, &kind, &seq) == 0 && kind == MPMI_K_REFUSED) {
        int code = memcmp(f + MPMI_HDR_LEN, "authentication", 14) == 0 ? MPM_EAUTH : MPM_EPROTO;
        return mpmi_error(code, "%.*s", (int)(n - MPMI_HDR_LEN), f + MPMI_HDR_LEN);
    }
    return 0;
}

static int client_handshake(mpmi_cconn *c)
{
    mpm_manager *m = c->m;
    unsigned char buf[MPMI_LEN_PREFIX + MPMI_HDR_LEN + MPMI_MAC_LEN + MPMI_TOKEN_LEN];
    unsigned char *f = buf + MPMI_LEN_PREFIX, cn[MPMI_NONCE_LEN], sn[MPMI_NONCE_LEN];
    unsigned char *r;
    size_t rn;
    int kind, rc;
    uint64_t seq;

    int offer = mpmi_cipher_offer(), cipher;
    randombytes_buf(cn, sizeof cn);
    mpmi_hdr_write(f, MPMI_K_HELLO, 0);
    mpmi_hdr_set_cipher(f, offer);
    memcpy(f + MPMI_HDR_LEN, cn, sizeof cn);
    if ((rc = client_send(c, f, MPMI_HDR_LEN + MPMI_NONCE_LEN))) return rc;
    if ((rc = client_recv(c, &r, &rn))) return rc;
    if ((rc = client_refused(r, rn))) return rc;
    if (mpmi_hdr_read(r, rn, &kind, &seq) || kind != MPMI_K_CHALLENGE ||
        rn != MPMI_HDR_LEN + MPMI_NONCE_LEN)
        return mpmi_error(MPM_EPROTO, "%s did not answer as an mpm server", m->url);
    cipher = mpmi_hdr_cipher(r);
    if (cipher >= 8 || !(offer & 1 << cipher))
        return mpmi_error(MPM_EPROTO, "%s picked a cipher this client did not offer", m->url);
    memcpy(sn, r + MPMI_HDR_LEN, sizeof sn);

    mpmi_hdr_write(f, MPMI_K_PROOF, 0);
    mpmi_proof(f + MPMI_HDR_LEN, m->authkey, m->klen, "mpm1 client", cn, sn, m->token);
    memcpy(f + MPMI_HDR_LEN + MPMI_MAC_LEN, m->token, MPMI_TOKEN_LEN);
    if ((rc = client_send(c, f, MPMI_HDR_LEN + MPMI_MAC_LEN + MPMI_TOKEN_LEN))) return rc;
    rc = client_recv(c, &r, &rn);
    if (rc == MPM_ECLOSED) return mpmi_error(MPM_EAUTH, "authentication failed");
    if (rc) return rc;
    if ((rc = client_refused(r, rn))) return rc;
    unsigned char want[MPMI_MAC_LEN];
    mpmi_proof(want, m->authkey, m->klen, "mpm1 server", cn, sn, m->token);
    if (mpmi_hdr_read(r, rn, &kind, &seq) || kind != MPMI_K_WELCOME ||
        rn != MPMI_HDR_LEN + MPMI_MAC_LEN + 8 || crypto_verify_32(want, r + MPMI_HDR_LEN))
        return mpmi_error(MPM_EAUTH, "authentication failed: the server does not hold the key");
    mpmi_chan_init_cipher(&c->chan, m->authkey, m->klen, cn, sn, 0, offer, cipher);
    return 0;
}

/* A new, authenticated connection of this process's session. */
static int client_conn_open(mpm_manager *m, mpmi_cconn **out)
{
    mpmi_cconn *c = calloc(1, sizeof *c);
    if (!c) return mpmi_error(MPM_ENOMEM, "out of memory");
    c->m = m;
    c->fd = -1;
    mpmi_buf_init(&c->out);
    mpmi_buf_init(&c->in);
    mpmi_pk_init(&c->pk, &c->out);
    int ms = client_connect_ms();
    c->connecting = 1;
    c->hs_deadline = ms ? client_now_us() + (int64_t)ms * 1000 : 0;
    int rc = client_dial_stream(c);
    if (!rc) rc = client_handshake(c);
    c->connecting = 0;
    c->hs_deadline = 0;
    if (!rc && ms) client_fd_deadline(c, c->fd); /* calls may wait as long as they ask */
    if (rc) {
        client_conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Start a request in c->out: room for the length and header, then the array
 * of ncalls calls. */
static void client_begin(mpmi_cconn *c, uint32_t ncalls)
{
    c->out.len = 0;
    c->out.oom = 0;
    mpmi_buf_reserve(&c->out, REQ_OFF + 64);
    c->out.len = REQ_OFF;
    msgpack_pack_array(&c->pk, ncalls);
}

/* Seal c->out, send, receive and open the reply.  On failure the connection
 * is out of step and must be dropped (*broken set). */
static int client_exchange(mpmi_cconn *c, unsigned char **body, size_t *blen, int *broken)
{
    unsigned char *f;
    size_t n;
    mpmi_buf *req = &c->out;
    if (req->oom || mpmi_buf_reserve(req, MPMI_TAG_LEN))
        return mpmi_error(MPM_ENOMEM, "out of memory");
    /* nng's wire counts the request id in the message mpmd checks */
    size_t limit = MPMI_MAX_FRAME_DEFAULT - (MPMI_TR_IS_SP(c->m->kind) ? 4 : 0);
    if (req->len - MPMI_LEN_PREFIX + MPMI_TAG_LEN > limit)
        return mpmi_error(MPM_ETOOBIG, "request of %zu bytes is over the frame limit", req->len);
    size_t flen = mpmi_seal(&c->chan, req->data + MPMI_LEN_PREFIX, req->len - REQ_OFF);
    *broken = 1;
    int rc = client_send(c, req->data + MPMI_LEN_PREFIX, flen);
    /* replies to requests sent without waiting (handle closes) come first;
     * the thread that sent them may be waiting to hear they are read */
    if (!rc && c->unread) {
        int k = c->unread;
        while (!rc && k) {
            rc = client_recv(c, &f, &n);
            if (!rc) rc = client_refused(f, n);
            if (!rc && mpmi_open(&c->chan, f, n, body, blen))
                rc = mpmi_error(MPM_EPROTO, "reply failed authentication");
            k--;
        }
        pthread_mutex_lock(&c->m->mu);
        c->unread = k;
        pthread_cond_broadcast(&c->m->cv);
        pthread_mutex_unlock(&c->m->mu);
    }
    if (!rc) rc = client_recv(c, &f, &n);
    if (!rc) rc = client_refused(f, n);
    if (!rc && mpmi_open(&c->chan, f, n, body, blen))
        rc = mpmi_error(MPM_EPROTO, "reply failed authentication");
    if (!rc) *broken = 0;
    return rc;
}

/* In a forked child the manager's mutex may be a copy of one some parent
 * thread held: the first locker in the child makes it anew.  Several threads
 * of the child may race to do that, so they agree under a process-wide mutex,
 * itself made anew in the child by the atfork handler. */

static void client_lock(mpm_manager *m)
{
    pid_t me = client_getpid();
    if (__atomic_load_n(&m->mu_pid, __ATOMIC_ACQUIRE) != me) {
        pthread_mutex_lock(&client_fork_mu);
        if (m->mu_pid != me) {
            pthread_mutex_init(&m->mu, NULL);
            pthread_cond_init(&m->cv, NULL);
            __atomic_store_n(&m->mu_pid, me, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&client_fork_mu);
    }
    pthread_mutex_lock(&m->mu);
}

int mpmi_check_timeout(int64_t timeout_ms)
{
    if (timeout_ms < -1)
        return mpmi_error(MPM_EINVAL, "invalid timeout %lld ms (-1: none, or >= 0)",
                          (long long)timeout_ms);
    return 0;
}

int mpmi_in_batch(const mpm_manager *m)
{
    return client_tls_batch && client_tls_batch->m == m;
}

static int client_result(mpmi_rd *r, mpmi_sink *s);

/* Forked child, first call: references on every inherited handle, in one call. */
static int client_incref_inherited(mpmi_cconn *c)
{
    mpm_manager *m = c->m;
    size_t n = 0;
    for (mpmi_handle *h = m->handles; h; h = h->next) n++;
    if (!n) return 0;
    client_begin(c, 1);
    msgpack_pack_array(&c->pk, 2 + n);
    msgpack_pack_uint64(&c->pk, 0);
    msgpack_pack_int(&c->pk, MPMI_OP_INCREF);
    for (mpmi_handle *h = m->handles; h; h = h->next) msgpack_pack_uint64(&c->pk, h->id);
    unsigned char *body;
    size_t blen;
    int broken, rc = client_exchange(c, &body, &blen, &broken);
    if (rc) return rc;
    mpmi_rd r;
    mpmi_item it;
    mpmi_rd_init(&r, body, blen);
    if (mpmi_rd_next(&r, &it) || it.type != MPMI_ARRAY || it.v.n != 1)
        return mpmi_error(MPM_EPROTO, "malformed reply");
    /* the answer lists ids whose objects are gone: their handles fail with
     * MPM_ENOOBJ when used, the others work */
    return client_result(&r, &(mpmi_sink){MPMI_R_NONE, NULL, NULL});
}

/* Under m->mu: c joins / leaves the list of all connections. */
static void client_conn_link(mpm_manager *m, mpmi_cconn *c)
{
    c->aprev = NULL;
    c->anext = m->all;
    if (m->all) m->all->aprev = c;
    m->all = c;
}

static void client_conn_unlink(mpm_manager *m, mpmi_cconn *c)
{
    if (c->aprev) c->aprev->anext = c->anext;
    else m->all = c->anext;
    if (c->anext) c->anext->aprev = c->aprev;
    pthread_cond_broadcast(&m->cv);
}

/* Under m->mu.  This thread closed a handle on connection p without reading
 * the reply.  If another thread has p now, wait until that thread has read
 * the reply (it does so first thing, a round trip at most): only then is the
 * release surely done, and this thread's next call, on another connection,
 * cannot overtake it.  If p is idle, take it: the order on one connection is
 * the order of the calls.  NULL when p needs nothing. */
static mpmi_cconn *client_after_pending(mpm_manager *m, mpmi_cconn *p)
{
    for (;;) {
        mpmi_cconn *c = m->all;
        while (c && c != p) c = c->anext;
        if (!c || !c->unread) return NULL;
        for (mpmi_cconn **pp = &m->idle; *pp; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                return p;
            }
        }
        pthread_cond_wait(&m->cv, &m->mu);
    }
}

/* Take a connection of this process for one call: an idle one, or a new one. */
static int client_checkout(mpm_manager *m, mpmi_cconn **out)
{
    int rc = 0;
    mpmi_cconn *c = NULL;
    *out = NULL; /* callers give back what they got, error or not */
    pid_t me = client_getpid();
    client_lock(m);
    if (m->pid != me) {
        /* A forked child: the connections and the session are the parent's.
         * Leave them alone, start our own session, take our own references. */
        /* every connection is the parent's, in a call or not: the threads
         * that were in calls do not exist here */
        while (m->all) {
            mpmi_cconn *t = m->all;
            m->all = t->anext;
            client_conn_free(t);
        }
        m->idle = NULL;
        m->pid = me;
        m->private_child = 0; /* the server is the parent's to reap */
        m->need_incref = 1;
        randombytes_buf(m->token, sizeof m->token);
    }
    if (m->need_incref) {
        /* under the lock: no call of this process may run before it */
        rc = client_conn_open(m, &c);
        if (!rc) rc = client_incref_inherited(c);
        if (!rc) {
            m->need_incref = 0;
            client_conn_link(m, c);
        } else if (c) {
            client_conn_free(c);
            c = NULL;
        }
        pthread_mutex_unlock(&m->mu);
        *out = c;
        return rc;
    }
    if (client_tls_pend_m == m) {
        client_tls_pend_m = NULL;
        c = client_after_pending(m, client_tls_pend_c);
    }
    if (!c) {
        c = m->idle;
        if (c) m->idle = c->next;
    }
    pthread_mutex_unlock(&m->mu);
    if (!c) {
        rc = client_conn_open(m, &c);
        if (!rc) {
            client_lock(m);
            client_conn_link(m, c);
            pthread_mutex_unlock(&m->mu);
        }
    }
    *out = c;
    return rc;
}

/* Give a connection back after a call; a broken one is dropped. */
static void client_checkin(mpm_manager *m, mpmi_cconn *c, int broken)
{
    if (!c) return;
    client_lock(m);
    if (broken) {
        client_conn_unlink(m, c);
        pthread_mutex_unlock(&m->mu);
        client_conn_free(c);
        return;
    }
    c->next = m->idle;
    m->idle = c;
    /* a thread in client_after_pending may wait for c to be idle */
    if (c->unread) pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/*---- results -------------------------------------------------------------*/

static int client_sink(const unsigned char *p, size_t n, mpmi_sink *s)
{
    mpmi_rd r;
    mpmi_item it;
    mpmi_rd_init(&r, p, n);
    if (mpmi_rd_next(&r, &it)) return mpmi_error(MPM_EPROTO, "malformed reply");
    switch (s->kind) {
    case MPMI_R_NONE: return 0;
    case MPMI_R_VAL: return s->out ? mpmi_decode_val(p, n, (mpm_val **)s->out) : 0;
    case MPMI_R_INT:
    case MPMI_R_SIZE: {
        int64_t v;
        if (mpmi_item_int(&it, &v)) {
            if (it.type == MPMI_FLOAT && s->kind == MPMI_R_INT) {
                if (!(it.v.f >= -9223372036854775808.0 && it.v.f < 9223372036854775808.0))
                    return mpmi_error(MPM_EOVERFLOW, "OverflowError: cannot convert float "
                                                     "to int64");
                v = (int64_t)it.v.f;
            }
            else if (it.type == MPMI_UINT && s->kind == MPMI_R_INT)
                return mpmi_error(MPM_EOVERFLOW, "OverflowError: value does not fit int64");
            else return mpmi_error(MPM_EPROTO, "unexpected reply type");
        }
        if (s->kind == MPMI_R_INT) *(int64_t *)s->out = v;
        else *(size_t *)s->out = (size_t)v;
        return 0;
    }
    case MPMI_R_BOOL:
        if (it.type != MPMI_BOOL) return mpmi_error(MPM_EPROTO, "unexpected reply type");
        *(bool *)s->out = it.v.b;
        return 0;
    case MPMI_R_DOUBLE:
        if (it.type == MPMI_FLOAT) *(double *)s->out = it.v.f;
        else if (it.type == MPMI_INT) *(double *)s->out = (double)it.v.i;
        else if (it.type == MPMI_UINT) *(double *)s->out = (double)it.v.u;
        else return mpmi_error(MPM_EPROTO, "unexpected reply type");
        return 0;
    case MPMI_R_STR: {
        if (it.type != MPMI_STR) return mpmi_error(MPM_EPROTO, "unexpected reply type");
        char *str = malloc(it.v.s.n + 1);
        if (!str) return mpmi_error(MPM_ENOMEM, "out of memory");
        memcpy(str, it.v.s.p, it.v.s.n);
        str[it.v.s.n] = 0;
        *(char **)s->out = str;
        return 0;
    }
    case MPMI_R_PAIR: {
        const unsigned char *kp, *vp;
        size_t kn, vn;
        mpm_val *k = NULL, *v = NULL;
        if (it.type != MPMI_ARRAY || it.v.n != 2 || mpmi_rd_value(&r, &kp, &kn) ||
            mpmi_rd_value(&r, &vp, &vn))
            return mpmi_error(MPM_EPROTO, "unexpected reply type");
        if (s->out && mpmi_decode_val(kp, kn, &k)) return MPM_ENOMEM;
        if (s->out2 && mpmi_decode_val(vp, vn, &v)) {
            mpm_val_free(k);
            return MPM_ENOMEM;
        }
        if (s->out) *(mpm_val **)s->out = k;
        if (s->out2) *(mpm_val **)s->out2 = v;
        return 0;
    }
    case MPMI_R_HANDLE: {
        int64_t v;
        if (mpmi_item_int(&it, &v)) return mpmi_error(MPM_EPROTO, "unexpected reply type");
        ((mpmi_handle *)s->out)->id = (uint64_t)v;
        return 0;
    }
    case MPMI_R_ATTACH: {
        mpmi_item id, type, tc, created;
        int64_t idv, typev;
        if (it.type != MPMI_ARRAY || it.v.n != 4 || mpmi_rd_next(&r, &id) ||
            mpmi_item_int(&id, &idv) || mpmi_rd_next(&r, &type) || mpmi_item_int(&type, &typev) ||
            mpmi_rd_next(&r, &tc) || (tc.type != MPMI_NIL && (tc.type != MPMI_STR || tc.v.s.n != 1)) ||
            mpmi_rd_next(&r, &created) || created.type != MPMI_BOOL)
            return mpmi_error(MPM_EPROTO, "unexpected reply type");
        mpmi_handle *h = s->out;
        h->id = (uint64_t)idv;
        h->type = (int)typev;
        h->typecode = tc.type == MPMI_STR ? tc.v.s.p[0] : 0;
        if (s->out2) *(bool *)s->out2 = created.v.b;
        return 0;
    }
    }
    return mpmi_error(MPM_EPROTO, "bad result kind");
}

/* Read one [status, value|message] result at r into sink. */
static int client_result(mpmi_rd *r, mpmi_sink *s)
{
    mpmi_item it, st;
    const unsigned char *p;
    size_t n;
    if (mpmi_rd_next(r, &it) || it.type != MPMI_ARRAY || it.v.n != 2 || mpmi_rd_next(r, &st) ||
        st.type != MPMI_INT)
        return mpmi_error(MPM_EPROTO, "malformed reply");
    p = r->p;
    if (mpmi_rd_skip(r, -2)) /* snapshots nest two levels deeper than values */
        return mpmi_error(MPM_EPROTO, "malformed reply");
    n = (size_t)(r->p - p);
    if (st.v.i != 0) {
        mpmi_item msg;
        mpmi_rd mr;
        mpmi_rd_init(&mr, p, n);
        int code = st.v.i > 0 && st.v.i < 1000 ? -(int)st.v.i : MPM_EPROTO;
        if (mpmi_rd_next(&mr, &msg) == 0 && msg.type == MPMI_STR)
            return mpmi_error(code, "%.*s", (int)msg.v.s.n, msg.v.s.p);
        return mpmi_error(code, "%s", mpm_strerror(code));
    }
    return client_sink(p, n, s);
}

/*---- calls ---------------------------------------------------------------*/

static int client_pack_call(msgpack_packer *pk, uint64_t id, int op, const mpm_val *args,
                            int nargs)
{
    msgpack_pack_array(pk, 2 + (size_t)nargs);
    msgpack_pack_uint64(pk, id);
    msgpack_pack_int(pk, op);
    for (int i = 0; i < nargs; i++) {
        int rc = mpmi_pack_val(pk, &args[i], 0);
        if (rc) return rc;
    }
    return 0;
}

int mpmi_call_id(mpm_manager *m, uint64_t id, int op, const mpm_val *args, int nargs,
                 mpmi_sink sink)
{
    if (!m) return mpmi_error(MPM_EINVAL, "ValueError: NULL manager");
    client_batch *b = client_tls_batch;
    if (b && b->m == m) {
        if (b->n == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 16;
            mpmi_sink *s = realloc(b->sinks, cap * sizeof *s);
            if (!s) return mpmi_error(MPM_ENOMEM, "out of memory");
            b->sinks = s;
            b->cap = cap;
        }
        size_t mark = b->body.len;
        int rc = client_pack_call(&b->pk, id, op, args, nargs);
        if (rc) {
            b->body.len = mark;
            return rc;
        }
        b->sinks[b->n++] = sink;
        return 0;
    }

    mpmi_cconn *c;
    int broken = 0, rc = client_checkout(m, &c);
    if (rc) return rc;
    client_begin(c, 1);
    rc = client_pack_call(&c->pk, id, op, args, nargs);
    unsigned char *body;
    size_t blen;
    if (!rc) rc = client_exchange(c, &body, &blen, &broken);
    if (!rc) {
        mpmi_rd r;
        mpmi_item it;
        mpmi_rd_init(&r, body, blen);
        if (mpmi_rd_next(&r, &it) || it.type != MPMI_ARRAY || it.v.n != 1)
            rc = mpmi_error(MPM_EPROTO, "malformed reply");
        else
            rc = client_result(&r, &sink);
    }
    client_checkin(m, c, broken);
    return rc;
}

int mpmi_call(mpmi_handle *h, int op, const mpm_val *args, int nargs, mpmi_sink sink)
{
    if (!h) return mpmi_error(MPM_EINVAL, "ValueError: NULL handle");
    if (!h->id) return mpmi_error(MPM_ESTATE, "handle is not ready (its batch has not run)");
    return mpmi_call_id(h->m, h->id, op, args, nargs, sink);
}

/*---- batches -------------------------------------------------------------*/

int mpm_batch_begin(mpm_manager *m)
{
    if (!m) return mpmi_error(MPM_EINVAL, "ValueError: NULL manager");
    if (client_tls_batch) return mpmi_error(MPM_EBATCH, "a batch is already open on this thread");
    client_batch *b = calloc(1, sizeof *b);
    if (!b) return mpmi_error(MPM_ENOMEM, "out of memory");
    b->m = m;
    mpmi_buf_init(&b->body);
    mpmi_pk_init(&b->pk, &b->body);
    client_tls_batch = b;
    return 0;
}

size_t mpm_batch_size(const mpm_manager *m)
{
    client_batch *b = client_tls_batch;
    return b && b->m == m ? b->n : 0;
}

int mpm_batch_exec(mpm_manager *m, int *codes, size_t ncodes)
{
    client_batch *b = client_tls_batch;
    if (!m || !b || b->m != m) return mpmi_error(MPM_EBATCH, "no batch is open on this manager");
    client_tls_batch = NULL;
    int first = 0;
    if (b->n == 0) goto done;

    mpmi_cconn *c;
    int broken = 0, rc = client_checkout(m, &c);
    if (!rc) {
        client_begin(c, b->n);
        mpmi_buf_append(&c->out, b->body.data, b->body.len);
    }
    unsigned char *body;
    size_t blen;
    if (!rc) rc = client_exchange(c, &body, &blen, &broken);
    if (rc) {
        first = rc;
        for (size_t i = 0; codes && i < ncodes && i < b->n; i++) codes[i] = rc;
    } else {
        mpmi_rd r;
        mpmi_item it;
        char firstmsg[sizeof client_errmsg] = "";
        mpmi_rd_init(&r, body, blen);
        if (mpmi_rd_next(&r, &it) || it.type != MPMI_ARRAY || it.v.n != b->n) {
            first = mpmi_error(MPM_EPROTO, "malformed batch reply");
        } else {
            for (uint32_t i = 0; i < b->n; i++) {
                int cr = client_result(&r, &b->sinks[i]);
                if (codes && i < ncodes) codes[i] = cr;
                if (cr && !first) {
                    first = cr;
                    memcpy(firstmsg, client_errmsg, sizeof firstmsg);
                }
                if (cr == MPM_EPROTO) break;
            }
            if (first) memcpy(client_errmsg, firstmsg, sizeof firstmsg);
        }
    }
    client_checkin(m, c, broken || rc);
done:
    mpmi_buf_free(&b->body);
    free(b->sinks);
    free(b);
    return first;
}

/*---- handles -------------------------------------------------------------*/

static void handle_link(mpm_manager *m, mpmi_handle *h)
{
    client_lock(m);
    h->next = m->handles;
    h->prev = NULL;
    if (m->handles) m->handles->prev = h;
    m->handles = h;
    pthread_mutex_unlock(&m->mu);
}

static void handle_unlink(mpm_manager *m, mpmi_handle *h)
{
    if (h->prev) h->prev->next = h->next;
    else m->handles = h->next;
    if (h->next) h->next->prev = h->prev;
}

int mpmi_create(mpm_manager *m, int type, char typecode, const mpm_val *args, int nargs,
                void **out)
{
    mpm_val a[MPMI_MAX_CREATE_ARGS + 1];
    if (!m || !out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    *out = NULL;
    if (nargs > MPMI_MAX_CREATE_ARGS) return mpmi_error(MPM_EINVAL, "too many arguments");
    mpmi_handle *h = calloc(1, sizeof *h);
    if (!h) return mpmi_error(MPM_ENOMEM, "out of memory");
    h->m = m;
    h->type = type;
    h->typecode = typecode;
    a[0] = MPM_INT(type);
    for (int i = 0; i < nargs; i++) a[i + 1] = args[i];
    int rc = mpmi_call_id(m, 0, MPMI_OP_CREATE, a, nargs + 1, (mpmi_sink){MPMI_R_HANDLE, h, NULL});
    if (rc) {
        free(h);
        return rc;
    }
    handle_link(m, h);
    *out = h;
    return 0;
}

int mpmi_attach(mpm_manager *m, int op, const mpm_val *args, int nargs, void **out,
                bool *created)
{
    if (!m || !out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    *out = NULL;
    mpmi_handle *h = calloc(1, sizeof *h);
    if (!h) return mpmi_error(MPM_ENOMEM, "out of memory");
    h->m = m;
    int rc = mpmi_call_id(m, 0, op, args, nargs, (mpmi_sink){MPMI_R_ATTACH, h, created});
    if (rc) {
        free(h);
        return rc;
    }
    handle_link(m, h);
    *out = h;
    return 0;
}

/* Send DECREF of id without waiting for its answer: the server releases at
 * once, and the reply is read (and dropped) before that connection's next
 * reply.  Creating and closing an object then costs one round trip, not two.
 * The closing thread's next call must still come after the release: it goes
 * on the same connection, or waits until the reply is read
 * (client_after_pending).  It waits when this thread's last close on another
 * manager is still unread (one pending close per thread is tracked). */
static void client_decref_nowait(mpm_manager *m, uint64_t id)
{
    mpm_val arg = MPM_INT((int64_t)id);
    client_batch *b = client_tls_batch;
    if ((b && b->m == m) || (client_tls_pend_m && client_tls_pend_m != m)) {
        mpmi_call_id(m, 0, MPMI_OP_DECREF, &arg, 1, MPMI_SINK_NONE);
        return;
    }
    mpmi_cconn *c;
    if (client_checkout(m, &c)) return;
    client_begin(c, 1);
    int broken = client_pack_call(&c->pk, 0, MPMI_OP_DECREF, &arg, 1) != 0;
    if (!broken && !c->out.oom && mpmi_buf_reserve(&c->out, MPMI_TAG_LEN) == 0) {
        size_t flen = mpmi_seal(&c->chan, c->out.data + MPMI_LEN_PREFIX, c->out.len - REQ_OFF);
        broken = client_send(c, c->out.data + MPMI_LEN_PREFIX, flen) != 0;
        if (!broken) {
            pthread_mutex_lock(&m->mu); /* a waiter in client_after_pending reads it */
            c->unread++;
            pthread_mutex_unlock(&m->mu);
            client_tls_pend_m = m;
            client_tls_pend_c = c;
        }
    }
    client_checkin(m, c, broken);
}

void mpmi_handle_close(mpmi_handle *h)
{
    if (!h) return;
    mpm_manager *m = h->m;
    client_lock(m);
    int ours = m->pid == client_getpid() && !m->need_incref;
    handle_unlink(m, h);
    pthread_mutex_unlock(&m->mu);
    /* a forked child that has not called yet holds no reference of its own */
    if (h->id && ours) client_decref_nowait(m, h->id);
    free(h);
}

uint64_t mpm_handle_id(const void *handle)
{
    return handle ? ((const mpmi_handle *)handle)->id : 0;
}

mpm_objtype mpm_handle_type(const void *handle)
{
    return handle ? (mpm_objtype)((const mpmi_handle *)handle)->type : 0;
}

void mpm_handle_close(void *handle)
{
    mpmi_handle_close(handle);
}

int mpm_handle_repr(const void *handle, char **out)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    return mpmi_call((mpmi_handle *)handle, MPMI_OP_REPR, NULL, 0, MPMI_SINK_STR(out));
}

int mpm_handle_print(const void *handle)
{
    char *s = NULL;
    if (handle && client_tls_batch && client_tls_batch->m == ((const mpmi_handle *)handle)->m)
        return mpmi_error(MPM_EBATCH, "print cannot be queued in a batch");
    int rc = mpm_handle_repr(handle, &s);
    if (rc) return rc;
    puts(s);
    fflush(stdout);
    free(s);
    return 0;
}

/*---- managers ------------------------------------------------------------*/

static int client_new(mpm_manager **out, const char *url, const void *key, size_t klen)
{
    if (sodium_init() < 0) return mpmi_error(MPM_ESYS, "libsodium failed to initialise");
    mpm_manager *m = calloc(1, sizeof *m);
    if (!m) return mpmi_error(MPM_ENOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->mu_pid = client_getpid();
    m->server_pid = -1;
    m->parent_fd = -1;
    m->pid = client_getpid();
    m->url = strdup(url);
    m->authkey = malloc(klen ? klen : 1);
    if (!m->url || !m->authkey) {
        free(m->url);
        free(m->authkey);
        free(m);
        return mpmi_error(MPM_ENOMEM, "out of memory");
    }
    if (klen) memcpy(m->authkey, key, klen);
    m->klen = klen;
    randombytes_buf(m->token, sizeof m->token);
    int rc = client_parse_url(m, m->url);
    if (rc) {
        mpm_manager_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

int mpm_connect(mpm_manager **out, const char *url, const void *authkey, size_t len)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    *out = NULL;
    if (!url) url = getenv("MPM_ADDRESS");
    if (!url || !*url)
        return mpmi_error(MPM_EADDR, "no address given, and MPM_ADDRESS is not set");
    if (!authkey && getenv("MPM_AUTHKEY")) {
        authkey = getenv("MPM_AUTHKEY");
        len = strlen(authkey);
    }
    mpm_manager *m;
    int rc = client_new(&m, url, authkey, authkey ? len : 0);
    if (rc) return rc;
    mpmi_cconn *c;
    rc = client_checkout(m, &c); /* connect now, so a bad address or key shows here */
    client_checkin(m, c, rc);
    if (rc) {
        char msg[sizeof client_errmsg];
        memcpy(msg, client_errmsg, sizeof msg);
        mpm_manager_close(m);
        memcpy(client_errmsg, msg, sizeof msg);
        return rc;
    }
    *out = m;
    return 0;
}

static const char *client_mpmd_path(const mpm_start_opts *o)
{
    if (o && o->mpmd_path) return o->mpmd_path;
    if (getenv("MPM_MPMD")) return getenv("MPM_MPMD");
    if (MPM_MPMD_BUILD_PATH[0] && access(MPM_MPMD_BUILD_PATH, X_OK) == 0)
        return MPM_MPMD_BUILD_PATH;
    return "mpmd";
}

int mpm_manager_start(mpm_manager **out, const mpm_start_opts *opts)
{
    if (!out) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    *out = NULL;
    if (sodium_init() < 0) return mpmi_error(MPM_ESYS, "libsodium failed to initialise");
    const char *tmp = getenv("TMPDIR");
    char dir[256], sock[300], url[320];
    snprintf(dir, sizeof dir, "%s/mpm-XXXXXX", tmp && *tmp && strlen(tmp) < 100 ? tmp : "/tmp");
    if (!mkdtemp(dir)) return mpmi_error(MPM_ESYS, "mkdtemp: %s", strerror(errno));
    snprintf(sock, sizeof sock, "%s/mpmd.sock", dir);
    snprintf(url, sizeof url, "unix://%s", sock);
    /* the key is text (64 hex digits), so it can travel in MPM_AUTHKEY */
    unsigned char rnd[32];
    char key[2 * sizeof rnd + 1];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(key, sizeof key, rnd, sizeof rnd);
    sodium_memzero(rnd, sizeof rnd);

    int keyp[2], readyp[2], parentp[2];
    if (pipe2(keyp, O_CLOEXEC)) {
        rmdir(dir);
        return mpmi_error(MPM_ESYS, "pipe: %s", strerror(errno));
    }
    if (pipe2(readyp, O_CLOEXEC)) {
        close(keyp[0]);
        close(keyp[1]);
        rmdir(dir);
        return mpmi_error(MPM_ESYS, "pipe: %s", strerror(errno));
    }
    if (pipe2(parentp, O_CLOEXEC)) {
        close(keyp[0]);
        close(keyp[1]);
        close(readyp[0]);
        close(readyp[1]);
        rmdir(dir);
        return mpmi_error(MPM_ESYS, "pipe: %s", strerror(errno));
    }
    /* everything the child needs is prepared before fork */
    const char *path = client_mpmd_path(opts);
    char kfd[16], rfd[16], pfd[16];
    snprintf(kfd, sizeof kfd, "%d", keyp[0]);
    snprintf(rfd, sizeof rfd, "%d", readyp[1]);
    snprintf(pfd, sizeof pfd, "%d", parentp[0]);
    const char *argv[16];
    int ac = 0;
    argv[ac++] = path;
    argv[ac++] = "--listen";
    argv[ac++] = url;
    if (opts && opts->listen) {
        argv[ac++] = "--listen";
        argv[ac++] = opts->listen;
    }
    argv[ac++] = "--authkey-fd";
    argv[ac++] = kfd;
    argv[ac++] = "--ready-fd";
    argv[ac++] = rfd;
    argv[ac++] = "--parent-fd";
    argv[ac++] = pfd;
    argv[ac++] = "--private";
    if (!(opts && opts->log) && !getenv("MPM_LOG")) argv[ac++] = "--quiet";
    argv[ac] = NULL;

    /* the key fits the pipe's buffer: write it before the child exists, so a
     * child that dies early cannot make this a SIGPIPE */
    if (stream_write_all_fd(keyp[1], (const unsigned char *)key, sizeof key - 1)) {
        close(keyp[0]);
        close(keyp[1]);
        close(readyp[0]);
        close(readyp[1]);
        close(parentp[0]);
        close(parentp[1]);
        rmdir(dir);
        return mpmi_error(MPM_ESYS, "pipe write: %s", strerror(errno));
    }
    close(keyp[1]);
    pid_t pid = fork();
    if (pid == 0) {
        /* own process group: a ^C aimed at the program reaches the server
         * only through its parent's shutdown, never mid-call */
        setpgid(0, 0);
        fcntl(keyp[0], F_SETFD, 0);
        fcntl(readyp[1], F_SETFD, 0);
        fcntl(parentp[0], F_SETFD, 0);
        if (strchr(path, '/')) execv(path, (char *const *)argv);
        else execvp(path, (char *const *)argv);
        _exit(127);
    }
    close(keyp[0]);
    close(readyp[1]);
    close(parentp[0]);
    if (pid < 0) {
        close(readyp[0]);
        close(parentp[1]);
        rmdir(dir);
        return mpmi_error(MPM_ESYS, "fork: %s", strerror(errno));
    }
    int rc = 0;
    char bound[1024];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(readyp[0], bound + got, sizeof bound - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof bound - 1) break;
    }
    bound[got] = 0;
    close(readyp[0]);
    if (rc || got == 0) {
        close(parentp[1]);
        waitpid(pid, NULL, 0);
        rmdir(dir);
        return mpmi_error(MPM_ESYS, "the manager server (%s) did not start; set MPM_MPMD to "
                                    "the mpmd binary", path);
    }
    mpm_manager *m;
    rc = client_new(&m, url, key, sizeof key - 1);
    /* for programs this process execs: mpm_connect(&m, NULL, NULL, 0) */
    if (!rc && !(opts && opts->no_env)) {
        setenv("MPM_ADDRESS", url, 1);
        setenv("MPM_AUTHKEY", key, 1);
    }
    sodium_memzero(key, sizeof key);
    if (rc) {
        close(parentp[1]);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return rc;
    }
    m->server_pid = pid;
    m->private_child = 1;
    m->parent_fd = parentp[1];
    mpmi_cconn *c;
    rc = client_checkout(m, &c);
    client_checkin(m, c, rc);
    if (rc) {
        mpm_manager_shutdown(m);
        return rc;
    }
    *out = m;
    return 0;
}

const char *mpm_manager_address(const mpm_manager *m)
{
    return m ? m->url : NULL;
}

void mpm_manager_close(mpm_manager *m)
{
    if (!m) return;
    if (client_tls_batch && client_tls_batch->m == m) {
        mpmi_buf_free(&client_tls_batch->body);
        free(client_tls_batch->sinks);
        free(client_tls_batch);
        client_tls_batch = NULL;
    }
    while (m->handles) {
        mpmi_handle *h = m->handles;
        m->handles = h->next;
        free(h);
    }
    /* the server releases a session's handles when its connections go */
    if (client_tls_pend_m == m) client_tls_pend_m = NULL;
    int twin = m->pid != client_getpid();
    if (twin) {
        /* a forked copy: every connection is the parent's, and the threads
         * that were in calls on some of them do not exist here */
        while (m->all) {
            mpmi_cconn *c = m->all;
            m->all = c->anext;
            client_conn_free(c);
        }
        m->idle = NULL;
    }
    while (m->idle) {
        mpmi_cconn *c = m->idle;
        m->idle = c->next;
        client_conn_free(c);
    }
    if (m->parent_fd >= 0) close(m->parent_fd);
    if (m->private_child && m->server_pid > 0) {
        /* The server stops once every process holding the manager is gone.
         * Reap it if it stops soon; forked children may keep it alive longer. */
        if (m->shutdown_sent) waitpid(m->server_pid, NULL, 0);
        else
            for (int i = 0; i < 200 && waitpid(m->server_pid, NULL, WNOHANG) == 0; i++)
                usleep(5000);
    }
    if (m->authkey) sodium_memzero(m->authkey, m->klen);
    free(m->authkey);
    free(m->url);
    /* a forked copy that never locked has the parent's mutex and condition
     * as they were, maybe with waiters that do not exist here: never destroy
     * those (pthread_cond_destroy would wait for them) */
    if (__atomic_load_n(&m->mu_pid, __ATOMIC_ACQUIRE) == client_getpid()) {
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
    }
    free(m);
}

int mpm_manager_shutdown(mpm_manager *m)
{
    if (!m) return 0;
    int rc = mpmi_call_id(m, 0, MPMI_OP_SHUTDOWN, NULL, 0, MPMI_SINK_NONE);
    m->shutdown_sent = rc == 0;
    mpm_manager_close(m);
    return rc;
}

int mpm_ping(mpm_manager *m)
{
    return mpmi_call_id(m, 0, MPMI_OP_PING, NULL, 0, MPMI_SINK_NONE);
}

int mpm_manager_object_count(mpm_manager *m, size_t *n)
{
    if (!n) return mpmi_error(MPM_EINVAL, "ValueError: NULL out");
    return mpmi_call_id(m, 0, MPMI_OP_NOBJECTS, NULL, 0, MPMI_SINK_SIZE(n));
}

int mpm_manager_debug_sleep(mpm_manager *m, int64_t ms)
{
    mpm_val a = MPM_INT(ms);
    return mpmi_call_id(m, 0, MPMI_OP_SLEEP, &a, 1, MPMI_SINK_NONE);
}
