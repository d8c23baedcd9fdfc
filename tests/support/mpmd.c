#include "mpmd.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

size_t t_read_ready(int fd, char *out, size_t cap, int ms)
{
    size_t n = 0;
    struct pollfd pfd = {fd, POLLIN, 0};
    int64_t end = t_now_ms() + ms;
    for (;;) {
        int left = (int)(end - t_now_ms());
        cr_assert_gt(left, 0, "mpmd was not ready within %d s", ms / 1000);
        if (poll(&pfd, 1, left) <= 0) continue;
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    out[n] = 0;
    return n;
}

void t_bin_path(char *out, size_t n, const char *env, int env_is_dir, const char *name)
{
    const char *e = getenv(env);
    if (e && *e) {
        if (env_is_dir)
            snprintf(out, n, "%s/%s", e, name);
        else
            snprintf(out, n, "%s", e);
        return;
    }
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    self[len > 0 ? len : 0] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(out, n, "%s/%s", self, name);
}

void t_mpmd_path(char *out, size_t n)
{
    t_bin_path(out, n, "MPM_MPMD", 0, "mpmd");
}
