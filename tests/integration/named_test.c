/* named_test.c - named objects, references stored in values (nested
 * proxies), handle tokens, the environment a private manager exports, and the
 * manager's introspection: across real processes, exec included. */
#include <criterion/criterion.h>
#include <mpm/mpm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/support.h"

static mpm_manager *m;

static void start(void)
{
    T_OK(mpm_manager_start(&m, NULL));
}

static void stop(void)
{
    mpm_manager_shutdown(m);
    m = NULL;
}

TestSuite(named, .init = start, .fini = stop, .timeout = 60);

static size_t nobjects(void)
{
    size_t n = 0;
    T_OK(mpm_manager_object_count(m, &n));
    return n;
}

/* Poll until the server holds want objects (references are traced, and an
 * object that left its last container lives on for the 1 s grace). */
static void expect_count_within(size_t want, int ms)
{
    int64_t end = t_now_ms() + ms;
    size_t n;
    while ((n = nobjects()) != want && t_now_ms() < end) t_sleep_ms(20);
    cr_assert_eq(n, want, "%zu objects, want %zu", n, want);
}

/* Children report by exit status: 0 = fine, else the failing step. */
#define CHILD_OK(expr, step)                                                                       \
    do {                                                                                           \
        if ((expr) != 0) _exit(step);                                                              \
    } while (0)

/*---- named objects -------------------------------------------------------------*/

Test(named, open_creates_once_then_opens)
{
    mpm_dict *a, *b;
    bool created = false;
    T_OK(mpm_open(m, "cfg", MPM_OBJ_DICT, NULL, 0, (void **)&a, &created));
    cr_assert(created);
    T_OK(mpm_open(m, "cfg", MPM_OBJ_DICT, NULL, 0, (void **)&b, &created));
    cr_assert_not(created, "the second open created another object");
    cr_assert_eq(mpm_handle_id(a), mpm_handle_id(b));
    T_OK(mpm_dict_set(a, MPM_STR("k"), MPM_INT(7)));
    mpm_val *v;
    T_OK(mpm_dict_get(b, MPM_STR("k"), &v));
    cr_assert_eq(v->v.i, 7);
    mpm_val_free(v);
    mpm_dict_close(a);
    mpm_dict_close(b);
    /* a named object outlives its handles */
    cr_assert_eq(nobjects(), 1);
    mpm_dict *c;
    T_OK(mpm_dict_open(m, "cfg", &c));
    T_OK(mpm_dict_get(c, MPM_STR("k"), &v));
    cr_assert_eq(v->v.i, 7);
    mpm_val_free(v);
    mpm_dict_close(c);
}

