#!/usr/bin/env bash
# bench/run.sh - build the benchmarks (Release) and run every measurement twice,
# unpinned and with client and server on one CPU (taskset -c 0) - and the
# single-call and synchronization figures a third time with client and server
# on different CPUs - then print the table: mpm (native unix, native tcp,
# nng+ipc) against the raw socket floor, Python's multiprocessing Manager and
# Redis; Lock, Semaphore, Event and Condition against Python's Manager; Queue
# against Python's Manager Queue (unpinned and pinned only); and the targets.
# The figures the targets judge (synchronization, queues, and native unix and
# Python single calls), which move by 10-30% from run to run on a small VM, are
# measured BENCH_ROUNDS times (mpm and Python taking turns; lock_scale twice a
# round) and the table shows each one's median.  About 9 to 10 minutes.
#
#   bench/run.sh                 build in /tmp/mpm-bench-build, 1.5 s per figure
#   BENCH_SECONDS=1 bench/run.sh quicker, noisier
#   BENCH_BUILD=DIR bench/run.sh other build directory
#   BENCH_RAW=FILE  bench/run.sh also keep the raw result lines in FILE
#   BENCH_NO_BUILD=1 bench/run.sh measure what is already built in BENCH_BUILD
#   BENCH_IDLE_WAIT=0 bench/run.sh do not wait (default: up to 60 s) for idle CPUs
#   BENCH_ONLY=queues bench/run.sh only the queue figures (about 1.5 min; default:
#                                  BENCH_ONLY=all, everything, queues included)
#   BENCH_ROUNDS=N bench/run.sh   judged figures: median of N rounds (default 3;
#                                  1: a single measurement)
#
# Every program prints machine-readable lines "<impl> <transport> <op> <value>";
# this script only collects them and does the arithmetic.  Compare figures from
# the same run only: on a small VM they move with the scheduler's placement.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-/tmp/mpm-bench-build}
secs=${BENCH_SECONDS:-1.5}
rounds=${BENCH_ROUNDS:-3}
res=$(mktemp /tmp/mpm-bench-results.XXXXXX)
trap 'rm -f "$res"' EXIT

log() { printf '%s\n' "$*" >&2; }
case $rounds in '' | *[!0-9]*) rounds=0 ;; esac
rounds=$((10#$rounds))
[ "$rounds" -ge 1 ] || { log "run.sh: BENCH_ROUNDS must be a positive number"; exit 2; }

#---- prerequisites and build ---------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
    log "run.sh: redis-server missing: apt-get install -y redis-server"
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y redis-server >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 && apt-get install -y redis-server >/dev/null 2>&1; } ||
            log "run.sh: could not install redis-server: Redis figures will be n/a"
    fi
fi
command -v taskset >/dev/null 2>&1 || { log "run.sh: taskset (util-linux) is needed"; exit 1; }

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$root" diff-index --quiet HEAD -- 2>/dev/null || commit="$commit + uncommitted changes"
log "run.sh: building (Release) in $build ..."
# MPM_WERROR=OFF: -O3 brings maybe-uninitialized warnings the default build does
# not see; a benchmark must not fail on them.  Tests are not needed here.
if [ -n "${BENCH_NO_BUILD:-}" ]; then
    for t in mpmd mpm_bench raw_echo anchor_redis; do
        [ -x "$build/$t" ] || { log "run.sh: $build/$t is not built"; exit 1; }
    done
    commit="prebuilt binaries in $build"
elif ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMPM_TESTS=OFF \
        -DMPM_WERROR=OFF >/dev/null &&
       cmake --build "$build" -j2 --target mpmd mpm_bench raw_echo anchor_redis >/dev/null; }; then
    log "run.sh: the build failed (see: cmake --build $build)"
    exit 1
fi

