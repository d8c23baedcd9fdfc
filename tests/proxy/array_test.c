/* array_test.c - mpm_array_*: a fixed-length typed array, its ranges,
 * indexing, slices and Python's messages. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mpm/mpm.h>

static mpm_manager *array_m;

static void array_setup(void)
{
    int rc = mpm_manager_start(&array_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void array_teardown(void)
{
    mpm_manager_shutdown(array_m);
    array_m = NULL;
}

TestSuite(array, .init = array_setup, .fini = array_teardown, .timeout = 20);

#define array_assert_err(expr, code, msg)                                                          \
    do {                                                                                           \
        int array_rc_ = (expr);                                                                    \
        cr_assert_eq(array_rc_, (code), "%s: got %d (%s)", #expr, array_rc_, mpm_last_error());    \
        cr_assert_str_eq(mpm_last_error(), (msg), "%s", #expr);                                    \
    } while (0)

#define ARRAY_INTS(...) ((const mpm_val[]){__VA_ARGS__})
#define ARRAY_LIST(...)                                                                            \
    MPM_LIST(ARRAY_INTS(__VA_ARGS__), sizeof ARRAY_INTS(__VA_ARGS__) / sizeof(mpm_val))

static mpm_array *array_new(char tc, mpm_val items)
{
    mpm_array *a = NULL;
    int rc = mpm_array_new(array_m, &a, tc, items);
    cr_assert_eq(rc, 0, "array('%c'): %d %s", tc, rc, mpm_last_error());
    cr_assert_not_null(a);
    return a;
}

/* array(0..n-1) of typecode 'i' */
static mpm_array *array_range(size_t n)
{
    mpm_val items[64];
    cr_assert(n <= 64);
    for (size_t i = 0; i < n; i++)
        items[i] = MPM_INT(i);
    return array_new('i', MPM_LIST(items, n));
}

static void array_assert_repr(mpm_array *a, const char *want)
{
    char *s = NULL;
    int rc = mpm_array_repr(a, &s);
    cr_assert_eq(rc, 0, "repr: %d %s", rc, mpm_last_error());
    cr_assert_str_eq(s, want);
    free(s);
}

/* repr of a list result, e.g. of a slice */
static void array_assert_list(mpm_val *l, const char *want)
{
    cr_assert_not_null(l);
    cr_assert_eq(l->type, MPM_T_LIST);
    char *s = mpm_val_repr(*l);
    cr_assert_str_eq(s, want);
    free(s);
    mpm_val_free(l);
}

static void array_assert_slice(mpm_array *a, mpm_slice sl, const char *want)
{
    mpm_val *l = NULL;
    int rc = mpm_array_get_slice(a, sl, &l);
    cr_assert_eq(rc, 0, "slice: %d %s", rc, mpm_last_error());
    array_assert_list(l, want);
}

static int64_t array_int(mpm_array *a, int64_t i)
{
    mpm_val *x = NULL;
    int rc = mpm_array_get(a, i, &x);
    cr_assert_eq(rc, 0, "a[%lld]: %d %s", (long long)i, rc, mpm_last_error());
    cr_assert_eq(x->type, MPM_T_INT);
    int64_t v = x->v.i;
    mpm_val_free(x);
    return v;
}

static size_t array_objects(void)
{
    size_t n = 0;
    cr_assert_eq(mpm_manager_object_count(array_m, &n), 0);
    return n;
}

/*---- creation ----------------------------------------------------------------------*/

