/* netns_test.c - a client on a second host.  Each test makes a network
 * namespace with `ip netns` and a veth pair into it (the "remote host"), runs
 * a standalone mpmd on the host side of the pair, and has clients inside the
 * namespace use the named queue "jobs", the named lock "jobs-lock" and the
 * named dict "results" over TCP with an authkey, on native tcp:// and on
 * nng+tcp://: every job done exactly once, mutual exclusion and fencing
 * tokens across hosts, the same objects by name on both sides, a wrong key
 * refused, a remote holder SIGKILLed handing the lock on with
 * MPM_EOWNERDEAD, no listening on a non-loopback address without a key, a
 * loopback-only server out of the namespace's reach, and a lock given back
 * when its holder's host drops off the network (nt_lost_host: there the
 * server runs in the namespace, whose kernel is told to give up on a silent
 * peer within seconds).
 *
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2's `ip`; where a
 * namespace cannot be made every test is skipped saying why.
 * MPM_TEST_NO_NETNS=1 in the environment skips them the same way.
 *
 * Remote clients are forked children that enter the namespace with setns(2).
 * They never call cr_* (Criterion's nng does not survive fork) and report by
 * exit status.  A tcp:// client runs in the forked child itself; an nng+tcp://
 * client cannot (nng panics in a fork of a process that used it, and
 * Criterion's workers did), so the child execs this binary again, and
 * helper_main runs the client in that fresh process, still in the
 * namespace. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mpm/mpm.h>

#include "support/support.h"

#define NT_KEY "netns-test-key: the shared secret of both hosts"
#define NT_NETNS_DIR "/var/run/netns"
#define NT_MAX_KIDS 16

extern char **environ;

/*---- the remote side: runs in the namespace, reports by exit status ----------*/

/* What a remote client does. */
enum nt_mode {
    NT_WORKER = 1, /* take jobs until a None, recording each under the lock */
    NT_HOLDER,     /* take the lock, say so on "ctl", release when "ctl-back" says */
    NT_HOLD_DIE,   /* take the lock, say so on "ctl", then wait to be killed */
    NT_PROBE,      /* connect and ping: exit status -rc (0: reached and authenticated) */
};

/* Exit statuses of a remote client beyond a probe's -rc. */
#define NT_FAIL_BASE 64 /* + step: an mpm call failed (the child says which on stderr) */
#define NT_EXIT_SETNS 120
#define NT_EXIT_EXEC 121
#define NT_EXIT_DUP 122 /* a job came twice */

static int nt_fail(int wid, int step, const char *what, int rc)
{
    fprintf(stderr, "netns remote %d: step %d: %s: %d %s (%s)\n", wid, step, what, rc,
            mpm_strerror(rc), mpm_last_error());
    return NT_FAIL_BASE + step;
}

