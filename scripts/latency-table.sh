#!/usr/bin/env bash
# Availability against network latency: 5 nodes, concurrency 2n, rate 100, 20 s per run,
# latency 0, 10, 50, 100, 200 and 500 ms, constant and exponential, each without faults
# and with partitions every ~3 s. Prints one Markdown row per run: verdict, ok fraction
# (the runner's availability) and that fraction over the latency-0 run of the same kind.
#
#   scripts/latency-table.sh            # all 24 runs, about 10 minutes
#   LATENCIES="0 100" DISTS=constant scripts/latency-table.sh   # a subset
#
# Extra arguments go to the runner (e.g. --seed 7). Exits 1 if any run is not valid.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --workspace --quiet
latencies=${LATENCIES:-"0 10 50 100 200 500"}
dists=${DISTS:-"constant exponential"}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "| faults | latency (ms) | distribution | verdict | ok fraction | vs latency 0 |"
echo "|---|---|---|---|---|---|"
all_valid=true
for faults in none partition; do
    nemesis=()
    [ "$faults" = partition ] && nemesis=(--nemesis partition --nemesis-interval 3)
    base=""
    for dist in $dists; do
        for latency in $latencies; do
            # Latency 0 is the same under every distribution: run it once.
            if [ "$latency" = 0 ] && [ -n "$base" ]; then
                continue
            fi
            out="$scratch/run.txt"
            target/release/harness test -w lin-kv --bin target/release/raft-ng \
                --node-count 5 --concurrency 2n --rate 100 --time-limit 20 \
                --latency "$latency" --latency-dist "$dist" "${nemesis[@]}" "$@" \
                >"$out" 2>&1 || true
            verdict=$(sed -n 's/^verdict: \([a-z]*\).*/\1/p' "$out")
            ok=$(sed -n 's/^availability: \([0-9.]*\).*/\1/p' "$out")
            [ "$verdict" = valid ] || all_valid=false
            if [ "$latency" = 0 ]; then
                base=$ok
                shown_dist=any
            else
                shown_dist=$dist
            fi
            ratio=$(awk -v ok="${ok:-0}" -v base="${base:-0}" \
                'BEGIN { if (base > 0) printf "%.2f", ok / base; else print "-" }')
            echo "| $faults | $latency | $shown_dist | ${verdict:-crashed} | ${ok:--} | $ratio |"
        done
    done
done
$all_valid
