#define _GNU_SOURCE /* pipe2 */
#include "mpmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

size_t t_read_ready(int fd, char *out, size_t cap, int ms)
{
    size_t n = 0;
    struct pollfd pfd = {fd, POLLIN, 0};
    int64_t end = t_now_ms() + ms;
    for (;;) {
        int left = (int)(end - t_now_ms());
        cr_assert_gt(left, 0, "mpmd was not ready within %d s", ms / 1000);
        if (poll(&pfd, 1, left) <= 0) continue;
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    out[n] = 0;
    return n;
}

void t_bin_path(char *out, size_t n, const char *env, int env_is_dir, const char *name)
{
    const char *e = getenv(env);
    if (e && *e) {
        if (env_is_dir)
            snprintf(out, n, "%s/%s", e, name);
        else
            snprintf(out, n, "%s", e);
        return;
    }
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    self[len > 0 ? len : 0] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(out, n, "%s/%s", self, name);
}

void t_mpmd_path(char *out, size_t n)
{
    t_bin_path(out, n, "MPM_MPMD", 0, "mpmd");
}

pid_t t_mpmd_start(const char *url, const char *keyfile, const char *const *extra, int ms,
                   char *bound, size_t cap)
{
    char mpmd[PATH_MAX];
    t_mpmd_path(mpmd, sizeof mpmd);
    cr_assert_eq(access(mpmd, X_OK), 0, "no mpmd at %s (set MPM_MPMD)", mpmd);
    const char *argv[32] = {"mpmd",  "--listen", url,          "--authkey-file",
                            keyfile, "--quiet",  "--ready-fd", "3"};
    size_t argc = 8;
    for (size_t i = 0; extra && extra[i]; i++) {
        cr_assert_lt(argc, 31, "too many mpmd arguments");
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    int ready[2];
    cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        if (getppid() != parent) _exit(126);
        if (ready[1] == 3)
            fcntl(3, F_SETFD, 0);
        else if (dup2(ready[1], 3) != 3)
            _exit(125);
        execv(mpmd, (char *const *)argv);
        _exit(127);
    }
    close(ready[1]);
    if (t_read_ready(ready[0], bound, cap, ms) == 0 && waitpid(pid, NULL, 0) == pid) return -1;
    return pid;
}

int t_mpmd_stop(pid_t pid, int ms)
{
    int st = -1;
    if (pid <= 0) return -1;
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == 0) {
        kill(pid, SIGTERM);
        int64_t end = t_now_ms() + ms;
        while ((w = waitpid(pid, &st, WNOHANG)) == 0 && t_now_ms() < end)
            t_sleep_ms(10);
        if (w == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
    }
    return st;
}

void t_private_dir(char *dir, size_t dn, const char *prefix, char *keyfile, size_t kn,
                   const char *key)
{
    snprintf(dir, dn, "/tmp/%s-XXXXXX", prefix);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
    snprintf(keyfile, kn, "%s/key", dir);
    FILE *f = fopen(keyfile, "w");
    cr_assert_not_null(f, "cannot write %s", keyfile);
    fprintf(f, "%s\n", key); /* the trailing newline is not part of the key */
    fclose(f);
}

void t_private_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[PATH_MAX];
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

void t_nng_srv_start(t_nng_srv *s, const char *prefix, const char *key, const char *const *extra)
{
    char bound[1024];
    const char *args[32] = {"--listen", "nng+tcp://127.0.0.1:0", "--listen", s->unix_url};
    size_t n = 4;
    unsetenv("MPM_AUTHKEY");
    t_private_dir(s->dir, sizeof s->dir, prefix, s->keyfile, sizeof s->keyfile, key);
    snprintf(s->ipc_path, sizeof s->ipc_path, "%s/s.ipc", s->dir);
    snprintf(s->ipc_url, sizeof s->ipc_url, "nng+ipc://%s", s->ipc_path);
    snprintf(s->sock_path, sizeof s->sock_path, "%s/s.sock", s->dir);
    snprintf(s->unix_url, sizeof s->unix_url, "unix://%s", s->sock_path);
    for (; extra && *extra && n < sizeof args / sizeof args[0] - 1; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    s->pid = t_mpmd_start(s->ipc_url, s->keyfile, args, 10000, bound, sizeof bound);
    cr_assert(s->pid > 0, "mpmd did not start: '%s'", bound);
    char *t = strstr(bound, "nng+tcp://127.0.0.1:");
    cr_assert_not_null(t, "no nng+tcp URL in '%s'", bound);
    s->tcp_port = atoi(t + strlen("nng+tcp://127.0.0.1:"));
    cr_assert_gt(s->tcp_port, 0);
    snprintf(s->tcp_url, sizeof s->tcp_url, "nng+tcp://127.0.0.1:%d", s->tcp_port);
    T_OK(mpm_connect(&s->watch, s->unix_url, key, strlen(key)));
}

void t_nng_srv_stop(t_nng_srv *s)
{
    mpm_manager_close(s->watch);
    s->watch = NULL;
    int st = t_mpmd_stop(s->pid, 3000);
    s->pid = -1;
    t_private_dir_remove(s->dir);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mpmd ended with status %d", st);
}
