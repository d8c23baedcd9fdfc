/* transport_test.c - every transport end to end against a standalone mpmd:
 * unix://, tcp://, nng+ipc://, nng+tcp://; authentication, listen rules,
 * flags, a client killed while parked, and nng after fork.  (nng itself only
 * for a foreign client's bad input: mpmd and libmpm speak nng's wire without
 * it; nng_interop_test checks that wire against the real library.) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <mpm/mpm.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY "transport-test-key"

static const char *mpmd_path(void)
{
    const char *p = getenv("MPM_MPMD");
    cr_assert(p && *p, "MPM_MPMD must name the mpmd binary");
    return p;
}

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

/* A path unique to this test process and tag: tests run in parallel. */
static void tmp_path(char *out, size_t n, const char *tag)
{
    snprintf(out, n, "/tmp/mpm-tt-%d-%s", (int)getpid(), tag);
    unlink(out);
}

static void write_key(char *path, size_t n, const char *tag, const char *key)
{
    tmp_path(path, n, tag);
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fprintf(f, "%s\n", key);
    fclose(f);
}

/* Run mpmd with args (NULL-terminated, after argv[0]); when ready_out is
 * given, pass --ready-fd and read the bound URLs into it.  Returns the pid;
 * *early gets the exit status when mpmd exited before it was ready (-1 if it
 * is running). */