Test(named, typed_opens_keep_type_and_creation_arguments)
{
    mpm_value *v, *v2;
    T_OK(mpm_value_open(m, "counter", 'q', MPM_INT(40), &v));
    cr_assert_eq(mpm_value_typecode(v), 'q');
    T_OK(mpm_value_open(m, "counter", 'i', MPM_INT(0), &v2)); /* exists: arguments ignored */
    cr_assert_eq(mpm_value_typecode(v2), 'q', "the typecode comes from the server");
    int64_t x;
    T_OK(mpm_value_add_int(v2, 2, &x));
    cr_assert_eq(x, 42);
    mpm_queue *q;
    T_OK(mpm_queue_open(m, "bounded", 1, &q));
    T_OK(mpm_queue_put(q, MPM_INT(1), 0));
    t_assert_err(mpm_queue_put(q, MPM_INT(2), 0), MPM_EFULL, "Full");
    mpm_array *arr;
    T_OK(mpm_array_open(m, "arr", 'd', 3, &arr));
    size_t n;
    T_OK(mpm_array_len(arr, &n));
    cr_assert_eq(n, 3);
    mpm_barrier *b;
    T_OK(mpm_barrier_open(m, "bar", 1, -1, &b));
    int64_t idx;
    T_OK(mpm_barrier_wait(b, MPM_BARRIER_DEFAULT, &idx));
    mpm_condition *cv;
    T_OK(mpm_condition_open(m, "cv", &cv));
    T_OK(mpm_condition_acquire(cv, -1));
    T_OK(mpm_condition_notify_all(cv));
    T_OK(mpm_condition_release(cv));
    mpm_semaphore *s;
    T_OK(mpm_semaphore_open(m, "sem", 1, true, &s));
    cr_assert_eq(mpm_semaphore_release(s, 1), MPM_EVALUE); /* bounded: over-release */
    mpm_lock *l;
    mpm_rlock *rl;
    mpm_event *e;
    mpm_list *li;
    mpm_namespace *ns;
    mpm_queue *jq;
    T_OK(mpm_lock_open(m, "lock", &l));
    T_OK(mpm_rlock_open(m, "rlock", &rl));
    T_OK(mpm_event_open(m, "event", &e));
    T_OK(mpm_list_open(m, "list", &li));
    T_OK(mpm_namespace_open(m, "ns", &ns));
    T_OK(mpm_joinable_queue_open(m, "jq", 0, &jq));
    int want[] = {MPM_OBJ_VALUE, MPM_OBJ_QUEUE, MPM_OBJ_ARRAY, MPM_OBJ_BARRIER,
                  MPM_OBJ_CONDITION, MPM_OBJ_BOUNDED_SEMAPHORE, MPM_OBJ_LOCK, MPM_OBJ_RLOCK,
                  MPM_OBJ_EVENT, MPM_OBJ_LIST, MPM_OBJ_NAMESPACE, MPM_OBJ_JOINABLE_QUEUE};
    void *hs[] = {v, q, arr, b, cv, s, l, rl, e, li, ns, jq};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        cr_assert_eq(mpm_handle_type(hs[i]), want[i], "handle %zu", i);
    mpm_val *names;
    T_OK(mpm_names(m, &names));
    char *r = mpm_val_repr(*names);
    cr_assert_str_eq(r, "{'arr': 'array', 'bar': 'Barrier', 'bounded': 'Queue', "
                        "'counter': 'Value', 'cv': 'Condition', 'event': 'Event', "
                        "'jq': 'JoinableQueue', 'list': 'list', 'lock': 'Lock', "
                        "'ns': 'Namespace', 'rlock': 'RLock', 'sem': 'BoundedSemaphore'}");
    free(r);
    mpm_val_free(names);
}

