#!/usr/bin/env bash
# TCP and UDP benchmark: RdNet (host-switch + vm-switch over a unix socket, guest namespace on a tap) against slirp4netns,
# pasta and a plain veth pair (kernel routing, the ceiling), in one run on this machine.
#
#   sudo bench/tcp/compare.sh [--mtu 1500] [--secs 5] [--runs 3] [--stacks "veth rdnet slirp4netns pasta"]
#                             [--udp-rates "500M 1G"]
#
# Everything runs in namespaces this script creates: the "host" is a namespace with only loopback (plus a veth
# pair inside it carrying a default route that goes nowhere, which pasta needs), the servers listen there, and each stack
# joins a fresh guest namespace to it. No packet leaves the machine. Needs: iperf3 passt slirp4netns udhcpc python3.
# Prints two markdown tables (TCP, UDP; medians of --runs) with ratios RdNet / reference.
# UDP: 1000 sequential 32-byte request/response round trips (python, one socket) and iperf3 -u -l 1400 at each of
# --udp-rates guest → host, reporting the rate the server received and the loss.
set -euo pipefail
cd "$(dirname "$0")/../.."
MTU=1500 SECS=5 RUNS=3 STACKS="veth rdnet slirp4netns pasta" UDP_RATES="500M 1G"
while [ $# -gt 0 ]; do
  case "$1" in
    --mtu) MTU=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --stacks) STACKS=$2; shift 2 ;;
    --udp-rates) UDP_RATES=$2; shift 2 ;;
    *) echo "unknown argument $1 (expected --mtu N, --secs N, --runs N, --stacks LIST, --udp-rates LIST)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run as root (creates network namespaces)" >&2; exit 2; }
for t in iperf3 slirp4netns pasta udhcpc python3; do command -v "$t" >/dev/null || { echo "missing $t (apt-get install -y iperf3 slirp4netns passt udhcpc)" >&2; exit 2; }; done

dotnet build -c Release RdNet.sln -v q -nologo 2>&1 | grep -E " error |rror\(s\)" || true
RDNET="$PWD/RdNet.Cli/bin/Release/net10.0/rdnet"
NETBENCH="$PWD/bench/tcp/netbench.py"
WORK=$(mktemp -d /tmp/rdnb-XXXXXX)
ID=$(printf '%06x' $((RANDOM * 32768 + RANDOM)))
H="rdnb-h-$ID" G="rdnb-g-$ID"
PIDS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  # give each process up to 3 s to exit on SIGTERM (host-switch/vm-switch shut their actor systems down)
  for _ in $(seq 30); do
    alive=0
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  # anything still running inside our own namespaces (e.g. a dhcp client a stack started) goes too
  for ns in "$G" "$H"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  done
  ip netns del "$G" 2>/dev/null || true
  ip netns del "$H" 2>/dev/null || true
}
trap 'cleanup; rm -rf "$WORK"' EXIT

in_h() { ip netns exec "$H" "$@"; }
in_g() { ip netns exec "$G" "$@"; }

cat > "$WORK/dhcp.sh" <<'SH'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set dev "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done ;;
esac
exit 0
SH
chmod +x "$WORK/dhcp.sh"
ln -sf "$RDNET" "$WORK/vm-switch"

setup() {
  ip netns add "$H"; ip netns add "$G"
  ip -n "$H" link set lo up; ip -n "$G" link set lo up
  ip -n "$H" link add d0 type veth peer name d1   # both ends stay in H: a default route into a dead end
  ip -n "$H" addr add 10.250.0.1/24 dev d0
  ip -n "$H" link set d0 up; ip -n "$H" link set d1 up
  ip -n "$H" route add default via 10.250.0.2
  ip netns exec "$H" iperf3 -s -p 5201 >/dev/null 2>&1 & PIDS+=($!)
  ip netns exec "$H" python3 "$NETBENCH" server 5300 >/dev/null 2>&1 & PIDS+=($!)
  ip netns exec "$H" python3 "$NETBENCH" userver 5300 >/dev/null 2>&1 & PIDS+=($!)
}

# Starts one stack (in this shell, so its PIDs are recorded); sets ADDR to the address the guest uses for the host's loopback.
start_stack() {
  case "$1" in
    veth)
      ip link add "vb$ID" netns "$H" type veth peer name eth0 netns "$G"
      ip -n "$H" addr add 10.251.0.1/24 dev "vb$ID"; ip -n "$H" link set "vb$ID" up mtu "$MTU"
      ip -n "$G" addr add 10.251.0.2/24 dev eth0; ip -n "$G" link set eth0 up mtu "$MTU"
      ADDR=10.251.0.1 ;;
    rdnet)
      ip netns exec "$H" "$RDNET" host-switch --listen "unix://$WORK/hs.sock" --outbound-allow 127.0.0.0/8 --dns-upstream 127.0.0.1:9 --mtu "$MTU" >"$WORK/host-switch.log" 2>&1 & PIDS+=($!)
      for _ in $(seq 100); do [ -S "$WORK/hs.sock" ] && break; sleep 0.1; done
      ip netns exec "$G" "$WORK/vm-switch" -dhcp-script "$WORK/dhcp.sh" --connect "unix://$WORK/hs.sock" >"$WORK/vm-switch.log" 2>&1 & PIDS+=($!)
      for _ in $(seq 200); do in_g ip -4 -o addr show dev eth0 2>/dev/null | grep -q "inet " && break; sleep 0.1; done
      ADDR=192.168.127.254 ;;
    slirp4netns)
      ip netns exec "$H" slirp4netns --configure --mtu="$MTU" --netns-type=path "/var/run/netns/$G" eth0 >"$WORK/slirp.log" 2>&1 & PIDS+=($!)
      for _ in $(seq 100); do in_g ip -4 -o addr show dev eth0 2>/dev/null | grep -q "inet " && break; sleep 0.1; done
      ADDR=10.0.2.2 ;;
    pasta)
      ip netns exec "$H" pasta --runas 0:0 -4 --config-net -m "$MTU" -t none -u none -T none -U none -f -q --netns "/var/run/netns/$G" >"$WORK/pasta.log" 2>&1 & PIDS+=($!)
      for _ in $(seq 100); do in_g ip -4 -o addr show 2>/dev/null | grep -v " lo " | grep -q "inet " && break; sleep 0.1; done
      ADDR=10.250.0.2 ;;
  esac
}

