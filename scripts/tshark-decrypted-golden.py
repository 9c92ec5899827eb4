#!/usr/bin/env python3
"""tshark's decrypted HTTP/1.x and HTTP/2 requests of a capture with keys, as golden lines.

Usage: scripts/tshark-decrypted-golden.py CAPTURE KEYS|- OUT.tsv
  (KEYS '-' = only the keys embedded in the pcapng's Decryption Secrets Blocks)

Lines (sorted): `req <method> <host or authority> <path> <status or ->`.
"""
import subprocess, sys

def fields(cap, keys, flt, *fs):
    args = ['tshark', '-o', 'tcp.reassemble_out_of_order:TRUE']
    if keys != '-':
        args += ['-o', f'tls.keylog_file:{keys}']
    args += ['-r', cap, '-Y', flt, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|']
    for f in fs:
        args += ['-e', f]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    return [l.split('\t') for l in out.splitlines()]

def main(cap, keys, out):
    rows = []
    # HTTP/1.x (over TLS: tshark dissects the decrypted stream).
    status = {}
    for f in fields(cap, keys, 'http.response && tls', 'http.request_in', 'http.response.code'):
        if len(f) == 2 and f[0]:
            for req, code in zip(f[0].split('|'), f[1].split('|')):
                status[req] = code
    for f in fields(cap, keys, 'http.request && tls', 'frame.number', 'http.request.method', 'http.host', 'http.request.uri'):
        if len(f) == 4:
            for m, h, u in zip(f[1].split('|'), (f[2] or '-').split('|'), f[3].split('|')):
                rows.append(f"req\t{m}\t{h}\t{u}\t{status.get(f[0], '-')}")
    # HTTP/2: per (tcp stream, h2 stream) the request pseudo-headers and the response status.
    h2 = {}
    for f in fields(cap, keys, 'http2.type == 1', 'tcp.stream', 'http2.streamid', 'http2.type',
                    'http2.headers.method', 'http2.headers.authority', 'http2.headers.path',
                    'http2.headers.status'):
        if len(f) < 7:
            continue
        # One entry per HTTP/2 frame; the header columns have one entry per HEADERS frame
        # that carries that header.
        sids = [sid for sid, t in zip(f[1].split('|'), f[2].split('|')) if t == '1']
        for name, col in (('m', 3), ('a', 4), ('p', 5), ('s', 6)):
            vals = f[col].split('|') if f[col] else []
            targets = sids if len(vals) == len(sids) else (sids[-len(vals):] if vals and len(vals) < len(sids) else [])
            for sid, v in zip(targets, vals):
                if v:
                    h2.setdefault((f[0], sid), {}).setdefault(name, v)
    for e in h2.values():
        if 'm' in e:
            rows.append(f"req\t{e['m']}\t{e.get('a', '-')}\t{e.get('p', '-')}\t{e.get('s', '-')}")
    rows.sort()
    with open(out, 'w') as fh:
        fh.write(''.join(r + '\n' for r in rows))

if __name__ == '__main__':
    main(*sys.argv[1:4])