Test(array, new_from_list_holds_the_items)
{
    mpm_array *a = array_new('i', ARRAY_LIST(MPM_INT(1), MPM_INT(-2), MPM_BOOL(true)));
    size_t n = 0;
    cr_assert_eq(mpm_array_len(a, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(mpm_array_typecode(a), 'i');
    cr_assert_eq(array_int(a, 0), 1);
    cr_assert_eq(array_int(a, 1), -2);
    cr_assert_eq(array_int(a, 2), 1);
    array_assert_repr(a, "array('i', [1, -2, 1])");
    mpm_val *l = NULL;
    cr_assert_eq(mpm_array_tolist(a, &l), 0);
    array_assert_list(l, "[1, -2, 1]");
    mpm_array_close(a);
}

Test(array, new_zeroed_holds_n_zeros)
{
    mpm_array *d = NULL, *e = NULL;
    cr_assert_eq(mpm_array_new_zeroed(array_m, &d, 'd', 4), 0, "%s", mpm_last_error());
    array_assert_repr(d, "array('d', [0.0, 0.0, 0.0, 0.0])");
    cr_assert_eq(mpm_array_typecode(d), 'd');
    cr_assert_eq(mpm_array_new_zeroed(array_m, &e, 'H', 0), 0, "%s", mpm_last_error());
    size_t n = 9;
    cr_assert_eq(mpm_array_len(e, &n), 0);
    cr_assert_eq(n, 0);
    /* Python prints an empty array without a list */
    array_assert_repr(e, "array('H')");
    mpm_array_close(d);
    mpm_array_close(e);
}

Test(array, empty_list_gives_empty_array)
{
    mpm_array *a = array_new('b', MPM_LIST(NULL, 0));
    array_assert_repr(a, "array('b')");
    mpm_val *l = NULL;
    cr_assert_eq(mpm_array_tolist(a, &l), 0);
    array_assert_list(l, "[]");
    array_assert_slice(a, MPM_SLICE(MPM_NIL_INDEX, MPM_NIL_INDEX), "[]");
    mpm_array_close(a);
}

Test(array, bad_typecode_is_valueerror_and_creates_nothing)
{
    size_t before = array_objects();
    mpm_array *a = (mpm_array *)1;
    array_assert_err(mpm_array_new(array_m, &a, 'u', ARRAY_LIST(MPM_INT(1))), MPM_EVALUE,
                     "ValueError: bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or d)");
    cr_assert_null(a);
    array_assert_err(mpm_array_new_zeroed(array_m, &a, 'x', 3), MPM_EVALUE,
                     "ValueError: bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or d)");
    cr_assert_null(a);
    cr_assert_eq(array_objects(), before);
}

Test(array, bad_element_creates_nothing)
{
    size_t before = array_objects();
    mpm_array *a = NULL;
    array_assert_err(mpm_array_new(array_m, &a, 'b', ARRAY_LIST(MPM_INT(1), MPM_INT(300))),
                     MPM_EOVERFLOW, "OverflowError: signed char is greater than maximum");
    array_assert_err(mpm_array_new(array_m, &a, 'i', ARRAY_LIST(MPM_INT(1), MPM_STR("x"))),
                     MPM_ETYPE, "TypeError: 'str' object cannot be interpreted as an integer");
    array_assert_err(mpm_array_new(array_m, &a, 'i', ARRAY_LIST(MPM_FLOAT(1.0))), MPM_ETYPE,
                     "TypeError: 'float' object cannot be interpreted as an integer");
    array_assert_err(mpm_array_new(array_m, &a, 'd', ARRAY_LIST(MPM_FLOAT(1.0), MPM_NONE)),
                     MPM_ETYPE, "TypeError: must be real number, not NoneType");
    array_assert_err(mpm_array_new(array_m, &a, 'i', ARRAY_LIST(ARRAY_LIST(MPM_INT(1)))), MPM_ETYPE,
                     "TypeError: 'list' object cannot be interpreted as an integer");
    cr_assert_null(a);
    cr_assert_eq(array_objects(), before);
}

Test(array, non_list_initialiser_is_typeerror)
{
    mpm_array *a = NULL;
    array_assert_err(mpm_array_new(array_m, &a, 'i', MPM_STR("abc")), MPM_ETYPE,
                     "TypeError: cannot use a str to initialize an array with typecode 'i'");
    array_assert_err(mpm_array_new(array_m, &a, 'd', MPM_FLOAT(2.0)), MPM_ETYPE,
                     "TypeError: cannot use a float to initialize an array with typecode 'd'");
    cr_assert_null(a);
}

Test(array, close_frees_the_object)
{
    size_t before = array_objects();
    mpm_array *a = array_range(5);
    cr_assert_eq(array_objects(), before + 1);
    mpm_array_close(a);
    cr_assert_eq(array_objects(), before);
}

/*---- items ---------------------------------------------------------------------------*/

Test(array, get_takes_negative_indices)
{
    mpm_array *a = array_range(3);
    cr_assert_eq(array_int(a, -1), 2);
    cr_assert_eq(array_int(a, -3), 0);
    mpm_array_close(a);
}

Test(array, get_out_of_range_is_indexerror)
{
    mpm_array *a = array_range(3);
    mpm_val *x = NULL;
    array_assert_err(mpm_array_get(a, 3, &x), MPM_EINDEX, "IndexError: array index out of range");
    array_assert_err(mpm_array_get(a, -4, &x), MPM_EINDEX, "IndexError: array index out of range");
    array_assert_err(mpm_array_get(a, INT64_MIN, &x), MPM_EINDEX,
                     "IndexError: array index out of range");
    cr_assert_null(x);
    mpm_array_close(a);
}

Test(array, set_stores_one_item)
{
    mpm_array *a = array_range(3);
    cr_assert_eq(mpm_array_set(a, 1, MPM_INT(42)), 0, "%s", mpm_last_error());
    cr_assert_eq(mpm_array_set(a, -1, MPM_BOOL(true)), 0, "%s", mpm_last_error());
    array_assert_repr(a, "array('i', [0, 42, 1])");
    mpm_array_close(a);
}

Test(array, set_errors_change_nothing)
{
    mpm_array *a = array_range(3);
    array_assert_err(mpm_array_set(a, 3, MPM_INT(1)), MPM_EINDEX,
                     "IndexError: array assignment index out of range");
    array_assert_err(mpm_array_set(a, -4, MPM_INT(1)), MPM_EINDEX,
                     "IndexError: array assignment index out of range");
    /* Python checks the index first */
    array_assert_err(mpm_array_set(a, 5, MPM_STR("x")), MPM_EINDEX,
                     "IndexError: array assignment index out of range");
    array_assert_err(mpm_array_set(a, 0, MPM_STR("x")), MPM_ETYPE,
                     "TypeError: 'str' object cannot be interpreted as an integer");
    array_assert_err(mpm_array_set(a, 0, MPM_FLOAT(0.5)), MPM_ETYPE,
                     "TypeError: 'float' object cannot be interpreted as an integer");
    array_assert_err(mpm_array_set(a, 0, MPM_INT(INT64_MAX)), MPM_EOVERFLOW,
                     "OverflowError: signed integer is greater than maximum");
    array_assert_repr(a, "array('i', [0, 1, 2])");
    mpm_array_close(a);
}

typedef struct array_limit {
    char tc;
    int64_t min, max;
    const char *below, *above; /* NULL: not reachable with an int64 */
} array_limit;

static const array_limit array_limits[] = {
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
    {'l', INT64_MIN, INT64_MAX, NULL, NULL},
    {'L', 0, INT64_MAX, "OverflowError: can't convert negative value to unsigned int", NULL},
    {'q', INT64_MIN, INT64_MAX, NULL, NULL},
    {'Q', 0, INT64_MAX, "OverflowError: can't convert negative int to unsigned", NULL},
};

Test(array, range_limits_of_every_integer_typecode)
{
    char want[128];
    for (size_t i = 0; i < sizeof array_limits / sizeof array_limits[0]; i++) {
        const array_limit *l = &array_limits[i];
        mpm_array *a = array_new(l->tc, ARRAY_LIST(MPM_INT(l->min), MPM_INT(l->max)));
        snprintf(want, sizeof want, "array('%c', [%lld, %lld])", l->tc, (long long)l->min,
                 (long long)l->max);
        array_assert_repr(a, want);
        cr_assert_eq(array_int(a, 0), l->min, "%c", l->tc);
        cr_assert_eq(array_int(a, 1), l->max, "%c", l->tc);
        if (l->below) {
            array_assert_err(mpm_array_set(a, 0, MPM_INT(l->min - 1)), MPM_EOVERFLOW, l->below);
            mpm_array *b = NULL;
            array_assert_err(mpm_array_new(array_m, &b, l->tc, ARRAY_LIST(MPM_INT(l->min - 1))),
                             MPM_EOVERFLOW, l->below);
        }
        if (l->above) {
            array_assert_err(mpm_array_set(a, 1, MPM_INT(l->max + 1)), MPM_EOVERFLOW, l->above);
            array_assert_err(
                mpm_array_set_slice(a, MPM_SLICE(1, 2), ARRAY_LIST(MPM_INT(l->max + 1))),
                MPM_EOVERFLOW, l->above);
        }
        array_assert_repr(a, want);
        mpm_array_close(a);
    }
}

Test(array, float_typecodes_repr_as_python)
{
    mpm_array *f = array_new('f', ARRAY_LIST(MPM_FLOAT(0.1), MPM_INT(2)));
    array_assert_repr(f, "array('f', [0.10000000149011612, 2.0])");
    mpm_array *d = array_new('d', ARRAY_LIST(MPM_FLOAT(1e16), MPM_FLOAT(1.5), MPM_INT(-3)));
    array_assert_repr(d, "array('d', [1e+16, 1.5, -3.0])");
    mpm_val *x = NULL;
    cr_assert_eq(mpm_array_get(d, 2, &x), 0);
    cr_assert_eq(x->type, MPM_T_FLOAT);
    cr_assert_eq(x->v.f, -3.0);
    mpm_val_free(x);
    cr_assert_eq(mpm_array_get(f, 0, &x), 0);
    cr_assert_eq(x->v.f, (double)0.1f);
    mpm_val_free(x);
    array_assert_err(mpm_array_set(d, 0, MPM_STR("x")), MPM_ETYPE,
                     "TypeError: must be real number, not str");
    cr_assert_eq(mpm_array_set(f, 1, MPM_FLOAT(1e300)), 0);
    array_assert_repr(f, "array('f', [0.10000000149011612, inf])");
    array_assert_repr(d, "array('d', [1e+16, 1.5, -3.0])");
    mpm_array_close(f);
    mpm_array_close(d);
}

/*---- slices ------------------------------------------------------------------------------*/

Test(array, get_slice_follows_python_bounds)
{
    mpm_array *a = array_range(10);
    array_assert_slice(a, MPM_SLICE(2, 5), "[2, 3, 4]");
    array_assert_slice(a, MPM_SLICE(MPM_NIL_INDEX, MPM_NIL_INDEX),
                       "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    array_assert_slice(a, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, -1),
                       "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
    array_assert_slice(a, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, 3), "[0, 3, 6, 9]");
    array_assert_slice(a, MPM_SLICE3(8, 1, -3), "[8, 5, 2]");
    array_assert_slice(a, MPM_SLICE(5, 100), "[5, 6, 7, 8, 9]");
    array_assert_slice(a, MPM_SLICE(-3, MPM_NIL_INDEX), "[7, 8, 9]");
    array_assert_slice(a, MPM_SLICE(-100, 2), "[0, 1]");
    array_assert_slice(a, MPM_SLICE(6, 2), "[]");
    mpm_val *l = NULL;
    array_assert_err(mpm_array_get_slice(a, MPM_SLICE3(0, 5, 0), &l), MPM_EVALUE,
                     "ValueError: slice step cannot be zero");
    cr_assert_null(l);
    mpm_array_close(a);
}

Test(array, get_slice_of_floats_gives_floats)
{
    mpm_array *d = array_new('d', ARRAY_LIST(MPM_FLOAT(0.5), MPM_INT(1), MPM_FLOAT(-2.25)));
    array_assert_slice(d, MPM_SLICE(1, MPM_NIL_INDEX), "[1.0, -2.25]");
    mpm_array_close(d);
}

Test(array, set_slice_replaces_the_selected_items)
{
    mpm_array *a = array_range(6);
    cr_assert_eq(mpm_array_set_slice(a, MPM_SLICE(1, 3), ARRAY_LIST(MPM_INT(10), MPM_INT(20))), 0,
                 "%s", mpm_last_error());
    array_assert_repr(a, "array('i', [0, 10, 20, 3, 4, 5])");
    cr_assert_eq(mpm_array_set_slice(a, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, 2),
                                     ARRAY_LIST(MPM_INT(-1), MPM_INT(-2), MPM_INT(-3))),
                 0, "%s", mpm_last_error());
    array_assert_repr(a, "array('i', [-1, 10, -2, 3, -3, 5])");
    cr_assert_eq(mpm_array_set_slice(a, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, -1),
                                     ARRAY_LIST(MPM_INT(1), MPM_INT(2), MPM_INT(3), MPM_INT(4),
                                                MPM_INT(5), MPM_INT(6))),
                 0, "%s", mpm_last_error());
    array_assert_repr(a, "array('i', [6, 5, 4, 3, 2, 1])");
    /* an empty slice takes an empty list */
    cr_assert_eq(mpm_array_set_slice(a, MPM_SLICE(3, 3), MPM_LIST(NULL, 0)), 0, "%s",
                 mpm_last_error());
    array_assert_repr(a, "array('i', [6, 5, 4, 3, 2, 1])");
    mpm_array_close(a);
}

