/* support.h - what the test files share: result checks, time, child processes.
 * Every test binary is linked with the .c files beside this header. */
#ifndef MPM_TEST_SUPPORT_H
#define MPM_TEST_SUPPORT_H

#include <criterion/criterion.h>
#include <mpm/mpm.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* expr must return 0; on failure show the code and the thread's message. */
#define T_OK(expr)                                                                                 \
    do {                                                                                           \
        int t_rc_ = (expr);                                                                        \
        cr_assert_eq(t_rc_, 0, "%s: %d (%s)", #expr, t_rc_, mpm_last_error());                     \
    } while (0)

/* expr must return code, and the thread's message be exactly msg. */
#define t_assert_err(expr, code, msg)                                                              \
    do {                                                                                           \
        int t_rc_ = (expr);                                                                        \
        cr_assert_eq(t_rc_, (code), "%s: got %d (%s)", #expr, t_rc_, mpm_last_error());            \
        cr_assert_str_eq(mpm_last_error(), (msg), "%s", #expr);                                    \
    } while (0)

/* Monotonic milliseconds. */
int64_t t_now_ms(void);
/* Monotonic microseconds: a call that does not wait takes well under a ms. */
int64_t t_now_us(void);
/* The median of the n values in d (sorts d): one call descheduled on a loaded
 * machine does not move it, a wait in every call does. */
int64_t t_median(int64_t *d, size_t n);
/* A call given timeout_ms (a timed wait) returned after took_ms: not before
 * its deadline (2 ms for the whole milliseconds of the two clocks) and within
 * 100 ms after it, which a loaded 2-core machine keeps to and a late timer
 * does not.  what names the call in the message. */
#define T_ASSERT_ON_TIME(took_ms, timeout_ms, what)                                                \
    do {                                                                                           \
        int64_t t_took_ = (took_ms), t_ms_ = (timeout_ms);                                         \
        cr_assert(t_took_ >= t_ms_ - 2 && t_took_ <= t_ms_ + 100,                                  \
                  "%s: a %lld ms timeout took %lld ms", (what), (long long)t_ms_,                  \
                  (long long)t_took_);                                                             \
    } while (0)
/* How close to its deadline a timed wait returns.  timed_out(arg, timeout_ms)
 * makes one wait that must time out and returns 0 when it did; this runs
 * T_LATE_RUNS of them with timeout_ms and asserts the median of how late they
 * returned is under T_LATE_MAX_US, and none came early (what names the call).
 * The median lets a loaded machine delay a few; a deadline rounded to a
 * coarse tick, or a timer that fires late every time, moves it. */
#define T_LATE_RUNS 9
#define T_LATE_MAX_US 10000
void t_assert_timeouts_precise(int (*timed_out)(void *arg, int64_t timeout_ms), void *arg,
                               int64_t timeout_ms, const char *what);
/* Sleep ms milliseconds, whatever signals come. */
void t_sleep_ms(int ms);
/* Read the pipes outfd and errfd to their end, or for ms at most, into out
 * and err (cap bytes each with the NUL; more is dropped), and close them.
 * Both at once: a child blocked on a full stderr pipe would never finish its
 * stdout. */
void t_read_pipes(int outfd, int errfd, char *out, char *err, size_t cap, int ms);
/* Wait for child p: its exit status, 128 + signal if killed, -1 on error.
 * (Children report by exit status: Criterion's nng must not run after fork.) */
int t_wait_child(pid_t p);
/* Wait (up to 10 s) until m's server has want calls parked, asking without
 * pause: a test that must act as soon as a waiter parks (before its turn at a
 * lock runs out) sees it at once.  Asserts it came to that. */
void t_wait_parked(mpm_manager *m, uint64_t want);
/* SIGKILL child p, parked in a call on m's server, and return once the
 * server has dropped that call (want calls left parked): then what follows
 * finds it gone. */
void t_kill_parked(mpm_manager *m, pid_t p, uint64_t want);

#endif