static pid_t spawn_mpmd(const char **args, char *ready_out, size_t rn, int *early)
{
    int rp[2];
    char fdarg[16];
    const char *argv[32];
    int ac = 0;
    cr_assert_eq(pipe2(rp, O_CLOEXEC), 0);
    argv[ac++] = mpmd_path();
    for (int i = 0; args[i]; i++)
        argv[ac++] = args[i];
    if (ready_out) {
        snprintf(fdarg, sizeof fdarg, "%d", rp[1]);
        argv[ac++] = "--ready-fd";
        argv[ac++] = fdarg;
    }
    argv[ac] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* a failed test must not leave its server behind */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (ready_out) fcntl(rp[1], F_SETFD, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(rp[1]);
    size_t got = 0;
    if (ready_out) {
        for (;;) {
            ssize_t r = read(rp[0], ready_out + got, rn - 1 - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
            if (got == rn - 1) break;
        }
        ready_out[got] = 0;
    }
    close(rp[0]);
    *early = -1;
    if (ready_out && got == 0) {
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        *early = st;
    }
    return pid;
}

/* Start mpmd listening on url with the test key and optional extra flags
 * (NULL-terminated, or NULL); first bound URL in bound. */
static pid_t start_server_with(const char *url, const char *keyfile, const char **extra,
                               char *bound, size_t bn)
{
    const char *args[16] = {"--listen", url, "--authkey-file", keyfile, "--quiet"};
    int ac = 5;
    for (int i = 0; extra && extra[i] && ac < 15; i++)
        args[ac++] = extra[i];
    args[ac] = NULL;
    char ready[1024];
    int early;
    pid_t pid = spawn_mpmd(args, ready, sizeof ready, &early);
    cr_assert_eq(early, -1, "mpmd did not start on %s", url);
    unlink(keyfile); /* read at startup: a failing test leaves nothing behind */
    char *nl = strchr(ready, '\n');
    if (nl) *nl = 0;
    snprintf(bound, bn, "%s", ready);
    return pid;
}

static pid_t start_server(const char *url, const char *keyfile, char *bound, size_t bn)
{
    return start_server_with(url, keyfile, NULL, bound, bn);
}

/* Two listen URLs; bound gets both, one per line. */
static pid_t start_server2(const char *u1, const char *u2, const char *keyfile, char *b1, char *b2,
                           size_t bn)
{
    const char *args[] = {"--listen",       u1,      "--listen", u2,
                          "--authkey-file", keyfile, "--quiet",  NULL};
    char ready[1024];
    int early;
    pid_t pid = spawn_mpmd(args, ready, sizeof ready, &early);
    cr_assert_eq(early, -1, "mpmd did not start on %s and %s", u1, u2);
    unlink(keyfile);
    char *nl = strchr(ready, '\n');
    cr_assert(nl);
    *nl = 0;
    snprintf(b1, bn, "%s", ready);
    char *second = nl + 1;
    nl = strchr(second, '\n');
    if (nl) *nl = 0;
    snprintf(b2, bn, "%s", second);
    return pid;
}

/* Wait up to ms for pid; its wait status, or -1 when it is still running. */
static int wait_exit(pid_t pid, int ms)
{
    int64_t end = now_ms() + ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return st;
        if (now_ms() >= end) return -1;
        sleep_ms(5);
    }
}

static void stop_server(pid_t pid)
{
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int st = wait_exit(pid, 2000);
    if (st == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        cr_assert_fail("mpmd did not exit within 2 s of SIGTERM");
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mpmd exit status %d", st);
}

static mpm_manager *connect_ok(const char *url)
{
    mpm_manager *m = NULL;
    int rc = mpm_connect(&m, url, KEY, strlen(KEY));
    cr_assert_eq(rc, 0, "connect %s: %s (%s)", url, mpm_strerror(rc), mpm_last_error());
    return m;
}

/* The round trip every transport must carry. */
static void roundtrip(const char *listen, const char *tag)
{
    char key[256], bound[512];
    write_key(key, sizeof key, tag, KEY);
    pid_t pid = start_server(listen, key, bound, sizeof bound);
    cr_assert(strstr(bound, "://"), "bound URL '%s'", bound);
    cr_assert(strstr(bound, ":0") == NULL || strncmp(bound, "unix", 4) == 0 ||
                  strncmp(bound, "nng+ipc", 7) == 0,
              "port 0 was not resolved: %s", bound);

    if (strncmp(bound, "nng+ipc://", 10) == 0) {
        struct stat st;
        cr_assert_eq(stat(bound + 10, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0600, "ipc socket mode %o", st.st_mode & 0777);
    }

    mpm_manager *m = connect_ok(bound);
    mpm_dict *d = NULL;
    cr_assert_eq(mpm_dict_new(m, &d), 0, "%s", mpm_last_error());
    cr_assert_eq(mpm_dict_set(d, MPM_STR("a"), MPM_INT(1)), 0, "%s", mpm_last_error());
    cr_assert_eq(mpm_dict_set(d, MPM_INT(2), MPM_STR("b")), 0, "%s", mpm_last_error());
    mpm_val *v = NULL;
    cr_assert_eq(mpm_dict_get(d, MPM_STR("a"), &v), 0, "%s", mpm_last_error());
    cr_assert_eq(v->type, MPM_T_INT);
    cr_assert_eq(v->v.i, 1);
    mpm_val_free(v);
    cr_assert_eq(mpm_dict_get(d, MPM_STR("zz"), &v), MPM_EKEY);
    size_t n = 0;
    cr_assert_eq(mpm_dict_len(d, &n), 0);
    cr_assert_eq(n, 2);
    char *r = NULL;
    cr_assert_eq(mpm_dict_repr(d, &r), 0);
    cr_assert_str_eq(r, "{'a': 1, 2: 'b'}");
    free(r);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(mpm_ping(m), 0, "%s", mpm_last_error());

    /* a parked call answers late, through the connection's send hook */
    int64_t t0 = now_ms();
    cr_assert_eq(mpm_manager_debug_sleep(m, 50), 0, "%s", mpm_last_error());
    int64_t took = now_ms() - t0;
    cr_assert_geq(took, 45, "debug_sleep(50) returned after %lld ms", (long long)took);
    cr_assert_eq(mpm_dict_len(d, &n), 0, "the connection works after a parked call");

    mpm_dict_close(d);
    mpm_manager_close(m);
    stop_server(pid);
}

Test(transport, unix_roundtrip, .timeout = 30)
{
    char sock[128], url[160];
    tmp_path(sock, sizeof sock, "rt.sock");
    snprintf(url, sizeof url, "unix://%s", sock);
    roundtrip(url, "rt-unix.key");
}

Test(transport, tcp_roundtrip, .timeout = 30)
{
    roundtrip("tcp://127.0.0.1:0", "rt-tcp.key");
}

Test(transport, nng_ipc_roundtrip, .timeout = 30)
{
    char sock[128], url[160];
    tmp_path(sock, sizeof sock, "rt.ipc");
    snprintf(url, sizeof url, "nng+ipc://%s", sock);
    roundtrip(url, "rt-ipc.key");
    cr_assert_neq(access(sock, F_OK), 0, "mpmd left its ipc socket behind");
}

Test(transport, nng_tcp_roundtrip, .timeout = 30)
{
    roundtrip("nng+tcp://127.0.0.1:0", "rt-ntcp.key");
}

/* Wrong key: refused on every transport, and the server carries on. */
static void wrong_key(const char *listen, const char *tag)
{
    char key[256], bound[512];
    write_key(key, sizeof key, tag, KEY);
    pid_t pid = start_server(listen, key, bound, sizeof bound);
    mpm_manager *m = NULL;
    int rc = mpm_connect(&m, bound, "not the key", 11);
    cr_assert_eq(rc, MPM_EAUTH, "%s: got %s (%s)", bound, mpm_strerror(rc), mpm_last_error());
    cr_assert_null(m);
    rc = mpm_connect(&m, bound, NULL, 0);
    cr_assert_eq(rc, MPM_EAUTH, "%s without a key: got %s", bound, mpm_strerror(rc));
    m = connect_ok(bound);
    cr_assert_eq(mpm_ping(m), 0);
    mpm_manager_close(m);
    stop_server(pid);
}

Test(transport, unix_wrong_key, .timeout = 30)
{
    char sock[128], url[160];
    tmp_path(sock, sizeof sock, "wk.sock");
    snprintf(url, sizeof url, "unix://%s", sock);
    wrong_key(url, "wk-unix.key");
}

Test(transport, tcp_wrong_key, .timeout = 30)
{
    wrong_key("tcp://127.0.0.1:0", "wk-tcp.key");
}

Test(transport, nng_ipc_wrong_key, .timeout = 30)
{
    char sock[128], url[160];
    tmp_path(sock, sizeof sock, "wk.ipc");
    snprintf(url, sizeof url, "nng+ipc://%s", sock);
    wrong_key(url, "wk-ipc.key");
}

Test(transport, nng_tcp_wrong_key, .timeout = 30)
{
    wrong_key("nng+tcp://127.0.0.1:0", "wk-ntcp.key");
}

/* Nobody listening: a clear MPM_ECONNREFUSED, not a hang. */
Test(transport, nng_connection_refused, .timeout = 30)
{
    char sock[128], url[160];
    mpm_manager *m = NULL;
    tmp_path(sock, sizeof sock, "none.ipc");
    snprintf(url, sizeof url, "nng+ipc://%s", sock);
    int rc = mpm_connect(&m, url, KEY, strlen(KEY));
    cr_assert_eq(rc, MPM_ECONNREFUSED, "%s: %s", mpm_strerror(rc), mpm_last_error());
    /* port 1 on loopback: nothing listens there */
    rc = mpm_connect(&m, "nng+tcp://127.0.0.1:1", KEY, strlen(KEY));
    cr_assert_eq(rc, MPM_ECONNREFUSED, "%s: %s", mpm_strerror(rc), mpm_last_error());
    cr_assert_null(m);
}

/* A listener that accepts connections (the kernel does, from its backlog) and
 * never answers: mpm_connect gives up after MPM_CONNECT_TIMEOUT_MS with
 * MPM_ECONNREFUSED ("no answer"), on every transport, instead of waiting
 * forever. */
static void slow_connect(const char *url, int lo_ms, int hi_ms)
{
    mpm_manager *m = NULL;
    int64_t t0 = now_ms();
    int rc = mpm_connect(&m, url, KEY, strlen(KEY));
    int64_t took = now_ms() - t0;
    cr_assert_eq(rc, MPM_ECONNREFUSED, "%s: %s (%s)", url, mpm_strerror(rc), mpm_last_error());
    cr_assert_null(m);
    cr_assert(strstr(mpm_last_error(), "no answer within 300 ms"), "%s", mpm_last_error());
    cr_assert(took >= lo_ms && took <= hi_ms, "%s: gave up after %lld ms", url, (long long)took);
}

static int listen_unix(const char *path)
{
    unlink(path);
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    cr_assert_eq(bind(u, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(u, 16), 0);
    return u;
}

Test(transport, silent_server_times_out, .timeout = 30)
{
    char path[128], url[200];
    tmp_path(path, sizeof path, "silent.sock");
    int u = listen_unix(path);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t inl = sizeof in;
    cr_assert_eq(bind(t, (struct sockaddr *)&in, sizeof in), 0);
    cr_assert_eq(listen(t, 16), 0);
    cr_assert_eq(getsockname(t, (struct sockaddr *)&in, &inl), 0);
    int port = ntohs(in.sin_port);

    setenv("MPM_CONNECT_TIMEOUT_MS", "300", 1);
    snprintf(url, sizeof url, "unix://%s", path);
    slow_connect(url, 250, 5000);
    snprintf(url, sizeof url, "nng+ipc://%s", path); /* the SP header never comes */
    slow_connect(url, 250, 5000);
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    slow_connect(url, 250, 5000);
    snprintf(url, sizeof url, "nng+tcp://127.0.0.1:%d", port);
    slow_connect(url, 250, 5000);
    unsetenv("MPM_CONNECT_TIMEOUT_MS");
    close(u);
    close(t);
    unlink(path);

    /* the bound is for connecting only: a call may wait longer than it */
    char key[256], bound[256];
    write_key(key, sizeof key, "silent.key", KEY);
    tmp_path(path, sizeof path, "silent-ok.sock");
    snprintf(url, sizeof url, "unix://%s", path);
    pid_t srv = start_server(url, key, bound, sizeof bound);
    setenv("MPM_CONNECT_TIMEOUT_MS", "300", 1);
    mpm_manager *m = connect_ok(bound);
    cr_assert_eq(mpm_manager_debug_sleep(m, 600), 0, "%s", mpm_last_error());
    /* -1: no bound at all */
    setenv("MPM_CONNECT_TIMEOUT_MS", "-1", 1);
    mpm_manager *m2 = connect_ok(bound);
    cr_assert_eq(mpm_manager_debug_sleep(m2, 10), 0, "%s", mpm_last_error());
    unsetenv("MPM_CONNECT_TIMEOUT_MS");
    mpm_manager_close(m2);
    mpm_manager_close(m);
    stop_server(srv);
}

/* A listener that answers one byte every 100 ms: the bound is on the whole
 * of connecting, not on each read.  And one that answers a huge length: the
 * client refuses it at once rather than allocating for it. */
Test(transport, dripping_or_huge_answers_are_bounded, .timeout = 30)
{
    char path[128], url[200];
    tmp_path(path, sizeof path, "drip.sock");
    int u = listen_unix(path);
    pid_t kid = fork();
    cr_assert(kid >= 0);
    if (kid == 0) {
        /* first connection: a valid-looking length, then a byte per 100 ms */
        int a = accept(u, NULL, NULL);
        static const unsigned char drip[] = {40, 0, 0, 0, 'M', 'P', 1, 2, 0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t i = 0; a >= 0 && i < sizeof drip; i++) {
            if (send(a, drip + i, 1, MSG_NOSIGNAL) != 1) break; /* it gave up */
            usleep(100000);
        }
        /* second: a 1 GiB - 1 frame announced */
        int b = accept(u, NULL, NULL);
        static const unsigned char huge[4] = {0xff, 0xff, 0xff, 0x3f};
        if (b >= 0) (void)!write(b, huge, sizeof huge);
        char c;
        if (b >= 0) (void)!read(b, &c, 1); /* until the client hangs up */
        _exit(0);
    }
    setenv("MPM_CONNECT_TIMEOUT_MS", "300", 1);
    snprintf(url, sizeof url, "unix://%s", path);
    slow_connect(url, 250, 1200);

    /* (the helper accepts it once it sees the first one gone: ~100 ms) */
    setenv("MPM_CONNECT_TIMEOUT_MS", "5000", 1);
    mpm_manager *m = NULL;
    int64_t t0 = now_ms();
    int rc = mpm_connect(&m, url, KEY, strlen(KEY));
    unsetenv("MPM_CONNECT_TIMEOUT_MS");
    cr_assert_eq(rc, MPM_EPROTO, "%s (%s)", mpm_strerror(rc), mpm_last_error());
    cr_assert(strstr(mpm_last_error(), "bad frame length"), "%s", mpm_last_error());
    cr_assert_lt(now_ms() - t0, 2500, "refused only after %lld ms", (long long)(now_ms() - t0));
    int st;
    cr_assert_eq(waitpid(kid, &st, 0), kid);
    close(u);
    unlink(path);
}

/* Requests at the frame limit over nng's wire, where the request id counts
 * in the message mpmd checks: each size is sent and served or refused by the
 * client (MPM_ETOOBIG), never dropped by the server with the connection. */
Test(transport, nng_requests_at_the_frame_limit, .timeout = 30)
{
    char key[256], sock[128], url[160], bound[256];
    write_key(key, sizeof key, "limit.key", KEY);
    tmp_path(sock, sizeof sock, "limit.ipc");
    snprintf(url, sizeof url, "nng+ipc://%s", sock);
    pid_t srv = start_server(url, key, bound, sizeof bound);
    mpm_manager *m = connect_ok(bound);
    mpm_dict *d = NULL;
    cr_assert_eq(mpm_dict_new(m, &d), 0);
    size_t top = 64u << 20;
    char *big = malloc(top);
    cr_assert_not_null(big);
    memset(big, 'x', top);
    int served = 0, refused = 0;
    for (size_t n = top - 47; n <= top - 43; n++) { /* the last one served, then refused */
        int rc = mpm_dict_set(d, MPM_STR("k"), MPM_BYTES(big, n));
        cr_assert(rc == 0 || rc == MPM_ETOOBIG, "%zu bytes: %s (%s)", n, mpm_strerror(rc),
                  mpm_last_error());
        served += rc == 0;
        refused += rc == MPM_ETOOBIG;
    }
    free(big);
    cr_assert(served > 0 && refused > 0, "served %d, refused %d: move the range", served, refused);
    size_t len = 0;
    cr_assert_eq(mpm_dict_len(d, &len), 0, "the session survived: %s", mpm_last_error());
    cr_assert_eq(len, 1);
    mpm_dict_close(d);
    mpm_manager_close(m);
    stop_server(srv);
}

/* Non-loopback listening needs a key, on either TCP transport. */
static void wildcard_listen(const char *url, const char *tag)
{
    const char *nokey[] = {"--listen", url, "--quiet", NULL};
    char ready[512], key[256];
    int early;
    unsetenv("MPM_AUTHKEY");
    pid_t pid = spawn_mpmd(nokey, ready, sizeof ready, &early);
    if (early == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        cr_assert_fail("mpmd listened on %s without an authkey", url);
    }
    cr_assert(WIFEXITED(early) && WEXITSTATUS(early) != 0, "status %d", early);

    write_key(key, sizeof key, tag, KEY);
    const char *withkey[] = {"--listen", url, "--authkey-file", key, "--quiet", NULL};
    pid = spawn_mpmd(withkey, ready, sizeof ready, &early);
    cr_assert_eq(early, -1, "mpmd refused %s with an authkey", url);
    unlink(key);
    cr_assert(strstr(ready, "0.0.0.0:") && !strstr(ready, "0.0.0.0:0\n"), "bound: %s", ready);
    /* reachable through loopback, and the key still guards it */
    char url2[128];
    const char *port = strrchr(ready, ':') + 1;
    snprintf(url2, sizeof url2, "%s127.0.0.1:%d", strncmp(url, "nng+", 4) ? "tcp://" : "nng+tcp://",
             atoi(port));
    mpm_manager *m = connect_ok(url2);
    cr_assert_eq(mpm_ping(m), 0);
    mpm_manager_close(m);
    stop_server(pid);
}

Test(transport, tcp_wildcard_needs_key, .timeout = 30)
{
    wildcard_listen("tcp://0.0.0.0:0", "wc-tcp.key");
}

Test(transport, nng_tcp_wildcard_needs_key, .timeout = 30)
{
    wildcard_listen("nng+tcp://0.0.0.0:0", "wc-ntcp.key");
}

Test(transport, help_names_every_flag, .timeout = 30)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(mpmd_path(), mpmd_path(), "--help", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char out[8192];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof out - 1 && (r = read(p[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(p[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mpmd --help status %d", st);
    static const char *flags[] = {"--listen",    "--authkey-file", "--authkey-fd", "--ready-fd",
                                  "--parent-fd", "--private",      "--max-frame",  "--quiet",
                                  "--help",      "unix://",        "tcp://",       "nng+ipc://",
                                  "nng+tcp://"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        cr_assert(strstr(out, flags[i]), "--help does not mention %s", flags[i]);
}

static void refused_url(const char *url)
{
    const char *args[] = {"--listen", url, "--quiet", NULL};
    char ready[256];
    int early;
    pid_t pid = spawn_mpmd(args, ready, sizeof ready, &early);
    if (early == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        cr_assert_fail("mpmd accepted --listen %s", url);
    }
    cr_assert(WIFEXITED(early) && WEXITSTATUS(early) != 0, "%s: status %d", url, early);
}

Test(transport, bogus_scheme_refused, .timeout = 30)
{
    refused_url("bogus://somewhere");
    refused_url("nng+ws://127.0.0.1:0");
    refused_url("nng+ipc://");
    refused_url("nng+tcp://no-port-here");
}

/* A client SIGKILLed while parked in a call over nng+ipc: the server drops
 * its session (and its objects) and serves everyone else. */
Test(transport, nng_client_killed_while_parked, .timeout = 30)
{
    char key[256], sock[128], usock[128], u1[160], u2[160], nurl[256], uurl[256];
    write_key(key, sizeof key, "kill.key", KEY);
    tmp_path(sock, sizeof sock, "kill.ipc");
    tmp_path(usock, sizeof usock, "kill.sock");
    snprintf(u1, sizeof u1, "nng+ipc://%s", sock);
    snprintf(u2, sizeof u2, "unix://%s", usock);
    pid_t srv = start_server2(u1, u2, key, nurl, uurl, sizeof nurl);

    /* watch over the native transport: another path than the one under test */
    mpm_manager *watch = connect_ok(uurl);
    size_t base = 0, n = 0;
    cr_assert_eq(mpm_manager_object_count(watch, &base), 0);

    int rp[2];
    cr_assert_eq(pipe(rp), 0);
    pid_t kid = fork();
    cr_assert(kid >= 0);
    if (kid == 0) {
        /* the parked client: two dicts, then a call that never returns */
        mpm_manager *m = NULL;
        mpm_dict *d = NULL, *d2 = NULL;
        close(rp[0]);
        if (mpm_connect(&m, nurl, KEY, strlen(KEY)) || mpm_dict_new(m, &d) ||
            mpm_dict_new(m, &d2) || mpm_dict_set(d, MPM_INT(1), MPM_INT(2)))
            _exit(2);
        (void)!write(rp[1], "r", 1);
        mpm_manager_debug_sleep(m, 600000);
        _exit(3); /* never: killed while parked */
    }
    close(rp[1]);
    char c;
    cr_assert_eq(read(rp[0], &c, 1), 1, "the child could not set up");
    close(rp[0]);
    sleep_ms(150); /* let the call reach the server and park */
    cr_assert_eq(mpm_manager_object_count(watch, &n), 0);
    cr_assert_eq(n, base + 2, "the child's objects: %zu, base %zu", n, base);
    cr_assert_eq(kill(kid, SIGKILL), 0);
    int st;
    cr_assert_eq(waitpid(kid, &st, 0), kid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %d", st);

    /* the pipe's removal reaches the loop: the session and its objects go */
    int64_t end = now_ms() + 5000;
    do {
        cr_assert_eq(mpm_manager_object_count(watch, &n), 0, "%s", mpm_last_error());
        if (n == base) break;
        sleep_ms(10);
    } while (now_ms() < end);
    cr_assert_eq(n, base, "objects %zu, want the baseline %zu", n, base);

    /* another nng client still works */
    mpm_manager *m = connect_ok(nurl);
    mpm_dict *d = NULL;
    cr_assert_eq(mpm_dict_new(m, &d), 0, "%s", mpm_last_error());
    cr_assert_eq(mpm_dict_set(d, MPM_STR("k"), MPM_STR("v")), 0);
    cr_assert_eq(mpm_manager_debug_sleep(m, 20), 0, "%s", mpm_last_error());
    cr_assert_eq(mpm_manager_object_count(m, &n), 0);
    cr_assert_eq(n, base + 1);
    mpm_dict_close(d);
    mpm_manager_close(m);
    mpm_manager_close(watch);
    stop_server(srv);
}

/* A forked child uses the nng manager and handles it inherited, as over
 * unix:// (libmpm speaks nng's wire itself: libnng would abort in the child),
 * in its own session; the parent's connection is untouched. */
static void nng_after_fork(const char *listen, const char *tag)
{
    char key[256], bound[256];
    write_key(key, sizeof key, tag, KEY);
    pid_t srv = start_server(listen, key, bound, sizeof bound);
    mpm_manager *m = connect_ok(bound);
    mpm_dict *d = NULL;
    cr_assert_eq(mpm_dict_new(m, &d), 0);
    cr_assert_eq(mpm_dict_set(d, MPM_INT(1), MPM_INT(1)), 0);

    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        kids[k] = fork();
        cr_assert(kids[k] >= 0);
        if (kids[k] == 0) {
            size_t n = 0;
            mpm_list *l = NULL;
            int ok = mpm_dict_len(d, &n) == 0 && n >= 1 &&
                     mpm_dict_set(d, MPM_INT(10 + k), MPM_INT(k)) == 0 && mpm_ping(m) == 0 &&
                     mpm_list_new(m, &l) == 0 && mpm_list_append(l, MPM_INT(k)) == 0;
            mpm_list_close(l);
            mpm_manager_close(m);
            _exit(ok ? 0 : 1);
        }
    }
    for (int k = 0; k < 3; k++) {
        int st;
        cr_assert_eq(waitpid(kids[k], &st, 0), kids[k]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d status %d", k, st);
    }

    /* the children's writes are there; their lists went with their sessions */
    size_t n = 0;
    cr_assert_eq(mpm_dict_len(d, &n), 0, "%s", mpm_last_error());
    cr_assert_eq(n, 4);
    for (int k = 0; k < 3; k++) {
        mpm_val *v = NULL;
        cr_assert_eq(mpm_dict_get(d, MPM_INT(10 + k), &v), 0, "%s", mpm_last_error());
        cr_assert_eq(v->v.i, k);
        mpm_val_free(v);
    }
    size_t objs = 0;
    int64_t end = now_ms() + 5000; /* the children's hang-ups reach the server on its own time */
    do {
        cr_assert_eq(mpm_manager_object_count(m, &objs), 0);
        if (objs == 1) break;
        sleep_ms(10);
    } while (now_ms() < end);
    cr_assert_eq(objs, 1, "objects: %zu", objs);
    mpm_dict_close(d);
    mpm_manager_close(m);
    stop_server(srv);
}

Test(transport, nng_ipc_after_fork, .timeout = 30)
{
    char sock[128], url[160];
    tmp_path(sock, sizeof sock, "fork.ipc");
    snprintf(url, sizeof url, "nng+ipc://%s", sock);
    nng_after_fork(url, "fork.key");
}

Test(transport, nng_tcp_after_fork, .timeout = 30)
{
    nng_after_fork("nng+tcp://127.0.0.1:0", "fork-ntcp.key");
}

/* Shutdown's reply must leave before the nng socket closes. */
static void nng_shutdown(const char *listen, const char *tag)
{
    char key[256], bound[256];
    write_key(key, sizeof key, tag, KEY);
    pid_t srv = start_server(listen, key, bound, sizeof bound);
    mpm_manager *m = connect_ok(bound);
    cr_assert_eq(mpm_ping(m), 0);
    int rc = mpm_manager_shutdown(m);
    cr_assert_eq(rc, 0, "shutdown: %s (%s)", mpm_strerror(rc), mpm_last_error());
    int st = wait_exit(srv, 2000);
    cr_assert_neq(st, -1, "mpmd did not exit after shutdown");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

Test(transport, nng_ipc_shutdown, .timeout = 30)
{
    char sock[128], url[160];
    tmp_path(sock, sizeof sock, "sd.ipc");
    snprintf(url, sizeof url, "nng+ipc://%s", sock);
    nng_shutdown(url, "sd-ipc.key");
}

Test(transport, nng_tcp_shutdown, .timeout = 30)
{
    nng_shutdown("nng+tcp://127.0.0.1:0", "sd-ntcp.key");
}

/* The server going away under a waiting nng client: an error, not a hang. */
Test(transport, nng_server_gone_while_parked, .timeout = 30)
{
    char key[256], sock[128], url[160], bound[256];
    write_key(key, sizeof key, "gone.key", KEY);
    tmp_path(sock, sizeof sock, "gone.ipc");
    snprintf(url, sizeof url, "nng+ipc://%s", sock);
    pid_t srv = start_server(url, key, bound, sizeof bound);
    mpm_manager *m = connect_ok(bound);
    pid_t killer = fork();
    cr_assert(killer >= 0);
    if (killer == 0) {
        sleep_ms(200);
        kill(srv, SIGKILL);
        _exit(0);
    }
    int rc = mpm_manager_debug_sleep(m, 20000);
    cr_assert_eq(rc, MPM_ECLOSED, "%s (%s)", mpm_strerror(rc), mpm_last_error());
    waitpid(killer, NULL, 0);
    waitpid(srv, NULL, 0);
    /* the next call dials again and finds nobody */
    rc = mpm_ping(m);
    cr_assert_eq(rc, MPM_ECONNREFUSED, "%s (%s)", mpm_strerror(rc), mpm_last_error());
    mpm_manager_close(m);
    unlink(sock);
}

/* Garbage from a foreign nng client is refused with a REFUSED frame and
 * costs nothing else; a frame over --max-frame drops that pipe, and the
 * client hears MPM_ECLOSED rather than waiting forever. */
Test(transport, nng_bad_input, .timeout = 30)
{
    char key[256], sock[128], url[160], bound[256];
    const char *extra[] = {"--max-frame", "4096", NULL};
    write_key(key, sizeof key, "bad.key", KEY);
    tmp_path(sock, sizeof sock, "bad.ipc");
    snprintf(url, sizeof url, "nng+ipc://%s", sock);
    pid_t srv = start_server_with(url, key, extra, bound, sizeof bound);

    nng_socket rq;
    cr_assert_eq(nng_req0_open(&rq), 0);
    nng_socket_set_ms(rq, NNG_OPT_RECVTIMEO, 5000);
    cr_assert_eq(nng_dial(rq, bound + 4, NULL, 0), 0);
    cr_assert_eq(nng_send(rq, "garbage, not a frame", 20, 0), 0);
    char *buf = NULL;
    size_t n = 0;
    cr_assert_eq(nng_recv(rq, &buf, &n, NNG_FLAG_ALLOC), 0);
    cr_assert_geq(n, 16);
    cr_assert_eq(buf[0], 'M');
    cr_assert_eq(buf[1], 'P');
    cr_assert_eq(buf[3], 5, "kind %d, want REFUSED", buf[3]);
    nng_free(buf, n);
    nng_close(rq);

    mpm_manager *m = connect_ok(bound);
    mpm_dict *d = NULL;
    cr_assert_eq(mpm_dict_new(m, &d), 0);
    static char big[16384];
    memset(big, 'x', sizeof big - 1);
    int rc = mpm_dict_set(d, MPM_STR("big"), MPM_STR(big));
    cr_assert_eq(rc, MPM_ECLOSED, "%s (%s)", mpm_strerror(rc), mpm_last_error());
    mpm_manager_close(m);

    m = connect_ok(bound);
    size_t objs = 99;
    int64_t end = now_ms() + 5000; /* the server hears of the pipe on its own time */
    do {
        cr_assert_eq(mpm_manager_object_count(m, &objs), 0);
        if (objs == 0) break;
        sleep_ms(10);
    } while (now_ms() < end);
    cr_assert_eq(objs, 0, "the dropped session's dict is gone: %zu objects", objs);
    cr_assert_eq(mpm_manager_debug_sleep(m, 10), 0);
    mpm_manager_close(m);
    stop_server(srv);
}
