/* anchor_redis.c - Redis as an anchor: the same operations through a minimal
 * RESP client (raw unix socket, one command per round trip, no hiredis).
 *
 *   anchor_redis [--socket PATH | --redis-server PATH] [--op OP[,OP...]] [--seconds S]
 *                [--server-cpu N]
 *
 * By default a private redis-server is started in a new temporary directory,
 * on a unix socket only (--port 0), with --save '' --appendonly no; it is a
 * child of this program, so `taskset -c 0 anchor_redis` pins it too.  It is
 * shut down at exit.  --socket uses a running server instead.  --server-cpu N
 * moves every thread of the private server to CPU N.
 *
 * Operations (after a short untimed warm-up):
 *   set     SET i str(i), i rising                               ops/s
 *   get     GET (i % 10000) on 10,000 such keys                  ops/s
 *   rpush   RPUSH list i                                        ops/s
 *   mem     INFO memory used_memory before/after HSET of 1,000,000 fields
 *           i -> str(i) into one hash (sent 1,000 fields per HSET)  bytes/entry
 *           (also the server's VmRSS delta, as mem_rss_bytes_per_entry)
 *   all     set,get,rpush
 * Prints lines `redis unix <op> <value>`; the op names follow mpm_bench's
 * (set -> dict_set, get -> dict_get, rpush -> list_append) so tables line up.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GET_KEYS 10000
#define MEM_ENTRIES 1000000
#define MEM_BATCH 1000

static double g_seconds = 1.0;
static int g_fd = -1;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*---- a minimal RESP client ---------------------------------------------------------*/

static char *g_out;
static size_t g_olen, g_ocap;
static char g_in[1 << 16];
static size_t g_ipos, g_ilen;

static void die(const char *what)
{
    fprintf(stderr, "anchor_redis: %s%s%s\n", what, errno ? ": " : "",
            errno ? strerror(errno) : "");
    exit(1);
}

static void out_add(const char *p, size_t n)
{
    if (g_olen + n > g_ocap) {
        g_ocap = (g_olen + n) * 2;
        g_out = realloc(g_out, g_ocap);
        if (!g_out) die("out of memory");
    }
    memcpy(g_out + g_olen, p, n);
    g_olen += n;
}

/* Append one command (argc bulk strings) to the output buffer. */
static void cmd_add(int argc, const char **argv, const size_t *lens)
{
    char h[32];
    int n = snprintf(h, sizeof h, "*%d\r\n", argc);
    out_add(h, (size_t)n);
    for (int i = 0; i < argc; i++) {
        size_t l = lens ? lens[i] : strlen(argv[i]);
        n = snprintf(h, sizeof h, "$%zu\r\n", l);
        out_add(h, (size_t)n);
        out_add(argv[i], l);
        out_add("\r\n", 2);
    }
}

static void flush_out(void)
{
    size_t off = 0;
    while (off < g_olen) {
        ssize_t w = write(g_fd, g_out + off, g_olen - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("write");
        off += (size_t)w;
    }
    g_olen = 0;
}

static int in_byte(void)
{
    if (g_ipos == g_ilen) {
        ssize_t r;
        do
            r = read(g_fd, g_in, sizeof g_in);
        while (r < 0 && errno == EINTR);
        if (r <= 0) die("read");
        g_ipos = 0;
        g_ilen = (size_t)r;
    }
    return (unsigned char)g_in[g_ipos++];
}

/* Read a CRLF-terminated line (without CRLF) into buf. */
static size_t in_line(char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int c = in_byte();
        if (c == '\r') {
            in_byte(); /* '\n' */
            break;
        }
        if (n + 1 < cap) buf[n++] = (char)c;
    }
    buf[n] = 0;
    return n;
}

/* Read one reply; a bulk string's content goes to bulk (if not NULL, up to
 * cap-1 bytes, NUL-terminated).  Dies on an error reply.  Returns the integer
 * of an integer reply, else 0. */
