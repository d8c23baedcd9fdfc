/* dict_test.c - mpm_dict_* against a private manager: Python's dict semantics
 * (one key for 1, 1.0 and True; insertion order; Python's error messages),
 * bulk and batched use, concurrent writers from forked processes. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <mpm/mpm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static mpm_manager *M;

/* rc must be 0; say what failed and why. */
#define OK(expr)                                                                                   \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        cr_assert_eq(rc_, 0, "%s -> %d (%s): %s", #expr, rc_, mpm_strerror(rc_),                   \
                     mpm_last_error());                                                            \
    } while (0)

/* rc must be code, and mpm_last_error() must be msg (NULL: any). */
#define FAILS(expr, code, msg)                                                                     \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        cr_assert_eq(rc_, (code), "%s -> %d (%s), want %d (%s); message: %s", #expr, rc_,          \
                     mpm_strerror(rc_), (code), mpm_strerror(code), mpm_last_error());             \
        if ((msg) != NULL)                                                                         \
            cr_assert_str_eq(mpm_last_error(), (const char *)(msg), "%s: message", #expr);         \
    } while (0)

static void setup(void)
{
    unsetenv("MPM_AUTHKEY");
    int rc = mpm_manager_start(&M, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %s", mpm_last_error());
}

/* Criterion 2.4.1 prints but does not count assertions made in .fini, so
 * every test ends with this instead: it closed what it made, and the server
 * holds nothing. */
static void no_leftovers(void)
{
    size_t n = 99;
    int rc = mpm_manager_object_count(M, &n);
    cr_assert_eq(rc, 0, "object count: %s", mpm_last_error());
    cr_assert_eq(n, 0, "the server still holds %zu objects", n);
}

static void teardown(void)
{
    mpm_manager_shutdown(M);
    M = NULL;
}

TestSuite(dict, .init = setup, .fini = teardown, .timeout = 30);

static mpm_dict *new_dict(void)
{
    mpm_dict *d = NULL;
    OK(mpm_dict_new(M, &d));
    cr_assert_not_null(d);
    return d;
}

/* The repr of a result value, copied to buf, the value freed. */
static const char *val_str(mpm_val *v, char *buf, size_t n)
{
    char *s = v ? mpm_val_repr(*v) : NULL;
    snprintf(buf, n, "%s", s ? s : "(null)");
    free(s);
    mpm_val_free(v);
    return buf;
}

#define ASSERT_VAL(v, want)                                                                        \
    do {                                                                                           \
        char b_[1024];                                                                             \
        cr_assert_str_eq(val_str((v), b_, sizeof b_), (want));                                     \
    } while (0)

#define ASSERT_DICT(d, want)                                                                       \
    do {                                                                                           \
        char *s_ = NULL;                                                                           \
        char b_[4096];                                                                             \
        OK(mpm_dict_repr((d), &s_));                                                               \
        snprintf(b_, sizeof b_, "%s", s_);                                                         \
        free(s_);                                                                                  \
        cr_assert_str_eq(b_, (want));                                                              \
    } while (0)

static size_t dict_len(mpm_dict *d)
{
    size_t n = 12345;
    OK(mpm_dict_len(d, &n));
    return n;
}

static void check_keys(mpm_dict *d, const char *want)
{
    mpm_val *k = NULL;
    OK(mpm_dict_keys(d, &k));
    cr_assert_eq(k->type, MPM_T_LIST);
    ASSERT_VAL(k, want);
}

/*---- get, set, del, contains, len -------------------------------------------------*/

Test(dict, new_dict_is_empty)
{
    mpm_dict *d = new_dict();
    cr_assert_eq(mpm_handle_type(d), MPM_OBJ_DICT);
    cr_assert_gt(mpm_handle_id(d), 0);
    cr_assert_eq(dict_len(d), 0);
    ASSERT_DICT(d, "{}");
    size_t n = 0;
    OK(mpm_manager_object_count(M, &n));
    cr_assert_eq(n, 1);
    mpm_dict_close(d);
    OK(mpm_manager_object_count(M, &n));
    cr_assert_eq(n, 0, "closing the only handle left the object alive");
    no_leftovers();
}

Test(dict, set_then_get_round_trips_every_value_type)
{
    mpm_dict *d = new_dict();
    mpm_val items[] = {MPM_INT(1), MPM_FLOAT(2.5), MPM_STR("x")};
    mpm_pair pairs[] = {{MPM_STR("k"), MPM_LIST(items, 3)}};
    struct {
        mpm_val key, value;
        const char *repr;
    } cases[] = {
        {MPM_STR("none"), MPM_NONE, "None"},
        {MPM_STR("true"), MPM_BOOL(true), "True"},
        {MPM_STR("int"), MPM_INT(-42), "-42"},
        {MPM_STR("max"), MPM_INT(INT64_MAX), "9223372036854775807"},
        {MPM_STR("min"), MPM_INT(INT64_MIN), "-9223372036854775808"},
        {MPM_STR("float"), MPM_FLOAT(0.25), "0.25"},
        {MPM_STR("str"), MPM_STR("h\xc3\xa9llo"), "'h\xc3\xa9llo'"},
        {MPM_STR("bytes"), MPM_BYTES("\0\xff", 2), "b'\\x00\\xff'"},
        {MPM_STR("list"), MPM_LIST(items, 3), "[1, 2.5, 'x']"},
        {MPM_STR("dict"), MPM_DICT(pairs, 1), "{'k': [1, 2.5, 'x']}"},
        {MPM_NONE, MPM_STR("none key"), "'none key'"},
        {MPM_BOOL(false), MPM_STR("false key"), "'false key'"},
        {MPM_INT(7), MPM_STR("int key"), "'int key'"},
        {MPM_FLOAT(0.5), MPM_STR("float key"), "'float key'"},
        {MPM_BYTES("b", 1), MPM_STR("bytes key"), "'bytes key'"},
        {MPM_STRN("a\0b", 3), MPM_STR("nul key"), "'nul key'"},
        {MPM_STR(""), MPM_STR("empty str key"), "'empty str key'"},
        {MPM_BYTES("", 0), MPM_STR("empty bytes key"), "'empty bytes key'"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++)
        OK(mpm_dict_set(d, cases[i].key, cases[i].value));
    cr_assert_eq(dict_len(d), n, "every key above is distinct in Python");
    for (size_t i = 0; i < n; i++) {
        mpm_val *v = NULL;
        OK(mpm_dict_get(d, cases[i].key, &v));
        cr_assert_not_null(v);
        cr_assert(mpm_val_eq(*v, cases[i].value), "case %zu: the value changed", i);
        ASSERT_VAL(v, cases[i].repr);
    }
    /* types come back as they went */
    mpm_val *v = NULL;
    OK(mpm_dict_get(d, MPM_STR("float"), &v));
    cr_assert_eq(v->type, MPM_T_FLOAT);
    mpm_val_free(v);
    OK(mpm_dict_get(d, MPM_STR("true"), &v));
    cr_assert_eq(v->type, MPM_T_BOOL);
    mpm_val_free(v);
    OK(mpm_dict_get(d, MPM_STR("bytes"), &v));
    cr_assert_eq(v->type, MPM_T_BYTES);
    cr_assert_eq(v->v.str.len, 2);
    cr_assert_eq(v->v.str.ptr[2], 0, "result strings are NUL-terminated");
    mpm_val_free(v);
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, get_missing_key_is_keyerror)
{
    mpm_dict *d = new_dict();
    mpm_val *v = (mpm_val *)&v; /* must not be touched */
    FAILS(mpm_dict_get(d, MPM_STR("x"), &v), MPM_EKEY, "KeyError: 'x'");
    cr_assert_eq(v, (mpm_val *)&v, "a failed get wrote its result");
    FAILS(mpm_dict_get(d, MPM_INT(5), &v), MPM_EKEY, "KeyError: 5");
    FAILS(mpm_dict_get(d, MPM_BYTES("k", 1), &v), MPM_EKEY, "KeyError: b'k'");
    FAILS(mpm_dict_get(d, MPM_STR("it's"), &v), MPM_EKEY, "KeyError: \"it's\"");
    FAILS(mpm_dict_get(d, MPM_NONE, &v), MPM_EKEY, "KeyError: None");
    FAILS(mpm_dict_get(d, MPM_FLOAT(0.1), &v), MPM_EKEY, "KeyError: 0.1");
    OK(mpm_dict_set(d, MPM_STR("y"), MPM_INT(1)));
    FAILS(mpm_dict_get(d, MPM_STR("Y"), &v), MPM_EKEY, "KeyError: 'Y'");
    /* a following success clears nothing it should not: the message is per call */
    OK(mpm_dict_get(d, MPM_STR("y"), &v));
    mpm_val_free(v);
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, keyerror_of_a_huge_key_is_short)
{
    mpm_dict *d = new_dict();
    size_t n = 100000;
    char *big = malloc(n);
    cr_assert_not_null(big);
    memset(big, 'q', n);
    mpm_val *v = NULL;
    int rc = mpm_dict_get(d, MPM_STRN(big, n), &v);
    free(big);
    cr_assert_eq(rc, MPM_EKEY);
    size_t len = strlen(mpm_last_error());
    cr_assert(strncmp(mpm_last_error(), "KeyError: 'qqq", 14) == 0, "%.40s", mpm_last_error());
    cr_assert_lt(len, 300, "a KeyError message of %zu bytes", len);
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, get_default_never_raises_keyerror)
{
    mpm_dict *d = new_dict();
    mpm_val *v = NULL;
    OK(mpm_dict_get_default(d, MPM_STR("x"), MPM_INT(99), &v));
    ASSERT_VAL(v, "99");
    OK(mpm_dict_get_default(d, MPM_STR("x"), MPM_NONE, &v));
    ASSERT_VAL(v, "None");
    cr_assert_eq(dict_len(d), 0, "get with a default inserted the key");
    OK(mpm_dict_set(d, MPM_STR("x"), MPM_STR("here")));
    OK(mpm_dict_get_default(d, MPM_STR("x"), MPM_INT(99), &v));
    ASSERT_VAL(v, "'here'");
    OK(mpm_dict_get_default(d, MPM_FLOAT(1.0), MPM_STR("dflt"), &v));
    ASSERT_VAL(v, "'dflt'");
    mpm_val l[] = {MPM_INT(1)};
    FAILS(mpm_dict_get_default(d, MPM_LIST(l, 1), MPM_NONE, &v), MPM_ETYPE,
          "TypeError: unhashable type: 'list'");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, del_removes_and_missing_is_keyerror)
{
    mpm_dict *d = new_dict();
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(1)));
    OK(mpm_dict_set(d, MPM_STR("b"), MPM_INT(2)));
    OK(mpm_dict_del(d, MPM_STR("a")));
    cr_assert_eq(dict_len(d), 1);
    bool in = true;
    OK(mpm_dict_contains(d, MPM_STR("a"), &in));
    cr_assert(!in);
    FAILS(mpm_dict_del(d, MPM_STR("a")), MPM_EKEY, "KeyError: 'a'");
    FAILS(mpm_dict_del(d, MPM_INT(3)), MPM_EKEY, "KeyError: 3");
    OK(mpm_dict_del(d, MPM_STR("b")));
    cr_assert_eq(dict_len(d), 0);
    ASSERT_DICT(d, "{}");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, contains_follows_python_equality)
{
    mpm_dict *d = new_dict();
    bool in = false;
    OK(mpm_dict_set(d, MPM_INT(1), MPM_STR("one")));
    OK(mpm_dict_set(d, MPM_STR("s"), MPM_NONE));
    OK(mpm_dict_contains(d, MPM_INT(1), &in));
    cr_assert(in);
    OK(mpm_dict_contains(d, MPM_FLOAT(1.0), &in));
    cr_assert(in, "1.0 in {1: ...} is True in Python");
    OK(mpm_dict_contains(d, MPM_BOOL(true), &in));
    cr_assert(in, "True in {1: ...} is True in Python");
    OK(mpm_dict_contains(d, MPM_STR("1"), &in));
    cr_assert(!in, "'1' is not 1");
    OK(mpm_dict_contains(d, MPM_BYTES("s", 1), &in));
    cr_assert(!in, "b's' is not 's'");
    OK(mpm_dict_contains(d, MPM_STR("s"), &in));
    cr_assert(in, "a key whose value is None is still present");
    OK(mpm_dict_contains(d, MPM_INT(2), &in));
    cr_assert(!in);
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, unhashable_keys_are_typeerror_and_change_nothing)
{
    mpm_dict *d = new_dict();
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(1)));
    mpm_val l[] = {MPM_INT(1), MPM_INT(2)};
    mpm_pair p[] = {{MPM_STR("k"), MPM_INT(1)}};
    mpm_val list = MPM_LIST(l, 2), map = MPM_DICT(p, 1), *v = NULL;
    bool in;
    const char *lmsg = "TypeError: unhashable type: 'list'";
    FAILS(mpm_dict_set(d, list, MPM_INT(1)), MPM_ETYPE, lmsg);
    FAILS(mpm_dict_set(d, map, MPM_INT(1)), MPM_ETYPE, "TypeError: unhashable type: 'dict'");
    FAILS(mpm_dict_set(d, MPM_LIST(NULL, 0), MPM_INT(1)), MPM_ETYPE, lmsg);
    FAILS(mpm_dict_get(d, list, &v), MPM_ETYPE, lmsg);
    FAILS(mpm_dict_contains(d, list, &in), MPM_ETYPE, lmsg);
    FAILS(mpm_dict_del(d, list), MPM_ETYPE, lmsg);
    FAILS(mpm_dict_pop(d, list, &v), MPM_ETYPE, lmsg);
    FAILS(mpm_dict_pop_default(d, list, MPM_NONE, &v), MPM_ETYPE, lmsg);
    FAILS(mpm_dict_setdefault(d, list, MPM_NONE, &v), MPM_ETYPE, lmsg);
    cr_assert_eq(dict_len(d), 1);
    ASSERT_DICT(d, "{'a': 1}");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, one_two_numeric_spellings_are_one_key_and_the_first_key_stays)
{
    mpm_dict *d = new_dict();
    OK(mpm_dict_set(d, MPM_INT(1), MPM_STR("a")));
    OK(mpm_dict_set(d, MPM_FLOAT(1.0), MPM_STR("b")));
    ASSERT_DICT(d, "{1: 'b'}");
    OK(mpm_dict_set(d, MPM_BOOL(true), MPM_STR("c")));
    ASSERT_DICT(d, "{1: 'c'}");
    cr_assert_eq(dict_len(d), 1);
    mpm_val *v = NULL;
    OK(mpm_dict_get(d, MPM_BOOL(true), &v));
    ASSERT_VAL(v, "'c'");
    OK(mpm_dict_get(d, MPM_FLOAT(1.0), &v));
    ASSERT_VAL(v, "'c'");

    /* the other way round the float stays: d[1.0] = 'x'; d[1] = 'y' */
    OK(mpm_dict_clear(d));
    OK(mpm_dict_set(d, MPM_FLOAT(1.0), MPM_STR("x")));
    OK(mpm_dict_set(d, MPM_INT(1), MPM_STR("y")));
    ASSERT_DICT(d, "{1.0: 'y'}");

    /* 0, 0.0, -0.0 and False are one key too; '0' is another */
    OK(mpm_dict_clear(d));
    OK(mpm_dict_set(d, MPM_BOOL(false), MPM_INT(1)));
    OK(mpm_dict_set(d, MPM_INT(0), MPM_INT(2)));
    OK(mpm_dict_set(d, MPM_FLOAT(-0.0), MPM_INT(3)));
    OK(mpm_dict_set(d, MPM_STR("0"), MPM_INT(4)));
    ASSERT_DICT(d, "{False: 3, '0': 4}");

    /* exactness: 2**53 + 1 and 2.0**53 are two keys, 2**53 and 2.0**53 one */
    OK(mpm_dict_clear(d));
    OK(mpm_dict_set(d, MPM_INT(9007199254740993LL), MPM_INT(1)));
    OK(mpm_dict_set(d, MPM_FLOAT(9007199254740992.0), MPM_INT(2)));
    OK(mpm_dict_set(d, MPM_INT(9007199254740992LL), MPM_INT(3)));
    ASSERT_DICT(d, "{9007199254740993: 1, 9007199254740992.0: 3}");
    OK(mpm_dict_del(d, MPM_INT(9007199254740992LL)));
    ASSERT_DICT(d, "{9007199254740993: 1}");
    mpm_dict_close(d);
    no_leftovers();
}

