/* mpm_bench.c - single-client throughput, creation cost and server memory of mpm.
 *
 *   mpm_bench [server] [--op OP[,OP...]] [--seconds S | --count N] [--server-cpu N]
 *
 * Server (one of):
 *   --transport T   (default) start a private mpmd from this program, listening
 *                   on T = unix (unix:///tmp/...), tcp (tcp://127.0.0.1:0) or
 *                   nng+ipc (nng+ipc:///tmp/...), with a random authkey passed
 *                   on a pipe; its pid is known, so `mem` can read its RSS.
 *                   The mpmd binary: --mpmd PATH, else $MPM_MPMD, else the one
 *                   built beside this program; --mpmd-arg ARG (repeatable)
 *                   adds ARG to its command line (e.g. --mpmd-arg=--spin-us=0).
 *   --private       mpm_manager_start() (the library's own private manager,
 *                   unix socket); the server pid is read from our children.
 *   --url URL       a running mpmd (authkey: --authkey KEY or $MPM_AUTHKEY);
 *                   `mem` needs --server-pid PID.
 *
 * Operations (each over --seconds, default 1, after a short untimed warm-up;
 * or exactly --count calls, e.g. for callgrind):
 *   ping         mpm_ping: the bare round trip through the mpm stack      ops/s
 *   dict_set     d[i] = str(i), i rising (int key -> short str)           ops/s
 *   dict_get     d[i % 10000] on a dict of 10,000 such entries            ops/s
 *   list_append  l.append(i)                                             ops/s
 *   create       mpm_dict_new + mpm_dict_close pairs                     µs per pair
 *   batch_set    mpm_batch_begin, 100 dict_set, mpm_batch_exec           sets/s
 *   mem          server VmRSS before/after a dict of 1,000,000 entries
 *                (i -> str(i)), filled in batches of 1,000 sets          bytes/entry
 *   all          every one of the above except mem
 * Synchronization (not in `all`; the helper processes are forked from this
 * one after it has connected: each opens its own connection on its first call):
 *   lock_pair     mpm_lock_acquire(l, -1) + mpm_lock_release, one process,
 *                 uncontended                                       pairs/s
 *   event_handoff ping-pong between this process (A) and a child (B) through
 *                 two Events: A sets e1, waits e2, clears e2; B waits e1,
 *                 clears e1, sets e2.  Half a round = one hand-off   µs (event_handoff_us)
 *   cond_handoff  ping-pong through one Condition (its own RLock): each side,
 *                 holding the lock, notifies and waits; the lock is free only
 *                 while the other waits, so the two strictly alternate  µs (cond_handoff_us)
 *   lock_contend  --procs N (default 8) child processes loop acquire+release
 *                 on one Lock for the measuring time, started together  total pairs/s
 *                 (printed as lock_contend<N>)
 *   sem_pair      mpm_semaphore_acquire(s, -1) + mpm_semaphore_release(s, 1)
 *                 on a Semaphore(1), one process, uncontended        pairs/s
 *   sem_contend   as lock_contend, on one Semaphore(1)               total pairs/s
 *                 (printed as sem_contend<N>)
 *   lock_scale    --procs N helpers on one Lock; slices of one helper looping
 *                 alone and of all N alternate (12 in all, the measuring time
 *                 twice over, after a warm-up slice of all N half as long):
 *                 lock_scale1 and lock_scale<N>, the median slice
 *                 rates (pairs/s), and lock_scale_ratio, the median of the 6
 *                 ratios of neighbouring slices; each of the 6 ratios too, as
 *                 lock_scale_slice (bench_lock_scale)
 * Queues (not in `all`; an unbounded mpm_queue_new(m, &q, 0) each):
 *   queue_pair    mpm_queue_put(q, i, -1) + mpm_queue_get(q, -1), one client  pairs/s
 *   queue_4x4     4 producer and 4 consumer processes (forked as above) move
 *                 items through one Queue, one item per call, for the measuring
 *                 time; the consumers count what they get before the deadline,
 *                 then are stopped through the shared memory word   items/s
 *   queue_batch   one client: mpm_queue_put_many of 100 items, then
 *                 mpm_queue_get_many(100) until they are back        items/s
 *                 (printed as queue_batch100)
 * The hand-off partner is told to stop through a shared memory word, not
 * through mpm, so stopping adds no call and no timeout.
 * --server-cpu N moves every thread of the server to CPU N (run the client
 * under `taskset -c M`): a deterministic cross-CPU placement.
 * Run `mem` on a fresh server (its own invocation): memory freed by earlier
 * operations would be reused and make the figure look smaller.
 *
 * Output, one machine-readable line per figure:
 *   mpm <transport> <op> <value>       e.g.  mpm unix dict_set 65432
 * (create is printed as create_us, mem as mem_bytes_per_entry, the hand-offs
 * as event_handoff_us and cond_handoff_us, lock_contend as lock_contend8,
 * sem_contend as sem_contend8).  When the server cannot be started on the
 * transport (nng not built), every requested figure is printed as n/a and the
 * exit status is 3.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mpm/mpm.h>

#define GET_KEYS 10000
#define BATCH 100
#define MEM_ENTRIES 1000000
#define MEM_BATCH 1000
#define QBATCH 100 /* queue_batch: items per put_many / get_many */
#define QPRODUCERS 4
#define QCONSUMERS 4

static const char *g_transport = "unix"; /* label of the lines we print */
static double g_seconds = 1.0;
static long long g_count = 0;
static int g_procs = 8;
static const char *g_mpmd_args[16]; /* --mpmd-arg: extra arguments for our mpmd */
static int g_nmpmd_args;
static mpm_manager *g_m;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "mpm_bench: %s: %s (%s)\n", what, mpm_strerror(rc), mpm_last_error());
        exit(1);
    }
}

