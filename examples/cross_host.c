/* cross_host.c - one mpmd, workers on other hosts: a named job queue, a
 * named result dict and a named lock, reached by name over TCP.
 *
 *   host A:  mpmd --listen tcp://0.0.0.0:5555 --authkey-file key
 *   host A:  MPM_AUTHKEY=$(cat key) cross_host produce tcp://hostA:5555 100
 *   host B:  MPM_AUTHKEY=$(cat key) cross_host work tcp://hostA:5555
 *   host C:  MPM_AUTHKEY=$(cat key) cross_host work tcp://hostA:5555
 *   host A:  MPM_AUTHKEY=$(cat key) cross_host report tcp://hostA:5555
 *
 * produce puts the numbers 1..N on the JoinableQueue "jobs" and waits until
 * every job is done; a worker takes jobs until none comes for 2 s, stores n*n
 * in the dict "results" and counts its jobs in "results" under the lock
 * "results-lock" (a read-modify-write that needs it).
 * A worker killed mid-job loses nothing: its un-done job goes back to the queue.
 */
#include <mpm/mpm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "cross_host: %s: %s (%s)\n", what, mpm_strerror(rc), mpm_last_error());
    return 1;
}

static int produce(mpm_manager *m, long n)
{
    mpm_queue *jobs;
    int rc = mpm_joinable_queue_open(m, "jobs", 0, &jobs);
    if (rc) return fail("open jobs", rc);
    for (long i = 1; i <= n; i++)
        if ((rc = mpm_queue_put(jobs, MPM_INT(i), -1))) return fail("put", rc);
    if ((rc = mpm_queue_join(jobs, -1))) return fail("join", rc);
    printf("all %ld jobs done\n", n);
    return 0;
}

static int work(mpm_manager *m)
{
    mpm_queue *jobs;
    mpm_dict *results;
    mpm_lock *lock;
    int rc;
    if ((rc = mpm_joinable_queue_open(m, "jobs", 0, &jobs)) ||
        (rc = mpm_dict_open(m, "results", &results)) || (rc = mpm_lock_open(m, "results-lock", &lock)))
        return fail("open", rc);
    char me[64];
    snprintf(me, sizeof me, "done by %d", (int)getpid());
    for (;;) {
        mpm_val *job;
        rc = mpm_queue_get(jobs, 2000, &job);
        if (rc == MPM_EEMPTY) return 0; /* no more work */
        if (rc) return fail("get", rc);
        int64_t n = job->type == MPM_T_INT ? job->v.i : 0;
        mpm_val_free(job);
        if ((rc = mpm_dict_set(results, MPM_INT(n), MPM_INT(n * n)))) return fail("set", rc);
        /* a read-modify-write of one entry: the lock makes it whole */
        rc = mpm_lock_acquire(lock, -1, NULL);
        if (rc && rc != MPM_EOWNERDEAD) return fail("acquire", rc);
        mpm_val *count;
        if ((rc = mpm_dict_get_default(results, MPM_STR(me), MPM_INT(0), &count)))
            return fail("get", rc);
        rc = mpm_dict_set(results, MPM_STR(me), MPM_INT(count->v.i + 1));
        mpm_val_free(count);
        mpm_lock_release(lock);
        if (rc) return fail("set", rc);
        if ((rc = mpm_queue_task_done(jobs))) return fail("task_done", rc);
    }
}

static int report(mpm_manager *m)
{
    mpm_dict *results;
    int rc = mpm_dict_open(m, "results", &results);
    if (rc) return fail("open", rc);
    return mpm_dict_print(results) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "produce") == 0 && argc < 4)) {
        fprintf(stderr, "usage: cross_host produce URL N | work URL | report URL\n"
                        "       (the authkey comes from $MPM_AUTHKEY)\n");
        return 2;
    }
    mpm_manager *m;
    int rc = mpm_connect(&m, argv[2], NULL, 0);
    if (rc) return fail("connect", rc);
    if (strcmp(argv[1], "produce") == 0) rc = produce(m, atol(argv[3]));
    else if (strcmp(argv[1], "work") == 0) rc = work(m);
    else if (strcmp(argv[1], "report") == 0) rc = report(m);
    else rc = 2;
    mpm_manager_close(m);
    return rc;
}
