/* mpmd.h - what tests that run their own mpmd share. */
#ifndef MPM_TEST_MPMD_H
#define MPM_TEST_MPMD_H

#include <stddef.h>

/* Read mpmd's --ready-fd pipe to its end within ms (mpmd writes its bound
 * URLs, then closes it; exiting closes it too), then close fd: the URLs in
 * out, NUL-terminated, and their length (0: mpmd ended before it was ready). */
size_t t_read_ready(int fd, char *out, size_t cap, int ms);

/* A program's path: $env when set (env_is_dir: $env/name; CTest sets both
 * MPM_MPMD and MPM_TEST_BIN_DIR), else name beside this test binary. */
void t_bin_path(char *out, size_t n, const char *env, int env_is_dir, const char *name);
/* The mpmd to run: $MPM_MPMD, else the one beside this test. */
void t_mpmd_path(char *out, size_t n);

#endif
