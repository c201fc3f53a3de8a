use super::*;
use crate::flow::Endpoint;
use crate::flow::{FlowKey, PacketMeta};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

/// A real packet (magma-gx-gy-s6a-1ue.pcapng): one DATA chunk, B+E, PPID 46 (Diameter)
/// carrying a Device-Watchdog-Request, with a correct CRC32c.
const REAL: &str = "0f430f1cb59730b2434561f900030050b61ea9de0000022c0000002e0100004080000118000000004d8db8f39fbb2d5f000001084000000e737472696e670000000001284000000e737472696e670000000001164000000c60920884";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn flow() -> FlowKey {
    FlowKey {
        src: Endpoint {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 3868,
        },
        dst: Endpoint {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: 3868,
        },
    }
}

fn data(tsn: u32, stream_id: u16, begin: bool, end: bool, payload: &[u8]) -> DataChunk<'_> {
    DataChunk {
        unordered: false,
        begin,
        end,
        immediate: false,
        tsn,
        stream_id,
        ssn: 0,
        ppid: 46,
        i_data: None,
        payload,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    frame: u64,
    stream: u16,
    ppid: u32,
    data: Vec<u8>,
}

struct Run {
    r: SctpReassembler,
    got: Vec<Got>,
}

impl Run {
    fn new(cfg: SctpConfig) -> Run {
        Run {
            r: SctpReassembler::new(cfg),
            got: Vec::new(),
        }
    }
    fn push(&mut self, frame: u64, vtag: u32, c: &DataChunk<'_>) {
        let meta = PacketMeta {
            file: 0,
            frame,
            ts_us: frame as i64 * 1_000_000,
        };
        let got = &mut self.got;
        self.r.push(&meta, flow(), vtag, c, &mut |m| {
            got.push(Got {
                frame: m.meta.frame,
                stream: m.stream,
                ppid: m.ppid,
                data: m.data.to_vec(),
            })
        });
    }
}

#[test]
fn real_packet_parses_and_checksum_verifies() {
    let b = unhex(REAL);
    let p = SctpPacket::new_checked(&b).unwrap();
    assert!(p.verify_checksum());
    let (h, mut chunks) = SctpPacket::parse(&b).unwrap();
    assert_eq!((h.src_port, h.dst_port, h.vtag), (3907, 3868, 0xb59730b2));
    let Some(Ok(Chunk::Data(d))) = chunks.next() else {
        panic!("no DATA chunk")
    };
    assert!(d.begin && d.end && !d.unordered);
    assert_eq!(
        (d.tsn, d.stream_id, d.ssn, d.ppid),
        (0xb61ea9de, 0, 556, 46)
    );
    assert_eq!(d.payload.len(), 64);
    assert_eq!(&d.payload[..4], &[1, 0, 0, 0x40]); // Diameter v1, length 64
    assert!(chunks.next().is_none());
    // Emitting what was parsed gives the same bytes, checksum included.
    assert_eq!(SctpRepr::parse(&b).unwrap().emit(), b);
}

#[test]
fn bundled_emit_parse_round_trip_with_padding() {
    let sack = [0u8, 0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 0];
    let repr = SctpRepr {
        src_port: 2905,
        dst_port: 2905,
        vtag: 0x01020304,
        chunks: vec![
            Chunk::Other {
                kind: CHUNK_SACK,
                flags: 0,
                value: &sack,
            },
            Chunk::Data(data(7, 1, true, true, b"abcde")),
            Chunk::Data(DataChunk {
                unordered: true,
                immediate: true,
                ..data(8, 2, true, false, b"xy")
            }),
            Chunk::Data(DataChunk {
                ppid: 0,
                i_data: Some(IData { mid: 9, fsn: 3 }),
                ..data(9, 3, false, true, b"idata")
            }),
            Chunk::Other {
                kind: 4,
                flags: 0,
                value: b"hb!",
            },
        ],
    };
    let b = repr.emit();
    assert_eq!(b.len() % 4, 0);
    assert!(SctpPacket::new_checked(&b).unwrap().verify_checksum());
    assert_eq!(SctpRepr::parse(&b).unwrap(), repr);
    let mut corrupted = b.clone();
    corrupted[20] ^= 1;
    assert!(!SctpPacket::new_checked(&corrupted)
        .unwrap()
        .verify_checksum());
}

