/* list_test.c - the shared list through the public API, against Python's list.
 *
 * Expected values and messages were taken from python3 (3.11) running the same
 * operations on a plain list. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <mpm/mpm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static mpm_manager *list_start(void)
{
    mpm_manager *m = NULL;
    int rc = mpm_manager_start(&m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %s (%s)", mpm_strerror(rc), mpm_last_error());
    cr_assert_not_null(m);
    return m;
}

static mpm_list *list_range(mpm_manager *m, int64_t start, int64_t stop)
{
    mpm_list *l = NULL;
    int rc = mpm_list_new_range(m, &l, start, stop);
    cr_assert_eq(rc, 0, "new_range: %s", mpm_last_error());
    cr_assert_not_null(l);
    return l;
}

static mpm_list *list_from(mpm_manager *m, const mpm_val *items, size_t n)
{
    mpm_list *l = NULL;
    int rc = mpm_list_new_from(m, &l, MPM_LIST(items, n));
    cr_assert_eq(rc, 0, "new_from: %s", mpm_last_error());
    return l;
}

static void assert_repr(mpm_list *l, const char *want)
{
    char *s = NULL;
    int rc = mpm_list_repr(l, &s);
    cr_assert_eq(rc, 0, "repr: %s", mpm_last_error());
    cr_assert_str_eq(s, want);
    free(s);
}

/* Checks and frees a result value. */
static void assert_val(mpm_val *v, const char *want)
{
    cr_assert_not_null(v);
    char *s = mpm_val_repr(*v);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, want);
    free(s);
    mpm_val_free(v);
}

static void assert_len(mpm_list *l, size_t want)
{
    size_t n = SIZE_MAX;
    cr_assert_eq(mpm_list_len(l, &n), 0);
    cr_assert_eq(n, want);
}

static void assert_err(int rc, int code, const char *msg)
{
    cr_assert_eq(rc, code, "rc %d (%s), want %d", rc, mpm_last_error(), code);
    cr_assert_str_eq(mpm_last_error(), msg);
}

static void assert_slice(mpm_list *l, mpm_slice s, const char *want)
{
    mpm_val *v = NULL;
    int rc = mpm_list_get_slice(l, s, &v);
    cr_assert_eq(rc, 0, "get_slice: %s", mpm_last_error());
    cr_assert_eq(v->type, MPM_T_LIST);
    assert_val(v, want);
}

/*---- creating ----------------------------------------------------------------*/

Test(list, new_is_empty, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = NULL;
    cr_assert_eq(mpm_list_new(m, &l), 0);
    assert_len(l, 0);
    assert_repr(l, "[]");
    mpm_list_close(l);
    mpm_manager_shutdown(m);
}

Test(list, new_from_copies_every_kind_of_item, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val inner[] = {MPM_INT(1), MPM_STR("a")};
    mpm_pair pairs[] = {{MPM_STR("k"), MPM_NONE}};
    mpm_val items[] = {MPM_INT(1),         MPM_STR("a"),       MPM_NONE,
                       MPM_FLOAT(0.5),     MPM_BOOL(true),     MPM_BYTES("x", 1),
                       MPM_LIST(inner, 2), MPM_DICT(pairs, 1), MPM_INT(-7)};
    mpm_list *l = list_from(m, items, 9);
    assert_len(l, 9);
    assert_repr(l, "[1, 'a', None, 0.5, True, b'x', [1, 'a'], {'k': None}, -7]");
    mpm_manager_shutdown(m);
}

Test(list, new_from_non_list_is_typeerror, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = (mpm_list *)1;
    assert_err(mpm_list_new_from(m, &l, MPM_INT(5)), MPM_ETYPE,
               "TypeError: a list is made from an MPM_T_LIST value");
    cr_assert_null(l);
    mpm_manager_shutdown(m);
}

Test(list, new_range_is_python_range, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *a = list_range(m, 3, 7);
    mpm_list *b = list_range(m, 5, 2);
    mpm_list *c = list_range(m, -2, 2);
    assert_repr(a, "[3, 4, 5, 6]");
    assert_repr(b, "[]");
    assert_repr(c, "[-2, -1, 0, 1]");
    mpm_list_close(a);
    mpm_list_close(b);
    mpm_list_close(c);
    mpm_manager_shutdown(m);
}

Test(list, close_frees_the_object_and_accepts_null, .timeout = 20)
{
    mpm_manager *m = list_start();
    size_t before = 0, after = 0;
    cr_assert_eq(mpm_manager_object_count(m, &before), 0);
    mpm_list *l = list_range(m, 0, 3);
    mpm_list_close(l);
    mpm_list_close(NULL);
    cr_assert_eq(mpm_manager_object_count(m, &after), 0);
    cr_assert_eq(after, before);
    mpm_manager_shutdown(m);
}

Test(list, null_handle_is_einval, .timeout = 20)
{
    size_t n;
    mpm_val *v = NULL;
    cr_assert_eq(mpm_list_len(NULL, &n), MPM_EINVAL);
    cr_assert_eq(mpm_list_append(NULL, MPM_INT(1)), MPM_EINVAL);
    cr_assert_eq(mpm_list_get(NULL, 0, &v), MPM_EINVAL);
    cr_assert_eq(mpm_list_pop(NULL, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_list_extend_from(NULL, NULL), MPM_EINVAL);
    cr_assert_null(v);
}

/*---- items ---------------------------------------------------------------------*/

Test(list, get_returns_item_counting_negative_from_end, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 10);
    mpm_val *v = NULL;
    cr_assert_eq(mpm_list_get(l, 3, &v), 0);
    cr_assert_eq(v->type, MPM_T_INT);
    cr_assert_eq(v->v.i, 3);
    mpm_val_free(v);
    cr_assert_eq(mpm_list_get(l, -1, &v), 0);
    cr_assert_eq(v->v.i, 9);
    mpm_val_free(v);
    cr_assert_eq(mpm_list_get(l, -10, &v), 0);
    cr_assert_eq(v->v.i, 0);
    mpm_val_free(v);
    mpm_manager_shutdown(m);
}

