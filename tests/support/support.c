#include "support.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t t_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int t_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t t_median(int64_t *d, size_t n)
{
    qsort(d, n, sizeof *d, t_cmp_i64);
    return d[n / 2];
}

void t_assert_timeouts_precise(int (*timed_out)(void *arg, int64_t timeout_ms), void *arg,
                               int64_t timeout_ms, const char *what)
{
    int64_t late[T_LATE_RUNS];
    for (int i = 0; i < T_LATE_RUNS; i++) {
        int64_t t0 = t_now_us();
        int rc = timed_out(arg, timeout_ms);
        late[i] = t_now_us() - t0 - timeout_ms * 1000;
        cr_assert_eq(rc, 0, "%s: a %lld ms wait did not time out: %d (%s)", what,
                     (long long)timeout_ms, rc, mpm_last_error());
        /* the server counts whole milliseconds on its own clock */
        cr_assert_geq(late[i], -2000, "%s: a %lld ms wait returned %lld us early", what,
                      (long long)timeout_ms, (long long)-late[i]);
    }
    int64_t med = t_median(late, T_LATE_RUNS);
    cr_assert_lt(med, T_LATE_MAX_US, "%s: %lld ms waits returned %lld us late (median), up to %lld",
                 what, (long long)timeout_ms, (long long)med, (long long)late[T_LATE_RUNS - 1]);
}

void t_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

void t_wait_parked(mpm_manager *m, uint64_t want)
{
    mpm_stats st = {0};
    int64_t end = t_now_ms() + 10000;
    do
        T_OK(mpm_manager_stats(m, &st));
    while (st.parked != want && t_now_ms() < end);
    cr_assert_eq(st.parked, want, "%llu calls parked, want %llu", (unsigned long long)st.parked,
                 (unsigned long long)want);
}

int t_wait_child(pid_t p)
{
    int st = 0;
    if (waitpid(p, &st, 0) != p) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

void t_kill_parked(mpm_manager *m, pid_t p, uint64_t want)
{
    cr_assert_eq(kill(p, SIGKILL), 0);
    cr_assert_eq(t_wait_child(p), 128 + SIGKILL);
    t_wait_parked(m, want);
}

void t_read_pipes(int outfd, int errfd, char *out, char *err, size_t cap, int ms)
{
    size_t n[2] = {0, 0};
    char *buf[2] = {out, err};
    struct pollfd p[2] = {{outfd, POLLIN, 0}, {errfd, POLLIN, 0}};
    int open = 2;
    int64_t end = t_now_ms() + ms;
    while (open && t_now_ms() < end) {
        if (poll(p, 2, 100) <= 0) continue;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents) continue;
            char tmp[1024];
            ssize_t k = read(p[i].fd, tmp, sizeof tmp);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open--;
                continue;
            }
            size_t room = cap - 1 - n[i];
            size_t take = (size_t)k < room ? (size_t)k : room;
            memcpy(buf[i] + n[i], tmp, take);
            n[i] += take;
        }
    }
    for (int i = 0; i < 2; i++)
        if (p[i].fd >= 0) close(p[i].fd);
    out[n[0]] = 0;
    err[n[1]] = 0;
}
