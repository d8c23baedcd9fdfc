/* support.h - what the test files share: result checks, time, child processes.
 * Every test binary is linked with the .c files beside this header. */
#ifndef MPM_TEST_SUPPORT_H
#define MPM_TEST_SUPPORT_H

#include <criterion/criterion.h>
#include <mpm/mpm.h>
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
/* Sleep ms milliseconds, whatever signals come. */
void t_sleep_ms(int ms);
/* Wait for child p: its exit status, 128 + signal if killed, -1 on error.
 * (Children report by exit status: Criterion's nng must not run after fork.) */
int t_wait_child(pid_t p);
/* Wait (up to 10 s) until m's server has want calls parked, asking without
 * pause: a test that must act as soon as a waiter parks (before its turn at a
 * lock runs out) sees it at once.  Asserts it came to that. */
void t_wait_parked(mpm_manager *m, uint64_t want);

#endif
