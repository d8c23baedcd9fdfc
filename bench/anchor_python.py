#!/usr/bin/env python3
"""anchor_python.py - Python's stdlib multiprocessing Manager doing what mpm_bench does.

    python3 bench/anchor_python.py [--op OP[,OP...]] [--seconds S] [--server-cpu N]

The Manager is `multiprocessing.Manager()` (a SyncManager in a forked child,
listening on a unix socket: Python's default on Linux), used from this one
client process.  Operations (after a short untimed warm-up):

    dict_set        d[i] = str(i), i rising                       ops/s
    dict_get        d[i % 10000] on a dict of 10,000 entries       ops/s
    list_append     l.append(i)                                   ops/s
    create          d = manager.dict(); del d                     µs per pair  (create_us)
    dict_update100  d.update({100 entries}): Python's nearest to
                    mpm's batch of 100 sets (one round trip)       sets/s
    mem             manager process VmRSS before/after a dict of 1,000,000
                    entries i -> str(i), filled with d.update() in
                    chunks of 10,000                              bytes/entry (mem_bytes_per_entry)
    all             every one of the above except mem

Synchronization (not in `all`; helper processes are multiprocessing.Process
children, forked, each with its own connections to the manager):

    lock_pair       l = manager.Lock(); l.acquire(); l.release()  pairs/s
    event_handoff   ping-pong through two manager.Event()s: this process sets
                    e1, waits e2, clears e2; the child waits e1, clears e1,
                    sets e2.  Half a round = one hand-off          µs (event_handoff_us)
    cond_handoff    ping-pong through one manager.Condition() (its own RLock):
                    each side, holding it, notifies and waits      µs (cond_handoff_us)
    lock_contend    --procs N (default 8) children loop acquire+release on one
                    manager.Lock() for the measuring time          total pairs/s (lock_contend<N>)
    sem_pair        s = manager.Semaphore(1); s.acquire();
                    s.release()                                   pairs/s
    sem_contend     as lock_contend, on one manager.Semaphore(1)   total pairs/s (sem_contend<N>)

Queues (not in `all`; q = manager.Queue(), unbounded):

    queue_pair      q.put(i); q.get(), one client                 pairs/s
    queue_4x4       4 producer and 4 consumer children move items through one
                    q, one item per call, for the measuring time; the consumers
                    count what they get before the deadline, then are stopped
                    through shared memory                         items/s
    (Python's Queue has no batch call: queue_pair is its item rate.)

The hand-off partner is told to stop through shared memory (a RawValue), not
through the manager.

--server-cpu N moves every thread of the manager process to CPU N (run the
client under taskset -c M): a deterministic cross-CPU placement.

Prints lines `python unix <op> <value>`, the format of mpm_bench.
"""
import argparse
import gc
import multiprocessing
import multiprocessing.sharedctypes
import os
import sys
import time

GET_KEYS = 10000
MEM_ENTRIES = 1000000
MEM_CHUNK = 10000


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def run_timed(fn, seconds):
    """Call fn(i) for i = 0, 1, ... for `seconds` after a warm-up; return calls/s."""
    i = 0
    warm = min(seconds / 10, 0.2)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warm:
        fn(i)
        i += 1
    n = 0
    now = time.perf_counter
    t0 = now()
    while True:
        fn(i)
        i += 1
        n += 1
        if n & 7 == 0 and now() - t0 >= seconds:
            break
    return n / (now() - t0)


def emit(op, value, fmt="{:.0f}"):
    print(f"python unix {op} " + fmt.format(value), flush=True)


# ---- synchronization helpers (run in forked children; daemonic, so they die with us) ----

def _event_partner(e1, e2, stop):
    while True:
        e1.wait()
        if stop.value:
            return
        e1.clear()
        e2.set()


def _cond_partner(c, stop):
    c.acquire()
    while True:
        c.notify()
        c.wait()
        if stop.value:
            break
    c.release()


def _contender(obj, k, ready, go, go_w, deadline, pairs, done):
    os.close(go_w)  # or the go pipe never reaches EOF
    for _ in range(20):  # connect and warm up before the start
        obj.acquire()
        obj.release()
    os.write(ready, b"r")
    os.read(go, 1)  # EOF: go
    end = deadline.value
    now = time.monotonic
    n = 0
    while True:
        obj.acquire()
        obj.release()
        n += 1
        t = now()
        if t >= end:
            break
    pairs[k] = n
    done[k] = t


