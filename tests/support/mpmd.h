/* mpmd.h - what tests that run their own mpmd share. */
#ifndef MPM_TEST_MPMD_H
#define MPM_TEST_MPMD_H

#include <stddef.h>

/* Read mpmd's --ready-fd pipe to its end within ms (mpmd writes its bound
 * URLs, then closes it; exiting closes it too), then close fd: the URLs in
 * out, NUL-terminated, and their length (0: mpmd ended before it was ready). */
size_t t_read_ready(int fd, char *out, size_t cap, int ms);

#endif
