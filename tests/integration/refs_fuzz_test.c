/* refs_fuzz_test.c - object references stored in values and the collector that
 * frees what only they reached, attacked from outside.
 *
 * Every test runs its own mpmd (fork/exec of $MPM_MPMD with --gc-grace-ms)
 * so the grace can be 0 (a forced collection is then exact: the server holds
 * precisely the objects reachable from handles and names) or short.
 *
 *  - fuzz_*: seeded random workloads (fixed seeds, deterministic) over dicts,
 *    lists, Namespaces, queues, Locks and Values, from two sessions, whose
 *    values hold references (bare, nested in lists and maps, as dict keys) to
 *    other objects, cycles included; handles are closed and re-attached, names
 *    created and deleted, dict keys overwritten and deleted, list slices set
 *    and deleted, queue items put and taken, a whole session dropped.  A model
 *    knows what is reachable; the server must hold exactly that many objects,
 *    every container must read back as the model says, every reachable object
 *    must attach, a dead one must not.
 *  - malformed_*: references the server must refuse (wrong EXT length,
 *    unknown type byte, id 0, dead or absurd ids, other EXT types, deep in
 *    lists and maps, as dict keys, in batches, CREATE and OPEN), sent raw on
 *    an authenticated connection: each gets its error and changes nothing.
 *  - killed_*: SIGKILL of a process whose parked put holds the only
 *    references to objects, and of a worker holding a JoinableQueue item.
 *  - collected_*: objects collected while raw sessions wait on them (a
 *    Condition wait, a queue get, a lock acquire) and hold their resources
 *    (a Lock, JoinableQueue items): the waits are answered, nothing dangles.
 *  - bug_*: each one reproduces a defect found in review (see its comment);
 *    they fail until it is fixed (bug_empty_slice_assignment_to_an_empty_list
 *    only under -DMPM_ASAN=ON, where UBSan aborts mpmd).
 *
 * Children report by exit status only (never cr_assert after fork). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpm/mpm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol/buf.h"
#include "protocol/codec.h"
#include "protocol/ops.h"
#include "protocol/wire.h"
#include "support/mpmd.h"
#include "support/raw_client.h"
#include "support/support.h"

/* Children report by exit status: 0 = fine, else the failing step. */
#define CHILD_OK(expr, step)                                                                       \
    do {                                                                                           \
        if ((expr) != 0) _exit(step);                                                              \
    } while (0)

/*---- a private mpmd with a chosen grace -------------------------------------------------*/

static const char KEY[] = "refs-fuzz-key";
static char dir[64], sockpath[128], url[160], keyfile[128];
static pid_t srv_pid = -1;

/* Start mpmd --gc-grace-ms grace and wait for its ready line: 0, or -1 when
 * mpmd refused to start (exited, having bound nothing). */
static int srv_start_rc(const char *grace)
{
    unsetenv("MPM_ADDRESS");
    unsetenv("MPM_AUTHKEY");
    t_private_dir(dir, sizeof dir, "mpmrefs", keyfile, sizeof keyfile, KEY);
    snprintf(sockpath, sizeof sockpath, "%s/s", dir);
    snprintf(url, sizeof url, "unix://%s", sockpath);

    const char *extra[] = {"--gc-grace-ms", grace, NULL};
    char bound[512];
    srv_pid =
        t_mpmd_start(url, keyfile, extra, 30000, bound, sizeof bound); /* valgrind starts slowly */
    if (srv_pid < 0) return -1;
    cr_assert(strstr(bound, url), "mpmd did not start: bound '%s'", bound);
    return 0;
}

static void srv_start(const char *grace)
{
    cr_assert_eq(srv_start_rc(grace), 0, "mpmd --gc-grace-ms %s did not start", grace);
}

static void srv_alive(void)
{
    cr_assert_eq(waitpid(srv_pid, NULL, WNOHANG), 0, "mpmd died");
}

/* SIGTERM; the wait status (SIGKILL after 15 s). */
static int srv_stop(void)
{
    int st = srv_pid > 0 ? t_mpmd_stop(srv_pid, 15000) : 0;
    srv_pid = -1;
    return st;
}

static void cleanup(void)
{
    srv_stop();
    if (dir[0]) {
        t_private_dir_remove(dir);
    }
}

/* The end of a test: the server lived through it and stops cleanly (under
 * ASan that includes LeakSanitizer finding nothing at exit). */
static void srv_finish(void)
{
    srv_alive();
    int st = srv_stop();
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "mpmd did not stop cleanly on SIGTERM (wait status %#x)", st);
}

TestSuite(refs, .fini = cleanup, .timeout = 60);

static mpm_manager *connect_m(void)
{
    mpm_manager *m = NULL;
    T_OK(mpm_connect(&m, url, KEY, strlen(KEY)));
    return m;
}

static size_t nobjects(mpm_manager *m)
{
    size_t n = 0;
    T_OK(mpm_manager_object_count(m, &n));
    return n;
}

static void expect_count_within(mpm_manager *m, size_t want, int ms)
{
    int64_t end = t_now_ms() + ms;
    size_t n;
    while ((n = nobjects(m)) != want && t_now_ms() < end) t_sleep_ms(10);
    cr_assert_eq(n, want, "the server holds %zu objects, want %zu", n, want);
}

static void wait_sessions(mpm_manager *m, size_t want)
{
    size_t n = 0;
    int64_t end = t_now_ms() + 10000;
    while (mpm_manager_sessions(m, &n) == 0 && n != want && t_now_ms() < end) t_sleep_ms(10);
    cr_assert_eq(n, want, "%zu sessions, want %zu", n, want);
}

static mpm_val ref_to(uint64_t id, int type)
{
    return (mpm_val){.type = MPM_T_REF, .v.ref = {.id = id, .type = type}};
}

/*---- a raw authenticated client (support/raw_client.h) -----------------------------------*/

/* The raw client's server: 10 s for each handshake step and each reply. */
static unsigned char reply_buf[1 << 20];
static const raw_opts RAW = {sockpath, KEY, 10000, 10000, reply_buf, sizeof reply_buf};

/* Open a frame already read into reply_buf (fn bytes): its body. */
static const unsigned char *raw_recv_opened(raw *r, size_t *fn)
{
    unsigned char *b;
    size_t blen;
    cr_assert_eq(mpmi_open(&r->ch, reply_buf, *fn, &b, &blen), 0, "the reply does not open");
    *fn = blen;
    return b;
}

/* More of a body than its calls: msgpack as it is, a string. */
static void body_raw(raw_body *b, const void *p, size_t n)
{
    mpmi_pk_raw(&b->pk, p, n);
}

/* One STATS counter by name. */
static int64_t raw_stat(raw *r, const char *key)
{
    static const unsigned char STATS[] = {0x91, 0x92, 0x00, MPMI_OP_STATS};
    size_t blen;
    raw_result res;
    const unsigned char *p = raw_call(r, STATS, sizeof STATS, &blen);
    cr_assert_eq(raw_parse_reply(p, blen, &res, 1), 1);
    cr_assert_eq(res.status, 0);
    mpmi_rd rd;
    mpmi_item it, k, v;
    mpmi_rd_init(&rd, res.val, res.vn);
    cr_assert_eq(mpmi_rd_next(&rd, &it), 0);
    cr_assert_eq(it.type, MPMI_MAP);
    for (uint32_t i = 0; i < it.v.n; i++) {
        const unsigned char *vp;
        size_t vn;
        cr_assert_eq(mpmi_rd_next(&rd, &k), 0);
        cr_assert_eq(mpmi_rd_value(&rd, &vp, &vn), 0);
        if (k.type != MPMI_STR || k.v.s.n != strlen(key) || memcmp(k.v.s.p, key, k.v.s.n)) continue;
        mpmi_rd one;
        mpmi_rd_init(&one, vp, vn);
        int64_t x = -1;
        cr_assert_eq(mpmi_rd_next(&one, &v), 0);
        cr_assert_eq(mpmi_item_int(&v, &x), 0);
        return x;
    }
    cr_assert_fail("STATS has no '%s'", key);
    return -1;
}

/*==== the seeded random workload ===========================================================*/

#define FZ_SLOTS 700   /* objects created per seed at most */
#define FZ_LIVE_MAX 40 /* reachable at once at most */
#define FZ_CAP 20      /* entries per container at most */
#define FZ_NS 5        /* Namespace attributes a0..a4 */

enum { FK_DICT, FK_LIST, FK_NS, FK_QUEUE, FK_LOCK, FK_VALUE, FK_N };
static const int fk_type[FK_N] = {MPM_OBJ_DICT, MPM_OBJ_LIST, MPM_OBJ_NAMESPACE,
                                  MPM_OBJ_QUEUE, MPM_OBJ_LOCK, MPM_OBJ_VALUE};

/* A model value.  shape 0: int n; 1: ref r0; 2: [n, ref r0, [ref r1]];
 * 3: {'x': ref r0, 'y': [ref r1, ref r2]}; 4: 'sN'; -1: absent (a Namespace
 * attribute).  r[] are object slots. */
typedef struct mv {
    int shape;
    int n;
    int r[3];
} mv;

typedef struct fobj {
    int kind;
    uint64_t id;
    int live;      /* reachable in the model (once 0, never again) */
    void *h;       /* our handle, or NULL */
    int hm;        /* the manager the handle is on */
    char name[16]; /* "" when unnamed */
    int len;       /* dict entries, list or queue items */
    mv key[FZ_CAP], val[FZ_CAP];
} fobj;

typedef struct fz {
    uint64_t rng;
    unsigned seed;
    int step;
    mpm_manager *m[2];
    fobj o[FZ_SLOTS];
    int n, nlive;
    int last_dead;
    int names;
    int ncheck, ndied, maxlive, nops[10]; /* what the run did, for the log */
} fz;

static fz F;