#---- measurements ------------------------------------------------------------------------
# run MODE CMD...: run one program (with a time limit), tag its result lines with MODE.
#   unpinned  as the scheduler pleases
#   pinned    client and server on CPU 0 (taskset -c 0; the servers the programs
#             start are their children and inherit it)
#   cross     client on CPU 0, server moved to CPU 1 (--server-cpu 1): processes
#             pinned apart.  A blocking side's every message wakes the other
#             CPU; mpm's sides each see one CPU and poll yielding
run() {
    local mode=$1
    shift
    local pin=() extra=()
    case $mode in
    pinned) pin=(taskset -c 0) ;;
    cross) pin=(taskset -c 0) extra=(--server-cpu 1) ;;
    esac
    log "  [$mode] $* ${extra[*]}"
    timeout 120 "${pin[@]}" "$@" "${extra[@]}" 2> >(sed 's/^/      /' >&2) |
        while read -r line; do
            printf '%s\n' "$line" >&2
            printf '%s %s\n' "$mode" "$line" >>"$res"
        done
    return 0
}

# busy: percent of all CPU time used (by anything) over the next second; read
# before and after the measurements, when nothing of ours runs.  Other work on
# a 2-vCPU machine changes every figure: the header warns about it.
busy() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        u = y[1] - x[1]; i = y[2] - x[2]; printf "%.0f\n", (u + i) ? 100 * u / (u + i) : 0 }'
}