#[test]
fn bad_chunk_length_yields_error_and_stops() {
    let repr = SctpRepr {
        src_port: 1,
        dst_port: 2,
        vtag: 3,
        chunks: vec![
            Chunk::Data(data(1, 0, true, true, b"abcd")),
            Chunk::Other {
                kind: 6,
                flags: 0,
                value: b"",
            },
        ],
    };
    let good = repr.emit();
    for bad_len in [0u16, 3, 200] {
        let mut b = good.clone();
        b[34..36].copy_from_slice(&bad_len.to_be_bytes()); // second chunk at 12 + 20
        let (_, it) = SctpPacket::parse(&b).unwrap();
        let items: Vec<_> = it.collect();
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(items[0].is_ok());
        assert_eq!(items[1].unwrap_err().offset, 34);
        assert!(SctpRepr::parse(&b).is_err());
    }
    // A DATA chunk too short to hold its fields.
    let mut b = good.clone();
    b[14..16].copy_from_slice(&12u16.to_be_bytes());
    let (_, mut it) = SctpPacket::parse(&b).unwrap();
    assert_eq!(
        it.next().unwrap().unwrap_err().reason,
        "DATA chunk shorter than 16 bytes"
    );
    assert!(it.next().is_none());
    assert!(SctpPacket::parse(&b[..11]).is_err());
    // A trailing partial chunk header.
    let mut b = good[..32].to_vec();
    b.extend_from_slice(&[6, 0]);
    let items: Vec<_> = SctpPacket::parse(&b).unwrap().1.collect();
    assert!(items[0].is_ok() && items[1].is_err());
}

#[test]
fn fragmented_message_in_three_chunks_any_order() {
    let parts: [&[u8]; 3] = [b"first-", b"second-", b"third"];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let mut run = Run::new(SctpConfig::default());
        let base = u32::MAX - 1; // the TSNs wrap: MAX-1, MAX, 0
        for (n, &i) in order.iter().enumerate() {
            let c = data(base.wrapping_add(i as u32), 4, i == 0, i == 2, parts[i]);
            run.push(10 + n as u64, 0xabc, &c);
        }
        assert_eq!(
            run.got,
            vec![Got {
                frame: 12,
                stream: 4,
                ppid: 46,
                data: b"first-second-third".to_vec()
            }],
            "order {order:?}"
        );
        assert_eq!(run.r.pending_bytes(), 0);
        let st = run.r.stats();
        assert_eq!((st.fragments, st.reassembled, st.delivered), (3, 1, 1));
    }
}

#[test]
fn duplicate_tsns_are_delivered_once() {
    let mut run = Run::new(SctpConfig::default());
    let whole = data(100, 0, true, true, b"whole");
    run.push(1, 7, &whole);
    run.push(2, 7, &whole); // the same packet captured on the next hop
    let (a, b) = (
        data(101, 0, true, false, b"ab"),
        data(102, 0, false, true, b"cd"),
    );
    run.push(3, 7, &a);
    run.push(4, 7, &a);
    run.push(5, 7, &b);
    run.push(6, 7, &b);
    run.push(7, 7, &whole);
    assert_eq!(
        run.got.iter().map(|g| g.data.clone()).collect::<Vec<_>>(),
        vec![b"whole".to_vec(), b"abcd".to_vec()]
    );
    assert_eq!(run.r.stats().duplicates, 4);
    // Another verification tag is another association: same TSN is new there.
    run.push(8, 8, &whole);
    assert_eq!(run.got.len(), 3);
    // Far behind the window: taken as a late retransmission.
    run.push(9, 7, &data(100 + 2 * TSN_WINDOW, 0, true, true, b"ahead"));
    run.push(10, 7, &data(150, 0, true, true, b"late"));
    assert_eq!(run.got.last().unwrap().data, b"ahead");
}