Test(list, get_out_of_range_is_indexerror, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 10);
    mpm_list *e = NULL;
    cr_assert_eq(mpm_list_new(m, &e), 0);
    mpm_val *v = NULL;
    assert_err(mpm_list_get(l, 10, &v), MPM_EINDEX, "IndexError: list index out of range");
    assert_err(mpm_list_get(l, -11, &v), MPM_EINDEX, "IndexError: list index out of range");
    assert_err(mpm_list_get(l, INT64_MIN, &v), MPM_EINDEX, "IndexError: list index out of range");
    assert_err(mpm_list_get(e, 0, &v), MPM_EINDEX, "IndexError: list index out of range");
    cr_assert_null(v);
    mpm_manager_shutdown(m);
}

Test(list, set_replaces_item, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 4);
    cr_assert_eq(mpm_list_set(l, 1, MPM_STR("one")), 0);
    cr_assert_eq(mpm_list_set(l, -1, MPM_NONE), 0);
    assert_repr(l, "[0, 'one', 2, None]");
    mpm_manager_shutdown(m);
}

Test(list, set_out_of_range_is_indexerror_and_changes_nothing, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 3);
    assert_err(mpm_list_set(l, 3, MPM_INT(9)), MPM_EINDEX,
               "IndexError: list assignment index out of range");
    assert_err(mpm_list_set(l, -4, MPM_INT(9)), MPM_EINDEX,
               "IndexError: list assignment index out of range");
    assert_repr(l, "[0, 1, 2]");
    mpm_manager_shutdown(m);
}

Test(list, del_removes_item, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 5);
    cr_assert_eq(mpm_list_del(l, 1), 0);
    cr_assert_eq(mpm_list_del(l, -1), 0);
    assert_repr(l, "[0, 2, 3]");
    mpm_manager_shutdown(m);
}

Test(list, del_out_of_range_is_indexerror_and_changes_nothing, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 3);
    assert_err(mpm_list_del(l, 3), MPM_EINDEX, "IndexError: list assignment index out of range");
    assert_err(mpm_list_del(l, -4), MPM_EINDEX, "IndexError: list assignment index out of range");
    assert_repr(l, "[0, 1, 2]");
    mpm_manager_shutdown(m);
}

/*---- slices ----------------------------------------------------------------------*/

Test(list, get_slice_follows_python_bounds, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 10);
    assert_slice(l, MPM_SLICE(2, 5), "[2, 3, 4]");
    assert_slice(l, MPM_SLICE(MPM_NIL_INDEX, 3), "[0, 1, 2]");
    assert_slice(l, MPM_SLICE(7, MPM_NIL_INDEX), "[7, 8, 9]");
    assert_slice(l, MPM_SLICE(-3, MPM_NIL_INDEX), "[7, 8, 9]");
    assert_slice(l, MPM_SLICE(5, 2), "[]");
    assert_slice(l, MPM_SLICE(100, 200), "[]");
    assert_slice(l, MPM_SLICE(-100, 3), "[0, 1, 2]");
    assert_slice(l, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, 2), "[0, 2, 4, 6, 8]");
    assert_slice(l, MPM_SLICE3(1, -1, 3), "[1, 4, 7]");
    assert_slice(l, MPM_SLICE(MPM_NIL_INDEX, MPM_NIL_INDEX), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    mpm_manager_shutdown(m);
}

Test(list, get_slice_with_negative_step_walks_backwards, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 10);
    assert_slice(l, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, -1), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
    assert_slice(l, MPM_SLICE3(8, 1, -2), "[8, 6, 4, 2]");
    assert_slice(l, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, -4), "[9, 5, 1]");
    assert_slice(l, MPM_SLICE3(1, 8, -1), "[]");
    assert_slice(l, MPM_SLICE3(100, -100, -3), "[9, 6, 3, 0]");
    mpm_manager_shutdown(m);
}

Test(list, slice_step_zero_is_valueerror, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 3);
    mpm_val *v = NULL;
    mpm_val items[] = {MPM_INT(1)};
    assert_err(mpm_list_get_slice(l, MPM_SLICE3(0, 3, 0), &v), MPM_EVALUE,
               "ValueError: slice step cannot be zero");
    assert_err(mpm_list_set_slice(l, MPM_SLICE3(0, 3, 0), MPM_LIST(items, 1)), MPM_EVALUE,
               "ValueError: slice step cannot be zero");
    assert_err(mpm_list_del_slice(l, MPM_SLICE3(0, 3, 0)), MPM_EVALUE,
               "ValueError: slice step cannot be zero");
    cr_assert_null(v);
    assert_repr(l, "[0, 1, 2]");
    mpm_manager_shutdown(m);
}

