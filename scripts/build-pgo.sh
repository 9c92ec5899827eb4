#!/usr/bin/env bash
# Builds lifecycle with profile-guided optimisation (PGO) into target/pgo/lifecycle.
#
#   bash scripts/build-pgo.sh
#
# 1. builds the lifecycle crates instrumented (dependencies are built as usual and shared
#    with `cargo build --release`);
# 2. runs that binary on a training capture made by the benchmark generator with a seed of
#    its own (the benchmark measures seed 1, so the profile is not trained on the capture
#    it is measured on), in the ways users run it (CSV, Parquet, two threads, the
#    report), and on the bundled test captures (HTTP/1, HTTP/2, TLS with keys, DNS, DHCP,
#    ARP);
# 3. builds the lifecycle crates again with that profile.
#
# Needs llvm-profdata of the LLVM rustc was built with (`rustc -vV` says which):
# `rustup component add llvm-tools`, or Debian's `llvm-NN` package; LLVM_PROFDATA=path
# names one explicitly. The output is the same as the plain build's (tables byte-identical
# on the benchmark capture); only the speed differs (see bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
host=$(rustc -vV | sed -n 's/^host: //p')
profdata=${LLVM_PROFDATA:-}
if [ -z "$profdata" ]; then
    for c in "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" \
        "llvm-profdata-$major" "/usr/lib/llvm-$major/bin/llvm-profdata" llvm-profdata; do
        if command -v "$c" >/dev/null 2>&1 \
            && "$c" --version 2>/dev/null | grep -q "LLVM version $major\."; then
            profdata=$c
            break
        fi
    done
fi
if [ -z "$profdata" ]; then
    echo "build-pgo: no llvm-profdata for LLVM $major (rustc's): run" \
        "'rustup component add llvm-tools' or install Debian's llvm-$major," \
        "or set LLVM_PROFDATA" >&2
    exit 1
fi

target=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The flags go to the lifecycle crates only: instrumenting polars would rebuild it twice.
cat >"$work/rustc-wrapper" <<'EOF'
#!/bin/sh
rustc="$1"
shift
case " $* " in
*" --crate-name lifecycle "*) exec "$rustc" "$@" $LIFECYCLE_PGO_FLAGS ;;
esac
exec "$rustc" "$@"
EOF
chmod +x "$work/rustc-wrapper"

build_with() {
    # Cargo does not see the wrapper's flags, so the lifecycle crates are cleaned first.
    cargo clean --release -p lifecycle --quiet
    RUSTC_WRAPPER="$work/rustc-wrapper" LIFECYCLE_PGO_FLAGS="$1" \
        cargo build --release --locked --bin lifecycle
}

cargo build --release --locked --example gen_capture
"$target/release/examples/gen_capture" "$work/train.pcap" "${PGO_TRAIN_MB:-200}" 7

echo "build-pgo: instrumented build" >&2
build_with "-Cprofile-generate=$work/prof"
bin="$target/release/lifecycle"
export LLVM_PROFILE_FILE="$work/prof/%p-%m.profraw"
for args in "--threads 1 --format csv" "--threads 1 --format parquet" \
    "--threads 2 --format csv"; do
    rm -rf "$work/out"
    # shellcheck disable=SC2086
    "$bin" analyze --quiet $args --out "$work/out" "$work/train.pcap"
done
"$bin" analyze "$work/train.pcap" >/dev/null
find testdata -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort | while read -r f; do
    "$bin" analyze "$f" >/dev/null 2>&1 || true
done
"$profdata" merge -o "$work/lifecycle.profdata" "$work"/prof/*.profraw

echo "build-pgo: optimised build" >&2
build_with "-Cprofile-use=$work/lifecycle.profdata -Cllvm-args=-pgo-warn-missing-function=false"
mkdir -p "$target/pgo"
cp "$bin" "$target/pgo/lifecycle"
# The next plain `cargo build --release` builds the plain binary again.
cargo clean --release -p lifecycle --quiet
echo "$target/pgo/lifecycle"
