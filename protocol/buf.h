/* buf.h - growable byte buffer shared by server and client. */
#ifndef MPMI_BUF_H
#define MPMI_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct mpmi_buf {
    unsigned char *data;
    size_t len;
    size_t cap;
    int oom; /* sticky: an append failed; the content is incomplete */
} mpmi_buf;

void mpmi_buf_init(mpmi_buf *b);
void mpmi_buf_free(mpmi_buf *b);
/* Ensure room for n more bytes; 0 or -1 (and oom set). */
int mpmi_buf_reserve(mpmi_buf *b, size_t n);
int mpmi_buf_append(mpmi_buf *b, const void *p, size_t n);
int mpmi_buf_putc(mpmi_buf *b, int c);
int mpmi_buf_puts(mpmi_buf *b, const char *s);
int mpmi_buf_printf(mpmi_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes. */
void mpmi_buf_consume(mpmi_buf *b, size_t n);
/* msgpack_packer write callback: data is an mpmi_buf *. */
int mpmi_buf_write_cb(void *data, const char *p, size_t n);

#endif
