/* value_test.c - mpm_value_*: typecodes and their ranges, Python's error
 * messages, atomic add and compare-and-set across processes. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mpm/mpm.h>

static mpm_manager *value_m;

static void value_setup(void)
{
    int rc = mpm_manager_start(&value_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void value_teardown(void)
{
    mpm_manager_shutdown(value_m);
    value_m = NULL;
}

TestSuite(value, .init = value_setup, .fini = value_teardown, .timeout = 20);

/* rc must be code, and the thread's message exactly msg. */
#define value_assert_err(expr, code, msg)                                                          \
    do {                                                                                           \
        int value_rc_ = (expr);                                                                    \
        cr_assert_eq(value_rc_, (code), "%s: got %d (%s)", #expr, value_rc_, mpm_last_error());    \
        cr_assert_str_eq(mpm_last_error(), (msg), "%s", #expr);                                    \
    } while (0)

static mpm_value *value_new(char tc, mpm_val init)
{
    mpm_value *v = NULL;
    int rc = mpm_value_new(value_m, &v, tc, init);
    cr_assert_eq(rc, 0, "Value('%c'): %d %s", tc, rc, mpm_last_error());
    cr_assert_not_null(v);
    return v;
}

static int64_t value_int(mpm_value *v)
{
    int64_t x = 0;
    int rc = mpm_value_get_int(v, &x);
    cr_assert_eq(rc, 0, "get_int: %d %s", rc, mpm_last_error());
    return x;
}

static double value_float(mpm_value *v)
{
    double x = 0;
    int rc = mpm_value_get_float(v, &x);
    cr_assert_eq(rc, 0, "get_float: %d %s", rc, mpm_last_error());
    return x;
}

static void value_assert_repr(mpm_value *v, const char *want)
{
    char *s = NULL;
    int rc = mpm_value_repr(v, &s);
    cr_assert_eq(rc, 0, "repr: %d %s", rc, mpm_last_error());
    cr_assert_str_eq(s, want);
    free(s);
}

static size_t value_objects(void)
{
    size_t n = 0;
    cr_assert_eq(mpm_manager_object_count(value_m, &n), 0);
    return n;
}

/*---- creation ------------------------------------------------------------------*/

/* Criterion runs this besides the suite's init */
static void value_redirect_stdout(void)
{
    cr_redirect_stdout();
}

/* mpm_handle_print serves every type (Value has no print of its own), and
 * mpm_val_print prints local values the same way. */
Test(value, handle_print_and_val_print_write_the_repr_and_a_newline, .init = value_redirect_stdout)
{
    mpm_value *v = value_new('i', MPM_INT(5));
    cr_assert_eq(mpm_handle_print(v), 0, "%s", mpm_last_error());
    mpm_val items[] = {MPM_INT(1), MPM_STR("it's"), MPM_FLOAT(0.25), MPM_NONE};
    cr_assert_eq(mpm_val_print(MPM_LIST(items, 4)), 0);
    cr_assert_eq(mpm_handle_print(NULL), MPM_EINVAL);
    /* inside a batch the answer is not there yet: refused, nothing printed */
    cr_assert_eq(mpm_batch_begin(value_m), 0);
    cr_assert_eq(mpm_handle_print(v), MPM_EBATCH);
    cr_assert_eq(mpm_batch_exec(value_m, NULL, 0), 0);
    mpm_value_close(v);
    fflush(stdout);
    cr_assert_stdout_eq_str("Value('i', 5)\n[1, \"it's\", 0.25, None]\n");
}

Test(value, new_stores_initial_value_and_typecode)
{
    mpm_value *v = value_new('i', MPM_INT(5));
    cr_assert_eq(mpm_value_typecode(v), 'i');
    cr_assert_eq(value_int(v), 5);
    mpm_val *x = NULL;
    cr_assert_eq(mpm_value_get(v, &x), 0);
    cr_assert_eq(x->type, MPM_T_INT);
    cr_assert_eq(x->v.i, 5);
    mpm_val_free(x);
    value_assert_repr(v, "Value('i', 5)");
    mpm_value_close(v);
}

Test(value, float_typecodes_repr_as_python_floats)
{
    mpm_value *d = value_new('d', MPM_FLOAT(0.1));
    mpm_value *f = value_new('f', MPM_FLOAT(0.1));
    value_assert_repr(d, "Value('d', 0.1)");
    /* 'f' keeps float precision, and Python prints that float's double */
    value_assert_repr(f, "Value('f', 0.10000000149011612)");
    cr_assert_eq(value_float(f), (double)0.1f);
    mpm_val *x = NULL;
    cr_assert_eq(mpm_value_get(d, &x), 0);
    cr_assert_eq(x->type, MPM_T_FLOAT);
    cr_assert_eq(x->v.f, 0.1);
    mpm_val_free(x);
    mpm_value_close(d);
    mpm_value_close(f);
}

Test(value, bad_typecode_is_valueerror_and_creates_nothing)
{
    const char bad[] = {'z', 'u', 'c', '\0', 'I' + 1};
    size_t before = value_objects();
    for (size_t i = 0; i < sizeof bad; i++) {
        mpm_value *v = (mpm_value *)1;
        value_assert_err(mpm_value_new(value_m, &v, bad[i], MPM_INT(0)), MPM_EVALUE,
                         "ValueError: bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or d)");
        cr_assert_null(v);
    }
    cr_assert_eq(value_objects(), before);
}

Test(value, bad_initial_value_creates_nothing)
{
    size_t before = value_objects();
    mpm_value *v = NULL;
    value_assert_err(mpm_value_new(value_m, &v, 'b', MPM_INT(200)), MPM_EOVERFLOW,
                     "OverflowError: signed char is greater than maximum");
    cr_assert_null(v);
    value_assert_err(mpm_value_new(value_m, &v, 'i', MPM_STR("x")), MPM_ETYPE,
                     "TypeError: 'str' object cannot be interpreted as an integer");
    value_assert_err(mpm_value_new(value_m, &v, 'i', MPM_NONE), MPM_ETYPE,
                     "TypeError: 'NoneType' object cannot be interpreted as an integer");
    value_assert_err(mpm_value_new(value_m, &v, 'd', MPM_STR("x")), MPM_ETYPE,
                     "TypeError: must be real number, not str");
    cr_assert_null(v);
    cr_assert_eq(value_objects(), before);
}

Test(value, close_frees_the_object)
{
    size_t before = value_objects();
    mpm_value *v = value_new('q', MPM_INT(1));
    cr_assert_eq(value_objects(), before + 1);
    mpm_value_close(v);
    cr_assert_eq(value_objects(), before);
}

/*---- set and its checks ----------------------------------------------------------*/

typedef struct value_range {
    char tc;
    int64_t min, max;
    const char *below, *above;
} value_range;

static const value_range value_ranges[] = {
    {'b', INT8_MIN, INT8_MAX, "OverflowError: signed char is less than minimum",
     "OverflowError: signed char is greater than maximum"},
    {'B', 0, UINT8_MAX, "OverflowError: unsigned byte integer is less than minimum",
     "OverflowError: unsigned byte integer is greater than maximum"},
    {'h', INT16_MIN, INT16_MAX, "OverflowError: signed short integer is less than minimum",
     "OverflowError: signed short integer is greater than maximum"},
    {'H', 0, UINT16_MAX, "OverflowError: unsigned short is less than minimum",
     "OverflowError: unsigned short is greater than maximum"},
    {'i', INT32_MIN, INT32_MAX, "OverflowError: signed integer is less than minimum",
     "OverflowError: signed integer is greater than maximum"},
    {'I', 0, UINT32_MAX, "OverflowError: can't convert negative value to unsigned int",
     "OverflowError: unsigned int is greater than maximum"},
    {'l', INT64_MIN, INT64_MAX, "OverflowError: Python int too large to convert to C long",
     "OverflowError: Python int too large to convert to C long"},
    {'L', 0, INT64_MAX /* beyond: see unsigned_64_bit_upper_edge */,
     "OverflowError: can't convert negative value to unsigned int",
     "OverflowError: Python int too large to convert to C unsigned long"},
    {'q', INT64_MIN, INT64_MAX, "OverflowError: int too big to convert",
     "OverflowError: int too big to convert"},
    {'Q', 0, INT64_MAX, "OverflowError: can't convert negative int to unsigned",
     "OverflowError: int too big to convert"},
};

Test(value, range_limits_of_every_integer_typecode)
{
    char want[64];
    for (size_t i = 0; i < sizeof value_ranges / sizeof value_ranges[0]; i++) {
        const value_range *r = &value_ranges[i];
        mpm_value *v = value_new(r->tc, MPM_INT(r->min));
        cr_assert_eq(value_int(v), r->min, "%c", r->tc);
        snprintf(want, sizeof want, "Value('%c', %lld)", r->tc, (long long)r->min);
        value_assert_repr(v, want);

        /* one below the minimum: refused, value unchanged */
        if (r->min > INT64_MIN) {
            value_assert_err(mpm_value_set(v, MPM_INT(r->min - 1)), MPM_EOVERFLOW, r->below);
        } else {
            value_assert_err(mpm_value_add_int(v, -1, NULL), MPM_EOVERFLOW, r->below);
        }
        cr_assert_eq(value_int(v), r->min, "%c", r->tc);

        cr_assert_eq(mpm_value_set(v, MPM_INT(r->max)), 0, "%c: %s", r->tc, mpm_last_error());
        cr_assert_eq(value_int(v), r->max, "%c", r->tc);
        snprintf(want, sizeof want, "Value('%c', %lld)", r->tc, (long long)r->max);
        value_assert_repr(v, want);

        /* one above the maximum */
        if (r->max < INT64_MAX) {
            value_assert_err(mpm_value_set(v, MPM_INT(r->max + 1)), MPM_EOVERFLOW, r->above);
            cr_assert_eq(value_int(v), r->max, "%c", r->tc);
        } else if (r->tc == 'l' || r->tc == 'q') {
            value_assert_err(mpm_value_add_int(v, 1, NULL), MPM_EOVERFLOW, r->above);
            cr_assert_eq(value_int(v), r->max, "%c", r->tc);
        }
        mpm_value_close(v);
    }
}

/* mpm_val ints are int64, so the top half of L and Q is reached by adding. */
Test(value, unsigned_64_bit_upper_edge)
{
    const char *above[] = {"OverflowError: Python int too large to convert to C unsigned long",
                           "OverflowError: int too big to convert"};
    const char tcs[] = {'L', 'Q'};
    char want[64];
    for (int i = 0; i < 2; i++) {
        mpm_value *v = value_new(tcs[i], MPM_INT(INT64_MAX));
        mpm_val *x = NULL;
        cr_assert_eq(mpm_value_add(v, MPM_INT(INT64_MAX), &x), 0, "%s", mpm_last_error());
        mpm_val_free(x);
        cr_assert_eq(mpm_value_add_int(v, 1, NULL), 0, "%s", mpm_last_error());
        snprintf(want, sizeof want, "Value('%c', 18446744073709551615)", tcs[i]);
        value_assert_repr(v, want);
        value_assert_err(mpm_value_add_int(v, 1, NULL), MPM_EOVERFLOW, above[i]);
        value_assert_repr(v, want);
        /* an int64 cannot hold it: the int getter says so rather than wrap */
        int64_t n = 7;
        cr_assert_eq(mpm_value_get_int(v, &n), MPM_EOVERFLOW);
        cr_assert_eq(value_float(v), 18446744073709551615.0);
        /* and back down below INT64_MAX */
        cr_assert_eq(mpm_value_add_int(v, INT64_MIN, NULL), 0, "%s", mpm_last_error());
        cr_assert_eq(value_int(v), INT64_MAX);
        mpm_value_close(v);
    }
}

Test(value, set_non_number_is_typeerror_and_changes_nothing)
{
    mpm_value *v = value_new('i', MPM_INT(7));
    value_assert_err(mpm_value_set(v, MPM_STR("x")), MPM_ETYPE,
                     "TypeError: 'str' object cannot be interpreted as an integer");
    value_assert_err(mpm_value_set(v, MPM_FLOAT(1.5)), MPM_ETYPE,
                     "TypeError: 'float' object cannot be interpreted as an integer");
    value_assert_err(mpm_value_set(v, MPM_NONE), MPM_ETYPE,
                     "TypeError: 'NoneType' object cannot be interpreted as an integer");
    value_assert_err(mpm_value_set(v, MPM_LIST(NULL, 0)), MPM_ETYPE,
                     "TypeError: 'list' object cannot be interpreted as an integer");
    value_assert_err(mpm_value_set(v, MPM_BYTES("ab", 2)), MPM_ETYPE,
                     "TypeError: 'bytes' object cannot be interpreted as an integer");
    cr_assert_eq(value_int(v), 7);

    mpm_value *d = value_new('d', MPM_FLOAT(2.5));
    value_assert_err(mpm_value_set(d, MPM_STR("x")), MPM_ETYPE,
                     "TypeError: must be real number, not str");
    value_assert_err(mpm_value_set(d, MPM_NONE), MPM_ETYPE,
                     "TypeError: must be real number, not NoneType");
    cr_assert_eq(value_float(d), 2.5);
    mpm_value_close(v);
    mpm_value_close(d);
}

Test(value, float_typecodes_take_ints_and_store_floats)
{
    mpm_value *d = value_new('d', MPM_INT(3));
    value_assert_repr(d, "Value('d', 3.0)");
    mpm_val *x = NULL;
    cr_assert_eq(mpm_value_get(d, &x), 0);
    cr_assert_eq(x->type, MPM_T_FLOAT);
    cr_assert_eq(x->v.f, 3.0);
    mpm_val_free(x);
    cr_assert_eq(mpm_value_set(d, MPM_BOOL(true)), 0);
    cr_assert_eq(value_float(d), 1.0);
    mpm_value_close(d);
}

Test(value, bools_count_as_ints)
{
    mpm_value *v = value_new('B', MPM_BOOL(true));
    value_assert_repr(v, "Value('B', 1)");
    cr_assert_eq(mpm_value_set(v, MPM_BOOL(false)), 0);
    cr_assert_eq(value_int(v), 0);
    mpm_value_close(v);
}

Test(value, f_rounds_to_float_and_saturates_to_inf)
{
    mpm_value *f = value_new('f', MPM_FLOAT(1.0 / 3));
    cr_assert_eq(value_float(f), (double)(1.0f / 3));
    /* Python's array('f', [1e300]) holds inf: no OverflowError */
    cr_assert_eq(mpm_value_set(f, MPM_FLOAT(1e300)), 0);
    value_assert_repr(f, "Value('f', inf)");
    cr_assert_eq(mpm_value_set(f, MPM_FLOAT(-1e300)), 0);
    value_assert_repr(f, "Value('f', -inf)");
    mpm_value_close(f);

    mpm_value *d = value_new('d', MPM_FLOAT(1e300));
    value_assert_repr(d, "Value('d', 1e+300)");
    mpm_val *x = NULL;
    cr_assert_eq(mpm_value_set(d, MPM_FLOAT(1.7e308)), 0);
    cr_assert_eq(mpm_value_add(d, MPM_FLOAT(1.7e308), &x), 0);
    cr_assert(isinf(x->v.f));
    mpm_val_free(x);
    mpm_value_close(d);
}

Test(value, get_int_truncates_floats)
{
    mpm_value *d = value_new('d', MPM_FLOAT(2.75));
    cr_assert_eq(value_int(d), 2);
    cr_assert_eq(mpm_value_set(d, MPM_FLOAT(-2.75)), 0);
    cr_assert_eq(value_int(d), -2);
    mpm_value_close(d);
}

/*---- add ---------------------------------------------------------------------------*/

Test(value, add_returns_the_new_value)
{
    mpm_value *v = value_new('i', MPM_INT(10));
    int64_t n = 0;
    cr_assert_eq(mpm_value_add_int(v, 5, &n), 0);
    cr_assert_eq(n, 15);
    cr_assert_eq(mpm_value_add_int(v, -20, &n), 0);
    cr_assert_eq(n, -5);
    mpm_val *x = NULL;
    cr_assert_eq(mpm_value_add(v, MPM_INT(2), &x), 0);
    cr_assert_eq(x->type, MPM_T_INT);
    cr_assert_eq(x->v.i, -3);
    mpm_val_free(x);
    cr_assert_eq(mpm_value_add(v, MPM_BOOL(true), NULL), 0);
    cr_assert_eq(mpm_value_add_int(v, 1, NULL), 0);
    cr_assert_eq(value_int(v), -1);
    mpm_value_close(v);
}

Test(value, add_to_float_value)
{
    mpm_value *d = value_new('d', MPM_FLOAT(0.5));
    mpm_val *x = NULL;
    cr_assert_eq(mpm_value_add(d, MPM_FLOAT(0.25), &x), 0);
    cr_assert_eq(x->type, MPM_T_FLOAT);
    cr_assert_eq(x->v.f, 0.75);
    mpm_val_free(x);
    cr_assert_eq(mpm_value_add(d, MPM_INT(1), NULL), 0);
    cr_assert_eq(value_float(d), 1.75);
    value_assert_err(mpm_value_add(d, MPM_STR("x"), NULL), MPM_ETYPE,
                     "TypeError: unsupported operand type(s) for +: 'float' and 'str'");
    cr_assert_eq(value_float(d), 1.75);
    mpm_value_close(d);
}

Test(value, add_overflow_is_overflowerror_and_changes_nothing)
{
    mpm_value *b = value_new('b', MPM_INT(120));
    value_assert_err(mpm_value_add_int(b, 10, NULL), MPM_EOVERFLOW,
                     "OverflowError: signed char is greater than maximum");
    cr_assert_eq(value_int(b), 120);
    mpm_value *u = value_new('B', MPM_INT(0));
    value_assert_err(mpm_value_add_int(u, -1, NULL), MPM_EOVERFLOW,
                     "OverflowError: unsigned byte integer is less than minimum");
    cr_assert_eq(value_int(u), 0);
    mpm_value_close(b);
    mpm_value_close(u);
}

Test(value, add_non_int_to_int_value_is_typeerror)
{
    mpm_value *v = value_new('h', MPM_INT(3));
    value_assert_err(mpm_value_add(v, MPM_FLOAT(1.5), NULL), MPM_ETYPE,
                     "TypeError: 'float' object cannot be interpreted as an integer");
    value_assert_err(mpm_value_add(v, MPM_STR("x"), NULL), MPM_ETYPE,
                     "TypeError: unsupported operand type(s) for +: 'int' and 'str'");
    value_assert_err(mpm_value_add(v, MPM_NONE, NULL), MPM_ETYPE,
                     "TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'");
    cr_assert_eq(value_int(v), 3);
    mpm_value_close(v);
}

#define VALUE_PROCS 8
#define VALUE_ADDS 2000

Test(value, add_is_atomic_across_8_processes)
{
    mpm_value *v = value_new('i', MPM_INT(0));
    pid_t pids[VALUE_PROCS];
    for (int p = 0; p < VALUE_PROCS; p++) {
        pids[p] = fork();
        cr_assert_neq(pids[p], -1);
        if (pids[p] == 0) {
            for (int i = 0; i < VALUE_ADDS; i++)
                if (mpm_value_add_int(v, 1, NULL)) _exit(1);
            _exit(0);
        }
    }
    for (int p = 0; p < VALUE_PROCS; p++) {
        int st;
        cr_assert_eq(waitpid(pids[p], &st, 0), pids[p]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status %d)", p, st);
    }
    cr_assert_eq(value_int(v), VALUE_PROCS * VALUE_ADDS);
    mpm_value_close(v);
}

/*---- compare-and-set ----------------------------------------------------------------*/

Test(value, cas_swaps_only_when_equal)
{
    mpm_value *v = value_new('i', MPM_INT(5));
    bool swapped = true;
    cr_assert_eq(mpm_value_cas(v, MPM_INT(4), MPM_INT(9), &swapped), 0);
    cr_assert(!swapped);
    cr_assert_eq(value_int(v), 5);
    cr_assert_eq(mpm_value_cas(v, MPM_INT(5), MPM_INT(9), &swapped), 0);
    cr_assert(swapped);
    cr_assert_eq(value_int(v), 9);
    /* numeric equality, as Python's ==: 9 == 9.0 */
    cr_assert_eq(mpm_value_cas(v, MPM_FLOAT(9.0), MPM_INT(1), &swapped), 0);
    cr_assert(swapped);
    cr_assert_eq(mpm_value_cas(v, MPM_BOOL(true), MPM_INT(2), &swapped), 0);
    cr_assert(swapped);
    /* a non-number never equals */
    cr_assert_eq(mpm_value_cas(v, MPM_STR("2"), MPM_INT(3), &swapped), 0);
    cr_assert(!swapped);
    cr_assert_eq(mpm_value_cas(v, MPM_INT(2), MPM_INT(4), NULL), 0);
    cr_assert_eq(value_int(v), 4);
    mpm_value_close(v);
}

Test(value, cas_on_float_value)
{
    mpm_value *d = value_new('d', MPM_FLOAT(0.5));
    bool swapped = false;
    cr_assert_eq(mpm_value_cas(d, MPM_FLOAT(0.5), MPM_INT(2), &swapped), 0);
    cr_assert(swapped);
    cr_assert_eq(mpm_value_cas(d, MPM_INT(2), MPM_FLOAT(0.25), &swapped), 0);
    cr_assert(swapped);
    cr_assert_eq(value_float(d), 0.25);
    mpm_value_close(d);
}

Test(value, cas_checks_desired_whether_or_not_it_matches)
{
    mpm_value *v = value_new('b', MPM_INT(1));
    bool swapped = true;
    value_assert_err(mpm_value_cas(v, MPM_INT(1), MPM_INT(300), &swapped), MPM_EOVERFLOW,
                     "OverflowError: signed char is greater than maximum");
    value_assert_err(mpm_value_cas(v, MPM_INT(2), MPM_STR("x"), &swapped), MPM_ETYPE,
                     "TypeError: 'str' object cannot be interpreted as an integer");
    cr_assert_eq(value_int(v), 1);
    mpm_value_close(v);
}

#define VALUE_CAS_PROCS 4
#define VALUE_ROUNDS 150

/* Each child takes part in every round r, trying r -> r+1 until the value
 * passes r.  Its exit status is how many rounds it won (255: an error). */
static int value_cas_child(mpm_value *v)
{
    int wins = 0;
    for (int64_t r = 0; r < VALUE_ROUNDS; r++) {
        for (;;) {
            bool won = false;
            int64_t cur;
            if (mpm_value_cas(v, MPM_INT(r), MPM_INT(r + 1), &won)) return 255;
            if (won) {
                wins++;
                break;
            }
            if (mpm_value_get_int(v, &cur)) return 255;
            if (cur > r) break;
        }
    }
    return wins;
}

Test(value, cas_race_has_exactly_one_winner_per_round)
{
    mpm_value *v = value_new('q', MPM_INT(0));
    pid_t pids[VALUE_CAS_PROCS];
    for (int p = 0; p < VALUE_CAS_PROCS; p++) {
        pids[p] = fork();
        cr_assert_neq(pids[p], -1);
        if (pids[p] == 0) _exit(value_cas_child(v));
    }
    int total = 0;
    for (int p = 0; p < VALUE_CAS_PROCS; p++) {
        int st;
        cr_assert_eq(waitpid(pids[p], &st, 0), pids[p]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 255, "child %d failed (status %d)", p, st);
        total += WEXITSTATUS(st);
    }
    /* the value passed through every round once, and each step had one winner */
    cr_assert_eq(total, VALUE_ROUNDS);
    cr_assert_eq(value_int(v), VALUE_ROUNDS);
    mpm_value_close(v);
}

/*---- handles ---------------------------------------------------------------------------*/

Test(value, null_handle_is_einval)
{
    mpm_val *x = NULL;
    int64_t n;
    double d;
    bool b;
    char *s = NULL;
    cr_assert_eq(mpm_value_get(NULL, &x), MPM_EINVAL);
    cr_assert_eq(mpm_value_get_int(NULL, &n), MPM_EINVAL);
    cr_assert_eq(mpm_value_get_float(NULL, &d), MPM_EINVAL);
    cr_assert_eq(mpm_value_set(NULL, MPM_INT(1)), MPM_EINVAL);
    cr_assert_eq(mpm_value_add(NULL, MPM_INT(1), &x), MPM_EINVAL);
    cr_assert_eq(mpm_value_add_int(NULL, 1, &n), MPM_EINVAL);
    cr_assert_eq(mpm_value_cas(NULL, MPM_INT(1), MPM_INT(2), &b), MPM_EINVAL);
    cr_assert_eq(mpm_value_repr(NULL, &s), MPM_EINVAL);
    cr_assert_eq(mpm_value_typecode(NULL), 0);
    cr_assert_eq(mpm_value_new(NULL, (mpm_value **)&x, 'i', MPM_INT(0)), MPM_EINVAL);
    cr_assert_eq(mpm_value_new(value_m, NULL, 'i', MPM_INT(0)), MPM_EINVAL);
    mpm_value_close(NULL);
}

Test(value, null_out_pointers_are_einval)
{
    mpm_value *v = value_new('i', MPM_INT(1));
    cr_assert_eq(mpm_value_get(v, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_value_get_int(v, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_value_get_float(v, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_value_repr(v, NULL), MPM_EINVAL);
    mpm_value_close(v);
}

Test(value, child_process_sees_and_changes_the_value)
{
    mpm_value *v = value_new('d', MPM_FLOAT(1.5));
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        double d = 0;
        if (mpm_value_get_float(v, &d) || d != 1.5) _exit(1);
        _exit(mpm_value_set(v, MPM_FLOAT(-0.5)) ? 2 : 0);
    }
    int st;
    cr_assert_eq(waitpid(p, &st, 0), p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    cr_assert_eq(value_float(v), -0.5);
    value_assert_repr(v, "Value('d', -0.5)");
    mpm_value_close(v);
}