/*---- the timed loop ------------------------------------------------------------*/

typedef void (*op_fn)(void *ctx, long long i);

/* Run fn until the time (or count) is used up; returns calls per second and the
 * number of calls made in *calls.  The first 10% (at most 0.2 s) is warm-up. */
static double run_timed(op_fn fn, void *ctx, long long *next_i, long long *calls)
{
    long long i = *next_i, n = 0;
    double warm = g_seconds / 10 < 0.2 ? g_seconds / 10 : 0.2;
    double t0 = now_s();
    if (g_count) {
        for (long long k = 0; k < g_count / 10; k++)
            fn(ctx, i++);
    } else {
        while (now_s() - t0 < warm)
            fn(ctx, i++);
    }
    t0 = now_s();
    double t;
    for (;;) {
        fn(ctx, i++);
        n++;
        if (g_count) {
            if (n >= g_count) break;
        } else if ((n & 7) == 0 && now_s() - t0 >= g_seconds) {
            break;
        }
    }
    t = now_s();
    *next_i = i;
    if (calls) *calls = n;
    return (double)n / (t - t0);
}

/*---- operations ---------------------------------------------------------------------*/

static void op_ping(void *ctx, long long i)
{
    (void)ctx;
    (void)i;
    check(mpm_ping(g_m), "ping");
}

static void op_dict_set(void *ctx, long long i)
{
    char s[24];
    int n = snprintf(s, sizeof s, "%lld", i);
    check(mpm_dict_set(ctx, MPM_INT(i), MPM_STRN(s, (size_t)n)), "dict_set");
}

static void op_dict_get(void *ctx, long long i)
{
    mpm_val *v = NULL;
    check(mpm_dict_get(ctx, MPM_INT(i % GET_KEYS), &v), "dict_get");
    mpm_val_free(v);
}

static void op_list_append(void *ctx, long long i)
{
    check(mpm_list_append(ctx, MPM_INT(i)), "list_append");
}

static void op_create(void *ctx, long long i)
{
    (void)ctx;
    (void)i;
    mpm_dict *d;
    check(mpm_dict_new(g_m, &d), "dict_new");
    mpm_dict_close(d);
}

/* one batch of BATCH sets: i counts batches */
static void op_batch_set(void *ctx, long long i)
{
    char s[BATCH][24];
    long long k0 = i * BATCH;
    check(mpm_batch_begin(g_m), "batch_begin");
    for (int j = 0; j < BATCH; j++) {
        int n = snprintf(s[j], sizeof s[j], "%lld", k0 + j);
        check(mpm_dict_set(ctx, MPM_INT(k0 + j), MPM_STRN(s[j], (size_t)n)), "batch dict_set");
    }
    check(mpm_batch_exec(g_m, NULL, 0), "batch_exec");
}

/* fill d with keys [from, to) -> str(key), MEM_BATCH sets per message */
static void fill(mpm_dict *d, long long from, long long to)
{
    static char s[MEM_BATCH][24];
    for (long long k = from; k < to;) {
        check(mpm_batch_begin(g_m), "batch_begin");
        for (int j = 0; j < MEM_BATCH && k < to; j++, k++) {
            int n = snprintf(s[j], sizeof s[j], "%lld", k);
            check(mpm_dict_set(d, MPM_INT(k), MPM_STRN(s[j], (size_t)n)), "fill dict_set");
        }
        check(mpm_batch_exec(g_m, NULL, 0), "fill batch_exec");
    }
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = atol(line + 6);
            break;
        }
    fclose(f);
    return kb;
}

/*---- synchronization ------------------------------------------------------------------*/

static void op_lock_pair(void *ctx, long long i)
{
    (void)i;
    check(mpm_lock_acquire(ctx, -1, NULL), "lock_acquire");
    check(mpm_lock_release(ctx), "lock_release");
}

static void op_sem_pair(void *ctx, long long i)
{
    (void)i;
    check(mpm_semaphore_acquire(ctx, -1), "semaphore_acquire");
    check(mpm_semaphore_release(ctx, 1), "semaphore_release");
}

/* Shared with the forked helpers (MAP_SHARED|MAP_ANONYMOUS, made before fork). */
typedef struct shm_area {
    volatile int stop;        /* hand-offs: the partner exits at its next wake-up */
    volatile double deadline; /* *_contend: loop until this CLOCK_MONOTONIC time */
    volatile long long pairs[64];
    volatile double done[64]; /* when each helper finished its last pair */
} shm_area;

/* n zeroed bytes shared with the helpers forked after. */
static void *shm_zeroed(size_t n)
{
    void *a = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    memset(a, 0, n);
    return a;
}

static shm_area *shm_new(void)
{
    return shm_zeroed(sizeof(shm_area));
}

/* Fork a helper that dies with us (a helper parked in a wait would otherwise
 * outlive a failed or timed-out benchmark, and keep our mpmd alive). */
static pid_t fork_helper(void)
{
    pid_t parent = getpid();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
    }
    return pid;
}

/* In a helper: report the failure and leave without running exit handlers. */
static void child_check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "mpm_bench: helper %d: %s: %s (%s)\n", (int)getpid(), what,
                mpm_strerror(rc), mpm_last_error());
        _exit(1);
    }
}

static void reap(pid_t pid, const char *what)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "mpm_bench: %s helper failed (status %d)\n", what, st);
        exit(1);
    }
}

typedef struct ev_pair {
    mpm_event *e1, *e2;
} ev_pair;

static void op_event_round(void *ctx, long long i)
{
    (void)i;
    ev_pair *p = ctx;
    check(mpm_event_set(p->e1), "event_set");
    check(mpm_event_wait(p->e2, -1, NULL), "event_wait");
    check(mpm_event_clear(p->e2), "event_clear");
}