static uint64_t fz_next(void)
{
    uint64_t z = (F.rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rnd(int n)
{
    return n <= 1 ? 0 : (int)(fz_next() % (uint64_t)n);
}

#define FZ_ASSERT(cond) cr_assert(cond, "seed %u step %d: %s", F.seed, F.step, #cond)
#define FZ_OK(expr)                                                                                \
    do {                                                                                           \
        int fz_rc_ = (expr);                                                                       \
        cr_assert_eq(fz_rc_, 0, "seed %u step %d: %s: %d (%s)", F.seed, F.step, #expr, fz_rc_,   \
                     mpm_last_error());                                                            \
    } while (0)

static int nrefs(const mv *v)
{
    return v->shape == 1 ? 1 : v->shape == 2 ? 2 : v->shape == 3 ? 3 : 0;
}

static mpm_val ref_of(int slot)
{
    return ref_to(F.o[slot].id, fk_type[F.o[slot].kind]);
}

typedef struct vbuf {
    mpm_val a[3], b[2];
    mpm_pair p[2];
    char s[16];
} vbuf;

static mpm_val mv_val(const mv *v, vbuf *b)
{
    switch (v->shape) {
    case 0: return MPM_INT(v->n);
    case 1: return ref_of(v->r[0]);
    case 2:
        b->b[0] = ref_of(v->r[1]);
        b->a[0] = MPM_INT(v->n);
        b->a[1] = ref_of(v->r[0]);
        b->a[2] = MPM_LIST(b->b, 1);
        return MPM_LIST(b->a, 3);
    case 3:
        b->b[0] = ref_of(v->r[1]);
        b->b[1] = ref_of(v->r[2]);
        b->p[0] = (mpm_pair){MPM_STR("x"), ref_of(v->r[0])};
        b->p[1] = (mpm_pair){MPM_STR("y"), MPM_LIST(b->b, 2)};
        return MPM_DICT(b->p, 2);
    default:
        snprintf(b->s, sizeof b->s, "s%d", v->n);
        return MPM_STR(b->s);
    }
}

/* A live slot, at random, that pred accepts; -1 when none. */
static int pick(int (*pred)(const fobj *))
{
    int c[FZ_SLOTS], k = 0;
    for (int i = 0; i < F.n; i++)
        if (F.o[i].live && (!pred || pred(&F.o[i]))) c[k++] = i;
    return k ? c[rnd(k)] : -1;
}

static int p_handle(const fobj *o) { return o->h != NULL; }
static int p_nohandle(const fobj *o) { return o->h == NULL; }
static int p_named(const fobj *o) { return o->name[0] != 0; }
static int p_named_nohandle(const fobj *o) { return o->name[0] && !o->h; }
static int p_dict(const fobj *o) { return o->h && o->kind == FK_DICT; }
static int p_list(const fobj *o) { return o->h && o->kind == FK_LIST; }
static int p_ns(const fobj *o) { return o->h && o->kind == FK_NS; }
static int p_queue(const fobj *o) { return o->h && o->kind == FK_QUEUE; }

static mv mv_rand(void)
{
    mv v = {.shape = 0, .n = rnd(1000)};
    int w = rnd(100);
    v.shape = w < 35 ? 0 : w < 65 ? 1 : w < 77 ? 2 : w < 85 ? 3 : 4;
    for (int i = 0; i < nrefs(&v); i++) v.r[i] = pick(NULL);
    return v;
}

static mv key_rand(void)
{
    mv k = {.shape = 0, .n = rnd(8)};
    if (rnd(4) == 0) {
        k.shape = 1;
        k.r[0] = pick(NULL);
    }
    return k;
}

static int key_eq(const mv *a, const mv *b)
{
    return a->shape == b->shape && (a->shape == 0 ? a->n == b->n : a->r[0] == b->r[0]);
}

/* Recompute what is reachable from handles and names; the dead stay dead. */
static void fz_reach(void)
{
    static char mark[FZ_SLOTS];
    static int stack[FZ_SLOTS]; /* each slot is pushed once */
    int sp = 0;
    memset(mark, 0, sizeof mark);
    for (int i = 0; i < F.n; i++)
        if (F.o[i].live && (F.o[i].h || F.o[i].name[0])) {
            mark[i] = 1;
            stack[sp++] = i;
        }
    while (sp) {
        fobj *o = &F.o[stack[--sp]];
        int nv = o->kind == FK_NS ? FZ_NS : o->len;
        for (int k = 0; k < nv; k++) {
            const mv *vs[2] = {&o->val[k], o->kind == FK_DICT ? &o->key[k] : NULL};
            for (int j = 0; j < 2; j++) {
                if (!vs[j]) continue;
                for (int r = 0; r < nrefs(vs[j]); r++) {
                    int t = vs[j]->r[r];
                    cr_assert(F.o[t].live, "seed %u step %d: a live object references dead slot %d",
                              F.seed, F.step, t);
                    if (!mark[t]) {
                        mark[t] = 1;
                        stack[sp++] = t;
                    }
                }
            }
        }
    }
    F.nlive = 0;
    for (int i = 0; i < F.n; i++) {
        if (!F.o[i].live) continue;
        if (mark[i]) {
            F.nlive++;
        } else {
            F.o[i].live = 0;
            F.o[i].len = 0;
            F.last_dead = i;
        }
    }
}

/* The server holds exactly the reachable objects (grace 0: a forced
 * collection frees every unreached zombie), and the last object to die is
 * gone for good. */
static void fz_check_count(int grace_ms)
{
    for (int i = 0; i < 2; i++) FZ_OK(mpm_ping(F.m[i])); /* closes sent without waiting are done */
    size_t n = nobjects(F.m[0]);
    if (grace_ms > 0) { /* that collection started their clocks; the next one frees them */
        t_sleep_ms(grace_ms + 30);
        n = nobjects(F.m[0]);
    }
    cr_assert_eq(n, (size_t)F.nlive, "seed %u step %d: the server holds %zu objects, %d reachable",
                 F.seed, F.step, n, F.nlive);
    F.ncheck++;
    if (F.last_dead >= 0) {
        void *h = NULL;
        int rc = mpm_handle_from_val(F.m[rnd(2)], ref_of(F.last_dead), 0, &h);
        cr_assert_eq(rc, MPM_ENOOBJ, "seed %u step %d: dead slot %d (id %llu) attached: %d",
                     F.seed, F.step, F.last_dead, (unsigned long long)F.o[F.last_dead].id, rc);
    }
}

static void fz_close(int i)
{
    fobj *o = &F.o[i];
    mpm_handle_close(o->h);
    o->h = NULL;
}

/* Read a container back and compare it with the model. */
static void fz_verify(int i)
{
    fobj *o = &F.o[i];
    vbuf kb[FZ_CAP], vb[FZ_CAP];
    mpm_val *got = NULL;
    switch (o->kind) {
    case FK_DICT:
        FZ_OK(mpm_dict_copy(o->h, &got));
        FZ_ASSERT(got->type == MPM_T_DICT && got->v.dict.len == (size_t)o->len);
        for (int k = 0; k < o->len; k++) {
            mpm_val ek = mv_val(&o->key[k], &kb[k]), ev = mv_val(&o->val[k], &vb[k]);
            cr_assert(mpm_val_eq(got->v.dict.items[k].key, ek) &&
                          mpm_val_eq(got->v.dict.items[k].value, ev),
                      "seed %u step %d: dict slot %d entry %d differs", F.seed, F.step, i, k);
        }
        break;
    case FK_LIST:
        FZ_OK(mpm_list_copy(o->h, &got));
        FZ_ASSERT(got->type == MPM_T_LIST && got->v.list.len == (size_t)o->len);
        for (int k = 0; k < o->len; k++)
            cr_assert(mpm_val_eq(got->v.list.items[k], mv_val(&o->val[k], &vb[k])),
                      "seed %u step %d: list slot %d item %d differs", F.seed, F.step, i, k);
        break;
    case FK_NS:
        for (int k = 0; k < FZ_NS; k++) {
            char a[8];
            snprintf(a, sizeof a, "a%d", k);
            int rc = mpm_namespace_get(o->h, a, &got);
            if (o->val[k].shape < 0) {
                FZ_ASSERT(rc == MPM_EATTR);
                continue;
            }
            FZ_OK(rc);
            cr_assert(mpm_val_eq(*got, mv_val(&o->val[k], &vb[k])),
                      "seed %u step %d: Namespace slot %d attr %d differs", F.seed, F.step, i, k);
            mpm_val_free(got);
            got = NULL;
        }
        break;
    case FK_QUEUE: {
        size_t n;
        FZ_OK(mpm_queue_qsize(o->h, &n));
        FZ_ASSERT(n == (size_t)o->len);
        break;
    }
    default: {
        char *r;
        FZ_OK(mpm_handle_repr(o->h, &r));
        free(r);
    }
    }
    mpm_val_free(got);
}

static int fz_new_slot(int kind, void *h, int mi)
{
    FZ_ASSERT(F.n < FZ_SLOTS);
    int i = F.n++;
    fobj *o = &F.o[i];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->h = h;
    o->hm = mi;
    o->id = mpm_handle_id(h);
    o->live = 1;
    FZ_ASSERT(o->id != 0);
    if (kind == FK_NS)
        for (int k = 0; k < FZ_NS; k++) o->val[k].shape = -1;
    return i;
}

static void op_create(void)
{
    if (F.nlive >= FZ_LIVE_MAX || F.n >= FZ_SLOTS) return;
    int kind = rnd(FK_N), mi = rnd(2);
    mpm_manager *m = F.m[mi];
    void *h = NULL;
    if (kind == FK_DICT && F.nlive > 0 && rnd(3) == 0) {
        /* CREATE with references in its initial value */
        mv ks[3], vs[3];
        vbuf kb[3], vb[3];
        mpm_pair pairs[3];
        int np = 1 + rnd(3);
        for (int k = 0; k < np; k++) {
            ks[k] = (mv){.shape = 0, .n = k};
            vs[k] = mv_rand();
            pairs[k] = (mpm_pair){mv_val(&ks[k], &kb[k]), mv_val(&vs[k], &vb[k])};
        }
        FZ_OK(mpm_dict_new_from(m, (mpm_dict **)&h, MPM_DICT(pairs, (size_t)np)));
        int i = fz_new_slot(kind, h, mi);
        F.o[i].len = np;
        memcpy(F.o[i].key, ks, sizeof ks[0] * (size_t)np);
        memcpy(F.o[i].val, vs, sizeof vs[0] * (size_t)np);
        return;
    }
    switch (kind) {
    case FK_DICT: FZ_OK(mpm_dict_new(m, (mpm_dict **)&h)); break;
    case FK_LIST: FZ_OK(mpm_list_new(m, (mpm_list **)&h)); break;
    case FK_NS: FZ_OK(mpm_namespace_new(m, (mpm_namespace **)&h)); break;
    case FK_QUEUE: FZ_OK(mpm_queue_new(m, (mpm_queue **)&h, 0)); break;
    case FK_LOCK: FZ_OK(mpm_lock_new(m, (mpm_lock **)&h)); break;
    default: FZ_OK(mpm_value_new(m, (mpm_value **)&h, 'i', MPM_INT(0))); break;
    }
    fz_new_slot(kind, h, mi);
}

static void op_name(void)
{
    int r = rnd(10);
    int mi = rnd(2);
    void *h = NULL;
    bool created = true;
    if (r < 4 && F.nlive < FZ_LIVE_MAX && F.n < FZ_SLOTS) { /* a new name */
        char name[16];
        snprintf(name, sizeof name, "n%d", F.names++);
        int kind = rnd(4); /* containers */
        FZ_OK(mpm_open(F.m[mi], name, fk_type[kind], NULL, 0, &h, &created));
        FZ_ASSERT(created);
        int i = fz_new_slot(kind, h, mi);
        snprintf(F.o[i].name, sizeof F.o[i].name, "%s", name);
        return;
    }
    if (r < 7) { /* open a name we hold no handle on: the same object */
        int i = pick(p_named_nohandle);
        if (i < 0) return;
        FZ_OK(mpm_open(F.m[mi], F.o[i].name, rnd(2) ? 0 : fk_type[F.o[i].kind], NULL, 0, &h,
                       &created));
        FZ_ASSERT(!created);
        FZ_ASSERT(mpm_handle_id(h) == F.o[i].id);
        F.o[i].h = h;
        F.o[i].hm = mi;
        return;
    }
    if (r < 8) { /* the wrong type: refused, nothing changes */
        int i = pick(p_named);
        if (i < 0) return;
        int other = fk_type[(F.o[i].kind + 1) % 4];
        FZ_ASSERT(mpm_open(F.m[mi], F.o[i].name, other, NULL, 0, &h, &created) == MPM_ETYPE);
        FZ_ASSERT(h == NULL);
        return;
    }
    int i = pick(p_named); /* delete a name */
    if (i < 0) return;
    FZ_OK(mpm_name_delete(F.m[mi], F.o[i].name));
    F.o[i].name[0] = 0;
    FZ_ASSERT(mpm_name_delete(F.m[mi], "n-never") == MPM_EKEY);
}

static void op_close(void)
{
    int i = pick(p_handle);
    if (i >= 0) fz_close(i);
}

static void op_attach(void)
{
    int i = pick(p_nohandle);
    if (i < 0) return;
    int mi = rnd(2);
    void *h = NULL;
    FZ_OK(mpm_handle_from_val(F.m[mi], ref_of(i), rnd(2) ? 0 : fk_type[F.o[i].kind], &h));
    FZ_ASSERT(mpm_handle_id(h) == F.o[i].id);
    FZ_ASSERT((int)mpm_handle_type(h) == fk_type[F.o[i].kind]);
    F.o[i].h = h;
    F.o[i].hm = mi;
}

static void op_dict(void)
{
    int i = pick(p_dict);
    if (i < 0) return;
    fobj *o = &F.o[i];
    vbuf kb, vb;
    int r = rnd(10);
    if (r < 4) { /* set (new or over an old value) */
        mv k = key_rand(), v = mv_rand();
        int at = -1;
        for (int j = 0; j < o->len; j++)
            if (key_eq(&o->key[j], &k)) at = j;
        if (at < 0 && o->len == FZ_CAP) return;
        FZ_OK(mpm_dict_set(o->h, mv_val(&k, &kb), mv_val(&v, &vb)));
        if (at < 0) {
            at = o->len++;
            o->key[at] = k;
        }
        o->val[at] = v;
    } else if (r < 7) { /* del or pop an existing key, or a missing one */
        mv k = o->len && rnd(5) ? o->key[rnd(o->len)] : key_rand();
        int at = -1;
        for (int j = 0; j < o->len; j++)
            if (key_eq(&o->key[j], &k)) at = j;
        if (r < 6) {
            int rc = mpm_dict_del(o->h, mv_val(&k, &kb));
            FZ_ASSERT(at >= 0 ? rc == 0 : rc == MPM_EKEY);
        } else {
            mpm_val *got = NULL;
            int rc = mpm_dict_pop(o->h, mv_val(&k, &kb), &got);
            FZ_ASSERT(at >= 0 ? rc == 0 : rc == MPM_EKEY);
            if (at >= 0) FZ_ASSERT(mpm_val_eq(*got, mv_val(&o->val[at], &vb)));
            mpm_val_free(got);
        }
        if (at >= 0) {
            memmove(&o->key[at], &o->key[at + 1], sizeof o->key[0] * (size_t)(o->len - at - 1));
            memmove(&o->val[at], &o->val[at + 1], sizeof o->val[0] * (size_t)(o->len - at - 1));
            o->len--;
        }
    } else if (r < 8) { /* get one */
        if (!o->len) return;
        int at = rnd(o->len);
        mpm_val *got = NULL;
        FZ_OK(mpm_dict_get(o->h, mv_val(&o->key[at], &kb), &got));
        FZ_ASSERT(mpm_val_eq(*got, mv_val(&o->val[at], &vb)));
        mpm_val_free(got);
    } else if (r < 9) {
        fz_verify(i);
    } else if (rnd(4) == 0) { /* clear */
        FZ_OK(mpm_dict_clear(o->h));
        o->len = 0;
    }
}

static void list_splice(fobj *o, int a, int b, const mv *ins, int k)
{
    mv tmp[FZ_CAP];
    int n = 0;
    for (int j = 0; j < a; j++) tmp[n++] = o->val[j];
    for (int j = 0; j < k; j++) tmp[n++] = ins[j];
    for (int j = b; j < o->len; j++) tmp[n++] = o->val[j];
    memcpy(o->val, tmp, sizeof tmp[0] * (size_t)n);
    o->len = n;
}

static void op_list(void)
{
    int i = pick(p_list);
    if (i < 0) return;
    fobj *o = &F.o[i];
    vbuf vb[4];
    int r = rnd(12);
    if (r < 3) { /* append */
        if (o->len == FZ_CAP) return;
        mv v = mv_rand();
        FZ_OK(mpm_list_append(o->h, mv_val(&v, &vb[0])));
        list_splice(o, o->len, o->len, &v, 1);
    } else if (r < 4) { /* insert, Python clipping the position */
        if (o->len == FZ_CAP) return;
        int64_t at = rnd(2 * o->len + 5) - o->len - 2;
        mv v = mv_rand();
        FZ_OK(mpm_list_insert(o->h, at, mv_val(&v, &vb[0])));
        int64_t p = at < 0 ? at + o->len : at;
        if (p < 0) p = 0;
        if (p > o->len) p = o->len;
        list_splice(o, (int)p, (int)p, &v, 1);
    } else if (r < 5) { /* set an item */
        if (!o->len) return;
        int at = rnd(o->len);
        mv v = mv_rand();
        FZ_OK(mpm_list_set(o->h, rnd(2) ? at : at - o->len, mv_val(&v, &vb[0])));
        o->val[at] = v;
    } else if (r < 7) { /* set a slice to 0..3 new items */
        int a = rnd(o->len + 1), b = a + rnd(o->len - a + 1), k = rnd(4);
        if (o->len - (b - a) + k > FZ_CAP) return;
        if (o->len == 0 && k == 0) return; /* list.c UB: bug_empty_slice_assignment_... */
        mv ins[3];
        mpm_val items[3];
        for (int j = 0; j < k; j++) {
            ins[j] = mv_rand();
            items[j] = mv_val(&ins[j], &vb[j]);
        }
        FZ_OK(mpm_list_set_slice(o->h, MPM_SLICE(a, b), MPM_LIST(items, (size_t)k)));
        list_splice(o, a, b, ins, k);
    } else if (r < 8) { /* delete a slice */
        int a = rnd(o->len + 1), b = a + rnd(o->len - a + 1);
        FZ_OK(mpm_list_del_slice(o->h, MPM_SLICE(a, b)));
        list_splice(o, a, b, NULL, 0);
    } else if (r < 9) { /* pop an item */
        mpm_val *got = NULL;
        if (!o->len) {
            FZ_ASSERT(mpm_list_pop(o->h, &got) == MPM_EINDEX);
            return;
        }
        int at = rnd(o->len);
        FZ_OK(mpm_list_pop_at(o->h, at, &got));
        FZ_ASSERT(mpm_val_eq(*got, mv_val(&o->val[at], &vb[0])));
        mpm_val_free(got);
        list_splice(o, at, at + 1, NULL, 0);
    } else if (r < 10) { /* del one item */
        if (!o->len) return;
        int at = rnd(o->len);
        FZ_OK(mpm_list_del(o->h, at));
        list_splice(o, at, at + 1, NULL, 0);
    } else if (r < 11) {
        fz_verify(i);
    } else { /* extend with 1..3 items */
        int k = 1 + rnd(3);
        if (o->len + k > FZ_CAP) return;
        mv ins[3];
        mpm_val items[3];
        for (int j = 0; j < k; j++) {
            ins[j] = mv_rand();
            items[j] = mv_val(&ins[j], &vb[j]);
        }
        FZ_OK(mpm_list_extend(o->h, MPM_LIST(items, (size_t)k)));
        list_splice(o, o->len, o->len, ins, k);
    }
}

static void op_ns(void)
{
    int i = pick(p_ns);
    if (i < 0) return;
    fobj *o = &F.o[i];
    int k = rnd(FZ_NS), r = rnd(10);
    char a[8];
    vbuf vb;
    snprintf(a, sizeof a, "a%d", k);
    if (r < 5) {
        mv v = mv_rand();
        FZ_OK(mpm_namespace_set(o->h, a, mv_val(&v, &vb)));
        o->val[k] = v;
    } else if (r < 8) {
        int rc = mpm_namespace_del(o->h, a);
        FZ_ASSERT(o->val[k].shape >= 0 ? rc == 0 : rc == MPM_EATTR);
        o->val[k].shape = -1;
    } else {
        fz_verify(i);
    }
}

static void op_queue(void)
{
    int i = pick(p_queue);
    if (i < 0) return;
    fobj *o = &F.o[i];
    vbuf vb;
    int r = rnd(10);
    if (r < 5) {
        if (o->len == FZ_CAP) return;
        mv v = mv_rand();
        FZ_OK(mpm_queue_put(o->h, mv_val(&v, &vb), 0));
        o->val[o->len++] = v;
    } else if (r < 9) {
        mpm_val *got = NULL;
        int rc = mpm_queue_get_nowait(o->h, &got);
        if (!o->len) {
            FZ_ASSERT(rc == MPM_EEMPTY);
            return;
        }
        FZ_OK(rc);
        FZ_ASSERT(mpm_val_eq(*got, mv_val(&o->val[0], &vb)));
        mpm_val_free(got);
        memmove(&o->val[0], &o->val[1], sizeof o->val[0] * (size_t)(o->len - 1));
        o->len--;
    } else {
        fz_verify(i);
    }
}

/* Let go of about half of every handle and name at once: whole graphs, cycles
 * among them, lose their last root. */
static void op_drop(void)
{
    for (int i = 0; i < F.n; i++) {
        if (!F.o[i].live) continue;
        if (F.o[i].h && rnd(2)) fz_close(i);
        if (F.o[i].name[0] && rnd(2)) {
            FZ_OK(mpm_name_delete(F.m[rnd(2)], F.o[i].name));
            F.o[i].name[0] = 0;
        }
    }
}

/* The second session ends at once (every handle it held goes), then a new
 * one starts in its place. */
static void op_session(void)
{
    mpm_manager_close(F.m[1]);
    for (int i = 0; i < F.n; i++)
        if (F.o[i].h && F.o[i].hm == 1) F.o[i].h = NULL;
    wait_sessions(F.m[0], 1);
    F.m[1] = connect_m();
}

static void fz_run(unsigned seed, int steps, int grace_ms, int check_every)
{
    memset(&F, 0, sizeof F);
    F.seed = seed;
    F.rng = seed * 0x2545f4914f6cdd1dull + 1;
    F.last_dead = -1;
    F.m[0] = connect_m();
    F.m[1] = connect_m();
    cr_assert_eq(nobjects(F.m[0]), 0, "seed %u: the server is not empty", seed);
    for (F.step = 0; F.step < steps; F.step++) {
        int r = rnd(1000), before = F.nlive;
        static const int cut[10] = {150, 200, 330, 400, 570, 760, 860, 990, 997, 1000};
        int k = 0;
        while (r >= cut[k]) k++;
        if (F.nlive == 0) k = 0;
        F.nops[k]++;
        switch (k) {
        case 0: op_create(); break;
        case 1: op_name(); break;
        case 2: op_close(); break;
        case 3: op_attach(); break;
        case 4: op_dict(); break;
        case 5: op_list(); break;
        case 6: op_ns(); break;
        case 7: op_queue(); break;
        case 8: op_drop(); break;
        default: op_session(); break;
        }
        fz_reach();
        if (F.nlive < before) F.ndied += before - F.nlive;
        if (F.nlive > F.maxlive) F.maxlive = F.nlive;
        /* at random too, so that a removal is often checked right after it
         * (nothing else then schedules the collection it needs) */
        if (F.step % check_every == check_every - 1 || (grace_ms == 0 && rnd(2) == 0))
            fz_check_count(grace_ms);
    }
    /* Every reachable object attaches and reads back as the model says. */
    fz_check_count(grace_ms);
    for (int i = 0; i < F.n; i++) {
        if (!F.o[i].live) continue;
        if (!F.o[i].h) {
            F.step++;
            FZ_OK(mpm_handle_from_val(F.m[0], ref_of(i), fk_type[F.o[i].kind], &F.o[i].h));
            F.o[i].hm = 0;
        }
        fz_verify(i);
    }
    fz_reach();
    fz_check_count(grace_ms);
    /* The handles go: only the named and what they reach stay. */
    for (int i = 0; i < F.n; i++)
        if (F.o[i].live && F.o[i].h) fz_close(i);
    fz_reach();
    fz_check_count(grace_ms);
    /* The names go: nothing stays. */
    for (int i = 0; i < F.n; i++)
        if (F.o[i].live && F.o[i].name[0]) {
            FZ_OK(mpm_name_delete(F.m[0], F.o[i].name));
            F.o[i].name[0] = 0;
        }
    fz_reach();
    cr_assert_eq(F.nlive, 0);
    fz_check_count(grace_ms);
    cr_log_info("seed %u: %d objects made, at most %d reachable at once, %d died unreached, "
                "%d exact counts; ops create %d name %d close %d attach %d dict %d list %d "
                "ns %d queue %d drop %d session %d",
                seed, F.n, F.maxlive, F.ndied, F.ncheck, F.nops[0], F.nops[1], F.nops[2],
                F.nops[3], F.nops[4], F.nops[5], F.nops[6], F.nops[7], F.nops[8], F.nops[9]);
    mpm_manager_close(F.m[1]);
    mpm_manager_close(F.m[0]);
}

Test(refs, fuzz_grace_0_three_seeds)
{
    srv_start("0");
    static const unsigned seeds[] = {1, 20240607, 977};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) fz_run(seeds[i], 3000, 0, 50);
    srv_finish();
}

/* With a grace the forced collection only starts the clocks: the count is
 * exact one grace later. */
Test(refs, fuzz_grace_40)
{
    srv_start("40");
    fz_run(4242, 1000, 40, 100);
    srv_finish();
}

/*==== malformed references, sent raw ========================================================*/

/* An EXT item: ext8 header, type, then the payload. */
static size_t ext_bytes(unsigned char *out, int8_t type, const unsigned char *p, size_t n)
{
    out[0] = 0xc7;
    out[1] = (unsigned char)n;
    out[2] = (unsigned char)type;
    memcpy(out + 3, p, n);
    return 3 + n;
}

/* A reference (ext type t) to id with type byte tb. */
static size_t ref_bytes(unsigned char *out, int8_t t, uint64_t id, int tb)
{
    unsigned char p[9];
    mpmi_ext_ref_write(p, id, tb);
    return ext_bytes(out, t, p, 9);
}

typedef struct mcase {
    const char *what;
    unsigned char b[64];
    size_t n;
    int code;         /* MPM_E* */
    const char *want; /* the message starts with it */
} mcase;

/* d must still be {'k': 'v'}. */
static void dict_is_kv(mpm_dict *d, const char *what)
{
    size_t n = 0;
    T_OK(mpm_dict_len(d, &n));
    cr_assert_eq(n, 1, "%s: the dict changed (%zu entries)", what, n);
    mpm_val *v;
    T_OK(mpm_dict_get(d, MPM_STR("k"), &v));
    cr_assert(mpm_val_eq(*v, MPM_STR("v")), "%s: the dict changed", what);
    mpm_val_free(v);
}

static void expect_err(const raw_result *res, int code, const char *want, const char *what)
{
    cr_assert_eq(res->status, (int64_t)-code, "%s: status %lld (%s), want %d", what,
                 (long long)res->status, res->msg, -code);
    if (want)
        cr_assert(strncmp(res->msg, want, strlen(want)) == 0, "%s: message '%s', want '%s...'",
                  what, res->msg, want);
}

Test(refs, malformed_references_are_refused_and_change_nothing)
{
    srv_start("0");
    mpm_manager *m = connect_m();
    mpm_dict *d, *dead;
    mpm_list *l;
    mpm_queue *q;
    mpm_namespace *ns;
    T_OK(mpm_dict_new(m, &d));
    T_OK(mpm_dict_set(d, MPM_STR("k"), MPM_STR("v")));
    T_OK(mpm_list_new(m, &l));
    T_OK(mpm_list_append(l, MPM_INT(1)));
    T_OK(mpm_queue_new(m, &q, 0));
    T_OK(mpm_queue_put(q, MPM_INT(1), 0));
    T_OK(mpm_namespace_new(m, &ns));
    T_OK(mpm_dict_new(m, &dead));
    uint64_t did = mpm_handle_id(d), lid = mpm_handle_id(l), qid = mpm_handle_id(q),
             nsid = mpm_handle_id(ns), deadid = mpm_handle_id(dead);
    mpm_dict_close(dead);
    cr_assert_eq(nobjects(m), 4);
    raw r;
    raw_connect(&r, &RAW);
    int64_t errors0 = raw_stat(&r, "errors");

    static mcase cases[32];
    size_t nc = 0;
    unsigned char p[16] = {0};
    char deadmsg[64];
    snprintf(deadmsg, sizeof deadmsg, "no object with id %llu", (unsigned long long)deadid);
#define CASE(w, c, msg) (cases[nc].what = (w), cases[nc].code = (c), cases[nc].want = (msg), &cases[nc++])
    mcase *c;
    c = CASE("fixext8 of type 1 (8 bytes)", MPM_EVALUE, "ValueError: ");
    c->b[0] = 0xd7, c->b[1] = 1, memcpy(c->b + 2, "\0\0\0\0\0\0\0\5", 8), c->n = 10;
    c = CASE("type 1 with 10 bytes", MPM_EVALUE, "ValueError: ");
    mpmi_ext_ref_write(p, did, MPM_OBJ_DICT);
    c->n = ext_bytes(c->b, 1, p, 10);
    c = CASE("type 1 with 0 bytes", MPM_EVALUE, "ValueError: ");
    c->n = ext_bytes(c->b, 1, p, 0);
    c = CASE("type byte 0", MPM_EVALUE, "ValueError: ");
    c->n = ref_bytes(c->b, 1, did, 0);
    c = CASE("type byte 99", MPM_EVALUE, "ValueError: ");
    c->n = ref_bytes(c->b, 1, did, 99);
    c = CASE("type byte 255", MPM_EVALUE, "ValueError: ");
    c->n = ref_bytes(c->b, 1, did, 255);
    c = CASE("id 0", MPM_EVALUE, "ValueError: ");
    c->n = ref_bytes(c->b, 1, 0, MPM_OBJ_DICT);
    c = CASE("the id of a dead object", MPM_ENOOBJ, deadmsg);
    c->n = ref_bytes(c->b, 1, deadid, MPM_OBJ_DICT);
    c = CASE("id 2^64-1", MPM_ENOOBJ, "no object with id 18446744073709551615");
    c->n = ref_bytes(c->b, 1, UINT64_MAX, MPM_OBJ_DICT);
    c = CASE("id 2^63", MPM_ENOOBJ, "no object with id 9223372036854775808");
    c->n = ref_bytes(c->b, 1, UINT64_C(1) << 63, MPM_OBJ_DICT);
    c = CASE("a list's id claiming a dict", MPM_ETYPE, "TypeError: ");
    c->n = ref_bytes(c->b, 1, lid, MPM_OBJ_DICT);
    c = CASE("ext type 2 shaped as a reference", MPM_EVALUE, "ValueError: ");
    c->n = ref_bytes(c->b, 2, did, MPM_OBJ_DICT);
    c = CASE("ext type 127", MPM_EVALUE, "ValueError: ");
    c->n = ref_bytes(c->b, 127, did, MPM_OBJ_DICT);
    c = CASE("ext type -1 (a msgpack timestamp)", MPM_EVALUE, "ValueError: ");
    c->b[0] = 0xd6, c->b[1] = 0xff, memset(c->b + 2, 0, 4), c->n = 6;
    c = CASE("ext type -128", MPM_EVALUE, "ValueError: ");
    c->n = ref_bytes(c->b, -128, did, MPM_OBJ_DICT);
    c = CASE("fixext1 of type 0", MPM_EVALUE, "ValueError: ");
    c->b[0] = 0xd4, c->b[1] = 0, c->b[2] = 0, c->n = 3;
#undef CASE

    raw_result res[4];
    for (size_t i = 0; i < nc; i++) {
        /* as the value, bare */
        raw_body b;
        raw_body_init(&b, 1);
        raw_body_call(&b, did, MPMI_OP_SETITEM, 2);
        raw_body_str(&b, "bad");
        body_raw(&b, cases[i].b, cases[i].n);
        cr_assert_eq(raw_body_send(&r, &b, res, 4), 1);
        expect_err(&res[0], cases[i].code, cases[i].want, cases[i].what);
        /* as a dict key */
        raw_body_init(&b, 1);
        raw_body_call(&b, did, MPMI_OP_SETITEM, 2);
        body_raw(&b, cases[i].b, cases[i].n);
        msgpack_pack_int(&b.pk, 1);
        cr_assert_eq(raw_body_send(&r, &b, res, 4), 1);
        expect_err(&res[0], cases[i].code, cases[i].want, cases[i].what);
        /* deep in a value: [0, {'x': [[... 28 levels ... [ext]]]}] with a map key too */
        raw_body_init(&b, 1);
        raw_body_call(&b, did, MPMI_OP_SETITEM, 2);
        raw_body_str(&b, "bad");
        msgpack_pack_array(&b.pk, 2);
        msgpack_pack_int(&b.pk, 0);
        msgpack_pack_map(&b.pk, 2);
        raw_body_str(&b, "x");
        for (int k = 0; k < 27; k++) msgpack_pack_array(&b.pk, 1);
        body_raw(&b, cases[i].b, cases[i].n);
        body_raw(&b, cases[i].b, cases[i].n); /* the second map key */
        msgpack_pack_nil(&b.pk);
        cr_assert_eq(raw_body_send(&r, &b, res, 4), 1);
        expect_err(&res[0], cases[i].code, cases[i].want, cases[i].what);
        /* the middle call of three: the others run, it changes nothing */
        raw_body_init(&b, 3);
        raw_body_call(&b, did, MPMI_OP_SETITEM, 2);
        raw_body_str(&b, "a");
        msgpack_pack_int(&b.pk, 1);
        raw_body_call(&b, did, MPMI_OP_SETITEM, 2);
        raw_body_str(&b, "bad");
        msgpack_pack_array(&b.pk, 2);
        msgpack_pack_int(&b.pk, 5);
        body_raw(&b, cases[i].b, cases[i].n);
        raw_body_call(&b, did, MPMI_OP_D_POP, 1);
        raw_body_str(&b, "a");
        cr_assert_eq(raw_body_send(&r, &b, res, 4), 3);
        cr_assert_eq(res[0].status, 0, "%s: %s", cases[i].what, res[0].msg);
        expect_err(&res[1], cases[i].code, cases[i].want, cases[i].what);
        cr_assert_eq(res[2].status, 0, "%s: %s", cases[i].what, res[2].msg);
        /* update, list extend, queue put, Namespace setattr */
        raw_body_init(&b, 4);
        raw_body_call(&b, did, MPMI_OP_D_UPDATE, 1);
        msgpack_pack_map(&b.pk, 2);
        raw_body_str(&b, "u");
        msgpack_pack_int(&b.pk, 1);
        raw_body_str(&b, "w");
        body_raw(&b, cases[i].b, cases[i].n);
        raw_body_call(&b, lid, MPMI_OP_L_EXTEND, 1);
        msgpack_pack_array(&b.pk, 3);
        msgpack_pack_int(&b.pk, 2);
        unsigned char good[16];
        body_raw(&b, good, ref_bytes(good, 1, did, MPM_OBJ_DICT));
        body_raw(&b, cases[i].b, cases[i].n);
        raw_body_call(&b, qid, MPMI_OP_Q_PUT, 2);
        body_raw(&b, cases[i].b, cases[i].n);
        msgpack_pack_int(&b.pk, 0);
        raw_body_call(&b, nsid, MPMI_OP_NS_SETATTR, 2);
        raw_body_str(&b, "b");
        body_raw(&b, cases[i].b, cases[i].n);
        cr_assert_eq(raw_body_send(&r, &b, res, 4), 4);
        for (int k = 0; k < 4; k++) expect_err(&res[k], cases[i].code, cases[i].want, cases[i].what);
        /* CREATE and OPEN with it in their initial value create nothing */
        raw_body_init(&b, 2);
        raw_body_call(&b, 0, MPMI_OP_CREATE, 2);
        msgpack_pack_int(&b.pk, MPM_OBJ_DICT);
        msgpack_pack_map(&b.pk, 1);
        raw_body_str(&b, "x");
        body_raw(&b, cases[i].b, cases[i].n);
        raw_body_call(&b, 0, MPMI_OP_OPEN, 3);
        msgpack_pack_int(&b.pk, MPM_OBJ_LIST);
        raw_body_str(&b, "named");
        msgpack_pack_array(&b.pk, 1);
        body_raw(&b, cases[i].b, cases[i].n);
        cr_assert_eq(raw_body_send(&r, &b, res, 4), 2);
        expect_err(&res[0], cases[i].code, cases[i].want, cases[i].what);
        expect_err(&res[1], cases[i].code, cases[i].want, cases[i].what);

        dict_is_kv(d, cases[i].what);
        size_t n;
        T_OK(mpm_list_len(l, &n));
        cr_assert_eq(n, 1, "%s: the list changed", cases[i].what);
        T_OK(mpm_queue_qsize(q, &n));
        cr_assert_eq(n, 1, "%s: the queue changed", cases[i].what);
        mpm_val *v;
        cr_assert_eq(mpm_namespace_get(ns, "b", &v), MPM_EATTR, "%s: the Namespace changed",
                     cases[i].what);
        cr_assert_eq(nobjects(m), 4, "%s: an object was created", cases[i].what);
        T_OK(mpm_names(m, &v));
        cr_assert_eq(v->v.dict.len, 0, "%s: a name was created", cases[i].what);
        mpm_val_free(v);
    }
    /* every refusal was counted (10 a case, and the Namespace check's
     * AttributeError), nothing else failed */
    cr_assert_eq(raw_stat(&r, "errors"), errors0 + (int64_t)nc * 11);

    /* A whole-raw_body malformation: an EXT claiming more bytes than there are. */
    static const unsigned char trunc[] = {0x91, 0x94, 0x01, 0x19, 0xa1, 'x',
                                          0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01};
    size_t blen;
    const unsigned char *rb = raw_call(&r, trunc, sizeof trunc, &blen);
    uint32_t nr = raw_parse_reply(rb, blen, res, 4);
    cr_assert_eq(nr, 1);
    expect_err(&res[0], MPM_EPROTO, "malformed request body", "a truncated ext32");

    /* The same refusals through the library. */
    t_assert_err(mpm_dict_set(d, MPM_STR("x"), ref_to(deadid, MPM_OBJ_DICT)), MPM_ENOOBJ, deadmsg);
    cr_assert_eq(mpm_dict_set(d, MPM_STR("x"), ref_to(did, 99)), MPM_EVALUE);
    cr_assert_eq(mpm_dict_set(d, ref_to(lid, MPM_OBJ_QUEUE), MPM_INT(1)), MPM_ETYPE);
    cr_assert_eq(mpm_dict_set(d, MPM_STR("x"), ref_to(0, MPM_OBJ_DICT)), MPM_EINVAL);
    cr_assert_eq(mpm_dict_set(d, MPM_STR("x"), ref_to(did, 256)), MPM_EINVAL);
    void *h = NULL;
    cr_assert_eq(mpm_handle_from_val(m, ref_to(deadid, MPM_OBJ_DICT), 0, &h), MPM_ENOOBJ);
    cr_assert_eq(mpm_handle_from_val(m, ref_to(UINT64_MAX, MPM_OBJ_DICT), 0, &h), MPM_ENOOBJ);
    cr_assert_null(h);
    dict_is_kv(d, "library");

    /* Well-formed references in every encoding and place are taken, and what
     * they reach lives on without a handle: a ref in ext16 form, a dict key,
     * and one 30 levels deep. */
    mpm_dict *x, *y, *z;
    T_OK(mpm_dict_new(m, &x));
    T_OK(mpm_dict_new(m, &y));
    T_OK(mpm_dict_new(m, &z));
    uint64_t xid = mpm_handle_id(x), yid = mpm_handle_id(y), zid = mpm_handle_id(z);
    T_OK(mpm_dict_set(x, MPM_STR("name"), MPM_STR("x")));
    unsigned char e16[16] = {0xc8, 0x00, 0x09, 0x01};
    mpmi_ext_ref_write(e16 + 4, xid, MPM_OBJ_DICT);
    raw_body b;
    raw_body_init(&b, 3);
    raw_body_call(&b, did, MPMI_OP_SETITEM, 2);
    raw_body_str(&b, "e16");
    body_raw(&b, e16, 13);
    unsigned char yk[16], zr[16];
    raw_body_call(&b, did, MPMI_OP_SETITEM, 2);
    body_raw(&b, yk, ref_bytes(yk, 1, yid, MPM_OBJ_DICT));
    raw_body_str(&b, "y is the key");
    raw_body_call(&b, did, MPMI_OP_SETITEM, 2);
    raw_body_str(&b, "deep");
    for (int k = 0; k < 30; k++) msgpack_pack_array(&b.pk, 1);
    body_raw(&b, zr, ref_bytes(zr, 1, zid, MPM_OBJ_DICT));
    cr_assert_eq(raw_body_send(&r, &b, res, 4), 3);
    for (int k = 0; k < 3; k++) cr_assert_eq(res[k].status, 0, "%d: %s", k, res[k].msg);
    mpm_dict_close(x);
    mpm_dict_close(y);
    mpm_dict_close(z);
    cr_assert_eq(nobjects(m), 7, "objects reached only by references were freed");
    mpm_val *v;
    T_OK(mpm_dict_get(d, MPM_STR("e16"), &v));
    T_OK(mpm_handle_from_val(m, *v, MPM_OBJ_DICT, (void **)&x));
    mpm_val_free(v);
    T_OK(mpm_dict_get(x, MPM_STR("name"), &v));
    cr_assert(mpm_val_eq(*v, MPM_STR("x")));
    mpm_val_free(v);
    mpm_dict_close(x);
    T_OK(mpm_dict_del(d, MPM_STR("e16")));
    T_OK(mpm_dict_del(d, ref_to(yid, MPM_OBJ_DICT)));
    cr_assert_eq(nobjects(m), 5);
    T_OK(mpm_dict_del(d, MPM_STR("deep")));
    cr_assert_eq(nobjects(m), 4);
    cr_assert_eq(raw_stat(&r, "zombies"), 0);
    dict_is_kv(d, "the end");
    raw_close(&r);
    mpm_manager_close(m);
    srv_finish();
}

/*==== processes killed while they hold references ==============================================*/

/* A child builds a cycle x <-> y it alone holds, then parks a put of
 * references to both on a full queue; SIGKILL.  The put goes with the
 * process, and x and y after the grace. */
Test(refs, killed_holder_of_a_parked_put_leaks_nothing)
{
    srv_start("50");
    mpm_manager *m = connect_m();
    mpm_queue *q;
    T_OK(mpm_queue_new(m, &q, 1));
    T_OK(mpm_queue_put(q, MPM_STR("block"), 0));
    mpm_dict *held;
    T_OK(mpm_dict_new(m, &held)); /* the parent's, referenced by the child's put too */
    for (int round = 0; round < 2; round++) {
        pid_t p = fork();
        cr_assert_neq(p, -1);
        if (p == 0) {
            mpm_dict *x;
            mpm_list *y;
            CHILD_OK(mpm_dict_new(m, &x), 1);
            CHILD_OK(mpm_list_new(m, &y), 2);
            CHILD_OK(mpm_dict_set(x, MPM_STR("y"), MPM_REF(y)), 3);
            CHILD_OK(mpm_dict_set(x, MPM_STR("self"), MPM_REF(x)), 4);
            CHILD_OK(mpm_list_append(y, MPM_REF(x)), 5);
            mpm_val items[4] = {MPM_REF(x), MPM_REF(y), MPM_REF(held), MPM_REF(q)};
            /* the handle this child took on held goes: then only the parent's
             * and, once that goes too, the parked put keep it */
            mpm_dict_close(held);
            CHILD_OK(mpm_ping(m), 6);
            CHILD_OK(mpm_queue_put(q, MPM_LIST(items, 4), -1), 7); /* parks for ever */
            _exit(8);
        }
        t_wait_parked(m, 1);
        expect_count_within(m, 4, 5000); /* q, held, x, y */
        if (round == 1) {
            /* the parent lets go of held: only the parked put reaches it */
            mpm_dict_close(held);
            held = NULL;
            t_sleep_ms(150);
            cr_assert_eq(nobjects(m), 4, "an object reached by a parked put was freed");
        }
        cr_assert_eq(kill(p, SIGKILL), 0);
        cr_assert_eq(t_wait_child(p), 128 + SIGKILL);
        wait_sessions(m, 1);
        t_wait_parked(m, 0);
        expect_count_within(m, round == 0 ? 2 : 1, 5000);
    }
    size_t n;
    T_OK(mpm_queue_qsize(q, &n));
    cr_assert_eq(n, 1);
    mpm_val *v;
    T_OK(mpm_queue_get(q, 0, &v));
    cr_assert(mpm_val_eq(*v, MPM_STR("block")), "the queue's item changed");
    mpm_val_free(v);
    raw r;
    raw_connect(&r, &RAW);
    cr_assert_eq(raw_stat(&r, "zombies"), 0);
    cr_assert_eq(raw_stat(&r, "parked"), 0);
    raw_close(&r);
    mpm_queue_close(q);
    expect_count_within(m, 0, 2000);
    mpm_manager_close(m);
    srv_finish();
}

/* A worker takes an item holding the only reference to x from a
 * JoinableQueue and is killed before task_done: the item goes back to the
 * queue, and x with it stays alive through the grace and beyond. */
Test(refs, killed_worker_gives_back_a_joinable_queue_item_and_its_references)
{
    srv_start("50");
    mpm_manager *m = connect_m();
    mpm_queue *jq;
    mpm_dict *x;
    T_OK(mpm_joinable_queue_new(m, &jq, 0));
    T_OK(mpm_dict_new(m, &x));
    T_OK(mpm_dict_set(x, MPM_STR("v"), MPM_INT(42)));
    mpm_val item[2] = {MPM_STR("job"), MPM_REF(x)};
    T_OK(mpm_queue_put(jq, MPM_LIST(item, 2), 0));
    mpm_dict_close(x);
    cr_assert_eq(nobjects(m), 2);
    int gate[2];
    cr_assert_eq(pipe(gate), 0);
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) {
        close(gate[0]);
        mpm_val *v;
        CHILD_OK(mpm_queue_get(jq, 5000, &v), 1);
        if (write(gate[1], "g", 1) != 1) _exit(2);
        for (;;) pause();
    }
    close(gate[1]);
    char c;
    struct pollfd pf = {gate[0], POLLIN, 0};
    cr_assert_eq(poll(&pf, 1, 10000), 1, "the worker did not get the item");
    cr_assert_eq(read(gate[0], &c, 1), 1);
    close(gate[0]);
    t_sleep_ms(200); /* 4 graces: the item is out, held by the worker's session */
    cr_assert_eq(nobjects(m), 2, "an object referenced by an item being worked on was freed");
    cr_assert_eq(kill(p, SIGKILL), 0);
    cr_assert_eq(t_wait_child(p), 128 + SIGKILL);
    wait_sessions(m, 1);
    t_sleep_ms(200);
    cr_assert_eq(nobjects(m), 2, "the returned item's reference was not followed");
    size_t n;
    T_OK(mpm_queue_qsize(jq, &n));
    cr_assert_eq(n, 1, "the killed worker's item did not come back");
    mpm_val *v;
    T_OK(mpm_queue_get(jq, 0, &v));
    cr_assert_eq(v->type, MPM_T_LIST);
    T_OK(mpm_handle_from_val(m, v->v.list.items[1], MPM_OBJ_DICT, (void **)&x));
    mpm_val_free(v);
    T_OK(mpm_dict_get(x, MPM_STR("v"), &v));
    cr_assert_eq(v->v.i, 42);
    mpm_val_free(v);
    T_OK(mpm_queue_task_done(jq));
    T_OK(mpm_queue_join(jq, 0));
    mpm_dict_close(x);
    expect_count_within(m, 1, 2000);
    mpm_queue_close(jq);
    expect_count_within(m, 0, 2000);
    mpm_manager_close(m);
    srv_finish();
}