/*---- order ---------------------------------------------------------------------*/

Test(dict, insertion_order_survives_deletes_and_reinserts)
{
    mpm_dict *d = new_dict();
    const char *keys[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        OK(mpm_dict_set(d, MPM_STR(keys[i]), MPM_INT(i)));
    check_keys(d, "['a', 'b', 'c', 'd']");
    OK(mpm_dict_del(d, MPM_STR("b")));
    check_keys(d, "['a', 'c', 'd']");
    OK(mpm_dict_set(d, MPM_STR("b"), MPM_INT(10)));
    check_keys(d, "['a', 'c', 'd', 'b']");
    /* overwriting keeps the place */
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(20)));
    ASSERT_DICT(d, "{'a': 20, 'c': 2, 'd': 3, 'b': 10}");
    /* deleting the last and re-adding puts it last again */
    OK(mpm_dict_del(d, MPM_STR("b")));
    OK(mpm_dict_del(d, MPM_STR("d")));
    OK(mpm_dict_set(d, MPM_STR("e"), MPM_INT(5)));
    OK(mpm_dict_set(d, MPM_STR("d"), MPM_INT(6)));
    ASSERT_DICT(d, "{'a': 20, 'c': 2, 'e': 5, 'd': 6}");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, order_survives_many_holes_and_compaction)
{
    /* insert 0..199, delete all but multiples of 10, insert 1000..1099: the
     * server compacts and rehashes on the way; Python's order must hold */
    mpm_dict *d = new_dict();
    OK(mpm_batch_begin(M));
    for (int i = 0; i < 200; i++)
        OK(mpm_dict_set(d, MPM_INT(i), MPM_INT(i * 2)));
    for (int i = 0; i < 200; i++)
        if (i % 10) OK(mpm_dict_del(d, MPM_INT(i)));
    for (int i = 1000; i < 1100; i++)
        OK(mpm_dict_set(d, MPM_INT(i), MPM_INT(i)));
    OK(mpm_batch_exec(M, NULL, 0));
    cr_assert_eq(dict_len(d), 120);
    mpm_val *k = NULL;
    OK(mpm_dict_keys(d, &k));
    cr_assert_eq(k->v.list.len, 120);
    for (size_t i = 0; i < 120; i++) {
        int64_t want = i < 20 ? (int64_t)i * 10 : 1000 + (int64_t)i - 20;
        cr_assert_eq(k->v.list.items[i].type, MPM_T_INT);
        cr_assert_eq(k->v.list.items[i].v.i, want, "keys[%zu] = %lld, want %lld", i,
                     (long long)k->v.list.items[i].v.i, (long long)want);
    }
    mpm_val_free(k);
    for (int i = 0; i < 200; i += 10) {
        mpm_val *v = NULL;
        OK(mpm_dict_get(d, MPM_INT(i), &v));
        cr_assert_eq(v->v.i, i * 2);
        mpm_val_free(v);
    }
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, order_survives_a_sliding_window_of_inserts_and_deletes)
{
    /* set i, del i - 100, for 20000 rounds: endless tombstones and holes,
     * never more than 101 live keys */
    enum { ROUNDS = 20000, WIN = 100 };
    mpm_dict *d = new_dict();
    for (int base = 0; base < ROUNDS; base += 1000) {
        OK(mpm_batch_begin(M));
        for (int i = base; i < base + 1000; i++) {
            OK(mpm_dict_set(d, MPM_INT(i), MPM_INT(-i)));
            if (i >= WIN) OK(mpm_dict_del(d, MPM_INT(i - WIN)));
        }
        OK(mpm_batch_exec(M, NULL, 0));
    }
    cr_assert_eq(dict_len(d), WIN);
    mpm_val *c = NULL;
    OK(mpm_dict_copy(d, &c));
    cr_assert_eq(c->v.dict.len, WIN);
    for (size_t i = 0; i < WIN; i++) {
        int64_t want = ROUNDS - WIN + (int64_t)i;
        cr_assert_eq(c->v.dict.items[i].key.v.i, want, "key %zu is %lld, want %lld", i,
                     (long long)c->v.dict.items[i].key.v.i, (long long)want);
        cr_assert_eq(c->v.dict.items[i].value.v.i, -want);
    }
    mpm_val_free(c);
    mpm_val *k = NULL;
    OK(mpm_dict_popitem(d, &k, NULL));
    cr_assert_eq(k->v.i, ROUNDS - 1);
    mpm_val_free(k);
    mpm_dict_close(d);
    no_leftovers();
}

