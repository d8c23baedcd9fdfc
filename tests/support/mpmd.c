#include "mpmd.h"

#include <errno.h>
#include <poll.h>
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
