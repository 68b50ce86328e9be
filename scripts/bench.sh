#!/usr/bin/env bash
# The performance scenarios of issue 12, in one run, each next to a floor measured in the
# same run rather than assumed:
#   (a) latency   --latency 10, 5 nodes, --concurrency 2n, --rate 100: write and read p50,
#                 each as a ratio to the floor fixture's (maelstrom/fixtures/floor-kv.py)
#   (b) messages  --rate 1000, latency 0, 5 nodes, 2n: servers msgs-per-op, next to the
#                 fixture's (one replication round per write, nothing batched)
#   (c) saturated --rate 100000, latency 0, 5 nodes, 10n: ok ops/s and p99
# raft-ng runs in memory and durable (--node-data-dir), and with --read-mode index and
# lease when its --help offers --read-mode. Every run prints its verdict, and the runner's
# CPU time next to the nodes' (the runner's own time against its reaped children's).
# Exits 1 when any run is not valid.
#
#   scripts/bench.sh [--time-limit SECS]     (or BENCH_TIME_LIMIT; default 10 s per run)
# BENCH_NODE=PATH benches another node binary in raft-ng's place.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
time_limit=${BENCH_TIME_LIMIT:-10}
while [ $# -gt 0 ]; do
    case $1 in
        --time-limit) time_limit=${2:?--time-limit needs seconds}; shift 2 ;;
        --time-limit=*) time_limit=${1#*=}; shift ;;
        *) echo "usage: scripts/bench.sh [--time-limit SECS]" >&2; exit 254 ;;
    esac
done
seed=1
cargo build --release --workspace --quiet
harness=$root/target/release/harness
node=${BENCH_NODE:-$root/target/release/raft-ng}
fixture=$root/maelstrom/fixtures/floor-kv.py
work=$(mktemp -d)
# The runs' store directories are kept when a run is not valid, for inspection.
keep=
trap '[ -n "$keep" ] || rm -rf "$work"' EXIT

# Runs one command and writes its CPU time to a JSON file: the command's own time, its
# own time when its children (the nodes, reaped at teardown) were first accounted,
# i.e. before checking and plotting, and its children's time. Read from /proc/<pid>/stat,
# the last time from the exited but not yet reaped process.
measure_py='
import json, os, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
tick = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) / tick for x in fields[11:15])
    return utime + stime, cutime + cstime
started = time.monotonic()
child = subprocess.Popen(cmd, stdout=open("stdout", "w"), stderr=open("stderr", "w"))
run_cpu = None
while True:
    # WNOWAIT leaves the exited process unreaped, so its /proc entry is still there.
    if os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
        break
    try:
        own, children = cpu(child.pid)
    except OSError:
        break
    if children > 0 and run_cpu is None:
        run_cpu = own
    time.sleep(0.02)
own, children = cpu(child.pid)
code = child.wait()
json.dump({"exit": code, "wall": time.monotonic() - started, "runner": own,
           "runner_run": run_cpu if run_cpu is not None else own, "nodes": children},
          open(out, "w"))
'

read_modes=()
if "$node" --help </dev/null 2>&1 | grep -q -- '--read-mode'; then
    read_modes=(index lease)
fi

run() { # scenario, name, runner flags... [-- node args]
    local scenario=$1 name=$2; shift 2
    local dir=$work/$scenario/$name
    mkdir -p "$dir"
    (cd "$dir" && python3 -c "$measure_py" cpu.json "$harness" test -w lin-kv --node-count 5 \
        --time-limit "$time_limit" --seed "$seed" "$@")
    python3 - "$dir" "$scenario" "$name" <<'PY'
import json, sys
dir, scenario, name = sys.argv[1:]
cpu = json.load(open(f"{dir}/cpu.json"))
verdict = next((l for l in open(f"{dir}/stdout") if l.startswith("verdict:")), "no verdict printed\n")
print(f"  ({scenario}) {name:<26} {verdict.strip()}; wall {cpu['wall']:.1f} s, "
      f"cpu runner {cpu['runner']:.2f} s, nodes {cpu['nodes']:.2f} s", flush=True)
PY
}

