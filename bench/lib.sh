# Shared set-up of the benchmark scripts (bench/forward/compare.sh; bench/tcp/compare.sh keeps the same names).
# Sourced from the repository root by a script running under `set -euo pipefail`:
#
#   . bench/lib.sh
#   bench_init PREFIX     # root and tool checks, Release build, $RDNET, $WORK, $ID, namespaces $H and $G (not yet
#                         # created), PIDS=(), an EXIT trap that cleans up, $WORK/dhcp.sh and $WORK/vm-switch
#
# Then: setup_namespaces (per run), start_rdnet, in_h/in_g CMD…, background processes appended to PIDS, cleanup (per run), and the
# result helpers gbits/median/ratio. A script may redefine keep_logs (called on exit, before $WORK is removed).
# Everything runs in the two namespaces: the "host" $H has only loopback plus a veth pair inside it carrying a default
# route that goes nowhere (pasta needs one), and each stack joins a fresh guest namespace $G to it. No packet leaves
# the machine.

bench_init() {
  local prefix=$1
  [ "$(id -u)" = 0 ] || { echo "run as root (creates network namespaces)" >&2; exit 2; }
  for t in iperf3 slirp4netns pasta udhcpc python3; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install -y iperf3 slirp4netns passt udhcpc)" >&2; exit 2; }
  done
  dotnet build -c Release RdNet.sln -v q -nologo 2>&1 | grep -E " error |rror\(s\)" || true
  RDNET="$PWD/RdNet.Cli/bin/Release/net10.0/rdnet"
  WORK=$(mktemp -d "/tmp/$prefix-XXXXXX")
  ID=$(printf '%06x' $((RANDOM * 32768 + RANDOM)))
  H="$prefix-h-$ID" G="$prefix-g-$ID"
  PIDS=()
  trap 'cleanup; keep_logs; rm -rf "$WORK"' EXIT
  write_dhcp_script "$WORK/dhcp.sh"
  ln -sf "$RDNET" "$WORK/vm-switch"
}

keep_logs() { :; }

# vm-switch's -dhcp-script: applies the lease (address, MTU, default route) inside the guest namespace.
write_dhcp_script() {
  cat > "$1" <<'SH'
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
  chmod +x "$1"
}

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

# RdNet as every benchmark runs it: host-switch in $H, whose egress is loopback only and whose DNS upstream is on
# loopback (nothing leaves the machine), and vm-switch in $G on its tap, dialling it over a unix socket; returns when
# the guest has its lease (or after 20 s). $1: the rdnet executable; $2: a link to it named vm-switch (the role follows
# the program's name); the other arguments go to host-switch. Both processes are appended to PIDS.
start_rdnet() {
  local rdnet=$1 vmswitch=$2; shift 2
  ip netns exec "$H" "$rdnet" host-switch --listen "unix://$WORK/hs.sock" --outbound-allow 127.0.0.0/8 --dns-upstream 127.0.0.1:9 "$@" >"$WORK/host-switch.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 100); do [ -S "$WORK/hs.sock" ] && break; sleep 0.1; done
  ip netns exec "$G" "$vmswitch" -dhcp-script "$WORK/dhcp.sh" --connect "unix://$WORK/hs.sock" >"$WORK/vm-switch.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 200); do ip netns exec "$G" ip -4 -o addr show dev eth0 2>/dev/null | grep -q "inet " && break; sleep 0.1; done
}

in_h() { ip netns exec "$H" "$@"; }
in_g() { ip netns exec "$G" "$@"; }

# The two namespaces, loopback up in both; in $H a veth pair (both ends stay in $H) whose default route is a dead end.
setup_namespaces() {
  ip netns add "$H"; ip netns add "$G"
  ip -n "$H" link set lo up; ip -n "$G" link set lo up
  ip -n "$H" link add d0 type veth peer name d1
  ip -n "$H" addr add 10.250.0.1/24 dev d0
  ip -n "$H" link set d0 up; ip -n "$H" link set d1 up
  ip -n "$H" route add default via 10.250.0.2
}

# iperf3 -J on stdin → received Gbit/s (or err)
gbits() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo "err"; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:] if x not in ("err","")]; print(("%.2f" % statistics.median(v)).rstrip("0").rstrip(".") if v else "err")' "$@"; }
ratio() { python3 -c 'import sys; a,b=sys.argv[1],sys.argv[2]; print("%.2f" % (float(a)/float(b)) if a not in ("err","kernel","-") and b not in ("err","kernel","-","0","0.00") else "-")' "$1" "$2"; }
