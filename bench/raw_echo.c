/* raw_echo.c - the floor: a raw socket round trip with a small payload.
 *
 * A forked echo server and this client exchange SIZE-byte messages (default
 * 32, about an mpm dict_set frame's order of size) over a unix socket (or TCP
 * on loopback), one message in flight, blocking I/O on the client.  Nothing
 * could answer a request/reply call faster through the kernel: this is the
 * figure mpm's single-call rate is compared against.
 *
 *   raw_echo [--transport unix|tcp] [--epoll] [--seconds S | --count N] [--size B]
 *            [--server-cpu N]
 *
 * --epoll makes the echo server wait in epoll_wait() before each read, as an
 * event-loop server (mpmd) does, instead of sleeping in read().  --server-cpu N
 * pins the echo server to CPU N (run the client under taskset -c M).
 * --spin US / --spin-client US make the server / the client busy-poll for up
 * to US microseconds before sleeping in read (or epoll_wait): what it would
 * gain a server or client not to let its CPU go idle between messages; with
 * --yield the spin loops call sched_yield(), so a partner on the same CPU runs.
 * --poll-client makes the client wait in poll() before each read, as libmpm
 * does over unix sockets: a process asleep in a unix socket's read is woken
 * each time its peer reads what it sent (an announcement of freed space that
 * read's waiter does not filter), poll's waiter only for input.
 *
 * Prints one machine-readable line:  raw <unix|tcp|unix_epoll|tcp_epoll> echo <ops/s>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "raw_echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Busy-poll (non-blocking reads) for up to us microseconds before sleeping
 * in read(): a process that is still running when the message arrives needs
 * no wake-up.  0: never spin. */
static int g_spin_yield; /* sched_yield() in the spin loops */

static ssize_t read_spin(int fd, char *p, size_t n, int us)
{
    if (us > 0) {
        double end = now_s() + us * 1e-6;
        do {
            ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
            if (r >= 0 || (errno != EAGAIN && errno != EINTR)) return r;
            if (g_spin_yield) sched_yield();
        } while (now_s() < end);
    }
    return read(fd, p, n);
}

static int g_spin_server, g_spin_client; /* µs */
static int g_poll_client;

/* The client's wait: poll() for input first with --poll-client. */
static ssize_t read_client(int fd, char *p, size_t n)
{
    if (g_poll_client && !g_spin_client) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, -1) < 0) return -1;
        return recv(fd, p, n, MSG_DONTWAIT);
    }
    return read_spin(fd, p, n, g_spin_client);
}