static long long read_reply(char *bulk, size_t cap)
{
    char line[256];
    int type = in_byte();
    in_line(line, sizeof line);
    switch (type) {
    case '+':
        return 0;
    case ':':
        return atoll(line);
    case '-':
        errno = 0;
        fprintf(stderr, "anchor_redis: error reply: %s\n", line);
        exit(1);
    case '$': {
        long long n = atoll(line);
        if (n < 0) return 0;
        for (long long i = 0; i < n; i++) {
            int c = in_byte();
            if (bulk && (size_t)i + 1 < cap) bulk[i] = (char)c;
        }
        if (bulk && cap) bulk[(size_t)n < cap ? (size_t)n : cap - 1] = 0;
        in_byte();
        in_byte();
        return 0;
    }
    case '*': {
        long long n = atoll(line);
        for (long long i = 0; i < n; i++)
            read_reply(NULL, 0);
        return 0;
    }
    default:
        errno = 0;
        die("bad reply");
    }
    return 0;
}

static long long call(int argc, const char **argv, const size_t *lens, char *bulk, size_t cap)
{
    cmd_add(argc, argv, lens);
    flush_out();
    return read_reply(bulk, cap);
}

/*---- operations ------------------------------------------------------------------------*/

typedef void (*op_fn)(long long i);

static double run_timed(op_fn fn)
{
    long long i = 0, n = 0;
    double warm = g_seconds / 10 < 0.2 ? g_seconds / 10 : 0.2;
    double t0 = now_s();
    while (now_s() - t0 < warm)
        fn(i++);
    t0 = now_s();
    for (;;) {
        fn(i++);
        n++;
        if ((n & 7) == 0 && now_s() - t0 >= g_seconds) break;
    }
    return (double)n / (now_s() - t0);
}

static void op_set(long long i)
{
    char k[24];
    snprintf(k, sizeof k, "%lld", i);
    const char *argv[] = {"SET", k, k}; /* key i, value str(i) */
    call(3, argv, NULL, NULL, 0);
}

static void op_get(long long i)
{
    char k[24], v[32];
    snprintf(k, sizeof k, "%lld", i % GET_KEYS);
    const char *argv[] = {"GET", k};
    call(2, argv, NULL, v, sizeof v);
}

static void op_rpush(long long i)
{
    char v[24];
    snprintf(v, sizeof v, "%lld", i);
    const char *argv[] = {"RPUSH", "bench:list", v};
    call(3, argv, NULL, NULL, 0);
}

static long long used_memory(void)
{
    static char info[16384];
    const char *argv[] = {"INFO", "memory"};
    call(2, argv, NULL, info, sizeof info);
    char *p = strstr(info, "used_memory:");
    return p ? atoll(p + 12) : -1;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = atol(line + 6);
            break;
        }
    fclose(f);
    return kb;
}

static void op_mem(pid_t server)
{
    static char fields[2 * MEM_BATCH][24];
    static const char *argv[2 + 2 * MEM_BATCH];
    const char *del[] = {"DEL", "bench:hash"};
    call(2, del, NULL, NULL, 0);
    long long before = used_memory();
    long rss0 = server > 0 ? rss_kb(server) : -1;
    double t0 = now_s();
    for (long long k = 0; k < MEM_ENTRIES;) {
        int argc = 0;
        argv[argc++] = "HSET";
        argv[argc++] = "bench:hash";
        for (int j = 0; j < MEM_BATCH && k < MEM_ENTRIES; j++, k++) {
            snprintf(fields[2 * j], sizeof fields[0], "%lld", k);
            argv[argc++] = fields[2 * j];
            argv[argc++] = fields[2 * j]; /* value str(i): same text as the field */
        }
        call(argc, argv, NULL, NULL, 0);
    }
    double t1 = now_s();
    const char *hlen[] = {"HLEN", "bench:hash"};
    long long n = call(2, hlen, NULL, NULL, 0);
    long long after = used_memory();
    long rss1 = server > 0 ? rss_kb(server) : -1;
    if (n != MEM_ENTRIES) {
        errno = 0;
        die("HLEN is not 1,000,000");
    }
    fprintf(stderr,
            "anchor_redis: used_memory %lld -> %lld bytes, VmRSS %ld -> %ld kB "
            "for %d fields (filled in %.2f s)\n",
            before, after, rss0, rss1, MEM_ENTRIES, t1 - t0);
    printf("redis unix mem_bytes_per_entry %.1f\n", (double)(after - before) / MEM_ENTRIES);
    if (server > 0)
        printf("redis unix mem_rss_bytes_per_entry %.1f\n",
               (double)(rss1 - rss0) * 1024.0 / MEM_ENTRIES);
    fflush(stdout);
    call(2, del, NULL, NULL, 0);
}