Test(named, wrong_type_missing_and_bad_names_are_errors)
{
    mpm_dict *d;
    mpm_list *l = (mpm_list *)&l;
    T_OK(mpm_dict_open(m, "jobs", &d));
    t_assert_err(mpm_list_open(m, "jobs", &l), MPM_ETYPE, "TypeError: 'jobs' is a dict, not a list");
    cr_assert_null(l);
    void *h = &h;
    t_assert_err(mpm_open(m, "nope", 0, NULL, 0, &h, NULL), MPM_EKEY, "KeyError: 'nope'");
    cr_assert_null(h);
    T_OK(mpm_open(m, "jobs", 0, NULL, 0, &h, NULL)); /* type 0: whatever it is */
    cr_assert_eq(mpm_handle_type(h), MPM_OBJ_DICT);
    char *r;
    T_OK(mpm_handle_repr(h, &r));
    cr_assert_str_eq(r, "{}");
    free(r);
    mpm_handle_close(h);
    cr_assert_eq(mpm_dict_open(m, "", &d), MPM_EVALUE);
    cr_assert_eq(mpm_dict_open(m, NULL, &d), MPM_EINVAL);
    char big[1100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cr_assert_eq(mpm_dict_open(m, big, &d), MPM_EVALUE);
    cr_assert_eq(mpm_open(m, "t", 999, NULL, 0, &h, NULL), MPM_EINVAL);
    cr_assert_eq(mpm_open(m, "t", 99, NULL, 0, &h, NULL), MPM_EVALUE);
    /* nothing was created by the failures */
    mpm_val *names;
    T_OK(mpm_names(m, &names));
    cr_assert_eq(names->v.dict.len, 1);
    mpm_val_free(names);
    cr_assert_eq(nobjects(), 1);
}

Test(named, delete_frees_the_name_and_then_the_object)
{
    mpm_list *a, *b;
    T_OK(mpm_list_open(m, "tmp", &a));
    T_OK(mpm_list_append(a, MPM_STR("old")));
    T_OK(mpm_name_delete(m, "tmp"));
    t_assert_err(mpm_name_delete(m, "tmp"), MPM_EKEY, "KeyError: 'tmp'");
    /* the old object lives while a handle holds it; the name is free */
    T_OK(mpm_list_append(a, MPM_STR("still here")));
    T_OK(mpm_list_open(m, "tmp", &b));
    cr_assert_neq(mpm_handle_id(a), mpm_handle_id(b));
    size_t n;
    T_OK(mpm_list_len(b, &n));
    cr_assert_eq(n, 0);
    cr_assert_eq(nobjects(), 2);
    mpm_list_close(a);
    cr_assert_eq(nobjects(), 1, "the deleted name's object outlived its last handle");
    mpm_list_close(b);
    cr_assert_eq(nobjects(), 1, "a named object died with its handle");
    T_OK(mpm_name_delete(m, "tmp"));
    cr_assert_eq(nobjects(), 0);
}

/* 8 processes open the same name at the same moment: one object. */
Test(named, open_race_makes_one_object)
{
    int gate[2];
    cr_assert_eq(pipe(gate), 0);
    pid_t kids[8];
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        cr_assert_neq(kids[i], -1);
        if (kids[i] == 0) {
            char c;
            close(gate[1]);
            if (read(gate[0], &c, 1) != 0) _exit(9); /* released by the close */
            mpm_queue *q;
            bool created;
            CHILD_OK(mpm_open(m, "race", MPM_OBJ_QUEUE, NULL, 0, (void **)&q, &created), 1);
            CHILD_OK(mpm_queue_put(q, MPM_INT(created ? 1000 + i : i), -1), 2);
            _exit(0);
        }
    }
    close(gate[0]);
    t_sleep_ms(100); /* every child is at the gate */
    close(gate[1]);
    for (int i = 0; i < 8; i++) cr_assert_eq(t_wait_child(kids[i]), 0, "child %d", i);
    mpm_queue *q;
    T_OK(mpm_queue_open(m, "race", 0, &q));
    size_t n;
    T_OK(mpm_queue_qsize(q, &n));
    cr_assert_eq(n, 8, "the 8 puts went to %zu", n);
    int creators = 0, seen = 0;
    for (int i = 0; i < 8; i++) {
        mpm_val *v;
        T_OK(mpm_queue_get(q, 0, &v));
        int64_t x = v->v.i;
        if (x >= 1000) {
            creators++;
            x -= 1000;
        }
        seen |= 1 << x;
        mpm_val_free(v);
    }
    cr_assert_eq(creators, 1, "%d processes created 'race'", creators);
    cr_assert_eq(seen, 0xff);
    cr_assert_eq(nobjects(), 1);
}

/*---- references stored in values ----------------------------------------------------*/

Test(named, nested_dict_is_shared_across_processes)
{
    mpm_dict *d, *inner;
    T_OK(mpm_dict_new(m, &d));
    T_OK(mpm_dict_new(m, &inner));
    uint64_t inner_id = mpm_handle_id(inner);
    T_OK(mpm_dict_set(d, MPM_STR("inner"), MPM_REF(inner)));
    mpm_dict_close(inner); /* d's reference keeps it */
    cr_assert_eq(nobjects(), 2);
    char *r;
    T_OK(mpm_dict_repr(d, &r));
    char want[128];
    snprintf(want, sizeof want, "{'inner': <DictProxy object, typeid 'dict', id %llu>}",
             (unsigned long long)inner_id);
    cr_assert_str_eq(r, want);
    free(r);

    pid_t p = fork();
    if (p == 0) { /* d['inner']['x'] = 1 */
        mpm_val *v;
        mpm_dict *in;
        CHILD_OK(mpm_dict_get(d, MPM_STR("inner"), &v), 1);
        if (v->type != MPM_T_REF || v->v.ref.type != MPM_OBJ_DICT) _exit(2);
        CHILD_OK(mpm_handle_from_val(m, *v, MPM_OBJ_DICT, (void **)&in), 3);
        CHILD_OK(mpm_dict_set(in, MPM_STR("x"), MPM_INT(1)), 4);
        _exit(0);
    }
    cr_assert_eq(t_wait_child(p), 0);
    mpm_val *v;
    T_OK(mpm_dict_get(d, MPM_STR("inner"), &v));
    cr_assert_eq(v->type, MPM_T_REF);
    cr_assert_eq(v->v.ref.id, inner_id);
    mpm_dict *in;
    T_OK(mpm_handle_from_val(m, *v, 0, (void **)&in));
    mpm_val_free(v);
    T_OK(mpm_dict_repr(in, &r));
    cr_assert_str_eq(r, "{'x': 1}");
    free(r);
    mpm_dict_close(in);
    /* values with references compare and copy like others */
    mpm_val *copy;
    T_OK(mpm_dict_copy(d, &copy));
    cr_assert_eq(copy->v.dict.items[0].value.type, MPM_T_REF);
    mpm_val_free(copy);
}

