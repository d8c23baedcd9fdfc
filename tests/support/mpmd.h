/* mpmd.h - what tests that run their own mpmd share. */
#ifndef MPM_TEST_MPMD_H
#define MPM_TEST_MPMD_H

#include <stddef.h>
#include <sys/types.h>

/* Read mpmd's --ready-fd pipe to its end within ms (mpmd writes its bound
 * URLs, then closes it; exiting closes it too), then close fd: the URLs in
 * out, NUL-terminated, and their length (0: mpmd ended before it was ready). */
size_t t_read_ready(int fd, char *out, size_t cap, int ms);

/* A program's path: $env when set (env_is_dir: $env/name; CTest sets both
 * MPM_MPMD and MPM_TEST_BIN_DIR), else name beside this test binary. */
void t_bin_path(char *out, size_t n, const char *env, int env_is_dir, const char *name);
/* The mpmd to run: $MPM_MPMD, else the one beside this test. */
void t_mpmd_path(char *out, size_t n);

/* Start the mpmd of t_mpmd_path: --listen url --authkey-file keyfile --quiet
 * --ready-fd, then the NULL-terminated extra arguments (extra may be NULL).
 * It is killed if the test process dies.  Waits up to ms for its ready line
 * (in bound, cap bytes).  Its pid, or -1 when it ended before it was ready
 * (reaped). */
pid_t t_mpmd_start(const char *url, const char *keyfile, const char *const *extra, int ms,
                   char *bound, size_t cap);
/* SIGTERM pid, SIGKILL after ms; its wait status (-1 when pid <= 0). */
int t_mpmd_stop(pid_t pid, int ms);

/* A new private directory /tmp/prefix-XXXXXX (mode 0700) holding the key file
 * dir/key (key and a newline, which is not part of the key). */
void t_private_dir(char *dir, size_t dn, const char *prefix, char *keyfile, size_t kn,
                   const char *key);
/* Remove dir and the files in it. */
void t_private_dir_remove(const char *dir);

/* An mpmd for nng tests: in a private directory, listening on
 * nng+ipc://DIR/s.ipc, nng+tcp://127.0.0.1:0 and unix://DIR/s.sock, with a
 * manager connected over unix:// (the server's own view, for checks). */
typedef struct mpm_manager mpm_manager;
typedef struct t_nng_srv {
    char dir[64], keyfile[128];
    char ipc_path[128], ipc_url[160];   /* DIR/s.ipc, nng+ipc://DIR/s.ipc */
    char sock_path[128], unix_url[160]; /* DIR/s.sock, unix://DIR/s.sock */
    char tcp_url[160];                  /* nng+tcp://127.0.0.1:PORT as bound */
    int tcp_port;
    pid_t pid;
    mpm_manager *watch;
} t_nng_srv;
/* Start it with key (and the NULL-terminated extra arguments, or NULL);
 * prefix names the directory.  Failures are Criterion asserts. */
void t_nng_srv_start(t_nng_srv *s, const char *prefix, const char *key, const char *const *extra);
/* Close the watch, stop mpmd (asserting it exited 0), remove the directory. */
void t_nng_srv_stop(t_nng_srv *s);

#endif
