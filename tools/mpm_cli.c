/* mpm_cli.c - mpm, the command-line client: inspect and change a running
 * mpmd's named objects from a shell (what redis-cli is to Redis).
 *
 * Keys and values are Python literals, read with mpm_val_parse and printed
 * with mpm_val_repr, so what `get` prints, `set` takes back.  Exit status: 0
 * on success, 1 when the server or the connection fails, 2 for a wrong
 * command line. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpm/mpm.h>

enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2 };

static const char cli_help[] =
    "usage: mpm [--connect ADDR] [--authkey-file FILE] COMMAND [ARGS]\n"
    "\n"
    "Inspect and change the named objects of a running mpmd.\n"
    "\n"
    "Options:\n"
    "  -c, --connect ADDR       the server: unix:///path, tcp://host:port,\n"
    "                           nng+ipc:///path or nng+tcp://host:port\n"
    "                           (default: $MPM_ADDRESS)\n"
    "  -k, --authkey-file FILE  the authkey is FILE's content, one trailing newline\n"
    "                           removed (default: $MPM_AUTHKEY, else no key)\n"
    "  -h, --help               this text\n"
    "\n"
    "Commands:\n"
    "  ping                     check that the server answers; prints pong\n"
    "  ls                       the named objects, sorted: name and type per line\n"
    "  show NAME                the whole object, as Python's str() prints it\n"
    "  get NAME KEY             one item: d[KEY] of a dict; l[KEY] of a list or\n"
    "                           Array (KEY an int, negative from the end); the\n"
    "                           attribute KEY of a Namespace (a bare word)\n"
    "  get NAME                 the value of a Value\n"
    "  set NAME KEY VALUE       d[KEY] = VALUE (creating the dict NAME when no\n"
    "                           object has that name), l[KEY] = VALUE for a list\n"
    "                           or Array, setattr for a Namespace\n"
    "  set NAME VALUE           the value of a Value\n"
    "  put QUEUE VALUE [--timeout MS]\n"
    "                           QUEUE.put(VALUE), creating an unbounded Queue when\n"
    "                           none has that name; waits up to MS milliseconds\n"
    "                           for room (default 0: fail at once when full)\n"
    "  get-queue QUEUE [--timeout MS]\n"
    "                           take the oldest item of QUEUE and print it; waits\n"
    "                           up to MS milliseconds (-1: forever; default 0:\n"
    "                           fail at once with queue.Empty).  An item taken\n"
    "                           from a JoinableQueue is marked done\n"
    "  delete NAME              remove the name (the object goes when nothing\n"
    "                           holds it any more)\n"
    "  stats                    the server's counters, one 'name: value' per line\n"
    "  objects                  every live object: id, type, refs, size, name\n"
    "  shutdown                 stop the server and every object in it\n"
    "\n"
    "KEY and VALUE are Python literals: None, True, False, 42, -0x1f, 2.5,\n"
    "float('inf'), 'text', b'bytes', [lists], (tuples), {dicts}.  Quote them\n"
    "for the shell too:  mpm set cfg \"'hosts'\" \"['a', 'b']\"\n"
    "\n"
    "Environment:\n"
    "  MPM_ADDRESS              the server's address when --connect is not given\n"
    "  MPM_AUTHKEY              the authkey when --authkey-file is not given\n"
    "\n"
    "Exit status: 0 on success, 1 when the call fails (the message, on stderr,\n"
    "is the server's: KeyError: 'x', queue.Empty, ...), 2 for a usage error.\n";

/*---- messages -----------------------------------------------------------------*/

static int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cli_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mpm: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'mpm --help'.\n", stderr);
    return CLI_USAGE;
}

/* "mpm: <what>: <the library's message>" for a failed call rc. */
static int cli_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli_fail(int rc, const char *fmt, ...)
{
    /* queue.Empty and queue.Full are known by that name, not by their text */
    const char *msg = *mpm_last_error() && rc != MPM_EEMPTY && rc != MPM_EFULL ? mpm_last_error()
                                                                               : mpm_strerror(rc);
    va_list ap;
    va_start(ap, fmt);
    fputs("mpm: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", msg);
    return CLI_ERR;
}

static int cli_print_val(const mpm_val *v)
{
    char *s = mpm_val_repr(*v);
    if (!s) {
        fputs("mpm: out of memory\n", stderr);
        return CLI_ERR;
    }
    puts(s);
    free(s);
    return CLI_OK;
}