static double bench_event_handoff(void)
{
    ev_pair p;
    check(mpm_event_new(g_m, &p.e1), "event_new");
    check(mpm_event_new(g_m, &p.e2), "event_new");
    shm_area *a = shm_new();
    pid_t b = fork_helper();
    if (b == 0) {
        for (;;) {
            child_check(mpm_event_wait(p.e1, -1, NULL), "event_wait");
            if (a->stop) _exit(0);
            child_check(mpm_event_clear(p.e1), "event_clear");
            child_check(mpm_event_set(p.e2), "event_set");
        }
    }
    long long i = 0;
    double r = run_timed(op_event_round, &p, &i, NULL);
    a->stop = 1;
    check(mpm_event_set(p.e1), "event_set");
    reap(b, "event_handoff");
    munmap((void *)a, sizeof *a);
    mpm_event_close(p.e1);
    mpm_event_close(p.e2);
    return 1e6 / (2 * r);
}

static void op_cond_round(void *ctx, long long i)
{
    (void)i;
    check(mpm_condition_notify(ctx, 1), "condition_notify");
    check(mpm_condition_wait(ctx, -1, NULL), "condition_wait");
}

static double bench_cond_handoff(void)
{
    mpm_condition *c;
    check(mpm_condition_new(g_m, &c, NULL), "condition_new");
    shm_area *a = shm_new();
    /* A holds the lock before B exists: B's first acquire waits for A's first wait */
    check(mpm_condition_acquire(c, -1), "condition_acquire");
    pid_t b = fork_helper();
    if (b == 0) {
        child_check(mpm_condition_acquire(c, -1), "condition_acquire");
        for (;;) {
            child_check(mpm_condition_notify(c, 1), "condition_notify");
            child_check(mpm_condition_wait(c, -1, NULL), "condition_wait");
            if (a->stop) break;
        }
        child_check(mpm_condition_release(c), "condition_release");
        _exit(0);
    }
    long long i = 0;
    double r = run_timed(op_cond_round, c, &i, NULL);
    /* B waits now; wake it with the stop word set and let it have the lock */
    a->stop = 1;
    check(mpm_condition_notify(c, 1), "condition_notify");
    check(mpm_condition_release(c), "condition_release");
    reap(b, "cond_handoff");
    munmap((void *)a, sizeof *a);
    mpm_condition_close(c);
    return 1e6 / (2 * r);
}

/* What the contend helpers loop on: one Lock (lock_contend) or one
 * Semaphore(1) (sem_contend); the rest of the measurement is the same. */
typedef enum { CONTEND_LOCK, CONTEND_SEM } contend_kind;

typedef struct contend_obj {
    contend_kind kind;
    mpm_lock *l;
    mpm_semaphore *s;
} contend_obj;

/* In a helper: one acquire+release of o. */
static void contend_pair(const contend_obj *o)
{
    if (o->kind == CONTEND_LOCK) {
        child_check(mpm_lock_acquire(o->l, -1, NULL), "lock_acquire");
        child_check(mpm_lock_release(o->l), "lock_release");
    } else {
        child_check(mpm_semaphore_acquire(o->s, -1), "semaphore_acquire");
        child_check(mpm_semaphore_release(o->s, 1), "semaphore_release");
    }
}

/* g_procs helpers loop acquire+release on one Lock or Semaphore(1) until a
 * common deadline; returns the total pairs per second. */
static double bench_contend(contend_kind kind)
{
    const char *name = kind == CONTEND_LOCK ? "lock_contend" : "sem_contend";
    int n = g_procs;
    if (n < 1 || n > 64) {
        fprintf(stderr, "mpm_bench: --procs must be 1..64\n");
        exit(2);
    }
    contend_obj o = {.kind = kind};
    if (kind == CONTEND_LOCK)
        check(mpm_lock_new(g_m, &o.l), "lock_new");
    else
        check(mpm_semaphore_new(g_m, &o.s, 1, false), "semaphore_new");
    shm_area *a = shm_new();
    int ready[2], go[2];
    if (pipe(ready) || pipe(go)) {
        perror("pipe");
        exit(1);
    }
    pid_t kids[64];
    for (int k = 0; k < n; k++) {
        kids[k] = fork_helper();
        if (kids[k] == 0) {
            close(ready[0]);
            close(go[1]);
            /* connect and warm up before the start */
            for (int w = 0; w < 20; w++)
                contend_pair(&o);
            char ch = 'r';
            if (write(ready[1], &ch, 1) != 1) _exit(3);
            if (read(go[0], &ch, 1) != 0) _exit(4); /* EOF: go */
            double end = a->deadline;
            long long pairs = 0;
            double t;
            do {
                contend_pair(&o);
                pairs++;
            } while ((t = now_s()) < end);
            a->pairs[k] = pairs;
            a->done[k] = t;
            _exit(0);
        }
    }
    close(ready[1]);
    close(go[0]);
    for (int k = 0; k < n; k++) {
        char ch;
        if (read(ready[0], &ch, 1) != 1) {
            fprintf(stderr, "mpm_bench: a %s helper did not start\n", name);
            exit(1);
        }
    }
    close(ready[0]);
    double t0 = now_s();
    a->deadline = t0 + (g_count ? 1.0 : g_seconds);
    close(go[1]); /* every helper's read returns 0: go */
    long long total = 0;
    double last = t0;
    for (int k = 0; k < n; k++) {
        reap(kids[k], name);
        total += a->pairs[k];
        if (a->done[k] > last) last = a->done[k];
    }
    fprintf(stderr, "mpm_bench: %s pairs per helper:", name);
    for (int k = 0; k < n; k++)
        fprintf(stderr, " %lld", a->pairs[k]);
    fprintf(stderr, "\n");
    munmap((void *)a, sizeof *a);
    mpm_lock_close(o.l);
    mpm_semaphore_close(o.s);
    return (double)total / (last - t0);
}

