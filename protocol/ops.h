/* ops.h - method numbers, the one list both sides use.
 *
 * A call on the wire is [object id, method, args...]; object 0 is the manager.
 * Append new methods at the end of their group's range: numbers are the wire. */
#ifndef MPMI_OPS_H
#define MPMI_OPS_H

#define MPMI_OPS(XX)                                                                \
    /* manager (object 0) */                                                      \
    XX(CREATE, 1)       /* type, args...            -> id */                      \
    XX(INCREF, 2)       /* id...                    -> nil */                     \
    XX(DECREF, 3)       /* id...                    -> nil */                     \
    XX(PING, 4)         /*                          -> "pong" */                  \
    XX(SLEEP, 5)        /* ms                       -> nil, after ms (parked) */  \
    XX(NOBJECTS, 6)     /*                          -> count */                   \
    XX(SHUTDOWN, 7)     /*                          -> nil */                     \
    XX(TYPEOF, 8)       /* id                       -> [type, typecode] */        \
    XX(OPEN, 9)         /* type|0, name, args...    -> [id, type, tc, created] */ \
    XX(NAMES, 10)       /*                          -> {name: type name} */       \
    XX(NAME_DEL, 11)    /* name                     -> nil */                     \
    XX(ATTACH, 12)      /* id, type|0 [, epoch]     -> [id, type, tc, false] */   \
    XX(STATS, 13)       /*                          -> {counter: n} */            \
    XX(OBJECTS, 14)     /*                          -> [{id, type, ...}] */       \
    XX(EPOCH, 15)       /*                          -> this server run's number */\
    /* any object */                                                              \
    XX(REPR, 20)        /*                          -> str */                     \
    XX(COPY, 21)        /*                          -> snapshot value */          \
    XX(LEN, 22)         /*                          -> int */                     \
    XX(CONTAINS, 23)    /* v                        -> bool */                    \
    XX(GETITEM, 24)     /* key|index                -> value */                   \
    XX(SETITEM, 25)     /* key|index, v             -> nil */                     \
    XX(DELITEM, 26)     /* key|index                -> nil */                     \
    XX(TYPECODE, 27)    /*                          -> str */                     \
    /* dict */                                                                    \
    XX(D_GET, 40)       /* k, default               -> value */                   \
    XX(D_KEYS, 41)                                                                \
    XX(D_VALUES, 42)                                                              \
    XX(D_ITEMS, 43)                                                               \
    XX(D_UPDATE, 44)    /* map */                                                 \
    XX(D_UPDATE_FROM, 45) /* dict id */                                           \
    XX(D_POP, 46)       /* k [, default] */                                       \
    XX(D_POPITEM, 47)   /*                          -> [k, v] */                  \
    XX(D_SETDEFAULT, 48) /* k, default              -> value */                   \
    XX(D_CLEAR, 49)                                                               \
    /* list and array (slices are [start|nil, stop|nil, step|nil]) */             \
    XX(L_GETSLICE, 60)  /* start, stop, step        -> array */                   \
    XX(L_SETSLICE, 61)  /* start, stop, step, items */                            \
    XX(L_DELSLICE, 62)  /* start, stop, step */                                   \
    XX(L_APPEND, 63)                                                              \
    XX(L_EXTEND, 64)    /* items */                                               \
    XX(L_EXTEND_FROM, 65) /* list id */                                           \
    XX(L_INSERT, 66)    /* index, v */                                            \
    XX(L_POP, 67)       /* [index]                  -> value */                   \
    XX(L_REMOVE, 68)                                                              \
    XX(L_INDEX, 69)     /* v, start|nil, stop|nil   -> int */                     \
    XX(L_COUNT, 70)                                                               \
    XX(L_SORT, 71)      /* reverse */                                             \
    XX(L_REVERSE, 72)                                                             \
    XX(L_IMUL, 73)      /* n */                                                   \
    /* Namespace */                                                               \
    XX(NS_GETATTR, 80)                                                            \
    XX(NS_SETATTR, 81)                                                            \
    XX(NS_DELATTR, 82)                                                            \
    XX(NS_DIR, 83)                                                                \
    /* Value */                                                                   \
    XX(V_GET, 90)                                                                 \
    XX(V_SET, 91)                                                                 \
    XX(V_ADD, 92)       /* delta                    -> new value */               \
    XX(V_CAS, 93)       /* expected, desired        -> bool */                    \
    /* Lock, RLock, Semaphore, BoundedSemaphore, Condition.  thread: the caller's  \
     * thread id (ownership is per session and thread).  An acquire answers        \
     * [fencing token, previous owner died] or false on timeout (timeout_ms: -1     \
     * waits forever, 0 never waits). */                                           \
    XX(ACQUIRE, 100)    /* thread, timeout_ms       -> [token, owner_died] | false */ \
    XX(RELEASE, 101)    /* thread [, n]             -> nil */                     \
    XX(LOCKED, 102)     /*                          -> bool */                    \
    XX(S_VALUE, 103)    /*                          -> int */                     \
    XX(OWNED, 104)      /* thread                   -> bool: held by this caller */ \
    /* Condition */                                                               \
    XX(C_WAIT, 110)     /* thread, timeout_ms       -> bool notified */           \
    XX(C_NOTIFY, 111)   /* thread, n */                                           \
    XX(C_NOTIFY_ALL, 112) /* thread */                                            \
    /* Event */                                                                   \
    XX(E_SET, 120)                                                                \
    XX(E_CLEAR, 121)                                                              \
    XX(E_ISSET, 122)    /*                          -> bool */                    \
    XX(E_WAIT, 123)     /* timeout_ms               -> bool flag */               \
    /* Barrier */                                                                 \
    XX(B_WAIT, 130)     /* timeout_ms|nil (nil: the barrier's default) -> index */ \
    XX(B_ABORT, 131)                                                              \
    XX(B_RESET, 132)                                                              \
    XX(B_PARTIES, 133)                                                            \
    XX(B_NWAITING, 134)                                                           \
    XX(B_BROKEN, 135)                                                             \
    /* Queue, JoinableQueue (timeout_ms: -1 forever, 0 never waits) */             \
    XX(Q_PUT, 140)      /* item, timeout_ms         -> nil | Full */              \
    XX(Q_GET, 141)      /* timeout_ms               -> item | Empty */            \
    XX(Q_PUT_MANY, 142) /* items, timeout_ms        -> count put (the client: Full if < all) */ \
    XX(Q_GET_MANY, 143) /* max, timeout_ms          -> [items] (>= 1) | Empty */   \
    XX(Q_QSIZE, 144)                                                              \
    XX(Q_EMPTY, 145)                                                              \
    XX(Q_FULL, 146)                                                               \
    XX(Q_TASK_DONE, 147) /* [n]                     -> nil */                     \
    XX(Q_JOIN, 148)     /* timeout_ms               -> bool (false: timed out) */ \
    XX(Q_MAXSIZE, 149)

enum mpmi_op {
#define MPMI_XX_OP(name, num) MPMI_OP_##name = num,
    MPMI_OPS(MPMI_XX_OP)
#undef MPMI_XX_OP
    MPMI_OP_MAX = 256 /* every number above is below this: see the check below */
};

#define MPMI_XX_CHECK(name, num) _Static_assert(num < MPMI_OP_MAX, "raise MPMI_OP_MAX");
MPMI_OPS(MPMI_XX_CHECK)
#undef MPMI_XX_CHECK

/* Name of a method for error messages. */
const char *mpmi_op_name(int op);

#endif
