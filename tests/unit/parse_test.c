/* parse_test.c - mpm_val_parse: every literal kind, escapes, errors with their
 * positions, the nesting and int64 limits, and repr -> parse round trips. */
#include <criterion/criterion.h>
#include <math.h>
#include <mpm/mpm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/support.h"

/*---- helpers ----------------------------------------------------------------*/

/* Parse text, which must succeed; the caller frees the result. */
static mpm_val *parse_ok(const char *text)
{
    mpm_val *v = NULL;
    int rc = mpm_val_parse(text, &v);
    cr_assert_eq(rc, 0, "parse(%s): %d (%s)", text, rc, mpm_last_error());
    cr_assert_not_null(v);
    return v;
}

/* text parses to a value whose repr is want. */
static void assert_parses_to(const char *text, const char *want)
{
    mpm_val *v = parse_ok(text);
    char *got = mpm_val_repr(*v);
    cr_assert_not_null(got);
    cr_expect_str_eq(got, want, "parse(%s): got %s, want %s", text, got, want);
    free(got);
    mpm_val_free(v);
}

/* text is refused with code and exactly msg, and *out is left NULL. */
static void assert_refused(const char *text, int code, const char *msg)
{
    mpm_val *v = (mpm_val *)&v; /* not NULL: the call must clear it */
    int rc = mpm_val_parse(text, &v);
    cr_expect_eq(rc, code, "parse(%s): got %d (%s), want %d", text, rc, mpm_last_error(), code);
    cr_expect_str_eq(mpm_last_error(), msg, "parse(%s)", text);
    cr_expect_null(v, "parse(%s) left *out set", text);
}

/* A string of n copies of open, then mid, then n copies of close. */
static char *nested(int n, const char *open, const char *mid, const char *close)
{
    size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
    char *s = malloc((size_t)n * (lo + lc) + lm + 1), *p = s;
    cr_assert_not_null(s);
    for (int i = 0; i < n; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lc)
        memcpy(p, close, lc);
    *p = 0;
    return s;
}

/*---- scalars ------------------------------------------------------------------*/

Test(parse, none_true_false, .timeout = 60)
{
    mpm_val *v = parse_ok("None");
    cr_assert_eq(v->type, MPM_T_NONE);
    mpm_val_free(v);
    v = parse_ok("True");
    cr_assert_eq(v->type, MPM_T_BOOL);
    cr_assert(v->v.b);
    mpm_val_free(v);
    v = parse_ok("  False\n");
    cr_assert_eq(v->type, MPM_T_BOOL);
    cr_assert(!v->v.b);
    mpm_val_free(v);
}

Test(parse, ints_in_every_base, .timeout = 60)
{
    static const struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"0", 0},      {"00", 0},     {"0_0", 0},     {"7", 7},
        {"-7", -7},    {"+7", 7},     {"- 7", -7},    {"1_000_000", 1000000},
        {"0x1F", 31},  {"0XfF", 255}, {"0x_ff", 255}, {"-0x10", -16},
        {"0o17", 15},  {"0O7_7", 63}, {"0b101", 5},   {"0B_1_0", 2},
        {"\t42 ", 42},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mpm_val *v = parse_ok(cases[i].text);
        cr_expect_eq(v->type, MPM_T_INT, "%s: type %d", cases[i].text, v->type);
        cr_expect_eq(v->v.i, cases[i].want, "%s: got %lld", cases[i].text, (long long)v->v.i);
        mpm_val_free(v);
    }
}

