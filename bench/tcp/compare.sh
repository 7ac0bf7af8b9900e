#!/usr/bin/env bash
# TCP and UDP benchmark: RdNet (host-switch + vm-switch over a unix socket, guest namespace on a tap) against slirp4netns,
# pasta and a plain veth pair (kernel routing, the ceiling), in one run on this machine.
#
#   sudo bench/tcp/compare.sh [--mtu 1500] [--secs 5] [--runs 3] [--stacks "veth rdnet slirp4netns pasta"]
#                             [--udp-rates "500M 1G"] [--idle 1000] [--py-rate "veth"] [--warmup 2]
#
# Everything runs in namespaces this script creates: the "host" is a namespace with only loopback (plus a veth
# pair inside it carrying a default route that goes nowhere, which pasta needs), the servers listen there, and each stack
# joins a fresh guest namespace to it. No packet leaves the machine. Needs: iperf3 passt slirp4netns udhcpc python3.
# Prints two markdown tables (TCP, UDP; medians of --runs) with ratios RdNet / reference.
# UDP: 1000 sequential 32-byte request/response round trips (python, one socket) and iperf3 -u -l 1400 at each of
# --udp-rates guest → host, reporting the rate the server received and the loss.
# Connect rates come from bench/RdNet.ConnBench (C# client and server, sequential connections); for the stacks in
# --py-rate the python client/server pair of netbench.py is measured too, to show whether python was the limit.
# CPU: utime+stime (/proc/PID/stat) of the stack's own processes (host-switch + vm-switch, slirp4netns, pasta; veth
# has none, its work is kernel time nobody owns) over everything a run measures after start-up, and over the two
# iperf3 TCP runs alone, divided by the gigabytes they moved. Memory: VmRSS of the same processes right after
# start-up and with --idle connections opened from the guest to a host server and held idle.
# Warm-up: every stack runs each TCP workload (iperf3 both ways, both connect loops, request/response) for --warmup
# seconds unmeasured right before that workload is measured, so a just-started process is measured in its steady state
# (RdNet's .NET code is compiled, and recompiled with profile data, during its first seconds; the C stacks have nothing
# to warm). "CPU s per run" includes the connect and request/response warm-ups; CPU per GB does not. 0 = none.
set -euo pipefail
cd "$(dirname "$0")/../.."
MTU=1500 SECS=5 RUNS=3 STACKS="veth rdnet slirp4netns pasta" UDP_RATES="500M 1G" IDLE=1000 PY_RATE="veth" WARMUP=2
while [ $# -gt 0 ]; do
  case "$1" in
    --mtu) MTU=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --stacks) STACKS=$2; shift 2 ;;
    --udp-rates) UDP_RATES=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --py-rate) PY_RATE=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    *) echo "unknown argument $1 (expected --mtu N, --secs N, --runs N, --stacks LIST, --udp-rates LIST, --idle N, --py-rate LIST, --warmup SECS)" >&2; exit 2 ;;
  esac
done
# shellcheck source=../lib.sh
. bench/lib.sh
bench_init rdnb
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" # the idle-connection test holds $IDLE sockets in the client, the server and the stack
CONNB="$PWD/bench/RdNet.ConnBench/bin/Release/net10.0/RdNet.ConnBench"
[ -x "$CONNB" ] || { echo "missing $CONNB (dotnet build -c Release RdNet.sln)" >&2; exit 2; }
HZ=$(getconf CLK_TCK)
NETBENCH="$PWD/bench/tcp/netbench.py"

setup() {
  setup_namespaces
  # The guest may reuse its own TIME-WAIT ports for new connects when the peer's timestamps allow it (RFC 6191 /
  # tcp_tw_reuse=1): without this a client-closes-first loop runs out of ephemeral ports after ~14k connections and
  # measures the guest's port search instead of the stack; a stack that does not negotiate timestamps still does.
  ip netns exec "$G" sysctl -qw net.ipv4.tcp_tw_reuse=1
  ip netns exec "$H" iperf3 -s -p 5201 >/dev/null 2>&1 & PIDS+=($!)
  ip netns exec "$H" python3 "$NETBENCH" server 5300 >/dev/null 2>&1 & PIDS+=($!)
  ip netns exec "$H" python3 "$NETBENCH" userver 5300 >/dev/null 2>&1 & PIDS+=($!)
  ip netns exec "$H" "$CONNB" server 5400 >/dev/null 2>&1 & PIDS+=($!)
}

