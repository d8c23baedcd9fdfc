/* url.h - address helpers both sides use. */
#ifndef MPMI_URL_H
#define MPMI_URL_H

#include <stddef.h>

/* Split "host:port" or "[v6]:port".  0 or -1. */
int mpmi_split_hostport(const char *hp, char *host, size_t hn, char *port, size_t pn);

#endif
