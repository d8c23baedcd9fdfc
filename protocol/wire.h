/* wire.h - the frame format both transports carry, and the handshake's crypto.
 *
 * Frame = 16-byte header + body.  Header: 'M' 'P' version kind, a cipher byte
 * (HELLO: the ciphers the client offers, a bit each; CHALLENGE: the one the
 * server picked; zero in every other frame), 3 reserved zero bytes, sequence
 * number (u64 little-endian).  Handshake frames (HELLO..REFUSED) carry a plain
 * body and sequence 0.  DATA frames carry an AEAD ciphertext of a msgpack body
 * under the connection key - XChaCha20-Poly1305, or AES-256-GCM when both ends
 * have it in hardware (4x cheaper per small frame here) - with the header as
 * associated data and a nonce built from the direction and the sequence number;
 * the sequence rises by exactly one per frame and direction, so a replayed,
 * reordered or forged frame fails to open.
 * The stream transports put a u32 little-endian length before each frame; nng
 * messages are frames as they are.
 */
#ifndef MPMI_WIRE_H
#define MPMI_WIRE_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define MPMI_VERSION 1
#define MPMI_HDR_LEN 16
#define MPMI_TAG_LEN 16
#define MPMI_NONCE_LEN 32
#define MPMI_TOKEN_LEN 16
#define MPMI_MAC_LEN 32
#define MPMI_KEY_LEN 32
#define MPMI_LEN_PREFIX 4
/* Default largest frame either side accepts. */
#define MPMI_MAX_FRAME_DEFAULT (64u << 20)
/* Largest reply a client reads: the server (authenticated) may be configured
 * with a larger --max-frame than the default. */
#define MPMI_MAX_REPLY (1u << 30)

enum mpmi_kind {
    MPMI_K_HELLO = 1,     /* c->s: client nonce */
    MPMI_K_CHALLENGE = 2, /* s->c: server nonce */
    MPMI_K_PROOF = 3,     /* c->s: HMAC(authkey, transcript), session token */
    MPMI_K_WELCOME = 4,   /* s->c: HMAC(authkey, transcript'), session id */
    MPMI_K_REFUSED = 5,   /* s->c: reason text */
    MPMI_K_DATA = 16,     /* either way: sealed msgpack body */
};

/* Ciphers: the CHALLENGE's cipher byte, and bit (1 << cipher) of the HELLO's. */
enum mpmi_cipher {
    MPMI_CIPHER_XCHACHA = 0, /* XChaCha20-Poly1305: everywhere */
    MPMI_CIPHER_AESGCM = 1,  /* AES-256-GCM: only with AES-NI and CLMUL */
};

/* One direction pair of an authenticated connection. */
typedef struct mpmi_chan {
    crypto_aead_aes256gcm_state aes; /* expanded key, for MPMI_CIPHER_AESGCM */
    unsigned char key[MPMI_KEY_LEN];
    int cipher;
    uint64_t send_seq; /* last sequence number sent */
    uint64_t recv_seq; /* last sequence number accepted */
    unsigned char send_dir, recv_dir;
} mpmi_chan;

void mpmi_hdr_write(unsigned char *h, int kind, uint64_t seq);
/* 0 and kind/seq, or -1 when the header is not ours (a cipher byte is allowed
 * only in HELLO and CHALLENGE). */
int mpmi_hdr_read(const unsigned char *h, size_t n, int *kind, uint64_t *seq);
/* The cipher byte of a header mpmi_hdr_read accepted. */
static inline int mpmi_hdr_cipher(const unsigned char *h) { return h[4]; }
static inline void mpmi_hdr_set_cipher(unsigned char *h, int v) { h[4] = (unsigned char)v; }

/* The ciphers this process offers (HELLO bits): XChaCha20-Poly1305 always,
 * AES-256-GCM when the CPU has it and MPM_CIPHER is not "xchacha20". */
int mpmi_cipher_offer(void);
/* The server's pick from a client's offer: AES-256-GCM when both have it,
 * else XChaCha20-Poly1305; -1 when the offer names neither. */
int mpmi_cipher_pick(int offer);

/* Set up a channel from the handshake's values; is_server picks directions.
 * The offer and the pick go into the key, so a HELLO or CHALLENGE whose
 * cipher byte was changed on the way gives the ends different keys and the
 * first DATA frame fails. */
void mpmi_chan_init_cipher(mpmi_chan *c, const void *authkey, size_t klen,
                           const unsigned char *cn, const unsigned char *sn, int is_server,
                           int offer, int cipher);
/* The same with XChaCha20-Poly1305 and no offer (the key of version 1 peers
 * that send a zero cipher byte). */
void mpmi_chan_init(mpmi_chan *c, const void *authkey, size_t klen, const unsigned char *cn,
                    const unsigned char *sn, int is_server);
/* Seal in place: frame points at the header's place, the body follows it, and
 * MPMI_TAG_LEN bytes of room follow the body.  Returns the frame's length. */
size_t mpmi_seal(mpmi_chan *c, unsigned char *frame, size_t bodylen);
/* Open in place.  0 with *body and *bodylen set, or -1 (wrong key, tampered,
 * replayed or reordered).  A failure leaves recv_seq as it was. */
int mpmi_open(mpmi_chan *c, unsigned char *frame, size_t n, unsigned char **body,
              size_t *bodylen);

/* HMAC-SHA256(authkey, label || cn || sn || token). */
void mpmi_proof(unsigned char out[MPMI_MAC_LEN], const void *authkey, size_t klen,
                const char *label, const unsigned char *cn, const unsigned char *sn,
                const unsigned char *token);

static inline void mpmi_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t mpmi_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void mpmi_put_u64(unsigned char *p, uint64_t v)
{
    mpmi_put_u32(p, (uint32_t)v);
    mpmi_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t mpmi_get_u64(const unsigned char *p)
{
    return (uint64_t)mpmi_get_u32(p) | (uint64_t)mpmi_get_u32(p + 4) << 32;
}

/* Big-endian, as nng's wire (SP) has its lengths. */
static inline void mpmi_put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static inline uint64_t mpmi_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Request ids and backtrace words on nng's wire. */
static inline void mpmi_put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static inline uint32_t mpmi_get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* nng's protocol header, which each side sends first: 00 'S' 'P' 00, the
 * protocol (16 bits, big endian), 00 00 (server/sp.c, proxy/client.c). */
#define MPMI_SP_HDR_LEN 8
#define MPMI_SP_PROTO_REQ 0x30 /* req0 */
#define MPMI_SP_PROTO_REP 0x31 /* rep0 */

#endif
