#!/usr/bin/env python3
"""Shrink a fixture .bin: zero the payload bytes of TLS records FIRST..=LAST (0-based) of the
server (dir 1) stream, keeping every record header and the first KEEP payload bytes of record
FIRST (the handshake header). Framing is unchanged, so the record/handshake layers see the same
structure; only opaque certificate bytes become zeros. Output is gzip-compressed.

Usage: zero_records.py IN OUT FIRST LAST KEEP
"""
import gzip, struct, sys
src, dst, first, last, keep = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
raw = open(src, "rb").read()
chunks = []; i = 0
while i < len(raw):
    frame, d, ts, ln = struct.unpack_from("<IBqI", raw, i); i += 17
    chunks.append([frame, d, ts, bytearray(raw[i:i+ln])]); i += ln
stream = b"".join(bytes(c[3]) for c in chunks if c[1] == 1)
mask = set(); off = 0; rec = 0
while off + 5 <= len(stream):
    ln = struct.unpack_from(">H", stream, off + 3)[0]
    if first <= rec <= last:
        start = off + 5 + (keep if rec == first else 0)
        mask.update(range(start, off + 5 + ln))
    off += 5 + ln; rec += 1
pos = 0; out = bytearray()
for frame, d, ts, data in chunks:
    if d == 1:
        for j in range(len(data)):
            if pos + j in mask:
                data[j] = 0
        pos += len(data)
    out += struct.pack("<IBqI", frame, d, ts, len(data)) + data
gz = gzip.compress(bytes(out), 9, mtime=0)
open(dst, "wb").write(gz)
print(f"{dst}: {len(gz)} bytes, zeroed {len(mask)} bytes in {rec} records")