def _queue_worker(q, k, producer, ready, go, go_w, deadline, stop, counts):
    os.close(go_w)  # or the go pipe never reaches EOF
    for w in range(20):  # connect and warm up before the start: each get follows its own put
        q.put(w)
        q.get()
    os.write(ready, b"r")
    os.read(go, 1)  # EOF: go
    end = deadline.value
    now = time.monotonic
    n = 0
    if producer:
        i = k << 40
        while True:
            q.put(i)
            i += 1
            n += 1
            if now() >= end:
                break
    else:
        while True:
            q.get()
            if stop.value:
                break
            if now() < end:
                n += 1
    counts[k] = n


def queue_4x4(manager, seconds, nprod=4, ncons=4):
    q = manager.Queue()
    n = nprod + ncons
    deadline = multiprocessing.sharedctypes.RawValue("d", 0.0)
    stop = multiprocessing.sharedctypes.RawValue("i", 0)
    counts = multiprocessing.sharedctypes.RawArray("q", n)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    kids = [multiprocessing.Process(target=_queue_worker,
                                    args=(q, k, k < nprod, ready_w, go_r, go_w, deadline,
                                          stop, counts),
                                    daemon=True)
            for k in range(n)]
    for p in kids:
        p.start()
    os.close(ready_w)
    os.close(go_r)
    for _ in range(n):
        assert os.read(ready_r, 1) == b"r", "a queue_4x4 helper did not start"
    os.close(ready_r)
    t0 = time.monotonic()
    deadline.value = t0 + seconds
    os.close(go_w)  # every child's read returns b"": go
    for p in kids[:nprod]:
        p.join()
        assert p.exitcode == 0, p.exitcode
    stop.value = 1
    for _ in range(ncons):  # wake every consumer blocked in get
        q.put(-1)
    for p in kids[nprod:]:
        p.join()
        assert p.exitcode == 0, p.exitcode
    put, got = sum(counts[:nprod]), sum(counts[nprod:])
    print(f"anchor_python: queue_4x4: items put {put}, got before the deadline {got} "
          f"(per consumer: {' '.join(map(str, counts[nprod:]))})", file=sys.stderr)
    return got / seconds


def event_handoff(manager, seconds):
    e1, e2 = manager.Event(), manager.Event()
    stop = multiprocessing.sharedctypes.RawValue("i", 0)
    b = multiprocessing.Process(target=_event_partner, args=(e1, e2, stop), daemon=True)
    b.start()

    def f(i):
        e1.set()
        e2.wait()
        e2.clear()

    r = run_timed(f, seconds)
    stop.value = 1
    e1.set()
    b.join()
    assert b.exitcode == 0, b.exitcode
    return 1e6 / (2 * r)


def cond_handoff(manager, seconds):
    c = manager.Condition()
    stop = multiprocessing.sharedctypes.RawValue("i", 0)
    c.acquire()  # held before the child exists: its acquire waits for our first wait
    b = multiprocessing.Process(target=_cond_partner, args=(c, stop), daemon=True)
    b.start()

    def f(i):
        c.notify()
        c.wait()

    r = run_timed(f, seconds)
    stop.value = 1
    c.notify()
    c.release()
    b.join()
    assert b.exitcode == 0, b.exitcode
    return 1e6 / (2 * r)


