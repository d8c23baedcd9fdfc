/* namespace_test.c - mpm_namespace_*: attributes, Python's AttributeError,
 * dir() and repr. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mpm/mpm.h>

static mpm_manager *namespace_m;

static void namespace_setup(void)
{
    int rc = mpm_manager_start(&namespace_m, NULL);
    cr_assert_eq(rc, 0, "mpm_manager_start: %d %s", rc, mpm_last_error());
}

static void namespace_teardown(void)
{
    mpm_manager_shutdown(namespace_m);
    namespace_m = NULL;
}

TestSuite(namespace, .init = namespace_setup, .fini = namespace_teardown, .timeout = 20);

#define namespace_assert_err(expr, code, msg)                                                      \
    do {                                                                                           \
        int namespace_rc_ = (expr);                                                                \
        cr_assert_eq(namespace_rc_, (code), "%s: got %d (%s)", #expr, namespace_rc_,               \
                     mpm_last_error());                                                            \
        cr_assert_str_eq(mpm_last_error(), (msg), "%s", #expr);                                    \
    } while (0)

static mpm_namespace *namespace_new(void)
{
    mpm_namespace *ns = NULL;
    int rc = mpm_namespace_new(namespace_m, &ns);
    cr_assert_eq(rc, 0, "Namespace(): %d %s", rc, mpm_last_error());
    cr_assert_not_null(ns);
    return ns;
}

static void namespace_set(mpm_namespace *ns, const char *name, mpm_val v)
{
    int rc = mpm_namespace_set(ns, name, v);
    cr_assert_eq(rc, 0, "set %s: %d %s", name, rc, mpm_last_error());
}

/* ns.name == want */
static void namespace_assert_attr(mpm_namespace *ns, const char *name, mpm_val want)
{
    mpm_val *x = NULL;
    int rc = mpm_namespace_get(ns, name, &x);
    cr_assert_eq(rc, 0, "get %s: %d %s", name, rc, mpm_last_error());
    char *got = mpm_val_repr(*x), *exp = mpm_val_repr(want);
    cr_assert(mpm_val_eq(*x, want), "%s: got %s, want %s", name, got, exp);
    cr_assert_eq(x->type, want.type, "%s: got %s, want %s", name, got, exp);
    free(got);
    free(exp);
    mpm_val_free(x);
}

static void namespace_assert_repr(mpm_namespace *ns, const char *want)
{
    char *s = NULL;
    int rc = mpm_namespace_repr(ns, &s);
    cr_assert_eq(rc, 0, "repr: %d %s", rc, mpm_last_error());
    cr_assert_str_eq(s, want);
    free(s);
}

/* dir(ns) as one string, names joined by spaces. */
static void namespace_assert_dir(mpm_namespace *ns, const char *want)
{
    mpm_val *d = NULL;
    char buf[512] = "";
    int rc = mpm_namespace_dir(ns, &d);
    cr_assert_eq(rc, 0, "dir: %d %s", rc, mpm_last_error());
    cr_assert_eq(d->type, MPM_T_LIST);
    for (size_t i = 0; i < d->v.list.len; i++) {
        cr_assert_eq(d->v.list.items[i].type, MPM_T_STR);
        if (i) strcat(buf, " ");
        strncat(buf, d->v.list.items[i].v.str.ptr, sizeof buf - strlen(buf) - 2);
    }
    mpm_val_free(d);
    cr_assert_str_eq(buf, want);
}

static size_t namespace_objects(void)
{
    size_t n = 0;
    cr_assert_eq(mpm_manager_object_count(namespace_m, &n), 0);
    return n;
}

/*---- get, set, del -------------------------------------------------------------------*/

