#!/usr/bin/env bash
# Benchmark: lifecycle against the bare floor pass (and tshark, when installed) on
# generated captures of the given sizes, all measured in the same run.
#
#   bench/run.sh [SIZE_MB ...]          default: 400 4000 (see bench/README.md: RSS is compared
#                                       once both captures outlast the 300 s TCP idle timeout)
#
# Environment:
#   BENCH_DIR   where captures, raw figures and (without RAM_DIR) outputs go (default: a new
#               temp dir, removed at exit)
#   REPS        timed runs per tool and size, median reported (default 3)
#   SEED        generator seed (default 1)
#   TSHARK      0 to skip tshark even when installed (default 1; it runs once per size)
#   KEEP        1 to reuse existing captures in BENCH_DIR instead of regenerating
#   BUILD       0 to skip `cargo build` and use the release binaries already built
#   LIFECYCLE   path of the lifecycle binary to measure (default: the release build)
#   PGO         1 to also measure a profile-guided build (scripts/build-pgo.sh, trained on
#               a capture of another seed) as lifecycle-pgo: one thread, CSV
#   DOCS        0 to skip lifecycle-docs (one thread, --har and --html; default 1)
#   RAM_DIR     a RAM-backed directory (tmpfs) the timed runs read the capture from and
#               write their outputs to (default /dev/shm when it is writable and has room;
#               empty: read from BENCH_DIR). A copy per size, removed after that size.
#
# See bench/README.md for what is measured and how to read the table.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(400 4000)
REPS=${REPS:-3}
SEED=${SEED:-1}
TSHARK=${TSHARK:-1}
KEEP=${KEEP:-0}
BUILD=${BUILD:-1}
PGO=${PGO:-0}
DOCS=${DOCS:-1}
RAM_DIR=${RAM_DIR-/dev/shm}

# The RAM copy of the capture being measured (see below), removed at exit whatever happens.
RAM_TMP=""
TEMP_DIR=""
cleanup() {
    [ -z "$RAM_TMP" ] || rm -rf "$RAM_TMP"
    [ -z "$TEMP_DIR" ] || rm -rf "$TEMP_DIR"
}
trap cleanup EXIT
if [ -n "${BENCH_DIR:-}" ]; then
    mkdir -p "$BENCH_DIR"
    DIR=$BENCH_DIR
else
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/lifecycle-bench.XXXXXX")
    TEMP_DIR=$DIR
fi

if [ "$BUILD" != 0 ]; then
    echo "== building (release)" >&2
    cargo build --release --quiet --bin lifecycle --examples
    if [ "$PGO" = 1 ]; then
        echo "== building (profile-guided)" >&2
        bash scripts/build-pgo.sh >/dev/null
        cargo build --release --quiet --bin lifecycle --examples
    fi
fi
TARGET=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
TARGET=${TARGET:-$ROOT/target}
LIFECYCLE=${LIFECYCLE:-$TARGET/release/lifecycle}
FLOOR=$TARGET/release/examples/floor
GEN=$TARGET/release/examples/gen_capture
LIFECYCLE_PGO=$TARGET/pgo/lifecycle
if [ "$PGO" = 1 ] && [ ! -x "$LIFECYCLE_PGO" ]; then
    echo "bench/run.sh: PGO=1 needs $LIFECYCLE_PGO (bash scripts/build-pgo.sh)" >&2
    exit 2
fi

# measure OUTFILE CMD...: runs CMD with stdout to OUTFILE and prints
# "SECONDS MAXRSS_KB USER_SECONDS SYSTEM_SECONDS ANON_KB RC" (CPU times of the child, all
# threads). python3 (wall clock from perf_counter, RSS from wait4's rusage of that one
# child) is preferred for its resolution; /usr/bin/time (10 ms resolution) is the fallback.
# MAXRSS includes the binary's own file-backed pages (~12 MB for lifecycle, moving by 1-3 MB
# between invocations); ANON_KB is the peak of the anonymous part alone (RssAnon in
# /proc/PID/status, sampled every 5 ms; 0 where it cannot be read): the memory the run
# itself holds.
if command -v python3 >/dev/null 2>&1; then
    measure() {
        python3 - "$@" <<'PY'
import os, subprocess, sys, threading, time
out = open(sys.argv[1], "wb")
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL)
done = threading.Event()
anon = [0]
def sample():
    path = f"/proc/{p.pid}/status"
    while not done.is_set():
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        anon[0] = max(anon[0], int(line.split()[1]))
                        break
        except (OSError, ValueError):
            return
        done.wait(0.005)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
_, status, ru = os.wait4(p.pid, 0)
dt = time.perf_counter() - t0
done.set()
sampler.join()
rc = os.waitstatus_to_exitcode(status)
print(f"{dt:.4f} {ru.ru_maxrss} {ru.ru_utime:.4f} {ru.ru_stime:.4f} {anon[0]} {rc}")
PY
    }