def contend(manager, seconds, nprocs, name):
    """lock_contend (one manager.Lock()) or sem_contend (one manager.Semaphore(1))."""
    obj = manager.Lock() if name == "lock_contend" else manager.Semaphore(1)
    deadline = multiprocessing.sharedctypes.RawValue("d", 0.0)
    pairs = multiprocessing.sharedctypes.RawArray("q", nprocs)
    done = multiprocessing.sharedctypes.RawArray("d", nprocs)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    kids = [multiprocessing.Process(target=_contender,
                                    args=(obj, k, ready_w, go_r, go_w, deadline, pairs, done),
                                    daemon=True)
            for k in range(nprocs)]
    for p in kids:
        p.start()
    os.close(ready_w)
    os.close(go_r)
    for _ in range(nprocs):
        assert os.read(ready_r, 1) == b"r", f"a {name} helper did not start"
    os.close(ready_r)
    t0 = time.monotonic()
    deadline.value = t0 + seconds
    os.close(go_w)  # every child's read returns b"": go
    for p in kids:
        p.join()
        assert p.exitcode == 0, p.exitcode
    print(f"anchor_python: {name} pairs per helper: " + " ".join(map(str, pairs)),
          file=sys.stderr)
    return sum(pairs) / (max([t0] + list(done)) - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--op", default="all")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--server-cpu", type=int, default=-1)
    ap.add_argument("--procs", type=int, default=8)
    a = ap.parse_args()
    ops = a.op.split(",")
    if ops == ["all"]:
        ops = ["dict_set", "dict_get", "list_append", "create", "dict_update100"]

    with multiprocessing.Manager() as manager:
        # Manager() listens on a unix socket by default (address is a path)
        assert isinstance(manager.address, str), manager.address
        server_pid = manager._process.pid
        if a.server_cpu >= 0:
            for tid in os.listdir(f"/proc/{server_pid}/task"):
                os.sched_setaffinity(int(tid), {a.server_cpu})
        for op in ops:
            if op == "dict_set":
                d = manager.dict()

                def f(i, d=d):
                    d[i] = str(i)

                emit(op, run_timed(f, a.seconds))
                del d
            elif op == "dict_get":
                d = manager.dict()
                for k in range(0, GET_KEYS, 1000):
                    d.update({i: str(i) for i in range(k, k + 1000)})

                def f(i, d=d):
                    d[i % GET_KEYS]

                emit(op, run_timed(f, a.seconds))
                del d
            elif op == "list_append":
                lst = manager.list()

                def f(i, lst=lst):
                    lst.append(i)

                emit(op, run_timed(f, a.seconds))
                del lst
            elif op == "create":

                def f(i):
                    d = manager.dict()
                    del d  # the proxy's finalizer decrefs: the object goes

                emit("create_us", 1e6 / run_timed(f, a.seconds), "{:.2f}")
            elif op == "dict_update100":
                d = manager.dict()

                def f(i, d=d):
                    k = i * 100
                    d.update({j: str(j) for j in range(k, k + 100)})

                emit(op, 100 * run_timed(f, a.seconds))
                del d
            elif op == "lock_pair":
                lock = manager.Lock()

                def f(i, lock=lock):
                    lock.acquire()
                    lock.release()

                emit(op, run_timed(f, a.seconds))
                del lock
            elif op == "event_handoff":
                emit("event_handoff_us", event_handoff(manager, a.seconds), "{:.2f}")
            elif op == "cond_handoff":
                emit("cond_handoff_us", cond_handoff(manager, a.seconds), "{:.2f}")
            elif op in ("lock_contend", "sem_contend"):
                emit(f"{op}{a.procs}", contend(manager, a.seconds, a.procs, op))
            elif op == "sem_pair":
                sem = manager.Semaphore(1)

                def f(i, sem=sem):
                    sem.acquire()
                    sem.release()

                emit(op, run_timed(f, a.seconds))
                del sem
            elif op == "queue_pair":
                q = manager.Queue()

                def f(i, q=q):
                    q.put(i)
                    q.get()

                emit(op, run_timed(f, a.seconds))
                del q
            elif op == "queue_4x4":
                emit(op, queue_4x4(manager, a.seconds))
            elif op == "mem":
                d = manager.dict()
                gc.collect()
                before = rss_kb(server_pid)
                t0 = time.perf_counter()
                for k in range(0, MEM_ENTRIES, MEM_CHUNK):
                    d.update({i: str(i) for i in range(k, k + MEM_CHUNK)})
                t1 = time.perf_counter()
                n = len(d)
                after = rss_kb(server_pid)
                assert n == MEM_ENTRIES, n
                print(f"anchor_python: manager VmRSS {before} kB -> {after} kB for "
                      f"{MEM_ENTRIES} entries (filled in {t1 - t0:.2f} s)", file=sys.stderr)
                emit("mem_bytes_per_entry", (after - before) * 1024 / MEM_ENTRIES, "{:.1f}")
                del d
            else:
                sys.exit(f"anchor_python: unknown --op {op}")


if __name__ == "__main__":
    main()