/*==== objects collected while calls wait on them ================================================*/

/* One call [id, op, ints...] sent on r without waiting for its answer. */
static void raw_send_call(raw *r, uint64_t id, int op, int nargs, const int64_t *args)
{
    raw_body b;
    raw_body_init(&b, 1);
    raw_body_call(&b, id, op, (uint32_t)nargs);
    for (int i = 0; i < nargs; i++) msgpack_pack_int64(&b.pk, args[i]);
    raw_send(r, b.b.data, b.b.len);
    mpmi_buf_free(&b.b);
}

static raw_result raw_recv_one(raw *r)
{
    size_t blen;
    raw_result res;
    const unsigned char *p = raw_recv(r, &blen);
    cr_assert_eq(raw_parse_reply(p, blen, &res, 1), 1);
    return res;
}

/* Raw sessions (holding no handle: a raw client needs none to call) wait on
 * a Condition, a Queue and a Lock, hold a Lock and JoinableQueue items, while
 * the objects' only roots are references from one dict.  The dict is
 * cleared: after the grace every object goes, each parked call is answered
 * ENOOBJ, the holders' sessions forget what they held, and nothing is left
 * (under ASan / valgrind: nothing read after it was freed). */
Test(refs, collected_objects_answer_their_parked_calls_and_forget_their_holders)
{
    srv_start("50");
    mpm_manager *m = connect_m();
    mpm_dict *d;
    mpm_condition *cv;
    mpm_queue *q, *jq;
    mpm_lock *l;
    T_OK(mpm_dict_new(m, &d));
    T_OK(mpm_condition_new(m, &cv, NULL)); /* and its own RLock */
    T_OK(mpm_queue_new(m, &q, 0));
    T_OK(mpm_joinable_queue_new(m, &jq, 0));
    T_OK(mpm_lock_new(m, &l));
    T_OK(mpm_queue_put(jq, MPM_INT(1), 0));
    T_OK(mpm_queue_put(jq, MPM_INT(2), 0));
    uint64_t cid = mpm_handle_id(cv), qid = mpm_handle_id(q), jid = mpm_handle_id(jq),
             lid = mpm_handle_id(l);
    T_OK(mpm_dict_set(d, MPM_STR("c"), MPM_REF(cv)));
    T_OK(mpm_dict_set(d, MPM_STR("q"), MPM_REF(q)));
    T_OK(mpm_dict_set(d, MPM_STR("jq"), MPM_REF(jq)));
    T_OK(mpm_dict_set(d, MPM_STR("l"), MPM_REF(l)));
    mpm_condition_close(cv);
    mpm_queue_close(q);
    mpm_queue_close(jq);
    mpm_lock_close(l);
    cr_assert_eq(nobjects(m), 6);

    raw holder, waiter_c, waiter_q, waiter_l;
    raw_connect(&holder, &RAW);
    raw_connect(&waiter_c, &RAW);
    raw_connect(&waiter_q, &RAW);
    raw_connect(&waiter_l, &RAW);
    raw_result res;
    raw_send_call(&holder, lid, MPMI_OP_ACQUIRE, 2, (int64_t[]){1, 0});
    res = raw_recv_one(&holder);
    cr_assert_eq(res.status, 0, "%s", res.msg);
    raw_send_call(&holder, jid, MPMI_OP_Q_GET, 1, (int64_t[]){0});
    res = raw_recv_one(&holder);
    cr_assert_eq(res.status, 0, "%s", res.msg);
    raw_send_call(&waiter_c, cid, MPMI_OP_ACQUIRE, 2, (int64_t[]){7, -1});
    res = raw_recv_one(&waiter_c);
    cr_assert_eq(res.status, 0, "%s", res.msg);
    raw_send_call(&waiter_c, cid, MPMI_OP_C_WAIT, 2, (int64_t[]){7, -1});
    raw_send_call(&waiter_q, qid, MPMI_OP_Q_GET, 1, (int64_t[]){-1});
    raw_send_call(&waiter_l, lid, MPMI_OP_ACQUIRE, 2, (int64_t[]){1, -1});
    t_wait_parked(m, 3);
    t_sleep_ms(150);
    cr_assert_eq(nobjects(m), 6, "reachable objects were freed");

    T_OK(mpm_dict_clear(d));
    res = raw_recv_one(&waiter_c);
    expect_err(&res, MPM_ENOOBJ, "the Condition was deleted while waiting", "the wait");
    res = raw_recv_one(&waiter_q);
    expect_err(&res, MPM_ENOOBJ, "the Queue was deleted while waiting", "the get");
    res = raw_recv_one(&waiter_l);
    expect_err(&res, MPM_ENOOBJ, "the Lock was deleted while waiting", "the acquire");
    expect_count_within(m, 1, 3000);
    /* the sessions that held the Lock and a JoinableQueue item end */
    raw_close(&holder);
    raw_close(&waiter_c);
    raw_close(&waiter_q);
    raw_close(&waiter_l);
    wait_sessions(m, 1);
    raw r;
    raw_connect(&r, &RAW);
    cr_assert_eq(raw_stat(&r, "zombies"), 0);
    cr_assert_eq(raw_stat(&r, "parked"), 0);
    raw_close(&r);
    cr_assert_eq(nobjects(m), 1);
    mpm_dict_close(d);
    expect_count_within(m, 0, 2000);
    mpm_manager_close(m);
    srv_finish();
}

