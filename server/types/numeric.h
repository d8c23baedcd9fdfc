/* numeric.h - the array-module typecodes that Value and Array share: which
 * typecodes exist, how a msgpack number is checked against one (Python's
 * TypeError and OverflowError wording), and how a stored number is packed,
 * printed, added to and compared. */
#ifndef MPMI_NUMERIC_H
#define MPMI_NUMERIC_H

#include <stdint.h>

#include "../server.h"

/* One stored number; which member is live follows from the typecode. */
typedef union mpmi_num {
    int64_t i;  /* b h i l q */
    uint64_t u; /* B H I L Q */
    double f;   /* f d ('f' already rounded through float) */
} mpmi_num;

enum mpmi_num_kind { MPMI_NUM_SIGNED, MPMI_NUM_UNSIGNED, MPMI_NUM_FLOAT };

/* The kind of a valid typecode. */
int mpmi_num_kind(char tc);

/* Read argument i as a typecode (a 1-char str of "bBhHiIlLqQfd").  who names
 * the constructor in the TypeError for a non-str ("array", "Value").  0, or
 * MPM_EVALUE "ValueError: bad typecode (...)", MPM_ETYPE, MPM_EARGS. */
int mpmi_num_arg_typecode(mpmi_call *c, int i, const char *who, char *tc);

/* Convert the msgpack value p[0..n) to typecode tc's storage: 0, or MPM_ETYPE
 * / MPM_EOVERFLOW with Python's message set on c. */
int mpmi_num_from(mpmi_call *c, char tc, const unsigned char *p, size_t n, mpmi_num *out);

/* *out = cur + the msgpack number p[0..n), checked as mpmi_num_from checks a
 * stored value.  cur is never changed. */
int mpmi_num_add(mpmi_call *c, char tc, mpmi_num cur, const unsigned char *p, size_t n,
                 mpmi_num *out);

/* Python ==: does stored x equal the msgpack value p[0..n)?  Non-numbers never do. */
int mpmi_num_eq(char tc, mpmi_num x, const unsigned char *p, size_t n);

/* Pack x as msgpack (ints as int, floats as float64). */
void mpmi_num_pack(msgpack_packer *pk, char tc, mpmi_num x);

/* Append Python's repr of x. */
void mpmi_num_repr(mpmi_buf *out, char tc, mpmi_num x);

#endif