/*---- pop, popitem, setdefault, clear -------------------------------------------------*/

Test(dict, pop_returns_and_removes)
{
    mpm_dict *d = new_dict();
    mpm_val *v = NULL;
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(1)));
    OK(mpm_dict_set(d, MPM_STR("b"), MPM_INT(2)));
    OK(mpm_dict_pop(d, MPM_STR("a"), &v));
    ASSERT_VAL(v, "1");
    ASSERT_DICT(d, "{'b': 2}");
    FAILS(mpm_dict_pop(d, MPM_STR("a"), &v), MPM_EKEY, "KeyError: 'a'");
    OK(mpm_dict_pop_default(d, MPM_STR("a"), MPM_STR("gone"), &v));
    ASSERT_VAL(v, "'gone'");
    cr_assert_eq(dict_len(d), 1, "pop with a default inserted the key");
    OK(mpm_dict_pop_default(d, MPM_FLOAT(2.0), MPM_NONE, &v));
    ASSERT_VAL(v, "None");
    OK(mpm_dict_pop_default(d, MPM_STR("b"), MPM_NONE, &v));
    ASSERT_VAL(v, "2");
    cr_assert_eq(dict_len(d), 0);
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, popitem_returns_the_last_inserted)
{
    mpm_dict *d = new_dict();
    mpm_val *k = NULL, *v = NULL;
    FAILS(mpm_dict_popitem(d, &k, &v), MPM_EKEY, "KeyError: 'popitem(): dictionary is empty'");
    cr_assert_null(k);
    cr_assert_null(v);
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(1)));
    OK(mpm_dict_set(d, MPM_STR("b"), MPM_INT(2)));
    OK(mpm_dict_set(d, MPM_STR("c"), MPM_INT(3)));
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(10))); /* overwrite: stays first */
    OK(mpm_dict_popitem(d, &k, &v));
    ASSERT_VAL(k, "'c'");
    ASSERT_VAL(v, "3");
    OK(mpm_dict_del(d, MPM_STR("a")));
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(11))); /* re-inserted: now last */
    OK(mpm_dict_popitem(d, &k, &v));
    ASSERT_VAL(k, "'a'");
    ASSERT_VAL(v, "11");
    /* either result may be discarded */
    OK(mpm_dict_set(d, MPM_STR("z"), MPM_INT(26)));
    OK(mpm_dict_popitem(d, &k, NULL));
    ASSERT_VAL(k, "'z'");
    OK(mpm_dict_popitem(d, NULL, &v));
    ASSERT_VAL(v, "2");
    cr_assert_eq(dict_len(d), 0);
    FAILS(mpm_dict_popitem(d, NULL, NULL), MPM_EKEY, "KeyError: 'popitem(): dictionary is empty'");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, popitem_skips_holes_left_by_deleting_the_last_items)
{
    mpm_dict *d = new_dict();
    mpm_val *k = NULL;
    for (int i = 0; i < 10; i++)
        OK(mpm_dict_set(d, MPM_INT(i), MPM_NONE));
    OK(mpm_dict_del(d, MPM_INT(9)));
    OK(mpm_dict_del(d, MPM_INT(8)));
    OK(mpm_dict_del(d, MPM_INT(6)));
    OK(mpm_dict_popitem(d, &k, NULL));
    ASSERT_VAL(k, "7");
    OK(mpm_dict_popitem(d, &k, NULL));
    ASSERT_VAL(k, "5");
    /* pop everything: the dict drains in reverse order */
    for (int want = 4; want >= 0; want--) {
        OK(mpm_dict_popitem(d, &k, NULL));
        cr_assert_eq(k->v.i, want);
        mpm_val_free(k);
    }
    cr_assert_eq(dict_len(d), 0);
    OK(mpm_dict_set(d, MPM_STR("again"), MPM_INT(1)));
    ASSERT_DICT(d, "{'again': 1}");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, setdefault_inserts_only_when_missing)
{
    mpm_dict *d = new_dict();
    mpm_val *v = NULL;
    OK(mpm_dict_setdefault(d, MPM_STR("k"), MPM_INT(1), &v));
    ASSERT_VAL(v, "1");
    OK(mpm_dict_setdefault(d, MPM_STR("k"), MPM_INT(2), &v));
    ASSERT_VAL(v, "1");
    OK(mpm_dict_setdefault(d, MPM_FLOAT(3.0), MPM_STR("x"), NULL));
    OK(mpm_dict_setdefault(d, MPM_INT(3), MPM_STR("y"), &v));
    ASSERT_VAL(v, "'x'");
    ASSERT_DICT(d, "{'k': 1, 3.0: 'x'}");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, setdefault_is_atomic_across_processes)
{
    /* 4 processes race d.setdefault('winner', me): exactly one wins, and every
     * process is told the winner's value. */
    mpm_dict *d = new_dict();
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t kids[4];
    int res[4][2];
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pipe(res[i]), 0);
        kids[i] = fork();
        cr_assert_neq(kids[i], -1);
        if (kids[i] == 0) {
            char c;
            close(go[1]);
            if (mpm_ping(M)) _exit(2); /* connect before the race */
            if (read(go[0], &c, 1) != 0) _exit(3);
            mpm_val *v = NULL;
            if (mpm_dict_setdefault(d, MPM_STR("winner"), MPM_INT(100 + i), &v)) _exit(4);
            int64_t got = v->type == MPM_T_INT ? v->v.i : -1;
            mpm_val_free(v);
            if (write(res[i][1], &got, sizeof got) != sizeof got) _exit(5);
            _exit(0);
        }
        close(res[i][1]);
    }
    close(go[0]);
    close(go[1]); /* EOF starts everyone at once */
    int64_t seen[4];
    for (int i = 0; i < 4; i++) {
        int st;
        cr_assert_eq(waitpid(kids[i], &st, 0), kids[i]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (%d)", i, st);
        cr_assert_eq(read(res[i][0], &seen[i], sizeof seen[i]), (ssize_t)sizeof seen[i]);
        close(res[i][0]);
    }
    mpm_val *v = NULL;
    OK(mpm_dict_get(d, MPM_STR("winner"), &v));
    int64_t winner = v->v.i;
    mpm_val_free(v);
    cr_assert(winner >= 100 && winner < 104);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(seen[i], winner, "process %d saw %lld, the dict holds %lld", i,
                     (long long)seen[i], (long long)winner);
    cr_assert_eq(dict_len(d), 1);
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, clear_empties_and_the_dict_stays_usable)
{
    mpm_dict *d = new_dict();
    for (int i = 0; i < 50; i++)
        OK(mpm_dict_set(d, MPM_INT(i), MPM_INT(i)));
    OK(mpm_dict_clear(d));
    cr_assert_eq(dict_len(d), 0);
    ASSERT_DICT(d, "{}");
    OK(mpm_dict_clear(d));
    OK(mpm_dict_set(d, MPM_STR("b"), MPM_INT(2)));
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(1)));
    ASSERT_DICT(d, "{'b': 2, 'a': 1}");
    mpm_dict_close(d);
    no_leftovers();
}