Test(list, set_slice_replaces_and_may_change_length, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val a[] = {MPM_STR("a")};
    mpm_val pq[] = {MPM_STR("p"), MPM_STR("q")};
    mpm_list *l = list_range(m, 0, 10);
    cr_assert_eq(mpm_list_set_slice(l, MPM_SLICE(2, 5), MPM_LIST(a, 1)), 0);
    assert_repr(l, "[0, 1, 'a', 5, 6, 7, 8, 9]");
    mpm_list_close(l);

    l = list_range(m, 0, 10);
    cr_assert_eq(mpm_list_set_slice(l, MPM_SLICE(1, 1), MPM_LIST(pq, 2)), 0);
    assert_repr(l, "[0, 'p', 'q', 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    mpm_list_close(l);

    l = list_range(m, 0, 10);
    cr_assert_eq(mpm_list_set_slice(l, MPM_SLICE(2, 6), MPM_LIST(NULL, 0)), 0);
    assert_repr(l, "[0, 1, 6, 7, 8, 9]");
    mpm_list_close(l);

    /* an empty slice inserts at its start, not its stop */
    l = list_range(m, 0, 6);
    cr_assert_eq(mpm_list_set_slice(l, MPM_SLICE(5, 2), MPM_LIST(a, 1)), 0);
    assert_repr(l, "[0, 1, 2, 3, 4, 'a', 5]");
    cr_assert_eq(mpm_list_set_slice(l, MPM_SLICE(MPM_NIL_INDEX, MPM_NIL_INDEX), MPM_LIST(pq, 2)),
                 0);
    assert_repr(l, "['p', 'q']");
    mpm_manager_shutdown(m);
}

Test(list, set_extended_slice_assigns_item_by_item, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val abc[] = {MPM_STR("a"), MPM_STR("b"), MPM_STR("c"), MPM_STR("d")};
    mpm_list *l = list_range(m, 0, 10);
    cr_assert_eq(mpm_list_set_slice(l, MPM_SLICE3(1, 8, 3), MPM_LIST(abc, 3)), 0);
    assert_repr(l, "[0, 'a', 2, 3, 'b', 5, 6, 'c', 8, 9]");
    mpm_list_close(l);

    l = list_range(m, 0, 10);
    cr_assert_eq(
        mpm_list_set_slice(l, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, -3), MPM_LIST(abc, 4)), 0);
    assert_repr(l, "['d', 1, 2, 'c', 4, 5, 'b', 7, 8, 'a']");
    mpm_list_close(l);

    /* an empty extended slice takes exactly zero items */
    l = list_range(m, 0, 3);
    cr_assert_eq(mpm_list_set_slice(l, MPM_SLICE3(5, 10, 2), MPM_LIST(NULL, 0)), 0);
    assert_repr(l, "[0, 1, 2]");
    mpm_manager_shutdown(m);
}

Test(list, set_extended_slice_wrong_size_is_valueerror_and_changes_nothing, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val items[] = {MPM_INT(7), MPM_INT(8), MPM_INT(9)};
    mpm_list *l = list_range(m, 1, 5);
    assert_err(
        mpm_list_set_slice(l, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, 2), MPM_LIST(items, 3)),
        MPM_EVALUE, "ValueError: attempt to assign sequence of size 3 to extended slice of size 2");
    assert_err(mpm_list_set_slice(l, MPM_SLICE3(5, 10, 2), MPM_LIST(items, 1)), MPM_EVALUE,
               "ValueError: attempt to assign sequence of size 1 to extended slice of size 0");
    assert_err(
        mpm_list_set_slice(l, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, -1), MPM_LIST(items, 3)),
        MPM_EVALUE, "ValueError: attempt to assign sequence of size 3 to extended slice of size 4");
    assert_repr(l, "[1, 2, 3, 4]");
    mpm_manager_shutdown(m);
}

Test(list, set_slice_with_non_list_is_typeerror, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 3);
    assert_err(mpm_list_set_slice(l, MPM_SLICE(0, 1), MPM_STR("ab")), MPM_ETYPE,
               "TypeError: slice assignment needs an MPM_T_LIST value");
    assert_repr(l, "[0, 1, 2]");
    mpm_manager_shutdown(m);
}

Test(list, del_slice_removes_selected_items, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 10);
    cr_assert_eq(mpm_list_del_slice(l, MPM_SLICE(2, 5)), 0);
    assert_repr(l, "[0, 1, 5, 6, 7, 8, 9]");
    cr_assert_eq(mpm_list_del_slice(l, MPM_SLICE(5, 2)), 0);
    cr_assert_eq(mpm_list_del_slice(l, MPM_SLICE(100, MPM_NIL_INDEX)), 0);
    assert_repr(l, "[0, 1, 5, 6, 7, 8, 9]");
    mpm_list_close(l);

    l = list_range(m, 0, 10);
    cr_assert_eq(mpm_list_del_slice(l, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, 2)), 0);
    assert_repr(l, "[1, 3, 5, 7, 9]");
    cr_assert_eq(mpm_list_del_slice(l, MPM_SLICE(MPM_NIL_INDEX, MPM_NIL_INDEX)), 0);
    assert_repr(l, "[]");
    mpm_manager_shutdown(m);
}

Test(list, del_slice_with_negative_step, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 10);
    cr_assert_eq(mpm_list_del_slice(l, MPM_SLICE3(MPM_NIL_INDEX, MPM_NIL_INDEX, -3)), 0);
    assert_repr(l, "[1, 2, 4, 5, 7, 8]");
    mpm_list_close(l);

    l = list_range(m, 0, 10);
    cr_assert_eq(mpm_list_del_slice(l, MPM_SLICE3(-2, -8, -2)), 0);
    assert_repr(l, "[0, 1, 2, 3, 5, 7, 9]");
    mpm_manager_shutdown(m);
}

/*---- growing -------------------------------------------------------------------*/