Test(parse, int64_limits, .timeout = 60)
{
    mpm_val *v = parse_ok("9223372036854775807");
    cr_assert_eq(v->v.i, INT64_MAX);
    mpm_val_free(v);
    v = parse_ok("-9223372036854775808");
    cr_assert_eq(v->type, MPM_T_INT);
    cr_assert_eq(v->v.i, INT64_MIN);
    mpm_val_free(v);
    v = parse_ok("0x7fff_ffff_ffff_ffff");
    cr_assert_eq(v->v.i, INT64_MAX);
    mpm_val_free(v);
    v = parse_ok("-0x8000000000000000");
    cr_assert_eq(v->v.i, INT64_MIN);
    mpm_val_free(v);

    static const char range[] = "OverflowError: int out of the 64-bit range "
                                "[-9223372036854775808, 9223372036854775807]";
    char msg[256];
    snprintf(msg, sizeof msg, "%s at position 0", range);
    assert_refused("9223372036854775808", MPM_EOVERFLOW, msg);
    assert_refused("-9223372036854775809", MPM_EOVERFLOW, msg);
    assert_refused("0x8000000000000000", MPM_EOVERFLOW, msg);
    assert_refused("99999999999999999999999999", MPM_EOVERFLOW, msg);
    snprintf(msg, sizeof msg, "%s at position 1", range);
    assert_refused("[18446744073709551616]", MPM_EOVERFLOW, msg);
}

Test(parse, malformed_ints, .timeout = 60)
{
    assert_refused("01", MPM_EVALUE,
                   "ValueError: leading zeros in decimal integer literals are not permitted; use "
                   "an 0o prefix for octal integers at position 0");
    assert_refused("1_", MPM_EVALUE, "ValueError: invalid decimal literal at position 1");
    assert_refused("1__0", MPM_EVALUE, "ValueError: invalid decimal literal at position 1");
    assert_refused("12abc", MPM_EVALUE, "ValueError: invalid decimal literal at position 2");
    assert_refused("3j", MPM_EVALUE, "ValueError: invalid decimal literal at position 1");
    assert_refused("0x", MPM_EVALUE, "ValueError: invalid hexadecimal literal at position 2");
    assert_refused("0xfg", MPM_EVALUE, "ValueError: invalid hexadecimal literal at position 3");
    assert_refused("0o8", MPM_EVALUE, "ValueError: invalid octal literal at position 2");
    assert_refused("0b12", MPM_EVALUE, "ValueError: invalid binary literal at position 3");
    assert_refused("--1", MPM_EVALUE,
                   "ValueError: unexpected '-', expected a number after the sign at position 1");
    assert_refused("-True", MPM_EVALUE,
                   "ValueError: unexpected 'T', expected a number after the sign at position 1");
    assert_refused("-", MPM_EVALUE,
                   "ValueError: unexpected end of input, expected a number after the sign at "
                   "position 1");
}