Test(namespace, set_then_get_returns_each_value)
{
    mpm_namespace *ns = namespace_new();
    mpm_val items[] = {MPM_INT(1), MPM_STR("two"), MPM_NONE};
    mpm_pair pairs[] = {{MPM_STR("k"), MPM_FLOAT(0.5)}};
    namespace_set(ns, "x", MPM_INT(1));
    namespace_set(ns, "name", MPM_STR("bob"));
    namespace_set(ns, "f", MPM_FLOAT(0.25));
    namespace_set(ns, "flag", MPM_BOOL(true));
    namespace_set(ns, "nothing", MPM_NONE);
    namespace_set(ns, "blob", MPM_BYTES("\0\1", 2));
    namespace_set(ns, "l", MPM_LIST(items, 3));
    namespace_set(ns, "d", MPM_DICT(pairs, 1));
    namespace_assert_attr(ns, "x", MPM_INT(1));
    namespace_assert_attr(ns, "name", MPM_STR("bob"));
    namespace_assert_attr(ns, "f", MPM_FLOAT(0.25));
    namespace_assert_attr(ns, "flag", MPM_BOOL(true));
    namespace_assert_attr(ns, "nothing", MPM_NONE);
    namespace_assert_attr(ns, "blob", MPM_BYTES("\0\1", 2));
    namespace_assert_attr(ns, "l", MPM_LIST(items, 3));
    namespace_assert_attr(ns, "d", MPM_DICT(pairs, 1));
    mpm_namespace_close(ns);
}

Test(namespace, set_replaces_an_existing_attribute)
{
    mpm_namespace *ns = namespace_new();
    namespace_set(ns, "a", MPM_INT(1));
    namespace_set(ns, "b", MPM_INT(2));
    namespace_set(ns, "a", MPM_STR("again"));
    namespace_assert_attr(ns, "a", MPM_STR("again"));
    namespace_assert_dir(ns, "a b");
    namespace_assert_repr(ns, "Namespace(a='again', b=2)");
    mpm_namespace_close(ns);
}

Test(namespace, get_missing_is_attributeerror)
{
    mpm_namespace *ns = namespace_new();
    mpm_val *x = NULL;
    namespace_assert_err(mpm_namespace_get(ns, "zz", &x), MPM_EATTR,
                         "AttributeError: 'Namespace' object has no attribute 'zz'");
    cr_assert_null(x);
    namespace_set(ns, "z", MPM_INT(1));
    namespace_assert_err(mpm_namespace_get(ns, "zz", &x), MPM_EATTR,
                         "AttributeError: 'Namespace' object has no attribute 'zz'");
    mpm_namespace_close(ns);
}

Test(namespace, del_removes_the_attribute)
{
    mpm_namespace *ns = namespace_new();
    namespace_set(ns, "a", MPM_INT(1));
    namespace_set(ns, "b", MPM_INT(2));
    namespace_set(ns, "c", MPM_INT(3));
    cr_assert_eq(mpm_namespace_del(ns, "b"), 0, "%s", mpm_last_error());
    mpm_val *x = NULL;
    namespace_assert_err(mpm_namespace_get(ns, "b", &x), MPM_EATTR,
                         "AttributeError: 'Namespace' object has no attribute 'b'");
    /* the others survive the removal, and the name can come back */
    namespace_assert_attr(ns, "a", MPM_INT(1));
    namespace_assert_attr(ns, "c", MPM_INT(3));
    namespace_set(ns, "b", MPM_INT(20));
    namespace_assert_attr(ns, "b", MPM_INT(20));
    namespace_assert_dir(ns, "a b c");
    mpm_namespace_close(ns);
}

Test(namespace, del_missing_is_attributeerror_and_changes_nothing)
{
    mpm_namespace *ns = namespace_new();
    namespace_set(ns, "a", MPM_INT(1));
    namespace_assert_err(mpm_namespace_del(ns, "zz"), MPM_EATTR,
                         "AttributeError: 'Namespace' object has no attribute 'zz'");
    namespace_assert_repr(ns, "Namespace(a=1)");
    cr_assert_eq(mpm_namespace_del(ns, "a"), 0);
    namespace_assert_err(mpm_namespace_del(ns, "a"), MPM_EATTR,
                         "AttributeError: 'Namespace' object has no attribute 'a'");
    mpm_namespace_close(ns);
}

