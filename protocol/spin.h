/* spin.h - how long to poll before sleeping, learnt from what polling waited
 * for.  Shared by mpmd's loop and libmpm's wait for a reply. */
#ifndef MPMI_SPIN_H
#define MPMI_SPIN_H

#include <stdint.h>

/* What polling waited for came waited µs after polling began, after a sleep:
 * if that is within the longest window max, polling that long would have
 * caught it, and the window *w becomes what it needed (a quarter more, at
 * least double; returns 1).  Doubling alone was not enough: halved by each
 * miss and doubled by each such wake-up, the window stayed at a few µs while
 * each side slept every call and was woken only after the other's wake-up
 * (~40 µs on a VM), a stable slow state (a third of the rate, for seconds). */
static inline int mpmi_spin_widen(int *w, int max, int64_t waited)
{
    if (waited > max) return 0;
    int64_t n = waited + waited / 4 + 1;
    if (n < (int64_t)*w * 2) n = (int64_t)*w * 2;
    *w = n > max ? max : (int)n;
    return 1;
}

#endif