/* lock_scale: the contended rate against the single-process rate, measured
 * in alternating slices.  On this VM the rate of one and the same loop moves
 * by 10-20% from one second to the next (the host), so an 8-process figure
 * and a 1-process figure taken seconds apart compare the moments more than
 * the loads.  Here g_procs helpers connect once; then slices of one helper
 * looping alone and of all g_procs looping alternate (ABBA: one then many,
 * many then one, so a steady drift weighs on both alike), and each
 * neighbouring pair of slices gives a ratio. */
#define SCALE_PAIRS 6
typedef struct scale_area {
    volatile int gen;    /* bumped to start a slice; -1: exit */
    volatile int active; /* helpers 0..active-1 loop in this slice */
    volatile double end; /* the slice's end (CLOCK_MONOTONIC) */
    volatile int left;   /* active helpers still looping */
    volatile long long pairs[64]; /* pairs each made before the end */
} scale_area;

/* Sleep while *w == val (at most a second, to look at the helpers). */
static void futex_wait_int(volatile int *w, int val)
{
    struct timespec ts = {1, 0};
    syscall(SYS_futex, (int *)w, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake_all(volatile int *w)
{
    syscall(SYS_futex, (int *)w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* One slice with `active` helpers looping; returns their total pairs/s.  A
 * helper that failed (child_check) would never report: stop then. */
static double scale_slice(scale_area *a, const pid_t *kids, int n, int active, double len)
{
    for (int k = 0; k < active; k++)
        a->pairs[k] = 0;
    a->active = active;
    a->left = active;
    double t0 = now_s();
    a->end = t0 + len;
    __atomic_add_fetch(&a->gen, 1, __ATOMIC_SEQ_CST);
    futex_wake_all(&a->gen);
    int left;
    while ((left = __atomic_load_n(&a->left, __ATOMIC_SEQ_CST)) > 0) {
        futex_wait_int(&a->left, left);
        for (int k = 0; k < n && now_s() > a->end + 1; k++)
            if (waitpid(kids[k], NULL, WNOHANG) == kids[k]) {
                fprintf(stderr, "mpm_bench: a lock_scale helper failed\n");
                exit(1);
            }
    }
    /* the pairs made before the end: at the end of a slice of many, the
     * waiters still parked each need a hand-off to finish their last pair */
    long long total = 0;
    for (int k = 0; k < active; k++)
        total += a->pairs[k];
    return (double)total / len;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Prints lock_scale1 and lock_scale<N> (the median slice rates),
 * lock_scale_ratio (the median of the SCALE_PAIRS ratios of N to 1) and each
 * ratio as a lock_scale_slice line: bench/run.sh takes the median of the
 * slices of all its rounds, a finer figure than the median of their medians. */
static void bench_lock_scale(void)
{
    int n = g_procs;
    if (n < 2 || n > 64) {
        fprintf(stderr, "mpm_bench: --procs must be 2..64 for lock_scale\n");
        exit(2);
    }
    mpm_lock *l;
    check(mpm_lock_new(g_m, &l), "lock_new");
    scale_area *a = shm_zeroed(sizeof *a);
    contend_obj o = {.kind = CONTEND_LOCK, .l = l};
    pid_t kids[64];
    for (int k = 0; k < n; k++) {
        kids[k] = fork_helper();
        if (kids[k] != 0) continue;
        for (int w = 0; w < 20; w++) /* connect and warm up */
            contend_pair(&o);
        int seen = 0, g;
        for (;;) {
            while ((g = __atomic_load_n(&a->gen, __ATOMIC_SEQ_CST)) == seen)
                futex_wait_int(&a->gen, seen);
            if (g < 0) _exit(0);
            int active = a->active;
            double end = a->end, t;
            /* a later slice began while we read (we were not in slice g, or
             * we would have been waited for): read that one's instead */
            if (__atomic_load_n(&a->gen, __ATOMIC_SEQ_CST) != g) continue;
            seen = g;
            if (k >= active) continue;
            long long pairs = 0;
            do {
                contend_pair(&o);
                if ((t = now_s()) < end) pairs++;
            } while (t < end);
            a->pairs[k] = pairs;
            if (__atomic_sub_fetch(&a->left, 1, __ATOMIC_SEQ_CST) == 0) futex_wake_all(&a->left);
        }
    }
    /* 2 * SCALE_PAIRS slices, each a sixth of the measuring time (--count: 1 s) */
    double len = (g_count ? 1.0 : g_seconds) / SCALE_PAIRS;
    if (len < 0.05) len = 0.05;
    scale_slice(a, kids, n, n, len / 2); /* warm-up: every helper once */
    double one[SCALE_PAIRS], many[SCALE_PAIRS], ratio[SCALE_PAIRS];
    for (int i = 0; i < SCALE_PAIRS; i++) {
        if (i % 2 == 0) {
            one[i] = scale_slice(a, kids, n, 1, len);
            many[i] = scale_slice(a, kids, n, n, len);
        } else {
            many[i] = scale_slice(a, kids, n, n, len);
            one[i] = scale_slice(a, kids, n, 1, len);
        }
        ratio[i] = many[i] / one[i];
    }
    a->gen = -1;
    futex_wake_all(&a->gen);
    for (int k = 0; k < n; k++)
        reap(kids[k], "lock_scale");
    fprintf(stderr, "mpm_bench: lock_scale 1 / %d / ratio:", n);
    for (int i = 0; i < SCALE_PAIRS; i++)
        fprintf(stderr, " %.0f/%.0f/%.3f", one[i], many[i], ratio[i]);
    fprintf(stderr, "\n");
    for (int i = 0; i < SCALE_PAIRS; i++)
        printf("mpm %s lock_scale_slice %.3f\n", g_transport, ratio[i]);
    qsort(one, SCALE_PAIRS, sizeof one[0], cmp_double);
    qsort(many, SCALE_PAIRS, sizeof many[0], cmp_double);
    qsort(ratio, SCALE_PAIRS, sizeof ratio[0], cmp_double);
    double mid1 = (one[SCALE_PAIRS / 2 - 1] + one[SCALE_PAIRS / 2]) / 2;
    double midn = (many[SCALE_PAIRS / 2 - 1] + many[SCALE_PAIRS / 2]) / 2;
    double midr = (ratio[SCALE_PAIRS / 2 - 1] + ratio[SCALE_PAIRS / 2]) / 2;
    printf("mpm %s lock_scale1 %.0f\nmpm %s lock_scale%d %.0f\nmpm %s lock_scale_ratio %.3f\n",
           g_transport, mid1, g_transport, n, midn, g_transport, midr);
    fflush(stdout);
    munmap((void *)a, sizeof *a);
    mpm_lock_close(l);
}

/*---- queues ------------------------------------------------------------------------*/

static void op_queue_pair(void *ctx, long long i)
{
    mpm_val *v = NULL;
    check(mpm_queue_put(ctx, MPM_INT(i), -1), "queue_put");
    check(mpm_queue_get(ctx, -1, &v), "queue_get");
    mpm_val_free(v);
}

/* one put_many of QBATCH items, then get_many until all QBATCH are back: i counts batches */
static void op_queue_batch(void *ctx, long long i)
{
    mpm_val items[QBATCH];
    for (int j = 0; j < QBATCH; j++)
        items[j] = MPM_INT(i * QBATCH + j);
    size_t nput = 0;
    check(mpm_queue_put_many(ctx, MPM_LIST(items, QBATCH), -1, &nput), "queue_put_many");
    for (size_t got = 0; got < QBATCH;) {
        mpm_val *v = NULL;
        check(mpm_queue_get_many(ctx, QBATCH - got, -1, &v), "queue_get_many");
        got += v->v.list.len;
        mpm_val_free(v);
    }
}

/* QPRODUCERS producers put items (one per call) and QCONSUMERS consumers get
 * them from one Queue until a common deadline; returns the items/s the
 * consumers received before the deadline.  The consumers are stopped through
 * the shared memory word (and one wake-up item each for those blocked in get). */
static double bench_queue_4x4(void)
{
    int n = QPRODUCERS + QCONSUMERS;
    mpm_queue *q;
    check(mpm_queue_new(g_m, &q, 0), "queue_new");
    shm_area *a = shm_new();
    int ready[2], go[2];
    if (pipe(ready) || pipe(go)) {
        perror("pipe");
        exit(1);
    }
    pid_t kids[QPRODUCERS + QCONSUMERS];
    for (int k = 0; k < n; k++) {
        kids[k] = fork_helper();
        if (kids[k] == 0) {
            close(ready[0]);
            close(go[1]);
            /* connect and warm up before the start: each get follows its own put */
            for (int w = 0; w < 20; w++) {
                mpm_val *v = NULL;
                child_check(mpm_queue_put(q, MPM_INT(w), -1), "queue_put");
                child_check(mpm_queue_get(q, -1, &v), "queue_get");
                mpm_val_free(v);
            }
            char ch = 'r';
            if (write(ready[1], &ch, 1) != 1) _exit(3);
            if (read(go[0], &ch, 1) != 0) _exit(4); /* EOF: go */
            double end = a->deadline, t;
            long long items = 0;
            if (k < QPRODUCERS) {
                long long i = (long long)k << 40;
                do {
                    child_check(mpm_queue_put(q, MPM_INT(i++), -1), "queue_put");
                    items++;
                } while ((t = now_s()) < end);
            } else {
                for (;;) {
                    mpm_val *v = NULL;
                    child_check(mpm_queue_get(q, -1, &v), "queue_get");
                    mpm_val_free(v);
                    if (a->stop) break;
                    if (now_s() < end) items++;
                }
                t = end;
            }
            a->pairs[k] = items;
            a->done[k] = t;
            _exit(0);
        }
    }
    close(ready[1]);
    close(go[0]);
    for (int k = 0; k < n; k++) {
        char ch;
        if (read(ready[0], &ch, 1) != 1) {
            fprintf(stderr, "mpm_bench: a queue_4x4 helper did not start\n");
            exit(1);
        }
    }
    close(ready[0]);
    double t0 = now_s();
    a->deadline = t0 + (g_count ? 1.0 : g_seconds);
    close(go[1]);
    for (int k = 0; k < QPRODUCERS; k++)
        reap(kids[k], "queue_4x4 producer");
    a->stop = 1;
    for (int k = 0; k < QCONSUMERS; k++) /* wake every consumer blocked in get */
        check(mpm_queue_put(q, MPM_INT(-1), -1), "queue_put");
    long long put = 0, got = 0;
    for (int k = QPRODUCERS; k < n; k++)
        reap(kids[k], "queue_4x4 consumer");
    for (int k = 0; k < n; k++)
        *(k < QPRODUCERS ? &put : &got) += a->pairs[k];
    fprintf(stderr, "mpm_bench: queue_4x4: items put %lld, got before the deadline %lld (per consumer:",
            put, got);
    for (int k = QPRODUCERS; k < n; k++)
        fprintf(stderr, " %lld", a->pairs[k]);
    fprintf(stderr, ")\n");
    double span = a->deadline - t0;
    munmap((void *)a, sizeof *a);
    mpm_queue_close(q);
    return (double)got / span;
}

static void print_rate(const char *op, double v)
{
    printf("mpm %s %s %.0f\n", g_transport, op, v);
    fflush(stdout);
}

static void run_op(const char *op, pid_t server_pid)
{
    long long i = 0, calls = 0;
    if (strcmp(op, "ping") == 0) {
        print_rate(op, run_timed(op_ping, NULL, &i, NULL));
    } else if (strcmp(op, "dict_set") == 0) {
        mpm_dict *d;
        check(mpm_dict_new(g_m, &d), "dict_new");
        print_rate(op, run_timed(op_dict_set, d, &i, NULL));
        mpm_dict_close(d);
    } else if (strcmp(op, "dict_get") == 0) {
        mpm_dict *d;
        check(mpm_dict_new(g_m, &d), "dict_new");
        fill(d, 0, GET_KEYS);
        print_rate(op, run_timed(op_dict_get, d, &i, NULL));
        mpm_dict_close(d);
    } else if (strcmp(op, "list_append") == 0) {
        mpm_list *l;
        int rc = mpm_list_new(g_m, &l);
        if (rc) { /* the list type may not be in this server yet */
            fprintf(stderr, "mpm_bench: list_new: %s (%s)\n", mpm_strerror(rc), mpm_last_error());
            printf("mpm %s %s n/a\n", g_transport, op);
            fflush(stdout);
            return;
        }
        print_rate(op, run_timed(op_list_append, l, &i, NULL));
        mpm_list_close(l);
    } else if (strcmp(op, "create") == 0) {
        double r = run_timed(op_create, NULL, &i, NULL);
        printf("mpm %s create_us %.2f\n", g_transport, 1e6 / r);
        fflush(stdout);
    } else if (strcmp(op, "batch_set") == 0) {
        mpm_dict *d;
        check(mpm_dict_new(g_m, &d), "dict_new");
        double r = run_timed(op_batch_set, d, &i, &calls);
        print_rate(op, r * BATCH);
        mpm_dict_close(d);
    } else if (strcmp(op, "lock_pair") == 0) {
        mpm_lock *l;
        check(mpm_lock_new(g_m, &l), "lock_new");
        print_rate(op, run_timed(op_lock_pair, l, &i, NULL));
        mpm_lock_close(l);
    } else if (strcmp(op, "event_handoff") == 0) {
        printf("mpm %s event_handoff_us %.2f\n", g_transport, bench_event_handoff());
        fflush(stdout);
    } else if (strcmp(op, "cond_handoff") == 0) {
        printf("mpm %s cond_handoff_us %.2f\n", g_transport, bench_cond_handoff());
        fflush(stdout);
    } else if (strcmp(op, "lock_contend") == 0 || strcmp(op, "sem_contend") == 0) {
        double r = bench_contend(strcmp(op, "lock_contend") == 0 ? CONTEND_LOCK : CONTEND_SEM);
        printf("mpm %s %s%d %.0f\n", g_transport, op, g_procs, r);
        fflush(stdout);
    } else if (strcmp(op, "lock_scale") == 0) {
        bench_lock_scale();
    } else if (strcmp(op, "sem_pair") == 0) {
        mpm_semaphore *s;
        check(mpm_semaphore_new(g_m, &s, 1, false), "semaphore_new");
        print_rate(op, run_timed(op_sem_pair, s, &i, NULL));
        mpm_semaphore_close(s);
    } else if (strcmp(op, "queue_pair") == 0) {
        mpm_queue *q;
        check(mpm_queue_new(g_m, &q, 0), "queue_new");
        print_rate(op, run_timed(op_queue_pair, q, &i, NULL));
        mpm_queue_close(q);
    } else if (strcmp(op, "queue_batch") == 0) {
        mpm_queue *q;
        check(mpm_queue_new(g_m, &q, 0), "queue_new");
        print_rate("queue_batch100", run_timed(op_queue_batch, q, &i, NULL) * QBATCH);
        mpm_queue_close(q);
    } else if (strcmp(op, "queue_4x4") == 0) {
        print_rate(op, bench_queue_4x4());
    } else if (strcmp(op, "mem") == 0) {
        if (server_pid <= 0) {
            fprintf(stderr, "mpm_bench: mem needs the server's pid (--server-pid)\n");
            printf("mpm %s mem_bytes_per_entry n/a\n", g_transport);
            return;
        }
        mpm_dict *d;
        check(mpm_dict_new(g_m, &d), "dict_new");
        check(mpm_ping(g_m), "ping");
        long before = rss_kb(server_pid);
        double t0 = now_s();
        fill(d, 0, MEM_ENTRIES);
        double t1 = now_s();
        size_t len = 0;
        check(mpm_dict_len(d, &len), "dict_len");
        long after = rss_kb(server_pid);
        if (len != MEM_ENTRIES || before < 0 || after < 0) {
            fprintf(stderr, "mpm_bench: mem: len %zu, rss %ld -> %ld kB\n", len, before, after);
            printf("mpm %s mem_bytes_per_entry n/a\n", g_transport);
            return;
        }
        fprintf(stderr,
                "mpm_bench: server VmRSS %ld kB -> %ld kB for %d entries (filled in %.2f s)\n",
                before, after, MEM_ENTRIES, t1 - t0);
        printf("mpm %s mem_bytes_per_entry %.1f\n", g_transport,
               (double)(after - before) * 1024.0 / MEM_ENTRIES);
        fflush(stdout);
        mpm_dict_close(d);
    } else {
        fprintf(stderr, "mpm_bench: unknown --op '%s'\n", op);
        exit(2);
    }
}

/*---- servers ---------------------------------------------------------------------*/

static char g_dir[64];
static pid_t g_server = -1;
static int g_parent_fd = -1;

static void cleanup_dir(void)
{
    if (!g_dir[0]) return;
    char p[128];
    snprintf(p, sizeof p, "%s/mpmd.sock", g_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/nng.sock", g_dir);
    unlink(p);
    rmdir(g_dir);
}

static const char *default_mpmd(void)
{
    static char path[PATH_MAX];
    if (getenv("MPM_MPMD")) return getenv("MPM_MPMD");
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
    if (n > 0) {
        path[n] = 0;
        char *d = dirname(path);
        memmove(path, d, strlen(d) + 1);
        strcat(path, "/mpmd");
        if (access(path, X_OK) == 0) return path;
    }
    return "mpmd";
}

/* Start mpmd listening on the transport; returns its first bound URL in url. */
static int spawn_mpmd(const char *mpmd, const char *transport, const unsigned char *key,
                      size_t klen, char *url, size_t urln)
{
    char listen[160];
    snprintf(g_dir, sizeof g_dir, "/tmp/mpm-bench-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return -1;
    }
    if (strcmp(transport, "unix") == 0)
        snprintf(listen, sizeof listen, "unix://%s/mpmd.sock", g_dir);
    else if (strcmp(transport, "tcp") == 0)
        snprintf(listen, sizeof listen, "tcp://127.0.0.1:0");
    else if (strcmp(transport, "nng+ipc") == 0)
        snprintf(listen, sizeof listen, "nng+ipc://%s/nng.sock", g_dir);
    else if (strcmp(transport, "nng+tcp") == 0)
        snprintf(listen, sizeof listen, "nng+tcp://127.0.0.1:0");
    else {
        fprintf(stderr, "mpm_bench: unknown transport '%s'\n", transport);
        exit(2);
    }
    int keyp[2], readyp[2], parentp[2];
    if (pipe2(keyp, O_CLOEXEC) || pipe2(readyp, O_CLOEXEC) || pipe2(parentp, O_CLOEXEC)) {
        perror("pipe");
        return -1;
    }
    if (write(keyp[1], key, klen) != (ssize_t)klen) return -1;
    close(keyp[1]);
    char kfd[16], rfd[16], pfd[16];
    snprintf(kfd, sizeof kfd, "%d", keyp[0]);
    snprintf(rfd, sizeof rfd, "%d", readyp[1]);
    snprintf(pfd, sizeof pfd, "%d", parentp[0]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        fcntl(keyp[0], F_SETFD, 0);
        fcntl(readyp[1], F_SETFD, 0);
        fcntl(parentp[0], F_SETFD, 0);
        if (!getenv("MPM_BENCH_SERVER_LOG")) {
            int nul = open("/dev/null", O_WRONLY);
            if (nul >= 0) dup2(nul, 2);
        }
        const char *argv[32] = {mpmd,        "--listen",  listen, "--authkey-fd", kfd,
                                "--ready-fd", rfd,         "--parent-fd", pfd,  "--quiet"};
        int argc = 10;
        for (int k = 0; k < g_nmpmd_args; k++)
            argv[argc++] = g_mpmd_args[k];
        argv[argc] = NULL;
        execvp(mpmd, (char **)argv);
        _exit(127);
    }
    close(keyp[0]);
    close(readyp[1]);
    close(parentp[0]);
    g_server = pid;
    g_parent_fd = parentp[1];
    char bound[1024];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(readyp[0], bound + got, sizeof bound - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof bound - 1) break;
    }
    close(readyp[0]);
    bound[got] = 0;
    char *nl = strchr(bound, '\n');
    if (nl) *nl = 0;
    if (!got || !bound[0]) {
        waitpid(pid, NULL, 0);
        g_server = -1;
        return -1;
    }
    snprintf(url, urln, "%s", bound);
    return 0;
}

/* Move every thread of pid to cpu (--server-cpu: client and server on
 * different CPUs, the worst case of an unpinned run, made deterministic). */
static void pin_process(pid_t pid, int cpu)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && sched_setaffinity(atoi(e->d_name), sizeof set, &set))
            fprintf(stderr, "mpm_bench: cannot move the server to CPU %d: %s\n", cpu,
                    strerror(errno));
    closedir(d);
}

/* For --private: mpm_manager_start's server is our only child process. */
static pid_t find_child(void)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    pid_t pid = -1;
    if (fgets(buf, sizeof buf, f)) pid = (pid_t)atoi(buf);
    fclose(f);
    return pid > 0 ? pid : -1;
}

static void usage(FILE *f)
{
    fputs("usage: mpm_bench [--transport unix|tcp|nng+ipc | --private | --url URL [--authkey KEY]\n"
          "                  [--server-pid PID]] [--mpmd PATH] [--mpmd-arg ARG ...]\n"
          "                 [--op ping,dict_set,dict_get,list_append,create,batch_set,mem|all]\n"
          "                 [--op lock_pair,event_handoff,cond_handoff,lock_contend,\n"
          "                       sem_pair,sem_contend,lock_scale] [--procs N]\n"
          "                 [--op queue_pair,queue_4x4,queue_batch]\n"
          "                 [--seconds S | --count N] [--label NAME] [--server-cpu N]\n"
          "Prints lines 'mpm <transport> <op> <value>' (ops/s; create_us: µs per\n"
          "dict_new+dict_close; batch_set: sets/s; mem_bytes_per_entry; lock_pair,\n"
          "lock_contend<N>, sem_pair and sem_contend<N> (on a Semaphore(1)):\n"
          "acquire+release pairs/s; event_handoff_us, cond_handoff_us: µs per one-way\n"
          "hand-off between two processes; queue_pair: put+get pairs/s; queue_4x4,\n"
          "queue_batch100: items/s through one Queue; lock_scale: lock_scale1 and\n"
          "lock_scale<N>, pairs/s of 1 and of N processes in alternating slices, and\n"
          "lock_scale_ratio, the median ratio of neighbouring slices, each of which\n"
          "is also printed as lock_scale_slice).\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"transport", required_argument, 0, 't'},
        {"private", no_argument, 0, 'P'},
        {"url", required_argument, 0, 'u'},
        {"authkey", required_argument, 0, 'k'},
        {"server-pid", required_argument, 0, 'S'},
        {"mpmd", required_argument, 0, 'M'},
        {"op", required_argument, 0, 'o'},
        {"seconds", required_argument, 0, 's'},
        {"count", required_argument, 0, 'c'},
        {"label", required_argument, 0, 'L'},
        {"server-cpu", required_argument, 0, 'C'},
        {"procs", required_argument, 0, 'N'},
        {"mpmd-arg", required_argument, 0, 'A'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *transport = "unix", *url = NULL, *authkey = NULL, *mpmd = NULL, *label = NULL;
    char *ops = strdup("all");
    int private_mgr = 0, server_cpu = -1;
    pid_t server_pid = -1;
    int ch;
    while ((ch = getopt_long(argc, argv, "t:Pu:k:S:M:o:s:c:L:C:N:A:h", opts, NULL)) != -1) {
        switch (ch) {
        case 't':
            transport = optarg;
            break;
        case 'P':
            private_mgr = 1;
            break;
        case 'u':
            url = optarg;
            break;
        case 'k':
            authkey = optarg;
            break;
        case 'S':
            server_pid = atoi(optarg);
            break;
        case 'M':
            mpmd = optarg;
            break;
        case 'o':
            free(ops);
            ops = strdup(optarg);
            break;
        case 's':
            g_seconds = atof(optarg);
            break;
        case 'c':
            g_count = atoll(optarg);
            break;
        case 'L':
            label = optarg;
            break;
        case 'C':
            server_cpu = atoi(optarg);
            break;
        case 'N':
            g_procs = atoi(optarg);
            break;
        case 'A':
            if (g_nmpmd_args == 16) {
                fprintf(stderr, "mpm_bench: at most 16 --mpmd-arg\n");
                return 2;
            }
            g_mpmd_args[g_nmpmd_args++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(ops, "all") == 0) {
        free(ops);
        ops = strdup("ping,dict_set,dict_get,list_append,create,batch_set");
    }
    signal(SIGPIPE, SIG_IGN);

    int rc;
    if (url) {
        g_transport = strncmp(url, "unix:", 5) == 0      ? "unix"
                      : strncmp(url, "tcp:", 4) == 0     ? "tcp"
                      : strncmp(url, "nng+ipc:", 8) == 0 ? "nng+ipc"
                                                         : "nng+tcp";
        rc = mpm_connect(&g_m, url, authkey, authkey ? strlen(authkey) : 0);
    } else if (private_mgr) {
        g_transport = "unix";
        rc = mpm_manager_start(&g_m, NULL);
        if (!rc) server_pid = find_child();
    } else {
        g_transport = transport;
        unsigned char key[32];
        char bound[1024];
        if (sodium_init() < 0) return 1;
        randombytes_buf(key, sizeof key);
        if (spawn_mpmd(mpmd ? mpmd : default_mpmd(), transport, key, sizeof key, bound,
                       sizeof bound)) {
            fprintf(stderr, "mpm_bench: mpmd did not start on %s (transport not built?)\n",
                    transport);
            for (char *tok = strtok(ops, ","); tok; tok = strtok(NULL, ",")) {
                char name[32];
                if (strcmp(tok, "lock_contend") == 0 || strcmp(tok, "sem_contend") == 0)
                    snprintf(name, sizeof name, "%s%d", tok, g_procs);
                else if (strcmp(tok, "lock_scale") == 0) {
                    const char *t = label ? label : transport;
                    printf("mpm %s lock_scale1 n/a\nmpm %s lock_scale%d n/a\n", t, t, g_procs);
                    snprintf(name, sizeof name, "lock_scale_ratio");
                } else if (strcmp(tok, "queue_batch") == 0)
                    snprintf(name, sizeof name, "queue_batch%d", QBATCH);
                else
                    snprintf(name, sizeof name, "%s%s", tok,
                             strcmp(tok, "create") == 0 || strcmp(tok, "event_handoff") == 0 ||
                                     strcmp(tok, "cond_handoff") == 0
                                 ? "_us"
                             : strcmp(tok, "mem") == 0 ? "_bytes_per_entry"
                                                       : "");
                printf("mpm %s %s n/a\n", label ? label : transport, name);
            }
            cleanup_dir();
            return 3;
        }
        server_pid = g_server;
        rc = mpm_connect(&g_m, bound, key, sizeof key);
    }
    if (label) g_transport = label;
    if (rc) {
        fprintf(stderr, "mpm_bench: cannot reach the server: %s (%s)\n", mpm_strerror(rc),
                mpm_last_error());
        if (g_server > 0) {
            kill(g_server, SIGTERM);
            waitpid(g_server, NULL, 0);
        }
        cleanup_dir();
        return 1;
    }

    if (server_cpu >= 0) {
        if (server_pid <= 0) {
            fprintf(stderr, "mpm_bench: --server-cpu needs a server pid\n");
            return 2;
        }
        pin_process(server_pid, server_cpu);
    }
    for (char *tok = strtok(ops, ","); tok; tok = strtok(NULL, ","))
        run_op(tok, server_pid);

    if (g_server > 0) {
        /* our own mpmd: ask it to stop and reap it */
        mpm_manager_shutdown(g_m);
        close(g_parent_fd);
        waitpid(g_server, NULL, 0);
        cleanup_dir();
    } else if (private_mgr) {
        mpm_manager_shutdown(g_m);
    } else {
        mpm_manager_close(g_m);
    }
    free(ops);
    return 0;
}
