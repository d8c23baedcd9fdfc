#include "wire.h"

#include <sodium.h>
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
    if (h[4] | h[5] | h[6] | h[7]) return -1;
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

void mpmi_chan_init(mpmi_chan *c, const void *authkey, size_t klen, const unsigned char *cn,
                    const unsigned char *sn, int is_server)
{
    memset(c, 0, sizeof *c);
    /* Fresh nonces on both sides make every connection's key distinct, so
     * (key, direction, sequence) never repeats as an AEAD nonce. */
    mpmi_proof(c->key, authkey, klen, "mpm1 connection key", cn, sn, NULL);
    c->send_dir = is_server ? 'S' : 'C';
    c->recv_dir = is_server ? 'C' : 'S';
}

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
    crypto_aead_xchacha20poly1305_ietf_encrypt(frame + MPMI_HDR_LEN, &clen, frame + MPMI_HDR_LEN,
                                               bodylen, frame, MPMI_HDR_LEN, NULL, nonce,
                                               c->key);
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
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(frame + MPMI_HDR_LEN, &mlen, NULL,
                                                   frame + MPMI_HDR_LEN, n - MPMI_HDR_LEN,
                                                   frame, MPMI_HDR_LEN, nonce, c->key) != 0)
        return -1;
    c->recv_seq = seq;
    *body = frame + MPMI_HDR_LEN;
    *bodylen = (size_t)mlen;
    return 0;
}