Test(array, set_slice_of_other_length_is_valueerror_and_changes_nothing)
{
    mpm_array *a = array_range(6);
    array_assert_err(mpm_array_set_slice(a, MPM_SLICE(0, 2), ARRAY_LIST(MPM_INT(9))), MPM_EVALUE,
                     "ValueError: can only assign array of same length");
    array_assert_err(
        mpm_array_set_slice(a, MPM_SLICE(0, 2), ARRAY_LIST(MPM_INT(9), MPM_INT(9), MPM_INT(9))),
        MPM_EVALUE, "ValueError: can only assign array of same length");
    array_assert_err(mpm_array_set_slice(a, MPM_SLICE3(0, 6, 2), ARRAY_LIST(MPM_INT(9))),
                     MPM_EVALUE,
                     "ValueError: attempt to assign array of size 1 to extended slice of size 3");
    array_assert_err(mpm_array_set_slice(a, MPM_SLICE3(0, 6, 0), ARRAY_LIST(MPM_INT(9))),
                     MPM_EVALUE, "ValueError: slice step cannot be zero");
    array_assert_repr(a, "array('i', [0, 1, 2, 3, 4, 5])");
    mpm_array_close(a);
}

Test(array, set_slice_with_a_bad_item_changes_nothing)
{
    mpm_array *a = array_range(4);
    /* the first item is fine: it must not be stored either */
    array_assert_err(mpm_array_set_slice(a, MPM_SLICE(0, 2), ARRAY_LIST(MPM_INT(7), MPM_STR("x"))),
                     MPM_ETYPE, "TypeError: 'str' object cannot be interpreted as an integer");
    array_assert_err(
        mpm_array_set_slice(a, MPM_SLICE(0, 2), ARRAY_LIST(MPM_INT(7), MPM_INT(1LL << 40))),
        MPM_EOVERFLOW, "OverflowError: signed integer is greater than maximum");
    array_assert_err(mpm_array_set_slice(a, MPM_SLICE(0, 1), MPM_INT(7)), MPM_ETYPE,
                     "TypeError: 'int' object is not iterable");
    array_assert_repr(a, "array('i', [0, 1, 2, 3])");
    mpm_array_close(a);
}