/*---- arguments ------------------------------------------------------------------*/

static int cli_is_word(const char *s)
{
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return 0;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* Parse the literal text for the argument called what (KEY, VALUE).  A bare
 * word is not taken for a string: `set d x 1` would otherwise mean d['x']
 * when x is a word and something else when it is a number. */
static int cli_literal(const char *what, const char *text, mpm_val **out)
{
    if (mpm_val_parse(text, out) == 0) return CLI_OK;
    if (cli_is_word(text))
        return cli_usage("%s must be a Python literal: '%s' not %s", what, text, text);
    return cli_usage("%s is not a Python literal: %s", what, mpm_last_error());
}

/* A list index: an int literal. */
static int cli_index(const char *text, int64_t *out)
{
    mpm_val *v;
    int rc = cli_literal("KEY", text, &v);
    if (rc) return rc;
    int ok = v->type == MPM_T_INT;
    if (ok) *out = v->v.i;
    mpm_val_free(v);
    return ok ? CLI_OK : cli_usage("KEY of a list or Array must be an int index, not %s", text);
}

/* A Namespace attribute: a bare word, or a str literal. */
static int cli_attr(const char *text, char **out)
{
    if (cli_is_word(text)) {
        *out = strdup(text);
    } else {
        mpm_val *v;
        int rc = cli_literal("KEY", text, &v);
        if (rc) return rc;
        *out = v->type == MPM_T_STR ? strdup(v->v.str.ptr) : NULL;
        int is_str = v->type == MPM_T_STR;
        mpm_val_free(v);
        if (!is_str) return cli_usage("KEY of a Namespace must be an attribute name, not %s", text);
    }
    if (!*out) {
        fputs("mpm: out of memory\n", stderr);
        return CLI_ERR;
    }
    return CLI_OK;
}

/* Take "--timeout MS" or "--timeout=MS" out of argv (shifting the rest). */
static int cli_take_timeout(int *argc, char **argv, int64_t *ms)
{
    for (int i = 0; i < *argc; i++) {
        const char *val;
        int used;
        if (strcmp(argv[i], "--timeout") == 0) {
            if (i + 1 >= *argc) return cli_usage("--timeout needs a number of milliseconds");
            val = argv[i + 1];
            used = 2;
        } else if (strncmp(argv[i], "--timeout=", 10) == 0) {
            val = argv[i] + 10;
            used = 1;
        } else {
            continue;
        }
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end || v < -1)
            return cli_usage("--timeout wants milliseconds (-1: forever), not '%s'", val);
        *ms = v;
        for (int j = i; j + used < *argc; j++)
            argv[j] = argv[j + used];
        *argc -= used;
        i--;
    }
    return CLI_OK;
}

/*---- commands -------------------------------------------------------------------*/

/* The object called name, of any type.  Missing: exit 1, "no object named". */
static int cli_open(mpm_manager *m, const char *cmd, const char *name, void **h)
{
    int rc = mpm_open(m, name, 0, NULL, 0, h, NULL);
    if (rc == MPM_EKEY) return cli_fail(rc, "%s: no object named '%s'", cmd, name);
    if (rc) return cli_fail(rc, "%s %s", cmd, name);
    return CLI_OK;
}