/*==== regressions: defects found in review, each described as it was (all fixed; each test
 * failed before its fix) ======================================================================*/

/* server/types/dict.c dict_update_from (and list.c list_extend_from) copy
 * another container's stored references into this one on the server, but
 * the call carries no EXT item, so c->has_refs stays 0 and the destination
 * never gets may_ref: the collector does not scan it (gc_reach pushes only
 * may_ref objects) and frees what only it reaches.  The reference read back
 * afterwards names a dead object. */
Test(refs, bug_dict_update_from_hides_copied_references_from_the_collector)
{
    srv_start("0");
    mpm_manager *m = connect_m();
    mpm_dict *x, *src, *dst;
    T_OK(mpm_dict_new(m, &x));
    T_OK(mpm_dict_set(x, MPM_STR("v"), MPM_INT(1)));
    T_OK(mpm_dict_new(m, &src));
    T_OK(mpm_dict_new(m, &dst));
    T_OK(mpm_dict_set(src, MPM_STR("r"), MPM_REF(x)));
    T_OK(mpm_dict_update_from(dst, src));
    mpm_dict_close(x);
    mpm_dict_close(src); /* dst alone references x now */
    cr_assert_eq(nobjects(m), 2, "x, reachable from dst, was freed");
    mpm_val *v;
    T_OK(mpm_dict_get(dst, MPM_STR("r"), &v));
    T_OK(mpm_handle_from_val(m, *v, MPM_OBJ_DICT, (void **)&x));
    mpm_val_free(v);
    mpm_dict_close(x);
    mpm_dict_close(dst);
    expect_count_within(m, 0, 2000);
    mpm_manager_close(m);
    srv_finish();
}

