#!/usr/bin/env python3
"""Writes tshark's view of a capture's DNS, TLS and HTTP/1.x as golden expectations.

Usage: scripts/tshark-protocol-golden.py CAPTURE OUT.tsv

Lines (sorted):
  dns  <qname> <qtype> <rcode>             one per unicast UDP DNS response
  tls  <sni or -> <negotiated version>     one per TCP stream with a ClientHello
  http <method> <host> <uri> <status or -> one per HTTP/1.x request
"""
import subprocess, sys

def fields(cap, flt, *fs):
    args = ['tshark', '-o', 'tcp.reassemble_out_of_order:TRUE', '-r', cap, '-Y', flt, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f']
    for f in fs:
        args += ['-e', f]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    return [l.split('\t') for l in out.splitlines()]

def main(cap, out):
    rows = []
    for f in fields(cap, 'dns.flags.response==1 && udp && !mdns && !llmnr && !(ip.dst==224.0.0.0/4)',
                    'dns.qry.name', 'dns.qry.type', 'dns.flags.rcode'):
        if len(f) == 3 and f[0] != '':
            rows.append(f"dns\t{f[0].lower().rstrip('.')}\t{f[1]}\t{f[2]}")
    hello = {}
    for f in fields(cap, 'tls.handshake.type==1 && !icmp', 'tcp.stream', 'tls.handshake.extensions_server_name'):
        if f and f[0] and f[0] not in hello:
            hello[f[0]] = f[1] if len(f) > 1 and f[1] else '-'
    version = {}
    for f in fields(cap, 'tls.handshake.type==2 && !icmp', 'tcp.stream', 'tls.handshake.extensions.supported_version', 'tls.handshake.version'):
        if f and f[0] and f[0] not in version:
            v = f[1] if len(f) > 1 and f[1] else (f[2] if len(f) > 2 else '')
            version[f[0]] = v or '-'
    for s, sni in hello.items():
        rows.append(f"tls\t{sni}\t{version.get(s, '-')}")
    status = {}
    for f in fields(cap, 'http.response && !icmp', 'http.request_in', 'http.response.code'):
        if len(f) == 2 and f[0]:
            status[f[0]] = f[1]
    for f in fields(cap, 'http.request && !icmp && tcp', 'frame.number', 'http.request.method', 'http.host', 'http.request.uri'):
        if len(f) == 4:
            rows.append(f"http\t{f[1]}\t{f[2] or '-'}\t{f[3]}\t{status.get(f[0], '-')}")
    rows.sort()
    with open(out, 'w') as fh:
        fh.write(''.join(r + '\n' for r in rows))

if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
