#!/usr/bin/env bash
# Port-forwarding benchmark (issue #6): host -> guest through each stack's own port forwarding, in one run.
#   RdNet: host-switch --port-forward 127.0.0.1:PORT=192.168.127.2:5201 (listener on the host, connection opened into
#          the guest from the gateway by the user-space TCP stack);
#   pasta: -t PORT:5201 (its own forwarding);
#   slirp4netns: --api-socket + add_hostfwd (its own forwarding).
#
#   sudo bench/forward/compare.sh [--secs 5] [--runs 3] [--stacks "rdnet slirp4netns pasta"]
#
# Namespace set-up from bench/lib.sh (shared with bench/tcp/compare.sh): the "host" is a loopback-only namespace this
# script creates (plus a veth pair whose default route goes nowhere, for pasta); iperf3 -s runs in a fresh guest
# namespace per run and the client connects to 127.0.0.1:PORT in the host namespace. No packet leaves the machine. Prints a markdown table
# (medians of --runs): host->guest (client sends) and guest->host (-R) Gbit/s, and sequential connect / 1-byte echo /
# close cycles per second through a second forward.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=5 RUNS=3 STACKS="rdnet slirp4netns pasta" PORT=15201 PORT2=15202
while [ $# -gt 0 ]; do
  case "$1" in
    --secs) SECS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --stacks) STACKS=$2; shift 2 ;;
    *) echo "unknown argument $1 (expected --secs N, --runs N, --stacks LIST)" >&2; exit 2 ;;
  esac
done
# shellcheck source=../lib.sh
. bench/lib.sh
bench_init rdfb
# the last run's host-switch log is kept for a look afterwards
keep_logs() { cp "$WORK/host-switch.log" /tmp/rdfb-host-switch.log 2>/dev/null || true; }

# connect, one byte each way, close: cycles per second to 127.0.0.1:PORT2 for SECS seconds, one at a time, against a
# guest server on 5202 that echoes one byte and closes (so each cycle crosses the whole path, guest included)
cat > "$WORK/cycles.py" <<'PY'
import socket, sys, time
if sys.argv[1] == "server":
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(("0.0.0.0", 5202)); l.listen(512)
    while True:
        c, _ = l.accept()
        d = c.recv(1)
        if d: c.sendall(d)
        c.close()
port, secs = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + secs; n = 0
while time.time() < end:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"x")
    if s.recv(1) != b"x": sys.exit("no echo")
    s.close(); n += 1
print("%.0f" % (n / secs))
PY

wait_guest_addr() { for _ in $(seq 200); do in_g ip -4 -o addr show 2>/dev/null | grep -v " lo " | grep -q "inet " && return 0; sleep 0.1; done; return 1; }
wait_port() { for _ in $(seq 100); do in_h bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

start_stack() {
  case "$1" in
    rdnet)
      start_rdnet "$RDNET" "$WORK/vm-switch" --port-forward "127.0.0.1:$PORT=192.168.127.2:5201" --port-forward "127.0.0.1:$PORT2=192.168.127.2:5202"
      wait_guest_addr ;;
    slirp4netns)
      rm -f "$WORK/slirp.api"
      ip netns exec "$H" slirp4netns --configure --mtu=1500 --api-socket "$WORK/slirp.api" --netns-type=path "/var/run/netns/$G" eth0 >"$WORK/slirp.log" 2>&1 & PIDS+=($!)
      wait_guest_addr
      for _ in $(seq 50); do [ -S "$WORK/slirp.api" ] && break; sleep 0.1; done
      python3 - "$WORK/slirp.api" "$PORT" "$PORT2" <<'PY'
import json, socket, sys
for host_port, guest_port in ((int(sys.argv[2]), 5201), (int(sys.argv[3]), 5202)):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    s.sendall(json.dumps({"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_addr": "127.0.0.1", "host_port": host_port, "guest_port": guest_port}}).encode())
    r = s.recv(4096).decode()
    if "error" in r: sys.exit("add_hostfwd: " + r)
    s.close()
PY
      ;;
    pasta)
      ip netns exec "$H" pasta --runas 0:0 -4 --config-net -m 1500 -t "127.0.0.1/$PORT:5201" -t "127.0.0.1/$PORT2:5202" -u none -T none -U none -f -q --netns "/var/run/netns/$G" >"$WORK/pasta.log" 2>&1 & PIDS+=($!)
      wait_guest_addr ;;
  esac
}

declare -A R
for stack in $STACKS; do
  up=() down=() cyc=()
  for run in $(seq "$RUNS"); do
    setup_namespaces
    in_g iperf3 -s -p 5201 >/dev/null 2>&1 & PIDS+=($!)
    in_g python3 "$WORK/cycles.py" server >/dev/null 2>&1 & PIDS+=($!)
    start_stack "$stack"
    wait_port || echo "$stack: forward never answered" >&2
    sleep 0.5
    up+=("$(in_h iperf3 -c 127.0.0.1 -p "$PORT" -t "$SECS" -J 2>/dev/null | gbits)")
    down+=("$(in_h iperf3 -c 127.0.0.1 -p "$PORT" -t "$SECS" -R -J 2>/dev/null | gbits)")
    cyc+=("$(in_h python3 "$WORK/cycles.py" "$PORT2" "$SECS" 2>/dev/null || echo err)")
    cleanup; PIDS=()
    sleep 0.5
    echo "$stack run $run: host->guest ${up[-1]} guest->host ${down[-1]} Gbit/s, ${cyc[-1]} connect/close per s" >&2
  done
  R[$stack.up]=$(median "${up[@]}"); R[$stack.down]=$(median "${down[@]}"); R[$stack.cyc]=$(median "${cyc[@]}")
done

echo
echo "Through a port forward (client on the host's 127.0.0.1, iperf3 -s in the guest), ${SECS}s per measurement, median of $RUNS run(s), $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| stack | host→guest Gbit/s | guest→host (-R) Gbit/s | connect+echo+close /s |"
echo "| --- | --- | --- | --- |"
for stack in $STACKS; do echo "| $stack | ${R[$stack.up]} | ${R[$stack.down]} | ${R[$stack.cyc]} |"; done
if [[ " $STACKS " == *" rdnet "* ]]; then
  for ref in $STACKS; do
    [ "$ref" = rdnet ] && continue
    echo "| rdnet / $ref | $(ratio "${R[rdnet.up]}" "${R[$ref.up]}") | $(ratio "${R[rdnet.down]}" "${R[$ref.down]}") | $(ratio "${R[rdnet.cyc]}" "${R[$ref.cyc]}") |"
  done
fi
