#!/usr/bin/env bash
# Decode rate of landfall against tshark on the same file: the 32-UE magma capture
# replicated N times (default 25, about 100k frames). Both run on one core (taskset when
# available); best of 3 runs each. Prints frames/s, MB/s and the ratio landfall/tshark.
#   benches/compare-tshark.sh [COPIES]
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:-25}
src=../shared/captures/magma-gx-gy-s6a-32ue.pcapng
[ -f "$src" ] || { echo "no $src: the shared captures are needed"; exit 0; }

cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/landfall
big=$(mktemp --suffix=.pcapng)
trap 'rm -f "$big"' EXIT
"$bin" replicate "$src" "$big" -n "$copies"
# frame count as landfall decodes it (4070 per copy of the 32-UE capture)
frames=$("$bin" inspect --stats "$big" | awk '$1 == "frames" { print $2 }')
bytes=$(stat -c %s "$big")
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

# best wall-clock seconds of 3 runs of a command (output discarded)
best_of_3() {
  local best=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    best=$(python3 -c "import sys; a=float(sys.argv[2])-float(sys.argv[1]); b=sys.argv[3]; print(a if not b else min(a,float(b)))" "$t0" "$t1" "$best")
  done
  echo "$best"
}

report() { python3 -c "import sys; n,f,b,s=sys.argv[1:]; s=float(s); print(f'{n:<8} {int(f)/s:>12,.0f} frames/s {int(b)/s/1e6:>9.1f} MB/s  ({s:.3f} s)')" "$@"; }

echo "file: $copies copies of $(basename "$src"): $frames frames, $bytes bytes"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), pinned: ${pin[*]:-no}"
t_lf=$(best_of_3 "${pin[@]}" "$bin" inspect --stats "$big")
report landfall "$frames" "$bytes" "$t_lf"
if command -v tshark >/dev/null; then
  echo "$(tshark --version 2>/dev/null | head -1)"
  t_ts=$(best_of_3 "${pin[@]}" tshark -r "$big" -n -T fields -e frame.number -e diameter.cmd.code -e diameter.hopbyhopid -e e212.imsi)
  report tshark "$frames" "$bytes" "$t_ts"
  python3 -c "import sys; print(f'ratio landfall/tshark (frames/s): {float(sys.argv[2])/float(sys.argv[1]):.0f}x (target >= 100x)')" "$t_lf" "$t_ts"
else
  echo "tshark is not installed (apt-get install tshark): no ratio"
fi
