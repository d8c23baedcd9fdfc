#!/usr/bin/env bash
# Install what is missing, build, and run every test (Criterion through CTest).
#   scripts/test.sh            plain build in build/
#   scripts/test.sh --asan     AddressSanitizer + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=build flags=()
if [ "${1:-}" = --asan ]; then
    dir=build-asan flags=(-DMPM_ASAN=ON)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
fi
bash scripts/build.sh "$dir" "${flags[@]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
(cd "$dir" && ctest --output-on-failure -j2 -V) >"$log" 2>&1
rc=$?
set -e
grep -E '^[0-9]+: \[(FAIL|----)\]|Test +#|tests passed|tests failed|Synthesis' "$log" || true
if [ $rc -ne 0 ]; then
    grep -vE '^[0-9]+: \[RUN \]|^[0-9]+: \[PASS\]' "$log" | tail -150
    exit $rc
fi
# Criterion exits 0 when it runs nothing (an unknown option, an empty
# binary): every test binary must report a Synthesis line with tests in it.
nbin=$(cd "$dir" && ctest -N | sed -n 's/^Total Tests: //p')
nsyn=$(grep -cE 'Synthesis: Tested: [1-9]' "$log" || true)
if [ "$nsyn" != "$nbin" ]; then
    echo "error: $nbin test binaries but $nsyn reported running tests" >&2
    exit 1
fi
total=$(grep -oE 'Synthesis: Tested: [0-9]+' "$log" | awk '{s+=$3} END {print s}')
failed=$(grep -oE 'Failing: [0-9]+' "$log" | awk '{s+=$2} END {print s}')
echo "$((total - failed)) passed, $failed failed"
