/* cli_test.c - the mpm command-line client against a real mpmd: every
 * command's exact output and exit status, usage errors, a wrong authkey, and
 * that what the CLI changes is what a C client sees (and the other way). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpm/mpm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/mpmd.h"
#include "support/support.h"

static const char KEY[] = "cli-test-key";

static char dir[64], url[128], keyfile[128], badkeyfile[128];
static char mpm_bin[PATH_MAX], mpmd_bin[PATH_MAX];
static pid_t srv_pid = -1;

/*---- paths ---------------------------------------------------------------------*/

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(content, f);
    fclose(f);
}

/*---- fixture: a standalone mpmd --------------------------------------------------*/

static void setup(void)
{
    unsetenv("MPM_ADDRESS");
    unsetenv("MPM_AUTHKEY");
    t_bin_path(mpm_bin, sizeof mpm_bin, "MPM_TEST_BIN_DIR", 1, "mpm");
    t_bin_path(mpmd_bin, sizeof mpmd_bin, "MPM_MPMD", 0, "mpmd");
    cr_assert_eq(access(mpm_bin, X_OK), 0, "no mpm at %s (set MPM_TEST_BIN_DIR)", mpm_bin);
    cr_assert_eq(access(mpmd_bin, X_OK), 0, "no mpmd at %s (set MPM_MPMD)", mpmd_bin);

    t_private_dir(dir, sizeof dir, "mpmcli", keyfile, sizeof keyfile, "cli-test-key");
    snprintf(url, sizeof url, "unix://%s/s.sock", dir);
    snprintf(badkeyfile, sizeof badkeyfile, "%s/badkey", dir);
    write_file(badkeyfile, "not-the-key\n");

    char bound[512];
    srv_pid = t_mpmd_start(url, keyfile, NULL, 10000, bound, sizeof bound);
    cr_assert(srv_pid > 0 && strstr(bound, url), "mpmd did not start: bound '%s'", bound);
}

/* SIGTERM, then SIGKILL after 3 s. */
static void stop_server(void)
{
    t_mpmd_stop(srv_pid, 3000);
    srv_pid = -1;
}

