#!/usr/bin/env bash
# Soak: N seeded runner runs cycling through every fault mix, every one with durable
# nodes (--node-data-dir), then a long simulation soak; ends with one summary line.
#
#   scripts/soak.sh [N]            N runner runs (default 10)
#
# Mixes, in turn: partition; kill; pause; partition,kill,pause; and
# membership,partition,kill,pause with nodes starting as three voters. Each run is 5
# nodes, 30 s (SOAK_TIME overrides), seed 1000+i. The simulation soak then runs
# SOAK_SIM_SEEDS seeds (default 1000) of every standard profile of the healthy cluster.
# A run that is not valid keeps its store under target/soak/; valid ones are removed.
# Exit code: 0 when every run was valid and the simulation found nothing, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-10}
seconds=${SOAK_TIME:-30}
sim_seeds=${SOAK_SIM_SEEDS:-1000}

cargo build --release --workspace --quiet || exit 1

mixes=("partition" "kill" "pause" "partition,kill,pause" "membership,partition,kill,pause")
soak_dir="$root/target/soak/$(date +%Y%m%dT%H%M%S)"
valid=0 invalid=0 unknown=0 crashed=0
for ((i = 0; i < n; i++)); do
    mix=${mixes[i % ${#mixes[@]}]}
    seed=$((1000 + i))
    node_args=()
    if [[ $mix == membership* ]]; then
        node_args=(-- --initial-voters 3)
    fi
    run_dir="$soak_dir/run-$i"
    mkdir -p "$run_dir"
    (cd "$run_dir" && "$root/target/release/harness" test -w lin-kv \
        --bin "$root/target/release/raft-ng" --node-count 5 --concurrency 2n --rate 100 \
        --time-limit "$seconds" --nemesis "$mix" --nemesis-interval 2 --seed "$seed" \
        --node-data-dir "${node_args[@]}") >"$run_dir/output.txt" 2>&1
    code=$?
    case $code in
        0) valid=$((valid + 1)); verdict=valid ;;
        1) invalid=$((invalid + 1)); verdict=invalid ;;
        2) unknown=$((unknown + 1)); verdict=unknown ;;
        *) crashed=$((crashed + 1)); verdict="crashed (exit $code)" ;;
    esac
    echo "run $((i + 1))/$n: $mix, seed $seed: $verdict"
    if [[ $code == 0 ]]; then
        rm -rf "$run_dir"
    else
        echo "  kept: $run_dir"
    fi
done

echo "simulation soak: $sim_seeds seeds per profile"
if RAFT_SIM_SEEDS=$sim_seeds cargo test --release --quiet --lib -p raft-ng stay_safe \
    >"$soak_dir/simulation.txt" 2>&1; then
    simulation=passed
else
    simulation="FAILED (see $soak_dir/simulation.txt)"
fi
[[ -s "$soak_dir/simulation.txt" ]] && ! grep -q FAILED "$soak_dir/simulation.txt" &&
    rm -f "$soak_dir/simulation.txt"

echo "soak: runs $n, valid $valid, invalid $invalid, unknown $unknown, crashed $crashed;" \
    "simulation ($sim_seeds seeds per profile): $simulation"
[[ $valid == "$n" && $simulation == passed ]]
