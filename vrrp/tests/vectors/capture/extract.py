"""Writes the vector files of vrrp/tests/vectors/ from the pcaps capture.sh made.

usage: extract.py WORKDIR OUTDIR
"""
import os, struct, subprocess, sys, time
def frames(path):
    d = open(path,'rb').read()
    magic = struct.unpack('<I', d[:4])[0]
    assert magic == 0xa1b2c3d4, hex(magic)
    linktype = struct.unpack('<I', d[20:24])[0]
    off = 24
    while off < len(d):
        ts, tu, incl, orig = struct.unpack('<IIII', d[off:off+16]); off += 16
        yield ts, tu, d[off:off+incl], orig; off += incl
WORK, OUT = sys.argv[1], sys.argv[2]
os.chdir(WORK)
os.makedirs(OUT, exist_ok=True)
CAPTURE_DATE = time.strftime('%Y-%m-%d')
RIG = """Rig (all inside network namespaces created for the capture, deleted afterwards):
  ip netns add tw-a; ip netns add tw-b
  ip link add tw-va netns tw-a type veth peer name tw-vb netns tw-b
  ip -n tw-a link set tw-va address 02:00:5e:10:00:0a
  ip -n tw-b link set tw-vb address 02:00:5e:10:00:0b
  ip -n tw-a addr add 192.0.2.1/24 dev tw-va;   ip -n tw-b addr add 192.0.2.2/24 dev tw-vb
  ip -n tw-a addr add 2001:db8::1/64 dev tw-va nodad; ip -n tw-b addr add 2001:db8::2/64 dev tw-vb nodad
  (tw-va link-local: fe80::5eff:fe10:a)
Capture and run (keepalived 2.2.7 from Debian, Keepalived v2.2.7 (01/16,2022)):
  ip netns exec tw-b tcpdump -i tw-vb -U -w NAME.pcap &
  ip netns exec tw-a keepalived -n -l -D -P -f NAME.conf -p NAME.pid -r NAME.vpid &
  sleep 8; kill -TERM <keepalived>   # the stopping master sends the priority-0 advert
The instance starts as BACKUP, hears nobody and becomes MASTER after Master_Down_Interval.
Bytes: the whole Ethernet frame as tcpdump saw it on tw-vb (veth: no FCS, no padding), taken
from the pcap by a few lines of Python."""

def vrrp_frames(name):
    out = []
    for i,(ts,tu,f,orig) in enumerate(frames(name + '.pcap')):
        et = f[12:14]
        if et == b'\x08\x00' and f[14+9] == 112: out.append((i, f, f[14+20+2]))
        # auth_type AH: IP protocol 51, the 24-byte AH header before the VRRP message.
        if et == b'\x08\x00' and f[14+9] == 51 and f[14+20] == 112: out.append((i, f, f[14+20+24+2]))
        if et == b'\x86\xdd' and f[14+6] == 112: out.append((i, f, f[14+40+2]))
    return out

def summary(name, idx):
    r = subprocess.run(['tcpdump','-r',name+'.pcap','-nn','-e','-v','-c',str(idx+1)], capture_output=True, text=True).stdout.rstrip('\n').split('\n')
    # last record (may span two lines)
    lines=[]
    for l in r:
        if not l.startswith((' ', '\t')): lines=[l]
        else: lines.append(l)
    return lines

def write(fname, name, idx, frame, what):
    conf = open(name + '.conf').read().rstrip('\n')
    with open(os.path.join(OUT, fname), 'w') as o:
        o.write(f'# {what}\n')
        o.write(f'# Captured {CAPTURE_DATE} from keepalived 2.2.7 (frame {idx} of {name}.pcap).\n')
        o.write('# Reproduce with vrrp/tests/vectors/capture/capture.sh (configs and extract.py alongside).\n#\n')
        for l in RIG.split('\n'): o.write('# ' + l + '\n')
        o.write(f'#\n# {name}.conf:\n')
        for l in conf.split('\n'): o.write('#   ' + l + '\n')
        o.write('#\n# tcpdump -nn -e -v:\n')
        for l in summary(name, idx): o.write('#   ' + l.strip() + '\n')
        o.write(f'#\n# {len(frame)} bytes:\n')
        h = frame.hex()
        for k in range(0, len(h), 32):
            o.write(' '.join(h[j:j+2] for j in range(k, min(k+32, len(h)), 2)) + '\n')

for name, base in [('v2auth','v2_auth_pass'),('v2noauth','v2_noauth'),('v3v4','v3_ipv4_multicast'),('v3uni','v3_ipv4_unicast'),('v3v6','v3_ipv6'),('v2ah','v2_ah_multicast'),('v2ahuni','v2_ah_unicast')]:
    if not os.path.exists(name + '.pcap'): continue  # not re-captured this time (NAMES)
    vf = vrrp_frames(name)
    first = next(x for x in vf if x[2] != 0)
    zero = next(x for x in vf if x[2] == 0)
    write(base + '.hex', name, first[0], first[1], f'VRRP advert, {base}')
    write(base + '_prio0.hex', name, zero[0], zero[1], f'VRRP advert with priority 0 (sent on SIGTERM), {base}')
for i,(ts,tu,f,orig) in (enumerate(frames('v2auth.pcap')) if os.path.exists('v2auth.pcap') else []):
    if f[12:14] == b'\x08\x06' and f[28:32] == f[38:42]:
        write('garp_192.0.2.100.hex', 'v2auth', i, f, 'Gratuitous ARP sent on becoming MASTER (VIP 192.0.2.100)'); break
for i,(ts,tu,f,orig) in (enumerate(frames('v3v6.pcap')) if os.path.exists('v3v6.pcap') else []):
    if f[12:14] == b'\x86\xdd' and f[14+6] == 58 and f[14+40] == 136:
        write('na_2001_db8__100.hex', 'v3v6', i, f, 'Unsolicited neighbour advertisement sent on becoming MASTER (VIP 2001:db8::100)'); break
for i,(ts,tu,f,orig) in (enumerate(frames('v3v6fwd.pcap')) if os.path.exists('v3v6fwd.pcap') else []):
    if f[12:14] == b'\x86\xdd' and f[14+6] == 58 and f[14+40] == 136:
        write('na_router_2001_db8__100.hex', 'v3v6fwd', i, f, 'Unsolicited NA on becoming MASTER with IPv6 forwarding on (ip netns exec tw-a sysctl -w net.ipv6.conf.all.forwarding=1 net.ipv6.conf.tw-va.forwarding=1 before starting): Router flag set'); break
