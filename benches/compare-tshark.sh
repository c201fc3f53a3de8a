#!/usr/bin/env bash
# Decode rate of landfall against tshark on the same files: four real captures, each
# replicated to about 100k frames — Diameter (magma 32 UEs x25), GTPv2-C (open5gs testepc
# x160), GSM MAP over M3UA/SCCP/TCAP (pcapr-tmp x4000) and 5G SA (free5gc SBI over HTTP/2
# with NGAP and PFCP x400; tshark told to decode HTTP/2 on the SBI ports, as
# tests/data/sbi/make-expected.sh does). Both run on one core (taskset
# when available); best of 10 runs for landfall, 3 for tshark. Prints frames/s, MB/s and the ratio landfall/tshark
# per capture. SCALE multiplies the copies (default 1).
#   benches/compare-tshark.sh [SCALE]
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
caps=../shared/captures
[ -d "$caps" ] || { echo "no $caps: the shared captures are needed"; exit 0; }

cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/landfall
big=$(mktemp --suffix=.pcapng)
trap 'rm -f "$big"' EXIT
pin=()
command -v taskset >/dev/null && pin=(taskset -c "${PIN_CPU:-0}")

# best wall-clock seconds of N runs of a command (output discarded)
best_of() {
  local n=$1 best=""
  shift
  for _ in $(seq "$n"); do
    local t0 t1
    # bash's own clock: $(date) would add the start of a `date` process to every time,
    # milliseconds against landfall's ~30 ms runs.
    t0=$EPOCHREALTIME
    "$@" >/dev/null 2>&1
    t1=$EPOCHREALTIME
    best=$(python3 -c "import sys; a=float(sys.argv[2])-float(sys.argv[1]); b=sys.argv[3]; print(a if not b else min(a,float(b)))" "$t0" "$t1" "$best")
  done
  echo "$best"
}

report() { python3 -c "import sys; n,f,b,s=sys.argv[1:]; s=float(s); print(f'{n:<8} {int(f)/s:>12,.0f} frames/s {int(b)/s/1e6:>9.1f} MB/s  ({s:.3f} s)')" "$@"; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), pinned: ${pin[*]:-no}"
command -v tshark >/dev/null && echo "$(tshark --version 2>/dev/null | head -1)"

# name, file, copies, the tshark fields that stand for what landfall extracts
run() {
  local name=$1 file=$2 copies=$(( $3 * scale )); shift 3
  "$bin" replicate "$caps/$file" "$big" -n "$copies"
  local frames bytes
  frames=$("$bin" inspect --stats "$big" | awk '$1 == "frames" { print $2 }')
  bytes=$(stat -c %s "$big")
  echo
  echo "== $name: $copies copies of $file: $frames frames, $bytes bytes"
  local t_lf t_ts
  # landfall takes ~0.1 s per file: best of 10, so that one time slice lost to another
  # process on the pinned CPU does not decide the ratio; tshark (seconds) best of 3.
  t_lf=$(best_of 10 "${pin[@]}" "$bin" inspect --stats "$big")
  report landfall "$frames" "$bytes" "$t_lf"
  if command -v tshark >/dev/null; then
    t_ts=$(best_of 3 "${pin[@]}" tshark -r "$big" -n -T fields "$@")
    report tshark "$frames" "$bytes" "$t_ts"
    python3 -c "import sys; print(f'ratio landfall/tshark (frames/s): {float(sys.argv[2])/float(sys.argv[1]):.0f}x (target >= 100x)')" "$t_lf" "$t_ts"
  else
    echo "tshark is not installed (apt-get install tshark): no ratio"
  fi
}

run diameter magma-gx-gy-s6a-32ue.pcapng 25 \
  -e frame.number -e diameter.cmd.code -e diameter.hopbyhopid -e e212.imsi
run gtpv2 open5gs-testepc-s1-x2-handover-pathswitch-null-loopback.pcapng 160 \
  -e frame.number -e gtpv2.message_type -e gtpv2.seq -e e212.imsi -e diameter.cmd.code
run map pcapr-tmp-m3ua-map-sri-ul-isd.pcap 4000 \
  -e frame.number -e tcap.otid -e gsm_old.localValue -e e212.imsi
# free5gc's NFs serve their SBI on 29502-29518; tshark finds HTTP/2 there only when told.
free5gc=()
for p in $(seq 29502 29518); do free5gc+=(-d "tcp.port==$p,http2"); done
run sbi telekom-free5gc-ngap-sbi-pfcp-sll.pcapng 400 "${free5gc[@]}" \
  -e frame.number -e http2.headers.method -e http2.headers.path -e http2.headers.status \
  -e ngap.procedureCode