Test(named, queue_of_handles_reaches_another_process)
{
    mpm_queue *q;
    mpm_list *results;
    T_OK(mpm_queue_new(m, &q, 0));
    T_OK(mpm_list_new(m, &results));
    for (int i = 0; i < 3; i++) {
        mpm_list *l;
        T_OK(mpm_list_new(m, &l));
        T_OK(mpm_list_append(l, MPM_INT(i)));
        T_OK(mpm_queue_put(q, MPM_REF(l), 0));
        mpm_list_close(l); /* only the queue holds it now */
    }
    cr_assert_eq(nobjects(), 5);
    pid_t p = fork();
    if (p == 0) { /* take each list, append to it, hand it back through results */
        for (int i = 0; i < 3; i++) {
            mpm_val *v;
            mpm_list *l;
            CHILD_OK(mpm_queue_get(q, 2000, &v), 1);
            CHILD_OK(mpm_handle_from_val(m, *v, MPM_OBJ_LIST, (void **)&l), 2);
            CHILD_OK(mpm_list_append(l, MPM_STR("done")), 3);
            CHILD_OK(mpm_list_append(results, *v), 4);
            mpm_val_free(v);
            mpm_list_close(l);
        }
        _exit(0);
    }
    cr_assert_eq(t_wait_child(p), 0);
    mpm_val *all;
    T_OK(mpm_list_copy(results, &all));
    cr_assert_eq(all->v.list.len, 3);
    for (size_t i = 0; i < 3; i++) {
        mpm_list *l;
        T_OK(mpm_handle_from_val(m, all->v.list.items[i], MPM_OBJ_LIST, (void **)&l));
        char *r, want[32];
        T_OK(mpm_list_repr(l, &r));
        snprintf(want, sizeof want, "[%zu, 'done']", i);
        cr_assert_str_eq(r, want);
        free(r);
        mpm_list_close(l);
    }
    mpm_val_free(all);
    cr_assert_eq(nobjects(), 5);
    /* the results list goes, and with it the three lists */
    mpm_list_close(results);
    expect_count_within(1, 3000);
}

Test(named, objects_reached_only_by_references_are_freed_cycles_too)
{
    mpm_dict *outer, *a, *b;
    T_OK(mpm_dict_new(m, &outer));
    T_OK(mpm_dict_new(m, &a));
    T_OK(mpm_dict_new(m, &b));
    T_OK(mpm_dict_set(outer, MPM_STR("a"), MPM_REF(a)));
    /* a cycle: a -> b -> a */
    T_OK(mpm_dict_set(a, MPM_STR("b"), MPM_REF(b)));
    T_OK(mpm_dict_set(b, MPM_STR("a"), MPM_REF(a)));
    mpm_dict_close(a);
    mpm_dict_close(b);
    t_sleep_ms(1300); /* past the grace: reachable objects stay */
    cr_assert_eq(nobjects(), 3);
    /* the last reference from a root goes: the cycle is collected */
    T_OK(mpm_dict_del(outer, MPM_STR("a")));
    expect_count_within(1, 3000);
    mpm_stats st;
    T_OK(mpm_manager_stats(m, &st));
    cr_assert_eq(st.objects, 1);
    mpm_dict_close(outer);
    expect_count_within(0, 3000);
}