static void teardown(void)
{
    stop_server();
    char path[160];
    snprintf(path, sizeof path, "%s/s.sock", dir);
    unlink(path);
    t_private_dir_remove(dir);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

/*---- running the CLI -------------------------------------------------------------*/

typedef struct {
    int status; /* exit status */
    char out[8192], err[8192];
} run;

/* Start mpm with args (NULL-terminated); with_conn adds --connect and
 * --authkey-file for the fixture's server. */
static pid_t spawn(int with_conn, const char *key_file, char *const *args, int *outfd, int *errfd)
{
    const char *argv[64];
    int k = 0;
    argv[k++] = "mpm";
    if (with_conn) {
        argv[k++] = "--connect";
        argv[k++] = url;
        argv[k++] = "--authkey-file";
        argv[k++] = key_file;
    }
    for (int i = 0; args[i] && k < 63; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    int o[2], e[2];
    cr_assert_eq(pipe2(o, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* the child only execs: it reports through its exit status */
        if (dup2(o[1], 1) != 1 || dup2(e[1], 2) != 2) _exit(125);
        execv(mpm_bin, (char *const *)argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    *outfd = o[0];
    *errfd = e[0];
    return pid;
}

static void finish_run(pid_t pid, int outfd, int errfd, run *r)
{
    t_read_pipes(outfd, errfd, r->out, r->err, sizeof r->out, 30000);
    r->status = t_wait_child(pid);
}

static void run_args(run *r, int with_conn, const char *key_file, char *const *args)
{
    int outfd, errfd;
    pid_t pid = spawn(with_conn, key_file, args, &outfd, &errfd);
    finish_run(pid, outfd, errfd, r);
}

/* mpm --connect URL --authkey-file KEY args... */
#define MPM(r, ...) run_args((r), 1, keyfile, (char *const[]){__VA_ARGS__, NULL})
/* mpm args... (no connection options) */
#define MPM_BARE(r, ...) run_args((r), 0, NULL, (char *const[]){__VA_ARGS__, NULL})

/* The run exited with status and printed exactly out and err. */
#define EXPECT_RUN(r, st, o, e)                                                                    \
    do {                                                                                           \
        cr_expect_eq((r)->status, (st), "exit %d, want %d; stderr: %s", (r)->status, (st),         \
                     (r)->err);                                                                    \
        cr_expect_str_eq((r)->out, (o), "stdout");                                                 \
        cr_expect_str_eq((r)->err, (e), "stderr");                                                 \
    } while (0)

static mpm_manager *connect_lib(void)
{
    mpm_manager *m = NULL;
    T_OK(mpm_connect(&m, url, KEY, strlen(KEY)));
    return m;
}

/* Wait up to 5 s for the server to count n sessions: a CLI that has exited
 * is gone once the server has read its connection's end. */
static void wait_sessions(mpm_manager *m, uint64_t n)
{
    mpm_stats st;
    int64_t end = t_now_ms() + 5000;
    for (;;) {
        T_OK(mpm_manager_stats(m, &st));
        if (st.sessions == n || t_now_ms() > end) break;
        t_sleep_ms(10);
    }
    cr_expect_eq(st.sessions, n, "%llu sessions, want %llu", (unsigned long long)st.sessions,
                 (unsigned long long)n);
}

/* No CLI left a session behind: only the checker's own remains. */
static void assert_no_leftover_sessions(void)
{
    mpm_manager *m = connect_lib();
    wait_sessions(m, 1);
    mpm_manager_close(m);
}

/*---- commands ----------------------------------------------------------------------*/

Test(cli, ping)
{
    run r;
    MPM(&r, "ping");
    EXPECT_RUN(&r, 0, "pong\n", "");
    assert_no_leftover_sessions();
}

Test(cli, set_then_get_prints_the_repr)
{
    run r;
    MPM(&r, "set", "cfg", "'a'", "[1, 2.5, None, True]");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "get", "cfg", "'a'");
    EXPECT_RUN(&r, 0, "[1, 2.5, None, True]\n", "");
    MPM(&r, "set", "cfg", "2", "{'x': (1,), b'k': float('inf'), 'q': \"it's\"}");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "get", "cfg", "2.0"); /* 2 == 2.0: one key, as in Python */
    EXPECT_RUN(&r, 0, "{'x': [1], b'k': inf, 'q': \"it's\"}\n", "");
    assert_no_leftover_sessions();
}

Test(cli, show_prints_the_whole_object)
{
    run r;
    MPM(&r, "set", "cfg", "'a'", "[1, 2.5, None, True]");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "show", "cfg");
    EXPECT_RUN(&r, 0, "{'a': [1, 2.5, None, True]}\n", "");
    MPM(&r, "show", "nope");
    EXPECT_RUN(&r, 1, "", "mpm: show: no object named 'nope': KeyError: 'nope'\n");
}

Test(cli, get_of_a_missing_key_is_a_keyerror)
{
    run r;
    MPM(&r, "set", "cfg", "'a'", "1");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "get", "cfg", "'zz'");
    EXPECT_RUN(&r, 1, "", "mpm: get cfg: KeyError: 'zz'\n");
    MPM(&r, "get", "nope", "1");
    EXPECT_RUN(&r, 1, "", "mpm: get: no object named 'nope': KeyError: 'nope'\n");
}

Test(cli, set_is_seen_by_a_c_client_and_back)
{
    run r;
    MPM(&r, "set", "shared", "'hosts'", "['a', 'b', 3]");
    EXPECT_RUN(&r, 0, "", "");

    mpm_manager *m = connect_lib();
    mpm_dict *d;
    T_OK(mpm_dict_open(m, "shared", &d));
    mpm_val *v = NULL;
    T_OK(mpm_dict_get(d, MPM_STR("hosts"), &v));
    mpm_val want[] = {MPM_STR("a"), MPM_STR("b"), MPM_INT(3)};
    cr_expect(mpm_val_eq(*v, MPM_LIST(want, 3)), "the C client sees another value");
    mpm_val_free(v);

    T_OK(mpm_dict_set(d, MPM_INT(7), MPM_BYTES("\x00\xff", 2)));
    MPM(&r, "get", "shared", "7");
    EXPECT_RUN(&r, 0, "b'\\x00\\xff'\n", "");
    mpm_dict_close(d);
    mpm_manager_close(m);
}

Test(cli, list_array_namespace_and_value)
{
    mpm_manager *m = connect_lib();
    mpm_list *l;
    mpm_array *a;
    mpm_namespace *ns;
    mpm_value *val;
    T_OK(mpm_list_open(m, "l", &l));
    T_OK(mpm_list_append(l, MPM_INT(1)));
    T_OK(mpm_list_append(l, MPM_STR("two")));
    T_OK(mpm_array_open(m, "a", 'i', 3, &a));
    T_OK(mpm_namespace_open(m, "ns", &ns));
    T_OK(mpm_namespace_set(ns, "color", MPM_STR("red")));
    T_OK(mpm_value_open(m, "v", 'd', MPM_FLOAT(0.5), &val));

    run r;
    MPM(&r, "get", "l", "-1");
    EXPECT_RUN(&r, 0, "'two'\n", "");
    MPM(&r, "set", "l", "0", "[None]");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "show", "l");
    EXPECT_RUN(&r, 0, "[[None], 'two']\n", "");
    MPM(&r, "get", "l", "5");
    EXPECT_RUN(&r, 1, "", "mpm: get l: IndexError: list index out of range\n");
    MPM(&r, "get", "l", "'x'");
    EXPECT_RUN(&r, 2, "",
               "mpm: KEY of a list or Array must be an int index, not 'x'\nTry 'mpm --help'.\n");

    MPM(&r, "set", "a", "1", "42");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "get", "a", "1");
    EXPECT_RUN(&r, 0, "42\n", "");
    MPM(&r, "show", "a");
    EXPECT_RUN(&r, 0, "array('i', [0, 42, 0])\n", "");

    MPM(&r, "get", "ns", "color");
    EXPECT_RUN(&r, 0, "'red'\n", "");
    MPM(&r, "set", "ns", "size", "10");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "set", "ns", "'shape'", "'round'"); /* a quoted name works too */
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "show", "ns");
    EXPECT_RUN(&r, 0, "Namespace(color='red', shape='round', size=10)\n", "");
    MPM(&r, "get", "ns", "nope");
    EXPECT_RUN(&r, 1, "",
               "mpm: get ns: AttributeError: 'Namespace' object has no attribute 'nope'\n");

    MPM(&r, "get", "v");
    EXPECT_RUN(&r, 0, "0.5\n", "");
    MPM(&r, "set", "v", "-2.25");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "get", "v", "1");
    EXPECT_RUN(&r, 2, "", "mpm: get: v is a Value: it takes no KEY\nTry 'mpm --help'.\n");

    /* what the CLI changed, the C client reads */
    mpm_val *x = NULL;
    T_OK(mpm_array_get(a, 1, &x));
    cr_expect(mpm_val_eq(*x, MPM_INT(42)));
    mpm_val_free(x);
    T_OK(mpm_namespace_get(ns, "size", &x));
    cr_expect(mpm_val_eq(*x, MPM_INT(10)));
    mpm_val_free(x);
    double f = 0;
    T_OK(mpm_value_get_float(val, &f));
    cr_expect_eq(f, -2.25);
    mpm_manager_close(m);
}