/*---- update --------------------------------------------------------------------------*/

Test(dict, update_from_a_map_overwrites_in_place_and_appends)
{
    mpm_dict *d = new_dict();
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(1)));
    OK(mpm_dict_set(d, MPM_STR("b"), MPM_INT(2)));
    mpm_pair p[] = {{MPM_STR("c"), MPM_INT(3)},
                    {MPM_STR("a"), MPM_INT(10)},
                    {MPM_INT(1), MPM_STR("one")},
                    {MPM_FLOAT(1.0), MPM_STR("uno")}};
    OK(mpm_dict_update(d, MPM_DICT(p, 4)));
    ASSERT_DICT(d, "{'a': 10, 'b': 2, 'c': 3, 1: 'uno'}");
    OK(mpm_dict_update(d, MPM_DICT(NULL, 0)));
    cr_assert_eq(dict_len(d), 4);
    FAILS(mpm_dict_update(d, MPM_INT(1)), MPM_ETYPE, NULL);
    mpm_val l[] = {MPM_STR("a"), MPM_INT(1)};
    FAILS(mpm_dict_update(d, MPM_LIST(l, 2)), MPM_ETYPE, NULL);
    cr_assert_eq(dict_len(d), 4);
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, update_with_one_unhashable_key_changes_nothing)
{
    mpm_dict *d = new_dict();
    OK(mpm_dict_set(d, MPM_STR("keep"), MPM_INT(1)));
    mpm_val l[] = {MPM_INT(1)};
    mpm_pair p[] = {{MPM_STR("keep"), MPM_INT(2)},
                    {MPM_STR("new"), MPM_INT(3)},
                    {MPM_LIST(l, 1), MPM_INT(4)},
                    {MPM_STR("later"), MPM_INT(5)}};
    FAILS(mpm_dict_update(d, MPM_DICT(p, 4)), MPM_ETYPE, "TypeError: unhashable type: 'list'");
    ASSERT_DICT(d, "{'keep': 1}");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, update_from_another_dict_and_from_itself)
{
    mpm_dict *a = new_dict(), *b = new_dict();
    OK(mpm_dict_set(a, MPM_STR("x"), MPM_INT(1)));
    OK(mpm_dict_set(a, MPM_INT(1), MPM_STR("int")));
    OK(mpm_dict_set(b, MPM_STR("y"), MPM_INT(2)));
    OK(mpm_dict_set(b, MPM_STR("x"), MPM_INT(10)));
    OK(mpm_dict_set(b, MPM_FLOAT(1.0), MPM_STR("float")));
    OK(mpm_dict_update_from(a, b));
    ASSERT_DICT(a, "{'x': 10, 1: 'float', 'y': 2}");
    ASSERT_DICT(b, "{'y': 2, 'x': 10, 1.0: 'float'}");
    OK(mpm_dict_update_from(a, a));
    ASSERT_DICT(a, "{'x': 10, 1: 'float', 'y': 2}");
    /* an empty source changes nothing; an empty target takes the source's order */
    mpm_dict *e = new_dict();
    OK(mpm_dict_update_from(a, e));
    cr_assert_eq(dict_len(a), 3);
    OK(mpm_dict_update_from(e, b));
    ASSERT_DICT(e, "{'y': 2, 'x': 10, 1.0: 'float'}");
    mpm_dict_close(a);
    mpm_dict_close(b);
    mpm_dict_close(e);
    no_leftovers();
}