ops=ping,dict_set,dict_get,list_append,create,batch_set
# synchronization, native unix against Python's Manager (each on a fresh server)
syncops=lock_pair,event_handoff,cond_handoff,lock_contend,sem_pair,sem_contend
# mpm also measures 1 against 8 processes on one Lock in alternating slices
# (the contention target's figure: mpm_bench.c, bench_lock_scale)
msyncops=$syncops,lock_scale
# queues, native unix against Python's Manager Queue (unpinned and pinned only)
qops=queue_pair,queue_batch,queue_4x4
pyqops=queue_pair,queue_4x4
only=${BENCH_ONLY:-all}
case $only in
all | queues) ;;
*) log "run.sh: BENCH_ONLY must be all or queues"; exit 2 ;;
esac
modes="unpinned pinned"
[ "$(nproc)" -ge 2 ] && modes="$modes cross"
# wait (up to BENCH_IDLE_WAIT seconds) for 3 quiet seconds in a row
quiet=0 waited=0
while [ "$quiet" -lt 3 ] && [ "$waited" -lt "${BENCH_IDLE_WAIT:-60}" ]; do
    if [ "$(busy)" -lt 5 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    waited=$((waited + 1))
done
[ "$quiet" -lt 3 ] && [ "${BENCH_IDLE_WAIT:-60}" != 0 ] && log "run.sh: the CPUs are not idle; measuring anyway"
# sync_rounds MODE: the synchronization figures, mpm and Python taking turns;
# lock_scale (the contention target) twice a round, as its ratio is the noisiest
sync_rounds() {
    for _ in $(seq "$rounds"); do
        run $1 "$build/mpm_bench" --transport unix --op "$msyncops" --seconds "$secs"
        run $1 python3 "$root/bench/anchor_python.py" --op "$syncops" --seconds "$secs"
        run $1 "$build/mpm_bench" --transport unix --op lock_scale --seconds "$secs"
    done
}
busy_before=$(busy)
start=$(date +%s)
[ "$only" = queues ] && modes_main="" || modes_main=$modes
for mode in $modes_main; do
    log "run.sh: $mode"
    run $mode "$build/raw_echo" --transport unix --seconds "$secs"
    run $mode "$build/raw_echo" --transport unix --epoll --seconds "$secs"
    run $mode "$build/raw_echo" --transport unix --epoll --poll-client --seconds "$secs"
    # the floor for two processes that both poll before sleeping, as mpm's client
    # and mpmd do (not pinned: on one CPU this raw echo's polling, which never
    # yields, starves its partner; mpm's yields there)
    [ $mode != pinned ] &&
        run $mode "$build/raw_echo" --transport unix --spin 50 --spin-client 50 --seconds "$secs"
    if [ $mode = cross ]; then
        # single calls and creation over unix only: the point is the placement
        for _ in $(seq "$rounds"); do
            run $mode "$build/mpm_bench" --transport unix --seconds "$secs" \
                --op ping,dict_set,dict_get,list_append,create
            run $mode python3 "$root/bench/anchor_python.py" --seconds "$secs" \
                --op dict_set,dict_get,list_append,create
        done
        run $mode "$build/anchor_redis" --op set,get,rpush --seconds "$secs"
        sync_rounds $mode
        continue
    fi
    run $mode "$build/raw_echo" --transport tcp --seconds "$secs"
    # the single-call targets (native unix against Python) are judged on
    # medians of rounds too: a slow second of the host once made one MISS
    for _ in $(seq "$rounds"); do
        run $mode "$build/mpm_bench" --transport unix --op "$ops" --seconds "$secs"
        run $mode python3 "$root/bench/anchor_python.py" --seconds "$secs"
    done
    run $mode "$build/mpm_bench" --transport tcp --op "$ops" --seconds "$secs"
    run $mode "$build/mpm_bench" --transport nng+ipc --op "$ops" --seconds "$secs"
    run $mode "$build/anchor_redis" --op set,get,rpush --seconds "$secs"
    sync_rounds $mode
    # memory: each on a fresh server
    run $mode "$build/mpm_bench" --transport unix --op mem
    run $mode python3 "$root/bench/anchor_python.py" --op mem
    run $mode "$build/anchor_redis" --op mem
done
# queues: unpinned and pinned only (the cross placement adds nothing new here)
for mode in unpinned pinned; do
    log "run.sh: queues, $mode"
    for _ in $(seq "$rounds"); do
        run $mode "$build/mpm_bench" --transport unix --op "$qops" --seconds "$secs"
        run $mode python3 "$root/bench/anchor_python.py" --op "$pyqops" --seconds "$secs"
    done
    # the one-CPU floor the pinned 4x4 is set against (measured above in a full run)
    [ "$only" = queues ] && [ $mode = pinned ] &&
        run $mode "$build/raw_echo" --transport unix --seconds "$secs"
done
elapsed=$(($(date +%s) - start))
busy_after=$(busy)
[ -n "${BENCH_RAW:-}" ] && cp "$res" "$BENCH_RAW"

#---- the table -------------------------------------------------------------------------------
# v MODE IMPL TRANSPORT OP: the figure (the median of its rounds), or n/a
v() {
    awk -v m="$1" -v i="$2" -v t="$3" -v o="$4" \
        '$1==m && $2==i && $3==t && $4==o && $5 ~ /^[0-9.eE+-]+$/ {print $5}' "$res" |
        sort -g | awk '{x[NR] = $1} END {
            if (!NR) print "n/a"; else if (NR % 2) print x[(NR + 1) / 2];
            else printf "%.10g\n", (x[NR / 2] + x[NR / 2 + 1]) / 2 }'
}
# ratio A B [digits]: A/B, or n/a
ratio() {
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
        if (a == "n/a" || b == "n/a" || a == "" || b == "" || b + 0 == 0) print "n/a";
        else printf "%.*f\n", d, a / b }'
}
# ge A B: PASS when A >= B (both numbers), MISS otherwise, n/a when unknown
ge() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "n/a" || b == "n/a") print "n/a"; else print (a + 0 >= b + 0 ? "PASS" : "MISS") }'
}

W=46
hdr() { # title: column heads
    printf "%-${W}s%12s%12s%12s\n" "$1" unpinned pinned cross-CPU
}
row() { # label IMPL TRANSPORT OP: the figure in each mode
    printf "%-${W}s" "$1"
    for mode in unpinned pinned cross; do printf '%12s' "$(v $mode "$2" "$3" "$4")"; done
    printf '\n'
}
rrow() { # label IMPL_A TRANS_A OP_A IMPL_B TRANS_B OP_B [digits]: A/B in each mode
    printf "%-${W}s" "$1"
    for mode in unpinned pinned cross; do
        printf '%12s' "$(ratio "$(v $mode "$2" "$3" "$4")" "$(v $mode "$5" "$6" "$7")" "${8:-2}")"
    done
    printf '\n'
}