Test(list, append_adds_at_the_end, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = NULL;
    cr_assert_eq(mpm_list_new(m, &l), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(mpm_list_append(l, MPM_INT(i)), 0);
    cr_assert_eq(mpm_list_append(l, MPM_STR("end")), 0);
    assert_len(l, 101);
    mpm_val *v = NULL;
    cr_assert_eq(mpm_list_get(l, -1, &v), 0);
    assert_val(v, "'end'");
    cr_assert_eq(mpm_list_get(l, 57, &v), 0);
    assert_val(v, "57");
    mpm_manager_shutdown(m);
}

Test(list, extend_adds_every_item, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val items[] = {MPM_STR("x"), MPM_FLOAT(2.5), MPM_NONE};
    mpm_list *l = list_range(m, 0, 2);
    cr_assert_eq(mpm_list_extend(l, MPM_LIST(items, 3)), 0);
    cr_assert_eq(mpm_list_extend(l, MPM_LIST(NULL, 0)), 0);
    assert_repr(l, "[0, 1, 'x', 2.5, None]");
    assert_err(mpm_list_extend(l, MPM_INT(3)), MPM_ETYPE,
               "TypeError: extend needs an MPM_T_LIST value");
    assert_repr(l, "[0, 1, 'x', 2.5, None]");
    mpm_manager_shutdown(m);
}

Test(list, extend_from_copies_another_list, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *a = list_range(m, 0, 3);
    mpm_list *b = list_range(m, 10, 12);
    cr_assert_eq(mpm_list_extend_from(a, b), 0);
    assert_repr(a, "[0, 1, 2, 10, 11]");
    assert_repr(b, "[10, 11]");
    /* a copy, not a link */
    cr_assert_eq(mpm_list_append(b, MPM_INT(12)), 0);
    assert_repr(a, "[0, 1, 2, 10, 11]");
    mpm_manager_shutdown(m);
}

Test(list, extend_from_self_doubles_the_list, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 1, 4);
    cr_assert_eq(mpm_list_extend_from(l, l), 0);
    assert_repr(l, "[1, 2, 3, 1, 2, 3]");
    cr_assert_eq(mpm_list_extend_from(l, l), 0);
    assert_len(l, 12);
    mpm_list *e = NULL;
    cr_assert_eq(mpm_list_new(m, &e), 0);
    cr_assert_eq(mpm_list_extend_from(e, e), 0);
    assert_repr(e, "[]");
    mpm_manager_shutdown(m);
}

Test(list, extend_from_a_non_list_is_typeerror, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 2);
    mpm_dict *d = NULL;
    cr_assert_eq(mpm_dict_new(m, &d), 0);
    /* the server checks the other object's type whatever the handle says */
    assert_err(mpm_list_extend_from(l, (mpm_list *)d), MPM_ETYPE,
               "TypeError: expected a list, got a dict");
    cr_assert_eq(mpm_list_extend_from(l, NULL), MPM_EINVAL);
    assert_repr(l, "[0, 1]");
    mpm_manager_shutdown(m);
}

Test(list, insert_clips_the_position_like_python, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 1, 3);
    cr_assert_eq(mpm_list_insert(l, -10, MPM_STR("a")), 0);
    cr_assert_eq(mpm_list_insert(l, 10, MPM_STR("b")), 0);
    cr_assert_eq(mpm_list_insert(l, -1, MPM_STR("c")), 0);
    cr_assert_eq(mpm_list_insert(l, 1, MPM_STR("d")), 0);
    cr_assert_eq(mpm_list_insert(l, INT64_MAX, MPM_STR("e")), 0);
    cr_assert_eq(mpm_list_insert(l, INT64_MIN, MPM_STR("f")), 0);
    assert_repr(l, "['f', 'a', 'd', 1, 2, 'c', 'b', 'e']");
    mpm_list *e = NULL;
    cr_assert_eq(mpm_list_new(m, &e), 0);
    cr_assert_eq(mpm_list_insert(e, 5, MPM_INT(1)), 0);
    assert_repr(e, "[1]");
    mpm_manager_shutdown(m);
}

/*---- shrinking -----------------------------------------------------------------*/

Test(list, pop_removes_and_returns_the_last_item, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 4);
    mpm_val *v = NULL;
    cr_assert_eq(mpm_list_pop(l, &v), 0);
    cr_assert_eq(v->type, MPM_T_INT);
    cr_assert_eq(v->v.i, 3);
    mpm_val_free(v);
    /* NULL out discards the item but still removes it */
    cr_assert_eq(mpm_list_pop(l, NULL), 0);
    assert_repr(l, "[0, 1]");
    mpm_manager_shutdown(m);
}

Test(list, pop_at_removes_the_given_item, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 5);
    mpm_val *v = NULL;
    cr_assert_eq(mpm_list_pop_at(l, 1, &v), 0);
    assert_val(v, "1");
    cr_assert_eq(mpm_list_pop_at(l, -2, &v), 0);
    assert_val(v, "3");
    cr_assert_eq(mpm_list_pop_at(l, 0, NULL), 0);
    assert_repr(l, "[2, 4]");
    mpm_manager_shutdown(m);
}

Test(list, pop_from_empty_is_indexerror, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = NULL;
    cr_assert_eq(mpm_list_new(m, &l), 0);
    mpm_val *v = NULL;
    assert_err(mpm_list_pop(l, &v), MPM_EINDEX, "IndexError: pop from empty list");
    assert_err(mpm_list_pop_at(l, 0, &v), MPM_EINDEX, "IndexError: pop from empty list");
    cr_assert_null(v);
    mpm_manager_shutdown(m);
}

