#!/bin/bash
# Re-captures the vectors in vrrp/tests/vectors/ from keepalived 2.2.7 (needs root, keepalived,
# tcpdump, python3). Everything runs inside two network namespaces made here (tw-a runs
# keepalived, tw-b captures) joined by a veth pair; nothing touches the host's own namespace or
# leaves the machine. The namespaces are deleted on exit.
#   usage: sudo vrrp/tests/vectors/capture/capture.sh [WORKDIR]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${1:-$(mktemp -d)}
cleanup() { ip netns del tw-a 2>/dev/null || true; ip netns del tw-b 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add tw-a
ip netns add tw-b
ip link add tw-va netns tw-a type veth peer name tw-vb netns tw-b
ip -n tw-a link set tw-va address 02:00:5e:10:00:0a
ip -n tw-b link set tw-vb address 02:00:5e:10:00:0b
ip -n tw-a link set lo up; ip -n tw-b link set lo up
ip -n tw-a addr add 192.0.2.1/24 dev tw-va
ip -n tw-b addr add 192.0.2.2/24 dev tw-vb
ip -n tw-a addr add 2001:db8::1/64 dev tw-va nodad
ip -n tw-b addr add 2001:db8::2/64 dev tw-vb nodad
ip -n tw-a link set tw-va up
ip -n tw-b link set tw-vb up
sleep 3 # link-local DAD

run() { # NAME: run keepalived with NAME.conf in tw-a for 8 s, capture NAME.pcap in tw-b
    local n=$1
    ip netns exec tw-b tcpdump -i tw-vb -U -w "$WORK/$n.pcap" 2>/dev/null &
    local tp=$!
    sleep 1
    ip netns exec tw-a keepalived -n -l -D -P -f "$WORK/$n.conf" -p "$WORK/$n.pid" -r "$WORK/$n.vpid" >"$WORK/$n.log" 2>&1 &
    local kp=$!
    sleep 8
    kill -TERM "$kp"; wait "$kp" || true   # the stopping master sends priority 0
    sleep 2
    kill -INT "$tp"; wait "$tp" || true
}
# NAMES="v2ah v2ahuni" re-captures only those (extract.py then writes only theirs).
for n in ${NAMES:-v2auth v2noauth v3v4 v3uni v3v6 v2ah v2ahuni}; do
    cp "$HERE/$n.conf" "$WORK/"
    run "$n"
done
if [ -z "${NAMES:-}" ]; then
    # The same IPv6 instance with forwarding on: keepalived sets the NA Router flag.
    cp "$HERE/v3v6.conf" "$WORK/v3v6fwd.conf"
    ip netns exec tw-a sysctl -q -w net.ipv6.conf.all.forwarding=1 net.ipv6.conf.tw-va.forwarding=1
    run v3v6fwd
fi
python3 "$HERE/extract.py" "$WORK" "$HERE/.."
