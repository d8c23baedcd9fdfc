#include "url.h"

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