Test(refs, bug_list_extend_from_hides_copied_references_from_the_collector)
{
    srv_start("0");
    mpm_manager *m = connect_m();
    mpm_list *x, *src, *dst;
    T_OK(mpm_list_new(m, &x));
    T_OK(mpm_list_new(m, &src));
    T_OK(mpm_list_new(m, &dst));
    T_OK(mpm_list_append(src, MPM_REF(x)));
    T_OK(mpm_list_extend_from(dst, src));
    T_OK(mpm_list_del(src, 0)); /* dst alone references x now */
    mpm_list_close(x);
    cr_assert_eq(nobjects(m), 3, "x, reachable from dst, was freed");
    mpm_val *v;
    T_OK(mpm_list_get(dst, 0, &v));
    T_OK(mpm_handle_from_val(m, *v, MPM_OBJ_LIST, (void **)&x));
    mpm_val_free(v);
    mpm_list_close(x);
    mpm_list_close(src);
    mpm_list_close(dst);
    expect_count_within(m, 0, 2000);
    mpm_manager_close(m);
    srv_finish();
}

/* server/types/list.c list_setslice: l[0:0] = [] on a list that never held
 * an item (l->items == NULL) calls memmove(NULL, NULL, 0) (line 419): undefined
 * behaviour (memmove's arguments are declared nonnull), and the UBSan build
 * of mpmd aborts on it.  Harmless in a plain build, so this fails only under
 * -DMPM_ASAN=ON. */
