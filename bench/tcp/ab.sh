#!/usr/bin/env bash
# A/B of two RdNet revisions on one workload: builds each revision in a temporary git worktree, then alternates them
# (A, B, A, B, …) on the same namespaces set-up as compare.sh (host-switch + vm-switch over a unix socket, guest on a
# tap; host-switch with --outbound-allow 127.0.0.0/8 and a loopback DNS upstream; nothing leaves the machine), and
# prints every run's figure and each revision's median. Alternating matters: on a shared 2-core machine the spread
# between minutes is larger than most single changes.
#
#   sudo bench/tcp/ab.sh [--mode up|down|rr|rate-client|rate-server] [--pairs N] [--rounds N] [--secs S] [--mtu M] REV_A REV_B
#
# up/down: iperf3 Gbit/s guest→host / host→guest; rr: request/response p50 µs (2,000 1-byte round trips, netbench.py);
# rate-client / rate-server: connect–request–close per second with that side closing first (RdNet.ConnBench).
# Each pair starts both revisions afresh, alternating which goes first (--rounds measurements each, after two warm-up
# runs); defaults: up, 3 pairs, 3 rounds, 4 s, MTU 1500. Example: sudo bench/tcp/ab.sh --mode rate-client HEAD~1 HEAD
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=up PAIRS=3 ROUNDS=3 SECS=4 MTU=1500
while [ $# -gt 2 ]; do
  case "$1" in
    --mode) MODE=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --mtu) MTU=$2; shift 2 ;;
    *) echo "unknown option $1 (expected --mode, --pairs, --rounds, --secs or --mtu before the two revisions)" >&2; exit 2 ;;
  esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--mode up|down|rr|rate-client|rate-server] [--pairs N] [--rounds N] [--secs S] [--mtu M] REV_A REV_B" >&2; exit 2; }
case "$MODE" in up|down|rr|rate-client|rate-server) ;; *) echo "--mode: expected up, down, rr, rate-client or rate-server, got $MODE" >&2; exit 2 ;; esac
REVS=("$1" "$2")
for r in "${REVS[@]}"; do git rev-parse --verify -q "$r^{commit}" >/dev/null || { echo "not a revision: $r" >&2; exit 2; }; done

. bench/lib.sh
bench_init rdab   # builds the working tree: its ConnBench and netbench.py drive both revisions
CONNB="$PWD/bench/RdNet.ConnBench/bin/Release/net10.0/RdNet.ConnBench"
NETBENCH="$PWD/bench/tcp/netbench.py"
keep_logs() { for wt in "$WORK"/rev*; do [ -d "$wt" ] && git worktree remove --force "$wt"; done; git worktree prune; }

BIN=()
for i in 0 1; do
  wt="$WORK/rev$i"
  git worktree add -q --detach "$wt" "${REVS[$i]}"
  echo "building ${REVS[$i]} ($(git rev-parse --short "${REVS[$i]}"))" >&2
  dotnet build -c Release "$wt/RdNet.sln" -v q -nologo 2>&1 | grep -E " error |rror\(s\)" >&2 || true
  mkdir -p "$WORK/bin$i"
  ln -sf "$wt/RdNet.Cli/bin/Release/net10.0/rdnet" "$WORK/bin$i/vm-switch" # the role follows the program's name
  BIN+=("$wt/RdNet.Cli/bin/Release/net10.0/rdnet")
done

A=192.168.127.254
measure() {
  case "$MODE" in
    up) in_g iperf3 -c $A -p 5201 -t "$1" -J | gbits ;;
    down) in_g iperf3 -c $A -p 5201 -t "$1" -R -J | gbits ;;
    rr) read -r v _ < <(in_g python3 "$NETBENCH" rr $A 5300 2000 || echo "err 0"); echo "$v" ;;
    rate-client) read -r v _ < <(in_g "$CONNB" rate $A 5400 "$1" client || echo "err 0"); echo "$v" ;;
    rate-server) read -r v _ < <(in_g "$CONNB" rate $A 5400 "$1" server || echo "err 0"); echo "$v" ;;
  esac
}

one() { # revision index → ROUNDS figures on stdout
  local i=$1
  setup_namespaces
  ip netns exec "$G" sysctl -qw net.ipv4.tcp_tw_reuse=1
  in_h iperf3 -s -p 5201 >/dev/null 2>&1 & PIDS+=($!)
  in_h python3 "$NETBENCH" server 5300 >/dev/null 2>&1 & PIDS+=($!)
  in_h "$CONNB" server 5400 >/dev/null 2>&1 & PIDS+=($!)
  start_rdnet "${BIN[$i]}" "$WORK/bin$i/vm-switch" --mtu "$MTU"
  measure 2 >/dev/null || true; measure 2 >/dev/null || true
  for _ in $(seq "$ROUNDS"); do measure "$SECS" || echo err; done
  cleanup; PIDS=(); rm -f "$WORK/hs.sock"
}

declare -a ALL0=() ALL1=()
for p in $(seq "$PAIRS"); do
  # Odd pairs run A first, even pairs B first: the second of two back-to-back runs measured ~10 % slower request/response
  # whichever revision it was (2026-11-29: A/B 4ad6480 vs its successor and the reverse), so a fixed order is biased.
  order="0 1"; [ $((p % 2)) = 0 ] && order="1 0"
  for i in $order; do
    mapfile -t got < <(one "$i")
    echo "pair $p ${REVS[$i]}: ${got[*]}"
    if [ "$i" = 0 ]; then ALL0+=("${got[@]}"); else ALL1+=("${got[@]}"); fi
  done
done
unit=$(case "$MODE" in up|down) echo "Gbit/s" ;; rr) echo "µs (p50)" ;; *) echo "conn/s" ;; esac)
echo "$MODE, MTU $MTU, $PAIRS pairs × $ROUNDS runs of ${SECS}s, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "median ${REVS[0]}: $(median "${ALL0[@]}") $unit"
echo "median ${REVS[1]}: $(median "${ALL1[@]}") $unit"