echo
echo "mpm benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) CPUs  kernel $(uname -r)"
echo "commit $commit, $secs s per figure (judged figures: median of $rounds rounds)," \
    "measuring took ${elapsed}s; other load: ${busy_before}% CPU busy before, ${busy_after}% after"
echo "python $(python3 -c 'import sys; print(sys.version.split()[0])')," \
    "$(redis-server --version 2>/dev/null | awk '{print $1, $2, $3}')"
echo "cross-CPU: client(s) on CPU 0, server on CPU 1 (processes pinned apart); mpm polls on both sides,"
echo "           yielding; a blocking anchor's every message wakes the other CPU"
if [ "$busy_before" -gt 10 ] || [ "$busy_after" -gt 10 ]; then
    echo "WARNING: other processes were using the CPUs; these figures are not representative."
    echo "         Run again on an idle machine."
fi
echo
if [ "$only" = all ]; then
hdr "round-trip floors, ops/s"
row "raw unix echo, 32 B (the floor)" raw unix echo
row "raw unix echo, epoll server" raw unix_epoll echo
row "raw unix echo, epoll server, poll client" raw unix_epoll_pollclient echo
row "raw unix echo, both sides poll <= 50 us" raw unix_spinserver_spinclient echo
row "raw tcp echo, 32 B" raw tcp echo
row "mpm unix ping (bare mpm round trip)" mpm unix ping
row "mpm tcp ping" mpm tcp ping
rrow "mpm unix ping / raw echo, both poll" mpm unix ping raw unix_spinserver_spinclient echo
for op in dict_set dict_get list_append; do
    case $op in
    dict_set) what="d[i] = str(i)   (Redis: SET)" ;;
    dict_get) what="d[i]            (Redis: GET)" ;;
    list_append) what="l.append(i)     (Redis: RPUSH)" ;;
    esac
    echo
    hdr "$op  $what, ops/s"
    row "  mpm native unix" mpm unix $op
    row "  mpm native tcp" mpm tcp $op
    row "  mpm nng+ipc" mpm nng+ipc $op
    row "  Python Manager (unix)" python unix $op
    row "  Redis (unix, one command per trip)" redis unix $op
    rrow "  mpm unix / Python" mpm unix $op python unix $op
    rrow "  mpm unix / raw unix (floor fraction)" mpm unix $op raw unix echo
    rrow "  mpm unix / Redis" mpm unix $op redis unix $op
    rrow "  mpm tcp / Python" mpm tcp $op python unix $op
    rrow "  mpm tcp / raw tcp (floor fraction)" mpm tcp $op raw tcp echo