static const char *cli_typename(void *h)
{
    static const char *const names[] = {
        "?",         "dict",  "list",    "Namespace", "Value",
        "Array",     "Lock",  "RLock",   "Semaphore", "BoundedSemaphore",
        "Condition", "Event", "Barrier", "Queue",     "JoinableQueue",
    };
    unsigned t = (unsigned)mpm_handle_type(h);
    return t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static int cmd_ping(mpm_manager *m, int argc, char **argv)
{
    (void)argc, (void)argv;
    int rc = mpm_ping(m);
    if (rc) return cli_fail(rc, "ping");
    puts("pong");
    return CLI_OK;
}

static int cmd_ls(mpm_manager *m, int argc, char **argv)
{
    (void)argc, (void)argv;
    mpm_val *names;
    int rc = mpm_names(m, &names);
    if (rc) return cli_fail(rc, "ls");
    int width = 0;
    for (size_t i = 0; i < names->v.dict.len; i++) {
        int n = (int)names->v.dict.items[i].key.v.str.len;
        if (n > width) width = n;
    }
    /* the server sorts the names */
    for (size_t i = 0; i < names->v.dict.len; i++) {
        const mpm_pair *p = &names->v.dict.items[i];
        printf("%-*s  %s\n", width, p->key.v.str.ptr, p->value.v.str.ptr);
    }
    mpm_val_free(names);
    return CLI_OK;
}

static int cmd_show(mpm_manager *m, int argc, char **argv)
{
    (void)argc;
    void *h;
    char *s;
    int rc = cli_open(m, "show", argv[0], &h);
    if (rc) return rc;
    if ((rc = mpm_handle_repr(h, &s))) return cli_fail(rc, "show %s", argv[0]);
    puts(s);
    free(s);
    return CLI_OK;
}

static int cmd_get(mpm_manager *m, int argc, char **argv)
{
    void *h;
    mpm_val *key = NULL, *v = NULL;
    char *attr = NULL;
    int rc = cli_open(m, "get", argv[0], &h);
    if (rc) return rc;
    mpm_objtype t = mpm_handle_type(h);
    switch (t) {
    case MPM_OBJ_VALUE:
        if (argc != 1) return cli_usage("get: %s is a Value: it takes no KEY", argv[0]);
        rc = mpm_value_get(h, &v);
        break;
    case MPM_OBJ_DICT:
    case MPM_OBJ_LIST:
    case MPM_OBJ_ARRAY:
    case MPM_OBJ_NAMESPACE:
        if (argc != 2)
            return cli_usage("get: %s is a %s: give a KEY (or see it all with show)", argv[0],
                             cli_typename(h));
        if (t == MPM_OBJ_DICT) {
            if ((rc = cli_literal("KEY", argv[1], &key))) return rc;
            rc = mpm_dict_get(h, *key, &v);
            mpm_val_free(key);
        } else if (t == MPM_OBJ_NAMESPACE) {
            if ((rc = cli_attr(argv[1], &attr))) return rc;
            rc = mpm_namespace_get(h, attr, &v);
            free(attr);
        } else {
            int64_t i;
            if ((rc = cli_index(argv[1], &i))) return rc;
            rc = t == MPM_OBJ_LIST ? mpm_list_get(h, i, &v) : mpm_array_get(h, i, &v);
        }
        break;
    case MPM_OBJ_QUEUE:
    case MPM_OBJ_JOINABLE_QUEUE:
        return cli_usage("get: %s is a %s: take an item with get-queue", argv[0], cli_typename(h));
    default:
        fprintf(stderr, "mpm: get: %s is a %s: get reads a dict, list, Array, Namespace or Value\n",
                argv[0], cli_typename(h));
        return CLI_ERR;
    }
    if (rc) return cli_fail(rc, "get %s", argv[0]);
    rc = cli_print_val(v);
    mpm_val_free(v);
    return rc;
}

static int cmd_set(mpm_manager *m, int argc, char **argv)
{
    void *h;
    mpm_val *key = NULL, *val = NULL;
    /* arguments first: a bad command line must not create the dict */
    int rc = cli_literal("VALUE", argv[argc - 1], &val);
    if (rc) return rc;
    if (argc == 3 && mpm_val_parse(argv[1], &key) == 0) {
        /* most likely a dict: open (or create) it as one, which spares the
         * server a KeyError in its error counts when it is new */
        rc = mpm_dict_open(m, argv[0], (mpm_dict **)&h);
        if (rc == MPM_ETYPE) rc = mpm_open(m, argv[0], 0, NULL, 0, &h, NULL);
    } else {
        rc = mpm_open(m, argv[0], 0, NULL, 0, &h, NULL);
        if (rc == MPM_EKEY && argc == 3) {
            /* it did not parse as a literal above: say why */
            if (!(rc = cli_literal("KEY", argv[1], &key))) rc = CLI_ERR;
            goto out;
        }
        if (rc == MPM_EKEY) {
            rc = cli_fail(rc, "set: no object named '%s' (set NAME KEY VALUE creates a dict)",
                          argv[0]);
            goto out;
        }
    }
    if (rc) {
        rc = cli_fail(rc, "set %s", argv[0]);
        goto out;
    }
    mpm_objtype t = mpm_handle_type(h);
    switch (t) {
    case MPM_OBJ_VALUE:
        if (argc != 2) {
            rc = cli_usage("set: %s is a Value: set NAME VALUE", argv[0]);
            goto out;
        }
        rc = mpm_value_set(h, *val);
        break;
    case MPM_OBJ_DICT:
    case MPM_OBJ_LIST:
    case MPM_OBJ_ARRAY:
    case MPM_OBJ_NAMESPACE:
        if (argc != 3) {
            rc = cli_usage("set: %s is a %s: set NAME KEY VALUE", argv[0], cli_typename(h));
            goto out;
        }
        if (t == MPM_OBJ_DICT) {
            if (!key && (rc = cli_literal("KEY", argv[1], &key))) goto out;
            rc = mpm_dict_set(h, *key, *val);
        } else if (t == MPM_OBJ_NAMESPACE) {
            char *attr;
            if ((rc = cli_attr(argv[1], &attr))) goto out;
            rc = mpm_namespace_set(h, attr, *val);
            free(attr);
        } else {
            int64_t i;
            if ((rc = cli_index(argv[1], &i))) goto out;
            rc = t == MPM_OBJ_LIST ? mpm_list_set(h, i, *val) : mpm_array_set(h, i, *val);
        }
        break;
    default:
        fprintf(stderr,
                "mpm: set: %s is a %s: set changes a dict, list, Array, Namespace or Value\n",
                argv[0], cli_typename(h));
        rc = CLI_ERR;
        goto out;
    }
    if (rc) rc = cli_fail(rc, "set %s", argv[0]);
out:
    mpm_val_free(key);
    mpm_val_free(val);
    return rc;
}

/* The queue called name: Queue or JoinableQueue; create makes a Queue when
 * there is none.  (Opening as a Queue first spares the server a KeyError in
 * its error counts for the usual case.) */
static int cli_queue(mpm_manager *m, const char *cmd, const char *name, int create, mpm_queue **q)
{
    void *h;
    int rc = create ? mpm_queue_open(m, name, 0, q) : MPM_ETYPE;
    if (rc != MPM_ETYPE) return rc ? cli_fail(rc, "%s %s", cmd, name) : CLI_OK;
    rc = mpm_open(m, name, 0, NULL, 0, &h, NULL);
    if (rc == MPM_EKEY) return cli_fail(rc, "%s: no object named '%s'", cmd, name);
    if (rc) return cli_fail(rc, "%s %s", cmd, name);
    mpm_objtype t = mpm_handle_type(h);
    if (t != MPM_OBJ_QUEUE && t != MPM_OBJ_JOINABLE_QUEUE) {
        fprintf(stderr, "mpm: %s: %s is a %s, not a Queue\n", cmd, name, cli_typename(h));
        return CLI_ERR;
    }
    *q = h;
    return CLI_OK;
}

static int cmd_put(mpm_manager *m, int argc, char **argv)
{
    int64_t timeout = 0;
    mpm_queue *q;
    mpm_val *v;
    int rc = cli_take_timeout(&argc, argv, &timeout);
    if (rc) return rc;
    if (argc != 2) return cli_usage("put: usage: put QUEUE VALUE [--timeout MS]");
    if ((rc = cli_literal("VALUE", argv[1], &v))) return rc;
    if (!(rc = cli_queue(m, "put", argv[0], 1, &q))) {
        rc = mpm_queue_put(q, *v, timeout);
        if (rc) rc = cli_fail(rc, "put %s", argv[0]);
    }
    mpm_val_free(v);
    return rc;
}

static int cmd_get_queue(mpm_manager *m, int argc, char **argv)
{
    int64_t timeout = 0;
    mpm_queue *q;
    mpm_val *v;
    int rc = cli_take_timeout(&argc, argv, &timeout);
    if (rc) return rc;
    if (argc != 1) return cli_usage("get-queue: usage: get-queue QUEUE [--timeout MS]");
    if ((rc = cli_queue(m, "get-queue", argv[0], 0, &q))) return rc;
    if ((rc = mpm_queue_get(q, timeout, &v))) return cli_fail(rc, "get-queue %s", argv[0]);
    rc = cli_print_val(v);
    mpm_val_free(v);
    /* else the server would give the item back when this process exits */
    if (!rc && mpm_handle_type(q) == MPM_OBJ_JOINABLE_QUEUE && (rc = mpm_queue_task_done(q)))
        return cli_fail(rc, "get-queue %s: task_done", argv[0]);
    return rc;
}

static int cmd_delete(mpm_manager *m, int argc, char **argv)
{
    (void)argc;
    int rc = mpm_name_delete(m, argv[0]);
    if (rc == MPM_EKEY) return cli_fail(rc, "delete: no object named '%s'", argv[0]);
    if (rc) return cli_fail(rc, "delete %s", argv[0]);
    return CLI_OK;
}

static int cmd_stats(mpm_manager *m, int argc, char **argv)
{
    (void)argc, (void)argv;
    mpm_stats st;
    int rc = mpm_manager_stats(m, &st);
    if (rc) return cli_fail(rc, "stats");
#define STAT(f) printf("%s: %" PRIu64 "\n", #f, st.f)
    STAT(objects);
    STAT(named);
    STAT(sessions);
    STAT(connections);
    STAT(parked);
    STAT(calls);
    STAT(errors);
    for (int i = 1; i < 64; i++)
        if (st.errors_by_code[i])
            printf("errors[%s]: %" PRIu64 "\n", mpm_strerror(-i), st.errors_by_code[i]);
    STAT(refused);
    STAT(bytes_in);
    STAT(bytes_out);
    STAT(connections_total);
    STAT(sessions_total);
    STAT(uptime_ms);
    STAT(pid);
    STAT(unheld);
    STAT(gc_runs);
    STAT(gc_freed);
#undef STAT
    return CLI_OK;
}

/* The field key of an object's dict, or NULL. */
static const mpm_val *cli_field(const mpm_val *obj, const char *key)
{
    for (size_t i = 0; i < obj->v.dict.len; i++) {
        const mpm_val *k = &obj->v.dict.items[i].key;
        if (k->type == MPM_T_STR && strcmp(k->v.str.ptr, key) == 0)
            return &obj->v.dict.items[i].value;
    }
    return NULL;
}

static int cmd_objects(mpm_manager *m, int argc, char **argv)
{
    (void)argc, (void)argv;
    mpm_val *list;
    int rc = mpm_manager_objects(m, &list);
    if (rc) return cli_fail(rc, "objects");
    /* columns of one width per field; the name, free text, comes last */
    static const char *const cols[] = {"id", "type", "refs", "size", "name"};
    enum { NCOLS = sizeof cols / sizeof cols[0] };
    size_t n = list->v.list.len;
    char **cell = calloc(n * NCOLS + 1, sizeof *cell);
    int width[NCOLS];
    if (!cell) {
        mpm_val_free(list);
        fputs("mpm: out of memory\n", stderr);
        return CLI_ERR;
    }
    for (int c = 0; c < NCOLS; c++)
        width[c] = (int)strlen(cols[c]);
    for (size_t r = 0; r < n && !rc; r++) {
        const mpm_val *obj = &list->v.list.items[r];
        for (int c = 0; c < NCOLS && !rc; c++) {
            const mpm_val *f = obj->type == MPM_T_DICT ? cli_field(obj, cols[c]) : NULL;
            char **s = &cell[r * NCOLS + (size_t)c];
            if (!f || f->type == MPM_T_NONE)
                *s = strdup("-");
            else if (f->type == MPM_T_STR)
                *s = strdup(f->v.str.ptr);
            else
                *s = mpm_val_repr(*f);
            if (!*s)
                rc = CLI_ERR;
            else if ((int)strlen(*s) > width[c])
                width[c] = (int)strlen(*s);
        }
    }
    if (rc) {
        fputs("mpm: out of memory\n", stderr);
    } else {
        for (size_t r = 0; r <= n; r++) { /* row 0: the header */
            for (int c = 0; c + 1 < NCOLS; c++)
                printf("%-*s  ", width[c], r ? cell[(r - 1) * NCOLS + (size_t)c] : cols[c]);
            puts(r ? cell[(r - 1) * NCOLS + NCOLS - 1] : cols[NCOLS - 1]);
        }
    }
    for (size_t k = 0; k < n * NCOLS; k++)
        free(cell[k]);
    free(cell);
    mpm_val_free(list);
    return rc;
}

/*---- main -----------------------------------------------------------------------*/

typedef struct cli_cmd {
    const char *name;
    int (*fn)(mpm_manager *m, int argc, char **argv);
    int min, max; /* arguments after the command's name */
    const char *args;
} cli_cmd;

static const cli_cmd cli_cmds[] = {
    {"ping", cmd_ping, 0, 0, ""},
    {"ls", cmd_ls, 0, 0, ""},
    {"show", cmd_show, 1, 1, " NAME"},
    {"get", cmd_get, 1, 2, " NAME [KEY]"},
    {"set", cmd_set, 2, 3, " NAME [KEY] VALUE"},
    {"put", cmd_put, 2, 4, " QUEUE VALUE [--timeout MS]"},
    {"get-queue", cmd_get_queue, 1, 3, " QUEUE [--timeout MS]"},
    {"delete", cmd_delete, 1, 1, " NAME"},
    {"stats", cmd_stats, 0, 0, ""},
    {"objects", cmd_objects, 0, 0, ""},
    {"shutdown", NULL, 0, 0, ""}, /* handled in main: it frees the manager */
};

/* The authkey in FILE: its content without one trailing newline (as mpmd
 * reads its --authkey-file). */
static int cli_read_key(const char *path, char **key, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mpm: --authkey-file %s: %s\n", path, strerror(errno));
        return CLI_ERR;
    }
    size_t cap = 256, n = 0;
    char *buf = malloc(cap);
    const char *why = NULL;
    while (buf && !why) {
        n += fread(buf + n, 1, cap - n, f);
        if (ferror(f))
            why = "read error";
        else if (n > 1u << 20) /* mpmd's bound too */
            why = "larger than 1 MiB";
        else if (n < cap)
            break;
        else {
            char *more = realloc(buf, cap * 2);
            if (more)
                buf = more, cap *= 2;
            else
                why = "out of memory";
        }
    }
    fclose(f);
    if (!buf) why = "out of memory";
    if (why) {
        fprintf(stderr, "mpm: --authkey-file %s: %s\n", path, why);
        if (buf) explicit_bzero(buf, cap);
        free(buf);
        return CLI_ERR;
    }
    if (n && buf[n - 1] == '\n') n--;
    if (n && buf[n - 1] == '\r') n--;
    *key = buf;
    *len = n;
    return CLI_OK;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"connect", required_argument, NULL, 'c'},
        {"authkey-file", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *addr = NULL, *keyfile = NULL;
    int o;
    opterr = 0;
    /* "+": stop at the command, so that "-1" after it is a value, not an option */
    while ((o = getopt_long(argc, argv, "+:c:k:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            addr = optarg;
            break;
        case 'k':
            keyfile = optarg;
            break;
        case 'h':
            fputs(cli_help, stdout);
            return CLI_OK;
        case ':':
            return cli_usage("%s needs an argument", argv[optind - 1]);
        default:
            return cli_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return cli_usage("no command given");
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        fputs(cli_help, stdout);
        return CLI_OK;
    }
    const cli_cmd *cmd = NULL;
    for (size_t i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
        if (strcmp(cli_cmds[i].name, name) == 0) cmd = &cli_cmds[i];
    if (!cmd) return cli_usage("unknown command '%s'", name);
    int nargs = argc - optind - 1;
    if (nargs < cmd->min || nargs > cmd->max)
        return cli_usage("usage: mpm %s%s", cmd->name, cmd->args);
    if (!addr && !(getenv("MPM_ADDRESS") && *getenv("MPM_ADDRESS")))
        return cli_usage("no server address: give --connect ADDR or set MPM_ADDRESS");

    char *key = NULL;
    size_t klen = 0;
    if (keyfile && cli_read_key(keyfile, &key, &klen)) return CLI_ERR;
    mpm_manager *m;
    int rc = mpm_connect(&m, addr, key, klen);
    if (key) explicit_bzero(key, klen); /* the manager keeps its own copy */
    free(key);
    if (rc) {
        const char *url = addr ? addr : getenv("MPM_ADDRESS");
        /* the library's message may name the address already */
        if (strstr(mpm_last_error(), url)) return cli_fail(rc, "connect");
        return cli_fail(rc, "cannot connect to %s", url);
    }

    if (!cmd->fn) {
        rc = mpm_manager_shutdown(m);
        return rc ? cli_fail(rc, "shutdown") : CLI_OK;
    }
    rc = cmd->fn(m, nargs, argv + optind + 1);
    mpm_manager_close(m);
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "mpm: writing the output: %s\n", strerror(errno));
        return CLI_ERR;
    }
    return rc;
}