#define NT_TRY(step, expr)                                                                         \
    do {                                                                                           \
        int nt_rc_ = (expr);                                                                       \
        if (nt_rc_) {                                                                              \
            rv = nt_fail(wid, (step), #expr, nt_rc_);                                              \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static int nt_remote_worker(mpm_manager *m, int wid)
{
    int rv = 0;
    mpm_queue *q = NULL;
    mpm_lock *l = NULL;
    mpm_dict *d = NULL;
    mpm_val *v = NULL, *c = NULL;
    char key[32];
    NT_TRY(1, mpm_queue_open(m, "jobs", 0, &q));
    NT_TRY(2, mpm_lock_open(m, "jobs-lock", &l));
    NT_TRY(3, mpm_dict_open(m, "results", &d));
    /* what this host sees behind the names, for the other host to compare */
    mpm_val ids[3] = {MPM_INT(mpm_handle_id(q)), MPM_INT(mpm_handle_id(l)),
                      MPM_INT(mpm_handle_id(d))};
    snprintf(key, sizeof key, "id:%d", wid);
    NT_TRY(4, mpm_dict_set(d, MPM_STR(key), MPM_LIST(ids, 3)));
    for (;;) {
        NT_TRY(5, mpm_queue_get(q, 10000, &v));
        if (v->type == MPM_T_NONE) break;
        if (v->type != MPM_T_INT) {
            rv = nt_fail(wid, 6, "a job is not an int", MPM_ETYPE);
            goto out;
        }
        int64_t job = v->v.i;
        mpm_val_free(v);
        v = NULL;
        uint64_t token = 0;
        NT_TRY(7, mpm_lock_acquire(l, 10000, &token));
        /* a read-modify-write that only the lock makes safe, with the host's
         * own increments racing it */
        bool dup = false;
        NT_TRY(8, mpm_dict_contains(d, MPM_INT(job), &dup));
        if (dup) {
            fprintf(stderr, "netns remote %d: job %lld came twice\n", wid, (long long)job);
            mpm_lock_release(l);
            rv = NT_EXIT_DUP;
            goto out;
        }
        NT_TRY(9, mpm_dict_get_default(d, MPM_STR("count"), MPM_INT(0), &c));
        int64_t n = c->v.i;
        mpm_val_free(c);
        c = NULL;
        mpm_val rec[2] = {MPM_INT(wid), MPM_INT(token)};
        NT_TRY(10, mpm_dict_set(d, MPM_INT(job), MPM_LIST(rec, 2)));
        NT_TRY(11, mpm_dict_set(d, MPM_STR("count"), MPM_INT(n + 1)));
        NT_TRY(12, mpm_lock_release(l));
    }
out:
    mpm_val_free(v);
    mpm_val_free(c);
    mpm_dict_close(d);
    mpm_lock_close(l);
    mpm_queue_close(q);
    return rv;
}

static void *nt_barrier_main(void *b)
{
    mpm_barrier_wait(b, -1, NULL);
    return NULL;
}

static int nt_remote_holder(mpm_manager *m, int wid, bool die)
{
    int rv = 0;
    mpm_queue *ctl = NULL, *back = NULL;
    mpm_lock *l = NULL;
    mpm_semaphore *sem = NULL;
    mpm_barrier *b = NULL;
    mpm_val *v = NULL;
    uint64_t token = 0;
    NT_TRY(21, mpm_queue_open(m, "ctl", 0, &ctl));
    NT_TRY(22, mpm_queue_open(m, "ctl-back", 0, &back));
    NT_TRY(23, mpm_lock_open(m, "jobs-lock", &l));
    NT_TRY(24, mpm_lock_acquire(l, 10000, &token));
    if (die) {
        /* a permit too, and a thread parked in a Barrier wait: all to be
         * given back, or broken, when this process or its host goes */
        pthread_t t;
        NT_TRY(30, mpm_semaphore_open(m, "jobs-sem", 1, false, &sem));
        NT_TRY(31, mpm_semaphore_acquire(sem, 10000));
        NT_TRY(32, mpm_barrier_open(m, "jobs-barrier", 2, -1, &b));
        if (pthread_create(&t, NULL, nt_barrier_main, b)) {
            rv = nt_fail(wid, 33, "pthread_create", MPM_ENOMEM);
            goto out;
        }
    }
    mpm_val held[3] = {MPM_STR("held"), MPM_INT(token), MPM_INT(mpm_handle_id(l))};
    NT_TRY(25, mpm_queue_put(ctl, MPM_LIST(held, 3), -1));
    if (die)
        for (;;)
            pause(); /* SIGKILLed holding the lock */
    NT_TRY(26, mpm_queue_get(back, 10000, &v));
    if (v->type != MPM_T_STR || strcmp(v->v.str.ptr, "release") != 0) {
        rv = nt_fail(wid, 27, "ctl-back did not say release", MPM_EVALUE);
        goto out;
    }
    NT_TRY(28, mpm_lock_release(l));
    NT_TRY(29, mpm_queue_put(ctl, MPM_STR("released"), -1));
out:
    mpm_val_free(v);
    mpm_barrier_close(b);
    mpm_semaphore_close(sem);
    mpm_lock_close(l);
    mpm_queue_close(back);
    mpm_queue_close(ctl);
    return rv;
}

/* Runs in the namespace.  key NULL: connect without a key. */
static int nt_remote_run(int mode, const char *url, const char *key, int wid)
{
    unsetenv("MPM_AUTHKEY"); /* NULL must mean no key, not the environment's */
    mpm_manager *m = NULL;
    int rc = mpm_connect(&m, url, key ? key : NULL, key ? strlen(key) : 0);
    if (mode == NT_PROBE) {
        if (rc == 0) rc = mpm_ping(m);
        if (rc && rc != MPM_EAUTH && rc != MPM_ECONNREFUSED)
            fprintf(stderr, "netns probe of %s: %s (%s)\n", url, mpm_strerror(rc),
                    mpm_last_error());
        mpm_manager_close(m);
        return -rc;
    }
    if (rc) return nt_fail(wid, 0, url, rc);
    int rv = mode == NT_WORKER ? nt_remote_worker(m, wid)
                               : nt_remote_holder(m, wid, mode == NT_HOLD_DIE);
    mpm_manager_close(m);
    return rv;
}

/* Runs before Criterion when this binary is re-executed as a remote nng
 * client: a fresh process (nng usable), already inside the namespace. */
__attribute__((constructor)) static void helper_main(void)
{
    const char *mode = getenv("MPM_NT_HELPER");
    if (!mode) return;
    const char *url = getenv("MPM_NT_URL");
    const char *key = getenv("MPM_NT_NOKEY") ? NULL : getenv("MPM_NT_KEY");
    const char *wid = getenv("MPM_NT_WID");
    if (!url) _exit(NT_EXIT_EXEC);
    _exit(nt_remote_run(atoi(mode), url, key, wid ? atoi(wid) : 0));
}

/*---- the fixture: a namespace, a veth pair, and what runs in them -------------*/

static struct {
    bool up;              /* the namespace and the veth pair exist */
    char ns[32];          /* namespace name, mpmt<pid> */
    char nspath[64];      /* /var/run/netns/<ns> */
    char hveth[IFNAMSIZ]; /* host side, mpmh<pid> */
    char nveth[IFNAMSIZ]; /* namespace side, mpmn<pid> */
    char haddr[32];       /* 10.201.X.Y: the host, as the namespace reaches it */
    char naddr[32];       /* 10.201.X.Y+1: the namespace side */
    char keyfile[128];
    char sock[128];
    pid_t srv;
    pid_t kids[NT_MAX_KIDS];
    int nkids;
    mpm_manager *mgrs[8]; /* this process's connections, closed by a failed test's .fini */
    bool waiting;         /* waiter runs: joined by a failed test's .fini */
    pthread_t waiter;
    char self[4096];
} nt;

/* Run argv (argv[0] looked up in PATH) with stdout and stderr into out
 * (NUL-terminated, trailing newlines removed).  The exit status, 128 + signal
 * when killed, 127 when it could not be run. */
static int nt_run(char *out, size_t on, const char *const *argv)
{
    int p[2];
    out[0] = 0;
    if (pipe2(p, O_CLOEXEC)) {
        snprintf(out, on, "pipe: %s", strerror(errno));
        return 127;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out, on, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return 127;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 1);
        dup2(p[1], 2);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    for (;;) {
        char tmp[256];
        ssize_t r = read(p[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        for (ssize_t i = 0; i < r && got + 1 < on; i++)
            out[got++] = tmp[i];
    }
    close(p[0]);
    out[got] = 0;
    while (got && (out[got - 1] == '\n' || out[got - 1] == ' '))
        out[--got] = 0;
    return t_wait_child(pid);
}

/* `ip ARGS...` (NULL-terminated); on failure err gets "ip ARGS: output". */
static int nt_ip(char *err, size_t en, ...)
{
    const char *argv[24] = {"ip"};
    int ac = 1;
    char cmd[256];
    int cl = snprintf(cmd, sizeof cmd, "ip");
    va_list ap;
    va_start(ap, en);
    const char *a;
    while ((a = va_arg(ap, const char *)) && ac < 23) {
        argv[ac++] = a;
        if (cl < (int)sizeof cmd) cl += snprintf(cmd + cl, sizeof cmd - (size_t)cl, " %s", a);
    }
    va_end(ap);
    argv[ac] = NULL;
    char out[512];
    int st = nt_run(out, sizeof out, argv);
    if (st && err)
        snprintf(err, en, "`%s` exited with %d: %s", cmd, st, out[0] ? out : "(no output)");
    return st;
}

/* Remove a namespace and host veth of these names, quietly.  Deleting the
 * host end takes the other with it at once (deleting the namespace would too,
 * but later: the kernel tears namespaces down in the background). */
static void nt_remove(const char *ns, const char *hveth)
{
    char path[128];
    if (hveth[0] && if_nametoindex(hveth)) nt_ip(NULL, 0, "link", "del", hveth, NULL);
    snprintf(path, sizeof path, NT_NETNS_DIR "/%s", ns);
    if (ns[0] && access(path, F_OK) == 0) nt_ip(NULL, 0, "netns", "del", ns, NULL);
}

static bool nt_pid_gone(const char *digits)
{
    char *end;
    long pid = strtol(digits, &end, 10);
    return *digits && !*end && pid > 0 && kill((pid_t)pid, 0) && errno == ESRCH;
}

/* A run killed by its timeout leaves its namespace and veth behind: remove
 * those whose process is gone (a live one belongs to a test running now). */
static void nt_sweep_stale(void)
{
    DIR *dir = opendir(NT_NETNS_DIR);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (strncmp(e->d_name, "mpmt", 4) || !nt_pid_gone(e->d_name + 4)) continue;
        char h[IFNAMSIZ + 8];
        snprintf(h, sizeof h, "mpmh%s", e->d_name + 4);
        nt_remove(e->d_name, strlen(h) < IFNAMSIZ ? h : "");
    }
    if (dir) closedir(dir);
    struct if_nameindex *ifs = if_nameindex(), *i;
    for (i = ifs; i && i->if_index; i++)
        if (strncmp(i->if_name, "mpmh", 4) == 0 && nt_pid_gone(i->if_name + 4))
            nt_ip(NULL, 0, "link", "del", i->if_name, NULL);
    if (ifs) if_freenameindex(ifs);
}

/* Is any address of this host inside 10.201.a.b/30? */
static bool nt_subnet_taken(unsigned a, unsigned b)
{
    struct ifaddrs *ifa = NULL, *i;
    bool taken = false;
    if (getifaddrs(&ifa)) return false;
    uint32_t net = (10u << 24) | (201u << 16) | (a << 8) | b;
    for (i = ifa; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
            (ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) & ~3u) == net)
            taken = true;
    freeifaddrs(ifa);
    return taken;
}

/* Enter the namespace (in a child). */
static int nt_enter(void)
{
    int fd = open(nt.nspath, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

/* In a child in the namespace: can it open a TCP connection to the host? */
static int nt_tcp_reaches(const char *addr, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* The namespace really is another host, and it reaches this one: a child in
 * it no longer sees the host's veth, and connects to a socket listening on
 * the host's address.  NULL, or what went wrong. */
static const char *nt_probe_namespace(char *why, size_t wn)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof sa;
    inet_pton(AF_INET, nt.haddr, &sa.sin_addr);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4) ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl)) {
        snprintf(why, wn, "cannot listen on %s: %s", nt.haddr, strerror(errno));
        if (lfd >= 0) close(lfd);
        return why;
    }
    int port = ntohs(sa.sin_port);
    pid_t p = fork();
    if (p < 0) {
        close(lfd);
        snprintf(why, wn, "fork: %s", strerror(errno));
        return why;
    }
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (nt_enter()) _exit(1);
        if (if_nametoindex(nt.hveth) != 0) _exit(2); /* still on the host */
        if (if_nametoindex(nt.nveth) == 0) _exit(3);
        for (int i = 0; i < 100; i++) {
            if (nt_tcp_reaches(nt.haddr, port)) _exit(0);
            t_sleep_ms(20);
        }
        _exit(4);
    }
    int st = t_wait_child(p);
    close(lfd);
    switch (st) {
    case 0:
        return NULL;
    case 1:
        snprintf(why, wn, "setns(%s, CLONE_NEWNET) failed (needs CAP_SYS_ADMIN)", nt.nspath);
        break;
    case 2:
        snprintf(why, wn, "setns(%s) did not change the network namespace", nt.nspath);
        break;
    case 3:
        snprintf(why, wn, "%s is missing inside namespace %s", nt.nveth, nt.ns);
        break;
    case 4:
        snprintf(why, wn, "namespace %s cannot reach %s over the veth pair", nt.ns, nt.haddr);
        break;
    default:
        snprintf(why, wn, "the probe child ended with status %d", st);
        break;
    }
    return why;
}

static void nt_setup(void)
{
    memset(&nt, 0, sizeof nt);
    nt.srv = -1;
    unsetenv("MPM_AUTHKEY");
    const char *no = getenv("MPM_TEST_NO_NETNS");
    if (no && *no && strcmp(no, "0") != 0)
        cr_skip_test("network namespaces disabled by MPM_TEST_NO_NETNS=%s: this test needs to "
                     "create one (root with CAP_NET_ADMIN and CAP_SYS_ADMIN, and iproute2's `ip`)",
                     no);

    ssize_t sl = readlink("/proc/self/exe", nt.self, sizeof nt.self - 1);
    cr_assert(sl > 0, "readlink /proc/self/exe: %s", strerror(errno));
    nt.self[sl] = 0;

    int pid = (int)getpid();
    snprintf(nt.ns, sizeof nt.ns, "mpmt%d", pid);
    snprintf(nt.nspath, sizeof nt.nspath, NT_NETNS_DIR "/%s", nt.ns);
    snprintf(nt.hveth, sizeof nt.hveth, "mpmh%d", pid);
    snprintf(nt.nveth, sizeof nt.nveth, "mpmn%d", pid);
    snprintf(nt.keyfile, sizeof nt.keyfile, "/tmp/mpm-nt-%d.key", pid);
    snprintf(nt.sock, sizeof nt.sock, "/tmp/mpm-nt-%d.sock", pid);
    unlink(nt.sock);

    nt_sweep_stale();
    nt_remove(nt.ns, nt.hveth); /* a stale pair of this name: a recycled pid */

    /* a /30 of 10.201.0.0/16 from the pid; skip those in use here */
    unsigned slot = (unsigned)pid % 16384;
    for (int tries = 0; tries < 16384; tries++, slot = (slot + 1) % 16384)
        if (!nt_subnet_taken(slot >> 6, (slot & 63) * 4)) break;
    snprintf(nt.haddr, sizeof nt.haddr, "10.201.%u.%u", slot >> 6, (slot & 63) * 4 + 1);
    snprintf(nt.naddr, sizeof nt.naddr, "10.201.%u.%u", slot >> 6, (slot & 63) * 4 + 2);
    char hcidr[40], ncidr[40];
    snprintf(hcidr, sizeof hcidr, "%s/30", nt.haddr);
    snprintf(ncidr, sizeof ncidr, "%s/30", nt.naddr);

    char err[700], why[700];
    const char *fail = NULL;
    if (nt_ip(err, sizeof err, "netns", "add", nt.ns, NULL) ||
        nt_ip(err, sizeof err, "link", "add", nt.hveth, "type", "veth", "peer", "name", nt.nveth,
              NULL) ||
        nt_ip(err, sizeof err, "link", "set", nt.nveth, "netns", nt.ns, NULL) ||
        nt_ip(err, sizeof err, "addr", "add", hcidr, "dev", nt.hveth, NULL) ||
        nt_ip(err, sizeof err, "link", "set", nt.hveth, "up", NULL) ||
        nt_ip(err, sizeof err, "-n", nt.ns, "addr", "add", ncidr, "dev", nt.nveth, NULL) ||
        nt_ip(err, sizeof err, "-n", nt.ns, "link", "set", nt.nveth, "up", NULL) ||
        nt_ip(err, sizeof err, "-n", nt.ns, "link", "set", "lo", "up", NULL))
        fail = err;
    if (!fail) fail = nt_probe_namespace(why, sizeof why);
    if (fail) {
        nt_remove(nt.ns, nt.hveth);
        /* a skipped test gets no .fini: everything is undone above */
        cr_skip_test("cannot make a second host (network namespace %s, veth %s/%s): %s.  This "
                     "test needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN and iproute2's `ip` "
                     "(euid %d)",
                     nt.ns, nt.hveth, nt.nveth, fail, (int)geteuid());
    }
    nt.up = true;
}

static void nt_teardown(void)
{
    for (int i = 0; i < nt.nkids; i++)
        if (nt.kids[i] > 0) {
            kill(nt.kids[i], SIGKILL);
            waitpid(nt.kids[i], NULL, 0);
        }
    nt.nkids = 0;
    if (nt.srv > 0) {
        kill(nt.srv, SIGKILL);
        waitpid(nt.srv, NULL, 0);
        nt.srv = -1;
    }
    if (nt.waiting) pthread_join(nt.waiter, NULL); /* its connection is gone with mpmd */
    nt.waiting = false;
    for (size_t i = 0; i < sizeof nt.mgrs / sizeof nt.mgrs[0]; i++) {
        mpm_manager_close(nt.mgrs[i]);
        nt.mgrs[i] = NULL;
    }
    unlink(nt.keyfile);
    unlink(nt.sock);
    if (nt.up) nt_remove(nt.ns, nt.hveth);
    nt.up = false;
}

TestSuite(netns, .init = nt_setup, .fini = nt_teardown, .timeout = 60);

/*---- mpmd on the host side ------------------------------------------------------*/

static const char *nt_mpmd(void)
{
    const char *p = getenv("MPM_MPMD");
    cr_assert(p && *p, "MPM_MPMD must name the mpmd binary");
    return p;
}

/* How the kernel of a server run inside the namespace gives up on a silent
 * peer (per-namespace sysctls; the real host's are untouched): an idle
 * connection with keepalive on is probed after 1 s, every 1 s, and dropped
 * after 3 unanswered probes; unacknowledged data is dropped after 3
 * retransmissions (~3 s). */
static const char *const nt_keepalive[][2] = {
    {"/proc/sys/net/ipv4/tcp_keepalive_time", "1"},
    {"/proc/sys/net/ipv4/tcp_keepalive_intvl", "1"},
    {"/proc/sys/net/ipv4/tcp_keepalive_probes", "3"},
    {"/proc/sys/net/ipv4/tcp_retries2", "3"},
};
#define NT_EXIT_SYSCTL 125

/* In a child inside the namespace: set nt_keepalive.  0 or -1. */
static int nt_tune_keepalive(void)
{
    for (size_t i = 0; i < sizeof nt_keepalive / sizeof nt_keepalive[0]; i++) {
        int fd = open(nt_keepalive[i][0], O_WRONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        ssize_t w = write(fd, nt_keepalive[i][1], strlen(nt_keepalive[i][1]));
        close(fd);
        if (w != (ssize_t)strlen(nt_keepalive[i][1])) return -1;
    }
    return 0;
}

/* Run mpmd with args (NULL-terminated) and --ready-fd; in_ns: inside the
 * namespace, with nt_keepalive.  0 with *pid and the bound URLs (one a line)
 * in ready; or the exit status of an mpmd that ended before it was ready,
 * with its stderr in err. */
static int nt_spawn_mpmd_in(bool in_ns, const char **args, pid_t *pid, char *ready, size_t rn,
                            char *err, size_t en)
{
    int rp[2], ep[2];
    char fdarg[16];
    const char *argv[32];
    int ac = 0;
    cr_assert_eq(pipe2(rp, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(ep, O_CLOEXEC), 0);
    argv[ac++] = nt_mpmd();
    for (int i = 0; args[i] && ac < 28; i++)
        argv[ac++] = args[i];
    snprintf(fdarg, sizeof fdarg, "%d", rp[1]);
    argv[ac++] = "--ready-fd";
    argv[ac++] = fdarg;
    argv[ac] = NULL;
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no server behind */
        if (in_ns && nt_enter()) _exit(NT_EXIT_SETNS);
        if (in_ns && nt_tune_keepalive()) _exit(NT_EXIT_SYSCTL);
        fcntl(rp[1], F_SETFD, 0);
        dup2(ep[1], 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(rp[1]);
    close(ep[1]);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(rp[0], ready + got, rn - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == rn - 1) break;
    }
    ready[got] = 0;
    close(rp[0]);
    if (got) {
        close(ep[0]); /* mpmd's later stderr goes nowhere (a closed pipe: --quiet) */
        *pid = p;
        return 0;
    }
    /* ended before it was ready: why? */
    got = 0;
    for (;;) {
        ssize_t r = read(ep[0], err + got, en - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == en - 1) break;
    }
    err[got] = 0;
    close(ep[0]);
    int st = t_wait_child(p);
    return st ? st : -1;
}

static int nt_spawn_mpmd(const char **args, pid_t *pid, char *ready, size_t rn, char *err,
                         size_t en)
{
    return nt_spawn_mpmd_in(false, args, pid, ready, rn, err, en);
}

static void nt_write_key(void)
{
    FILE *f = fopen(nt.keyfile, "w");
    cr_assert(f, "cannot write %s", nt.keyfile);
    fprintf(f, "%s\n", NT_KEY);
    fclose(f);
}

/* The i-th line of text into out. */
static void nt_line(const char *text, int i, char *out, size_t on)
{
    const char *s = text;
    for (; i > 0 && s; i--) {
        s = strchr(s, '\n');
        if (s) s++;
    }
    cr_assert(s && *s, "no line %d in '%s'", i, text);
    size_t n = strcspn(s, "\n");
    cr_assert_lt(n, on);
    memcpy(out, s, n);
    out[n] = 0;
}

/* mpmd with the key on the host's veth address (native and nng, port 0) and
 * on a unix socket; the bound URLs. */
static void nt_start_server(char *tcp, char *ntcp, char *unx, size_t n)
{
    char l1[96], l2[96], l3[160], ready[1024], err[1024];
    snprintf(l1, sizeof l1, "tcp://%s:0", nt.haddr);
    snprintf(l2, sizeof l2, "nng+tcp://%s:0", nt.haddr);
    snprintf(l3, sizeof l3, "unix://%s", nt.sock);
    nt_write_key();
    const char *args[] = {"--listen",       l1,         "--listen", l2,  "--listen", l3,
                          "--authkey-file", nt.keyfile, "--quiet",  NULL};
    int rc = nt_spawn_mpmd(args, &nt.srv, ready, sizeof ready, err, sizeof err);
    cr_assert_eq(rc, 0, "mpmd did not start on %s, %s and %s: status %d: %s", l1, l2, l3, rc, err);
    unlink(nt.keyfile);
    nt_line(ready, 0, tcp, n);
    nt_line(ready, 1, ntcp, n);
    nt_line(ready, 2, unx, n);
    cr_assert(strncmp(tcp, l1, strlen(l1) - 1) == 0 && strcmp(tcp, l1) != 0, "bound %s", tcp);
    cr_assert(strncmp(ntcp, l2, strlen(l2) - 1) == 0 && strcmp(ntcp, l2) != 0, "bound %s", ntcp);
}

static void nt_stop_server(void)
{
    cr_assert_gt(nt.srv, 0);
    cr_assert_eq(kill(nt.srv, SIGTERM), 0);
    int64_t end = t_now_ms() + 3000;
    int st = 0;
    pid_t r;
    while ((r = waitpid(nt.srv, &st, WNOHANG)) == 0 && t_now_ms() < end)
        t_sleep_ms(5);
    if (r != nt.srv) {
        kill(nt.srv, SIGKILL);
        waitpid(nt.srv, NULL, 0);
        nt.srv = -1;
        cr_assert_fail("mpmd did not exit within 3 s of SIGTERM");
    }
    nt.srv = -1;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mpmd exit status 0x%x", st);
}

static mpm_manager *nt_connect(const char *url)
{
    mpm_manager *m = NULL;
    int rc = mpm_connect(&m, url, NT_KEY, strlen(NT_KEY));
    cr_assert_eq(rc, 0, "connect %s: %s (%s)", url, mpm_strerror(rc), mpm_last_error());
    for (size_t i = 0; i < sizeof nt.mgrs / sizeof nt.mgrs[0]; i++)
        if (!nt.mgrs[i]) {
            nt.mgrs[i] = m;
            return m;
        }
    mpm_manager_close(m);
    cr_assert_fail("too many connections");
    return NULL;
}

/* Close a manager from nt_connect (and its handles). */
static void nt_close(mpm_manager *m)
{
    for (size_t i = 0; i < sizeof nt.mgrs / sizeof nt.mgrs[0]; i++)
        if (nt.mgrs[i] == m) nt.mgrs[i] = NULL;
    mpm_manager_close(m);
}

/*---- remote clients -------------------------------------------------------------*/

/* Start a client of url (key NULL: none), in the namespace or (in_ns false)
 * on the host side.  Returns its pid. */
static pid_t nt_client(int mode, const char *url, const char *key, int wid, bool in_ns)
{
    cr_assert_lt(nt.nkids, NT_MAX_KIDS);
    bool nng = strncmp(url, "nng+", 4) == 0;
    /* everything the child needs is made here: after fork only setns, execve
     * and _exit (or, for tcp://, libmpm in a process that has not used nng) */
    char e_mode[32], e_url[300], e_key[200], e_wid[32];
    const char *envp[256];
    int ne = 0;
    snprintf(e_mode, sizeof e_mode, "MPM_NT_HELPER=%d", mode);
    snprintf(e_url, sizeof e_url, "MPM_NT_URL=%s", url);
    snprintf(e_key, sizeof e_key, "MPM_NT_KEY=%s", key ? key : "");
    snprintf(e_wid, sizeof e_wid, "MPM_NT_WID=%d", wid);
    envp[ne++] = e_mode;
    envp[ne++] = e_url;
    envp[ne++] = e_key;
    envp[ne++] = e_wid;
    if (!key) envp[ne++] = "MPM_NT_NOKEY=1";
    for (char **e = environ; *e && ne < 250; e++)
        if (strncmp(*e, "MPM_NT_", 7) && strncmp(*e, "MPM_AUTHKEY=", 12) &&
            strncmp(*e, "CRITERION_", 10))
            envp[ne++] = *e;
    envp[ne] = NULL;
    const char *argv[] = {nt.self, NULL};
    fflush(NULL);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (in_ns && nt_enter()) _exit(NT_EXIT_SETNS);
        if (nng) {
            execve(nt.self, (char *const *)argv, (char *const *)envp);
            _exit(NT_EXIT_EXEC);
        }
        _exit(nt_remote_run(mode, url, key, wid));
    }
    nt.kids[nt.nkids++] = p;
    return p;
}

/* Start a client of url in the namespace: on the other host. */
static pid_t nt_remote(int mode, const char *url, const char *key, int wid)
{
    return nt_client(mode, url, key, wid, true);
}

/* Wait for a remote client started with nt_remote; its status as
 * t_wait_child gives it. */
static int nt_wait(pid_t p)
{
    int st = t_wait_child(p);
    for (int i = 0; i < nt.nkids; i++)
        if (nt.kids[i] == p) nt.kids[i] = -1;
    return st;
}

/* Wait up to ms for a remote client; -1 if it is still running. */
static int nt_wait_ms(pid_t p, int ms)
{
    int64_t end = t_now_ms() + ms;
    int st;
    for (;;) {
        pid_t r = waitpid(p, &st, WNOHANG);
        if (r == p) {
            for (int i = 0; i < nt.nkids; i++)
                if (nt.kids[i] == p) nt.kids[i] = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (t_now_ms() >= end) return -1;
        t_sleep_ms(5);
    }
}

static const char *nt_status(int st, char *buf, size_t n)
{
    if (st == 0)
        snprintf(buf, n, "0 (ok)");
    else if (st > 0 && st < NT_FAIL_BASE)
        snprintf(buf, n, "%d: %s", st, mpm_strerror(-st));
    else if (st >= NT_FAIL_BASE && st < NT_EXIT_SETNS)
        snprintf(buf, n, "%d: failed at step %d (see its stderr)", st, st - NT_FAIL_BASE);
    else if (st == NT_EXIT_SETNS)
        snprintf(buf, n, "%d: could not enter the namespace", st);
    else if (st == NT_EXIT_EXEC)
        snprintf(buf, n, "%d: could not exec the helper", st);
    else if (st == NT_EXIT_DUP)
        snprintf(buf, n, "%d: a job was handed out twice", st);
    else if (st > 128)
        snprintf(buf, n, "%d: killed by signal %d", st, st - 128);
    else
        snprintf(buf, n, "%d", st);
    return buf;
}

/* A probe from the namespace: the code its connect (and ping) gave, 0 or MPM_E*. */
static int nt_probe(const char *url, const char *key)
{
    char b[128];
    int st = nt_wait(nt_remote(NT_PROBE, url, key, 0));
    cr_assert(st >= 0 && st < NT_FAIL_BASE, "probe of %s ended with %s", url,
              nt_status(st, b, sizeof b));
    return -st;
}

/* url with its host replaced by host (same scheme and port). */
static void nt_rehost(const char *url, const char *host, char *out, size_t n)
{
    const char *sep = strstr(url, "://");
    const char *colon = strrchr(url, ':');
    cr_assert(sep && colon && colon > sep);
    snprintf(out, n, "%.*s://%s%s", (int)(sep - url), url, host, colon);
}

static int64_t nt_int(const mpm_val *v)
{
    cr_assert_eq(v->type, MPM_T_INT, "type %d, want an int", v->type);
    return v->v.i;
}

/*---- the tests ----------------------------------------------------------------*/

#define NT_JOBS 200
#define NT_WORKERS 3
#define NT_HOST_INCS 50

static int nt_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Remote workers take the host's jobs from the named queue and record them,
 * under the named lock, in the named dict, while the host takes the same lock
 * to bump the same counter. */
static void nt_workers(bool nng)
{
    char tcp[256], ntcp[256], unx[256], b[128];
    nt_start_server(tcp, ntcp, unx, sizeof tcp);
    const char *url = nng ? ntcp : tcp;
    mpm_manager *m = nt_connect(url);

    /* the host creates the names; the remote hosts find them */
    void *h = NULL;
    bool created = false;
    T_OK(mpm_open(m, "jobs", MPM_OBJ_QUEUE, NULL, 0, &h, &created));
    cr_assert(created, "'jobs' existed before anyone opened it");
    mpm_queue *q = h;
    mpm_lock *l = NULL;
    mpm_dict *d = NULL;
    T_OK(mpm_lock_open(m, "jobs-lock", &l));
    T_OK(mpm_dict_open(m, "results", &d));

    pid_t kids[NT_WORKERS];
    for (int w = 0; w < NT_WORKERS; w++)
        kids[w] = nt_remote(NT_WORKER, url, NT_KEY, w + 1);

    /* jobs in batches, the host's own locked increments in between */
    uint64_t tokens[NT_JOBS + NT_HOST_INCS];
    size_t ntok = 0;
    int next = 0, incs = 0;
    while (next < NT_JOBS || incs < NT_HOST_INCS) {
        mpm_val items[20];
        size_t k = 0;
        while (k < 20 && next < NT_JOBS)
            items[k++] = MPM_INT(next++);
        if (k) {
            size_t nput = 0;
            T_OK(mpm_queue_put_many(q, MPM_LIST(items, k), 5000, &nput));
            cr_assert_eq(nput, k);
        }
        for (int j = 0; j < 5 && incs < NT_HOST_INCS; j++, incs++) {
            uint64_t tok = 0;
            mpm_val *c = NULL;
            T_OK(mpm_lock_acquire(l, 10000, &tok));
            tokens[ntok++] = tok;
            T_OK(mpm_dict_get_default(d, MPM_STR("count"), MPM_INT(0), &c));
            int64_t n = nt_int(c);
            mpm_val_free(c);
            T_OK(mpm_dict_set(d, MPM_STR("count"), MPM_INT(n + 1)));
            T_OK(mpm_lock_release(l));
        }
    }
    for (int w = 0; w < NT_WORKERS; w++)
        T_OK(mpm_queue_put(q, MPM_NONE, 5000));
    for (int w = 0; w < NT_WORKERS; w++) {
        int st = nt_wait_ms(kids[w], 30000);
        cr_assert_eq(st, 0, "remote worker %d ended with %s", w + 1, nt_status(st, b, sizeof b));
    }

    /* every job exactly once, every increment kept, one object per name */
    size_t qn = 99;
    T_OK(mpm_queue_qsize(q, &qn));
    cr_assert_eq(qn, 0, "%zu items left in 'jobs'", qn);
    mpm_val *all = NULL;
    T_OK(mpm_dict_copy(d, &all));
    cr_assert_eq(all->type, MPM_T_DICT);
    int seen[NT_JOBS] = {0}, per_worker[NT_WORKERS + 1] = {0}, ids_seen = 0;
    int64_t count = -1;
    for (size_t i = 0; i < all->v.dict.len; i++) {
        const mpm_val *k = &all->v.dict.items[i].key, *v = &all->v.dict.items[i].value;
        if (k->type == MPM_T_INT) {
            cr_assert(k->v.i >= 0 && k->v.i < NT_JOBS, "unknown job %lld", (long long)k->v.i);
            seen[k->v.i]++;
            cr_assert(v->type == MPM_T_LIST && v->v.list.len == 2, "job %lld's record",
                      (long long)k->v.i);
            int64_t wid = nt_int(&v->v.list.items[0]);
            cr_assert(wid >= 1 && wid <= NT_WORKERS, "job %lld by worker %lld", (long long)k->v.i,
                      (long long)wid);
            per_worker[wid]++;
            tokens[ntok++] = (uint64_t)nt_int(&v->v.list.items[1]);
        } else if (k->type == MPM_T_STR && strcmp(k->v.str.ptr, "count") == 0) {
            count = nt_int(v);
        } else if (k->type == MPM_T_STR && strncmp(k->v.str.ptr, "id:", 3) == 0) {
            cr_assert(v->type == MPM_T_LIST && v->v.list.len == 3);
            cr_assert_eq((uint64_t)nt_int(&v->v.list.items[0]), mpm_handle_id(q),
                         "%s: 'jobs' is another object on the remote host", k->v.str.ptr);
            cr_assert_eq((uint64_t)nt_int(&v->v.list.items[1]), mpm_handle_id(l),
                         "%s: 'jobs-lock' is another object on the remote host", k->v.str.ptr);
            cr_assert_eq((uint64_t)nt_int(&v->v.list.items[2]), mpm_handle_id(d),
                         "%s: 'results' is another object on the remote host", k->v.str.ptr);
            ids_seen++;
        } else {
            cr_assert_fail("unexpected key of type %d in 'results'", k->type);
        }
    }
    mpm_val_free(all);
    for (int i = 0; i < NT_JOBS; i++)
        cr_assert_eq(seen[i], 1, "job %d recorded %d times", i, seen[i]);
    cr_assert_eq(ids_seen, NT_WORKERS);
    cr_assert_eq(count, NT_JOBS + NT_HOST_INCS,
                 "count %lld: increments lost, the lock did not exclude across hosts",
                 (long long)count);
    /* a fencing token per acquisition, host and remote alike: all different */
    cr_assert_eq(ntok, (size_t)(NT_JOBS + NT_HOST_INCS));
    qsort(tokens, ntok, sizeof tokens[0], nt_cmp_u64);
    for (size_t i = 1; i < ntok; i++)
        cr_assert_neq(tokens[i], tokens[i - 1], "fencing token %llu given twice",
                      (unsigned long long)tokens[i]);
    cr_log_info("%s: jobs per remote worker: %d %d %d", url, per_worker[1], per_worker[2],
                per_worker[3]);

    /* the names, as a third client on the unix socket sees them */
    mpm_manager *m2 = nt_connect(unx);
    mpm_val *names = NULL;
    T_OK(mpm_names(m2, &names));
    char *r = mpm_val_repr(*names);
    cr_assert(r && strstr(r, "'jobs': 'Queue'") && strstr(r, "'jobs-lock': ") &&
                  strstr(r, "'results': 'dict'"),
              "names: %s", r ? r : "(null)");
    free(r);
    mpm_val_free(names);
    nt_close(m2);

    mpm_dict_close(d);
    mpm_lock_close(l);
    mpm_queue_close(q);
    nt_close(m);
    nt_stop_server();
}

Test(netns, tcp_remote_workers_named_queue_and_lock)
{
    nt_workers(false);
}

Test(netns, nng_tcp_remote_workers_named_queue_and_lock)
{
    nt_workers(true);
}

/* A remote host holds the lock: the host cannot take it until the remote
 * releases; fencing tokens rise across hosts; the remote created the lock by
 * name and the host opens that very object. */
static void nt_ownership(bool nng)
{
    char tcp[256], ntcp[256], unx[256], b[128];
    nt_start_server(tcp, ntcp, unx, sizeof tcp);
    const char *url = nng ? ntcp : tcp;
    mpm_manager *m = nt_connect(url);
    mpm_queue *ctl = NULL, *back = NULL;
    T_OK(mpm_queue_open(m, "ctl", 0, &ctl));
    T_OK(mpm_queue_open(m, "ctl-back", 0, &back));

    pid_t kid = nt_remote(NT_HOLDER, url, NT_KEY, 1);
    mpm_val *v = NULL;
    T_OK(mpm_queue_get(ctl, 10000, &v));
    cr_assert(v->type == MPM_T_LIST && v->v.list.len == 3, "ctl got type %d", v->type);
    uint64_t t1 = (uint64_t)nt_int(&v->v.list.items[1]);
    uint64_t remote_id = (uint64_t)nt_int(&v->v.list.items[2]);
    mpm_val_free(v);

    void *h = NULL;
    bool created = true;
    T_OK(mpm_open(m, "jobs-lock", MPM_OBJ_LOCK, NULL, 0, &h, &created));
    mpm_lock *l = h;
    cr_assert(!created, "the host created 'jobs-lock' anew: the remote's is another object");
    cr_assert_eq(mpm_handle_id(l), remote_id, "the remote's 'jobs-lock' is object %llu, ours %llu",
                 (unsigned long long)remote_id, (unsigned long long)mpm_handle_id(l));
    bool locked = false;
    T_OK(mpm_lock_locked(l, &locked));
    cr_assert(locked, "the remote holds 'jobs-lock' but the host sees it free");
    uint64_t tok = 0;
    int rc = mpm_lock_acquire(l, 0, &tok);
    cr_assert_eq(rc, MPM_ETIMEDOUT, "non-blocking acquire of a lock the remote holds: %s (%s)",
                 mpm_strerror(rc), mpm_last_error());
    int64_t t0 = t_now_ms();
    rc = mpm_lock_acquire(l, 150, &tok);
    int64_t took = t_now_ms() - t0;
    cr_assert_eq(rc, MPM_ETIMEDOUT, "acquire(150 ms): %s (%s)", mpm_strerror(rc), mpm_last_error());
    cr_assert(took >= 140 && took < 2000, "acquire(150 ms) returned after %lld ms",
              (long long)took);

    T_OK(mpm_queue_put(back, MPM_STR("release"), -1));
    T_OK(mpm_queue_get(ctl, 10000, &v));
    cr_assert(v->type == MPM_T_STR && strcmp(v->v.str.ptr, "released") == 0);
    mpm_val_free(v);
    int st = nt_wait(kid);
    cr_assert_eq(st, 0, "remote holder ended with %s", nt_status(st, b, sizeof b));

    uint64_t t2 = 0;
    rc = mpm_lock_acquire(l, 0, &t2);
    cr_assert_eq(rc, 0, "acquire after the remote released: %s (%s)", mpm_strerror(rc),
                 mpm_last_error());
    cr_assert_gt(t2, t1, "fencing token %llu after the remote's %llu", (unsigned long long)t2,
                 (unsigned long long)t1);
    T_OK(mpm_lock_release(l));

    mpm_lock_close(l);
    mpm_queue_close(back);
    mpm_queue_close(ctl);
    nt_close(m);
    nt_stop_server();
}

Test(netns, tcp_lock_held_by_remote_host)
{
    nt_ownership(false);
}

Test(netns, nng_tcp_lock_held_by_remote_host)
{
    nt_ownership(true);
}

typedef struct nt_waiter {
    mpm_lock *l;
    int rc;
    uint64_t token;
    int64_t done_ms;
    char msg[256];
} nt_waiter;

static void *nt_waiter_main(void *arg)
{
    nt_waiter *w = arg;
    w->rc = mpm_lock_acquire(w->l, 10000, &w->token);
    w->done_ms = t_now_ms();
    snprintf(w->msg, sizeof w->msg, "%s", mpm_last_error());
    return NULL;
}

/* A remote holder SIGKILLed: the host's parked acquire gets the lock with
 * MPM_EOWNERDEAD at once, not when its timeout passes. */
static void nt_owner_dead(bool nng)
{
    char tcp[256], ntcp[256], unx[256];
    nt_start_server(tcp, ntcp, unx, sizeof tcp);
    const char *url = nng ? ntcp : tcp;
    mpm_manager *m = nt_connect(url);
    mpm_queue *ctl = NULL;
    mpm_lock *l = NULL;
    T_OK(mpm_queue_open(m, "ctl", 0, &ctl));
    T_OK(mpm_lock_open(m, "jobs-lock", &l));

    pid_t kid = nt_remote(NT_HOLD_DIE, url, NT_KEY, 1);
    mpm_val *v = NULL;
    T_OK(mpm_queue_get(ctl, 10000, &v));
    cr_assert(v->type == MPM_T_LIST && v->v.list.len == 3);
    uint64_t t1 = (uint64_t)nt_int(&v->v.list.items[1]);
    cr_assert_eq((uint64_t)nt_int(&v->v.list.items[2]), mpm_handle_id(l));
    mpm_val_free(v);

    static nt_waiter w; /* outlives this frame should an assertion end the test */
    w = (nt_waiter){.l = l, .rc = 1};
    cr_assert_eq(pthread_create(&nt.waiter, NULL, nt_waiter_main, &w), 0);
    nt.waiting = true;
    /* wait until the acquire is parked on the server */
    mpm_stats s;
    int64_t end = t_now_ms() + 5000;
    do {
        T_OK(mpm_manager_stats(m, &s));
        if (s.parked >= 2) break; /* and the holder's Barrier wait (nt_remote_holder) */
        t_sleep_ms(5);
    } while (t_now_ms() < end);
    cr_assert_geq(s.parked, 2, "the host's acquire never parked");

    int64_t t0 = t_now_ms();
    cr_assert_eq(kill(kid, SIGKILL), 0);
    cr_assert_eq(nt_wait(kid), 128 + SIGKILL);
    nt.waiting = false;
    cr_assert_eq(pthread_join(nt.waiter, NULL), 0);
    int64_t took = w.done_ms - t0;
    cr_assert_eq(w.rc, MPM_EOWNERDEAD,
                 "the host's acquire after the remote holder died: %d %s (%s)", w.rc,
                 mpm_strerror(w.rc), w.msg);
    cr_assert_lt(took, 2000, "MPM_EOWNERDEAD came %lld ms after the kill", (long long)took);
    cr_assert_gt(w.token, t1);
    bool locked = false;
    T_OK(mpm_lock_locked(l, &locked));
    cr_assert(locked, "MPM_EOWNERDEAD means the host holds the lock");
    T_OK(mpm_lock_release(l));
    /* the next acquire is an ordinary one */
    uint64_t t3 = 0;
    T_OK(mpm_lock_acquire(l, 0, &t3));
    cr_assert_gt(t3, w.token);
    T_OK(mpm_lock_release(l));
    cr_log_info("%s: MPM_EOWNERDEAD %lld ms after SIGKILL", url, (long long)took);

    mpm_lock_close(l);
    mpm_queue_close(ctl);
    nt_close(m);
    nt_stop_server();
}

Test(netns, tcp_remote_holder_killed)
{
    nt_owner_dead(false);
}

Test(netns, nng_tcp_remote_holder_killed)
{
    nt_owner_dead(true);
}

/* The remote host needs the key: a wrong one, or none, is MPM_EAUTH; the
 * right one gets in, and the server carries on. */
static void nt_authkey(bool nng)
{
    char tcp[256], ntcp[256], unx[256];
    nt_start_server(tcp, ntcp, unx, sizeof tcp);
    const char *url = nng ? ntcp : tcp;
    int rc = nt_probe(url, "not the key");
    cr_assert_eq(rc, MPM_EAUTH, "wrong key from the remote host: %s", mpm_strerror(rc));
    rc = nt_probe(url, NULL);
    cr_assert_eq(rc, MPM_EAUTH, "no key from the remote host: %s", mpm_strerror(rc));
    rc = nt_probe(url, NT_KEY);
    cr_assert_eq(rc, 0, "the right key from the remote host: %s", mpm_strerror(rc));
    mpm_manager *m = nt_connect(unx);
    mpm_stats s;
    T_OK(mpm_manager_stats(m, &s));
    cr_assert_geq(s.refused, 2, "refused handshakes counted: %llu", (unsigned long long)s.refused);
    nt_close(m);
    nt_stop_server();
}

Test(netns, tcp_wrong_key_refused)
{
    nt_authkey(false);
}

Test(netns, nng_tcp_wrong_key_refused)
{
    nt_authkey(true);
}

/* mpmd will not listen on the veth address without a key, on either TCP
 * transport, and says why. */
Test(netns, no_key_no_listening_on_the_veth)
{
    static const char *const schemes[] = {"tcp", "nng+tcp"};
    for (int i = 0; i < 2; i++) {
        char l[96], ready[256], err[1024];
        snprintf(l, sizeof l, "%s://%s:0", schemes[i], nt.haddr);
        const char *args[] = {"--listen", l, NULL};
        pid_t p = -1;
        int st = nt_spawn_mpmd(args, &p, ready, sizeof ready, err, sizeof err);
        if (st == 0) {
            kill(p, SIGKILL);
            waitpid(p, NULL, 0);
            cr_assert_fail("mpmd listened on %s without an authkey (bound %s)", l, ready);
        }
        cr_assert(st > 0 && st < 128, "mpmd on %s without a key: status %d", l, st);
        cr_assert(strstr(err, "refusing to listen on non-loopback") && strstr(err, "authkey"),
                  "mpmd's message for %s without a key: '%s'", l, err);
    }
}

/* The namespace is another host: a server listening only on the host's
 * loopback cannot be reached from it (its 127.0.0.1 is its own), though the
 * host reaches it; a listener on the veth address can. */
Test(netns, loopback_only_server_unreachable)
{
    char ready[1024], err[1024], lo_tcp[256], lo_ntcp[256], veth_tcp[256], url[256];
    char l3[96];
    snprintf(l3, sizeof l3, "tcp://%s:0", nt.haddr);
    nt_write_key();
    const char *args[] = {"--listen",       "tcp://127.0.0.1:0",
                          "--listen",       "nng+tcp://127.0.0.1:0",
                          "--listen",       l3,
                          "--authkey-file", nt.keyfile,
                          "--quiet",        NULL};
    int rc = nt_spawn_mpmd(args, &nt.srv, ready, sizeof ready, err, sizeof err);
    cr_assert_eq(rc, 0, "mpmd did not start: status %d: %s", rc, err);
    unlink(nt.keyfile);
    nt_line(ready, 0, lo_tcp, sizeof lo_tcp);
    nt_line(ready, 1, lo_ntcp, sizeof lo_ntcp);
    nt_line(ready, 2, veth_tcp, sizeof veth_tcp);

    /* the host reaches its loopback listeners */
    mpm_manager *m = nt_connect(lo_tcp);
    T_OK(mpm_ping(m));
    nt_close(m);
    m = nt_connect(lo_ntcp);
    T_OK(mpm_ping(m));
    nt_close(m);

    /* the remote host does not: its loopback has nobody on those ports, and
     * the host's veth address has nobody on them either */
    rc = nt_probe(lo_tcp, NT_KEY);
    cr_assert_eq(rc, MPM_ECONNREFUSED, "%s from the namespace: %s", lo_tcp, mpm_strerror(rc));
    rc = nt_probe(lo_ntcp, NT_KEY);
    cr_assert_eq(rc, MPM_ECONNREFUSED, "%s from the namespace: %s", lo_ntcp, mpm_strerror(rc));
    nt_rehost(lo_tcp, nt.haddr, url, sizeof url);
    rc = nt_probe(url, NT_KEY);
    cr_assert_eq(rc, MPM_ECONNREFUSED, "%s from the namespace: %s", url, mpm_strerror(rc));
    nt_rehost(lo_ntcp, nt.haddr, url, sizeof url);
    rc = nt_probe(url, NT_KEY);
    cr_assert_eq(rc, MPM_ECONNREFUSED, "%s from the namespace: %s", url, mpm_strerror(rc));
    /* the veth listener it does reach */
    rc = nt_probe(veth_tcp, NT_KEY);
    cr_assert_eq(rc, 0, "%s from the namespace: %s", veth_tcp, mpm_strerror(rc));
    nt_stop_server();
}

/* A lost host: the client host holding the lock, a Semaphore permit and a
 * parked Barrier wait drops off the network (its link goes down, then it
 * dies, so not even a FIN gets out).  mpm promises the lock back, with
 * MPM_EOWNERDEAD, and the permit, and a broken barrier for the others, for
 * "a lost host" as for a crash.  The server can only learn of it by probing
 * the silent peer: mpmd sets keepalive on its TCP connections itself
 * (mpmi_tcp_tune: 5 s idle, then 3 probes 1 s apart; an 8 s user timeout),
 * so the lock comes back after about 8 s (docs/tutorial.md); the test allows
 * 15.  The server runs in the namespace with short keepalive sysctls too
 * (nt_keepalive; per-namespace, the real host's are untouched), a floor for
 * a server that did not set its own.  The holder has acknowledged everything
 * before its host goes, so only keepalive can tell.  The roles are swapped:
 * the lock holder is a client on the host side, whose veth is cut, and this
 * process watches through the server's unix socket. */
static void nt_lost_host(bool nng)
{
    char ready[1024], err[1024], l1[96], l2[96], l3[160], tcp[256], ntcp[256], unx[256];
    snprintf(l1, sizeof l1, "tcp://%s:0", nt.naddr);
    snprintf(l2, sizeof l2, "nng+tcp://%s:0", nt.naddr);
    snprintf(l3, sizeof l3, "unix://%s", nt.sock);
    nt_write_key();
    const char *args[] = {"--listen",       l1,         "--listen", l2,  "--listen", l3,
                          "--authkey-file", nt.keyfile, "--quiet",  NULL};
    int rc = nt_spawn_mpmd_in(true, args, &nt.srv, ready, sizeof ready, err, sizeof err);
    if (rc == NT_EXIT_SYSCTL) {
        nt_teardown();
        cr_skip_test("cannot set the TCP keepalive sysctls inside namespace %s", nt.ns);
    }
    cr_assert_eq(rc, 0, "mpmd did not start in namespace %s: status %d: %s", nt.ns, rc, err);
    unlink(nt.keyfile);
    nt_line(ready, 0, tcp, sizeof tcp);
    nt_line(ready, 1, ntcp, sizeof ntcp);
    nt_line(ready, 2, unx, sizeof unx);
    const char *url = nng ? ntcp : tcp;

    mpm_manager *m = nt_connect(unx);
    mpm_queue *ctl = NULL;
    mpm_lock *l = NULL;
    mpm_semaphore *sem = NULL;
    mpm_barrier *b = NULL;
    T_OK(mpm_queue_open(m, "ctl", 0, &ctl));
    T_OK(mpm_lock_open(m, "jobs-lock", &l));
    T_OK(mpm_semaphore_open(m, "jobs-sem", 1, false, &sem));
    T_OK(mpm_barrier_open(m, "jobs-barrier", 2, -1, &b));
    pid_t kid = nt_client(NT_HOLD_DIE, url, NT_KEY, 1, false);
    mpm_val *v = NULL;
    T_OK(mpm_queue_get(ctl, 10000, &v));
    cr_assert(v->type == MPM_T_LIST && v->v.list.len == 3);
    uint64_t t1 = (uint64_t)nt_int(&v->v.list.items[1]);
    mpm_val_free(v);
    /* it holds the permit too, and its thread's Barrier wait is parked */
    t_assert_err(mpm_semaphore_acquire(sem, 0), MPM_ETIMEDOUT, "timed out");
    int64_t nw = 0, end = t_now_ms() + 5000;
    for (;;) {
        T_OK(mpm_barrier_n_waiting(b, &nw));
        if (nw == 1 || t_now_ms() >= end) break;
        t_sleep_ms(5);
    }
    cr_assert_eq(nw, 1, "the holder's Barrier wait did not park");

    /* the holder's host is lost: off the network first (once it has
     * acknowledged all it was sent: past the 40 ms of a delayed ACK), then
     * dead */
    t_sleep_ms(200);
    char e[700];
    cr_assert_eq(nt_ip(e, sizeof e, "link", "set", nt.hveth, "down", NULL), 0, "%s", e);
    cr_assert_eq(kill(kid, SIGKILL), 0);
    cr_assert_eq(nt_wait(kid), 128 + SIGKILL);
    int64_t t0 = t_now_ms();
    uint64_t tok = 0;
    rc = mpm_lock_acquire(l, 15000, &tok);
    int64_t took = t_now_ms() - t0;
    cr_assert_eq(rc, MPM_EOWNERDEAD,
                 "%s: the lock of a client whose host was lost was not given back within %lld "
                 "ms (%d %s: %s); with keepalive on its connections, the server's kernel gives "
                 "up on the silent peer after ~8 s",
                 url, (long long)took, rc, mpm_strerror(rc), mpm_last_error());
    cr_assert_gt(tok, t1);
    T_OK(mpm_lock_release(l));
    cr_log_info("%s: a lost host's lock came back after %lld ms", url, (long long)took);
    /* ended with the same session: its permit is back, and the Barrier it
     * waited on is broken, its wait dropped */
    T_OK(mpm_semaphore_acquire(sem, 0));
    T_OK(mpm_semaphore_release(sem, 1));
    bool broken = false;
    T_OK(mpm_barrier_broken(b, &broken));
    cr_assert(broken, "a lost host's Barrier wait did not break the barrier");
    T_OK(mpm_barrier_n_waiting(b, &nw));
    cr_assert_eq(nw, 0);
    t_assert_err(mpm_barrier_wait(b, 0, NULL), MPM_EBROKEN, "BrokenBarrierError");

    mpm_barrier_close(b);
    mpm_semaphore_close(sem);
    mpm_lock_close(l);
    mpm_queue_close(ctl);
    nt_close(m);
    nt_stop_server();
}

Test(netns, tcp_lost_host_gives_back_what_it_held)
{
    nt_lost_host(false);
}

Test(netns, nng_tcp_lost_host_gives_back_what_it_held)
{
    nt_lost_host(true);
}
