#!/usr/bin/env python3
"""Writes tshark's view of a capture as golden expectations for lifecycle's tests.

Usage: scripts/tshark-golden.py CAPTURE OUT.tsv

Lines: `conv <ep_a> <ep_b> <frames> <bytes>` per TCP conversation (what tshark -qz conv,tcp
counts, without its kB rounding; endpoints sorted), and `syn_streams <n>`: TCP streams that contain a SYN without ACK.
tshark is only needed to (re)generate the files, never to run the tests.
"""
import ipaddress, re, subprocess, sys

def ep(s):
    host, port = s.rsplit(':', 1)
    host = host.strip('[]')
    return f"{ipaddress.ip_address(host)}:{port}"

def main(cap, out):
    # Per-frame fields rather than `-qz conv,tcp`, whose table rounds large byte counts to kB;
    # aggregated the same way (per endpoint pair, whole frame lengths).
    txt = subprocess.run(['tshark', '-r', cap, '-Y', 'tcp && !icmp && !icmpv6', '-T', 'fields', '-E', 'separator=/t',
                          '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport',
                          '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport', '-e', 'frame.len'],
                         capture_output=True, text=True).stdout
    conv = {}
    for line in txt.splitlines():
        f = line.split('\t')
        if len(f) < 7 or not f[2] or not f[5]:
            continue
        src = (f[0] or f[1]).split(',')[-1]
        dst = (f[3] or f[4]).split(',')[-1]
        if not src or not dst:
            continue
        a, b = sorted([ep(f"{src}:{f[2].split(',')[0]}"), ep(f"{dst}:{f[5].split(',')[0]}")])
        n, by = conv.get((a, b), (0, 0))
        conv[(a, b)] = (n + 1, by + int(f[6]))
    rows = [f"conv\t{a}\t{b}\t{n}\t{by}" for (a, b), (n, by) in conv.items()]
    syn = subprocess.run(['tshark', '-r', cap, '-Y', 'tcp.flags.syn==1 && tcp.flags.ack==0', '-T', 'fields', '-e', 'tcp.stream'], capture_output=True, text=True).stdout.split()
    rows.sort()
    rows.append(f"syn_streams\t{len(set(syn))}")
    with open(out, 'w') as f:
        f.write('\n'.join(rows) + '\n')

if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
