#!/usr/bin/env python3
"""Reads lifecycle's Parquet output with pyarrow, independently of the Rust code.

For each capture it runs the binary twice (--format parquet and --format json), then checks
that every table file opens, that SPEC.md's columns are there with the SPEC types
(timestamp[ns, UTC], float64 durations, bool flags, list<string> lists, int64 ids and
counts, strings), that extra columns use only those types, and that every value and row
count equals the JSON output of the same run.

    pip install pyarrow
    python3 tests/read_parquet.py [path/to/lifecycle]

The binary defaults to $LIFECYCLE_BIN, else $CARGO_TARGET_DIR/debug/lifecycle, else
target/debug/lifecycle. Exits non-zero on the first mismatch; prints a closing
'N passed, 0 failed' line.
"""

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = [
    ROOT / "testdata/wikipedia.pcap",
    ROOT / "testdata/lab/full-cold-curl/full-cold-curl.pcapng",
]
TABLES = ["navigations", "requests", "connections", "dns", "dhcp", "arp", "anomalies"]

T, F, B, L, I, S = "time", "float", "bool", "list", "int", "str"

# SPEC.md's columns and their types.
SPEC = {
    "navigations": dict(
        navigation_id=I, client_ip=S, start_time=T, end_time=T, duration_ms=F,
        page_host=S, page_url=S, temperature=S, requests=I, hosts=I, dns_lookups=I,
        dns_cached_hosts=I, connections_new=I, connections_reused=I, tls_full=I,
        tls_resumed=I, bytes_in=I, bytes_out=I, document_request_id=I,
        document_dns_ms=F, document_connect_ms=F, document_tls_ms=F,
        document_wait_ms=F, document_receive_ms=F, slowest_phase=S, findings=L,
    ),
    "requests": dict(
        request_id=I, navigation_id=I, connection_id=I, start_time=T, client_ip=S,
        client_port=I, server_ip=S, server_port=I, host=S, scheme=S, http_version=S,
        method=S, url=S, status=I, encrypted=B, timing_source=S, blocked_ms=F,
        dns_ms=F, connect_ms=F, tls_ms=F, stalled_ms=F, send_ms=F, wait_ms=F,
        receive_ms=F, total_ms=F, dns_cached=B, connection_reused=B, tls_resumed=B,
        request_bytes=I, response_bytes=I, findings=L,
    ),
    "connections": dict(
        connection_id=I, transport=S, client_ip=S, client_port=I, server_ip=S,
        server_port=I, start_time=T, established_time=T, end_time=T,
        handshake_rtt_ms=F, syn_retransmits=I, close=S, bytes_orig=I, bytes_resp=I,
        packets_orig=I, packets_resp=I, retransmits_orig=I, retransmits_resp=I,
        out_of_order=I, zero_window=I, sni=S, alpn=S, tls_version=S, tls_cipher=S,
        tls_resumed=B, tls_handshake_ms=F, requests=I, navigation_id=I,
    ),
    "dns": dict(
        dns_id=I, query_time=T, response_time=T, latency_ms=F, client_ip=S,
        server_ip=S, transport=S, txid=I, qname=S, qtype=S, rcode=S, answers=L,
        min_ttl=I, retransmits=I, navigation_id=I,
    ),
    "dhcp": dict(
        dhcp_id=I, client_mac=S, xid=I, discover_time=T, offer_time=T,
        request_time=T, ack_time=T, assigned_ip=S, server_ip=S, router=S,
        dns_servers=L, lease_s=I, total_ms=F,
    ),
    "arp": dict(
        arp_id=I, request_time=T, reply_time=T, latency_ms=F, sender_ip=S,
        sender_mac=S, target_ip=S, target_mac=S, gratuitous=B,
    ),
    "anomalies": dict(time=T, frame=I, connection_id=I, kind=S, detail=S),
}


def kind(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        assert t.unit == "ns" and t.tz == "UTC", f"timestamp must be ns/UTC, got {t}"
        return T
    if pa.types.is_float64(t):
        return F
    if pa.types.is_boolean(t):
        return B
    if pa.types.is_int64(t):
        return I
    if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
        return S
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        v = t.value_type
        assert pa.types.is_string(v) or pa.types.is_large_string(v) or str(v) == "string_view", t
        return L
    raise AssertionError(f"unexpected Arrow type {t}")


def rfc3339_ns(s: str) -> int:
    """'2011-03-18T19:06:07.096535000Z' → nanoseconds since the epoch."""
    base, frac = s.rstrip("Z").split(".")
    dt = datetime.fromisoformat(base).replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + int(frac.ljust(9, "0"))


def same(k: str, pv, jv) -> bool:
    if jv is None or pv is None:
        return jv is None and pv is None
    if k == T:
        return pv == rfc3339_ns(jv)
    if k == F:
        return abs(pv - jv) <= 0.0005
    return pv == jv


def check(binary: str, capture: Path) -> int:
    checks = 0
    with tempfile.TemporaryDirectory() as d:
        for fmt in ("parquet", "json"):
            subprocess.run(
                [binary, "analyze", str(capture), "--out", f"{d}/{fmt}", "--format", fmt, "--quiet"],
                check=True,
            )
        for name in TABLES:
            table = pq.read_table(f"{d}/parquet/{name}.parquet")
            rows = json.load(open(f"{d}/json/{name}.json"))
            where = f"{capture.name} {name}"
            assert table.num_rows == len(rows), f"{where}: {table.num_rows} rows vs {len(rows)} in JSON"
            kinds = {f.name: kind(f.type) for f in table.schema}
            for col, want in SPEC[name].items():
                assert col in kinds, f"{where}: SPEC column {col} missing"
                assert kinds[col] == want, f"{where}.{col}: {kinds[col]} (SPEC: {want})"
            assert list(kinds) == list(rows[0].keys()) if rows else True, f"{where}: column order"
            for col, k in kinds.items():
                arr = table.column(col)
                if k == T:
                    arr = arr.cast(pa.int64())
                values = arr.to_pylist()
                for i, (pv, row) in enumerate(zip(values, rows)):
                    assert same(k, pv, row[col]), f"{where}[{i}].{col}: parquet {pv!r} vs json {row[col]!r}"
            checks += 1
            print(f"ok {where}: {table.num_rows} rows, {table.num_columns} columns")
    return checks


def main() -> int:
    binary = (
        sys.argv[1]
        if len(sys.argv) > 1
        else os.environ.get("LIFECYCLE_BIN")
        or str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug/lifecycle")
    )
    if not Path(binary).exists():
        print(f"lifecycle binary not found at {binary}: build it first (cargo build)", file=sys.stderr)
        return 2
    passed = sum(check(binary, c) for c in CAPTURES)
    print(f"{passed} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
