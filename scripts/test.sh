#!/usr/bin/env bash
# Every test: unit tests, the seeded cluster simulation, storage recovery, the binary's
# protocol session, the checker and runner tests, and lin-kv runner runs of the node
# under partitions, kills and pauses. Release mode: the simulation and the cluster runs
# need the speed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
cargo test --release --workspace