static int read_full(int fd, char *p, size_t n)
{
    while (n) {
        ssize_t r = read_client(fd, p, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const char *p, size_t n)
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

static void nodelay(int fd, int tcp)
{
    int one = 1;
    if (tcp) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* The echo server: one connection, echo whatever arrives until EOF. */
static void serve(int lfd, int tcp, int use_epoll)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) _exit(1);
    close(lfd);
    nodelay(fd, tcp);
    char buf[65536];
    int ep = -1;
    if (use_epoll) {
        ep = epoll_create1(0);
        struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e)) _exit(1);
    }
    for (;;) {
        if (use_epoll) {
            struct epoll_event ev[4];
            int n = 0;
            if (g_spin_server > 0) {
                double end = now_s() + g_spin_server * 1e-6;
                while ((n = epoll_wait(ep, ev, 4, 0)) == 0 && now_s() < end)
                    continue;
            }
            if (n == 0) n = epoll_wait(ep, ev, 4, -1);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) _exit(1);
        }
        ssize_t r = use_epoll ? recv(fd, buf, sizeof buf, MSG_DONTWAIT)
                              : read_spin(fd, buf, sizeof buf, g_spin_server);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) _exit(0);
        if (write_full(fd, buf, (size_t)r)) _exit(0);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"transport", required_argument, 0, 't'},
        {"epoll", no_argument, 0, 'e'},
        {"seconds", required_argument, 0, 's'},
        {"count", required_argument, 0, 'c'},
        {"size", required_argument, 0, 'b'},
        {"spin", required_argument, 0, 'p'},
        {"spin-client", required_argument, 0, 'q'},
        {"yield", no_argument, 0, 'y'},
        {"poll-client", no_argument, 0, 'P'},
        {"server-cpu", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *transport = "unix";
    int use_epoll = 0;
    double seconds = 1.0;
    long long count = 0;
    size_t size = 32;
    int ch, server_cpu = -1;
    while ((ch = getopt_long(argc, argv, "t:es:c:b:C:p:q:yPh", opts, NULL)) != -1) {
        switch (ch) {
        case 't':
            transport = optarg;
            break;
        case 'e':
            use_epoll = 1;
            break;
        case 's':
            seconds = atof(optarg);
            break;
        case 'c':
            count = atoll(optarg);
            break;
        case 'b':
            size = (size_t)atol(optarg);
            break;
        case 'C':
            server_cpu = atoi(optarg);
            break;
        case 'p':
            g_spin_server = atoi(optarg);
            break;
        case 'q':
            g_spin_client = atoi(optarg);
            break;
        case 'y':
            g_spin_yield = 1;
            break;
        case 'P':
            g_poll_client = 1;
            break;
        default:
            fprintf(stderr,
                    "usage: raw_echo [--transport unix|tcp] [--epoll] "
                    "[--seconds S | --count N] [--size BYTES] [--server-cpu N]\n"
                    "                [--spin US] [--spin-client US] [--yield] [--poll-client]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    int tcp = strcmp(transport, "tcp") == 0;
    if (!tcp && strcmp(transport, "unix") != 0) {
        fprintf(stderr, "raw_echo: --transport unix or tcp\n");
        return 2;
    }
    if (size == 0 || size > 65536) size = 32;

    /* listen before fork: no race with the connect below */
    char dir[] = "/tmp/raw-echo-XXXXXX", path[64];
    int lfd;
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    struct sockaddr_in si = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (tcp) {
        lfd = socket(AF_INET, SOCK_STREAM, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&si, sizeof si)) die("bind");
        socklen_t sl = sizeof si;
        getsockname(lfd, (struct sockaddr *)&si, &sl);
    } else {
        if (!mkdtemp(dir)) die("mkdtemp");
        snprintf(path, sizeof path, "%s/echo.sock", dir);
        snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
        lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&su, sizeof su)) die("bind");
    }
    if (listen(lfd, 4)) die("listen");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        if (server_cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(server_cpu, &set);
            if (sched_setaffinity(0, sizeof set, &set)) perror("raw_echo: sched_setaffinity");
        }
        serve(lfd, tcp, use_epoll);
    }
    close(lfd);

    int fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (tcp ? connect(fd, (struct sockaddr *)&si, sizeof si)
            : connect(fd, (struct sockaddr *)&su, sizeof su))
        die("connect");
    nodelay(fd, tcp);

    char out[65536], in[65536];
    memset(out, 'x', size);
    long long n = 0;
    /* warm-up: 0.1 s (or a tenth of the count) untimed */
    double t0 = now_s();
    while (count ? n < count / 10 : now_s() - t0 < 0.1) {
        if (write_full(fd, out, size) || read_full(fd, in, size)) die("echo");
        n++;
    }
    n = 0;
    t0 = now_s();
    double t = t0;
    for (;;) {
        if (write_full(fd, out, size) || read_full(fd, in, size)) die("echo");
        n++;
        if (count) {
            if (n >= count) break;
        } else if ((n & 15) == 0 && (t = now_s()) - t0 >= seconds) {
            break;
        }
    }
    t = now_s();
    close(fd);
    waitpid(pid, NULL, 0);
    if (!tcp) {
        unlink(path);
        rmdir(dir);
    }
    printf("raw %s%s%s%s%s%s echo %.0f\n", transport, use_epoll ? "_epoll" : "",
           g_spin_server ? "_spinserver" : "", g_spin_client ? "_spinclient" : "",
           g_poll_client && !g_spin_client ? "_pollclient" : "",
           g_spin_yield && (g_spin_server || g_spin_client) ? "_yield" : "", (double)n / (t - t0));
    return 0;
}