Test(dict, update_from_something_not_a_dict_is_typeerror)
{
    mpm_dict *d = new_dict();
    mpm_list *l = NULL;
    OK(mpm_list_new(M, &l));
    FAILS(mpm_dict_update_from(d, (mpm_dict *)l), MPM_ETYPE,
          "TypeError: expected a dict, got a list");
    cr_assert_eq(dict_len(d), 0);
    mpm_list_close(l);
    mpm_dict_close(d);
    no_leftovers();
}

/*---- snapshots and creation from a value -------------------------------------------------*/

Test(dict, copy_keys_values_items_are_ordered_snapshots)
{
    mpm_dict *d = new_dict();
    OK(mpm_dict_set(d, MPM_STR("b"), MPM_INT(1)));
    OK(mpm_dict_set(d, MPM_INT(2), MPM_NONE));
    OK(mpm_dict_set(d, MPM_FLOAT(0.5), MPM_STR("half")));
    mpm_val *c = NULL, *k = NULL, *v = NULL, *it = NULL;
    OK(mpm_dict_copy(d, &c));
    OK(mpm_dict_keys(d, &k));
    OK(mpm_dict_values(d, &v));
    OK(mpm_dict_items(d, &it));
    /* change the dict: the snapshots must not follow */
    OK(mpm_dict_clear(d));
    OK(mpm_dict_set(d, MPM_STR("other"), MPM_INT(0)));
    cr_assert_eq(c->type, MPM_T_DICT);
    cr_assert_eq(c->v.dict.len, 3);
    cr_assert(mpm_val_eq(c->v.dict.items[0].key, MPM_STR("b")));
    cr_assert(mpm_val_eq(c->v.dict.items[2].value, MPM_STR("half")));
    ASSERT_VAL(c, "{'b': 1, 2: None, 0.5: 'half'}");
    ASSERT_VAL(k, "['b', 2, 0.5]");
    ASSERT_VAL(v, "[1, None, 'half']");
    cr_assert_eq(it->type, MPM_T_LIST);
    cr_assert_eq(it->v.list.items[0].type, MPM_T_LIST);
    ASSERT_VAL(it, "[['b', 1], [2, None], [0.5, 'half']]");
    /* an empty dict gives empty snapshots */
    OK(mpm_dict_clear(d));
    OK(mpm_dict_copy(d, &c));
    ASSERT_VAL(c, "{}");
    OK(mpm_dict_items(d, &it));
    ASSERT_VAL(it, "[]");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, new_from_copies_a_value)
{
    mpm_dict *d = NULL;
    mpm_pair p[] = {{MPM_INT(1), MPM_STR("1")},
                    {MPM_STR("2"), MPM_INT(2)},
                    {MPM_FLOAT(0.25), MPM_NONE},
                    {MPM_BOOL(true), MPM_STR("one")}};
    OK(mpm_dict_new_from(M, &d, MPM_DICT(p, 4)));
    ASSERT_DICT(d, "{1: 'one', '2': 2, 0.25: None}");
    mpm_dict_close(d);

    d = (mpm_dict *)&d;
    FAILS(mpm_dict_new_from(M, &d, MPM_INT(3)), MPM_ETYPE, NULL);
    cr_assert_null(d);
    mpm_val l[] = {MPM_INT(1)};
    mpm_pair bad[] = {{MPM_STR("ok"), MPM_INT(1)}, {MPM_LIST(l, 1), MPM_INT(2)}};
    d = (mpm_dict *)&d;
    FAILS(mpm_dict_new_from(M, &d, MPM_DICT(bad, 2)), MPM_ETYPE,
          "TypeError: unhashable type: 'list'");
    cr_assert_null(d);
    size_t n = 99;
    OK(mpm_manager_object_count(M, &n));
    cr_assert_eq(n, 0, "a failed create left an object");
    no_leftovers();
}