Test(cli, put_then_get_queue)
{
    run r;
    MPM(&r, "put", "jobs", "{'n': 1}");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "put", "jobs", "-2");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "get-queue", "jobs");
    EXPECT_RUN(&r, 0, "{'n': 1}\n", "");
    MPM(&r, "get-queue", "jobs");
    EXPECT_RUN(&r, 0, "-2\n", "");
    MPM(&r, "get-queue", "jobs");
    EXPECT_RUN(&r, 1, "", "mpm: get-queue jobs: queue.Empty\n");
    MPM(&r, "get-queue", "nope");
    EXPECT_RUN(&r, 1, "", "mpm: get-queue: no object named 'nope': KeyError: 'nope'\n");
    assert_no_leftover_sessions();
}

Test(cli, get_queue_waits_up_to_its_timeout)
{
    run r;
    MPM(&r, "put", "jobs", "0");
    MPM(&r, "get-queue", "jobs");
    EXPECT_RUN(&r, 0, "0\n", "");

    int64_t t0 = t_now_ms();
    MPM(&r, "get-queue", "jobs", "--timeout", "300");
    EXPECT_RUN(&r, 1, "", "mpm: get-queue jobs: queue.Empty\n");
    cr_expect_geq(t_now_ms() - t0, 280, "gave up after %lld ms", (long long)(t_now_ms() - t0));

    /* an item put while it waits is the one it prints */
    int outfd, errfd;
    pid_t pid = spawn(1, keyfile, (char *const[]){"get-queue", "--timeout=-1", "jobs", NULL},
                      &outfd, &errfd);
    t_sleep_ms(300);
    mpm_manager *m = connect_lib();
    mpm_queue *q;
    T_OK(mpm_queue_open(m, "jobs", 0, &q));
    T_OK(mpm_queue_put(q, MPM_STR("late"), 0));
    finish_run(pid, outfd, errfd, &r);
    EXPECT_RUN(&r, 0, "'late'\n", "");
    mpm_manager_close(m);
}

