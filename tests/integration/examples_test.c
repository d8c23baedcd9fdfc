/* examples_test.c - the programs in examples/ run as real processes, with
 * their exact output and exit status: seed_manager and queue_producer_consumer
 * (each starts its own private mpmd), and cross_host against a standalone
 * mpmd on TCP: produce, two workers and report, and a worker SIGKILLed in the
 * middle of a job, whose job another worker then does. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <mpm/mpm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/mpmd.h"
#include "support/support.h"

static const char KEY[] = "examples-test-key";

/* How long any one example may take: a worker alone idles 2 s before it
 * stops, so this is generous, and a hung example fails instead of waiting on
 * Criterion's timeout. */
#define RUN_MS 15000

/*---- running an example ----------------------------------------------------------*/

typedef struct {
    const char *name;
    pid_t pid;
    int outfd, errfd;
    int status; /* exit status, 128 + signal if killed */
    char out[8192], err[8192];
} run;

/* The example's path, asserting it is there: a missing one fails here, by name. */
static void example_bin(char *out, size_t n, const char *name)
{
    t_bin_path(out, n, "MPM_TEST_BIN_DIR", 1, name);
    cr_assert_eq(access(out, X_OK), 0, "no %s at %s (set MPM_TEST_BIN_DIR)", name, out);
}