Test(refs, bug_empty_slice_assignment_to_an_empty_list)
{
    srv_start("0");
    mpm_manager *m = connect_m();
    mpm_list *l;
    T_OK(mpm_list_new(m, &l));
    T_OK(mpm_list_set_slice(l, MPM_SLICE(0, 0), MPM_LIST(NULL, 0)));
    size_t n;
    T_OK(mpm_list_len(l, &n));
    cr_assert_eq(n, 0);
    mpm_list_close(l);
    mpm_manager_close(m);
    srv_finish();
}

/* server/objects.c names: the names map (server/map.h: "Key 0 is reserved")
 * is keyed by the raw 64-bit FNV-1a hash of the name (name_hash), and a name
 * can hash to 0: these 8 bytes do (found by lattice reduction; FNV has no
 * seed, so they do on every server).  mpmi_map_find(&s->names, 0) then
 * answers the first empty slot as if it held the key: OPEN stores the name
 * there without counting it (mpmi_map_put returned an "existing" slot),
 * NAMES never lists it, and NAME_DEL's mpmi_map_del(0) decrements len for an
 * entry never counted.  Each open/delete round so takes one off len: with
 * 4 names and 4 rounds len says 0, the map (16 slots) does not grow until
 * len reaches 12, by when all 16 slots are taken, and the next lookup of a
 * name not there probes for ever: the single-threaded server hangs for every
 * client.  (More rounds than names wrap len below 0: the map then doubles on
 * every insert until memory runs out.) */