/* Criterion runs this besides the suite's init */
static void dict_redirect_stdout(void)
{
    cr_redirect_stdout();
}

Test(dict, repr_and_print, .init = dict_redirect_stdout)
{
    mpm_dict *d = new_dict();
    mpm_val l[] = {MPM_INT(1), MPM_FLOAT(2.5), MPM_NONE};
    mpm_pair inner[] = {{MPM_STR("x"), MPM_BYTES("\0", 1)}};
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_LIST(l, 3)));
    OK(mpm_dict_set(d, MPM_STR("b"), MPM_DICT(inner, 1)));
    OK(mpm_dict_set(d, MPM_STR("it's"), MPM_BOOL(false)));
    ASSERT_DICT(d, "{'a': [1, 2.5, None], 'b': {'x': b'\\x00'}, \"it's\": False}");
    char *s = NULL;
    OK(mpm_handle_repr(d, &s));
    cr_assert_str_eq(s, "{'a': [1, 2.5, None], 'b': {'x': b'\\x00'}, \"it's\": False}");
    free(s);
    OK(mpm_dict_print(d));
    mpm_dict_close(d);
    no_leftovers();
    fflush(stdout);
    cr_assert_stdout_eq_str("{'a': [1, 2.5, None], 'b': {'x': b'\\x00'}, \"it's\": False}\n");
}

Test(dict, values_nested_32_levels_as_documented)
{
    /* mpm.h: "Lists and dicts nest up to 32 levels." */
    mpm_dict *d = new_dict();
    mpm_val chain[34];
    chain[0] = MPM_INT(7);
    for (int i = 1; i <= 33; i++)
        chain[i] = MPM_LIST(&chain[i - 1], 1);
    FAILS(mpm_dict_set(d, MPM_STR("deep"), chain[33]), MPM_EINVAL, NULL);
    cr_assert_eq(dict_len(d), 0);
    for (int depth = 1; depth <= 32; depth++) {
        int rc = mpm_dict_set(d, MPM_STR("deep"), chain[depth]);
        cr_assert_eq(rc, 0, "a value nested %d levels: %s: %s", depth, mpm_strerror(rc),
                     mpm_last_error());
        mpm_val *v = NULL;
        rc = mpm_dict_get(d, MPM_STR("deep"), &v);
        cr_assert_eq(rc, 0, "getting a value nested %d levels: %s: %s", depth, mpm_strerror(rc),
                     mpm_last_error());
        cr_assert(mpm_val_eq(*v, chain[depth]));
        mpm_val_free(v);
    }
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, a_stored_32_level_value_comes_back_through_every_snapshot)
{
    /* the server accepted it, so every way of reading the dict returns it */
    mpm_dict *d = new_dict();
    mpm_val chain[33];
    chain[0] = MPM_STR("leaf");
    for (int i = 1; i <= 32; i++)
        chain[i] = MPM_LIST(&chain[i - 1], 1);
    OK(mpm_dict_set(d, MPM_STR("deep"), chain[32]));
    mpm_val *v = NULL, *k = NULL;
    OK(mpm_dict_get(d, MPM_STR("deep"), &v));
    mpm_val_free(v);
    char *s = NULL;
    OK(mpm_dict_repr(d, &s));
    free(s);
    int rc;
    v = NULL;
    rc = mpm_dict_values(d, &v);
    mpm_val_free(v);
    cr_expect_eq(rc, 0, "values(): %s: %s", mpm_strerror(rc), mpm_last_error());
    v = NULL;
    rc = mpm_dict_items(d, &v);
    mpm_val_free(v);
    cr_expect_eq(rc, 0, "items(): %s: %s", mpm_strerror(rc), mpm_last_error());
    v = NULL;
    rc = mpm_dict_copy(d, &v);
    mpm_val_free(v);
    cr_expect_eq(rc, 0, "copy(): %s: %s", mpm_strerror(rc), mpm_last_error());
    v = NULL;
    rc = mpm_dict_popitem(d, &k, &v);
    mpm_val_free(k);
    mpm_val_free(v);
    cr_expect_eq(rc, 0, "popitem(): %s: %s", mpm_strerror(rc), mpm_last_error());
    if (rc) cr_expect_eq(dict_len(d), 1, "popitem() failed, yet the item is gone from the dict");
    OK(mpm_dict_clear(d));
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, a_reply_over_the_frame_limit_fails_cleanly_and_loses_nothing)
{
    /* 70 values of 1 MiB: copy() would be a reply above the 64 MiB frame
     * limit.  Whatever copy() answers, the dict and every other object of
     * this process must survive it. */
    enum { N = 70, SZ = 1 << 20 };
    mpm_dict *d = new_dict(), *other = new_dict();
    OK(mpm_dict_set(other, MPM_STR("k"), MPM_STR("v")));
    char *big = malloc(SZ);
    cr_assert_not_null(big);
    memset(big, 'x', SZ);
    for (int i = 0; i < N; i++)
        OK(mpm_dict_set(d, MPM_INT(i), MPM_BYTES(big, SZ)));
    free(big);
    mpm_val *v = NULL;
    int rc = mpm_dict_copy(d, &v);
    if (rc == 0) {
        cr_assert_eq(v->v.dict.len, N);
        mpm_val_free(v);
    } else {
        cr_expect_eq(rc, MPM_ETOOBIG, "copy() of a %d MiB dict: %s: %s", N, mpm_strerror(rc),
                     mpm_last_error());
    }
    size_t n = 0;
    rc = mpm_dict_len(d, &n);
    cr_assert_eq(rc, 0, "after the big copy(): %s: %s", mpm_strerror(rc), mpm_last_error());
    cr_assert_eq(n, N);
    OK(mpm_dict_get(other, MPM_STR("k"), &v));
    mpm_val_free(v);
    OK(mpm_manager_object_count(M, &n));
    cr_assert_eq(n, 2);
    mpm_dict_close(d);
    mpm_dict_close(other);
    no_leftovers();
}