raft_variants() { # scenario, runner flags...
    local scenario=$1; shift
    local store mode
    for store in memory durable; do
        local store_flags=()
        [ "$store" = durable ] && store_flags=(--node-data-dir)
        if [ ${#read_modes[@]} -eq 0 ]; then
            run "$scenario" "raft-ng $store" --bin "$node" "$@" "${store_flags[@]}"
        else
            for mode in "${read_modes[@]}"; do
                run "$scenario" "raft-ng $store $mode" --bin "$node" "$@" "${store_flags[@]}" \
                    -- --read-mode "$mode"
            done
        fi
    done
}

echo "bench: ${time_limit} s per run, seed $seed; read modes: ${read_modes[*]:-none}"
latency=(--latency 10 --concurrency 2n --rate 100)
messages=(--latency 0 --concurrency 2n --rate 1000)
saturated=(--latency 0 --concurrency 10n --rate 100000)
run a fixture --bin "$fixture" "${latency[@]}"
raft_variants a "${latency[@]}"
run b fixture --bin "$fixture" "${messages[@]}"
raft_variants b "${messages[@]}"
raft_variants c "${saturated[@]}"

status=0
python3 - "$work" "$time_limit" "$seed" "${read_modes[*]:-}" <<'PY' || status=$?
import json, re, sys
work, time_limit, seed, read_modes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()

# Fields a valid run's results.json or summary lacked: their names moved, so say so at
# the end rather than fail or show a silent gap.
missing = set()

def dig(tree, path):
    node = tree
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node

def load(scenario, name):
    dir = f"{work}/{scenario}/{name}"
    cpu = json.load(open(f"{dir}/cpu.json"))
    try:
        results = json.load(open(f"{dir}/store/latest/results.json"))
    except (OSError, ValueError):
        results = {}
    stdout = open(f"{dir}/stdout").read()
    verdict = re.search(r"^verdict: (\w+)", stdout, re.M)
    verdict = verdict.group(1) if verdict else f"exit {cpu['exit']}"
    overall = re.search(r"^latency of ok ops: p50 ([\d.]+) ms, p99 ([\d.]+) ms", stdout, re.M)
    row = {"verdict": verdict, "p99": float(overall.group(2)) if overall else None, **cpu}
    if overall is None and verdict == "valid":
        missing.add("the summary's 'latency of ok ops' line")
    fields = {"write p50": "latency.write.p50", "read p50": "latency.read.p50",
              "ok/s": "throughput", "servers/op": "net.servers.msgs-per-op",
              "all/op": "net.all.msgs-per-op"}
    for column, path in fields.items():
        row[column] = dig(results, path)
        if row[column] is None and verdict == "valid":
            missing.add(f"results.json {path}")
    return row

def num(value, fmt):
    return "-" if value is None else format(value, fmt)

def ratio(value, floor):
    return "-" if value is None or not floor else f"{value / floor:.2f}x"

stores = ["memory", "durable"]
modes = read_modes or ["index", "lease"]
def names():
    """raft-ng's variants in table order, and whether each ran."""
    for store in stores:
        for mode in modes:
            if read_modes:
                yield f"raft-ng {store} {mode}", f"raft-ng {store} {mode}"
            elif mode == "index":
                yield f"raft-ng {store} {mode}", f"raft-ng {store}"
            else:
                yield f"raft-ng {store} {mode}", None

def cpu_cells(row):
    share = row["runner_run"] / (row["runner_run"] + row["nodes"]) if row["runner_run"] + row["nodes"] else 0
    return f"{row['runner_run']:>8.2f} s {row['runner']:>8.2f} s {row['nodes']:>8.2f} s {share:>7.0%}"
cpu_header = f"{'runner run':>10} {'+check':>10} {'nodes':>10} {'runner%':>7}"
absent = "n/a (node has no --read-mode)"

print(f"\n== bench: 5 nodes, {time_limit} s per run, seed {seed}; cpu: the runner's own time "
      "until the nodes were reaped (run), then with checking and plots (+check), and the nodes' ==")

verdicts = []
def seen(row):
    verdicts.append(row["verdict"])
    return row

print("\n(a) --latency 10, --concurrency 2n, --rate 100: p50 of ok ops, ratio to the floor fixture"
      "\n    (issue 12 asks write <= 1.05x and, with leases, read <= 1.1x)")
print(f"{'node':<24}{'verdict':>9}{'write p50':>11}{'ratio':>7}{'read p50':>11}{'ratio':>7} {cpu_header}")
floor = seen(load("a", "fixture"))
rows = [("floor fixture", floor)] + [(label, seen(load("a", run)) if run else None) for label, run in names()]
for label, row in rows:
    if row is None:
        print(f"{label:<24}{absent:>45}")
        continue
    print(f"{label:<24}{row['verdict']:>9}{num(row['write p50'], '.2f'):>8} ms{ratio(row['write p50'], floor['write p50']):>7}"
          f"{num(row['read p50'], '.2f'):>8} ms{ratio(row['read p50'], floor['read p50']):>7} {cpu_cells(row)}")

print("\n(b) --latency 0, --concurrency 2n, --rate 1000: messages per operation (servers: node to node)"
      "\n    (issue 12 asks servers/op <= 2.2)")
print(f"{'node':<24}{'verdict':>9}{'servers/op':>11}{'ratio':>7}{'all/op':>8}{'ok ops/s':>10} {cpu_header}")
floor = seen(load("b", "fixture"))
rows = [("fixture (1 round/write)", floor)] + [(label, seen(load("b", run)) if run else None) for label, run in names()]
for label, row in rows:
    if row is None:
        print(f"{label:<24}{absent:>45}")
        continue
    print(f"{label:<24}{row['verdict']:>9}{num(row['servers/op'], '.2f'):>11}{ratio(row['servers/op'], floor['servers/op']):>7}"
          f"{num(row['all/op'], '.2f'):>8}{num(row['ok/s'], '.1f'):>10} {cpu_cells(row)}")

print("\n(c) saturated: --latency 0, --concurrency 10n, --rate 100000 (no floor: the fixture is Python)"
      "\n    (issue 12 asks >= 12,000 ok ops/s; p99 of all ok ops)")
print(f"{'node':<24}{'verdict':>9}{'ok ops/s':>10}{'p99':>11}{'write p50':>11} {cpu_header}")
for label, run in names():
    if run is None:
        print(f"{label:<24}{absent:>45}")
        continue
    row = seen(load("c", run))
    print(f"{label:<24}{row['verdict']:>9}{num(row['ok/s'], '.1f'):>10}{num(row['p99'], '.2f'):>8} ms"
          f"{num(row['write p50'], '.2f'):>8} ms {cpu_cells(row)}")

invalid = len(verdicts) - verdicts.count("valid")
print(f"\n{len(verdicts)} runs, {invalid} not valid")
if missing:
    print("not found, shown as -: " + "; ".join(sorted(missing))
          + " (see maelstrom/src/runner/results.rs for the current names)")
sys.exit(1 if invalid else 0)
PY
if [ "$status" -ne 0 ]; then
    keep=1
    echo "runs kept in $work"
fi
exit "$status"