static const char ZERO_NAME[] = "\xc3\xba\x1b\x1f\x23\x40\x91\x8e";

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

Test(refs, bug_a_name_whose_hash_is_0_corrupts_the_names_map)
{
    cr_assert_eq(fnv1a(ZERO_NAME, strlen(ZERO_NAME)), 0);
    srv_start("0");
    mpm_manager *m = connect_m();
    mpm_dict *z;
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "keep%d", i);
        T_OK(mpm_dict_open(m, name, &z));
        mpm_dict_close(z);
    }
    for (int round = 0; round < 4; round++) {
        T_OK(mpm_dict_open(m, ZERO_NAME, &z));
        T_OK(mpm_name_delete(m, ZERO_NAME));
        mpm_dict_close(z);
    }
    /* fill the map, then look up a name that is not there */
    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        mpm_dict *d;
        T_OK(mpm_dict_open(m, name, &d));
        mpm_dict_close(d);
    }
    raw r;
    raw_connect(&r, &RAW);
    raw_body b;
    raw_body_init(&b, 1);
    raw_body_call(&b, 0, MPMI_OP_OPEN, 2);
    msgpack_pack_int(&b.pk, MPM_OBJ_DICT);
    raw_body_str(&b, "absent");
    raw_send(&r, b.b.data, b.b.len);
    mpmi_buf_free(&b.b);
    size_t n;
    int rc = raw_recv_frame(r.fd, reply_buf, sizeof reply_buf, &n, 3000);
    if (rc != 1) {
        kill(srv_pid, SIGKILL);
        cr_assert_fail("no answer to OPEN of a new name within 3 s: the server hangs");
    }
    raw_result res;
    const unsigned char *rb = raw_recv_opened(&r, &n);
    cr_assert_eq(raw_parse_reply(rb, n, &res, 1), 1);
    cr_assert_eq(res.status, 0, "%s", res.msg);
    raw_close(&r);
    /* and the name is listed while it exists */
    T_OK(mpm_dict_open(m, ZERO_NAME, &z));
    mpm_val *names;
    T_OK(mpm_names(m, &names));
    cr_assert_eq(names->v.dict.len, 18, "NAMES lists %zu of the 18 names", names->v.dict.len);
    mpm_val_free(names);
    mpm_manager_close(m);
    srv_finish();
}

