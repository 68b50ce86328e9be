#!/usr/bin/env bash
# The main job: a 5-node lin-kv test with partitions, printing the verdict and figures.
#
#   scripts/lin-kv.sh [extra runner flags...]
#
# Runs under this repository's runner (target/release/harness). When MAELSTROM names
# the real tool's launcher (e.g. MAELSTROM=~/maelstrom/maelstrom), runs the same test
# under the real Maelstrom instead. Extra arguments are passed to the runner and
# override the defaults below. Exit code: the runner's (0 valid, 1 invalid, 2 unknown).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --workspace --quiet

args=(test -w lin-kv --bin target/release/raft-ng
      --node-count 5 --concurrency 2n --rate 100 --time-limit 30
      --nemesis partition --nemesis-interval 3)

if [[ -n "${MAELSTROM:-}" ]]; then
    exec "$MAELSTROM" "${args[@]}" "$@"
fi
exec target/release/harness "${args[@]}" "$@"
