use super::*;
use crate::flow::Endpoint;
use crate::flow::{FlowKey, PacketMeta};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Test framing: `0xA5`, a u16 total length, then the body (bodies never hold 0xA5).
struct TestFramer;

impl Framer for TestFramer {
    fn frame(&self, buf: &[u8]) -> Framing {
        match buf {
            [] => Framing::Incomplete,
            [m, ..] if *m != 0xA5 => Framing::Invalid,
            [_, h, l, ..] => {
                let n = usize::from(u16::from_be_bytes([*h, *l]));
                if n < 3 {
                    Framing::Invalid
                } else {
                    Framing::Message(n)
                }
            }
            _ => Framing::Incomplete,
        }
    }
    fn resync(&self, buf: &[u8]) -> Option<usize> {
        buf.iter().position(|&b| b == 0xA5)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Msg(Vec<u8>),
    Gap(u64),
    Skip(u64),
}

fn flow() -> FlowKey {
    FlowKey {
        src: Endpoint {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 40000,
        },
        dst: Endpoint {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: 3868,
        },
    }
}

/// A test message: id selects the body byte (never 0xA5), len the total length.
fn msg(id: u8, len: u8) -> Vec<u8> {
    let len = len.max(3);
    let mut m = vec![0xA5, 0, len];
    m.resize(usize::from(len), b'a' + id % 26);
    m
}

fn seg(seq: u32, flags: TcpFlags) -> TcpRepr {
    TcpRepr {
        src_port: 40000,
        dst_port: 3868,
        seq,
        ack: 1,
        flags,
        window: 1000,
        urgent: 0,
    }
}

/// Cut `stream` (first byte at `seq0`) at the given points into (seq, bytes).
fn cut(stream: &[u8], seq0: u32, points: &[usize]) -> Vec<(u32, Vec<u8>)> {
    let mut pts: Vec<usize> = points.iter().map(|p| p % (stream.len() + 1)).collect();
    pts.push(0);
    pts.push(stream.len());
    pts.sort_unstable();
    pts.dedup();
    pts.windows(2)
        .map(|w| (seq0.wrapping_add(w[0] as u32), stream[w[0]..w[1]].to_vec()))
        .collect()
}

struct Run {
    r: TcpReassembler,
    ev: Vec<Ev>,
    frames: Vec<u64>,
    frame: u64,
}

impl Run {
    fn new(cfg: TcpConfig) -> Run {
        Run {
            r: TcpReassembler::new(cfg),
            ev: Vec::new(),
            frames: Vec::new(),
            frame: 0,
        }
    }
    fn push_flags(&mut self, seq: u32, flags: TcpFlags, payload: &[u8]) {
        self.frame += 1;
        let meta = PacketMeta {
            file: 0,
            frame: self.frame,
            ts_us: self.frame as i64 * 1000,
        };
        let (ev, frames) = (&mut self.ev, &mut self.frames);
        self.r.push(
            &meta,
            flow(),
            &seg(seq, flags),
            payload,
            &TestFramer,
            &mut |e| match e {
                TcpEvent::Message { data, meta, .. } => {
                    ev.push(Ev::Msg(data.to_vec()));
                    frames.push(meta.frame);
                }
                TcpEvent::Gap { missing, .. } => ev.push(Ev::Gap(missing)),
                TcpEvent::Skipped { bytes, .. } => ev.push(Ev::Skip(bytes)),
            },
        );
    }
    fn push(&mut self, seq: u32, payload: &[u8]) {
        self.push_flags(seq, TcpFlags::ACK | TcpFlags::PSH, payload);
    }
    fn finish(&mut self) {
        let ev = &mut self.ev;
        self.r.finish(&TestFramer, &mut |e| match e {
            TcpEvent::Message { data, .. } => ev.push(Ev::Msg(data.to_vec())),
            TcpEvent::Gap { missing, .. } => ev.push(Ev::Gap(missing)),
            TcpEvent::Skipped { bytes, .. } => ev.push(Ev::Skip(bytes)),
        });
    }
}

fn msgs(ms: &[Vec<u8>]) -> Vec<Ev> {
    ms.iter().cloned().map(Ev::Msg).collect()
}

#[test]
fn repr_round_trip_with_checksum_v4_v6() {
    let r = TcpRepr {
        src_port: 3868,
        dst_port: 51000,
        seq: 0xdead_beef,
        ack: 7,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 65535,
        urgent: 0,
    };
    let v4 = (
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)),
    );
    let v6 = (
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
    );
    for (src, dst) in [v4, v6] {
        for payload in [&b""[..], b"odd", b"even"] {
            let bytes = r.emit(src, dst, payload);
            let (back, p) = TcpRepr::parse(&bytes).unwrap();
            assert_eq!((back, p), (r, payload));
            let view = TcpPacket::new_checked(&bytes[..]).unwrap();
            assert!(view.verify_checksum(src, dst));
            assert!(!view.verify_checksum(dst, IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        }
    }
}

#[test]
fn known_checksum() {
    // SYN 10.0.0.1:40000 -> 10.0.0.2:3868, seq 1, computed independently (RFC 1071 sum).
    let r = TcpRepr {
        src_port: 40000,
        dst_port: 3868,
        seq: 1,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 0,
        urgent: 0,
    };
    let b = r.emit(flow().src.addr, flow().dst.addr, &[]);
    // words: 0a00 0001 0a00 0002 0006 0014 | 9c40 0f1c 0000 0001 0000 0000 5002 0000 0000 0000
    let sum: u32 = [
        0x0a00u32, 1, 0x0a00, 2, 6, 0x14, 0x9c40, 0x0f1c, 0, 1, 0, 0, 0x5002, 0, 0, 0,
    ]
    .iter()
    .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    assert_eq!(u16::from_be_bytes([b[16], b[17]]), !(folded as u16));
}

#[test]
fn parse_skips_options_and_rejects_bad_offsets() {
    let r = seg(5, TcpFlags::ACK);
    let mut b = r.emit(flow().src.addr, flow().dst.addr, b"");
    b[12] = 8 << 4; // 12 bytes of options
    b.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    b.extend_from_slice(b"data");
    let (back, p) = TcpRepr::parse(&b).unwrap();
    assert_eq!(back, r);
    assert_eq!(p, b"data");
    assert_eq!(TcpPacket::new_checked(&b[..]).unwrap().options().len(), 12);

    assert_eq!(
        TcpRepr::parse(&b[..19]).unwrap_err().reason,
        "segment shorter than the 20-byte header"
    );
    let mut bad = b.clone();
    bad[12] = 4 << 4;
    assert_eq!(TcpRepr::parse(&bad).unwrap_err().offset, 12);
    bad[12] = 15 << 4;
    assert!(TcpRepr::parse(&bad).is_err());
}

#[test]
fn three_messages_in_one_segment() {
    let ms = [msg(0, 10), msg(1, 20), msg(2, 3)];
    let mut run = Run::new(TcpConfig::default());
    run.push(100, &ms.concat());
    assert_eq!(run.ev, msgs(&ms));
    assert_eq!(run.r.buffered(&flow()), 0);
}

#[test]
fn message_split_over_three_segments() {
    let ms = [msg(0, 100), msg(1, 7)];
    let stream = ms.concat();
    let mut run = Run::new(TcpConfig::default());
    for (seq, p) in cut(&stream, 1000, &[1, 40]) {
        run.push(seq, &p);
    }
    assert_eq!(run.ev, msgs(&ms));
    // Both messages are completed by the third segment.
    assert_eq!(run.frames, vec![3, 3]);
}

#[test]
fn data_in_syn_counts() {
    let mut run = Run::new(TcpConfig::default());
    let m = msg(3, 12);
    run.push_flags(7, TcpFlags::SYN, &m);
    run.push(8, &m); // retransmission of the SYN's data as a plain segment
    run.push(8 + 12, &msg(4, 5));
    assert_eq!(run.ev, msgs(&[m, msg(4, 5)]));
    assert_eq!(run.r.stats().retransmissions, 1);
}

#[test]
fn mid_stream_start_resyncs() {
    let mut run = Run::new(TcpConfig::default());
    let m1 = msg(0, 30);
    let m2 = msg(1, 8);
    let stream = [&m1[12..], &m2[..]].concat(); // capture starts inside m1
    run.push(5000, &stream);
    assert_eq!(run.ev, vec![Ev::Skip(18), Ev::Msg(m2)]);
}

#[test]
fn fin_and_rst_free_the_flow() {
    let mut run = Run::new(TcpConfig::default());
    run.push_flags(0, TcpFlags::SYN, b"");
    assert_eq!(run.r.flow_count(), 1);
    run.push_flags(1, TcpFlags::FIN | TcpFlags::ACK, &msg(0, 9));
    assert_eq!(run.r.flow_count(), 0);
    assert_eq!(run.ev, msgs(&[msg(0, 9)]));
    run.push(50, &msg(1, 4)[..2]);
    run.push_flags(52, TcpFlags::RST, b"");
    assert_eq!(run.r.flow_count(), 0);
    assert_eq!(run.ev.last(), Some(&Ev::Skip(2)));
    assert_eq!(run.r.stats().closed, 2);
}

#[test]
fn gap_then_resync() {
    let cfg = TcpConfig {
        max_hole_segments: 2,
        ..TcpConfig::default()
    };
    let ms: Vec<Vec<u8>> = (0..6).map(|i| msg(i, 20)).collect();
    let stream = ms.concat();
    // Segments: [0..30) [30..50) lost, [50..70) [70..90) [90..110) [110..120)
    let segs = cut(&stream, 0, &[30, 50, 70, 90, 110]);
    let mut run = Run::new(cfg);
    for (i, (seq, p)) in segs.iter().enumerate() {
        if i != 1 {
            run.push(*seq, p);
        }
    }
    // m0 delivered; m1's first 10 bytes dropped; 20 bytes lost (m1's tail, m2's head);
    // m2's tail is not a message start (10 bytes skipped); then m3.. delivered.
    assert_eq!(
        run.ev,
        vec![
            Ev::Msg(ms[0].clone()),
            Ev::Skip(10),
            Ev::Gap(20),
            Ev::Skip(10),
            Ev::Msg(ms[3].clone()),
            Ev::Msg(ms[4].clone()),
            Ev::Msg(ms[5].clone()),
        ]
    );
    let st = run.r.stats();
    assert_eq!((st.gaps, st.gap_bytes), (1, 20));
}

#[test]
fn hole_times_out_in_capture_time() {
    let cfg = TcpConfig {
        hole_timeout_us: 1500,
        ..TcpConfig::default()
    };
    let mut run = Run::new(cfg);
    let (a, c) = (msg(0, 10), msg(2, 10));
    run.push(0, &a);
    run.push(20, &c); // msg 1 (offset 10..20) missing; frame 2 at 2 ms
    assert_eq!(run.ev, msgs(std::slice::from_ref(&a)));
    run.push(20, &c); // frame 3 at 3 ms: only 1 ms old, still waiting
    assert_eq!(run.ev.len(), 1);
    run.push(30, &msg(3, 10)); // frame 4 at 4 ms: 2 ms > 1.5 ms
    assert_eq!(
        run.ev,
        vec![Ev::Msg(a), Ev::Gap(10), Ev::Msg(c), Ev::Msg(msg(3, 10))]
    );
}

#[test]
fn seq_wraps_around() {
    let isn = u32::MAX - 25;
    let ms: Vec<Vec<u8>> = (0..5).map(|i| msg(i, 15)).collect();
    let stream = ms.concat();
    let segs = cut(&stream, isn.wrapping_add(1), &[7, 22, 40, 41, 60]);
    let mut run = Run::new(TcpConfig::default());
    run.push_flags(isn, TcpFlags::SYN, b"");
    // Deliver out of order across the wrap: last first, then the rest.
    let (last, rest) = segs.split_last().unwrap();
    run.push(last.0, &last.1);
    for (seq, p) in rest.iter().rev() {
        run.push(*seq, p);
    }
    assert_eq!(run.ev, msgs(&ms));
}

#[test]
fn memory_bound_respected() {
    let cfg = TcpConfig {
        max_buffered: 1000,
        max_hole_segments: 10_000,
        ..TcpConfig::default()
    };
    let mut run = Run::new(cfg);
    run.push(0, &msg(0, 10));
    // A hole at 10..20, then 100 segments of 50 bytes beyond it.
    let mut max_seen = 0;
    for i in 0..100u32 {
        run.push(20 + i * 50, &[b'z'; 50]);
        max_seen = max_seen.max(run.r.buffered(&flow()));
    }
    assert!(max_seen <= 1000, "buffered {max_seen}");
    assert!(run.r.stats().gaps >= 1);

    // A framer-announced message longer than the bound is skipped, not buffered forever.
    let mut run = Run::new(TcpConfig {
        max_buffered: 100,
        ..TcpConfig::default()
    });
    run.push(0, &[0xA5, 0x10, 0x00]); // claims 4096 bytes
    for i in 0..10u32 {
        run.push(3 + i * 50, &[b'q'; 50]);
        assert!(run.r.buffered(&flow()) <= 100);
    }
    assert!(run.ev.iter().all(|e| matches!(e, Ev::Skip(_))));
    assert_eq!(run.r.stats().skipped_bytes, 503);
}

#[test]
fn flow_cap_evicts_oldest() {
    let mut r = TcpReassembler::new(TcpConfig {
        max_flows: 4,
        ..TcpConfig::default()
    });
    let mut out = |_: TcpEvent<'_>| {};
    for port in 0..10u16 {
        let mut f = flow();
        f.src.port = port;
        let meta = PacketMeta {
            file: 0,
            frame: u64::from(port),
            ts_us: i64::from(port),
        };
        r.push(
            &meta,
            f,
            &seg(0, TcpFlags::ACK),
            &[0xA5, 0],
            &TestFramer,
            &mut out,
        );
        assert!(r.flow_count() <= 4);
    }
    assert_eq!(r.stats().evicted, 6);
    let mut newest = flow();
    newest.src.port = 9;
    assert_eq!(r.buffered(&newest), 2);
}

#[test]
fn finish_delivers_past_holes() {
    let mut run = Run::new(TcpConfig::default());
    run.push(0, &msg(0, 10));
    run.push(20, &[msg(2, 10), msg(3, 6)[..4].to_vec()].concat());
    assert_eq!(run.ev.len(), 1);
    run.finish();
    assert_eq!(
        run.ev,
        vec![
            Ev::Msg(msg(0, 10)),
            Ev::Gap(10),
            Ev::Msg(msg(2, 10)),
            Ev::Skip(4)
        ]
    );
    assert_eq!(run.r.flow_count(), 0);
}

fn messages_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec((0u8..26, 3u8..120), 1..12)
        .prop_map(|v| v.into_iter().map(|(id, len)| msg(id, len)).collect())
}

