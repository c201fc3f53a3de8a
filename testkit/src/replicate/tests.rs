use super::*;
use crate::diameter::S6aSession;
use landfall_parsers::capture::Frame;
use landfall_parsers::diameter::Message;
use landfall_parsers::flow::PacketMeta;
use landfall_parsers::transport::ip::Ipv4Repr;
use landfall_parsers::transport::link::{EtherType, EthernetRepr, LinkType};
use landfall_parsers::transport::sctp::{Chunk, DataChunk, SctpRepr};
use landfall_parsers::Plmn;
use std::net::Ipv4Addr;

const IMSI: &str = "208011000000001";

/// An Ethernet/IPv4/SCTP frame with one DATA chunk (PPID 46) of `payload`.
fn frame(n: u64, tsn: u32, begin: bool, end: bool, payload: &[u8]) -> Frame {
    let chunk = DataChunk {
        unordered: false,
        begin,
        end,
        immediate: false,
        tsn,
        stream_id: 0,
        ssn: 0,
        ppid: 46,
        i_data: None,
        payload,
    };
    let sctp = SctpRepr {
        src_port: 3868,
        dst_port: 3868,
        vtag: 0x1234_5678,
        chunks: vec![Chunk::Data(chunk)],
    }
    .emit();
    let ip = Ipv4Repr {
        src: Ipv4Addr::new(10, 0, 0, 1),
        dst: Ipv4Addr::new(10, 0, 0, 2),
        protocol: 132,
        ttl: 64,
        tos: 0,
        ident: n as u16,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    let mut packet = Vec::new();
    ip.emit(&sctp, &mut packet);
    let mut data = Vec::new();
    EthernetRepr {
        dst: [2, 0, 0, 0, 0, 2],
        src: [2, 0, 0, 0, 0, 1],
        vlans: vec![],
        ethertype: EtherType::IPV4,
    }
    .emit(&packet, &mut data);
    Frame {
        meta: PacketMeta {
            file: 0,
            frame: n,
            ts_us: n as i64 * 1000,
        },
        linktype: LinkType::ETHERNET,
        orig_len: data.len() as u32,
        data,
    }
}

/// The DATA chunk payload of a frame built by [`frame`].
fn payload(f: &Frame) -> Vec<u8> {
    let Ok(Network::Ipv4(ip)) = parse_link(f.linktype, &f.data) else {
        panic!("not IPv4");
    };
    let sctp = &ip[20..];
    assert!(sctp::SctpPacket::new_checked(sctp)
        .unwrap()
        .verify_checksum());
    match SctpRepr::parse(sctp).unwrap().chunks[0] {
        Chunk::Data(d) => d.payload.to_vec(),
        _ => panic!("not DATA"),
    }
}

/// A ULR fragmented over three DATA chunks, the User-Name split between the first two,
/// the second captured twice: the IMSI is found in the reassembled message and each
/// copy's fragments carry the copy's IMSI.
#[test]
fn identities_in_fragmented_sctp_messages_are_rewritten() {
    let home = Plmn::parse("208-01").unwrap();
    let ulr = S6aSession::new(home, home, 1)
        .ulr(1, 1, IMSI, home, 1004, 34)
        .emit();
    let at = ulr
        .windows(IMSI.len())
        .position(|w| w == IMSI.as_bytes())
        .unwrap();
    let (a, rest) = ulr.split_at(at + 5);
    let (b, c) = rest.split_at(rest.len() / 2);
    let frames = vec![
        frame(1, 7, true, false, a),
        frame(2, 8, false, false, b),
        frame(3, 8, false, false, b),
        frame(4, 9, false, true, c),
    ];
    let (_, fields, orphans) = locate_capture(&frames, &[]);
    assert_eq!(orphans, 0);
    let imsi: Vec<&Field> = fields
        .iter()
        .filter(|f| f.what == What::Identity(Kind::Imsi, locate::Enc::Ascii))
        .collect();
    assert_eq!(imsi.len(), 1);
    assert_eq!(imsi[0].orig, IMSI.as_bytes());
    assert_eq!(imsi[0].pieces.len(), 3, "{:?}", imsi[0].pieces);

    let opts = Options {
        copies: 2,
        distinct_subscribers: true,
        diameter_tcp_ports: vec![],
    };
    let (out, report) = replicate_with(&frames, &opts).unwrap();
    assert_eq!(report.unwrap().partial_messages, 0);
    let out = read_frames(out, "out").unwrap();
    assert_eq!(out.len(), 8);
    for copy in 0..2 {
        let f = &out[copy * 4..copy * 4 + 4];
        assert_eq!(payload(&f[1]), payload(&f[2]), "the retransmission alike");
        let msg = [payload(&f[0]), payload(&f[1]), payload(&f[3])].concat();
        let m = Message::parse(&msg).unwrap();
        let user = m.find(1, 0).unwrap().utf8().unwrap().to_string();
        if copy == 0 {
            assert_eq!(user, IMSI);
        } else {
            assert_ne!(user, IMSI);
            assert_eq!(user.len(), IMSI.len());
            assert_eq!(&user[..6], &IMSI[..6]);
        }
    }
}