# The stack's own processes (set by start_stack): CPU ticks (utime+stime, all threads) and resident KiB, summed.
cpu_ticks() { local t=0 p; for p in $STACK_PIDS; do t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done; echo "$t"; }
rss_kib() { local t=0 p; for p in $STACK_PIDS; do t=$((t + $(awk '/^VmRSS:/{print $2}' "/proc/$p/status"))); done; echo "$t"; }

# Opens $IDLE connections from the guest to the host's server and holds them; prints "<RSS KiB then> <opened> <errors>".
hold_idle() {
  ip netns exec "$G" "$CONNB" hold "$1" 5400 "$IDLE" >"$WORK/hold.out" 2>&1 & local hp=$!
  for _ in $(seq 600); do grep -q '^ready' "$WORK/hold.out" && break; kill -0 "$hp" 2>/dev/null || break; sleep 0.1; done
  sleep 1 # let the stack settle (buffers handed back, timers quiet)
  local rss; rss=$(rss_kib)
  read -r _ opened errors < <(grep '^ready' "$WORK/hold.out" || echo "ready err err")
  kill "$hp" 2>/dev/null || true; wait "$hp" 2>/dev/null || true
  echo "$rss $opened $errors"
}

# Starts one stack (in this shell, so its PIDs are recorded); sets ADDR to the address the guest uses for the host's loopback.
start_stack() {
  case "$1" in
    veth)
      ip link add "vb$ID" netns "$H" type veth peer name eth0 netns "$G"
      ip -n "$H" addr add 10.251.0.1/24 dev "vb$ID"; ip -n "$H" link set "vb$ID" up mtu "$MTU"
      ip -n "$G" addr add 10.251.0.2/24 dev eth0; ip -n "$G" link set eth0 up mtu "$MTU"
      STACK_PIDS=""
      ADDR=10.251.0.1 ;;
    rdnet)
      start_rdnet "$RDNET" "$WORK/vm-switch" --mtu "$MTU"
      STACK_PIDS="${PIDS[-2]} ${PIDS[-1]}"
      ADDR=192.168.127.254 ;;
    slirp4netns)
      ip netns exec "$H" slirp4netns --configure --mtu="$MTU" --netns-type=path "/var/run/netns/$G" eth0 >"$WORK/slirp.log" 2>&1 & PIDS+=($!)
      STACK_PIDS="${PIDS[-1]}"
      for _ in $(seq 100); do in_g ip -4 -o addr show dev eth0 2>/dev/null | grep -q "inet " && break; sleep 0.1; done
      ADDR=10.0.2.2 ;;
    pasta)
      ip netns exec "$H" pasta --runas 0:0 -4 --config-net -m "$MTU" -t none -u none -T none -U none -f -q --netns "/var/run/netns/$G" >"$WORK/pasta.log" 2>&1 & PIDS+=($!)
      STACK_PIDS="${PIDS[-1]}"
      for _ in $(seq 100); do in_g ip -4 -o addr show 2>/dev/null | grep -v " lo " | grep -q "inet " && break; sleep 0.1; done
      ADDR=10.250.0.2 ;;
  esac
}

# iperf3 -u client JSON → "Gbit/s-received loss%"
udp() { python3 -c '
import json,sys
d=json.load(sys.stdin)["end"]
s=d.get("sum_received") or d["sum"]
loss=d["sum"]["lost_percent"]
bps=s["bits_per_second"] if "sum_received" in d else s["bits_per_second"]*(1-loss/100)
print("%.2f %.1f" % (bps/1e9, loss))' 2>/dev/null || echo "err err"; }
kib_mib() { python3 -c 'import sys; print("%.1f" % (int(sys.argv[1]) / 1024))' "$1"; }
per_conn() { python3 -c 'import sys; b,h,n=sys.argv[1:]; print("%.1f" % ((int(h)-int(b))/int(n)) if n.isdigit() and int(n) > 0 else "err")' "$1" "$2" "$3"; }
# CPU seconds per gigabyte the two iperf3 runs moved ($SECS seconds each at the measured Gbit/s)
cpu_per_gb() { python3 -c 'import sys; t,hz,secs,u,d=sys.argv[1:]; gb=(float(u)+float(d))*float(secs)/8; print("%.2f" % (int(t)/int(hz)/gb) if gb > 0 else "err")' "$1" "$HZ" "$SECS" "$2" "$3" 2>/dev/null || echo err; }

# Runs one workload --warmup seconds unmeasured right before it is measured (so no stack measures one workload
# after another's warm-up: slirp4netns slows down as closed connections pile up).
warm() {
  [ "$WARMUP" = 0 ] && return 0
  case "$1" in
    iperf) in_g iperf3 -c "$addr" -p 5201 -t "$WARMUP" >/dev/null 2>&1 || true
           in_g iperf3 -c "$addr" -p 5201 -t "$WARMUP" -R >/dev/null 2>&1 || true ;;
    rate) in_g "$CONNB" rate "$addr" 5400 "$WARMUP" server >/dev/null 2>&1 || true
          in_g "$CONNB" rate "$addr" 5400 "$WARMUP" client >/dev/null 2>&1 || true ;;
    rr) in_g python3 "$NETBENCH" rr "$addr" 5300 1000 >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
}

