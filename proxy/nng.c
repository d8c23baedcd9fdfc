/* nng.c - the client's nng transport: placeholder until it lands. */
#include "transport.h"

int mpmi_nng_dial(mpm_manager *m)
{
    return mpmi_error(MPM_EADDR, "%s: the nng transport is not built yet", m->url);
}

int mpmi_nng_send(mpm_manager *m, unsigned char *frame, size_t len)
{
    (void)m;
    (void)frame;
    (void)len;
    return MPM_ETRANSPORT;
}

int mpmi_nng_recv(mpm_manager *m, unsigned char **frame, size_t *len)
{
    (void)m;
    (void)frame;
    (void)len;
    return MPM_ETRANSPORT;
}

void mpmi_nng_close(mpm_manager *m)
{
    (void)m;
}