#[test]
fn bundled_data_chunks_each_delivered() {
    let repr = SctpRepr {
        src_port: 3868,
        dst_port: 3868,
        vtag: 42,
        chunks: vec![
            Chunk::Other {
                kind: CHUNK_SACK,
                flags: 0,
                value: &[0; 12],
            },
            Chunk::Data(data(1, 0, true, true, b"one")),
            Chunk::Data(data(2, 1, true, true, b"two!")),
            Chunk::Data(data(3, 0, true, true, b"three")),
        ],
    };
    let bytes = repr.emit();
    let (h, chunks) = SctpPacket::parse(&bytes).unwrap();
    let mut run = Run::new(SctpConfig::default());
    for c in chunks {
        if let Chunk::Data(d) = c.unwrap() {
            run.push(1, h.vtag, &d);
        }
    }
    let got: Vec<(u16, Vec<u8>)> = run.got.iter().map(|g| (g.stream, g.data.clone())).collect();
    assert_eq!(
        got,
        vec![
            (0, b"one".to_vec()),
            (1, b"two!".to_vec()),
            (0, b"three".to_vec())
        ]
    );
}

#[test]
fn interrupted_message_is_not_glued_to_the_next() {
    let mut run = Run::new(SctpConfig::default());
    run.push(1, 1, &data(10, 0, true, false, b"lost-start"));
    // TSN 11 (the end of that message) never arrives; the next message starts at 12.
    run.push(2, 1, &data(13, 0, false, true, b"B"));
    run.push(3, 1, &data(12, 0, true, false, b"A"));
    assert_eq!(run.got.len(), 1);
    assert_eq!(run.got[0].data, b"AB");
    assert_eq!(run.r.pending_bytes(), 10);
}

#[test]
fn idata_fragments_reassembled_by_fsn() {
    let mut run = Run::new(SctpConfig::default());
    let frag = |tsn, mid, fsn: u32, end, p: &'static [u8]| DataChunk {
        ppid: if fsn == 0 { 5 } else { 0 },
        i_data: Some(IData { mid, fsn }),
        ..data(tsn, 2, fsn == 0, end, p)
    };
    // Two messages interleaved on one stream, fragments out of order.
    run.push(1, 9, &frag(3, 1, 2, true, b"3"));
    run.push(2, 9, &frag(4, 2, 0, false, b"x"));
    run.push(3, 9, &frag(1, 1, 0, false, b"1"));
    run.push(4, 9, &frag(5, 2, 1, true, b"y"));
    run.push(5, 9, &frag(2, 1, 1, false, b"2"));
    let got: Vec<(u64, u32, Vec<u8>)> = run
        .got
        .iter()
        .map(|g| (g.frame, g.ppid, g.data.clone()))
        .collect();
    assert_eq!(got, vec![(4, 5, b"xy".to_vec()), (5, 5, b"123".to_vec())]);
    assert_eq!(run.r.pending_bytes(), 0);
}

#[test]
fn pending_bytes_bounded_and_stale_fragments_expire() {
    let cfg = SctpConfig {
        max_pending_bytes: 1000,
        fragment_timeout_us: 5_000_000,
        max_assocs: 16,
    };
    let mut run = Run::new(cfg);
    for i in 0..100u32 {
        // Only B fragments: none can complete.
        run.push(
            u64::from(i / 10),
            1,
            &data(i * 2, 0, true, false, &[0u8; 100]),
        );
        assert!(run.r.pending_bytes() <= 1000 + 100);
    }
    assert!(run.r.stats().dropped > 0);
    // 20 s later all that is left is stale and goes with the next fragment.
    run.push(30, 1, &data(1000, 0, true, false, b"new"));
    assert_eq!(run.r.pending_bytes(), 3);
}

