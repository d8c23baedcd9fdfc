/* main.c - mpmd: flags, authkey, listeners, then the loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "loop.h"

static void usage(FILE *f)
{
    fputs("usage: mpmd --listen URL [--listen URL ...] [options]\n"
          "\n"
          "Serve mpm shared objects (dicts, lists, Namespaces, Values, Arrays, locks,\n"
          "semaphores, conditions, events, barriers, queues) to authenticated clients.\n"
          "\n"
          "  --listen URL         listen on URL; repeat for several. URL is one of\n"
          "                         unix:///path/to/socket    native, local\n"
          "                         tcp://HOST:PORT           native, TCP (port 0: any)\n"
          "                         nng+ipc:///path           nng req/rep, local\n"
          "                         nng+tcp://HOST:PORT       nng req/rep, TCP\n"
          "  --authkey-file FILE  the shared secret clients must prove (file content,\n"
          "                       one trailing newline removed). Default: $MPM_AUTHKEY,\n"
          "                       else no key (then only loopback and unix addresses)\n"
          "  --authkey-fd N       read the authkey from descriptor N (used by\n"
          "                       mpm_manager_start)\n"
          "  --ready-fd N         write the bound URLs, one per line, to descriptor N\n"
          "                       once listening, then close it\n"
          "  --parent-fd N        shut down when descriptor N reaches end of file (the\n"
          "                       processes that started this server are gone)\n"
          "  --private            remove the unix socket's directory at exit\n"
          "  --max-frame BYTES    largest message accepted (default 64 MiB; 1024 to\n"
          "                       4294967295)\n"
          "  --spin-us N          poll up to N microseconds for the next request before\n"
          "                       sleeping, adapting to the load (default 50; 0: never;\n"
          "                       yielding the CPU at every look when mpmd may run on\n"
          "                       one CPU only; at most 1000000)\n"
          "  --gc-grace-ms N      an object reached only through references stored in\n"
          "                       other objects is freed N ms after the last such\n"
          "                       reference is gone (default 1000): time for a reader\n"
          "                       of the reference to open it (at most 86400000)\n"
          "  --quiet              do not log connections and errors to stderr\n"
          "  --help               this text\n"
          "\n"
          "Environment:\n"
          "  MPM_AUTHKEY          the authkey when no --authkey-file/--authkey-fd is given\n"
          "  MPM_CIPHER=xchacha20 never pick AES-256-GCM (else picked when both ends'\n"
          "                       CPUs have AES-NI; XChaCha20-Poly1305 otherwise)\n"
          "\n"
          "SIGINT or SIGTERM shut the server down cleanly.\n",
          f);
}

static int read_all(int fd, unsigned char **out, size_t *n)
{
    mpmi_buf b;
    mpmi_buf_init(&b);
    for (;;) {
        if (mpmi_buf_reserve(&b, 4096)) break;
        ssize_t r = read(fd, b.data + b.len, 4096);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        if (r == 0) {
            *out = b.data;
            *n = b.len;
            return 0;
        }
        b.len += (size_t)r;
        if (b.len > 1 << 20) break;
    }
    mpmi_buf_free(&b);
    return -1;
}

/* A whole decimal number in [lo, hi] for --name, or a message and -1. */
static int num_arg(const char *name, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "mpmd: --%s wants a whole number from %lld to %lld, not '%s'\n", name, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static void strip_newline(unsigned char *k, size_t *n)
{
    if (*n && k[*n - 1] == '\n') (*n)--;
    if (*n && k[*n - 1] == '\r') (*n)--;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},   {"authkey-file", required_argument, 0, 'k'},
        {"authkey-fd", required_argument, 0, 'K'}, {"ready-fd", required_argument, 0, 'r'},
        {"parent-fd", required_argument, 0, 'p'}, {"private", no_argument, 0, 'P'},
        {"max-frame", required_argument, 0, 'm'}, {"quiet", no_argument, 0, 'q'},
        {"spin-us", required_argument, 0, 's'},   {"gc-grace-ms", required_argument, 0, 'g'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    const char *urls[64];
    int nurls = 0, ready_fd = -1, parent_fd = -1, private_dir = 0, quiet = 0;
    const char *keyfile = NULL;
    int keyfd = -1;
    long long max_frame = 0;
    int spin_us = 50;
    long long gc_grace = -1;
    int ch;
    while ((ch = getopt_long(argc, argv, "l:k:K:r:p:Pm:s:g:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (nurls == 64) {
                fprintf(stderr, "mpmd: too many --listen\n");
                return 2;
            }
            urls[nurls++] = optarg;
            break;
        case 'k': keyfile = optarg; break;
        case 'K': keyfd = atoi(optarg); break;
        case 'r': ready_fd = atoi(optarg); break;
        case 'p': parent_fd = atoi(optarg); break;
        case 'P': private_dir = 1; break;
        case 'm':
            if (num_arg("max-frame", optarg, 1024, 0xFFFFFFFFll, &max_frame)) return 2;
            break;
        case 'q': quiet = 1; break;
        case 's': {
            long long v;
            if (num_arg("spin-us", optarg, 0, 1000000, &v)) return 2;
            spin_us = (int)v;
            break;
        }
        case 'g': /* a day at most: beyond that the clock arithmetic could overflow */
            if (num_arg("gc-grace-ms", optarg, 0, 86400000, &gc_grace)) return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || nurls == 0) {
        fprintf(stderr, nurls ? "mpmd: unexpected argument '%s'\n" : "mpmd: no --listen URL\n",
                optind < argc ? argv[optind] : "");
        usage(stderr);
        return 2;
    }

    /* every client thread that waits holds a connection: take every
     * descriptor the hard limit allows */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    mpmi_srv srv;
    if (mpmi_srv_init(&srv)) {
        fprintf(stderr, "mpmd: cannot initialise: %s\n", strerror(errno));
        return 1;
    }
    srv.log = !quiet;
    if (max_frame > 0) srv.max_frame = (size_t)max_frame;
    if (gc_grace >= 0) srv.gc_grace_ms = gc_grace;
    cpu_set_t cpus;
    /* allowed one CPU, poll yielding: see loop_spin_wait */
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < 2) srv.spin_yield = 1;
    srv.spin_max = srv.spin_us = spin_us > 0 ? spin_us : 0;
    if (keyfd >= 0) {
        if (read_all(keyfd, &srv.authkey, &srv.authkey_len)) {
            fprintf(stderr, "mpmd: cannot read the authkey from descriptor %d\n", keyfd);
            return 1;
        }
        close(keyfd);
    } else if (keyfile) {
        int fd = open(keyfile, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read_all(fd, &srv.authkey, &srv.authkey_len)) {
            fprintf(stderr, "mpmd: cannot read authkey file %s: %s\n", keyfile, strerror(errno));
            return 1;
        }
        close(fd);
        strip_newline(srv.authkey, &srv.authkey_len);
    } else if (getenv("MPM_AUTHKEY")) {
        const char *k = getenv("MPM_AUTHKEY");
        srv.authkey_len = strlen(k);
        srv.authkey = (unsigned char *)strdup(k);
    }

    mpmi_buf bound;
    mpmi_buf_init(&bound);
    int rc = 0;
    for (int i = 0; i < nurls && rc == 0; i++) {
        char actual[256];
        rc = mpmi_srv_listen(&srv, urls[i], actual, sizeof actual);
        if (rc == 0) mpmi_buf_printf(&bound, "%s\n", actual);
    }
    if (rc == 0 && parent_fd >= 0 && mpmi_srv_watch_parent(&srv, parent_fd)) rc = -1;
    if (ready_fd >= 0) {
        if (rc == 0) (void)!write(ready_fd, bound.data, bound.len);
        close(ready_fd);
    }
    mpmi_buf_free(&bound);
    if (rc == 0) rc = mpmi_srv_run(&srv);

    char *dir = NULL;
    if (private_dir)
        for (size_t i = 0; i < srv.nlisteners; i++)
            if (srv.listeners[i]->path) {
                char *p = strdup(srv.listeners[i]->path);
                if (p) dir = strdup(dirname(p));
                free(p);
                break;
            }
    mpmi_log(&srv, "stopped");
    mpmi_srv_fini(&srv);
    if (dir) rmdir(dir);
    free(dir);
    return rc ? 1 : 0;
}