proptest! {
    #[test]
    fn repr_round_trips(
        src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8, window: u16, urgent: u16,
        payload in prop::collection::vec(any::<u8>(), 0..64),
        v6: bool, a: [u8; 16], b: [u8; 16],
    ) {
        let r = TcpRepr { src_port, dst_port, seq, ack, flags: TcpFlags(flags), window, urgent };
        let (src, dst) = if v6 {
            (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))
        } else {
            (IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
        };
        let bytes = r.emit(src, dst, &payload);
        let (back, p) = TcpRepr::parse(&bytes).unwrap();
        prop_assert_eq!(back, r);
        prop_assert_eq!(p, &payload[..]);
        prop_assert!(TcpPacket::new_checked(&bytes[..]).unwrap().verify_checksum(src, dst));
    }

    #[test]
    fn shuffled_and_duplicated_segments_give_each_message_once_in_order(
        ms in messages_strategy(),
        points in prop::collection::vec(any::<usize>(), 0..20),
        retrans in prop::collection::vec((any::<usize>(), any::<usize>()), 0..8),
        order in any::<u64>(),
        isn: u32,
        syn: bool,
    ) {
        let stream = ms.concat();
        let first = if syn { isn.wrapping_add(1) } else { isn };
        let mut segs = cut(&stream, first, &points);
        // Overlapping retransmissions: arbitrary sub-ranges of the stream.
        for (a, b) in retrans {
            let (a, b) = (a % stream.len(), b % stream.len());
            let (lo, hi) = (a.min(b), a.max(b) + 1);
            segs.push((first.wrapping_add(lo as u32), stream[lo..hi].to_vec()));
        }
        // A deterministic shuffle, keeping the first segment first (the stream start
        // must be seen first when there is no SYN).
        let mut rng = order;
        for i in (2..segs.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = 1 + (rng >> 33) as usize % i;
            segs.swap(i, j);
        }
        let mut run = Run::new(TcpConfig::default());
        if syn {
            run.push_flags(isn, TcpFlags::SYN, b"");
        }
        for (seq, p) in &segs {
            run.push(*seq, p);
        }
        prop_assert_eq!(run.ev.clone(), msgs(&ms));
        prop_assert_eq!(run.r.buffered(&flow()), 0);
    }

    #[test]
    fn no_panic_on_random_input(
        bytes in prop::collection::vec(any::<u8>(), 0..80),
        segs in prop::collection::vec(
            (any::<u32>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..200), 0u16..3),
            0..40,
        ),
    ) {
        let _ = TcpRepr::parse(&bytes);
        if let Ok(p) = TcpPacket::new_checked(&bytes[..]) {
            let _ = (p.options(), p.payload(), p.verify_checksum(flow().src.addr, flow().dst.addr));
        }
        let cfg = TcpConfig { max_buffered: 300, max_hole_segments: 5, hole_timeout_us: 3000, max_flows: 2 };
        let mut r = TcpReassembler::new(cfg);
        for (i, (seq, flags, payload, port)) in segs.iter().enumerate() {
            let mut f = flow();
            f.src.port = *port;
            let meta = PacketMeta { file: 0, frame: i as u64, ts_us: i as i64 * 1000 };
            let mut total = 0usize;
            r.push(&meta, f, &seg(*seq % 1000, TcpFlags(*flags)), payload, &TestFramer, &mut |e| {
                if let TcpEvent::Message { data, .. } = e {
                    total += data.len();
                }
            });
            prop_assert!(r.buffered(&f) <= 300 + 200);
            prop_assert!(r.flow_count() <= 2);
        }
        r.finish(&TestFramer, &mut |_| {});
    }
}

