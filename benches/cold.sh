#!/usr/bin/env bash
# Cache lines a cold request misses beyond the bare service, counted by a cache simulator
# (valgrind's cachegrind: 32 KiB L1s, 1 MiB last level), for the layer and for the layer with
# only_paths (as around a router). benches/cold.rs writes 2 MiB between two requests, so the
# model's state is out of the simulated caches each time; each mode runs 1,000 and 3,000
# requests and the difference, over 2,000, leaves the set-up out. Exact and repeatable, unlike
# a timing: see docs/performance.md. Needs valgrind (apt-get install valgrind).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || {
    echo "cold.sh: needs valgrind: apt-get install valgrind" >&2
    exit 2
}
bin=$(cargo bench -p inference-monitor-benches --bench cold --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[[ -x $bin ]] || {
    echo "cold.sh: cannot find the bench binary" >&2
    exit 2
}
misses() {
    valgrind --tool=cachegrind --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 \
        --LL=1048576,16,64 --cachegrind-out-file=/dev/null "$bin" "$1" "$2" 2048 2>&1 |
        awk '/LL misses/ { gsub(",", "", $4); print $4 }'
}
per_request() { echo $((($(misses "$1" 3000) - $(misses "$1" 1000)) / 2000)); }
bare=$(per_request bare)
for mode in layer app; do
    n=$(per_request "$mode")
    echo "$mode: $((n - bare)) last-level misses per cold request beyond the bare service"
done