done
echo
hdr "batched dict sets, sets/s"
row "mpm unix, batches of 100 dict_set" mpm unix batch_set
row "mpm tcp, batches of 100 dict_set" mpm tcp batch_set
row "mpm nng+ipc, batches of 100 dict_set" mpm nng+ipc batch_set
row "Python d.update(100 entries) (bulk, info)" python unix dict_update100
echo
hdr "object creation, us per create+close"
row "mpm unix mpm_dict_new + mpm_dict_close" mpm unix create_us
row "mpm tcp" mpm tcp create_us
row "mpm nng+ipc" mpm nng+ipc create_us
row "Python manager.dict() + del" python unix create_us
rrow "Python / mpm unix (times faster)" python unix create_us mpm unix create_us 1
echo
hdr "server memory, bytes/entry (1e6 i -> str(i))"
row "mpm (mpmd VmRSS delta)" mpm unix mem_bytes_per_entry
row "Python (manager process VmRSS delta)" python unix mem_bytes_per_entry
row "Redis, one hash (used_memory delta)" redis unix mem_bytes_per_entry
row "Redis, one hash (VmRSS delta)" redis unix mem_rss_bytes_per_entry
echo
hdr "Lock acquire+release, 1 process, pairs/s"
row "  mpm  mpm_lock_acquire(l,-1) + release" mpm unix lock_pair
row "  Python  l.acquire(); l.release()" python unix lock_pair
rrow "  mpm / Python" mpm unix lock_pair python unix lock_pair
echo
contend_ratios() { # label CONTEND_OP PAIR_OP: mpm/Python of the 8, and 8 / 1 for each
    rrow "$1" mpm unix "$2" python unix "$2"
    rrow "  mpm: 8 processes / 1 process" mpm unix "$2" mpm unix "$3"
    rrow "  Python: 8 processes / 1 process" python unix "$2" python unix "$3"
}
hdr "8 processes contending for one Lock, pairs/s"
row "  mpm, total of the 8" mpm unix lock_contend8
row "  Python, total of the 8" python unix lock_contend8
contend_ratios "  mpm / Python" lock_contend8 lock_pair
echo
hdr "1 vs 8 processes on one Lock, alternating slices"
row "  mpm, 1 process looping alone, pairs/s" mpm unix lock_scale1
row "  mpm, 8 processes looping, pairs/s" mpm unix lock_scale8
row "  mpm: 8 / 1, neighbouring slices" mpm unix lock_scale_slice
echo
# information only: no target for the Semaphore
hdr "8 processes on one Semaphore(1), pairs/s"
row "  mpm, 1 process (sem_pair)" mpm unix sem_pair
row "  mpm, total of the 8" mpm unix sem_contend8
row "  Python, 1 process" python unix sem_pair
row "  Python, total of the 8" python unix sem_contend8
contend_ratios "  mpm / Python (the 8)" sem_contend8 sem_pair
echo
hdr "hand-off between 2 processes, us one way"
row "  Event      mpm" mpm unix event_handoff_us
row "  Event      Python" python unix event_handoff_us
rrow "  Event      Python / mpm (times faster)" python unix event_handoff_us mpm unix event_handoff_us
row "  Condition  mpm" mpm unix cond_handoff_us
row "  Condition  Python" python unix cond_handoff_us
rrow "  Condition  Python / mpm (times faster)" python unix cond_handoff_us mpm unix cond_handoff_us
echo
fi
# the queue figures: unpinned and pinned only
qhdr() { printf "%-${W}s%12s%12s\n" "$1" unpinned pinned; }
qrow() {
    printf "%-${W}s" "$1"
    for mode in unpinned pinned; do printf '%12s' "$(v $mode "$2" "$3" "$4")"; done
    printf '\n'
}
qrrow() {
    printf "%-${W}s" "$1"
    for mode in unpinned pinned; do
        printf '%12s' "$(ratio "$(v $mode "$2" "$3" "$4")" "$(v $mode "$5" "$6" "$7")" "${8:-2}")"
    done
    printf '\n'
}
qhdr "Queue put+get, 1 client, pairs/s"
qrow "  mpm  mpm_queue_put(q,i,-1) + get(q,-1)" mpm unix queue_pair
qrow "  Python  q.put(i); q.get()" python unix queue_pair
qrrow "  mpm / Python" mpm unix queue_pair python unix queue_pair
echo
qhdr "4 producers + 4 consumers, one Queue, items/s"
qrow "  mpm, one item per call" mpm unix queue_4x4
qrow "  Python, one item per call" python unix queue_4x4
qrrow "  mpm / Python" mpm unix queue_4x4 python unix queue_4x4
echo
qhdr "batches through one Queue, 1 client, items/s"
qrow "  mpm put_many(100) + get_many(100)" mpm unix queue_batch100
qrow "  Python put+get, one item per call (info)" python unix queue_pair
qrrow "  mpm batches / Python single calls" mpm unix queue_batch100 python unix queue_pair 1
echo