Test(list, pop_out_of_range_is_indexerror_and_changes_nothing, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 3);
    mpm_val *v = NULL;
    assert_err(mpm_list_pop_at(l, 3, &v), MPM_EINDEX, "IndexError: pop index out of range");
    assert_err(mpm_list_pop_at(l, -4, &v), MPM_EINDEX, "IndexError: pop index out of range");
    cr_assert_null(v);
    assert_repr(l, "[0, 1, 2]");
    mpm_manager_shutdown(m);
}

Test(list, remove_deletes_the_first_equal_item, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val items[] = {MPM_STR("a"), MPM_INT(1), MPM_STR("b"), MPM_INT(1)};
    mpm_list *l = list_from(m, items, 4);
    cr_assert_eq(mpm_list_remove(l, MPM_INT(1)), 0);
    assert_repr(l, "['a', 'b', 1]");
    /* 1.0 == 1 in Python */
    cr_assert_eq(mpm_list_remove(l, MPM_FLOAT(1.0)), 0);
    assert_repr(l, "['a', 'b']");
    mpm_manager_shutdown(m);
}

Test(list, remove_missing_is_valueerror, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 3);
    assert_err(mpm_list_remove(l, MPM_INT(5)), MPM_EVALUE,
               "ValueError: list.remove(x): x not in list");
    assert_err(mpm_list_remove(l, MPM_STR("0")), MPM_EVALUE,
               "ValueError: list.remove(x): x not in list");
    assert_repr(l, "[0, 1, 2]");
    mpm_manager_shutdown(m);
}

Test(list, imul_repeats_the_items, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val items[] = {MPM_INT(1), MPM_STR("x")};
    mpm_list *l = list_from(m, items, 2);
    cr_assert_eq(mpm_list_imul(l, 1), 0);
    assert_repr(l, "[1, 'x']");
    cr_assert_eq(mpm_list_imul(l, 3), 0);
    assert_repr(l, "[1, 'x', 1, 'x', 1, 'x']");
    mpm_list *e = NULL;
    cr_assert_eq(mpm_list_new(m, &e), 0);
    cr_assert_eq(mpm_list_imul(e, 1000000), 0);
    assert_repr(e, "[]");
    mpm_manager_shutdown(m);
}

Test(list, imul_by_zero_or_negative_empties, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *a = list_range(m, 0, 5);
    mpm_list *b = list_range(m, 0, 5);
    cr_assert_eq(mpm_list_imul(a, 0), 0);
    cr_assert_eq(mpm_list_imul(b, -3), 0);
    assert_repr(a, "[]");
    assert_repr(b, "[]");
    /* still usable afterwards */
    cr_assert_eq(mpm_list_append(a, MPM_INT(7)), 0);
    assert_repr(a, "[7]");
    mpm_manager_shutdown(m);
}

Test(list, imul_beyond_memory_is_memoryerror_and_changes_nothing, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 3);
    cr_assert_eq(mpm_list_imul(l, INT64_MAX), MPM_ENOMEM);
    assert_repr(l, "[0, 1, 2]");
    mpm_manager_shutdown(m);
}

/*---- searching -----------------------------------------------------------------*/

Test(list, index_finds_the_first_equal_item, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val items[] = {MPM_STR("a"), MPM_INT(2), MPM_STR("b"), MPM_INT(2)};
    mpm_list *l = list_from(m, items, 4);
    size_t i = 99;
    cr_assert_eq(mpm_list_index(l, MPM_INT(2), &i), 0);
    cr_assert_eq(i, 1);
    cr_assert_eq(mpm_list_index(l, MPM_FLOAT(2.0), &i), 0);
    cr_assert_eq(i, 1);
    cr_assert_eq(mpm_list_index(l, MPM_STR("b"), &i), 0);
    cr_assert_eq(i, 2);
    mpm_manager_shutdown(m);
}

Test(list, index_missing_is_valueerror_with_repr, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 3);
    size_t i = 99;
    assert_err(mpm_list_index(l, MPM_INT(5), &i), MPM_EVALUE, "ValueError: 5 is not in list");
    assert_err(mpm_list_index(l, MPM_STR("x"), &i), MPM_EVALUE, "ValueError: 'x' is not in list");
    assert_err(mpm_list_index(l, MPM_NONE, &i), MPM_EVALUE, "ValueError: None is not in list");
    cr_assert_eq(i, 99);
    mpm_manager_shutdown(m);
}

Test(list, index_range_clips_start_and_stop_like_python, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val items[] = {MPM_INT(1), MPM_INT(2), MPM_INT(3), MPM_INT(2), MPM_INT(1)};
    mpm_list *l = list_from(m, items, 5);
    size_t i = 99;
    cr_assert_eq(mpm_list_index_range(l, MPM_INT(1), -2, MPM_NIL_INDEX, &i), 0);
    cr_assert_eq(i, 4);
    cr_assert_eq(mpm_list_index_range(l, MPM_INT(2), 2, MPM_NIL_INDEX, &i), 0);
    cr_assert_eq(i, 3);
    cr_assert_eq(mpm_list_index_range(l, MPM_INT(2), MPM_NIL_INDEX, 2, &i), 0);
    cr_assert_eq(i, 1);
    cr_assert_eq(mpm_list_index_range(l, MPM_INT(1), -100, 100, &i), 0);
    cr_assert_eq(i, 0);
    cr_assert_eq(mpm_list_index_range(l, MPM_INT(1), MPM_NIL_INDEX, MPM_NIL_INDEX, &i), 0);
    cr_assert_eq(i, 0);
    assert_err(mpm_list_index_range(l, MPM_INT(1), 1, -1, &i), MPM_EVALUE,
               "ValueError: 1 is not in list");
    assert_err(mpm_list_index_range(l, MPM_INT(3), 3, 1, &i), MPM_EVALUE,
               "ValueError: 3 is not in list");
    assert_err(mpm_list_index_range(l, MPM_INT(1), 10, MPM_NIL_INDEX, &i), MPM_EVALUE,
               "ValueError: 1 is not in list");
    mpm_manager_shutdown(m);
}

