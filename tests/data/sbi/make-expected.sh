#!/bin/sh
# The tshark-made expected SBI records checked by tests/sbi_captures.rs: per frame, the
# HTTP requests (method, path) and response statuses tshark decodes in it, one line per
# frame that has any: frame<TAB>methods<TAB>paths<TAB>statuses, several values joined
# by '|' in the order of the frame. Made with tshark 4.0.17 (Debian 12), default
# preferences, HTTP/2 decoded on the SBI ports the captures use:
#   sh tests/data/sbi/make-expected.sh ../shared/captures tests/data/sbi
set -eu
captures=$1
out=$2
h2() {
  name=$1
  shift
  tshark -r "$captures/$name.pcapng" -n "$@" -Y 'http2.headers.method or http2.headers.status' \
    -T fields -E separator=/t -E aggregator='|' -E occurrence=a \
    -e frame.number -e http2.headers.method -e http2.headers.path -e http2.headers.status \
    > "$out/$name.tsv"
}
h1() {
  name=$1
  shift
  tshark -r "$captures/$name.pcapng" -n "$@" -Y 'http.request.method or http.response.code' \
    -T fields -E separator=/t -E aggregator='|' -E occurrence=a \
    -e frame.number -e http.request.method -e http.request.uri -e http.response.code \
    > "$out/$name.tsv"
}
h2 open5gs-5g-roaming-home-routed-sll -d tcp.port==7777,http2 -d tcp.port==80,http2
h2 open5gs-5g-roaming-lbo-sll -d tcp.port==7777,http2 -d tcp.port==80,http2
h2 lilyhuegerich-open5gs-5gc-4ue-ngap-sbi-sll -d tcp.port==7777,http2
free5gc=""
for p in $(seq 29502 29518); do free5gc="$free5gc -d tcp.port==$p,http2"; done
# shellcheck disable=SC2086
h2 telekom-free5gc-ngap-sbi-pfcp-sll $free5gc
h1 open5gs-5g-testregistration-http1-sbi-sll