Test(named, a_reference_read_can_be_opened_within_the_grace)
{
    mpm_dict *d, *x;
    T_OK(mpm_dict_new(m, &d));
    T_OK(mpm_dict_new(m, &x));
    T_OK(mpm_dict_set(d, MPM_INT(1), MPM_REF(x)));
    mpm_dict_close(x);
    mpm_val *v;
    T_OK(mpm_dict_pop(d, MPM_INT(1), &v)); /* out of its last container */
    t_sleep_ms(200);
    T_OK(mpm_handle_from_val(m, *v, MPM_OBJ_DICT, (void **)&x));
    t_sleep_ms(1300);
    T_OK(mpm_dict_set(x, MPM_STR("alive"), MPM_BOOL(true)));
    mpm_dict_close(x);
    expect_count_within(1, 3000);
    /* now it is gone: opening the old reference says so */
    void *h;
    cr_assert_eq(mpm_handle_from_val(m, *v, 0, &h), MPM_ENOOBJ);
    mpm_val_free(v);
}

Test(named, named_roots_keep_what_they_reference)
{
    mpm_namespace *ns;
    mpm_lock *l;
    T_OK(mpm_namespace_open(m, "cfg", &ns));
    T_OK(mpm_lock_new(m, &l));
    T_OK(mpm_namespace_set(ns, "lock", MPM_REF(l)));
    mpm_lock_close(l);
    mpm_namespace_close(ns);
    t_sleep_ms(1300);
    cr_assert_eq(nobjects(), 2);
    T_OK(mpm_namespace_open(m, "cfg", &ns));
    mpm_val *v;
    T_OK(mpm_namespace_get(ns, "lock", &v));
    T_OK(mpm_handle_from_val(m, *v, MPM_OBJ_LOCK, (void **)&l));
    mpm_val_free(v);
    T_OK(mpm_lock_acquire(l, 0, NULL));
    T_OK(mpm_lock_release(l));
    mpm_lock_close(l);
    mpm_namespace_close(ns);
    T_OK(mpm_name_delete(m, "cfg"));
    expect_count_within(0, 3000);
}

Test(named, bad_references_are_refused_and_change_nothing)
{
    mpm_dict *d;
    mpm_list *l;
    T_OK(mpm_dict_new(m, &d));
    T_OK(mpm_list_new(m, &l));
    mpm_val fake = {.type = MPM_T_REF, .v.ref = {.id = 987654, .type = MPM_OBJ_DICT}};
    t_assert_err(mpm_dict_set(d, MPM_STR("k"), fake), MPM_ENOOBJ, "no object with id 987654");
    mpm_val liar = {.type = MPM_T_REF, .v.ref = {.id = mpm_handle_id(l), .type = MPM_OBJ_DICT}};
    cr_assert_eq(mpm_dict_set(d, MPM_STR("k"), liar), MPM_ETYPE);
    mpm_val items[2] = {MPM_INT(1), fake};
    cr_assert_eq(mpm_list_extend(l, MPM_LIST(items, 2)), MPM_ENOOBJ);
    size_t n;
    T_OK(mpm_dict_len(d, &n));
    cr_assert_eq(n, 0);
    T_OK(mpm_list_len(l, &n));
    cr_assert_eq(n, 0);
    mpm_val zero = {.type = MPM_T_REF};
    cr_assert_eq(mpm_dict_set(d, MPM_STR("k"), zero), MPM_EINVAL);
    void *h;
    cr_assert_eq(mpm_handle_from_val(m, MPM_INT(3), 0, &h), MPM_ETYPE);
    cr_assert_eq(mpm_handle_from_val(m, MPM_REF(l), MPM_OBJ_DICT, &h), MPM_ETYPE);
    T_OK(mpm_handle_from_val(m, MPM_REF(l), MPM_OBJ_LIST, &h));
    mpm_handle_close(h);
    /* a Value holds numbers only */
    mpm_value *v;
    T_OK(mpm_value_new(m, &v, 'i', MPM_INT(0)));
    cr_assert_eq(mpm_value_set(v, MPM_REF(l)), MPM_ETYPE);
}

/*---- tokens and exec ------------------------------------------------------------*/

/* The exec'd half of token_opens_in_an_execd_program: runs before Criterion's
 * main when this binary is started with MPM_TEST_TOKEN set. */
__attribute__((constructor)) static void token_child(void)
{
    const char *tok = getenv("MPM_TEST_TOKEN");
    if (!tok) return;
    mpm_manager *cm;
    mpm_queue *q;
    if (mpm_connect(&cm, NULL, NULL, 0)) _exit(11); /* MPM_ADDRESS, MPM_AUTHKEY */
    if (mpm_handle_from_token(cm, tok, MPM_OBJ_QUEUE, (void **)&q)) _exit(12);
    if (mpm_queue_put(q, MPM_STR("hello from exec"), -1)) _exit(13);
    mpm_manager_close(cm);
    _exit(0);
}

