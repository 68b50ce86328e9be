#!/usr/bin/env bash
# Write throughput and latency with the durable store next to the in-memory store, in
# one run: the same 3-node lin-kv load (no faults) against each, figures side by side.
#
#   scripts/bench-storage.sh [rate] [seconds]     (default 1000 ops/s for 15 s)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000}
seconds=${2:-15}
cargo build --release --workspace --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # name, extra runner flags...
    local name=$1; shift
    mkdir -p "$work/$name"
    (cd "$work/$name" && "$OLDPWD/target/release/harness" test -w lin-kv \
        --bin "$OLDPWD/target/release/raft-ng" --node-count 3 --concurrency 4n \
        --rate "$rate" --time-limit "$seconds" --seed 1 "$@" >/dev/null 2>&1) || true
}
run memory
run durable --node-data-dir

python3 - "$work" <<'PY'
import json, sys
print(f"{'store':<10}{'verdict':>9}{'ok ops/s':>10}{'write ok':>10}{'write p50':>11}{'write p99':>11}{'cas p50':>9}{'read p50':>10}")
for name in ("memory", "durable"):
    r = json.load(open(f"{sys.argv[1]}/{name}/store/latest/results.json"))
    lat = r.get("latency", {})
    w, c, rd = lat.get("write", {}), lat.get("cas", {}), lat.get("read", {})
    # by-f lists only the functions that completed, as Jepsen's stats do.
    wok = r["stats"]["by-f"].get("write", {}).get("ok-count", 0)
    print(f"{name:<10}{str(r['valid?']):>9}{r['throughput']:>10.1f}{wok:>10}"
          f"{w.get('p50', 0):>9.2f}ms{w.get('p99', 0):>9.2f}ms{c.get('p50', 0):>7.2f}ms{rd.get('p50', 0):>8.2f}ms")
PY