proptest! {
    /// The window with its inline start answers every insert as the ring alone does,
    /// for TSN runs with small steps back and forth, jumps, wrap-around, and replays
    /// of TSNs seen earlier (retransmissions, near and far behind).
    #[test]
    fn tsn_window_equals_the_ring_alone(
        start in any::<u32>(),
        steps in proptest::collection::vec(
            prop_oneof![
                6 => (-40i64..60).prop_map(Ok),
                1 => (-5000i64..5000).prop_map(Ok),
                1 => proptest::num::i64::ANY.prop_map(Ok),
                3 => any::<proptest::sample::Index>().prop_map(Err),
            ],
            1..400,
        ),
    ) {
        let mut w = TsnWindow::new();
        let mut ring = Ring::new();
        let mut hi: Option<u32> = None;
        let mut tsn = start;
        let mut seen: Vec<u32> = Vec::new();
        for step in steps {
            let t = match step {
                Ok(d) => {
                    tsn = tsn.wrapping_add(d as u32);
                    tsn
                }
                Err(i) if !seen.is_empty() => seen[i.index(seen.len())],
                Err(_) => tsn,
            };
            seen.push(t);
            let want = match hi {
                None => {
                    ring.set(t, true);
                    hi = Some(t);
                    true
                }
                Some(h) => {
                    let (new, h) = ring.insert(h, t);
                    hi = Some(h);
                    new
                }
            };
            prop_assert_eq!(w.insert(t), want, "tsn {}", t);
        }
    }
}

#[test]
fn association_cap_evicts_oldest() {
    let mut run = Run::new(SctpConfig {
        max_assocs: 3,
        ..SctpConfig::default()
    });
    for vtag in 0..10u32 {
        run.push(u64::from(vtag), vtag, &data(1, 0, true, false, b"frag"));
        assert!(run.r.assoc_count() <= 3);
    }
    let st = run.r.stats();
    assert_eq!((st.evicted, st.dropped), (7, 7));
}

/// The directions kept after an eviction are the ones with the largest `(last, key)`,
/// also when several were last seen in the same frame (the packed selection ties).
#[test]
fn eviction_keeps_the_latest_by_last_and_key() {
    for per_frame in [1u32, 4, 16] {
        let mut run = Run::new(SctpConfig {
            max_assocs: 16,
            ..SctpConfig::default()
        });
        for vtag in 0..16u32 {
            run.push(
                u64::from(vtag / per_frame),
                vtag,
                &data(1, 0, true, true, b"x"),
            );
        }
        let mut all: Vec<(PacketMeta, AssocKey)> =
            run.r.dirs.iter().map(|(k, d)| (d.last, *k)).collect();
        all.sort();
        run.push(100, 99, &data(1, 0, true, true, b"x"));
        let mut kept: Vec<AssocKey> = run.r.dirs.keys().copied().collect();
        kept.sort();
        let mut want: Vec<AssocKey> = all.iter().skip(4).map(|(_, k)| *k).collect();
        want.push(AssocKey {
            src_port: 3868,
            dst_port: 3868,
            vtag: 99,
        });
        want.sort();
        assert_eq!(kept, want, "{per_frame} directions per frame");
    }
}

fn chunk_strategy(
) -> impl Strategy<Value = (u8, bool, bool, bool, bool, u32, u16, u16, u32, Vec<u8>)> {
    (
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u32>(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..40),
    )
}