gbits() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo "err"; }
# iperf3 -u client JSON → "Gbit/s-received loss%"
udp() { python3 -c '
import json,sys
d=json.load(sys.stdin)["end"]
s=d.get("sum_received") or d["sum"]
loss=d["sum"]["lost_percent"]
bps=s["bits_per_second"] if "sum_received" in d else s["bits_per_second"]*(1-loss/100)
print("%.2f %.1f" % (bps/1e9, loss))' 2>/dev/null || echo "err err"; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:] if x not in ("err","")]; print(("%.2f" % statistics.median(v)).rstrip("0").rstrip(".") if v else "err")' "$@"; }

declare -A R
for stack in $STACKS; do
  up=() down=() rs=() rc=() p50=() p99=() u50=() u99=() ulost=()
  declare -A UG=() UL=()
  for run in $(seq "$RUNS"); do
    setup
    sleep 0.5
    start_stack "$stack"; addr=$ADDR
    sleep 0.5
    up+=("$(in_g iperf3 -c "$addr" -p 5201 -t "$SECS" -J 2>/dev/null | gbits)")
    down+=("$(in_g iperf3 -c "$addr" -p 5201 -t "$SECS" -R -J 2>/dev/null | gbits)")
    read -r a _ < <(in_g python3 "$NETBENCH" rate "$addr" 5300 "$SECS" server || echo "err 0"); rs+=("$a")
    read -r a _ < <(in_g python3 "$NETBENCH" rate "$addr" 5300 "$SECS" client || echo "err 0"); rc+=("$a")
    read -r a b < <(in_g python3 "$NETBENCH" rr "$addr" 5300 2000 || echo "err err"); p50+=("$a"); p99+=("$b")
    read -r a b c < <(in_g python3 "$NETBENCH" urr "$addr" 5300 1000 || echo "err err err"); u50+=("$a"); u99+=("$b"); ulost+=("$c")
    urep=""
    for rate in $UDP_RATES; do
      read -r a b < <(in_g iperf3 -u -c "$addr" -p 5201 -b "$rate" -l 1400 -t "$SECS" -J 2>/dev/null | udp)
      UG[$rate]+=" $a"; UL[$rate]+=" $b"; urep+=", udp $rate: $a Gbit/s $b% lost"
    done
    cleanup; PIDS=()
    sleep 0.5
    echo "$stack run $run: up ${up[-1]} down ${down[-1]} Gbit/s, rate ${rs[-1]}/${rc[-1]} conn/s, rr p50 ${p50[-1]} p99 ${p99[-1]} us, udp rr p50 ${u50[-1]} p99 ${u99[-1]} us lost ${ulost[-1]}$urep" >&2
  done
  R[$stack.up]=$(median "${up[@]}"); R[$stack.down]=$(median "${down[@]}")
  R[$stack.rs]=$(median "${rs[@]}"); R[$stack.rc]=$(median "${rc[@]}")
  R[$stack.p50]=$(median "${p50[@]}"); R[$stack.p99]=$(median "${p99[@]}")
  R[$stack.u50]=$(median "${u50[@]}"); R[$stack.u99]=$(median "${u99[@]}"); R[$stack.ulost]=$(median "${ulost[@]}")
  for rate in $UDP_RATES; do
    # shellcheck disable=SC2086
    R[$stack.ug.$rate]=$(median ${UG[$rate]}); R[$stack.ul.$rate]=$(median ${UL[$rate]})
  done
  unset UG UL
done

ratio() { python3 -c 'import sys; a,b=sys.argv[1],sys.argv[2]; print("%.2f" % (float(a)/float(b)) if a!="err" and b not in ("err","0","0.00") else "-")' "$1" "$2"; }
echo
echo "MTU $MTU, ${SECS}s per measurement, median of $RUNS run(s), $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| stack | guest→host Gbit/s | host→guest Gbit/s | conn/s (server closes) | conn/s (client closes) | rr p50 µs | rr p99 µs |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for stack in $STACKS; do
  echo "| $stack | ${R[$stack.up]} | ${R[$stack.down]} | ${R[$stack.rs]} | ${R[$stack.rc]} | ${R[$stack.p50]} | ${R[$stack.p99]} |"
done
if [[ " $STACKS " == *" rdnet "* ]]; then
  for ref in $STACKS; do
    [ "$ref" = rdnet ] && continue
    echo "| rdnet / $ref | $(ratio "${R[rdnet.up]}" "${R[$ref.up]}") | $(ratio "${R[rdnet.down]}" "${R[$ref.down]}") | $(ratio "${R[rdnet.rs]}" "${R[$ref.rs]}") | $(ratio "${R[rdnet.rc]}" "${R[$ref.rc]}") | $(ratio "${R[rdnet.p50]}" "${R[$ref.p50]}") | $(ratio "${R[rdnet.p99]}" "${R[$ref.p99]}") |"
  done
fi

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