elif [ -x /usr/bin/time ]; then
    measure() {
        local out=$1 tf rc
        shift
        tf=$(mktemp)
        rc=0
        /usr/bin/time -o "$tf" -f '%e %M %U %S' "$@" >"$out" 2>/dev/null || rc=$?
        echo "$(tail -n1 "$tf") 0 $rc"
        rm -f "$tf"
    }
else
    echo "bench/run.sh: needs python3 or /usr/bin/time to measure peak RSS" >&2
    exit 2
fi

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

HAVE_TSHARK=0
if [ "$TSHARK" != 0 ] && command -v tshark >/dev/null 2>&1; then HAVE_TSHARK=1; fi

RESULTS=$DIR/results.tsv
: >"$RESULTS"

# summarize NAME SIZE RC: appends "name size secs rss_kb rc user sys anon_kb" (median
# seconds, largest RSS, the last nonzero exit status, median user and system CPU seconds,
# largest anonymous RSS) over the runs in NAME-SIZE.times to RESULTS.
summarize() {
    local name=$1 size=$2 rc=$3 times secs rss usr sys anon
    times=$DIR/$name-$size.times
    secs=$(awk '{print $1}' "$times" | median)
    rss=$(awk '{print $2}' "$times" | sort -n | tail -n1)
    usr=$(awk '{print $3}' "$times" | median)
    sys=$(awk '{print $4}' "$times" | median)
    anon=$(awk '{print $5}' "$times" | sort -n | tail -n1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$size" "$secs" "$rss" "$rc" "$usr" "$sys" "$anon" >>"$RESULTS"
}

# run_tool NAME SIZE REPS CMD...: REPS timed runs, then their summary.
run_tool() {
    local name=$1 size=$2 reps=$3 out rc=0 r line
    shift 3
    out=$DIR/$name-$size.stdout
    : >"$DIR/$name-$size.times"
    for ((r = 0; r < reps; r++)); do
        line=$(measure "$out" "$@")
        echo "$line" >>"$DIR/$name-$size.times"
        [ "${line##* }" = 0 ] || rc=${line##* }
    done
    summarize "$name" "$size" "$rc"
}

for size in "${SIZES[@]}"; do
    cap=$DIR/gen-${size}MB-seed$SEED.pcap
    if [ "$KEEP" = 1 ] && [ -s "$cap" ]; then
        echo "== reusing $cap" >&2
    else
        echo "== generating $cap" >&2
        "$GEN" "$cap" "$size" "$SEED"
    fi
    bytes=$(stat -c %s "$cap")
    # The timed runs read the capture from RAM when they can: a page cache warmed with `cat`
    # does not stay warm on every machine (on the VM of bench/README.md the kernel reclaims
    # half of a 4 GB file's cached pages within 30 s), and a run that reads from the disk
    # measures the disk. Both tools read the same copy.
    run_dir=$DIR
    if [ -n "$RAM_DIR" ] && [ -d "$RAM_DIR" ] && [ -w "$RAM_DIR" ]; then
        free_kb=$(df -Pk "$RAM_DIR" | awk 'NR == 2 {print $4}')
        # Room for the capture, its outputs and 512 MB to spare.
        if [ "${free_kb:-0}" -gt $((bytes / 1024 * 11 / 10 + 512 * 1024)) ]; then
            RAM_TMP=$(mktemp -d "$RAM_DIR/lifecycle-bench.XXXXXX")
            cp "$cap" "$RAM_TMP/"
            run_dir=$RAM_TMP
            echo "== $size MB: timed runs read $RAM_TMP (RAM)" >&2
        fi
    fi
    if [ -z "$RAM_TMP" ]; then
        echo "== $size MB: timed runs read $cap (RAM_DIR empty, missing or without room)" >&2
        # Warm the page cache so the first timed tool does not pay for the disk.
        cat "$cap" >/dev/null
    fi
    rcap=$run_dir/$(basename "$cap")
    out=$run_dir/out-$size

    # Floor and the lifecycle variants alternate, so drift on a noisy machine hits all alike.
    # lifecycle: one thread, CSV; lifecycle-t2: two threads, CSV; lifecycle-pq: one thread,
    # Parquet (the default format); lifecycle-docs: one thread, the HAR document and the HTML
    # page (their spool in the output directory).
    variants=(floor lifecycle lifecycle-t2 lifecycle-pq)
    [ "$PGO" = 1 ] && variants+=(lifecycle-pgo)
    [ "$DOCS" = 1 ] && variants+=(lifecycle-docs)
    declare -A vrc=()
    for t in "${variants[@]}"; do
        : >"$DIR/$t-$size.times"
        vrc[$t]=0
    done
    for ((r = 0; r < REPS; r++)); do
        echo "== $size MB: run $((r + 1))/$REPS ${variants[*]}" >&2
        for t in "${variants[@]}"; do
            rm -rf "$out"
            mkdir -p "$out"
            case $t in
            floor) cmd=("$FLOOR" "$rcap") ;;
            lifecycle) cmd=("$LIFECYCLE" analyze --quiet --threads 1 --format csv
                --out "$out" "$rcap") ;;
            lifecycle-t2) cmd=("$LIFECYCLE" analyze --quiet --threads 2 --format csv
                --out "$out" "$rcap") ;;
            lifecycle-pq) cmd=("$LIFECYCLE" analyze --quiet --threads 1 --format parquet
                --out "$out" "$rcap") ;;
            lifecycle-pgo) cmd=("$LIFECYCLE_PGO" analyze --quiet --threads 1 --format csv
                --out "$out" "$rcap") ;;
            lifecycle-docs) cmd=(env TMPDIR="$out" "$LIFECYCLE" analyze --quiet --threads 1
                --har "$out/page.har" --html "$out/page.html" "$rcap") ;;
            esac
            line=$(measure "$DIR/$t-$size.stdout" "${cmd[@]}")
            echo "$line" >>"$DIR/$t-$size.times"
            [ "${line##* }" = 0 ] || vrc[$t]=${line##* }
        done
    done
    for t in "${variants[@]}"; do
        summarize "$t" "$size" "${vrc[$t]}"
    done
    if [ "$HAVE_TSHARK" = 1 ]; then
        echo "== $size MB: tshark -T fields (once)" >&2
        run_tool tshark "$size" 1 tshark -n -r "$rcap" -T fields \
            -e dns.qry.name -e tls.handshake.extensions_server_name -e http.request.uri
    fi
    if [ -n "$RAM_TMP" ]; then
        rm -rf "$RAM_TMP"
        RAM_TMP=""
    fi
    packets=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$DIR/floor-$size.stdout")
    printf 'capture\t%s\t%s\t%s\n' "$size" "$bytes" "${packets:-0}" >>"$RESULTS"
done

# The table. Ratio = tool seconds / floor seconds on the same capture (same run).
awk -F'\t' '
    $1 == "capture" { bytes[$2] = $3; pkts[$2] = $4; next }
    { n++; tool[n] = $1; size[n] = $2; secs[n] = $3; rss[n] = $4; rc[n] = $5
      usr[n] = $6; sys[n] = $7; anon[n] = $8
      if ($1 == "floor") { floor[$2] = $3; floor_usr[$2] = $6 } }
    END {
        printf "%-14s %8s %9s %9s %12s %9s %8s %9s %7s %7s %7s %s\n", "tool", "size_MB", "seconds",
            "MB/s", "packets/s", "RSS_MB", "anon_MB", "x_floor", "user_s", "sys_s", "x_user", ""
        for (i = 1; i <= n; i++) {
            s = size[i]; mb = bytes[s] / 1e6; t = secs[i] > 0 ? secs[i] : 1e-9
            note = rc[i] != 0 ? "exit status " rc[i] : ""
            xu = floor_usr[s] > 0 ? sprintf("%7.2f", usr[i] / floor_usr[s]) : sprintf("%7s", "-")
            printf "%-14s %8.0f %9.3f %9.0f %12.0f %9.1f %8.1f %9.2f %7.3f %7.3f %s %s\n", tool[i],
                mb, secs[i], mb / t, pkts[s] / t, rss[i] / 1024, anon[i] / 1024, secs[i] / floor[s],
                usr[i], sys[i], xu, note
        }
        # Peak RSS of each lifecycle variant, largest capture against smallest: ~1.0 means
        # flat. And the speedup of two threads over one on each capture.
        printf "\n"
        split("lifecycle lifecycle-t2 lifecycle-pq lifecycle-pgo lifecycle-docs", vs, " ")
        for (v = 1; v <= 5; v++) {
            lo = ""; hi = ""
            for (i = 1; i <= n; i++) if (tool[i] == vs[v]) {
                if (lo == "" || bytes[size[i]] < bytes[size[lo]]) lo = i
                if (hi == "" || bytes[size[i]] > bytes[size[hi]]) hi = i
            }
            if (lo != "" && hi != lo) {
                printf "%s peak RSS: %.1f MB at %.0f MB, %.1f MB at %.0f MB: ratio %.2f for %.1fx the capture",
                    vs[v], rss[lo] / 1024, bytes[size[lo]] / 1e6, rss[hi] / 1024,
                    bytes[size[hi]] / 1e6, rss[hi] / rss[lo], bytes[size[hi]] / bytes[size[lo]]
                if (anon[lo] > 0) printf " (anonymous: %.1f -> %.1f MB, ratio %.2f)",
                    anon[lo] / 1024, anon[hi] / 1024, anon[hi] / anon[lo]
                printf "\n"
            }
        }
        for (i = 1; i <= n; i++) if (tool[i] == "lifecycle") one[size[i]] = secs[i]
        for (i = 1; i <= n; i++) if (tool[i] == "lifecycle-t2" && secs[i] > 0)
            printf "2 threads vs 1 at %.0f MB: %.2fx faster\n", bytes[size[i]] / 1e6,
                one[size[i]] / secs[i]
    }' "$RESULTS"
echo
echo "medians of $REPS runs (tshark: 1 run); raw figures in $RESULTS"
[ -n "${BENCH_DIR:-}" ] || echo "(temp dir removed at exit; set BENCH_DIR to keep captures and outputs)"
