//! Decode throughput (frames/s and MB/s) on four real captures replicated to about
//! 100,000 frames each, in memory: Diameter (magma 32 UEs), GTPv2-C (open5gs testepc),
//! GSM MAP over SIGTRAN (pcapr-tmp) and 5G SA (free5gc: SBI over HTTP/2 and NGAP): capture reading, link, IP reassembly, SCTP/TCP/UDP,
//! the protocol decoders and correlation, everything `landfall replay` does before the
//! dataflow. `compare-tshark.sh` puts the same file through tshark for the ratio.
//! The replicated capture is built at setup (`landfall_testkit::replicate`, as
//! `landfall replicate` does); without the shared captures the
//! benchmark says so and measures nothing.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::{AppMessage, Decoder, DecoderConfig, Sink};
use landfall_parsers::flow::PacketMeta;
use landfall_parsers::Signal;
use landfall_testkit::replicate::{read_frames, replicate};

const COPIES: u32 = 25;

/// Counts what the decoder hands out (and keeps it observable to the optimiser).
#[derive(Default)]
struct Count {
    messages: u64,
    signals: u64,
}

impl Sink for Count {
    fn message(&mut self, meta: &PacketMeta, msg: &AppMessage<'_, '_>) {
        black_box((meta, msg));
        self.messages += 1;
    }

    fn signal(&mut self, s: Signal) {
        black_box(s);
        self.signals += 1;
    }
}

/// Decode a whole in-memory capture; returns (frames, messages counted by the decoder,
/// messages seen by the sink, signals).
/// Read in place, as `landfall` reads a mapped file; `from_bytes` wants `'static` bytes,
/// so the capture is leaked once at setup instead of copied per iteration.
fn decode(bytes: &'static [u8]) -> (u64, u64, u64, u64) {
    let mut reader = CaptureReader::from_bytes(bytes, "bench", 0).expect("capture");
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut sink = Count::default();
    while let Some(frame) = reader.next_frame() {
        decoder.push_ref(&frame.expect("frame"), &mut sink);
    }
    decoder.finish(&mut sink);
    (
        decoder.stats.frames,
        decoder.stats.message_total(),
        sink.messages,
        sink.signals,
    )
}

/// One workload: a real capture replicated `copies` times.
struct Workload {
    name: &'static str,
    file: &'static str,
    copies: u32,
}

const WORKLOADS: [Workload; 4] = [
    // Diameter S6a/Gx/Gy over SCTP, with GTP-U and IP fragments: 101,750 frames.
    Workload {
        name: "magma-32ue-x25",
        file: "magma-gx-gy-s6a-32ue.pcapng",
        copies: COPIES,
    },
    // GTPv2-C (S11/S5) and Diameter over TCP and UDP on loopback: 103,040 frames.
    Workload {
        name: "open5gs-testepc-gtpv2-x160",
        file: "open5gs-testepc-s1-x2-handover-pathswitch-null-loopback.pcapng",
        copies: 160,
    },
    // GSM MAP over M3UA/SCCP/TCAP, dialogues relayed over several links: 100,000 frames.
    Workload {
        name: "pcapr-tmp-map-x4000",
        file: "pcapr-tmp-m3ua-map-sri-ul-isd.pcap",
        copies: 4000,
    },
    // 5G SA: the SBI of a free5gc core (HTTP/2 cleartext on 29502-29518: HPACK, streams,
    // Nudm UECM/SDM/UEAU, Nausf, NRF) with NGAP over SCTP and PFCP: 100,000 frames. Each
    // copy is on its own addresses, so its TCP connections are new ones with their own
    // HPACK tables and stream ids, decoded exactly as the original's.
    Workload {
        name: "telekom-free5gc-5g-x400",
        file: "telekom-free5gc-ngap-sbi-pfcp-sll.pcapng",
        copies: 400,
    },
];

fn bench(c: &mut Criterion) {
    for w in &WORKLOADS {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/captures")
            .join(w.file);
        let Ok(original) = std::fs::read(&path) else {
            eprintln!("skipping decode benchmark: {} is absent", path.display());
            return;
        };
        let frames = read_frames(original, w.file).expect("read capture");
        let one: &'static [u8] = replicate(&frames, 1).expect("replicate").leak();
        let big: &'static [u8] = replicate(&frames, w.copies).expect("replicate").leak();
        // Check once, outside the timed loop, that the benchmark measures real decoding:
        // every copy decodes to as many frames and messages as the first.
        let (f1, m1, _, s1) = decode(one);
        let (n_frames, messages, seen, signals) = decode(big);
        let copies = u64::from(w.copies);
        assert_eq!(n_frames, f1 * copies, "{}: frames", w.name);
        assert_eq!(seen, messages, "{}: the sink saw every message", w.name);
        assert_eq!(messages, m1 * copies, "{}: messages", w.name);
        assert!(
            m1 > 0 && s1 > 0,
            "{}: the capture has messages and signals",
            w.name
        );
        if w.name == "magma-32ue-x25" {
            assert_eq!(f1, 4070);
            assert_eq!(m1, 1288, "every Diameter message decoded");
            assert_eq!(signals, 96 * copies, "ULR, AIR and PUR of 32 UEs per copy");
        }
        if w.name == "telekom-free5gc-5g-x400" {
            assert_eq!(f1, 250);
            assert_eq!(m1, 56, "every SBI request and response decoded");
            assert_eq!(
                signals,
                3 * copies,
                "the UECM attach and two auths per copy"
            );
        }

        // The same work twice, reported as frames/s and as bytes/s (of the pcapng file).
        for (unit, throughput) in [
            ("frames", Throughput::Elements(n_frames)),
            ("bytes", Throughput::Bytes(big.len() as u64)),
        ] {
            let mut g = c.benchmark_group(format!("decode-{}-{unit}", w.name));
            g.sample_size(10);
            g.warm_up_time(Duration::from_secs(1));
            g.measurement_time(Duration::from_secs(5));
            g.throughput(throughput);
            g.bench_function("read+decode", |b| b.iter(|| black_box(decode(big))));
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