/*---- the private server ----------------------------------------------------------------*/

static char g_dir[64], g_sock[96];
static pid_t g_server = -1;

static void stop_server(void)
{
    if (g_server > 0) {
        kill(g_server, SIGTERM);
        waitpid(g_server, NULL, 0);
        g_server = -1;
    }
    if (g_dir[0]) {
        unlink(g_sock);
        rmdir(g_dir);
        g_dir[0] = 0;
    }
}

static void pin_process(pid_t pid, int cpu)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && sched_setaffinity(atoi(e->d_name), sizeof set, &set))
            fprintf(stderr, "anchor_redis: cannot move the server to CPU %d: %s\n", cpu,
                    strerror(errno));
    closedir(d);
}

static int connect_to(const char *path)
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

static void start_server(const char *redis)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/redis-bench-XXXXXX");
    if (!mkdtemp(g_dir)) die("mkdtemp");
    snprintf(g_sock, sizeof g_sock, "%s/redis.sock", g_dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) {
            dup2(nul, 1);
            dup2(nul, 2);
        }
        execlp(redis, redis, "--port", "0", "--unixsocket", g_sock, "--unixsocketperm", "700",
               "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", g_dir,
               "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    g_server = pid;
    atexit(stop_server);
    for (int tries = 0; tries < 500; tries++) { /* up to 5 s */
        if ((g_fd = connect_to(g_sock)) >= 0) return;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            g_server = -1;
            errno = 0;
            die("redis-server exited at start (is it installed? apt-get install -y redis-server)");
        }
        usleep(10000);
    }
    errno = 0;
    die("redis-server did not open its socket");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, 0, 'S'},
        {"redis-server", required_argument, 0, 'R'},
        {"op", required_argument, 0, 'o'},
        {"seconds", required_argument, 0, 's'},
        {"server-cpu", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *sock = NULL, *redis = "redis-server";
    char *ops = strdup("all");
    int ch, server_cpu = -1;
    while ((ch = getopt_long(argc, argv, "S:R:o:s:C:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'S':
            sock = optarg;
            break;
        case 'R':
            redis = optarg;
            break;
        case 'o':
            free(ops);
            ops = strdup(optarg);
            break;
        case 's':
            g_seconds = atof(optarg);
            break;
        case 'C':
            server_cpu = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: anchor_redis [--socket PATH | --redis-server PATH] "
                            "[--op set,get,rpush,mem|all] [--seconds S] [--server-cpu N]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(ops, "all") == 0) {
        free(ops);
        ops = strdup("set,get,rpush");
    }
    if (sock) {
        if ((g_fd = connect_to(sock)) < 0) die("connect");
    } else {
        start_server(redis);
        if (server_cpu >= 0) pin_process(g_server, server_cpu);
    }
    const char *flush[] = {"FLUSHALL"};
    call(1, flush, NULL, NULL, 0);

    for (char *op = strtok(ops, ","); op; op = strtok(NULL, ",")) {
        if (strcmp(op, "set") == 0) {
            printf("redis unix dict_set %.0f\n", run_timed(op_set));
        } else if (strcmp(op, "get") == 0) {
            for (long long k = 0; k < GET_KEYS; k++)
                op_set(k);
            printf("redis unix dict_get %.0f\n", run_timed(op_get));
        } else if (strcmp(op, "rpush") == 0) {
            printf("redis unix list_append %.0f\n", run_timed(op_rpush));
        } else if (strcmp(op, "mem") == 0) {
            op_mem(g_server);
        } else {
            fprintf(stderr, "anchor_redis: unknown --op '%s'\n", op);
            return 2;
        }
        fflush(stdout);
    }
    if (!sock) call(1, flush, NULL, NULL, 0);
    close(g_fd);
    free(ops);
    return 0;
}