Test(named, token_opens_in_an_execd_program)
{
    cr_assert_str_eq(getenv("MPM_ADDRESS"), mpm_manager_address(m));
    cr_assert_not_null(getenv("MPM_AUTHKEY"));
    mpm_queue *q;
    T_OK(mpm_queue_new(m, &q, 0));
    char tok[MPM_TOKEN_MAX];
    T_OK(mpm_handle_token(q, tok, sizeof tok));
    cr_assert(strncmp(tok, "mpm1:Queue:", 11) == 0, "%s", tok);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(n, 0);
    self[n] = 0;
    pid_t p = fork();
    if (p == 0) {
        setenv("MPM_TEST_TOKEN", tok, 1);
        execl(self, self, (char *)NULL);
        _exit(127);
    }
    cr_assert_eq(t_wait_child(p), 0);
    mpm_val *v;
    T_OK(mpm_queue_get(q, 1000, &v));
    cr_assert_str_eq(v->v.str.ptr, "hello from exec");
    mpm_val_free(v);
}

Test(named, bad_stale_and_foreign_tokens_are_refused)
{
    mpm_dict *d;
    T_OK(mpm_dict_new(m, &d));
    char tok[MPM_TOKEN_MAX], small[8];
    cr_assert_eq(mpm_handle_token(d, small, sizeof small), MPM_EINVAL);
    T_OK(mpm_handle_token(d, tok, sizeof tok));
    void *h;
    T_OK(mpm_handle_from_token(m, tok, 0, &h));
    cr_assert_eq(mpm_handle_id(h), mpm_handle_id(d));
    mpm_handle_close(h);
    cr_assert_eq(mpm_handle_from_token(m, tok, MPM_OBJ_LIST, &h), MPM_ETYPE);
    const char *bad[] = {"", "mpm1", "mpm1:dict:x:00000000", "mpm2:dict:1:00000000",
                         "mpm1:dict:1:00000000:extra", "mpm1:Nothing:1:00000000",
                         "mpm1:dict:0:00000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(mpm_handle_from_token(m, bad[i], 0, &h), MPM_EVALUE, "%s", bad[i]);
    /* another server (or another run) refuses it */
    mpm_manager *other;
    mpm_start_opts o = {.no_env = true};
    T_OK(mpm_manager_start(&other, &o));
    t_assert_err(mpm_handle_from_token(other, tok, 0, &h), MPM_EVALUE,
                 "ValueError: the token is from another server (or an earlier run of this one)");
    mpm_manager_shutdown(other);
    cr_assert_str_eq(getenv("MPM_ADDRESS"), mpm_manager_address(m), "no_env changed the env");
    /* the object is gone */
    mpm_dict_close(d);
    cr_assert_eq(mpm_handle_from_token(m, tok, 0, &h), MPM_ENOOBJ);
}

/*---- introspection ---------------------------------------------------------------*/

Test(named, stats_objects_and_sessions)
{
    mpm_stats a, b;
    T_OK(mpm_manager_stats(m, &a));
    cr_assert_eq(a.objects, 0);
    cr_assert_eq(a.sessions, 1);
    cr_assert_gt(a.pid, 1);
    mpm_dict *d;
    T_OK(mpm_dict_open(m, "named", &d));
    mpm_list *l;
    T_OK(mpm_list_new(m, &l));
    T_OK(mpm_list_extend(l, MPM_LIST(((mpm_val[]){MPM_STR("0123456789"), MPM_INT(2)}), 2)));
    mpm_val *v;
    cr_assert_eq(mpm_dict_get(d, MPM_STR("missing"), &v), MPM_EKEY);
    cr_assert_eq(mpm_list_get(l, 9, &v), MPM_EINDEX);
    int gate[2];
    cr_assert_eq(pipe(gate), 0);
    pid_t p = fork();
    if (p == 0) { /* a second session while it waits */
        char c;
        close(gate[1]);
        CHILD_OK(mpm_ping(m), 1);
        if (read(gate[0], &c, 1) < 0) _exit(2);
        _exit(0);
    }
    close(gate[0]);
    size_t sessions = 0;
    int64_t end = t_now_ms() + 3000;
    while (sessions != 2 && t_now_ms() < end) {
        T_OK(mpm_manager_sessions(m, &sessions));
        if (sessions != 2) t_sleep_ms(10);
    }
    cr_assert_eq(sessions, 2);
    close(gate[1]);
    cr_assert_eq(t_wait_child(p), 0);
    T_OK(mpm_manager_stats(m, &b));
    cr_assert_eq(b.objects, 2);
    cr_assert_eq(b.named, 1);
    cr_assert_geq(b.calls, a.calls + 5);
    cr_assert_geq(b.errors, a.errors + 2);
    cr_assert_eq(b.errors_by_code[-MPM_EKEY], a.errors_by_code[-MPM_EKEY] + 1);
    cr_assert_eq(b.errors_by_code[-MPM_EINDEX], a.errors_by_code[-MPM_EINDEX] + 1);
    cr_assert_gt(b.bytes_in, a.bytes_in);
    cr_assert_gt(b.bytes_out, a.bytes_out);
    cr_assert_geq(b.sessions_total, 2);
    mpm_val *objs;
    T_OK(mpm_manager_objects(m, &objs));
    cr_assert_eq(objs->v.list.len, 2);
    char *r = mpm_val_repr(*objs);
    char want[256];
    snprintf(want, sizeof want,
             "[{'id': %llu, 'type': 'dict', 'name': 'named', 'refs': 2, 'size': ",
             (unsigned long long)mpm_handle_id(d));
    cr_assert(strncmp(r, want, strlen(want)) == 0, "%s", r);
    snprintf(want, sizeof want, "{'id': %llu, 'type': 'list', 'name': None, 'refs': 1, 'size': ",
             (unsigned long long)mpm_handle_id(l));
    cr_assert(strstr(r, want) != NULL, "%s", r);
    free(r);
    /* the list's size counts its items */
    const mpm_val *lo = &objs->v.list.items[1];
    cr_assert_gt(lo->v.dict.items[4].value.v.i, 20);
    mpm_val_free(objs);
    /* a parked call shows */
    mpm_queue *q;
    T_OK(mpm_queue_new(m, &q, 0));
    p = fork();
    if (p == 0) {
        mpm_val *x;
        _exit(mpm_queue_get(q, 3000, &x) == 0 ? 0 : 1);
    }
    end = t_now_ms() + 3000;
    do {
        T_OK(mpm_manager_stats(m, &b));
    } while (b.parked != 1 && t_now_ms() < end && (t_sleep_ms(10), 1));
    cr_assert_eq(b.parked, 1);
    T_OK(mpm_queue_put(q, MPM_NONE, 0));
    cr_assert_eq(t_wait_child(p), 0);
}

/* The collector's counters: an object kept only by a stored reference is
 * unheld; once the reference goes it is freed after the grace, and the
 * counters show the run and the object freed. */
Test(named, stats_show_unheld_objects_and_collections)
{
    mpm_stats a, b;
    mpm_dict *d, *x;
    T_OK(mpm_dict_new(m, &d));
    T_OK(mpm_dict_new(m, &x));
    T_OK(mpm_dict_set(d, MPM_INT(0), MPM_REF(x)));
    T_OK(mpm_manager_stats(m, &a));
    cr_assert_eq(a.unheld, 0);
    mpm_dict_close(x);
    T_OK(mpm_manager_stats(m, &a));
    cr_assert_eq(a.objects, 2);
    cr_assert_eq(a.unheld, 1, "x, kept by d's value only");
    T_OK(mpm_dict_del(d, MPM_INT(0)));
    int64_t end = t_now_ms() + 5000;
    do {
        T_OK(mpm_manager_stats(m, &b));
    } while (b.unheld != 0 && t_now_ms() < end && (t_sleep_ms(20), 1));
    cr_assert_eq(b.unheld, 0);
    cr_assert_eq(b.objects, 1);
    cr_assert_eq(b.gc_freed, a.gc_freed + 1);
    cr_assert_gt(b.gc_runs, a.gc_runs);
    mpm_dict_close(d);
}