/*---- handles and processes ------------------------------------------------------------*/

Test(array, null_handle_is_einval)
{
    mpm_val *x = NULL;
    size_t n;
    char *s = NULL;
    cr_assert_eq(mpm_array_get(NULL, 0, &x), MPM_EINVAL);
    cr_assert_eq(mpm_array_set(NULL, 0, MPM_INT(1)), MPM_EINVAL);
    cr_assert_eq(mpm_array_get_slice(NULL, MPM_SLICE(0, 1), &x), MPM_EINVAL);
    cr_assert_eq(mpm_array_set_slice(NULL, MPM_SLICE(0, 1), ARRAY_LIST(MPM_INT(1))), MPM_EINVAL);
    cr_assert_eq(mpm_array_len(NULL, &n), MPM_EINVAL);
    cr_assert_eq(mpm_array_tolist(NULL, &x), MPM_EINVAL);
    cr_assert_eq(mpm_array_repr(NULL, &s), MPM_EINVAL);
    cr_assert_eq(mpm_array_typecode(NULL), 0);
    cr_assert_eq(mpm_array_new(NULL, (mpm_array **)&x, 'i', MPM_LIST(NULL, 0)), MPM_EINVAL);
    cr_assert_eq(mpm_array_new(array_m, NULL, 'i', MPM_LIST(NULL, 0)), MPM_EINVAL);
    cr_assert_eq(mpm_array_new_zeroed(array_m, NULL, 'i', 1), MPM_EINVAL);
    mpm_array_close(NULL);
}

