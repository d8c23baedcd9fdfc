#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mpmi_buf_init(mpmi_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void mpmi_buf_free(mpmi_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int mpmi_buf_reserve(mpmi_buf *b, size_t n)
{
    if (b->oom) return -1;
    if (b->cap - b->len >= n) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    unsigned char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int mpmi_buf_append(mpmi_buf *b, const void *p, size_t n)
{
    if (n == 0) return b->oom ? -1 : 0;
    if (mpmi_buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int mpmi_buf_putc(mpmi_buf *b, int c)
{
    unsigned char ch = (unsigned char)c;
    return mpmi_buf_append(b, &ch, 1);
}

int mpmi_buf_puts(mpmi_buf *b, const char *s)
{
    return mpmi_buf_append(b, s, strlen(s));
}

int mpmi_buf_printf(mpmi_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < sizeof tmp) return mpmi_buf_append(b, tmp, (size_t)n);
    if (mpmi_buf_reserve(b, (size_t)n + 1)) return -1;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void mpmi_buf_consume(mpmi_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

int mpmi_buf_write_cb(void *data, const char *p, size_t n)
{
    return mpmi_buf_append((mpmi_buf *)data, p, n);
}