#[test]
fn a_syn_with_the_same_isn_after_data_is_a_new_connection() {
    let mut run = Run::new(TcpConfig::default());
    let m = msg(1, 8);
    run.push_flags(99, TcpFlags::SYN, b"");
    run.push_flags(99, TcpFlags::SYN, b""); // retransmitted before any data: the same
    run.push(100, &m);
    // The same bytes again from a new connection that happens to reuse the ISN (a capture
    // replayed, a stack with a fixed ISN): delivered again, not taken as retransmission.
    run.push_flags(99, TcpFlags::SYN, b"");
    run.push(100, &m);
    run.finish();
    assert_eq!(run.ev, msgs(&[m.clone(), m]));
}

#[test]
fn messages_past_a_gap_keep_the_packets_they_came_in() {
    let cfg = TcpConfig {
        max_hole_segments: 1,
        ..TcpConfig::default()
    };
    let mut run = Run::new(cfg);
    let (a, c, d, e) = (msg(0, 10), msg(2, 10), msg(3, 10), msg(4, 10));
    run.push(0, &a); // frame 1
    run.push(20, &c); // frame 2: msg 1 (offset 10..20) never captured
    run.push(30, &d); // frame 3
    run.push(40, &e); // frame 4: two segments past the hole, it is given up
    assert_eq!(
        run.ev,
        vec![Ev::Msg(a), Ev::Gap(10), Ev::Msg(c), Ev::Msg(d), Ev::Msg(e)]
    );
    // Each message was complete in its own packet, not in the one that ended the wait.
    assert_eq!(run.frames, vec![1, 2, 3, 4]);
}