/* Start example name with args (NULL-terminated), its stdout and stderr piped. */
static void start(run *r, const char *name, char *const *args)
{
    char bin[PATH_MAX];
    example_bin(bin, sizeof bin, name);
    const char *argv[16];
    int k = 0;
    argv[k++] = name;
    for (int i = 0; args && args[i] && k < 15; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    int o[2], e[2];
    cr_assert_eq(pipe2(o, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
    memset(r, 0, sizeof *r);
    r->name = name;
    pid_t parent = getpid();
    r->pid = fork();
    cr_assert_neq(r->pid, -1);
    if (r->pid == 0) {
        /* the child only execs (it reports through its exit status), and never
         * outlives a test that failed before reaping it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        setpgid(0, 0);
        if (dup2(o[1], 1) != 1 || dup2(e[1], 2) != 2) _exit(125);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    setpgid(r->pid, r->pid); /* its own group: a hung one is killed with its children */
    close(o[1]);
    close(e[1]);
    r->outfd = o[0];
    r->errfd = e[0];
}

/* Read both pipes to their end (a child blocked on a full stderr would never
 * finish its stdout), then reap it.  One that takes longer than RUN_MS is
 * killed and the test fails, showing what it printed so far. */
static void finish(run *r)
{
    int64_t end = t_now_ms() + RUN_MS;
    t_read_pipes(r->outfd, r->errfd, r->out, r->err, sizeof r->out, RUN_MS);
    /* its pipes can end before it does, and a grandchild (its private mpmd)
     * can hold them after: give it what is left of the time either way */
    int st = 0;
    pid_t w;
    while ((w = waitpid(r->pid, &st, WNOHANG)) == 0 && t_now_ms() < end)
        t_sleep_ms(10);
    if (w == 0) {
        kill(-r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        cr_assert_fail("%s did not finish within %d s; stdout: '%s' stderr: '%s'", r->name,
                       RUN_MS / 1000, r->out, r->err);
    }
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* The run exited with status and printed exactly out and err. */
#define EXPECT_RUN(r, st, o, e)                                                                    \
    do {                                                                                           \
        cr_expect_eq((r)->status, (st), "%s: exit %d, want %d; stderr: %s", (r)->name,             \
                     (r)->status, (st), (r)->err);                                                 \
        cr_expect_str_eq((r)->out, (o), "%s: stdout:\n%s\nwant:\n%s", (r)->name, (r)->out, (o));   \
        cr_expect_str_eq((r)->err, (e), "%s: stderr:\n%s\nwant:\n%s", (r)->name, (r)->err, (e));   \
    } while (0)

/*---- the seed examples: each starts its own manager -------------------------------*/

/* They find mpmd through $MPM_MPMD (else the one built beside libmpm): say
 * so when it is missing, rather than let the example fail obscurely. */
static void private_setup(void)
{
    unsetenv("MPM_ADDRESS");
    unsetenv("MPM_AUTHKEY");
    char mpmd[PATH_MAX];
    t_mpmd_path(mpmd, sizeof mpmd);
    cr_assert_eq(access(mpmd, X_OK), 0, "no mpmd at %s (set MPM_MPMD)", mpmd);
}

TestSuite(examples, .init = private_setup, .timeout = 60);

/* Python's seed prints d and l after the child changed them:
 * {1: '1', '2': 2, 0.25: None} and [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]. */
Test(examples, seed_manager_prints_what_pythons_seed_example_prints)
{
    run r;
    start(&r, "seed_manager", NULL);
    finish(&r);
    EXPECT_RUN(&r, 0, "{1: '1', '2': 2, 0.25: None}\n[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]\n", "");
}

/* The consumer prints each item's repr, in the order the producer put them. */
Test(examples, queue_producer_consumer_prints_the_ten_items_in_order)
{
    run r;
    start(&r, "queue_producer_consumer", NULL);
    finish(&r);
    EXPECT_RUN(&r, 0,
               "'item 0'\n'item 1'\n'item 2'\n'item 3'\n'item 4'\n"
               "'item 5'\n'item 6'\n'item 7'\n'item 8'\n'item 9'\n",
               "");
}

/*---- cross_host: a standalone mpmd on TCP, the key in $MPM_AUTHKEY ----------------*/

static char dir[64], keyfile[128], url[256];
static pid_t srv_pid = -1;

static void tcp_setup(void)
{
    unsetenv("MPM_ADDRESS");
    t_private_dir(dir, sizeof dir, "mpmex", keyfile, sizeof keyfile, KEY);
    char bound[512];
    srv_pid = t_mpmd_start("tcp://127.0.0.1:0", keyfile, NULL, 10000, bound, sizeof bound);
    cr_assert(srv_pid > 0 && strncmp(bound, "tcp://127.0.0.1:", 16) == 0,
              "mpmd did not start: bound '%s'", bound);
    bound[strcspn(bound, "\n")] = 0;
    snprintf(url, sizeof url, "%s", bound);
    /* the way the example's comment runs it */
    setenv("MPM_AUTHKEY", KEY, 1);
}

static void tcp_teardown(void)
{
    t_mpmd_stop(srv_pid, 3000);
    srv_pid = -1;
    t_private_dir_remove(dir);
}

TestSuite(cross_host, .init = tcp_setup, .fini = tcp_teardown, .timeout = 60);

#define CROSS_HOST(r, ...) start((r), "cross_host", (char *const[]){__VA_ARGS__, NULL})

/* report prints the dict "results": n: n*n for each job 1..n, and one
 * 'done by PID': count per worker that did any.  Every job must be there once,
 * only workers (the pids in workers) counted, and the counts add up to n: no
 * job lost, none done twice. */
static void expect_report(const run *r, long n, const pid_t *workers, int nworkers)
{
    cr_assert_eq(r->status, 0, "report: exit %d; stderr: %s", r->status, r->err);
    cr_expect_str_eq(r->err, "", "report: stderr");
    size_t len = strlen(r->out);
    cr_assert(len >= 3 && r->out[0] == '{' && strcmp(r->out + len - 2, "}\n") == 0,
              "report: not a dict: '%s'", r->out);
    char body[sizeof r->out];
    snprintf(body, sizeof body, "%.*s", (int)(len - 3), r->out + 1);
    int seen[64] = {0};
    long counted = 0;
    cr_assert_lt(n, 64);
    char *save = NULL;
    for (char *e = strtok_r(body, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        while (*e == ' ')
            e++;
        long k, v;
        int pid, used = -1;
        if (sscanf(e, "%ld: %ld%n", &k, &v, &used) == 2 && e[used] == 0) {
            cr_expect(k >= 1 && k <= n, "report: job %ld was never put: '%s'", k, r->out);
            cr_expect_eq(v, k * k, "report: %ld: %ld, want %ld", k, v, k * k);
            if (k >= 1 && k <= n) seen[k]++;
        } else if (sscanf(e, "'done by %d': %ld%n", &pid, &v, &used) == 2 && e[used] == 0) {
            int ours = 0;
            for (int i = 0; i < nworkers; i++)
                ours |= workers[i] == pid;
            cr_expect(ours, "report: counts for %d, which is no surviving worker: '%s'", pid,
                      r->out);
            cr_expect_gt(v, 0, "report: '%s'", e);
            counted += v;
        } else {
            cr_assert_fail("report: unexpected entry '%s' in '%s'", e, r->out);
        }
    }
    for (long k = 1; k <= n; k++)
        cr_expect_eq(seen[k], 1, "report: job %ld appears %d times in '%s'", k, seen[k], r->out);
    cr_expect_eq(counted, n, "report: the workers counted %ld jobs, want %ld: '%s'", counted, n,
                 r->out);
}

Test(cross_host, two_workers_do_every_job_and_report_shows_them_all)
{
    run prod, w[2], rep;
    CROSS_HOST(&prod, "produce", url, "12");
    CROSS_HOST(&w[0], "work", url);
    CROSS_HOST(&w[1], "work", url);
    /* produce returns once every job is done; each worker 2 s after its last */
    finish(&prod);
    EXPECT_RUN(&prod, 0, "all 12 jobs done\n", "");
    for (int i = 0; i < 2; i++) {
        finish(&w[i]);
        EXPECT_RUN(&w[i], 0, "", "");
    }
    CROSS_HOST(&rep, "report", url);
    finish(&rep);
    expect_report(&rep, 12, (pid_t[]){w[0].pid, w[1].pid}, 2);
}

/* The worker is stopped mid-job deterministically: the test holds
 * "results-lock", so the worker parks on it holding its first job.  Killed
 * there, its job goes back to the queue, a second worker does it, and produce
 * (which waits for every task_done) finishes. */
Test(cross_host, a_worker_killed_mid_job_loses_nothing)
{
    mpm_manager *m;
    mpm_lock *lock;
    mpm_queue *jobs;
    size_t queued = 0;
    T_OK(mpm_connect(&m, url, KEY, strlen(KEY)));
    T_OK(mpm_lock_open(m, "results-lock", &lock));
    T_OK(mpm_lock_acquire(lock, -1, NULL));

    run prod, victim, w, rep;
    CROSS_HOST(&prod, "produce", url, "5");
    t_wait_parked(m, 1); /* produce's join: all 5 jobs are on the queue */
    T_OK(mpm_joinable_queue_open(m, "jobs", 0, &jobs));
    CROSS_HOST(&victim, "work", url);
    t_wait_parked(m, 2); /* the worker's acquire, its job taken */
    T_OK(mpm_queue_qsize(jobs, &queued));
    cr_expect_eq(queued, 4, "the worker has not taken one job: %zu queued", queued);

    kill(victim.pid, SIGKILL);
    finish(&victim);
    cr_expect_eq(victim.status, 128 + SIGKILL, "the worker exited %d", victim.status);
    t_wait_parked(m, 1); /* the server saw it go */
    T_OK(mpm_queue_qsize(jobs, &queued));
    cr_expect_eq(queued, 5, "the killed worker's job did not come back: %zu queued", queued);
    T_OK(mpm_lock_release(lock));

    CROSS_HOST(&w, "work", url);
    finish(&prod);
    EXPECT_RUN(&prod, 0, "all 5 jobs done\n", "");
    finish(&w);
    EXPECT_RUN(&w, 0, "", "");
    CROSS_HOST(&rep, "report", url);
    finish(&rep);
    expect_report(&rep, 5, &w.pid, 1);
    mpm_manager_close(m);
}

Test(cross_host, bad_usage_exits_2_and_a_wrong_key_1)
{
    run r;
    CROSS_HOST(&r, "produce", url);
    finish(&r);
    EXPECT_RUN(&r, 2, "",
               "usage: cross_host produce URL N | work URL | report URL\n"
               "       (the authkey comes from $MPM_AUTHKEY)\n");
    setenv("MPM_AUTHKEY", "not-the-key", 1);
    CROSS_HOST(&r, "report", url);
    finish(&r);
    cr_expect_eq(r.status, 1, "exit %d; stderr: %s", r.status, r.err);
    cr_expect_str_eq(r.out, "");
    cr_expect_eq(strncmp(r.err, "cross_host: connect: ", 21), 0, "stderr: %s", r.err);
}
