use super::*;
use crate::flow::PacketMeta;
use crate::transport::link::Network;
use proptest::prelude::*;
use std::borrow::Cow;

fn v4(protocol: u8) -> Ipv4Repr {
    Ipv4Repr {
        src: Ipv4Addr::new(10, 0, 0, 1),
        dst: Ipv4Addr::new(10, 0, 0, 2),
        protocol,
        ttl: 64,
        tos: 0,
        ident: 0x1234,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    }
}

fn v6(next_header: u8) -> Ipv6Repr {
    Ipv6Repr {
        src: "2001:db8::1".parse().unwrap(),
        dst: "2001:db8::2".parse().unwrap(),
        next_header,
        hop_limit: 55,
        traffic_class: 0x12,
        flow_label: 0xabcde,
    }
}

fn meta(ts_us: i64) -> PacketMeta {
    PacketMeta {
        file: 0,
        frame: 1,
        ts_us,
    }
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn ipv4_round_trip_checksum_and_padding() {
    let repr = Ipv4Repr {
        dont_frag: true,
        tos: 0xb8,
        ..v4(IpProtocol::UDP)
    };
    let mut pkt = Vec::new();
    repr.emit(b"hello", &mut pkt);
    assert!(Ipv4Repr::checksum_ok(&pkt));
    // Ethernet minimum-frame padding after the datagram is trimmed.
    pkt.extend_from_slice(&[0; 21]);
    let (back, payload) = Ipv4Repr::parse(&pkt).unwrap();
    assert_eq!((back, payload), (repr, &b"hello"[..]));
}

#[test]
fn ipv4_options_skipped_and_bad_lengths() {
    let mut pkt = Vec::new();
    v4(6).emit(b"abcd", &mut pkt);
    // Insert 4 bytes of options (NOPs): IHL 6, total length + 4.
    pkt.splice(20..20, [1, 1, 1, 1]);
    pkt[0] = 0x46;
    pkt[3] += 4;
    assert_eq!(Ipv4Repr::parse(&pkt).unwrap().1, b"abcd");
    let mut bad = pkt.clone();
    bad[0] = 0x44;
    assert_eq!(
        Ipv4Repr::parse(&bad).unwrap_err().reason,
        "ipv4: header length below 20"
    );
    let mut bad = pkt.clone();
    bad[3] = 200;
    assert_eq!(
        Ipv4Repr::parse(&bad).unwrap_err(),
        err("ipv4: total length beyond the captured data", 2)
    );
    let mut bad = pkt.clone();
    bad[3] = 10;
    assert_eq!(Ipv4Repr::parse(&bad).unwrap_err().offset, 2);
    let mut bad = pkt.clone();
    bad[0] = 0x55;
    assert!(Ipv4Repr::parse(&bad).is_err());
    assert!(Ipv4Repr::parse(&pkt[..19]).is_err());
    // TSO: total length 0 means "the frame".
    let mut tso = pkt.clone();
    tso[2] = 0;
    tso[3] = 0;
    assert_eq!(Ipv4Repr::parse(&tso).unwrap().1, b"abcd");
}

#[test]
fn ipv6_extension_chain() {
    // Hop-by-hop (8) -> routing (16) -> dest opts (8) -> UDP.
    let mut payload = vec![IpProtocol::IPV6_ROUTING, 0, 1, 4, 0, 0, 0, 0];
    payload.extend_from_slice(&[IpProtocol::IPV6_DEST_OPTS, 1, 0, 0, 0, 0, 0, 0]);
    payload.extend_from_slice(&[0; 8]);
    payload.extend_from_slice(&[IpProtocol::UDP, 0, 1, 4, 0, 0, 0, 0]);
    payload.extend_from_slice(b"upper");
    let repr = v6(IpProtocol::HOP_BY_HOP);
    let mut pkt = Vec::new();
    repr.emit(&payload, &mut pkt);
    let (back, p) = Ipv6Repr::parse(&pkt).unwrap();
    assert_eq!(back, repr);
    let mut layer = IpLayer::new();
    let d = layer.push(&meta(0), Network::Ipv6(&pkt)).unwrap().unwrap();
    assert_eq!(
        (d.protocol, d.ttl, &d.payload[..]),
        (IpProtocol::UDP, 55, &b"upper"[..])
    );
    assert!(matches!(d.payload, Cow::Borrowed(_)));
    // A chain cut short is an error, not a panic.
    let c = walk_ipv6_extensions(IpProtocol::HOP_BY_HOP, p.get(..20).unwrap(), 40).unwrap_err();
    assert_eq!(c, err("ipv6: truncated extension header", 48));
    let mut short = pkt.clone();
    short.truncate(50);
    assert!(Ipv6Repr::parse(&short).is_err());
}

#[test]
fn ipv4_fragments_any_order() {
    let payload = body(1000);
    let frags = fragment_ipv4(&v4(IpProtocol::UDP), &payload, 300);
    assert_eq!(frags.len(), 4);
    let orders: [[usize; 4]; 4] = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
    for order in orders {
        let mut layer = IpLayer::new();
        let mut out = None;
        for (n, &i) in order.iter().enumerate() {
            let r = layer
                .push(&meta(n as i64), Network::Ipv4(&frags[i]))
                .unwrap();
            assert_eq!(r.is_some(), n == 3, "order {order:?}");
            out = out.or(r);
        }
        let d = out.unwrap();
        assert_eq!((d.protocol, d.ttl), (IpProtocol::UDP, 64));
        assert_eq!(&d.payload[..], &payload[..]);
        assert_eq!(layer.pending(), 0);
        assert_eq!(layer.stats().reassembled, 1);
    }
}

#[test]
fn ipv6_fragments_with_dest_opts() {
    let mut fragmentable = vec![IpProtocol::UDP, 0, 1, 4, 0, 0, 0, 0];
    fragmentable.extend_from_slice(&body(500));
    let frags = fragment_ipv6(&v6(IpProtocol::IPV6_DEST_OPTS), 77, &fragmentable, 128);
    let mut layer = IpLayer::new();
    let mut got = None;
    for f in frags.iter().rev() {
        got = got.or(layer.push(&meta(0), Network::Ipv6(f)).unwrap());
    }
    let d = got.unwrap();
    assert_eq!((d.protocol, d.ttl), (IpProtocol::UDP, 55));
    assert_eq!(&d.payload[..], &body(500)[..]);
    // Atomic fragment: delivered at once.
    let atomic = fragment_ipv6(&v6(IpProtocol::UDP), 5, b"tiny", 64);
    assert_eq!(atomic.len(), 1);
    let d = layer
        .push(&meta(0), Network::Ipv6(&atomic[0]))
        .unwrap()
        .unwrap();
    assert_eq!(
        (&d.payload[..], d.protocol),
        (&b"tiny"[..], IpProtocol::UDP)
    );
}

#[test]
fn duplicates_and_overlaps_first_wins() {
    let payload = body(48);
    let frags = fragment_ipv4(&v4(17), &payload, 16);
    let mut layer = IpLayer::new();
    assert!(layer
        .push(&meta(0), Network::Ipv4(&frags[0]))
        .unwrap()
        .is_none());
    assert!(layer
        .push(&meta(0), Network::Ipv4(&frags[0]))
        .unwrap()
        .is_none());
    // An overlapping fragment with different bytes over [8, 32): only [16, 32) is new.
    let mut olap = Vec::new();
    Ipv4Repr {
        frag_offset: 8,
        more_frags: true,
        ..v4(17)
    }
    .emit(&[0xEE; 24], &mut olap);
    assert!(layer
        .push(&meta(0), Network::Ipv4(&olap))
        .unwrap()
        .is_none());
    let d = layer
        .push(&meta(0), Network::Ipv4(&frags[2]))
        .unwrap()
        .unwrap();
    let mut want = payload.clone();
    want[16..32].fill(0xEE);
    assert_eq!(&d.payload[..], &want[..]);
    let s = layer.stats();
    assert_eq!(
        (
            s.duplicate_fragments,
            s.overlapping_fragments,
            s.fragments,
            s.reassembled
        ),
        (1, 1, 4, 1)
    );
}

#[test]
fn expiry_caps_and_conflicts() {
    let frags = fragment_ipv4(&v4(17), &body(64), 16);
    let mut layer = IpLayer::with_config(IpLayerConfig {
        timeout_us: 1_000_000,
        ..IpLayerConfig::default()
    });
    layer.push(&meta(0), Network::Ipv4(&frags[0])).unwrap();
    layer
        .push(&meta(500_000), Network::Ipv4(&frags[1]))
        .unwrap();
    assert_eq!(layer.pending(), 1);
    // Any packet past the timeout expires it, even a non-IP one.
    layer
        .push(&meta(1_000_001), Network::Other { ethertype: 0x0806 })
        .unwrap();
    assert_eq!(layer.pending(), 0);
    assert_eq!(
        (
            layer.stats().expired_datagrams,
            layer.stats().expired_fragments
        ),
        (1, 2)
    );
    // The rest of that datagram never completes it.
    for f in &frags[2..] {
        assert!(layer
            .push(&meta(1_000_002), Network::Ipv4(f))
            .unwrap()
            .is_none());
    }

    let mut layer = IpLayer::with_config(IpLayerConfig {
        max_pending: 2,
        ..IpLayerConfig::default()
    });
    for ident in 0..3u16 {
        let f = fragment_ipv4(&Ipv4Repr { ident, ..v4(17) }, &body(32), 16);
        layer.push(&meta(0), Network::Ipv4(&f[0])).unwrap();
    }
    assert_eq!(layer.pending(), 2);
    assert_eq!(
        (
            layer.stats().dropped_datagrams,
            layer.stats().dropped_fragments
        ),
        (1, 1)
    );

    let mut layer = IpLayer::with_config(IpLayerConfig {
        max_bytes: 40,
        ..IpLayerConfig::default()
    });
    for ident in 0..3u16 {
        let f = fragment_ipv4(&Ipv4Repr { ident, ..v4(17) }, &body(64), 16);
        layer.push(&meta(0), Network::Ipv4(&f[0])).unwrap();
    }
    assert_eq!(layer.pending(), 2);
    assert!(layer.bytes <= 40);

    // Two final fragments ending at different places: the datagram is dropped.
    let mut layer = IpLayer::new();
    let mut a = Vec::new();
    Ipv4Repr {
        frag_offset: 16,
        ..v4(17)
    }
    .emit(&[1; 8], &mut a);
    let mut b = Vec::new();
    Ipv4Repr {
        frag_offset: 32,
        ..v4(17)
    }
    .emit(&[1; 8], &mut b);
    layer.push(&meta(0), Network::Ipv4(&a)).unwrap();
    assert!(layer.push(&meta(0), Network::Ipv4(&b)).is_err());
    assert_eq!(layer.pending(), 0);
    // Non-final fragment not a multiple of 8.
    let mut c = Vec::new();
    Ipv4Repr {
        more_frags: true,
        ..v4(17)
    }
    .emit(&[1; 9], &mut c);
    assert!(layer.push(&meta(0), Network::Ipv4(&c)).is_err());
}

proptest! {
    #[test]
    fn shuffled_fragments_reassemble(
        len in 1usize..3000,
        size in 8usize..600,
        v6_too in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let payload = body(len);
        let mut frags = if v6_too {
            fragment_ipv6(&v6(IpProtocol::UDP), 9, &payload, size)
        } else {
            fragment_ipv4(&v4(IpProtocol::UDP), &payload, size)
        };
        prop_assume!(frags.len() > 1);
        // Deterministic shuffle from the seed, plus a duplicate of one fragment.
        let mut s = seed;
        for i in (1..frags.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            frags.swap(i, (s >> 33) as usize % (i + 1));
        }
        let dup = frags[(s as usize) % frags.len()].clone();
        frags.insert(0, dup);
        let mut layer = IpLayer::new();
        let mut got = Vec::new();
        for f in &frags {
            let net = if v6_too { Network::Ipv6(f) } else { Network::Ipv4(f) };
            if let Some(d) = layer.push(&meta(0), net).unwrap() {
                got.push(d.payload.into_owned());
            }
        }
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(&got[0], &payload);
        // A duplicate arriving after completion opens a new reassembly, left to expire.
        prop_assert!(layer.pending() <= 1);
    }

    #[test]
    fn ipv4_round_trip(src in any::<u32>(), dst in any::<u32>(), protocol in any::<u8>(), ttl in any::<u8>(),
                       tos in any::<u8>(), ident in any::<u16>(), df in any::<bool>(),
                       payload in prop::collection::vec(any::<u8>(), 0..200)) {
        let repr = Ipv4Repr { src: src.into(), dst: dst.into(), protocol, ttl, tos, ident, dont_frag: df, more_frags: false, frag_offset: 0 };
        let mut pkt = Vec::new();
        repr.emit(&payload, &mut pkt);
        prop_assert!(Ipv4Repr::checksum_ok(&pkt));
        let (back, p) = Ipv4Repr::parse(&pkt).unwrap();
        prop_assert_eq!(back, repr);
        prop_assert_eq!(p, &payload[..]);
    }

    #[test]
    fn ip_layer_never_panics(packets in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..120)), 1..20)) {
        let mut layer = IpLayer::with_config(IpLayerConfig { max_pending: 4, max_bytes: 256, timeout_us: 10 });
        for (i, (is_v6, mut data)) in packets.into_iter().enumerate() {
            // Bias towards plausible headers so deeper paths run.
            if let Some(b) = data.first_mut() {
                *b = if is_v6 { 0x60 | (*b & 0x0f) } else { 0x40 | (*b & 0x0f) };
            }
            let net = if is_v6 { Network::Ipv6(&data) } else { Network::Ipv4(&data) };
            let _ = layer.push(&meta(i as i64 * 3), net);
        }
    }
}