Test(cli, put_to_a_full_queue_is_queue_full)
{
    mpm_manager *m = connect_lib();
    mpm_queue *q;
    T_OK(mpm_queue_open(m, "bounded", 1, &q));
    run r;
    MPM(&r, "put", "bounded", "'first'");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "put", "bounded", "'second'");
    EXPECT_RUN(&r, 1, "", "mpm: put bounded: queue.Full\n");
    int64_t t0 = t_now_ms();
    MPM(&r, "put", "bounded", "'second'", "--timeout", "200");
    EXPECT_RUN(&r, 1, "", "mpm: put bounded: queue.Full\n");
    cr_expect_geq(t_now_ms() - t0, 180, "gave up after %lld ms", (long long)(t_now_ms() - t0));
    size_t n = 0;
    T_OK(mpm_queue_qsize(q, &n));
    cr_expect_eq(n, 1);
    mpm_manager_close(m);
}

Test(cli, get_queue_marks_a_joinable_queues_item_done)
{
    mpm_manager *m = connect_lib();
    mpm_queue *q;
    T_OK(mpm_joinable_queue_open(m, "work", 0, &q));
    T_OK(mpm_queue_put(q, MPM_STR("job"), 0));
    run r;
    MPM(&r, "get-queue", "work");
    EXPECT_RUN(&r, 0, "'job'\n", "");
    T_OK(mpm_queue_join(q, 2000));
    size_t n = 1;
    T_OK(mpm_queue_qsize(q, &n));
    cr_expect_eq(n, 0, "the item came back to the queue");
    mpm_manager_close(m);
}

Test(cli, ls_lists_names_and_types_sorted)
{
    run r;
    MPM(&r, "ls");
    EXPECT_RUN(&r, 0, "", "");
    mpm_manager *m = connect_lib();
    mpm_lock *lk;
    T_OK(mpm_lock_open(m, "a-lock", &lk));
    MPM(&r, "set", "cfg", "1", "2");
    MPM(&r, "put", "jobs", "1");
    MPM(&r, "ls");
    EXPECT_RUN(&r, 0, "a-lock  Lock\ncfg     dict\njobs    Queue\n", "");
    mpm_manager_close(m);
}

Test(cli, stats_counts_calls_and_errors)
{
    run r;
    /* creating a dict or a queue costs the server no error */
    MPM(&r, "set", "cfg", "1", "2");
    MPM(&r, "put", "jobs", "1");
    MPM(&r, "get", "cfg", "3"); /* one KeyError */
    cr_expect_eq(r.status, 1);
    MPM(&r, "stats");
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect_str_eq(r.err, "");

    static const char *const fields[] = {
        "objects",
        "named",
        "sessions",
        "connections",
        "parked",
        "calls",
        "errors",
        "refused",
        "bytes_in",
        "bytes_out",
        "connections_total",
        "sessions_total",
        "uptime_ms",
        "pid",
        "unheld",
        "gc_runs",
        "gc_freed",
    };
    unsigned long long got[sizeof fields / sizeof fields[0]];
    const char *line = r.out;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strcmp(fields[i], "refused") == 0) {
            /* errors by kind come between errors and refused */
            unsigned long long k = 0;
            int used = 0;
            cr_assert_eq(sscanf(line, "errors[KeyError]: %llu\n%n", &k, &used), 1,
                         "no KeyError line at: %s", line);
            cr_expect_eq(k, 1);
            line += used;
        }
        char fmt[64];
        int used = 0;
        snprintf(fmt, sizeof fmt, "%s: %%llu\n%%n", fields[i]);
        cr_assert_eq(sscanf(line, fmt, &got[i], &used), 1, "no %s line at: %s", fields[i], line);
        line += used;
    }
    cr_expect_str_eq(line, "", "more lines");
    cr_expect_eq(got[0], 2, "objects");
    cr_expect_eq(got[1], 2, "named");
    cr_expect_geq(got[5], 3, "calls");
    cr_expect_eq(got[6], 1, "errors");
    cr_expect_eq(got[13], (unsigned long long)srv_pid, "pid");
    cr_expect_eq(got[14], 0, "unheld: named objects are held by their names");
}

