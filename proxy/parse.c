/* parse.c - mpm_val_parse: Python literals (what mpm_val_repr prints) into an
 * mpm_val tree.
 *
 * The text is packed into msgpack as it is read, then decoded by the same
 * mpmi_decode_val that builds result trees, so a parsed value is one
 * allocation like every other.  A container's items are packed into a buffer
 * of their own first: msgpack wants the count before the items. */
#define _GNU_SOURCE /* strtod_l */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

typedef struct {
    const char *s;
    size_t n;
    size_t pos;
} parse_st;

/* Bound on the recursion, parenthesized groups included: "((((1))))" nests
 * no value but still costs stack. */
#define PARSE_MAX_NEST (4 * MPMI_MAX_DEPTH)

/*---- errors and small helpers ------------------------------------------------*/

static int parse_err(size_t pos, const char *what)
{
    return mpmi_error(MPM_EVALUE, "ValueError: %s at position %zu", what, pos);
}

/* The character at pos, for messages: printable ASCII as is, else escaped. */
static const char *parse_show(const parse_st *p, size_t pos, char buf[16])
{
    if (pos >= p->n) return "end of input";
    unsigned c = (unsigned char)p->s[pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 16, "'%c'", (char)c);
    else
        snprintf(buf, 16, "'\\x%02x'", c);
    return buf;
}

static int parse_unexpected(const parse_st *p, size_t pos, const char *expected)
{
    char c[16], what[128];
    if (pos >= p->n)
        snprintf(what, sizeof what, "unexpected end of input, expected %s", expected);
    else
        snprintf(what, sizeof what, "unexpected %s, expected %s", parse_show(p, pos, c), expected);
    return parse_err(pos, what);
}