Test(array, null_out_pointers_are_einval)
{
    mpm_array *a = array_range(2);
    cr_assert_eq(mpm_array_get(a, 0, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_array_get_slice(a, MPM_SLICE(0, 1), NULL), MPM_EINVAL);
    cr_assert_eq(mpm_array_len(a, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_array_tolist(a, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_array_repr(a, NULL), MPM_EINVAL);
    mpm_array_close(a);
}

Test(array, huge_zeroed_size_is_refused)
{
    mpm_array *a = NULL;
    cr_assert_eq(mpm_array_new_zeroed(array_m, &a, 'i', (size_t)1 << 40), MPM_ENOMEM);
    cr_assert_eq(mpm_array_new_zeroed(array_m, &a, 'i', SIZE_MAX), MPM_EINVAL);
    cr_assert_null(a);
}

#define ARRAY_PROCS 4

Test(array, children_write_their_own_slots)
{
    mpm_array *a = NULL;
    cr_assert_eq(mpm_array_new_zeroed(array_m, &a, 'q', ARRAY_PROCS), 0);
    pid_t pids[ARRAY_PROCS];
    for (int p = 0; p < ARRAY_PROCS; p++) {
        pids[p] = fork();
        cr_assert_neq(pids[p], -1);
        if (pids[p] == 0) _exit(mpm_array_set(a, p, MPM_INT(100 + p)) ? 1 : 0);
    }
    for (int p = 0; p < ARRAY_PROCS; p++) {
        int st;
        cr_assert_eq(waitpid(pids[p], &st, 0), pids[p]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d status %d", p, st);
    }
    array_assert_repr(a, "array('q', [100, 101, 102, 103])");
    mpm_array_close(a);
}

Test(array, contains_compares_numerically, .timeout = 20)
{
    mpm_manager *m;
    mpm_array *a;
    bool in = false;
    mpm_val items[] = {MPM_INT(1), MPM_INT(2), MPM_INT(3)};
    cr_assert_eq(mpm_manager_start(&m, NULL), 0);
    cr_assert_eq(mpm_array_new(m, &a, 'i', MPM_LIST(items, 3)), 0);
    cr_assert_eq(mpm_array_contains(a, MPM_INT(2), &in), 0);
    cr_assert(in);
    cr_assert_eq(mpm_array_contains(a, MPM_FLOAT(3.0), &in), 0);
    cr_assert(in, "3.0 == 3 as in Python");
    cr_assert_eq(mpm_array_contains(a, MPM_INT(4), &in), 0);
    cr_assert_not(in);
    cr_assert_eq(mpm_array_contains(a, MPM_STR("1"), &in), 0);
    cr_assert_not(in);
    cr_assert_eq(mpm_array_contains(NULL, MPM_INT(1), &in), MPM_EINVAL);
    mpm_array_close(a);
    cr_assert_eq(mpm_manager_shutdown(m), 0);
}