Test(namespace, many_attributes_survive_growth_and_deletes)
{
    mpm_namespace *ns = namespace_new();
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "attr%d", i);
        namespace_set(ns, name, MPM_INT(i));
    }
    for (int i = 0; i < 300; i += 2) {
        snprintf(name, sizeof name, "attr%d", i);
        cr_assert_eq(mpm_namespace_del(ns, name), 0, "%s: %s", name, mpm_last_error());
    }
    for (int i = 0; i < 300; i++) {
        mpm_val *x = NULL;
        snprintf(name, sizeof name, "attr%d", i);
        int rc = mpm_namespace_get(ns, name, &x);
        if (i % 2) {
            cr_assert_eq(rc, 0, "%s: %s", name, mpm_last_error());
            cr_assert_eq(x->v.i, i);
        } else {
            cr_assert_eq(rc, MPM_EATTR, "%s", name);
        }
        mpm_val_free(x);
    }
    mpm_val *d = NULL;
    cr_assert_eq(mpm_namespace_dir(ns, &d), 0);
    cr_assert_eq(d->v.list.len, 150);
    mpm_val_free(d);
    mpm_namespace_close(ns);
}

/*---- names -----------------------------------------------------------------------------*/

Test(namespace, empty_name_is_valueerror_and_changes_nothing)
{
    mpm_namespace *ns = namespace_new();
    mpm_val *x = NULL;
    namespace_set(ns, "a", MPM_INT(1));
    namespace_assert_err(mpm_namespace_set(ns, "", MPM_INT(2)), MPM_EVALUE,
                         "ValueError: attribute name must not be empty");
    namespace_assert_err(mpm_namespace_get(ns, "", &x), MPM_EVALUE,
                         "ValueError: attribute name must not be empty");
    namespace_assert_err(mpm_namespace_del(ns, ""), MPM_EVALUE,
                         "ValueError: attribute name must not be empty");
    namespace_assert_dir(ns, "a");
    mpm_namespace_close(ns);
}

Test(namespace, null_name_is_einval)
{
    mpm_namespace *ns = namespace_new();
    mpm_val *x = NULL;
    cr_assert_eq(mpm_namespace_set(ns, NULL, MPM_INT(1)), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_get(ns, NULL, &x), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_del(ns, NULL), MPM_EINVAL);
    namespace_assert_dir(ns, "");
    mpm_namespace_close(ns);
}

Test(namespace, names_are_any_nonempty_text)
{
    mpm_namespace *ns = namespace_new();
    namespace_set(ns, "with space", MPM_INT(1));
    namespace_set(ns, "caf\xc3\xa9", MPM_INT(2));
    namespace_assert_attr(ns, "with space", MPM_INT(1));
    namespace_assert_attr(ns, "caf\xc3\xa9", MPM_INT(2));
    namespace_assert_dir(ns, "caf\xc3\xa9 with space");
    mpm_namespace_close(ns);
}

/*---- dir and repr ------------------------------------------------------------------------*/

Test(namespace, dir_lists_every_name_sorted)
{
    mpm_namespace *ns = namespace_new();
    namespace_assert_dir(ns, "");
    namespace_set(ns, "b", MPM_INT(1));
    namespace_set(ns, "a", MPM_INT(1));
    namespace_set(ns, "_c", MPM_INT(1));
    namespace_set(ns, "C", MPM_INT(1));
    namespace_set(ns, "ab", MPM_INT(1));
    /* Python: sorted(['b', 'a', '_c', 'C', 'ab']) */
    namespace_assert_dir(ns, "C _c a ab b");
    mpm_namespace_close(ns);
}