static int parse_peek(const parse_st *p)
{
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

static int parse_isspace(int c)
{
    return c == ' ' || (c >= '\t' && c <= '\r'); /* \t \n \v \f \r */
}

static void parse_ws(parse_st *p)
{
    while (p->pos < p->n && parse_isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static int parse_isdigit(int c, int base)
{
    switch (base) {
    case 2:
        return c == '0' || c == '1';
    case 8:
        return c >= '0' && c <= '7';
    case 10:
        return c >= '0' && c <= '9';
    default:
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }
}

static int parse_isname(int c, int first)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (!first && c >= '0' && c <= '9');
}

static int parse_digitval(int c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int parse_oom(void)
{
    return mpmi_error(MPM_ENOMEM, "out of memory");
}

/*---- numbers -----------------------------------------------------------------*/

/* strtod that ignores the caller's locale: the decimal point is always '.'. */
static locale_t parse_c_locale;
static pthread_once_t parse_c_locale_once = PTHREAD_ONCE_INIT;

static void parse_c_locale_init(void)
{
    parse_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static double parse_strtod(const char *s)
{
    pthread_once(&parse_c_locale_once, parse_c_locale_init);
    if (parse_c_locale) return strtod_l(s, NULL, parse_c_locale);
    return strtod(s, NULL);
}

/* Python's digitpart: digit (["_"] digit)*.  Moves *i past it; 0 when there
 * was none. */
static int parse_digitpart(const char *s, size_t n, size_t *i, int base)
{
    size_t j = *i;
    if (j >= n || !parse_isdigit((unsigned char)s[j], base)) return 0;
    j++;
    for (;;) {
        if (j < n && parse_isdigit((unsigned char)s[j], base))
            j++;
        else if (j + 1 < n && s[j] == '_' && parse_isdigit((unsigned char)s[j + 1], base))
            j += 2;
        else
            break;
    }
    *i = j;
    return 1;
}

/* The digits of s[from, to) without underscores, NUL-terminated, in buf (or a
 * malloc'd copy when buf is too small: *heap then owns it). */
static char *parse_clean(const char *s, size_t from, size_t to, char *buf, size_t len, char **heap)
{
    char *d = buf;
    *heap = NULL;
    if (to - from + 1 > len) {
        d = *heap = malloc(to - from + 1);
        if (!d) return NULL;
    }
    size_t k = 0;
    for (size_t j = from; j < to; j++)
        if (s[j] != '_') d[k++] = s[j];
    d[k] = 0;
    return d;
}

/* A decimal float's text s[from, to) (already checked against the grammar). */
static int parse_float_text(const char *s, size_t from, size_t to, double *out)
{
    char buf[128], *heap;
    char *t = parse_clean(s, from, to, buf, sizeof buf, &heap);
    if (!t) return parse_oom();
    *out = parse_strtod(t); /* out of range: inf or 0, as Python's literals */
    free(heap);
    return 0;
}

/* A number's shape, from parse_scan_number. */
typedef struct {
    int is_float;
    int base;        /* ints: 2, 8, 10, 16 */
    size_t from, to; /* its digits (ints: after any 0x prefix) */
    const char *err; /* why it is not a number, at errpos */
    size_t errpos;
} parse_num;

static int parse_num_fail(parse_num *num, size_t pos, const char *err)
{
    num->err = err;
    num->errpos = pos;
    return -1;
}

/* Scan a Python number (no sign) at s[*i] and move *i past it.  float_mode
 * reads it as float() reads a string: no base prefixes, and leading zeros are
 * fine.  0, or -1 with num->err and num->errpos. */
static int parse_scan_number(const char *s, size_t n, size_t *i, parse_num *num, int float_mode)
{
    static const char *const bad[] = {[2] = "invalid binary literal",
                                      [8] = "invalid octal literal",
                                      [10] = "invalid decimal literal",
                                      [16] = "invalid hexadecimal literal"};
    size_t j = *i, start = j;
    memset(num, 0, sizeof *num);
    num->base = 10;
    if (!float_mode && j + 1 < n && s[j] == '0' && s[j + 1] && strchr("xXoObB", s[j + 1])) {
        int c = s[j + 1] | 0x20;
        num->base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
        j += 2;
        if (j < n && s[j] == '_') j++; /* 0x_ff is allowed */
        num->from = j;
        if (!parse_digitpart(s, n, &j, num->base)) return parse_num_fail(num, j, bad[num->base]);
        num->to = j;
    } else {
        int intpart = parse_digitpart(s, n, &j, 10);
        num->from = start;
        if (j < n && s[j] == '.') {
            j++;
            int frac = parse_digitpart(s, n, &j, 10);
            if (!intpart && !frac) return parse_num_fail(num, start, bad[10]);
            num->is_float = 1;
        } else if (!intpart) {
            return parse_num_fail(num, start, bad[10]);
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
            size_t k = j + 1;
            if (k < n && (s[k] == '+' || s[k] == '-')) k++;
            if (!parse_digitpart(s, n, &k, 10)) return parse_num_fail(num, j, bad[10]);
            j = k;
            num->is_float = 1;
        }
        num->to = j;
        if (!num->is_float && !float_mode && s[start] == '0') {
            for (size_t k = start; k < j; k++)
                if (s[k] != '0' && s[k] != '_')
                    return parse_num_fail(num, start,
                                          "leading zeros in decimal integer literals are not "
                                          "permitted; use an 0o prefix for octal integers");
        }
        if (float_mode) num->is_float = 1;
    }
    /* 12abc, 1_, 0x1g, 3j, 1.2.3: Python refuses these as one token */
    if (j < n && (parse_isname((unsigned char)s[j], 0) || s[j] == '.'))
        return parse_num_fail(num, j, bad[num->base]);
    *i = j;
    return 0;
}

/* An int's digits as int64 with the sign applied; MPM_EOVERFLOW beyond it. */
static int parse_int_value(const char *s, const parse_num *num, int neg, int64_t *out, size_t pos)
{
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t j = num->from; j < num->to; j++) {
        if (s[j] == '_') continue;
        uint64_t d = (uint64_t)parse_digitval((unsigned char)s[j]);
        if (v > (limit - d) / (uint64_t)num->base)
            return mpmi_error(MPM_EOVERFLOW,
                              "OverflowError: int out of the 64-bit range "
                              "[-9223372036854775808, 9223372036854775807] at position %zu",
                              pos);
        v = v * (uint64_t)num->base + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v; /* two's complement: -2**63 included */
    return 0;
}

/* float('...')'s argument, as Python's float() reads a string: whitespace
 * around, a sign, inf, infinity or nan in any case, or a decimal number. */
static int parse_float_string(const char *s, size_t n, double *out, size_t pos)
{
    size_t i = 0;
    while (i < n && parse_isspace((unsigned char)s[i]))
        i++;
    while (n > i && parse_isspace((unsigned char)s[n - 1]))
        n--;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    size_t len = n - i;
    if ((len == 3 && strncasecmp(s + i, "inf", 3) == 0) ||
        (len == 8 && strncasecmp(s + i, "infinity", 8) == 0)) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (len == 3 && strncasecmp(s + i, "nan", 3) == 0) {
        *out = neg ? -NAN : NAN;
        return 0;
    }
    parse_num num;
    size_t j = i;
    if (len == 0 || parse_scan_number(s, n, &j, &num, 1) || j != n) {
        char what[128];
        snprintf(what, sizeof what, "could not convert string to float: '%.*s'",
                 (int)(len > 60 ? 60 : len), s + i);
        return parse_err(pos, what);
    }
    int rc = parse_float_text(s, num.from, num.to, out);
    if (!rc && neg) *out = -*out;
    return rc;
}

/*---- strings -------------------------------------------------------------------*/

static int parse_put_utf8(mpmi_buf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t k;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | cp >> 6);
        k = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | cp >> 12);
        k = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | cp >> 18);
        k = 4;
    }
    for (size_t i = 1; i < k; i++)
        u[i] = (unsigned char)(0x80 | ((cp >> (6 * (k - 1 - i))) & 0x3f));
    return mpmi_buf_append(b, u, k);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t parse_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Read ndigits hex digits at p->pos (after \x, \u, \U). */
static int parse_hex_escape(parse_st *p, int ndigits, uint32_t *cp, size_t esc_pos)
{
    uint32_t v = 0;
    for (int k = 0; k < ndigits; k++) {
        int c = parse_peek(p);
        if (c < 0 || !parse_isdigit(c, 16)) {
            return parse_err(esc_pos, ndigits == 2   ? "truncated \\xXX escape"
                                      : ndigits == 4 ? "truncated \\uXXXX escape"
                                                     : "truncated \\UXXXXXXXX escape");
        }
        v = v << 4 | (uint32_t)parse_digitval(c);
        p->pos++;
    }
    *cp = v;
    return 0;
}

/* One escape sequence after the backslash at p->pos - 1, appended to b. */
static int parse_escape(parse_st *p, mpmi_buf *b, int bytes)
{
    size_t esc = p->pos - 1;
    int c = parse_peek(p);
    uint32_t cp = 0; /* set on every path that uses it; -O3 cannot tell */
    static const char simple_in[] = "\\'\"abfnrtv";
    static const char simple_out[] = "\\'\"\a\b\f\n\r\t\v";
    if (c < 0) return parse_err(esc, "unterminated string literal");
    const char *s = c ? strchr(simple_in, c) : NULL;
    if (s) {
        p->pos++;
        return mpmi_buf_putc(b, simple_out[s - simple_in]);
    }
    if (c == '\n') { /* a backslash-newline continues the line */
        p->pos++;
        return 0;
    }
    if (c >= '0' && c <= '7') {
        cp = 0;
        for (int k = 0; k < 3 && parse_peek(p) >= '0' && parse_peek(p) <= '7'; k++)
            cp = cp * 8 + (uint32_t)(p->s[p->pos++] - '0');
        if (bytes && cp > 0377) return parse_err(esc, "octal escape beyond \\377 in bytes");
        return bytes ? mpmi_buf_putc(b, (int)cp) : parse_put_utf8(b, cp);
    }
    if (c == 'x') {
        p->pos++;
        if (parse_hex_escape(p, 2, &cp, esc)) return MPM_EVALUE;
        return bytes ? mpmi_buf_putc(b, (int)cp) : parse_put_utf8(b, cp);
    }
    if (!bytes && (c == 'u' || c == 'U')) {
        p->pos++;
        if (parse_hex_escape(p, c == 'u' ? 4 : 8, &cp, esc)) return MPM_EVALUE;
        if (cp > 0x10ffff) return parse_err(esc, "illegal Unicode character");
        if (cp >= 0xd800 && cp <= 0xdfff)
            return parse_err(esc, "a lone surrogate cannot be encoded as UTF-8");
        return parse_put_utf8(b, cp);
    }
    if (!bytes && c == 'N') return parse_err(esc, "\\N{...} escapes are not supported");
    /* Python keeps an unknown escape as it is, backslash included */
    return mpmi_buf_putc(b, '\\');
}

/* The prefix letters of a string literal at p->pos (b, r, u, br, rb in any
 * case), when a quote follows them.  Returns their count, 0 for none, -1 when
 * the name is not a string prefix. */
static int parse_prefix(const parse_st *p, int *bytes, int *raw)
{
    size_t i = p->pos;
    *bytes = *raw = 0;
    int u = 0;
    while (i < p->n && i - p->pos < 2 && p->s[i] && strchr("bBrRuU", p->s[i])) {
        int c = p->s[i] | 0x20;
        if ((c == 'b' && (*bytes || u)) || (c == 'r' && (*raw || u)) || (c == 'u' && i > p->pos))
            return -1;
        if (c == 'b')
            *bytes = 1;
        else if (c == 'r')
            *raw = 1;
        else
            u = 1;
        i++;
    }
    if (i < p->n && (p->s[i] == '\'' || p->s[i] == '"')) return (int)(i - p->pos);
    return -1;
}

/* One string literal (prefix included) at p->pos, its content appended to b. */
static int parse_one_string(parse_st *p, mpmi_buf *b, int *bytes)
{
    int raw;
    int np = parse_prefix(p, bytes, &raw);
    if (np < 0) np = 0, *bytes = raw = 0;
    size_t start = p->pos;
    p->pos += (size_t)np;
    char q = p->s[p->pos];
    int triple = p->pos + 2 < p->n && p->s[p->pos + 1] == q && p->s[p->pos + 2] == q;
    p->pos += triple ? 3 : 1;
    for (;;) {
        if (p->pos >= p->n) {
            return parse_err(start, triple ? "unterminated triple-quoted string literal"
                                           : "unterminated string literal");
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == (unsigned char)q) {
            if (!triple) {
                p->pos++;
                return 0;
            }
            if (p->pos + 2 < p->n && p->s[p->pos + 1] == q && p->s[p->pos + 2] == q) {
                p->pos += 3;
                return 0;
            }
        }
        if (c == '\n' && !triple) return parse_err(start, "unterminated string literal");
        if (c == '\\') {
            p->pos++;
            if (raw) {
                /* a raw string keeps the backslash; it still protects a quote */
                if (mpmi_buf_putc(b, '\\')) return parse_oom();
                if (p->pos < p->n &&
                    (p->s[p->pos] == q || p->s[p->pos] == '\\' || p->s[p->pos] == '\n')) {
                    if (mpmi_buf_putc(b, p->s[p->pos++])) return parse_oom();
                }
                continue;
            }
            int rc = parse_escape(p, b, *bytes);
            if (rc == MPM_EVALUE) return rc;
            if (rc) return parse_oom();
            continue;
        }
        if (c >= 0x80) {
            if (*bytes) return parse_err(p->pos, "bytes can only contain ASCII literal characters");
            size_t len = parse_utf8_len((const unsigned char *)p->s + p->pos, p->n - p->pos);
            if (!len) return parse_err(p->pos, "invalid UTF-8 in a string literal");
            if (mpmi_buf_append(b, p->s + p->pos, len)) return parse_oom();
            p->pos += len;
            continue;
        }
        if (mpmi_buf_putc(b, c)) return parse_oom();
        p->pos++;
    }
}

/* A string or bytes literal, adjacent ones concatenated ('a' 'b' is 'ab'). */
static int parse_string(parse_st *p, mpmi_buf *out)
{
    mpmi_buf b;
    int bytes, more_bytes, dummy_raw;
    mpmi_buf_init(&b);
    int rc = parse_one_string(p, &b, &bytes);
    for (;;) {
        if (rc) break;
        size_t save = p->pos;
        parse_ws(p);
        if (p->pos >= p->n || parse_prefix(p, &more_bytes, &dummy_raw) < 0) {
            p->pos = save;
            break;
        }
        if (more_bytes != bytes) {
            rc = parse_err(p->pos, "cannot mix bytes and nonbytes literals");
            break;
        }
        rc = parse_one_string(p, &b, &more_bytes);
    }
    if (!rc && b.len > UINT32_MAX) rc = mpmi_error(MPM_ETOOBIG, "string too long");
    if (!rc) {
        msgpack_packer pk;
        mpmi_pk_init(&pk, out);
        if (bytes)
            msgpack_pack_bin(&pk, b.len), msgpack_pack_bin_body(&pk, b.data, b.len);
        else
            mpmi_pk_str(&pk, (const char *)b.data, b.len);
        if (out->oom || b.oom) rc = parse_oom();
    }
    mpmi_buf_free(&b);
    return rc;
}

/*---- values --------------------------------------------------------------------*/

static int parse_value(parse_st *p, mpmi_buf *out, int depth, int nest, int *height);

/* float('...'): p->pos is at "float". */
static int parse_float_call(parse_st *p, double *d)
{
    p->pos += 5;
    parse_ws(p);
    if (parse_peek(p) != '(') return parse_unexpected(p, p->pos, "'(' after float");
    p->pos++;
    parse_ws(p);
    int bytes, raw;
    if (parse_peek(p) < 0 || parse_prefix(p, &bytes, &raw) < 0)
        return parse_unexpected(p, p->pos, "a string in float(...)");
    size_t arg = p->pos;
    mpmi_buf s;
    mpmi_buf_init(&s);
    int rc = parse_one_string(p, &s, &bytes);
    if (!rc && bytes) rc = parse_err(arg, "float() takes a str here, not bytes");
    if (!rc) rc = parse_float_string(s.data ? (const char *)s.data : "", s.len, d, arg);
    mpmi_buf_free(&s);
    if (rc) return rc;
    parse_ws(p);
    if (parse_peek(p) == ',') { /* float('1',) is a valid call */
        p->pos++;
        parse_ws(p);
    }
    if (parse_peek(p) != ')') return parse_unexpected(p, p->pos, "')' closing float(");
    p->pos++;
    return 0;
}

/* A number with an optional sign (whitespace may follow the sign): ints,
 * floats, the bare inf and nan that repr prints, and float('...'). */
static int parse_number(parse_st *p, mpmi_buf *out)
{
    size_t start = p->pos;
    int neg = 0, rc;
    double d;
    msgpack_packer pk;
    mpmi_pk_init(&pk, out);
    if (parse_peek(p) == '+' || parse_peek(p) == '-') {
        neg = p->s[p->pos++] == '-';
        parse_ws(p);
    }
    size_t at = p->pos;
    int c = parse_peek(p);
    if (c >= 0 && parse_isname(c, 1)) {
        size_t e = at;
        while (e < p->n && parse_isname((unsigned char)p->s[e], 0))
            e++;
        if (e - at == 3 && (memcmp(p->s + at, "inf", 3) == 0 || memcmp(p->s + at, "nan", 3) == 0)) {
            p->pos = e;
            d = p->s[at] == 'i' ? INFINITY : NAN;
        } else if (e - at == 5 && memcmp(p->s + at, "float", 5) == 0) {
            if ((rc = parse_float_call(p, &d))) return rc;
        } else {
            return parse_unexpected(p, at, "a number after the sign");
        }
        msgpack_pack_double(&pk, neg ? -d : d);
        return out->oom ? parse_oom() : 0;
    }
    if (!(parse_isdigit(c, 10) || (c == '.' && parse_isdigit(p->s[p->pos + 1], 10))))
        return parse_unexpected(p, at, "a number after the sign");
    parse_num num;
    if (parse_scan_number(p->s, p->n, &p->pos, &num, 0)) return parse_err(num.errpos, num.err);
    if (num.is_float) {
        if ((rc = parse_float_text(p->s, num.from, num.to, &d))) return rc;
        msgpack_pack_double(&pk, neg ? -d : d);
    } else {
        int64_t v;
        if ((rc = parse_int_value(p->s, &num, neg, &v, start))) return rc;
        msgpack_pack_int64(&pk, v);
    }
    return out->oom ? parse_oom() : 0;
}

/* A name: None, True, False, inf, nan, float('...'), or a string prefix. */
static int parse_name(parse_st *p, mpmi_buf *out)
{
    size_t at = p->pos, e = at;
    int bytes, raw;
    if (parse_prefix(p, &bytes, &raw) >= 0) return parse_string(p, out);
    while (e < p->n && parse_isname((unsigned char)p->s[e], 0))
        e++;
    size_t len = e - at;
    msgpack_packer pk;
    mpmi_pk_init(&pk, out);
#define NAME_IS(lit) (len == sizeof(lit) - 1 && memcmp(p->s + at, lit, len) == 0)
    if (NAME_IS("None"))
        msgpack_pack_nil(&pk);
    else if (NAME_IS("True"))
        msgpack_pack_true(&pk);
    else if (NAME_IS("False"))
        msgpack_pack_false(&pk);
    else if (NAME_IS("inf") || NAME_IS("nan") || NAME_IS("float"))
        return parse_number(p, out);
    else {
        char what[160];
        snprintf(what, sizeof what, "name '%.*s' is not a literal (strings need quotes: '%.*s')",
                 (int)(len > 40 ? 40 : len), p->s + at, (int)(len > 40 ? 40 : len), p->s + at);
        return parse_err(at, what);
    }
#undef NAME_IS
    p->pos = e;
    return out->oom ? parse_oom() : 0;
}

/* Append a container: header for n items, then the packed items. */
static int parse_emit(mpmi_buf *out, int map, size_t n, const mpmi_buf *items)
{
    if (n > UINT32_MAX) return mpmi_error(MPM_ETOOBIG, "too many items");
    msgpack_packer pk;
    mpmi_pk_init(&pk, out);
    if (map)
        msgpack_pack_map(&pk, n);
    else
        msgpack_pack_array(&pk, n);
    mpmi_buf_append(out, items->data, items->len);
    return out->oom || items->oom ? parse_oom() : 0;
}

/* The items of a list or tuple up to close; *n counts them (it may start at 1
 * when a tuple's first item was read already). */
static int parse_items(parse_st *p, mpmi_buf *items, char close, int depth, int nest, size_t *n,
                       int *height)
{
    for (;;) {
        parse_ws(p);
        if (parse_peek(p) == close) {
            p->pos++;
            return 0;
        }
        int h, rc = parse_value(p, items, depth, nest, &h);
        if (rc) return rc;
        if (h > *height) *height = h;
        (*n)++;
        parse_ws(p);
        if (parse_peek(p) == ',') {
            p->pos++;
        } else if (parse_peek(p) != close) {
            char want[16];
            snprintf(want, sizeof want, "',' or '%c'", close);
            return parse_unexpected(p, p->pos, want);
        }
    }
}

typedef struct {
    size_t key, value, end; /* offsets in the items buffer */
    uint64_t hash;
} parse_pair;

/* Python keeps one entry per key: the first key, the last value. */
static int parse_dict_build(mpmi_buf *out, const mpmi_buf *items, parse_pair *pairs, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    size_t *slot = calloc(cap, sizeof *slot);          /* index + 1 of a kept pair, 0 for empty */
    size_t *last = malloc((n ? n : 1) * sizeof *last); /* kept pair -> pair holding its value */
    if (!slot || !last) {
        free(slot);
        free(last);
        return parse_oom();
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        last[i] = SIZE_MAX; /* a duplicate: not emitted */
        const unsigned char *k = items->data + pairs[i].key;
        size_t kn = pairs[i].value - pairs[i].key;
        size_t s = (size_t)pairs[i].hash & (cap - 1);
        for (;; s = (s + 1) & (cap - 1)) {
            if (!slot[s]) {
                slot[s] = i + 1;
                last[i] = i;
                kept++;
                break;
            }
            size_t j = slot[s] - 1;
            if (pairs[j].hash == pairs[i].hash &&
                mpmi_mp_eq(items->data + pairs[j].key, pairs[j].value - pairs[j].key, k, kn)) {
                last[j] = i;
                break;
            }
        }
    }
    msgpack_packer pk;
    mpmi_pk_init(&pk, out);
    msgpack_pack_map(&pk, kept);
    for (size_t i = 0; i < n; i++) {
        if (last[i] == SIZE_MAX) continue;
        const parse_pair *v = &pairs[last[i]];
        mpmi_buf_append(out, items->data + pairs[i].key, pairs[i].value - pairs[i].key);
        mpmi_buf_append(out, items->data + v->value, v->end - v->value);
    }
    free(slot);
    free(last);
    return out->oom ? parse_oom() : 0;
}

static int parse_dict(parse_st *p, mpmi_buf *out, int depth, int nest, int *height)
{
    mpmi_buf items;
    parse_pair *pairs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    mpmi_buf_init(&items);
    p->pos++;
    for (;;) {
        parse_ws(p);
        if (parse_peek(p) == '}') {
            p->pos++;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            parse_pair *np = realloc(pairs, cap * sizeof *pairs);
            if (!np) {
                rc = parse_oom();
                break;
            }
            pairs = np;
        }
        size_t kpos = p->pos;
        int h;
        pairs[n].key = items.len;
        if ((rc = parse_value(p, &items, depth, nest, &h))) break;
        if (h > *height) *height = h;
        if (mpmi_mp_hash(items.data + pairs[n].key, items.len - pairs[n].key, &pairs[n].hash)) {
            char what[96];
            if (p->s[kpos] == '(')
                snprintf(what, sizeof what,
                         "a tuple cannot be a dict key (mpm holds tuples as lists)");
            else
                snprintf(what, sizeof what, "unhashable type: '%s' as a dict key",
                         mpmi_mp_typename(items.data + pairs[n].key, items.len - pairs[n].key));
            rc = parse_err(kpos, what);
            break;
        }
        parse_ws(p);
        if (parse_peek(p) != ':') {
            rc = parse_peek(p) == ',' || parse_peek(p) == '}'
                     ? parse_err(p->pos, "sets are not supported (mpm holds dicts, not sets)")
                     : parse_unexpected(p, p->pos, "':'");
            break;
        }
        p->pos++;
        pairs[n].value = items.len;
        if ((rc = parse_value(p, &items, depth, nest, &h))) break;
        if (h > *height) *height = h;
        pairs[n].end = items.len;
        n++;
        parse_ws(p);
        if (parse_peek(p) == ',') {
            p->pos++;
        } else if (parse_peek(p) != '}') {
            rc = parse_unexpected(p, p->pos, "',' or '}'");
            break;
        }
    }
    if (!rc && items.oom) rc = parse_oom();
    if (!rc && n > UINT32_MAX) rc = mpmi_error(MPM_ETOOBIG, "too many items");
    if (!rc) rc = parse_dict_build(out, &items, pairs, n);
    free(pairs);
    mpmi_buf_free(&items);
    return rc;
}

static int parse_too_deep(size_t pos)
{
    char what[64];
    snprintf(what, sizeof what, "values nest at most %d levels", MPMI_MAX_DEPTH);
    return parse_err(pos, what);
}

/* One value at p->pos (after whitespace).  depth counts the lists and dicts
 * around it; *height (may be NULL) gets how many levels it nests itself (0
 * for a scalar), so that a parenthesized group, which is no level, and a
 * tuple, which is one, can be told apart after the fact. */
static int parse_value(parse_st *p, mpmi_buf *out, int depth, int nest, int *height)
{
    int h = 0, rc;
    size_t at;
    parse_ws(p);
    at = p->pos;
    int c = parse_peek(p);
    if (nest >= PARSE_MAX_NEST && (c == '[' || c == '{' || c == '(')) return parse_too_deep(at);
    switch (c) {
    case '[': {
        if (depth >= MPMI_MAX_DEPTH) return parse_too_deep(at);
        mpmi_buf items;
        size_t n = 0;
        mpmi_buf_init(&items);
        p->pos++;
        rc = parse_items(p, &items, ']', depth + 1, nest + 1, &n, &h);
        if (!rc) rc = parse_emit(out, 0, n, &items);
        mpmi_buf_free(&items);
        h++;
        break;
    }
    case '{':
        if (depth >= MPMI_MAX_DEPTH) return parse_too_deep(at);
        rc = parse_dict(p, out, depth + 1, nest + 1, &h);
        h++;
        break;
    case '(': {
        mpmi_buf items;
        size_t n = 0;
        mpmi_buf_init(&items);
        p->pos++;
        parse_ws(p);
        if (parse_peek(p) == ')') { /* () */
            p->pos++;
            rc = depth >= MPMI_MAX_DEPTH ? parse_too_deep(at) : parse_emit(out, 0, 0, &items);
            h = 1;
            mpmi_buf_free(&items);
            break;
        }
        /* a group until a comma shows a tuple */
        int h1 = 0;
        rc = parse_value(p, &items, depth, nest + 1, &h1);
        if (!rc) {
            parse_ws(p);
            if (parse_peek(p) == ')') {
                p->pos++;
                h = h1;
                rc = mpmi_buf_append(out, items.data, items.len) ? parse_oom() : 0;
            } else if (parse_peek(p) == ',') {
                p->pos++;
                n = 1;
                h = h1;
                if (depth >= MPMI_MAX_DEPTH || depth + 1 + h1 > MPMI_MAX_DEPTH)
                    rc = parse_too_deep(at);
                if (!rc) rc = parse_items(p, &items, ')', depth + 1, nest + 1, &n, &h);
                if (!rc) rc = parse_emit(out, 0, n, &items);
                h++;
            } else {
                rc = parse_unexpected(p, p->pos, "',' or ')'");
            }
        }
        mpmi_buf_free(&items);
        break;
    }
    case '\'':
    case '"':
        rc = parse_string(p, out);
        break;
    case '+':
    case '-':
        rc = parse_number(p, out);
        break;
    default:
        if (c >= 0 && (parse_isdigit(c, 10) || (c == '.' && parse_isdigit(p->s[p->pos + 1], 10))))
            rc = parse_number(p, out);
        else if (c >= 0 && parse_isname(c, 1))
            rc = parse_name(p, out);
        else
            rc = parse_unexpected(p, at, "a value");
    }
    if (height) *height = h;
    return rc;
}

int mpm_val_parse(const char *text, mpm_val **out)
{
    if (out) *out = NULL;
    if (!text || !out) return mpmi_error(MPM_EINVAL, "ValueError: NULL argument");
    parse_st p = {text, strlen(text), 0};
    mpmi_buf b;
    mpmi_buf_init(&b);
    int rc = parse_value(&p, &b, 0, 0, NULL);
    if (!rc) {
        parse_ws(&p);
        if (p.pos < p.n) {
            char c[16], what[64];
            snprintf(what, sizeof what, "unexpected %s after the value", parse_show(&p, p.pos, c));
            rc = parse_err(p.pos, what);
        }
    }
    if (!rc) rc = mpmi_decode_val(b.data, b.len, out);
    mpmi_buf_free(&b);
    return rc;
}
