#!/bin/sh
# The tshark-made expected NGAP records checked by tests/ngap_captures.rs: one line per
# frame with NGAP, several PDUs of a frame (SCTP bundling) joined by '|' in their order:
# frame<TAB>pdu (0 initiating, 1 successful, 2 unsuccessful)<TAB>procedureCode<TAB>
# RAN-UE-NGAP-ID<TAB>AMF-UE-NGAP-ID<TAB>NR-CGI MCC<TAB>MNC<TAB>NR cell identity<TAB>
# 5GS TAI MCC<TAB>MNC<TAB>TAC. Made with tshark 4.0.17 (Debian 12), default preferences
# (NGAP on SCTP PPID 60):
#   sh tests/data/ngap/make-expected.sh ../shared/captures tests/data/ngap
set -eu
captures=$1
out=$2
for name in telekom-free5gc-ngap-sbi-pfcp-sll lilyhuegerich-open5gs-5gc-4ue-ngap-sbi-sll \
  open5gs-5g-roaming-home-routed-sll open5gs-5g-roaming-lbo-sll; do
  tshark -r "$captures/$name.pcapng" -n -Y ngap \
    -T fields -E separator=/t -E aggregator='|' -E occurrence=a \
    -e frame.number -e ngap.NGAP_PDU -e ngap.procedureCode \
    -e ngap.RAN_UE_NGAP_ID -e ngap.AMF_UE_NGAP_ID \
    -e e212.nrcgi.mcc -e e212.nrcgi.mnc -e ngap.NRCellIdentity \
    -e e212.5gstai.mcc -e e212.5gstai.mnc -e ngap.tAC \
    > "$out/$name.tsv"
done