declare -A R
for stack in $STACKS; do
  up=() down=() rs=() rc=() p50=() p99=() u50=() u99=() ulost=() prs=() prc=() cpu=() cpugb=() rss0=() rssi=() perconn=()
  declare -A UG=() UL=()
  for run in $(seq "$RUNS"); do
    setup
    sleep 0.5
    start_stack "$stack"; addr=$ADDR
    sleep 0.5
    idle="-"
    if [ -n "$STACK_PIDS" ]; then
      base=$(rss_kib)
      read -r held opened errs < <(hold_idle "$addr")
      rss0+=("$(kib_mib "$base")"); rssi+=("$(kib_mib "$held")"); perconn+=("$(per_conn "$base" "$held" "$opened")")
      idle="rss $(kib_mib "$base") MiB, with $opened idle connections $(kib_mib "$held") MiB ($errs failed)"
      sleep 1
    fi
    warm iperf
    t0=$(cpu_ticks)
    up+=("$(in_g iperf3 -c "$addr" -p 5201 -t "$SECS" -J 2>/dev/null | gbits)")
    down+=("$(in_g iperf3 -c "$addr" -p 5201 -t "$SECS" -R -J 2>/dev/null | gbits)")
    t1=$(cpu_ticks)
    warm rate
    read -r a e1 < <(in_g "$CONNB" rate "$addr" 5400 "$SECS" server || echo "err 0"); rs+=("$a")
    read -r a e2 < <(in_g "$CONNB" rate "$addr" 5400 "$SECS" client || echo "err 0"); rc+=("$a")
    pyrep=""
    if [[ " $PY_RATE " == *" $stack "* ]]; then
      read -r a _ < <(in_g python3 "$NETBENCH" rate "$addr" 5300 "$SECS" server || echo "err 0"); prs+=("$a")
      read -r a _ < <(in_g python3 "$NETBENCH" rate "$addr" 5300 "$SECS" client || echo "err 0"); prc+=("$a")
      pyrep=" (python ${prs[-1]}/${prc[-1]})"
    fi
    warm rr
    read -r a b < <(in_g python3 "$NETBENCH" rr "$addr" 5300 2000 || echo "err err"); p50+=("$a"); p99+=("$b")
    read -r a b c < <(in_g python3 "$NETBENCH" urr "$addr" 5300 1000 || echo "err err err"); u50+=("$a"); u99+=("$b"); ulost+=("$c")
    urep=""
    for rate in $UDP_RATES; do
      read -r a b < <(in_g iperf3 -u -c "$addr" -p 5201 -b "$rate" -l 1400 -t "$SECS" -J 2>/dev/null | udp)
      UG[$rate]+=" $a"; UL[$rate]+=" $b"; urep+=", udp $rate: $a Gbit/s $b% lost"
    done
    t2=$(cpu_ticks)
    cpurep=""
    if [ -n "$STACK_PIDS" ]; then
      cpu+=("$(python3 -c 'import sys; print("%.2f" % (int(sys.argv[1]) / int(sys.argv[2])))' "$((t2 - t0))" "$HZ")")
      cpugb+=("$(cpu_per_gb "$((t1 - t0))" "${up[-1]}" "${down[-1]}")")
      cpurep=", cpu ${cpu[-1]} s (iperf3 ${cpugb[-1]} s/GB), $idle"
    fi
    cleanup; PIDS=()
    sleep 0.5
    echo "$stack run $run: up ${up[-1]} down ${down[-1]} Gbit/s, rate ${rs[-1]}/${rc[-1]} conn/s (errors $e1/$e2)$pyrep, rr p50 ${p50[-1]} p99 ${p99[-1]} us, udp rr p50 ${u50[-1]} p99 ${u99[-1]} us lost ${ulost[-1]}$urep$cpurep" >&2
  done
  R[$stack.up]=$(median "${up[@]}"); R[$stack.down]=$(median "${down[@]}")
  R[$stack.rs]=$(median "${rs[@]}"); R[$stack.rc]=$(median "${rc[@]}")
  R[$stack.p50]=$(median "${p50[@]}"); R[$stack.p99]=$(median "${p99[@]}")
  R[$stack.u50]=$(median "${u50[@]}"); R[$stack.u99]=$(median "${u99[@]}"); R[$stack.ulost]=$(median "${ulost[@]}")
  R[$stack.prs]=$(median "${prs[@]:-}"); R[$stack.prc]=$(median "${prc[@]:-}")
  if [ "${#cpu[@]}" -gt 0 ]; then
    R[$stack.cpu]=$(median "${cpu[@]}"); R[$stack.cpugb]=$(median "${cpugb[@]}")
    R[$stack.rss0]=$(median "${rss0[@]}"); R[$stack.rssi]=$(median "${rssi[@]}"); R[$stack.perconn]=$(median "${perconn[@]}")
  else
    R[$stack.cpu]=kernel; R[$stack.cpugb]=kernel; R[$stack.rss0]=kernel; R[$stack.rssi]=kernel; R[$stack.perconn]=kernel
  fi
  for rate in $UDP_RATES; do
    # shellcheck disable=SC2086
    R[$stack.ug.$rate]=$(median ${UG[$rate]}); R[$stack.ul.$rate]=$(median ${UL[$rate]})
  done
  unset UG UL