#---- targets (informational) ---------------------------------------------------------------
# target LABEL DETAIL VERDICTS...: PASS when every known verdict passes
target() {
    local label=$1 detail=$2
    shift 2
    local out=PASS known=0
    for x in "$@"; do
        case $x in
        MISS) out=MISS known=1 ;;
        PASS) known=1 ;;
        esac
    done
    [ $known = 0 ] && out=n/a
    printf '  [%-4s] %-46s %s\n' "$out" "$label" "$detail"
}
x() { [ "$1" = n/a ] && echo n/a || echo "${1}x"; }
# singles MODE FACTOR BASE_IMPL BASE_TRANSPORT BASE_OP: verdicts of
# mpm unix >= FACTOR * base for the three single-call ops, then the detail
singles() {
    local mode=$1 f=$2 verdicts="" detail="" op m b
    for op in dict_set dict_get list_append; do
        m=$(v "$mode" mpm unix $op)
        b=$(v "$mode" "$3" "$4" "${5:-$op}")
        verdicts+="$(ge "$m" "$(awk -v b="$b" -v f="$f" 'BEGIN{print (b=="n/a")?"n/a":f*b}')") "
        detail+="$op $(x "$(ratio "$m" "$b")"), "
    done
    echo "$verdicts|${detail%, }"
}
echo "targets (informational)"
if [ "$only" = all ]; then
IFS='|' read -r vv dd <<<"$(singles pinned 2 python unix)"
target "pinned native single call >= 2x Python" "$dd" $vv
IFS='|' read -r vv dd <<<"$(singles pinned 0.6667 raw unix echo)"
target "pinned native single call >= raw floor / 1.5" "(mpm/raw) $dd" $vv
IFS='|' read -r vv dd <<<"$(singles unpinned 1 python unix)"
target "unpinned native single call >= Python" "$dd" $vv
IFS='|' read -r vv dd <<<"$(singles cross 1 python unix)"
printf '  (info) %-46s %s\n' "cross-CPU native single call >= Python" "$dd"
bu=$(v unpinned mpm unix batch_set) bp=$(v pinned mpm unix batch_set)
target "batched dict sets >= 500,000/s" "unpinned $bu, pinned $bp" "$(ge "$bu" 500000)" \
    "$(ge "$bp" 500000)"
cu=$(ratio "$(v unpinned python unix create_us)" "$(v unpinned mpm unix create_us)" 1)
cp=$(ratio "$(v pinned python unix create_us)" "$(v pinned mpm unix create_us)" 1)
target "creation >= 50x faster than Python's" "unpinned $(x "$cu"), pinned $(x "$cp")" \
    "$(ge "$cu" 50)" "$(ge "$cp" 50)"
mu=$(v unpinned mpm unix mem_bytes_per_entry) mp=$(v pinned mpm unix mem_bytes_per_entry)
target "server memory <= 80 bytes/entry" "$mu (unpinned run), $mp (pinned run)" \
    "$(ge 80 "$mu")" "$(ge 80 "$mp")"
