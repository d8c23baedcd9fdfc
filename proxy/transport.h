/* transport.h - the manager connection as the client's transports see it. */
#ifndef MPMI_TRANSPORT_H
#define MPMI_TRANSPORT_H

#include "../protocol/url.h"
#include "client.h"

#define MPMI_MAX_CREATE_ARGS 4

enum { MPMI_TR_UNIX = 1, MPMI_TR_TCP, MPMI_TR_NNG };

struct mpm_manager {
    pthread_mutex_t mu;
    char *url;
    const char *rest; /* url past its scheme */
    int kind;
    unsigned char *authkey;
    size_t klen;
    pid_t pid; /* the process whose connection this is */
    int fd;    /* stream transports */
    void *nng; /* nng transport state */
    int connected;
    mpmi_chan chan;
    unsigned char token[MPMI_TOKEN_LEN]; /* names this process's session */
    uint64_t session_id;
    mpmi_buf out, in;
    msgpack_packer pk; /* over out */
    mpmi_handle *handles;
    pid_t server_pid; /* private manager's server */
    int private_child; /* this process started it and reaps it */
    int shutdown_sent; /* the server was told to stop: wait for it */
    int parent_fd;     /* the private server exits when every copy is closed */
    char bound[1024];  /* URLs the private server listens on */
};

/* nng transport (proxy/nng.c): dial m->url, exchange frames, close. */
int mpmi_nng_dial(mpm_manager *m);
int mpmi_nng_send(mpm_manager *m, unsigned char *frame, size_t len);
int mpmi_nng_recv(mpm_manager *m, unsigned char **frame, size_t *len);
void mpmi_nng_close(mpm_manager *m);

#endif