/*---- NULL handles ------------------------------------------------------------------------*/

Test(dict, null_handle_is_einval_everywhere)
{
    mpm_dict *d = new_dict();
    mpm_val *v = NULL;
    bool b;
    size_t n;
    char *s = NULL;
    mpm_dict *nd = NULL;
    FAILS(mpm_dict_new(NULL, &nd), MPM_EINVAL, NULL);
    cr_assert_null(nd);
    FAILS(mpm_dict_new(M, NULL), MPM_EINVAL, NULL);
    FAILS(mpm_dict_set(NULL, MPM_INT(1), MPM_INT(1)), MPM_EINVAL, NULL);
    cr_assert_neq(mpm_last_error()[0], 0, "no message for a NULL handle");
    FAILS(mpm_dict_get(NULL, MPM_INT(1), &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_get_default(NULL, MPM_INT(1), MPM_NONE, &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_del(NULL, MPM_INT(1)), MPM_EINVAL, NULL);
    FAILS(mpm_dict_contains(NULL, MPM_INT(1), &b), MPM_EINVAL, NULL);
    FAILS(mpm_dict_contains(d, MPM_INT(1), NULL), MPM_EINVAL, NULL);
    FAILS(mpm_dict_len(NULL, &n), MPM_EINVAL, NULL);
    FAILS(mpm_dict_len(d, NULL), MPM_EINVAL, NULL);
    FAILS(mpm_dict_keys(NULL, &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_values(NULL, &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_items(NULL, &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_copy(NULL, &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_update(NULL, MPM_DICT(NULL, 0)), MPM_EINVAL, NULL);
    FAILS(mpm_dict_update_from(NULL, d), MPM_EINVAL, NULL);
    FAILS(mpm_dict_update_from(d, NULL), MPM_EINVAL, NULL);
    FAILS(mpm_dict_pop(NULL, MPM_INT(1), &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_pop_default(NULL, MPM_INT(1), MPM_NONE, &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_popitem(NULL, &v, &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_setdefault(NULL, MPM_INT(1), MPM_NONE, &v), MPM_EINVAL, NULL);
    FAILS(mpm_dict_clear(NULL), MPM_EINVAL, NULL);
    FAILS(mpm_dict_repr(NULL, &s), MPM_EINVAL, NULL);
    FAILS(mpm_dict_repr(d, NULL), MPM_EINVAL, NULL);
    FAILS(mpm_dict_print(NULL), MPM_EINVAL, NULL);
    cr_assert_null(v);
    cr_assert_null(s);
    mpm_dict_close(NULL);
    mpm_handle_close(NULL);
    cr_assert_eq(mpm_handle_id(NULL), 0);
    /* a bad argument value is refused before it reaches the server */
    FAILS(mpm_dict_set(d, MPM_STRN(NULL, 3), MPM_INT(1)), MPM_EINVAL, NULL);
    FAILS(mpm_dict_set(d, MPM_INT(1), MPM_LIST(NULL, 2)), MPM_EINVAL, NULL);
    cr_assert_eq(dict_len(d), 0);
    mpm_dict_close(d);
    no_leftovers();
}

/*---- batches -----------------------------------------------------------------------------*/

Test(dict, batch_fills_results_at_exec_with_per_call_codes)
{
    mpm_dict *d = new_dict();
    mpm_val *got = NULL, *missing = NULL, *keys = NULL;
    size_t len = 777;
    bool in = false;
    int codes[6];
    for (int i = 0; i < 6; i++)
        codes[i] = 12345;
    OK(mpm_batch_begin(M));
    FAILS(mpm_batch_begin(M), MPM_EBATCH, NULL);
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(1)));
    OK(mpm_dict_get(d, MPM_STR("a"), &got));
    OK(mpm_dict_get(d, MPM_STR("missing"), &missing)); /* queued: fails at exec */
    OK(mpm_dict_len(d, &len));
    OK(mpm_dict_contains(d, MPM_STR("a"), &in));
    OK(mpm_dict_keys(d, &keys));
    cr_assert_eq(mpm_batch_size(M), 6);
    cr_assert_null(got, "a queued get filled its result before exec");
    cr_assert_eq(len, 777);
    FAILS(mpm_batch_exec(M, codes, 6), MPM_EKEY, "KeyError: 'missing'");
    cr_assert_eq(mpm_batch_size(M), 0);
    int want[6] = {0, 0, MPM_EKEY, 0, 0, 0};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(codes[i], want[i], "codes[%d] = %d", i, codes[i]);
    cr_assert_null(missing);
    ASSERT_VAL(got, "1");
    cr_assert_eq(len, 1);
    cr_assert(in);
    ASSERT_VAL(keys, "['a']");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, batch_returns_the_first_error_and_keeps_its_message)
{
    mpm_dict *d = new_dict();
    mpm_val l[] = {MPM_INT(1)};
    int codes[4] = {9, 9, 9, 9};
    OK(mpm_batch_begin(M));
    OK(mpm_dict_set(d, MPM_STR("before"), MPM_INT(1)));
    OK(mpm_dict_del(d, MPM_STR("x")));                 /* KeyError */
    OK(mpm_dict_set(d, MPM_LIST(l, 1), MPM_INT(1)));   /* TypeError */
    OK(mpm_dict_set(d, MPM_STR("after"), MPM_INT(2))); /* still runs */
    FAILS(mpm_batch_exec(M, codes, 2), MPM_EKEY, "KeyError: 'x'");
    cr_assert_eq(codes[0], 0);
    cr_assert_eq(codes[1], MPM_EKEY);
    cr_assert_eq(codes[2], 9, "exec wrote past ncodes");
    cr_assert_eq(codes[3], 9, "exec wrote past ncodes");
    /* calls are independent: the ones after a failure ran */
    ASSERT_DICT(d, "{'before': 1, 'after': 2}");
    /* a batch without failures returns 0 and clears nothing it should not */
    OK(mpm_batch_begin(M));
    OK(mpm_dict_set(d, MPM_STR("c"), MPM_INT(3)));
    OK(mpm_batch_exec(M, NULL, 0));
    cr_assert_eq(dict_len(d), 3);
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, batch_misuse_is_ebatch)
{
    FAILS(mpm_batch_exec(M, NULL, 0), MPM_EBATCH, NULL);
    OK(mpm_batch_begin(M));
    cr_assert_eq(mpm_batch_size(M), 0);
    OK(mpm_batch_exec(M, NULL, 0)); /* an empty batch is fine */
    FAILS(mpm_batch_exec(M, NULL, 0), MPM_EBATCH, NULL);
    FAILS(mpm_batch_begin(NULL), MPM_EINVAL, NULL);
    /* a call that cannot even be packed fails at once and is not queued;
     * printing needs its answer now */
    mpm_dict *d = new_dict();
    OK(mpm_batch_begin(M));
    OK(mpm_dict_set(d, MPM_STR("a"), MPM_INT(1)));
    FAILS(mpm_dict_set(d, MPM_STRN(NULL, 2), MPM_INT(1)), MPM_EINVAL, NULL);
    FAILS(mpm_dict_print(d), MPM_EBATCH, NULL);
    OK(mpm_dict_set(d, MPM_STR("b"), MPM_INT(2)));
    cr_assert_eq(mpm_batch_size(M), 2);
    OK(mpm_batch_exec(M, NULL, 0));
    ASSERT_DICT(d, "{'a': 1, 'b': 2}");
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, batch_creates_handles_that_work_after_exec)
{
    mpm_dict *a = NULL, *b = NULL;
    OK(mpm_batch_begin(M));
    OK(mpm_dict_new(M, &a));
    OK(mpm_dict_new(M, &b));
    cr_assert_not_null(a);
    FAILS(mpm_dict_set(a, MPM_INT(1), MPM_INT(1)), MPM_ESTATE, NULL); /* not made yet */
    cr_assert_eq(mpm_batch_size(M), 2);
    OK(mpm_batch_exec(M, NULL, 0));
    cr_assert_gt(mpm_handle_id(a), 0);
    cr_assert_neq(mpm_handle_id(a), mpm_handle_id(b));
    OK(mpm_dict_set(a, MPM_INT(1), MPM_INT(1)));
    OK(mpm_dict_set(b, MPM_INT(2), MPM_INT(2)));
    ASSERT_DICT(a, "{1: 1}");
    ASSERT_DICT(b, "{2: 2}");
    mpm_dict_close(a);
    mpm_dict_close(b);
    no_leftovers();
}

/*---- scale and concurrency ------------------------------------------------------------------*/

Test(dict, hundred_thousand_entries_in_batches)
{
    enum { N = 100000, BATCH = 1000 };
    mpm_dict *d = new_dict();
    char key[32];
    for (int base = 0; base < N; base += BATCH) {
        OK(mpm_batch_begin(M));
        for (int i = base; i < base + BATCH; i++) {
            int n = snprintf(key, sizeof key, "key-%d", i);
            OK(mpm_dict_set(d, MPM_STRN(key, (size_t)n), MPM_INT(i * 3)));
        }
        cr_assert_eq(mpm_batch_size(M), BATCH);
        OK(mpm_batch_exec(M, NULL, 0));
    }
    cr_assert_eq(dict_len(d), N);

    /* spot checks, themselves batched */
    enum { SPOTS = 200 };
    mpm_val *got[SPOTS] = {0};
    int idx[SPOTS];
    OK(mpm_batch_begin(M));
    for (int s = 0; s < SPOTS; s++) {
        idx[s] = (int)(((unsigned)s * 2654435761u) % N);
        int n = snprintf(key, sizeof key, "key-%d", idx[s]);
        OK(mpm_dict_get(d, MPM_STRN(key, (size_t)n), &got[s]));
    }
    OK(mpm_batch_exec(M, NULL, 0));
    for (int s = 0; s < SPOTS; s++) {
        cr_assert_not_null(got[s]);
        cr_assert_eq(got[s]->v.i, (int64_t)idx[s] * 3, "key-%d", idx[s]);
        mpm_val_free(got[s]);
    }

    /* delete the even half */
    for (int base = 0; base < N; base += 2 * BATCH) {
        OK(mpm_batch_begin(M));
        for (int i = base; i < base + 2 * BATCH; i += 2) {
            int n = snprintf(key, sizeof key, "key-%d", i);
            OK(mpm_dict_del(d, MPM_STRN(key, (size_t)n)));
        }
        OK(mpm_batch_exec(M, NULL, 0));
    }
    cr_assert_eq(dict_len(d), N / 2);

    /* the order is still the insertion order of the odd keys */
    mpm_val *keys = NULL;
    OK(mpm_dict_keys(d, &keys));
    cr_assert_eq(keys->v.list.len, (size_t)N / 2);
    for (size_t i = 0; i < (size_t)N / 2; i++) {
        int n = snprintf(key, sizeof key, "key-%zu", 2 * i + 1);
        const mpm_val *k = &keys->v.list.items[i];
        if (k->type != MPM_T_STR || k->v.str.len != (size_t)n ||
            memcmp(k->v.str.ptr, key, (size_t)n))
            cr_assert_fail("keys[%zu] is %s, want %s", i, k->type == MPM_T_STR ? k->v.str.ptr : "?",
                           key);
    }
    mpm_val_free(keys);
    bool in = true;
    OK(mpm_dict_contains(d, MPM_STR("key-0"), &in));
    cr_assert(!in);
    OK(mpm_dict_contains(d, MPM_STR("key-99999"), &in));
    cr_assert(in);
    mpm_dict_close(d);
    no_leftovers();
}

Test(dict, four_processes_write_concurrently_and_nothing_is_lost)
{
    enum { KIDS = 4, EACH = 1000 };
    mpm_dict *d = new_dict();
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t kids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        kids[k] = fork();
        cr_assert_neq(kids[k], -1);
        if (kids[k] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0) _exit(3);
            for (int i = 0; i < EACH; i++)
                if (mpm_dict_set(d, MPM_INT(k * EACH + i), MPM_INT(k))) _exit(4);
            _exit(0);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int k = 0; k < KIDS; k++) {
        int st;
        cr_assert_eq(waitpid(kids[k], &st, 0), kids[k]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d failed (status %d)", k, st);
    }
    cr_assert_eq(dict_len(d), KIDS * EACH);
    mpm_val *c = NULL;
    OK(mpm_dict_copy(d, &c));
    static char seen[KIDS * EACH];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < c->v.dict.len; i++) {
        const mpm_pair *p = &c->v.dict.items[i];
        cr_assert_eq(p->key.type, MPM_T_INT);
        int64_t key = p->key.v.i;
        cr_assert(key >= 0 && key < KIDS * EACH);
        cr_assert_eq(p->value.v.i, key / EACH, "key %lld has the wrong writer", (long long)key);
        seen[key]++;
    }
    mpm_val_free(c);
    for (int i = 0; i < KIDS * EACH; i++)
        cr_assert_eq(seen[i], 1, "key %d seen %d times", i, seen[i]);
    mpm_dict_close(d);
    no_leftovers();
}