proptest! {
    #[test]
    fn repr_round_trips(
        src_port: u16, dst_port: u16, vtag: u32,
        specs in prop::collection::vec(chunk_strategy(), 1..6),
        sack in prop::collection::vec(any::<u8>(), 0..30),
        sack_at in any::<prop::sample::Index>(),
    ) {
        let mut chunks: Vec<Chunk<'_>> = specs
            .iter()
            .map(|(kind, u, b, e, i, tsn, sid, ssn, ppid, payload)| {
                let idata = *kind == 2;
                let mut c = DataChunk {
                    unordered: *u, begin: *b, end: *e, immediate: *i, tsn: *tsn, stream_id: *sid,
                    ssn: *ssn, ppid: *ppid, i_data: None, payload,
                };
                if idata {
                    c.ssn = 0;
                    c.i_data = Some(IData { mid: *ppid ^ 0x5555, fsn: if *b { 0 } else { *tsn } });
                    if !*b {
                        c.ppid = 0;
                    }
                }
                Chunk::Data(c)
            })
            .collect();
        chunks.insert(sack_at.index(chunks.len() + 1), Chunk::Other { kind: CHUNK_SACK, flags: 0, value: &sack });
        let repr = SctpRepr { src_port, dst_port, vtag, chunks };
        let bytes = repr.emit();
        prop_assert!(SctpPacket::new_checked(&bytes).unwrap().verify_checksum());
        prop_assert_eq!(SctpRepr::parse(&bytes).unwrap(), repr);
    }

    #[test]
    fn reassembly_of_shuffled_fragments(
        msgs in prop::collection::vec(prop::collection::vec(prop::collection::vec(1u8..=255, 1..20), 1..5), 1..6),
        seed: u64,
        tsn0: u32,
    ) {
        // Messages on alternating streams, fragments numbered by consecutive TSNs, then
        // shuffled and partly duplicated.
        let mut chunks = Vec::new();
        let mut tsn = tsn0;
        for (m, frags) in msgs.iter().enumerate() {
            for (i, f) in frags.iter().enumerate() {
                chunks.push(data(tsn, (m % 2) as u16, i == 0, i + 1 == frags.len(), f));
                tsn = tsn.wrapping_add(1);
            }
        }
        let mut rng = seed;
        let mut order: Vec<usize> = (0..chunks.len()).collect();
        for i in (1..order.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let dups: Vec<usize> = order.iter().copied().filter(|i| i % 3 == 0).collect();
        order.extend(dups);
        let mut run = Run::new(SctpConfig::default());
        for (n, i) in order.iter().enumerate() {
            run.push(n as u64, 77, &chunks[*i]);
        }
        let mut got: Vec<Vec<u8>> = run.got.iter().map(|g| g.data.clone()).collect();
        let mut want: Vec<Vec<u8>> = msgs.iter().map(|f| f.concat()).collect();
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);
        prop_assert_eq!(run.r.pending_bytes(), 0);
    }

    #[test]
    fn no_panic_on_random_input(
        bytes in prop::collection::vec(any::<u8>(), 0..120),
        chunks in prop::collection::vec(
            (any::<u8>(), 0u32..64, 0u16..3, 0u32..3, prop::collection::vec(any::<u8>(), 0..50), any::<u32>()),
            0..60,
        ),
    ) {
        if let Ok((_, it)) = SctpPacket::parse(&bytes) {
            for c in it.take(100) {
                let _ = c;
            }
        }
        let _ = SctpRepr::parse(&bytes);
        let cfg = SctpConfig { max_pending_bytes: 200, fragment_timeout_us: 3, max_assocs: 2 };
        let mut r = SctpReassembler::new(cfg);
        for (n, (flags, tsn, sid, vtag, payload, x)) in chunks.iter().enumerate() {
            let idata = flags & 0x10 != 0;
            let c = DataChunk {
                unordered: flags & FLAG_UNORDERED != 0,
                begin: flags & FLAG_BEGIN != 0,
                end: flags & FLAG_END != 0,
                immediate: false,
                tsn: *tsn,
                stream_id: *sid,
                ssn: 0,
                ppid: *x,
                i_data: idata.then_some(IData { mid: x % 4, fsn: x % 5 }),
                payload,
            };
            let meta = PacketMeta { file: 0, frame: n as u64, ts_us: n as i64 };
            r.push(&meta, flow(), *vtag, &c, &mut |_| {});
            prop_assert!(r.pending_bytes() <= 2 * (200 + 50));
            prop_assert!(r.assoc_count() <= 2);
        }
    }
}

#[test]
fn a_new_association_or_a_long_silence_starts_a_new_tsn_record() {
    let mut run = Run::new(SctpConfig::default());
    let whole = data(100, 0, true, true, b"whole");
    run.push(1, 7, &whole);
    run.push(2, 7, &whole);
    assert_eq!(run.got.len(), 1);
    // An INIT from the receiver's side announcing tag 7 again (ports reversed): the
    // association restarted, its TSNs start over.
    let f = flow();
    run.r.association_started(f.dst.port, f.src.port, 7);
    run.push(3, 7, &whole);
    assert_eq!(run.got.len(), 2);
    // An INIT announcing another tag leaves this direction alone.
    run.r.association_started(f.dst.port, f.src.port, 8);
    run.push(4, 7, &whole);
    assert_eq!(run.got.len(), 2);
    // Silent longer than any retransmission lives (frames are 1 s apart here).
    let later = 4 + (ASSOCIATION_GONE_US / 1_000_000) as u64 + 1;
    run.push(later, 7, &whole);
    assert_eq!(run.got.len(), 3);
}