/* server/objects.c manager_open: mpmi_type_find((int)code) truncates the
 * int64 type code, so OPEN with type 2^32 + 1 creates a dict (CREATE in
 * mpmi_manager_call does the same) instead of "ValueError: unknown type". */
Test(refs, bug_open_truncates_the_type_code)
{
    srv_start("0");
    mpm_manager *m = connect_m();
    raw r;
    raw_connect(&r, &RAW);
    raw_body b;
    raw_result res[2];
    raw_body_init(&b, 2);
    raw_body_call(&b, 0, MPMI_OP_OPEN, 2);
    msgpack_pack_int64(&b.pk, (INT64_C(1) << 32) + MPM_OBJ_DICT);
    raw_body_str(&b, "t");
    raw_body_call(&b, 0, MPMI_OP_CREATE, 1);
    msgpack_pack_int64(&b.pk, (INT64_C(1) << 32) + MPM_OBJ_LIST);
    cr_assert_eq(raw_body_send(&r, &b, res, 2), 2);
    expect_err(&res[0], MPM_EVALUE, "ValueError: unknown type", "OPEN type 2^32+1");
    expect_err(&res[1], MPM_EVALUE, "ValueError: unknown type", "CREATE type 2^32+2");
    cr_assert_eq(nobjects(m), 0);
    raw_close(&r);
    mpm_manager_close(m);
    srv_finish();
}

typedef struct put_arg {
    mpm_queue *q;
    mpm_val v;
    int rc;
} put_arg;

static void *put_thread(void *a)
{
    put_arg *p = a;
    p->rc = mpm_queue_put(p->q, p->v, 300);
    return NULL;
}

/* server/types/queue.c queue_put_on_timeout (run from loop.c expire_waiters)
 * frees a parked put's items - references included - but nothing sets
 * s->gc_pending: a zombie only that put reached stays until some unrelated
 * call schedules a collection (NOBJECTS forces one only when one is pending).
 * Here it never goes. */
Test(refs, bug_a_timed_out_parked_put_leaves_its_references_uncollected)
{
    srv_start("0");
    mpm_manager *m = connect_m();
    mpm_queue *q;
    mpm_dict *x;
    T_OK(mpm_queue_new(m, &q, 1));
    T_OK(mpm_queue_put(q, MPM_INT(0), 0));
    T_OK(mpm_dict_new(m, &x));
    put_arg pa = {q, MPM_REF(x), 1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, put_thread, &pa), 0);
    t_wait_parked(m, 1);
    mpm_dict_close(x);
    cr_assert_eq(nobjects(m), 2, "x, reached by the parked put, was freed");
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(pa.rc, MPM_EFULL);
    expect_count_within(m, 1, 1500); /* x is unreachable: grace 0 */
    mpm_queue_close(q);
    expect_count_within(m, 0, 2000);
    mpm_manager_close(m);
    srv_finish();
}

/* server/objects.c gc_collect: a zombie's grace clock (gc_lost_ms) starts at
 * the first collection that finds it unreached and is reset only by a later
 * collection that reaches it; and after one collection the next is put off
 * until the earliest grace ends (gc_next_us = next_due).  A reference that is
 * stored again and taken out again in between (a worker forwarding it through
 * a second queue) is never seen reached: the object dies one grace after it
 * first left a container, though it left its last one much more recently -
 * against docs/protocol.md ("the time a reader has to attach a reference it
 * just took out of its last container"). */
Test(refs, bug_forwarding_a_reference_does_not_restart_its_grace)
{
    srv_start("600");
    mpm_manager *m = connect_m();
    mpm_queue *q1, *q2;
    mpm_dict *x;
    T_OK(mpm_queue_new(m, &q1, 0));
    T_OK(mpm_queue_new(m, &q2, 0));
    T_OK(mpm_dict_new(m, &x));
    T_OK(mpm_queue_put(q1, MPM_REF(x), 0));
    mpm_dict_close(x);
    mpm_val *v, *v2;
    T_OK(mpm_queue_get(q1, 0, &v)); /* a worker takes it ... */
    cr_assert_eq(nobjects(m), 3);   /* (a collection: x's clock starts) */
    t_sleep_ms(350);
    T_OK(mpm_queue_put(q2, *v, 0)); /* ... and hands it on */
    T_OK(mpm_queue_get(q2, 0, &v2)); /* the next worker takes it now */
    mpm_val_free(v);
    t_sleep_ms(350); /* 350 ms after it left its last container: within the 600 ms grace */
    T_OK(mpm_handle_from_val(m, *v2, MPM_OBJ_DICT, (void **)&x));
    mpm_val_free(v2);
    mpm_dict_close(x);
    mpm_queue_close(q1);
    mpm_queue_close(q2);
    expect_count_within(m, 0, 3000);
    mpm_manager_close(m);
    srv_finish();
}

/* The same clock, reached another way: a container in its grace is opened
 * again (ATTACH revives it without a collection seeing anything), and a
 * reference is taken out of it.  The object it named has been unreached since
 * the first collection, by the collector's books, and dies at that clock's
 * end - 350 ms after a client was handed the reference.  Resetting the clock
 * in mpmi_check_refs does not cover this; resetting the clocks of zombies
 * named in a reply (or of every zombie when one is revived) does. */
Test(refs, bug_a_reference_taken_from_a_revived_container_loses_its_grace)
{
    srv_start("600");
    mpm_manager *m = connect_m();
    mpm_queue *q;
    mpm_dict *c, *x;
    T_OK(mpm_queue_new(m, &q, 0));
    T_OK(mpm_dict_new(m, &c));
    T_OK(mpm_dict_new(m, &x));
    T_OK(mpm_dict_set(c, MPM_STR("x"), MPM_REF(x)));
    T_OK(mpm_queue_put(q, MPM_REF(c), 0));
    mpm_dict_close(x);
    mpm_dict_close(c);
    mpm_val *vc, *vx;
    T_OK(mpm_queue_get(q, 0, &vc)); /* c, and x through it, are unreached now */
    cr_assert_eq(nobjects(m), 3);   /* (a collection: their clocks start) */
    t_sleep_ms(300);
    T_OK(mpm_handle_from_val(m, *vc, MPM_OBJ_DICT, (void **)&c)); /* c lives again */
    mpm_val_free(vc);
    t_sleep_ms(50);
    T_OK(mpm_dict_pop(c, MPM_STR("x"), &vx)); /* x's reference is handed out now */
    t_sleep_ms(350);
    T_OK(mpm_handle_from_val(m, *vx, MPM_OBJ_DICT, (void **)&x));
    mpm_val_free(vx);
    mpm_dict_close(x);
    mpm_dict_close(c);
    mpm_queue_close(q);
    expect_count_within(m, 0, 3000);
    mpm_manager_close(m);
    srv_finish();
}

/* server/objects.c gc_collect: `z->gc_lost_ms + s->gc_grace_ms` and
 * `next_due * 1000` overflow int64 for a grace above ~9.2e15 ms, which
 * server/main.c accepts unchecked (atoll): undefined behaviour (the UBSan
 * build aborts); in practice next_due wraps negative, so every collection
 * leaves gc_pending set with gc_next_us 1 ms away and mpmd collects about
 * 1000 times a second for as long as the zombie lives.  (A server that
 * refuses such a grace at start passes.) */
Test(refs, bug_a_huge_gc_grace_overflows_into_a_collection_loop)
{
    if (srv_start_rc("9223372036854775807")) return; /* refusing the value is a fix too */
    mpm_manager *m = connect_m();
    mpm_dict *d, *x;
    T_OK(mpm_dict_new(m, &d));
    T_OK(mpm_dict_new(m, &x));
    T_OK(mpm_dict_set(d, MPM_INT(0), MPM_REF(x)));
    mpm_dict_close(x);
    T_OK(mpm_dict_del(d, MPM_INT(0))); /* x unreached: in its (endless) grace */
    cr_assert_eq(nobjects(m), 2);
    srv_alive();
    raw r;
    raw_connect(&r, &RAW);
    int64_t a = raw_stat(&r, "gc_runs");
    t_sleep_ms(500);
    int64_t b = raw_stat(&r, "gc_runs");
    srv_alive();
    cr_assert_lt(b - a, 50, "%lld collections in 500 ms with nothing changing",
                 (long long)(b - a));
    raw_close(&r);
    mpm_manager_close(m);
    srv_finish();
}