Test(cli, objects_lists_every_live_object)
{
    run r;
    MPM(&r, "set", "cfg", "1", "2");
    MPM(&r, "put", "jobs", "1");
    mpm_manager *m = connect_lib();
    mpm_list *anon;
    T_OK(mpm_list_new(m, &anon));
    wait_sessions(m, 1); /* the CLI's handles are released */
    MPM(&r, "objects");
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    char *save = NULL, *ln = strtok_r(r.out, "\n", &save);
    cr_assert_not_null(ln);
    char c[5][32];
    cr_expect_eq(sscanf(ln, "%31s %31s %31s %31s %31s", c[0], c[1], c[2], c[3], c[4]), 5);
    cr_expect_str_eq(c[0], "id");
    cr_expect_str_eq(c[4], "name");
    static const char *const want[][3] = {
        {"dict", "1", "cfg"}, {"Queue", "1", "jobs"}, {"list", "1", "-"}};
    for (size_t i = 0; i < 3; i++) {
        ln = strtok_r(NULL, "\n", &save);
        cr_assert_not_null(ln, "row %zu missing", i);
        unsigned long long id, size;
        char type[32], refs[32], name[32];
        cr_assert_eq(sscanf(ln, "%llu %31s %31s %llu %31s", &id, type, refs, &size, name), 5,
                     "row: %s", ln);
        cr_expect_str_eq(type, want[i][0]);
        cr_expect_str_eq(refs, want[i][1]);
        cr_expect_str_eq(name, want[i][2]);
        cr_expect_gt(size, 0);
    }
    cr_expect_null(strtok_r(NULL, "\n", &save), "more rows");
    mpm_manager_close(m);
}

Test(cli, delete_removes_the_name)
{
    run r;
    MPM(&r, "set", "cfg", "1", "2");
    MPM(&r, "delete", "cfg");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "ls");
    EXPECT_RUN(&r, 0, "", "");
    MPM(&r, "delete", "cfg");
    EXPECT_RUN(&r, 1, "", "mpm: delete: no object named 'cfg': KeyError: 'cfg'\n");
}

Test(cli, shutdown_stops_the_server)
{
    run r;
    MPM(&r, "shutdown");
    EXPECT_RUN(&r, 0, "", "");
    int64_t end = t_now_ms() + 5000;
    pid_t w;
    int st = -1;
    while ((w = waitpid(srv_pid, &st, WNOHANG)) == 0 && t_now_ms() < end)
        t_sleep_ms(10);
    cr_assert_eq(w, srv_pid, "the server is still running");
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "server status %d", st);
    srv_pid = -1;
    MPM(&r, "ping");
    cr_expect_eq(r.status, 1);
}

/*---- errors ---------------------------------------------------------------------------*/

Test(cli, wrong_authkey_is_refused)
{
    run r;
    run_args(&r, 1, badkeyfile, (char *const[]){"ping", NULL});
    cr_expect_eq(r.status, 1);
    cr_expect_str_eq(r.out, "");
    cr_expect(strstr(r.err, "authentication failed") != NULL, "stderr: %s", r.err);
    cr_expect_eq(strncmp(r.err, "mpm: ", 5), 0, "stderr: %s", r.err);
}

Test(cli, missing_authkey_file)
{
    run r;
    run_args(&r, 1, "/nonexistent/key", (char *const[]){"ping", NULL});
    EXPECT_RUN(&r, 1, "", "mpm: --authkey-file /nonexistent/key: No such file or directory\n");
}

