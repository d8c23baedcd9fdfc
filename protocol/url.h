/* url.h - address helpers both sides use. */
#ifndef MPMI_URL_H
#define MPMI_URL_H

#include <stddef.h>

/* Split "host:port" or "[v6]:port".  0 or -1. */
int mpmi_split_hostport(const char *hp, char *host, size_t hn, char *port, size_t pn);

/* A connected TCP socket's options, both ends: no Nagle delay, and a peer
 * whose host vanished (power, network: no FIN ever comes) is noticed within
 * about 8 s - keepalive probes after 5 s idle, every second, 3 unanswered
 * end it, as does data unacknowledged for 8 s - so its session ends and its
 * locks go back instead of being held for the kernel's default two hours. */
void mpmi_tcp_tune(int fd);

#endif
