#include "wire.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mpmi_hdr_write(unsigned char *h, int kind, uint64_t seq)
{
    h[0] = 'M';
    h[1] = 'P';
    h[2] = MPMI_VERSION;
    h[3] = (unsigned char)kind;
    memset(h + 4, 0, 4);
    mpmi_put_u64(h + 8, seq);
}

int mpmi_hdr_read(const unsigned char *h, size_t n, int *kind, uint64_t *seq)
{
    if (n < MPMI_HDR_LEN || h[0] != 'M' || h[1] != 'P' || h[2] != MPMI_VERSION) return -1;
    if (h[5] | h[6] | h[7]) return -1;
    if (h[4] && h[3] != MPMI_K_HELLO && h[3] != MPMI_K_CHALLENGE) return -1;
    *kind = h[3];
    *seq = mpmi_get_u64(h + 8);
    return 0;
}

void mpmi_proof(unsigned char out[MPMI_MAC_LEN], const void *authkey, size_t klen,
                const char *label, const unsigned char *cn, const unsigned char *sn,
                const unsigned char *token)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, authkey, klen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, strlen(label) + 1);
    crypto_auth_hmacsha256_update(&st, cn, MPMI_NONCE_LEN);
    crypto_auth_hmacsha256_update(&st, sn, MPMI_NONCE_LEN);
    if (token) crypto_auth_hmacsha256_update(&st, token, MPMI_TOKEN_LEN);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

static int aes_usable(void)
{
    static int usable = -1; /* races are benign: every thread computes the same */
    if (usable < 0) {
        const char *e = getenv("MPM_CIPHER");
        usable = crypto_aead_aes256gcm_is_available() && !(e && strcmp(e, "xchacha20") == 0);
    }
    return usable;
}

int mpmi_cipher_offer(void)
{
    return 1 << MPMI_CIPHER_XCHACHA | (aes_usable() ? 1 << MPMI_CIPHER_AESGCM : 0);
}

int mpmi_cipher_pick(int offer)
{
    if (offer & 1 << MPMI_CIPHER_AESGCM && aes_usable()) return MPMI_CIPHER_AESGCM;
    /* A zero byte is a peer that offers nothing but the original cipher. */
    if (offer == 0 || offer & 1 << MPMI_CIPHER_XCHACHA) return MPMI_CIPHER_XCHACHA;
    return -1;
}

void mpmi_chan_init_cipher(mpmi_chan *c, const void *authkey, size_t klen,
                           const unsigned char *cn, const unsigned char *sn, int is_server,
                           int offer, int cipher)
{
    char label[40];
    memset(c, 0, sizeof *c);
    /* Fresh nonces on both sides make every connection's key distinct, so
     * (key, direction, sequence) never repeats as an AEAD nonce. */
    if (offer == 0 && cipher == MPMI_CIPHER_XCHACHA)
        snprintf(label, sizeof label, "mpm1 connection key");
    else
        snprintf(label, sizeof label, "mpm1 connection key %02x %02x", offer & 0xff, cipher & 0xff);
    mpmi_proof(c->key, authkey, klen, label, cn, sn, NULL);
    c->cipher = cipher;
    if (cipher == MPMI_CIPHER_AESGCM) crypto_aead_aes256gcm_beforenm(&c->aes, c->key);
    c->send_dir = is_server ? 'S' : 'C';
    c->recv_dir = is_server ? 'C' : 'S';
}

void mpmi_chan_init(mpmi_chan *c, const void *authkey, size_t klen, const unsigned char *cn,
                    const unsigned char *sn, int is_server)
{
    mpmi_chan_init_cipher(c, authkey, klen, cn, sn, is_server, 0, MPMI_CIPHER_XCHACHA);
}

/* 24 bytes for XChaCha20; AES-256-GCM reads the first 12 - both hold the
 * direction and the sequence number. */
static void wire_nonce(unsigned char n[24], unsigned char dir, uint64_t seq)
{
    memset(n, 0, 24);
    n[0] = dir;
    mpmi_put_u64(n + 1, seq);
}

size_t mpmi_seal(mpmi_chan *c, unsigned char *frame, size_t bodylen)
{
    unsigned char nonce[24];
    unsigned long long clen = 0;
    uint64_t seq = ++c->send_seq;
    mpmi_hdr_write(frame, MPMI_K_DATA, seq);
    wire_nonce(nonce, c->send_dir, seq);
    if (c->cipher == MPMI_CIPHER_AESGCM)
        crypto_aead_aes256gcm_encrypt_afternm(frame + MPMI_HDR_LEN, &clen, frame + MPMI_HDR_LEN,
                                              bodylen, frame, MPMI_HDR_LEN, NULL, nonce, &c->aes);
    else
        crypto_aead_xchacha20poly1305_ietf_encrypt(frame + MPMI_HDR_LEN, &clen,
                                                   frame + MPMI_HDR_LEN, bodylen, frame,
                                                   MPMI_HDR_LEN, NULL, nonce, c->key);
    return MPMI_HDR_LEN + (size_t)clen;
}

int mpmi_open(mpmi_chan *c, unsigned char *frame, size_t n, unsigned char **body,
              size_t *bodylen)
{
    int kind;
    uint64_t seq;
    unsigned char nonce[24];
    unsigned long long mlen = 0;
    if (mpmi_hdr_read(frame, n, &kind, &seq) || kind != MPMI_K_DATA) return -1;
    if (n < MPMI_HDR_LEN + MPMI_TAG_LEN) return -1;
    if (seq != c->recv_seq + 1) return -1;
    wire_nonce(nonce, c->recv_dir, seq);
    int bad = c->cipher == MPMI_CIPHER_AESGCM
                  ? crypto_aead_aes256gcm_decrypt_afternm(frame + MPMI_HDR_LEN, &mlen, NULL,
                                                          frame + MPMI_HDR_LEN, n - MPMI_HDR_LEN,
                                                          frame, MPMI_HDR_LEN, nonce, &c->aes)
                  : crypto_aead_xchacha20poly1305_ietf_decrypt(
                        frame + MPMI_HDR_LEN, &mlen, NULL, frame + MPMI_HDR_LEN,
                        n - MPMI_HDR_LEN, frame, MPMI_HDR_LEN, nonce, c->key);
    if (bad) return -1;
    c->recv_seq = seq;
    *body = frame + MPMI_HDR_LEN;
    *bodylen = (size_t)mlen;
    return 0;
}