done

echo
echo "MTU $MTU, ${SECS}s per measurement, median of $RUNS run(s), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "| stack | guest→host Gbit/s | host→guest Gbit/s | conn/s (server closes) | conn/s (client closes) | rr p50 µs | rr p99 µs | CPU s per run | CPU s per GB (iperf3) | RSS MiB idle | RSS MiB, $IDLE idle conns | KiB per idle conn |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for stack in $STACKS; do
  echo "| $stack | ${R[$stack.up]} | ${R[$stack.down]} | ${R[$stack.rs]} | ${R[$stack.rc]} | ${R[$stack.p50]} | ${R[$stack.p99]} | ${R[$stack.cpu]} | ${R[$stack.cpugb]} | ${R[$stack.rss0]} | ${R[$stack.rssi]} | ${R[$stack.perconn]} |"
done
if [[ " $STACKS " == *" rdnet "* ]]; then
  for ref in $STACKS; do
    [ "$ref" = rdnet ] && continue
    line="| rdnet / $ref |"
    for k in up down rs rc p50 p99 cpu cpugb rss0 rssi perconn; do line+=" $(ratio "${R[rdnet.$k]}" "${R[$ref.$k]}") |"; done
    echo "$line"
  done
fi
for stack in $PY_RATE; do
  [[ " $STACKS " == *" $stack "* ]] || continue
  echo
  echo "$stack, connect rate with the python client and server instead: ${R[$stack.prs]} (server closes) / ${R[$stack.prc]} (client closes) conn/s, against C# ${R[$stack.rs]} / ${R[$stack.rc]}"
done

echo
hdr="| stack | udp rr p50 µs | udp rr p99 µs | rr lost /1000 |"; sep="| --- | --- | --- | --- |"
for rate in $UDP_RATES; do hdr+=" -b $rate: received Gbit/s | -b $rate: loss % |"; sep+=" --- | --- |"; done
echo "$hdr"; echo "$sep"
for stack in $STACKS; do
  line="| $stack | ${R[$stack.u50]} | ${R[$stack.u99]} | ${R[$stack.ulost]} |"
  for rate in $UDP_RATES; do line+=" ${R[$stack.ug.$rate]} | ${R[$stack.ul.$rate]} |"; done
  echo "$line"
done
if [[ " $STACKS " == *" rdnet "* ]]; then
  for ref in $STACKS; do
    [ "$ref" = rdnet ] && continue
    line="| rdnet / $ref | $(ratio "${R[rdnet.u50]}" "${R[$ref.u50]}") | $(ratio "${R[rdnet.u99]}" "${R[$ref.u99]}") | - |"
    for rate in $UDP_RATES; do line+=" $(ratio "${R[rdnet.ug.$rate]}" "${R[$ref.ug.$rate]}") | - |"; done
    echo "$line"
  done
fi
