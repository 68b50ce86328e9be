#!/usr/bin/env bash
# Memory, disk and restart time over a long saturated run with log compaction.
#
# 5 durable nodes, --concurrency 10n, --rate 100000 (saturated), latency 0, for
# SECONDS_TOTAL seconds (default 600). Prints each node's resident memory at 1 minute
# and at the end, its data directory's size at the end, the snapshots taken and sent
# (counted from the node logs), and the run's verdict. Then it restarts the cluster
# from those data directories, four nodes first, and times how long the fifth takes
# from being started to answering a read: a node killed at the end of the run coming
# back.
#
#   scripts/compaction.sh                      # 10 minutes, the issue's figure
#   SECONDS_TOTAL=120 scripts/compaction.sh    # a shorter look
#
# Extra arguments go to the node (e.g. --snapshot-entries 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
total=${SECONDS_TOTAL:-600}
early=60
[ "$total" -gt 90 ] || early=$((total / 3))
cargo build --release --workspace --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

node_args=()
[ $# -gt 0 ] && node_args=(-- "$@")
(cd "$work" && "$root/target/release/harness" test -w lin-kv --bin "$root/target/release/raft-ng" \
    --node-count 5 --concurrency 10n --rate 100000 --latency 0 --time-limit "$total" \
    --node-data-dir --seed 1 "${node_args[@]}" >"$work/harness.out" 2>&1) &
runner=$!

# Resident memory (kB) of each node, found among the runner's children by the data
# directory it holds open.
sample() { # label
    local harness_pid=$runner
    # The subshell may or may not have exec'd the runner.
    [ "$(cat /proc/$runner/comm 2>/dev/null)" = harness ] || harness_pid=$(pgrep -P "$runner" -x harness || true)
    for pid in $(pgrep -P "${harness_pid:-0}" -x raft-ng || true); do
        local node
        node=$(ls -l "/proc/$pid/fd" 2>/dev/null | sed -n 's#.*/data/\(n[0-9]*\)/.*#\1#p' | head -1)
        [ -n "$node" ] || continue
        echo "$1 $node $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")"
    done >>"$work/rss.txt"
}
sleep "$early"; sample early
sleep $((total - early - 3)); sample late
wait "$runner" || true
run_dir=$(cd "$work/store/latest" && pwd -P)

python3 - "$work" "$run_dir" <<'PY'
import json, os, re, sys
work, run = sys.argv[1:]
rss = {}
for line in open(f"{work}/rss.txt"):
    label, node, kb = line.split()
    rss.setdefault(node, {})[label] = int(kb) / 1024
results = json.load(open(f"{run}/results.json"))
def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
print(f"{'node':<6}{'RSS 1 min':>11}{'RSS end':>10}{'ratio':>7}{'data dir':>11}{'snapshots taken':>17}{'sent':>6}")
worst = 0
for node in sorted(rss, key=lambda n: int(n[1:])):
    log = open(f"{run}/node-logs/{node}.log", errors="replace").read()
    taken = len(re.findall(r"snapshot taken", log))
    sent = len(re.findall(r"snapshot sent", log))
    early, late = rss[node].get("early", 0), rss[node].get("late", 0)
    ratio = late / early if early else float("nan")
    worst = max(worst, ratio)
    size = du(f"{run}/data/{node}") / 2**20
    print(f"{node:<6}{early:>9.1f}MB{late:>8.1f}MB{ratio:>7.2f}{size:>9.1f}MB{taken:>17}{sent:>6}")
ok = results["stats"].get("ok-count", 0)
print(f"verdict: {'valid' if results['valid?'] is True else results['valid?']}; "
      f"ok ops {ok} ({results.get('throughput', 0):.0f}/s); worst RSS ratio end/1 min {worst:.2f}")
PY

# Restart: bring the cluster back from its data directories with a small in-process
# router, n1..n4 first; once they answer, start n0 and time it to its first answer.
python3 - "$root/target/release/raft-ng" "$run_dir/data" "$@" <<'PY'
import json, subprocess, sys, threading, time, queue
binary, data, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
ids = [f"n{i}" for i in range(5)]
procs, answers, lock = {}, queue.Queue(), threading.Lock()
def send(node, msg):
    with lock:
        p = procs.get(node)
        if p:
            p.stdin.write((json.dumps(msg) + "\n").encode()); p.stdin.flush()
def pump(node, p):
    for line in p.stdout:
        msg = json.loads(line)
        if msg["dest"] in procs:
            send(msg["dest"], msg)
        elif msg["dest"] == "c1":
            answers.put((node, msg["body"], time.monotonic()))
def start(node):
    p = subprocess.Popen([binary, "--data-dir", data, *extra], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with lock:
        procs[node] = p
    threading.Thread(target=pump, args=(node, p), daemon=True).start()
    send(node, {"src": "c0", "dest": node, "body": {"type": "init", "msg_id": 0,
                "node_id": node, "node_ids": ids}})
sent_to = {}
def serving(node, deadline):
    # The answer may come from whichever server served the read, not only from `node`.
    while time.monotonic() < deadline:
        msg_id = len(sent_to) + 1
        sent_to[msg_id] = node
        send(node, {"src": "c1", "dest": node, "body": {"type": "read", "msg_id": msg_id, "key": 0}})
        try:
            while True:
                _, body, at = answers.get(timeout=0.05)
                # A missing key is an answer too: the read went through.
                served = body.get("type") == "read_ok" or body.get("code") == 20
                if served and sent_to.get(body.get("in_reply_to")) == node:
                    return at
        except queue.Empty:
            pass
    return None
for node in ids[1:]:
    start(node)
if serving("n1", time.monotonic() + 30) is None:
    print("restart: n1..n4 did not serve within 30 s"); sys.exit(1)
t0 = time.monotonic()
start("n0")
at = serving("n0", t0 + 30)
print("restart: n0 did not serve within 30 s" if at is None
      else f"restart: n0 answered a read {1000 * (at - t0):.0f} ms after it was started")
for p in procs.values():
    p.kill()
PY
