#!/usr/bin/env python3
"""Make h2 fixtures: per-direction in-order bytes with capture timestamps.

Line format (one chunk per line):  `o|r <ts_ns> <hex>`  (o = client, r = server);
`#` lines are comments.  Inside <hex>, `(<hex>)*N.` repeats a pattern N times, so that
long padding-like runs stay small.  With --zero-data, DATA frame payloads are replaced by
zero bytes (the parser never reads them; lengths and framing are unchanged).

Usage: mkfix.py OUT SRC_DESC CLIENT_PORT [--zero-data] < "o|r ts_epoch hex" lines
"""
import sys

def ns(epoch):
    s, _, f = epoch.partition(".")
    return int(s) * 1_000_000_000 + int((f + "000000000")[:9])

def zero_data(chunks):
    # chunks: list of (dir, ts, bytearray); frames parsed per direction.
    for d in "or":
        idx = [i for i, c in enumerate(chunks) if c[0] == d]
        flat = bytearray().join(chunks[i][2] for i in idx)
        pos = 24 if d == "o" and flat.startswith(b"PRI * HTTP/2.0") else 0
        while pos + 9 <= len(flat):
            ln = int.from_bytes(flat[pos:pos + 3], "big")
            if flat[pos + 3] == 0:
                flat[pos + 9:pos + 9 + ln] = bytes(min(ln, len(flat) - pos - 9))
            pos += 9 + ln
        off = 0
        for i in idx:
            n = len(chunks[i][2])
            chunks[i][2][:] = flat[off:off + n]
            off += n

def enc(b):
    out, i, n = [], 0, len(b)
    while i < n:
        best = None
        for p in (1, 2, 3, 4):
            pat = b[i:i + p]
            if len(pat) < p:
                break
            k = 1
            while b[i + k * p:i + (k + 1) * p] == pat:
                k += 1
            if k * p >= 24 and (best is None or k * p > best[0] * best[1]):
                best = (k, p)
        if best:
            k, p = best
            out.append("(" + b[i:i + p].hex() + ")*" + str(k) + ".")
            i += k * p
        else:
            out.append(b[i:i + 1].hex())
            i += 1
    return "".join(out)

def main():
    out, desc, cport = sys.argv[1], sys.argv[2], sys.argv[3]
    chunks = []
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 3:
            continue
        ts, port, hx = parts
        chunks.append(("o" if port == cport else "r", ns(ts), bytearray.fromhex(hx)))
    if "--zero-data" in sys.argv:
        zero_data(chunks)
    with open(out, "w") as f:
        f.write("# " + desc + "\n")
        for d, t, b in chunks:
            f.write(f"{d} {t} {enc(bytes(b))}\n")

main()
