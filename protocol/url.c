#include "url.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

int mpmi_split_hostport(const char *hp, char *host, size_t hn, char *port, size_t pn)
{
    const char *colon;
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (!end || end[1] != ':') return -1;
        snprintf(host, hn, "%.*s", (int)(end - hp - 1), hp + 1);
        colon = end + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon) return -1;
        snprintf(host, hn, "%.*s", (int)(colon - hp), hp);
    }
    snprintf(port, pn, "%s", colon + 1);
    return port[0] ? 0 : -1;
}

void mpmi_tcp_tune(int fd)
{
    int one = 1, idle = 5, intvl = 1, cnt = 3;
    unsigned int user_timeout_ms = 8000;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}
