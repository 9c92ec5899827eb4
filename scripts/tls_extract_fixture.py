#!/usr/bin/env python3
"""Extract one TCP stream as in-order reassembled chunks into a fixture .bin.

Usage: extract_fixture.py CAPTURE STREAM OUT [--max-frame N] [--gzip] [--zero-server A:B]
Each record: frame u32 LE | dir u8 (0 = first talker, normally the SYN sender; 1 = other) |
ready_ts_ns i64 LE | len u32 LE | payload bytes.
A small reassembler mimics the project's TCP stage: duplicates/retransmitted bytes are dropped,
out-of-order segments are held until the hole fills, and then delivered with the time of the
frame that filled it (when they became readable). --zero-server A:B replaces server-stream
bytes in [A, B) with zeros (to shrink a fixture; framing bytes must lie outside that range).
"""
import argparse, gzip, struct, subprocess
from decimal import Decimal

ap = argparse.ArgumentParser()
ap.add_argument("cap"); ap.add_argument("stream"); ap.add_argument("out")
ap.add_argument("--max-frame", type=int, default=None)
ap.add_argument("--gzip", action="store_true")
ap.add_argument("--zero-server", default=None)
a = ap.parse_args()
rows = subprocess.run(
    ["tshark", "-r", a.cap, "-Y", f"tcp.stream=={a.stream}", "-T", "fields",
     "-e", "frame.number", "-e", "frame.time_epoch", "-e", "tcp.srcport",
     "-e", "tcp.seq", "-e", "tcp.len", "-e", "tcp.payload"],
    capture_output=True, text=True, check=True).stdout.splitlines()
orig_port = None
nxt = {}      # dir -> next expected relative seq
pending = {0: {}, 1: {}}  # dir -> seq -> data
offset = {0: 0, 1: 0}
zero = tuple(map(int, a.zero_server.split(":"))) if a.zero_server else None
out = bytearray(); n = 0
for r in rows:
    frame, ts, sport, seq, ln, payload = r.split("\t")[:6]
    if a.max_frame and int(frame) > a.max_frame:
        break
    if orig_port is None:
        orig_port = sport
    d = 0 if sport == orig_port else 1
    if not payload:
        continue
    seq = int(seq); data = bytes.fromhex(payload.replace(":", ""))
    nxt.setdefault(d, 1)
    pending[d][seq] = data
    chunk = bytearray()
    progressed = True
    while progressed:
        progressed = False
        for s in sorted(pending[d]):
            dd = pending[d][s]
            if s + len(dd) <= nxt[d]:
                del pending[d][s]; progressed = True; break
            if s <= nxt[d]:
                part = dd[nxt[d] - s:]
                chunk += part; nxt[d] += len(part)
                del pending[d][s]; progressed = True; break
    if chunk:
        if zero and d == 1:
            base = offset[1]
            for i in range(len(chunk)):
                if zero[0] <= base + i < zero[1]:
                    chunk[i] = 0
        offset[d] += len(chunk)
        ns = int(Decimal(ts) * 1_000_000_000)
        out += struct.pack("<IBqI", int(frame), d, ns, len(chunk)) + chunk
        n += 1
if a.gzip:
    out = gzip.compress(bytes(out), 9, mtime=0)
open(a.out, "wb").write(out)
print(f"{a.out}: {n} chunks, {len(out)} bytes")
