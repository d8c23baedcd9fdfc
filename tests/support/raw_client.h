/* raw_client.h - a client that speaks the wire by hand (protocol/wire.h), for
 * tests that send what mpm_* never would: frame I/O, the handshake, sealed
 * calls, request bodies and their replies.  Failures are Criterion asserts. */
#ifndef MPM_TEST_RAW_CLIENT_H
#define MPM_TEST_RAW_CLIENT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/buf.h"
#include "protocol/wire.h"

/* Which server a raw client talks to, and how patiently; each test file has
 * one, static (a raw keeps a pointer to it). */
typedef struct raw_opts {
    const char *path;   /* the server's Unix socket */
    const char *key;    /* the authkey */
    int hello_ms;       /* the longest each handshake step may take */
    int reply_ms;       /* the longest a reply may take */
    unsigned char *buf; /* replies are read here (a reply lives until the next) */
    size_t cap;         /* buf's size: a larger frame fails the test */
} raw_opts;

/* An authenticated connection. */
typedef struct raw {
    int fd;
    mpmi_chan ch;
    const raw_opts *o;
} raw;

/*---- frame I/O on any socket (fake servers use it too) -----------------------------*/

/* A connected Unix stream socket to path, or -1. */
int raw_dial(const char *path);
/* 0 when all n bytes went, -1 when the peer is gone. */
int raw_write_all(int fd, const void *p, size_t n);
/* 1 read, 0 end of stream (or reset), -1 nothing within ms. */
int raw_read_exact(int fd, void *p, size_t n, int ms);
/* Send frame with its length prefix: 0 or -1. */
int raw_send_frame(int fd, const void *frame, size_t n);
/* Read one length-prefixed frame into buf: 1, 0 at end of stream, -1 timeout. */
int raw_recv_frame(int fd, unsigned char *buf, size_t cap, size_t *n, int ms);

/*---- the authenticated connection ---------------------------------------------------*/

/* A handshake with o's server and key that offers the ciphers in offer (the
 * HELLO's cipher byte) and derives the key as if it had offered key_offer
 * (== offer when honest); the server's pick, from the CHALLENGE, in *picked
 * when not NULL.  The server's proof is checked. */
void raw_handshake(raw *r, const raw_opts *o, int offer, int key_offer, int *picked);
/* An honest handshake, as a client that offers only the original cipher (a
 * zero cipher byte) does it. */
void raw_connect(raw *r, const raw_opts *o);
void raw_close(raw *r);

/* Seal body as r's next frame into out (n + 64 bytes at least), length
 * prefix included: total bytes. */
size_t raw_seal(raw *r, const void *body, size_t n, unsigned char *out);
/* Send body (already msgpack) sealed. */
void raw_send(raw *r, const void *body, size_t n);
/* The next reply on r, opened: its body (in r->o->buf) and length. */
const unsigned char *raw_recv(raw *r, size_t *blen);
/* raw_send, then raw_recv. */
const unsigned char *raw_call(raw *r, const void *body, size_t n, size_t *blen);

/*---- request bodies and replies ------------------------------------------------------*/

/* A request body under construction: an array of calls [id, op, args...]. */
typedef struct raw_body {
    mpmi_buf b;
    msgpack_packer pk;
} raw_body;

void raw_body_init(raw_body *b, uint32_t ncalls);
/* Begin a call; its nargs arguments are packed into b->pk next. */
void raw_body_call(raw_body *b, uint64_t id, int64_t op, uint32_t nargs);
/* Pack the string s as an argument. */
void raw_body_str(raw_body *b, const char *s);

/* One result of a reply: the status (an error code as a positive number, as
 * on the wire), the value's msgpack, and for an error its message. */
typedef struct raw_result {
    int64_t status;
    char msg[256];
    const unsigned char *val;
    size_t vn;
} raw_result;

/* Parse a reply body: an array of [status, value|message], max at most.  The
 * number of results; their values point into p. */
uint32_t raw_parse_reply(const unsigned char *p, size_t n, raw_result *res, uint32_t max);
/* Send b on r (b is freed) and parse the reply into res: the number of
 * results, max at most. */
uint32_t raw_body_send(raw *r, raw_body *b, raw_result *res, uint32_t max);

#endif