Test(list, count_counts_items_python_calls_equal, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val items[] = {MPM_INT(1), MPM_FLOAT(1.0), MPM_BOOL(true), MPM_STR("1"), MPM_INT(2)};
    mpm_list *l = list_from(m, items, 5);
    size_t n = 99;
    cr_assert_eq(mpm_list_count(l, MPM_INT(1), &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(mpm_list_count(l, MPM_STR("1"), &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(mpm_list_count(l, MPM_NONE, &n), 0);
    cr_assert_eq(n, 0);
    mpm_manager_shutdown(m);
}

Test(list, len_and_contains, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val inner[] = {MPM_INT(1), MPM_INT(2)};
    mpm_val items[] = {MPM_INT(1), MPM_STR("a"), MPM_LIST(inner, 2), MPM_NONE};
    mpm_list *l = list_from(m, items, 4);
    bool in = false;
    assert_len(l, 4);
    cr_assert_eq(mpm_list_contains(l, MPM_FLOAT(1.0), &in), 0);
    cr_assert(in);
    cr_assert_eq(mpm_list_contains(l, MPM_LIST(inner, 2), &in), 0);
    cr_assert(in);
    cr_assert_eq(mpm_list_contains(l, MPM_NONE, &in), 0);
    cr_assert(in);
    cr_assert_eq(mpm_list_contains(l, MPM_STR("z"), &in), 0);
    cr_assert_not(in);
    cr_assert_eq(mpm_list_contains(l, MPM_LIST(inner, 1), &in), 0);
    cr_assert_not(in);
    mpm_manager_shutdown(m);
}

/*---- ordering ------------------------------------------------------------------*/

Test(list, sort_orders_numbers_strings_and_lists, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val nums[] = {MPM_INT(3), MPM_FLOAT(1.5), MPM_INT(-2), MPM_BOOL(true), MPM_FLOAT(2.25)};
    mpm_val strs[] = {MPM_STR("b"), MPM_STR("a"), MPM_STR("ab"), MPM_STR(""), MPM_STR("B")};
    mpm_val l1[] = {MPM_INT(2), MPM_STR("b")}, l2[] = {MPM_INT(1), MPM_STR("z")},
            l3[] = {MPM_INT(2), MPM_STR("a")};
    mpm_val lists[] = {MPM_LIST(l1, 2), MPM_LIST(l2, 2), MPM_LIST(l3, 2)};
    mpm_list *a = list_from(m, nums, 5);
    mpm_list *b = list_from(m, strs, 5);
    mpm_list *c = list_from(m, lists, 3);
    cr_assert_eq(mpm_list_sort(a, false), 0);
    cr_assert_eq(mpm_list_sort(b, false), 0);
    cr_assert_eq(mpm_list_sort(c, false), 0);
    assert_repr(a, "[-2, True, 1.5, 2.25, 3]");
    assert_repr(b, "['', 'B', 'a', 'ab', 'b']");
    assert_repr(c, "[[1, 'z'], [2, 'a'], [2, 'b']]");
    mpm_manager_shutdown(m);
}

Test(list, sort_reverse_orders_descending, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val items[] = {MPM_INT(3), MPM_INT(1), MPM_INT(2), MPM_FLOAT(2.5)};
    mpm_list *l = list_from(m, items, 4);
    cr_assert_eq(mpm_list_sort(l, true), 0);
    assert_repr(l, "[3, 2.5, 2, 1]");
    mpm_manager_shutdown(m);
}

Test(list, sort_is_stable_both_ways, .timeout = 20)
{
    mpm_manager *m = list_start();
    /* 1, 1.0 and True are equal but print differently */
    mpm_val items[] = {MPM_FLOAT(1.0), MPM_BOOL(true),  MPM_INT(1),
                       MPM_INT(0),     MPM_BOOL(false), MPM_FLOAT(0.0)};
    mpm_list *a = list_from(m, items, 6);
    mpm_list *b = list_from(m, items, 6);
    cr_assert_eq(mpm_list_sort(a, false), 0);
    cr_assert_eq(mpm_list_sort(b, true), 0);
    assert_repr(a, "[0, False, 0.0, 1.0, True, 1]");
    assert_repr(b, "[1.0, True, 1, 0, False, 0.0]");
    mpm_manager_shutdown(m);
}

/* repr of n items keyed (i * 7919) % 10, alternately int and float, sorted
 * stably by key (descending when reverse). */
static char *list_stable_expect(int n, bool reverse)
{
    size_t cap = (size_t)n * 8 + 8, len = 0;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    s[len++] = '[';
    for (int k = 0; k < 10; k++) {
        int key = reverse ? 9 - k : k;
        for (int i = 0; i < n; i++) {
            if ((i * 7919) % 10 != key) continue;
            if (len > 1) len += (size_t)sprintf(s + len, ", ");
            len += (size_t)sprintf(s + len, i % 2 ? "%d.0" : "%d", key);
        }
    }
    sprintf(s + len, "]");
    return s;
}

Test(list, sort_is_stable_on_long_lists, .timeout = 20)
{
    mpm_manager *m = list_start();
    enum { N = 500 };
    mpm_val *items = malloc(N * sizeof *items);
    cr_assert_not_null(items);
    for (int i = 0; i < N; i++) {
        int key = (i * 7919) % 10;
        items[i] = i % 2 ? MPM_FLOAT(key) : MPM_INT(key);
    }
    mpm_list *a = list_from(m, items, N);
    mpm_list *b = list_from(m, items, N);
    free(items);
    cr_assert_eq(mpm_list_sort(a, false), 0);
    cr_assert_eq(mpm_list_sort(b, true), 0);
    char *want = list_stable_expect(N, false);
    assert_repr(a, want);
    free(want);
    want = list_stable_expect(N, true);
    assert_repr(b, want);
    free(want);
    mpm_manager_shutdown(m);
}

Test(list, sort_orders_a_long_shuffled_list, .timeout = 20)
{
    mpm_manager *m = list_start();
    enum { N = 3000 };
    mpm_list *l = NULL;
    cr_assert_eq(mpm_list_new(m, &l), 0);
    mpm_val *items = malloc(N * sizeof *items);
    cr_assert_not_null(items);
    for (int i = 0; i < N; i++)
        items[i] = MPM_INT((i * 7919) % N); /* a permutation */
    cr_assert_eq(mpm_list_extend(l, MPM_LIST(items, N)), 0);
    free(items);
    cr_assert_eq(mpm_list_sort(l, false), 0);
    mpm_val *v = NULL;
    cr_assert_eq(mpm_list_copy(l, &v), 0);
    cr_assert_eq(v->v.list.len, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(v->v.list.items[i].v.i, i);
    mpm_val_free(v);
    mpm_manager_shutdown(m);
}

/* Sorting items fails with msg, and leaves the list as it was. */
static void assert_sort_fails(mpm_manager *m, const mpm_val *items, size_t n, bool reverse,
                              const char *msg)
{
    mpm_list *l = list_from(m, items, n);
    char *before = NULL;
    cr_assert_eq(mpm_list_repr(l, &before), 0);
    assert_err(mpm_list_sort(l, reverse), MPM_ETYPE, msg);
    assert_repr(l, before);
    free(before);
    mpm_list_close(l);
}

Test(list, sort_of_unorderable_items_is_typeerror_and_changes_nothing, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val a[] = {MPM_INT(3), MPM_INT(1), MPM_STR("a")};
    mpm_val b[] = {MPM_STR("a"), MPM_INT(1)};
    mpm_val c[] = {MPM_INT(1), MPM_INT(2), MPM_INT(3), MPM_STR("a"), MPM_FLOAT(2.5)};
    mpm_val d[] = {MPM_NONE, MPM_NONE};
    mpm_val e[] = {MPM_INT(1), MPM_NONE};
    mpm_val x1[] = {MPM_INT(1)}, x2[] = {MPM_STR("a")};
    mpm_val f[] = {MPM_LIST(x1, 1), MPM_LIST(x2, 1)};
    mpm_pair p[] = {{MPM_INT(1), MPM_INT(2)}};
    mpm_val g[] = {MPM_DICT(p, 1), MPM_DICT(p, 1)};
    assert_sort_fails(m, a, 3, false,
                      "TypeError: '<' not supported between instances of 'str' and 'int'");
    assert_sort_fails(m, b, 2, false,
                      "TypeError: '<' not supported between instances of 'int' and 'str'");
    /* reverse=True sorts the reversed list, so the pair comes the other way */
    assert_sort_fails(m, b + 0, 2, true,
                      "TypeError: '<' not supported between instances of 'str' and 'int'");
    assert_sort_fails(m, c, 5, true,
                      "TypeError: '<' not supported between instances of 'str' and 'float'");
    assert_sort_fails(m, d, 2, false,
                      "TypeError: '<' not supported between instances of 'NoneType' and "
                      "'NoneType'");
    assert_sort_fails(m, e, 2, false,
                      "TypeError: '<' not supported between instances of 'NoneType' and 'int'");
    /* lists compare their first unequal items */
    assert_sort_fails(m, f, 2, false,
                      "TypeError: '<' not supported between instances of 'str' and 'int'");
    assert_sort_fails(m, g, 2, false,
                      "TypeError: '<' not supported between instances of 'dict' and 'dict'");
    mpm_manager_shutdown(m);
}

Test(list, sort_failing_late_in_a_long_list_changes_nothing, .timeout = 20)
{
    mpm_manager *m = list_start();
    enum { N = 300 };
    mpm_val *items = malloc(N * sizeof *items);
    cr_assert_not_null(items);
    for (int i = 0; i < N - 1; i++)
        items[i] = MPM_INT(N - i);
    items[N - 1] = MPM_STR("late");
    mpm_list *l = list_from(m, items, N);
    free(items);
    char *before = NULL;
    cr_assert_eq(mpm_list_repr(l, &before), 0);
    cr_assert_eq(mpm_list_sort(l, false), MPM_ETYPE);
    cr_assert(strstr(mpm_last_error(), "TypeError: '<' not supported") == mpm_last_error());
    assert_repr(l, before);
    free(before);
    mpm_manager_shutdown(m);
}

Test(list, reverse_reverses_in_place, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 5);
    cr_assert_eq(mpm_list_reverse(l), 0);
    assert_repr(l, "[4, 3, 2, 1, 0]");
    mpm_list *e = NULL;
    cr_assert_eq(mpm_list_new(m, &e), 0);
    cr_assert_eq(mpm_list_reverse(e), 0);
    assert_repr(e, "[]");
    mpm_manager_shutdown(m);
}

/*---- snapshots and printing ------------------------------------------------------*/

Test(list, copy_is_a_snapshot, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val inner[] = {MPM_INT(1), MPM_STR("a")};
    mpm_val items[] = {MPM_STR("s"), MPM_LIST(inner, 2), MPM_FLOAT(0.25)};
    mpm_list *l = list_from(m, items, 3);
    mpm_val *v = NULL;
    cr_assert_eq(mpm_list_copy(l, &v), 0);
    cr_assert_eq(mpm_list_append(l, MPM_INT(9)), 0);
    cr_assert_eq(v->type, MPM_T_LIST);
    cr_assert_eq(v->v.list.len, 3);
    cr_assert_eq(v->v.list.items[0].type, MPM_T_STR);
    cr_assert_str_eq(v->v.list.items[0].v.str.ptr, "s");
    cr_assert_eq(v->v.list.items[1].type, MPM_T_LIST);
    cr_assert_eq(v->v.list.items[1].v.list.len, 2);
    cr_assert_eq(v->v.list.items[2].v.f, 0.25);
    mpm_val_free(v);
    mpm_manager_shutdown(m);
}

Test(list, nested_values_come_back_whole, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_val inner[] = {MPM_INT(1), MPM_STR("a")};
    mpm_pair pairs[] = {{MPM_STR("k"), MPM_NONE}};
    mpm_list *l = NULL;
    cr_assert_eq(mpm_list_new(m, &l), 0);
    cr_assert_eq(mpm_list_append(l, MPM_LIST(inner, 2)), 0);
    cr_assert_eq(mpm_list_append(l, MPM_DICT(pairs, 1)), 0);
    assert_repr(l, "[[1, 'a'], {'k': None}]");
    mpm_val *v = NULL;
    cr_assert_eq(mpm_list_get(l, 0, &v), 0);
    cr_assert_eq(v->type, MPM_T_LIST);
    assert_val(v, "[1, 'a']");
    cr_assert_eq(mpm_list_get(l, 1, &v), 0);
    cr_assert_eq(v->type, MPM_T_DICT);
    assert_val(v, "{'k': None}");
    mpm_manager_shutdown(m);
}

Test(list, print_writes_the_repr_and_a_newline, .timeout = 20, .init = cr_redirect_stdout)
{
    mpm_manager *m = list_start();
    mpm_val items[] = {MPM_INT(1), MPM_STR("a"), MPM_NONE};
    mpm_list *l = list_from(m, items, 3);
    cr_assert_eq(mpm_list_print(l), 0);
    mpm_manager_shutdown(m);
    fflush(stdout);
    cr_assert_stdout_eq_str("[1, 'a', None]\n");
}

Test(list, calls_queue_in_a_batch, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = list_range(m, 0, 2);
    mpm_val *v = NULL;
    size_t n = 0;
    int codes[4];
    cr_assert_eq(mpm_batch_begin(m), 0);
    cr_assert_eq(mpm_list_append(l, MPM_INT(2)), 0);
    cr_assert_eq(mpm_list_get(l, 10, &v), 0);
    cr_assert_eq(mpm_list_pop(l, &v), 0);
    cr_assert_eq(mpm_list_len(l, &n), 0);
    cr_assert_eq(mpm_batch_exec(m, codes, 4), MPM_EINDEX);
    cr_assert_eq(codes[0], 0);
    cr_assert_eq(codes[1], MPM_EINDEX);
    cr_assert_eq(codes[2], 0);
    cr_assert_eq(codes[3], 0);
    assert_val(v, "2");
    cr_assert_eq(n, 2);
    mpm_manager_shutdown(m);
}

/*---- processes -----------------------------------------------------------------*/

enum { LIST_CHILDREN = 4, LIST_PER_CHILD = 500 };

Test(list, forked_children_append_concurrently, .timeout = 20)
{
    mpm_manager *m = list_start();
    mpm_list *l = NULL;
    cr_assert_eq(mpm_list_new(m, &l), 0);
    pid_t pids[LIST_CHILDREN];
    for (int c = 0; c < LIST_CHILDREN; c++) {
        pids[c] = fork();
        cr_assert_neq(pids[c], -1);
        if (pids[c] == 0) {
            /* the child uses the inherited handle as it is */
            for (int i = 0; i < LIST_PER_CHILD; i++)
                if (mpm_list_append(l, MPM_INT(c * 100000 + i))) _exit(1);
            _exit(0);
        }
    }
    for (int c = 0; c < LIST_CHILDREN; c++) {
        int status = 0;
        cr_assert_eq(waitpid(pids[c], &status, 0), pids[c]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed", c);
    }
    assert_len(l, LIST_CHILDREN * LIST_PER_CHILD);
    mpm_val *v = NULL;
    cr_assert_eq(mpm_list_copy(l, &v), 0);
    /* every child's items are all there, in the order it appended them */
    int next[LIST_CHILDREN] = {0};
    for (size_t k = 0; k < v->v.list.len; k++) {
        int64_t x = v->v.list.items[k].v.i;
        int c = (int)(x / 100000), i = (int)(x % 100000);
        cr_assert(c >= 0 && c < LIST_CHILDREN, "stray item %lld", (long long)x);
        cr_assert_eq(i, next[c], "child %d: item %d out of order", c, i);
        next[c]++;
    }
    for (int c = 0; c < LIST_CHILDREN; c++)
        cr_assert_eq(next[c], LIST_PER_CHILD);
    mpm_val_free(v);
    mpm_manager_shutdown(m);
}