Test(namespace, repr_matches_python)
{
    mpm_namespace *ns = namespace_new();
    namespace_assert_repr(ns, "Namespace()");
    mpm_val items[] = {MPM_INT(1), MPM_STR("two"), MPM_NONE};
    namespace_set(ns, "b", MPM_INT(1));
    namespace_set(ns, "a", MPM_STR("x"));
    namespace_assert_repr(ns, "Namespace(a='x', b=1)");
    namespace_set(ns, "Z", MPM_LIST(items, 3));
    namespace_set(ns, "f", MPM_FLOAT(0.5));
    namespace_set(ns, "t", MPM_BOOL(true));
    namespace_set(ns, "a-b", MPM_INT(2));
    namespace_set(ns, "\xc3\xa9", MPM_INT(3));
    /* Python sorts the "name=value" strings, so a-b=2 precedes a='x' */
    namespace_assert_repr(
        ns, "Namespace(Z=[1, 'two', None], a-b=2, a='x', b=1, f=0.5, t=True, \xc3\xa9=3)");
    mpm_namespace_close(ns);
}

Test(namespace, repr_omits_underscore_names)
{
    mpm_namespace *ns = namespace_new();
    namespace_set(ns, "_hidden", MPM_INT(1));
    namespace_set(ns, "__dunder", MPM_INT(2));
    namespace_assert_repr(ns, "Namespace()");
    namespace_set(ns, "shown", MPM_INT(3));
    namespace_assert_repr(ns, "Namespace(shown=3)");
    /* hidden from repr only: still there */
    namespace_assert_attr(ns, "_hidden", MPM_INT(1));
    namespace_assert_dir(ns, "__dunder _hidden shown");
    mpm_namespace_close(ns);
}

/* Criterion runs this besides the suite's init */
static void namespace_redirect_stdout(void)
{
    cr_redirect_stdout();
}

Test(namespace, print_writes_repr_and_newline, .init = namespace_redirect_stdout)
{
    mpm_namespace *ns = namespace_new();
    namespace_set(ns, "a", MPM_INT(1));
    namespace_set(ns, "s", MPM_STR("it's"));
    cr_assert_eq(mpm_namespace_print(ns), 0);
    mpm_namespace_close(ns);
    fflush(stdout);
    cr_assert_stdout_eq_str("Namespace(a=1, s=\"it's\")\n");
}

/*---- handles and processes --------------------------------------------------------------*/

Test(namespace, null_handle_is_einval)
{
    mpm_val *x = NULL;
    char *s = NULL;
    cr_assert_eq(mpm_namespace_set(NULL, "a", MPM_INT(1)), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_get(NULL, "a", &x), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_del(NULL, "a"), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_dir(NULL, &x), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_repr(NULL, &s), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_print(NULL), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_new(NULL, (mpm_namespace **)&x), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_new(namespace_m, NULL), MPM_EINVAL);
    mpm_namespace_close(NULL);
}

Test(namespace, null_out_pointers_are_einval)
{
    mpm_namespace *ns = namespace_new();
    cr_assert_eq(mpm_namespace_get(ns, "a", NULL), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_dir(ns, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_namespace_repr(ns, NULL), MPM_EINVAL);
    mpm_namespace_close(ns);
}

Test(namespace, close_frees_the_object)
{
    size_t before = namespace_objects();
    mpm_namespace *ns = namespace_new();
    namespace_set(ns, "a", MPM_STR("x"));
    cr_assert_eq(namespace_objects(), before + 1);
    mpm_namespace_close(ns);
    cr_assert_eq(namespace_objects(), before);
}

Test(namespace, child_process_sets_what_the_parent_reads)
{
    mpm_namespace *ns = namespace_new();
    namespace_set(ns, "from_parent", MPM_INT(1));
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        mpm_val *x = NULL;
        if (mpm_namespace_get(ns, "from_parent", &x) || x->v.i != 1) _exit(1);
        mpm_val_free(x);
        if (mpm_namespace_set(ns, "from_child", MPM_STR("hi"))) _exit(2);
        if (mpm_namespace_del(ns, "from_parent")) _exit(3);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(p, &st, 0), p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    namespace_assert_repr(ns, "Namespace(from_child='hi')");
    mpm_namespace_close(ns);
}