# syncs MODE FACTOR: verdicts of mpm >= FACTOR x Python for the Lock pair rate
# and the Event and Condition hand-offs (latency: Python's us / mpm's us), then the detail
syncs() {
    local mode=$1 f=$2 verdicts="" detail="" r what
    for what in "lock pairs|mpm unix lock_pair|python unix lock_pair" \
        "Event hand-off|python unix event_handoff_us|mpm unix event_handoff_us" \
        "Condition hand-off|python unix cond_handoff_us|mpm unix cond_handoff_us"; do
        IFS='|' read -r label a b <<<"$what"
        r=$(ratio "$(v "$mode" $a)" "$(v "$mode" $b)")
        verdicts+="$(ge "$r" "$f") "
        detail+="$label $(x "$r"), "
    done
    echo "$verdicts|${detail%, }"
}
IFS='|' read -r vv dd <<<"$(syncs pinned 2)"
target "pinned Lock/Event/Condition >= 2x Python" "$dd" $vv
IFS='|' read -r vv dd <<<"$(syncs unpinned 1)"
target "unpinned Lock/Event/Condition >= Python" "$dd" $vv
IFS='|' read -r vv dd <<<"$(syncs cross 1)"
printf '  (info) %-46s %s\n' "cross-CPU Lock/Event/Condition >= Python" "$dd"
# contend MODE IMPL: 8-process total / 1-process pair rate, measured apart
contend() { ratio "$(v "$1" "$2" unix lock_contend8)" "$(v "$1" "$2" unix lock_pair)"; }
# scale MODE: mpm's 8 / 1 from alternating slices (the median of the
# neighbouring-slice ratios of all rounds)
scale() { v "$1" mpm unix lock_scale_slice; }
# "Keep the 1-process rate" is judged at 0.99: each pair is two round trips
# whoever holds the lock, so 8 cannot beat 1, and fair hand-offs cost ~0.2-0.5%;
# a median of neighbouring-slice ratios resolves about +-1% here
# (docs/benchmarks.md, Targets).  Python's own 8 / 1 is printed below.
cu=$(scale unpinned) cp=$(scale pinned)
target "8 contending processes keep 1-process rate" \
    "unpinned $(x "$cu"), pinned $(x "$cp") (>= 0.99x; alternating slices; measured apart: unpinned $(x "$(contend unpinned mpm)"), pinned $(x "$(contend pinned mpm)"))" \
    "$(ge "$cu" 0.99)" "$(ge "$cp" 0.99)"
printf '  (info) %-46s %s\n' "8 contending / 1 process, cross-CPU (mpm)" \
    "$(x "$(scale cross)") (measured apart: $(x "$(contend cross mpm)"))"
printf '  (info) %-46s %s\n' "8 contending / 1 process (Python)" \
    "unpinned $(x "$(contend unpinned python)"), pinned $(x "$(contend pinned python)"), cross-CPU $(x "$(contend cross python)")"
fi
qu=$(ratio "$(v unpinned mpm unix queue_pair)" "$(v unpinned python unix queue_pair)")
qp=$(ratio "$(v pinned mpm unix queue_pair)" "$(v pinned python unix queue_pair)")
target "pinned Queue put+get >= 2x Python" "$(x "$qp")" "$(ge "$qp" 2)"
target "unpinned Queue put+get >= Python" "$(x "$qu")" "$(ge "$qu" 1)"
qu=$(ratio "$(v unpinned mpm unix queue_4x4)" "$(v unpinned python unix queue_4x4)")
qp=$(ratio "$(v pinned mpm unix queue_4x4)" "$(v pinned python unix queue_4x4)")
# Judged unpinned, where 8 clients and the server can run at once.  Pinned to
# one CPU, 5x Python's 4x4 needs more round trips per second than a raw unix
# socket makes on one CPU (the floor): each item is a put and a get.
target "Queue 4x4 throughput >= 5x Python's 4x4" "unpinned $(x "$qu") (pinned $(x "$qp"), below)" \
    "$(ge "$qu" 5)"
need=$(awk -v p="$(v pinned python unix queue_4x4)" 'BEGIN{print (p=="n/a")?"n/a":int(10*p)}')
printf '  (info) %-46s %s\n' "Queue 4x4, pinned to one CPU" \
    "$(x "$qp"): 5x needs $need calls/s on one CPU; raw unix floor there: $(v pinned raw unix echo) round trips/s"
bu=$(v unpinned mpm unix queue_batch100) bp=$(v pinned mpm unix queue_batch100)
target "Queue batches of 100 >= 1,000,000 items/s" "unpinned $bu, pinned $bp" \
    "$(ge "$bu" 1000000)" "$(ge "$bp" 1000000)"