Test(parse, floats, .timeout = 60)
{
    static const struct {
        const char *text;
        double want;
    } cases[] = {
        {"1.5", 1.5},           {"-2.25", -2.25},  {"1e3", 1000.0},
        {"1E-3", 0.001},        {".5", 0.5},       {"5.", 5.0},
        {"1.e2", 100.0},        {"007.5", 7.5},    {"1_0.2_5", 10.25},
        {"+0.1", 0.1},          {"1e+308", 1e308}, {"5e-324", 5e-324},
        {"2.5e-308", 2.5e-308}, {"0.1", 0.1},      {"1e16", 1e16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mpm_val *v = parse_ok(cases[i].text);
        cr_expect_eq(v->type, MPM_T_FLOAT, "%s: type %d", cases[i].text, v->type);
        cr_expect_eq(v->v.f, cases[i].want, "%s: got %.17g", cases[i].text, v->v.f);
        mpm_val_free(v);
    }
    mpm_val *v = parse_ok("-0.0");
    cr_assert_eq(v->type, MPM_T_FLOAT);
    cr_assert(v->v.f == 0 && signbit(v->v.f), "-0.0 keeps its sign");
    mpm_val_free(v);
    v = parse_ok("1e400"); /* as Python: an overflowing literal is inf */
    cr_assert(isinf(v->v.f) && v->v.f > 0);
    mpm_val_free(v);
    assert_refused("1e", MPM_EVALUE, "ValueError: invalid decimal literal at position 1");
    assert_refused("1.5.2", MPM_EVALUE, "ValueError: invalid decimal literal at position 3");
    assert_refused(".", MPM_EVALUE, "ValueError: unexpected '.', expected a value at position 0");
}

Test(parse, inf_and_nan, .timeout = 60)
{
    static const struct {
        const char *text;
        int sign; /* 1: inf, -1: -inf, 0: nan */
    } cases[] = {
        {"inf", 1},
        {"-inf", -1},
        {"+inf", 1},
        {"nan", 0},
        {"-nan", 0},
        {"float('inf')", 1},
        {"float(\"-inf\")", -1},
        {"float('nan')", 0},
        {"float( ' +Infinity\\n' )", 1},
        {"float('-INF',)", -1},
        {"-float('inf')", -1},
        {"float('NaN')", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mpm_val *v = parse_ok(cases[i].text);
        cr_expect_eq(v->type, MPM_T_FLOAT, "%s", cases[i].text);
        if (cases[i].sign)
            cr_expect(isinf(v->v.f) && (v->v.f > 0) == (cases[i].sign > 0), "%s: got %g",
                      cases[i].text, v->v.f);
        else
            cr_expect(isnan(v->v.f), "%s: got %g", cases[i].text, v->v.f);
        mpm_val_free(v);
    }
    /* float() reads other numbers too, as Python's does */
    assert_parses_to("float('1_0.5')", "10.5");
    assert_parses_to("float(' 010 ')", "10.0");
    assert_parses_to("float('1e3')", "1000.0");
    assert_refused("float('x')", MPM_EVALUE,
                   "ValueError: could not convert string to float: 'x' at position 6");
    assert_refused("float('0x10')", MPM_EVALUE,
                   "ValueError: could not convert string to float: '0x10' at position 6");
    assert_refused("float(1)", MPM_EVALUE,
                   "ValueError: unexpected '1', expected a string in float(...) at position 6");
    assert_refused("float(b'1')", MPM_EVALUE,
                   "ValueError: float() takes a str here, not bytes at position 6");
    assert_refused(
        "float('1'", MPM_EVALUE,
        "ValueError: unexpected end of input, expected ')' closing float( at position 9");
    assert_refused("float", MPM_EVALUE,
                   "ValueError: unexpected end of input, expected '(' after float at position 5");
    assert_refused("Inf", MPM_EVALUE,
                   "ValueError: name 'Inf' is not a literal (strings need quotes: 'Inf') at "
                   "position 0");
}

/*---- strings and bytes -------------------------------------------------------------*/

/* text parses to a str (or bytes) of exactly the n bytes want. */
static void assert_string(const char *text, mpm_type type, const char *want, size_t n)
{
    mpm_val *v = parse_ok(text);
    cr_expect_eq(v->type, type, "%s: type %d", text, v->type);
    cr_expect_eq(v->v.str.len, n, "%s: length %zu, want %zu", text, v->v.str.len, n);
    if (v->v.str.len == n) cr_expect_eq(memcmp(v->v.str.ptr, want, n), 0, "%s: other bytes", text);
    cr_expect_eq(v->v.str.ptr[v->v.str.len], 0, "%s: not NUL-terminated", text);
    mpm_val_free(v);
}
#define ASSERT_STR(text, want) assert_string(text, MPM_T_STR, want, sizeof(want) - 1)
#define ASSERT_BYTES(text, want) assert_string(text, MPM_T_BYTES, want, sizeof(want) - 1)

Test(parse, strings_and_quotes, .timeout = 60)
{
    ASSERT_STR("''", "");
    ASSERT_STR("\"\"", "");
    ASSERT_STR("'abc'", "abc");
    ASSERT_STR("\"it's\"", "it's");
    ASSERT_STR("'say \"hi\"'", "say \"hi\"");
    ASSERT_STR("'''tri'ple'''", "tri'ple");
    ASSERT_STR("\"\"\"a\nb\"\"\"", "a\nb");
    ASSERT_STR("'a' \"b\"  'c'", "abc"); /* adjacent literals concatenate */
    ASSERT_STR("u'x'", "x");
    ASSERT_STR("'h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80'",
               "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
}

Test(parse, string_escapes, .timeout = 60)
{
    ASSERT_STR("'\\n\\t\\r\\\\\\'\\\"'", "\n\t\r\\'\"");
    ASSERT_STR("'\\a\\b\\f\\v'", "\a\b\f\v");
    ASSERT_STR("'\\x41\\x7e'", "A~");
    ASSERT_STR("'\\xe9'", "\xc3\xa9"); /* U+00E9, in UTF-8 */
    ASSERT_STR("'\\u00e9\\u20AC'", "\xc3\xa9\xe2\x82\xac");
    ASSERT_STR("'\\U0001F600'", "\xf0\x9f\x98\x80");
    ASSERT_STR("'\\0'", "\0");
    ASSERT_STR("'\\101\\60\\7'", "A0\a");
    ASSERT_STR("'\\777'", "\xc7\xbf"); /* U+01FF */
    ASSERT_STR("'a\\\nb'", "ab");      /* backslash-newline continues the line */
    ASSERT_STR("'\\q\\d'", "\\q\\d");  /* unknown escapes stay, as in Python */
    ASSERT_STR("r'\\n\\''", "\\n\\'");
    ASSERT_STR("R'a\\\\b'", "a\\\\b");
}

Test(parse, bytes_literals, .timeout = 60)
{
    ASSERT_BYTES("b''", "");
    ASSERT_BYTES("b'abc'", "abc");
    ASSERT_BYTES("B\"x\"", "x");
    ASSERT_BYTES("b'\\x00\\xff\\x7f'", "\x00\xff\x7f");
    ASSERT_BYTES("b'\\n\\\\\\101\\0'", "\n\\A\0");
    ASSERT_BYTES("b'\\u1234'", "\\u1234"); /* no \u in bytes */
    ASSERT_BYTES("rb'\\x00'", "\\x00");
    ASSERT_BYTES("Br'a'", "a");
    ASSERT_BYTES("b'a' b'b'", "ab");
}

Test(parse, string_errors, .timeout = 60)
{
    assert_refused("'abc", MPM_EVALUE, "ValueError: unterminated string literal at position 0");
    assert_refused("['a', 'b]", MPM_EVALUE,
                   "ValueError: unterminated string literal at position 6");
    assert_refused("'a\nb'", MPM_EVALUE, "ValueError: unterminated string literal at position 0");
    assert_refused("'''a'", MPM_EVALUE,
                   "ValueError: unterminated triple-quoted string literal at position 0");
    assert_refused("'\\x4'", MPM_EVALUE, "ValueError: truncated \\xXX escape at position 1");
    assert_refused("'ab\\u12'", MPM_EVALUE, "ValueError: truncated \\uXXXX escape at position 3");
    assert_refused("'\\U0000110'", MPM_EVALUE,
                   "ValueError: truncated \\UXXXXXXXX escape at position 1");
    assert_refused("'\\U00110000'", MPM_EVALUE,
                   "ValueError: illegal Unicode character at position 1");
    assert_refused("'\\ud800'", MPM_EVALUE,
                   "ValueError: a lone surrogate cannot be encoded as UTF-8 at position 1");
    assert_refused("'\\N{EM DASH}'", MPM_EVALUE,
                   "ValueError: \\N{...} escapes are not supported at position 1");
    assert_refused("'\xff'", MPM_EVALUE,
                   "ValueError: invalid UTF-8 in a string literal at position 1");
    assert_refused("b'\xc3\xa9'", MPM_EVALUE,
                   "ValueError: bytes can only contain ASCII literal characters at position 2");
    assert_refused("b'\\400'", MPM_EVALUE,
                   "ValueError: octal escape beyond \\377 in bytes at position 2");
    assert_refused("'a' b'b'", MPM_EVALUE,
                   "ValueError: cannot mix bytes and nonbytes literals at position 4");
    assert_refused("abc", MPM_EVALUE,
                   "ValueError: name 'abc' is not a literal (strings need quotes: 'abc') at "
                   "position 0");
    assert_refused("ub'x'", MPM_EVALUE,
                   "ValueError: name 'ub' is not a literal (strings need quotes: 'ub') at "
                   "position 0");
}

/*---- containers -------------------------------------------------------------------*/

Test(parse, lists_and_tuples, .timeout = 60)
{
    assert_parses_to("[]", "[]");
    assert_parses_to("[ ]", "[]");
    assert_parses_to("[1, 'a', None]", "[1, 'a', None]");
    assert_parses_to("[1,2,3,]", "[1, 2, 3]");
    assert_parses_to("()", "[]");
    assert_parses_to("(1,)", "[1]");
    assert_parses_to("(1, 2)", "[1, 2]");
    assert_parses_to("(1, 2,)", "[1, 2]");
    assert_parses_to("(1)", "1"); /* a group, not a tuple */
    assert_parses_to("((('x')))", "'x'");
    assert_parses_to("((1,),)", "[[1]]");
    assert_parses_to("[[], [[]], ([],)]", "[[], [[]], [[]]]");
    assert_parses_to(" [\n  1 ,\t2\n] ", "[1, 2]");

    mpm_val *v = parse_ok("[1, [2, 3]]");
    cr_assert_eq(v->type, MPM_T_LIST);
    cr_assert_eq(v->v.list.len, 2);
    cr_assert_eq(v->v.list.items[1].type, MPM_T_LIST);
    cr_assert_eq(v->v.list.items[1].v.list.items[1].v.i, 3);
    mpm_val_free(v);
}

Test(parse, dicts, .timeout = 60)
{
    assert_parses_to("{}", "{}");
    assert_parses_to("{'a': 1}", "{'a': 1}");
    assert_parses_to("{'a': [1, 2.5, None, True], }", "{'a': [1, 2.5, None, True]}");
    assert_parses_to("{1: {2: {3: 'x'}}, b'k': (1,)}", "{1: {2: {3: 'x'}}, b'k': [1]}");
    assert_parses_to("{None: 0, False: 1, 2.5: 2, -inf: 3}",
                     "{None: 0, False: 1, 2.5: 2, -inf: 3}");
    /* one entry per key, as Python: the first key, the last value */
    assert_parses_to("{1: 'a', 1.0: 'b', True: 'c', 2: 'd'}", "{1: 'c', 2: 'd'}");
    assert_parses_to("{'k': 1, 'j': 2, 'k': 3}", "{'k': 3, 'j': 2}");

    mpm_val *v = parse_ok("{'x': 1, 'y': [2]}");
    cr_assert_eq(v->type, MPM_T_DICT);
    cr_assert_eq(v->v.dict.len, 2);
    cr_assert_str_eq(v->v.dict.items[0].key.v.str.ptr, "x");
    cr_assert_eq(v->v.dict.items[1].value.type, MPM_T_LIST);
    mpm_val_free(v);
}

Test(parse, a_large_dict, .timeout = 60)
{
    /* keys 0..9999, then the same keys again with new values: 10000 entries */
    size_t cap = 400000, len = 0;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    s[len++] = '{';
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 10000; i++)
            len += (size_t)snprintf(s + len, cap - len, "%d: %d, ", i, i + round);
    s[len++] = '}';
    s[len] = 0;
    mpm_val *v = parse_ok(s);
    free(s);
    cr_assert_eq(v->v.dict.len, 10000);
    cr_assert_eq(v->v.dict.items[9999].key.v.i, 9999);
    cr_assert_eq(v->v.dict.items[9999].value.v.i, 10000);
    mpm_val_free(v);
}

Test(parse, container_errors, .timeout = 60)
{
    assert_refused("[1, 2", MPM_EVALUE,
                   "ValueError: unexpected end of input, expected ',' or ']' at position 5");
    assert_refused("[1 2]", MPM_EVALUE,
                   "ValueError: unexpected '2', expected ',' or ']' at position 3");
    assert_refused("[,]", MPM_EVALUE, "ValueError: unexpected ',', expected a value at position 1");
    assert_refused("[1,,2]", MPM_EVALUE,
                   "ValueError: unexpected ',', expected a value at position 3");
    assert_refused("(1 2)", MPM_EVALUE,
                   "ValueError: unexpected '2', expected ',' or ')' at position 3");
    assert_refused("(1, 2]", MPM_EVALUE,
                   "ValueError: unexpected ']', expected ',' or ')' at position 5");
    assert_refused("{1 2}", MPM_EVALUE, "ValueError: unexpected '2', expected ':' at position 3");
    assert_refused("{1: }", MPM_EVALUE,
                   "ValueError: unexpected '}', expected a value at position 4");
    assert_refused("{1: 2 3: 4}", MPM_EVALUE,
                   "ValueError: unexpected '3', expected ',' or '}' at position 6");
    assert_refused("{[1]: 2}", MPM_EVALUE,
                   "ValueError: unhashable type: 'list' as a dict key at position 1");
    assert_refused("{'a': 1, {}: 2}", MPM_EVALUE,
                   "ValueError: unhashable type: 'dict' as a dict key at position 9");
    assert_refused("{(1, 2): 3}", MPM_EVALUE,
                   "ValueError: a tuple cannot be a dict key (mpm holds tuples as lists) at "
                   "position 1");
    assert_refused("{1, 2}", MPM_EVALUE,
                   "ValueError: sets are not supported (mpm holds dicts, not sets) at position 2");
    assert_refused("]", MPM_EVALUE, "ValueError: unexpected ']', expected a value at position 0");
}

/*---- whole input ---------------------------------------------------------------------*/

Test(parse, trailing_garbage_is_refused, .timeout = 60)
{
    assert_refused("1 2", MPM_EVALUE, "ValueError: unexpected '2' after the value at position 2");
    assert_refused("[1]]", MPM_EVALUE, "ValueError: unexpected ']' after the value at position 3");
    assert_refused("None,", MPM_EVALUE, "ValueError: unexpected ',' after the value at position 4");
    assert_refused("'a'x", MPM_EVALUE, "ValueError: unexpected 'x' after the value at position 3");
    assert_refused("1 # comment", MPM_EVALUE,
                   "ValueError: unexpected '#' after the value at position 2");
    assert_refused("True\x01", MPM_EVALUE,
                   "ValueError: unexpected '\\x01' after the value at position 4");
}

Test(parse, empty_and_null, .timeout = 60)
{
    assert_refused("", MPM_EVALUE,
                   "ValueError: unexpected end of input, expected a value at position 0");
    assert_refused("  \n ", MPM_EVALUE,
                   "ValueError: unexpected end of input, expected a value at position 4");
    mpm_val *v = NULL;
    t_assert_err(mpm_val_parse(NULL, &v), MPM_EINVAL, "ValueError: NULL argument");
    cr_assert_null(v);
    t_assert_err(mpm_val_parse("1", NULL), MPM_EINVAL, "ValueError: NULL argument");
}

Test(parse, nesting_stops_at_32_levels, .timeout = 60)
{
    static const char too_deep[] = "ValueError: values nest at most 32 levels at position %d";
    char msg[128];
    /* a tuple is known as one only at its comma, after its first item: the
     * outermost one is reported */
    struct {
        const char *open, *close;
        int at;
    } kinds[] = {{"[", "]", 32}, {"{0: ", "}", 128}, {"(", ",)", 0}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char *s = nested(32, kinds[k].open, "1", kinds[k].close);
        mpm_val *v = parse_ok(s);
        free(s);
        int depth = 0;
        for (const mpm_val *x = v; x->type == MPM_T_LIST || x->type == MPM_T_DICT; depth++)
            x = x->type == MPM_T_LIST ? &x->v.list.items[0] : &x->v.dict.items[0].value;
        cr_expect_eq(depth, 32, "%s: %d levels", kinds[k].open, depth);
        mpm_val_free(v);

        s = nested(33, kinds[k].open, "1", kinds[k].close);
        snprintf(msg, sizeof msg, too_deep, kinds[k].at);
        assert_refused(s, MPM_EVALUE, msg);
        free(s);
    }
    /* parentheses that group are no level */
    char *s = nested(10, "(", "[]", ")");
    char *t = nested(31, "[", s, "]");
    free(s);
    mpm_val *v = parse_ok(t);
    free(t);
    mpm_val_free(v);
    /* a tuple whose first item is already 32 deep */
    s = nested(32, "[", "", "]");
    size_t n = strlen(s) + 8;
    t = malloc(n);
    snprintf(t, n, "(%s,)", s);
    free(s);
    snprintf(msg, sizeof msg, too_deep, 0);
    assert_refused(t, MPM_EVALUE, msg);
    free(t);
    /* a hostile depth is refused without exhausting the stack */
    s = nested(100000, "[", "", "]");
    snprintf(msg, sizeof msg, too_deep, 32);
    assert_refused(s, MPM_EVALUE, msg);
    free(s);
    s = nested(100000, "(", "1", ")");
    snprintf(msg, sizeof msg, too_deep, 128);
    assert_refused(s, MPM_EVALUE, msg);
    free(s);
}

/*---- round trips -----------------------------------------------------------------------*/

/* repr(v) parses back to a value equal to v with the same repr. */
static void assert_round_trip(mpm_val v)
{
    char *r = mpm_val_repr(v);
    cr_assert_not_null(r);
    mpm_val *back = NULL;
    int rc = mpm_val_parse(r, &back);
    cr_assert_eq(rc, 0, "parse(%s): %d (%s)", r, rc, mpm_last_error());
    char *r2 = mpm_val_repr(*back);
    cr_expect_str_eq(r2, r, "round trip of %s gave %s", r, r2);
    cr_expect(mpm_val_eq(*back, v), "round trip of %s is not equal", r);
    cr_expect_eq(back->type, v.type, "round trip of %s changed the type", r);
    free(r);
    free(r2);
    mpm_val_free(back);
}

Test(parse, repr_round_trips, .timeout = 60)
{
    static const double floats[] = {0.0,
                                    -0.0,
                                    1.5,
                                    -2.75,
                                    0.1,
                                    1e16,
                                    1e-5,
                                    1e-4,
                                    123.456,
                                    1e300,
                                    5e-324,
                                    1.7976931348623157e308,
                                    1.0 / 3,
                                    2.0 / 3 * 1e-10,
                                    12345678901234567.0};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        assert_round_trip(MPM_FLOAT(floats[i]));
    assert_round_trip(MPM_FLOAT(INFINITY));
    assert_round_trip(MPM_FLOAT(-INFINITY));
    assert_round_trip(MPM_FLOAT(NAN));
    static const int64_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, INT64_MIN + 1, 1000000007};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        assert_round_trip(MPM_INT(ints[i]));
    assert_round_trip(MPM_NONE);
    assert_round_trip(MPM_BOOL(true));
    assert_round_trip(MPM_BOOL(false));

    /* every ASCII character, quotes and controls included */
    char ascii[128];
    for (int i = 0; i < 128; i++)
        ascii[i] = (char)i;
    assert_round_trip(MPM_STRN(ascii, sizeof ascii));
    assert_round_trip(MPM_STR("it's"));
    assert_round_trip(MPM_STR("both ' and \""));
    assert_round_trip(
        MPM_STR("\xc2\x85 C1, \xc2\xa0 nbsp, \xe2\x80\x8b zwsp, h\xc3\xa9, \xf0\x9f\x98\x80"));
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    assert_round_trip(MPM_BYTES(all, sizeof all));
    assert_round_trip(MPM_BYTES("", 0));

    mpm_val inner[] = {MPM_INT(1), MPM_FLOAT(2.5), MPM_NONE, MPM_BOOL(true), MPM_STR("x")};
    mpm_pair kv[] = {
        {MPM_STR("a"), MPM_LIST(inner, 5)},         {MPM_INT(7), MPM_FLOAT(-0.0)},
        {MPM_FLOAT(0.5), MPM_BYTES("\x00\x01", 2)}, {MPM_NONE, MPM_DICT(NULL, 0)},
        {MPM_BOOL(false), MPM_LIST(NULL, 0)},       {MPM_BYTES("k", 1), MPM_FLOAT(NAN)},
    };
    mpm_val d = MPM_DICT(kv, 6);
    assert_round_trip(d);
    mpm_val outer[] = {d, MPM_LIST(inner, 5), MPM_STR("")};
    assert_round_trip(MPM_LIST(outer, 3));

    /* the deepest value mpm holds */
    mpm_val chain[32];
    chain[31] = MPM_LIST(NULL, 0);
    for (int i = 30; i >= 0; i--)
        chain[i] = MPM_LIST(&chain[i + 1], 1);
    assert_round_trip(chain[0]);
}