Test(cli, usage_errors_exit_2)
{
    run r;
    MPM(&r, "frob");
    EXPECT_RUN(&r, 2, "", "mpm: unknown command 'frob'\nTry 'mpm --help'.\n");
    MPM_BARE(&r, "--connect", url);
    EXPECT_RUN(&r, 2, "", "mpm: no command given\nTry 'mpm --help'.\n");
    MPM(&r, "get", "cfg", "1", "2");
    EXPECT_RUN(&r, 2, "", "mpm: usage: mpm get NAME [KEY]\nTry 'mpm --help'.\n");
    MPM(&r, "show");
    EXPECT_RUN(&r, 2, "", "mpm: usage: mpm show NAME\nTry 'mpm --help'.\n");
    MPM_BARE(&r, "--frob", "ping");
    EXPECT_RUN(&r, 2, "", "mpm: unknown option '--frob'\nTry 'mpm --help'.\n");
    MPM_BARE(&r, "ping");
    EXPECT_RUN(&r, 2, "",
               "mpm: no server address: give --connect ADDR or set MPM_ADDRESS\n"
               "Try 'mpm --help'.\n");
    MPM(&r, "get-queue", "jobs", "--timeout", "soon");
    EXPECT_RUN(&r, 2, "",
               "mpm: --timeout wants milliseconds (-1: forever), not 'soon'\nTry 'mpm --help'.\n");
}

Test(cli, values_must_be_literals)
{
    run r;
    MPM(&r, "set", "cfg", "'k'", "abc");
    EXPECT_RUN(&r, 2, "",
               "mpm: VALUE must be a Python literal: 'abc' not abc\nTry 'mpm --help'.\n");
    MPM(&r, "set", "cfg", "k", "1");
    EXPECT_RUN(&r, 2, "", "mpm: KEY must be a Python literal: 'k' not k\nTry 'mpm --help'.\n");
    MPM(&r, "put", "jobs", "[1, 2");
    EXPECT_RUN(&r, 2, "",
               "mpm: VALUE is not a Python literal: ValueError: unexpected end of input, "
               "expected ',' or ']' at position 5\nTry 'mpm --help'.\n");
    /* nothing was created by the refused commands */
    MPM(&r, "ls");
    EXPECT_RUN(&r, 0, "", "");
}

Test(cli, type_mismatches)
{
    run r;
    MPM(&r, "put", "jobs", "1");
    MPM(&r, "set", "jobs", "1", "2");
    EXPECT_RUN(&r, 1, "",
               "mpm: set: jobs is a Queue: set changes a dict, list, Array, Namespace or Value\n");
    MPM(&r, "set", "cfg", "1", "2");
    MPM(&r, "put", "cfg", "1");
    EXPECT_RUN(&r, 1, "", "mpm: put: cfg is a dict, not a Queue\n");
    MPM(&r, "get", "cfg");
    EXPECT_RUN(
        &r, 2, "",
        "mpm: get: cfg is a dict: give a KEY (or see it all with show)\nTry 'mpm --help'.\n");
}

/*---- options and environment ---------------------------------------------------------*/

Test(cli, help_documents_every_command_and_option)
{
    run r;
    MPM_BARE(&r, "--help");
    cr_expect_eq(r.status, 0);
    cr_expect_str_eq(r.err, "");
    static const char *const words[] = {
        "--connect",        "--authkey-file",   "--help",
        "--timeout",        " ping ",           " ls ",
        " show NAME",       " get NAME KEY",    " set NAME KEY VALUE",
        " put QUEUE VALUE", " get-queue QUEUE", " delete NAME",
        " stats ",          " objects ",        " shutdown ",
        "MPM_ADDRESS",      "MPM_AUTHKEY",      "Exit status",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        cr_expect(strstr(r.out, words[i]) != NULL, "--help does not mention '%s'", words[i]);
}

Test(cli, address_and_key_from_the_environment)
{
    run r;
    setenv("MPM_ADDRESS", url, 1);
    setenv("MPM_AUTHKEY", KEY, 1);
    MPM_BARE(&r, "ping");
    EXPECT_RUN(&r, 0, "pong\n", "");
    /* --authkey-file wins over $MPM_AUTHKEY */
    MPM_BARE(&r, "--authkey-file", badkeyfile, "ping");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "authentication failed") != NULL, "stderr: %s", r.err);
    setenv("MPM_AUTHKEY", "wrong", 1);
    MPM_BARE(&r, "-k", keyfile, "ping");
    EXPECT_RUN(&r, 0, "pong\n", "");
}
