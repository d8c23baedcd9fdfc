/* nng.c - the nng transport (req0/rep0): placeholder until it lands. */
#include <stdio.h>

#include "loop.h"

int mpmi_nng_listen(mpmi_srv *s, const char *url, char *actual, size_t n)
{
    (void)s;
    (void)actual;
    (void)n;
    fprintf(stderr, "mpmd: %s: the nng transport is not built yet\n", url);
    return -1;
}

void mpmi_nng_fini(mpmi_srv *s)
{
    (void)s;
}
