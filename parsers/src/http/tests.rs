use super::frame::{flags, Frame, FrameKind, FrameRepr, PREFACE};
use super::framing::HttpFramer;
use super::h1::{self, H1Connections, H1Repr, StartLine};
use super::h2::H2Connections;
use super::hpack::HeaderEncoder;
use super::sniff::classify;
use super::*;
use crate::error::DecodeError;
use crate::transport::tcp::{Framer, Framing};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Default)]
struct Collect {
    messages: Vec<(Head, Vec<u8>, Option<Exchange>, u64)>,
    errors: Vec<DecodeError>,
    notes: Vec<Note>,
}

impl HttpSink for Collect {
    fn message(&mut self, m: &HttpMessage<'_>) {
        self.messages
            .push((m.head.clone(), m.body.to_vec(), m.exchange, m.start.frame));
    }
    fn error(&mut self, _: &PacketMeta, e: DecodeError) {
        self.errors.push(e);
    }
    fn note(&mut self, n: Note) {
        self.notes.push(n);
    }
}

fn client() -> FlowKey {
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    FlowKey::new(a, 40000, b, 7777)
}

fn meta(frame: u64) -> PacketMeta {
    PacketMeta {
        file: 0,
        frame,
        ts_us: 1_000 + frame as i64,
    }
}

fn bytes(f: &FrameRepr) -> Vec<u8> {
    let mut v = Vec::new();
    f.emit(&mut v);
    v
}

#[test]
fn frame_reprs_round_trip() {
    let frames = [
        FrameRepr::Data {
            stream: 3,
            end_stream: true,
            data: b"{}".to_vec(),
        },
        FrameRepr::Headers {
            stream: 5,
            end_stream: false,
            end_headers: true,
            block: vec![0x82, 0x84],
        },
        FrameRepr::Continuation {
            stream: 5,
            end_headers: true,
            block: vec![0x86],
        },
        FrameRepr::Settings {
            ack: false,
            params: vec![(1, 4096), (5, 16384)],
        },
        FrameRepr::Settings {
            ack: true,
            params: vec![],
        },
        FrameRepr::RstStream { stream: 7, code: 8 },
        FrameRepr::GoAway {
            last_stream: 9,
            code: 0,
        },
        FrameRepr::WindowUpdate {
            stream: 0,
            increment: 65535,
        },
        FrameRepr::Ping {
            ack: true,
            data: [1, 2, 3, 4, 5, 6, 7, 8],
        },
    ];
    for f in &frames {
        let b = bytes(f);
        let view = Frame::parse(&b).expect("parse");
        assert_eq!(view.len(), b.len());
        assert_eq!(&FrameRepr::parse(&view).expect("repr"), f);
        assert!(super::frame::FrameHeader::plausible(&b, 16_384), "{f:?}");
    }
}

#[test]
fn padded_headers_and_priority_are_stripped() {
    // HEADERS with PADDED and PRIORITY: pad length 2, 5 octets of priority, block, pad.
    let payload = [2, 0, 0, 0, 0, 16, 0x82, 0x84, 0, 0];
    let mut b = Vec::new();
    super::frame::FrameHeader {
        length: payload.len() as u32,
        kind: FrameKind::HEADERS,
        flags: flags::PADDED | flags::PRIORITY | flags::END_HEADERS,
        stream: 1,
    }
    .emit(&mut b);
    b.extend_from_slice(&payload);
    let f = Frame::parse(&b).unwrap();
    assert_eq!(f.block_fragment().unwrap(), &[0x82, 0x84]);
    // Padding longer than the frame is an error, not a panic.
    b[9] = 200;
    assert!(Frame::parse(&b).unwrap().block_fragment().is_err());
}

#[test]
fn h2_framer_frames_preface_and_frames() {
    let f = HttpFramer::H2;
    assert_eq!(f.frame(&PREFACE[..10]), Framing::Incomplete);
    assert_eq!(f.frame(PREFACE), Framing::Message(24));
    let data = bytes(&FrameRepr::Data {
        stream: 1,
        end_stream: true,
        data: vec![7; 20],
    });
    // The length is known from the header: the reassembler waits for the rest.
    assert_eq!(f.frame(&data[..15]), Framing::Message(29));
    assert_eq!(f.frame(&data[..5]), Framing::Incomplete);
    assert_eq!(f.frame(&data), Framing::Message(29));
    // A TLS record is no frame.
    assert_eq!(
        f.frame(&[0x16, 3, 1, 0, 0x9c, 1, 0, 0, 0x98]),
        Framing::Invalid
    );
    // After garbage, resync finds the frame.
    let mut junk = vec![0xff; 5];
    junk.extend_from_slice(&data);
    junk.extend_from_slice(&data);
    assert_eq!(f.resync(&junk), Some(5));
}

#[test]
fn sniffing_tells_h2_h1_and_others() {
    assert_eq!(classify(PREFACE), Some(HttpFramer::H2));
    assert_eq!(
        classify(b"PUT /nudm-uecm/v1/imsi-1/registrations/amf-3gpp-access HTTP/1.1\r\n"),
        Some(HttpFramer::H1)
    );
    assert_eq!(classify(b"HTTP/1.1 201 Created\r\n"), Some(HttpFramer::H1));
    let mut enc = HeaderEncoder::default();
    let headers = bytes(&FrameRepr::Headers {
        stream: 31,
        end_stream: true,
        end_headers: true,
        block: enc.encode(&[(":status", "204")]),
    });
    assert_eq!(classify(&headers), Some(HttpFramer::H2));
    assert_eq!(classify(&[0x16, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3]), None);
    assert_eq!(
        classify(b"\x3a\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07"),
        None
    );
}

/// A client and server exchange, each with its own encoder, as frames.
struct Peer {
    enc: HeaderEncoder,
}

impl Peer {
    fn new() -> Peer {
        Peer {
            enc: HeaderEncoder::default(),
        }
    }
    fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        bytes(&FrameRepr::Headers {
            stream,
            end_stream,
            end_headers: true,
            block: self.enc.encode(fields),
        })
    }
}

fn data(stream: u32, body: &[u8]) -> Vec<u8> {
    bytes(&FrameRepr::Data {
        stream,
        end_stream: true,
        data: body.to_vec(),
    })
}

const PATH: &str = "/nudm-uecm/v1/imsi-999700000021309/registrations/amf-3gpp-access";

#[test]
fn h2_request_and_response_pair_by_stream() {
    let (c, s) = (client(), client().reversed());
    let mut conns = H2Connections::default();
    let mut out = Collect::default();
    let (mut cl, mut sv) = (Peer::new(), Peer::new());
    conns.push(&meta(1), c, PREFACE, &mut out);
    let settings = bytes(&FrameRepr::Settings {
        ack: false,
        params: vec![(1, 4096)],
    });
    conns.push(&meta(2), c, &settings, &mut out);
    conns.push(&meta(3), s, &settings, &mut out);
    for (i, stream) in [1u32, 3].into_iter().enumerate() {
        let f = 10 * (i as u64 + 1);
        let req = cl.headers(
            stream,
            &[
                (":method", "PUT"),
                (":path", PATH),
                (":scheme", "http"),
                ("content-type", "application/json"),
            ],
            false,
        );
        conns.push(&meta(f), c, &req, &mut out);
        conns.push(&meta(f + 1), c, &data(stream, b"{\"a\":1}"), &mut out);
        let resp = sv.headers(stream, &[(":status", "201")], false);
        conns.push(&meta(f + 2), s, &resp, &mut out);
        conns.push(&meta(f + 3), s, &data(stream, b"{}"), &mut out);
    }
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    assert_eq!(out.messages.len(), 4);
    let (req, body, ex, start) = &out.messages[2];
    assert_eq!(req.method, Some(Method::Put));
    assert_eq!(req.path.as_deref(), Some(PATH));
    assert_eq!(req.content_type.as_deref(), Some("application/json"));
    assert_eq!(body, b"{\"a\":1}");
    assert_eq!(*start, 20, "the request's time is its HEADERS frame's");
    let (resp, _, rex, _) = &out.messages[3];
    assert_eq!(resp.status, Some(201));
    assert_eq!(ex, rex);
    assert_eq!(ex.unwrap().id, 3);
    assert_ne!(out.messages[0].2, out.messages[2].2);
}

#[test]
fn h2_continuation_completes_a_block() {
    let c = client();
    let mut conns = H2Connections::default();
    let mut out = Collect::default();
    let mut enc = HeaderEncoder::default();
    let block = enc.encode(&[(":method", "GET"), (":path", "/nudm-sdm/v2/imsi-1/am-data")]);
    let (a, b) = block.split_at(5);
    conns.push(&meta(1), c, PREFACE, &mut out);
    let h = bytes(&FrameRepr::Headers {
        stream: 1,
        end_stream: true,
        end_headers: false,
        block: a.to_vec(),
    });
    let k = bytes(&FrameRepr::Continuation {
        stream: 1,
        end_headers: true,
        block: b.to_vec(),
    });
    conns.push(&meta(2), c, &h, &mut out);
    assert!(out.messages.is_empty());
    conns.push(&meta(3), c, &k, &mut out);
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.messages[0].0.method, Some(Method::Get));
}

#[test]
fn mid_connection_blocks_are_exact_or_refused() {
    let c = client();
    let mut conns = H2Connections::default();
    let mut out = Collect::default();
    let mut enc = HeaderEncoder::default();
    // Blocks before the capture fill the sender's table (never seen by the decoder).
    let fields = [(":method", "PUT"), (":path", PATH), ("x-a", "1")];
    enc.encode(&fields);
    enc.encode(&[("x-b", "2")]);
    // Stream 7's block refers to those entries: its pseudo-headers are read, the
    // rest is not (counted as partly known).
    let h = bytes(&FrameRepr::Headers {
        stream: 7,
        end_stream: true,
        end_headers: true,
        block: enc.encode(&fields),
    });
    conns.push(&meta(1), c, &h, &mut out);
    assert!(out.notes.contains(&Note::MidConnection));
    assert!(out.notes.contains(&Note::PartlyKnown));
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.messages[0].0.path.as_deref(), Some(PATH));
    // A block whose first field is an older entry (index 62) is refused, not guessed.
    let mut block = vec![0x80 | 62];
    block.extend(enc.encode(&fields));
    let h = bytes(&FrameRepr::Headers {
        stream: 8,
        end_stream: true,
        end_headers: true,
        block,
    });
    conns.push(&meta(1), c, &h, &mut out);
    assert_eq!(out.messages.len(), 1);
    assert!(out.notes.contains(&Note::UnknownEntry));
    out.messages.clear();
    // A block of new fields only is decoded, and a later block indexing them too.
    let h = bytes(&FrameRepr::Headers {
        stream: 9,
        end_stream: true,
        end_headers: true,
        block: enc.encode(&[
            (":method", "DELETE"),
            (":path", "/nausf-auth/v1/x"),
            ("x-c", "3"),
        ]),
    });
    conns.push(&meta(2), c, &h, &mut out);
    let h = bytes(&FrameRepr::Headers {
        stream: 11,
        end_stream: true,
        end_headers: true,
        block: enc.encode(&[
            (":method", "DELETE"),
            (":path", "/nausf-auth/v1/x"),
            ("x-c", "3"),
        ]),
    });
    conns.push(&meta(3), c, &h, &mut out);
    assert_eq!(out.messages.len(), 2, "{:?}", out.notes);
    assert!(out
        .messages
        .iter()
        .all(|m| m.0.path.as_deref() == Some("/nausf-auth/v1/x")));
    assert!(out.errors.is_empty());
}

#[test]
fn a_lost_block_empties_the_table() {
    let c = client();
    let mut conns = H2Connections::default();
    let mut out = Collect::default();
    let mut enc = HeaderEncoder::default();
    conns.push(&meta(1), c, PREFACE, &mut out);
    // `x-a` is new to both tables: the encoder indexes it, and refers to it after.
    let fields = [
        (":method", "GET"),
        (":path", "/nudm-sdm/v2/imsi-1/am-data"),
        ("x-a", "1"),
    ];
    let h = bytes(&FrameRepr::Headers {
        stream: 1,
        end_stream: true,
        end_headers: true,
        block: enc.encode(&fields),
    });
    conns.push(&meta(2), c, &h, &mut out);
    // A one-frame gap keeps the table: the same fields by index decode.
    conns.lost_frame(&c);
    let again = bytes(&FrameRepr::Headers {
        stream: 3,
        end_stream: true,
        end_headers: true,
        block: enc.encode(&fields),
    });
    conns.push(&meta(3), c, &again, &mut out);
    assert_eq!(out.messages.len(), 2);
    // A real gap does not: the indexed field is unknown now.
    conns.lost(&c);
    let third = bytes(&FrameRepr::Headers {
        stream: 5,
        end_stream: true,
        end_headers: true,
        block: enc.encode(&fields),
    });
    conns.push(&meta(4), c, &third, &mut out);
    assert_eq!(out.messages.len(), 3);
    assert_eq!(out.notes, vec![Note::PartlyKnown]);
}

#[test]
fn h2_reset_and_bounds() {
    let c = client();
    let mut conns = H2Connections::new(h2::H2Config {
        max_body: 8,
        ..h2::H2Config::default()
    });
    let mut out = Collect::default();
    let mut p = Peer::new();
    conns.push(&meta(1), c, PREFACE, &mut out);
    let h = p.headers(
        1,
        &[
            (":method", "POST"),
            (":path", "/nausf-auth/v1/ue-authentications"),
        ],
        false,
    );
    conns.push(&meta(2), c, &h, &mut out);
    conns.push(&meta(3), c, &data(1, &[b'x'; 20]), &mut out);
    assert!(out.messages.is_empty());
    assert_eq!(out.errors.len(), 1, "a body over the bound is an error");
    let h = p.headers(3, &[(":method", "POST"), (":path", "/x/v1/y")], false);
    conns.push(&meta(4), c, &h, &mut out);
    conns.push(
        &meta(5),
        c,
        &bytes(&FrameRepr::RstStream { stream: 3, code: 8 }),
        &mut out,
    );
    assert!(out.notes.contains(&Note::Reset));
}

#[test]
fn h1_repr_round_trips_and_frames() {
    let req = H1Repr {
        start: StartLine::Request {
            method: Method::Put,
            target: PATH.to_owned(),
        },
        content_type: Some("application/json".to_owned()),
        body: b"{\"x\":true}".to_vec(),
    };
    let mut b = Vec::new();
    req.emit(&mut b);
    assert_eq!(H1Repr::parse(&b).unwrap(), req);
    assert_eq!(HttpFramer::H1.frame(&b), Framing::Message(b.len()));
    assert_eq!(
        HttpFramer::H1.frame(&b[..b.len() - 1]),
        Framing::Message(b.len())
    );
    assert_eq!(HttpFramer::H1.frame(&b[..20]), Framing::Incomplete);
    let chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
    assert_eq!(
        HttpFramer::H1.frame(chunked),
        Framing::Message(chunked.len())
    );
    let (head, body) = h1::parse(chunked).unwrap();
    assert_eq!(head.status, Some(201));
    assert_eq!(body, b"{\"a\":1}");
    assert_eq!(HttpFramer::H1.frame(b"\x16\x03\x01junk"), Framing::Invalid);
    let mut junk = b"xx\r\n".to_vec();
    junk.extend_from_slice(&b);
    assert_eq!(HttpFramer::H1.resync(&junk), Some(4));
    // Absolute-form targets reduce to the path.
    let (head, _) =
        h1::parse(b"GET http://udm:80/nudm-sdm/v2/imsi-1/am-data HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(head.path.as_deref(), Some("/nudm-sdm/v2/imsi-1/am-data"));
}

#[test]
fn h1_pairs_responses_in_order() {
    let c = client();
    let mut conns = H1Connections::default();
    let mut out = Collect::default();
    let msg = |start: StartLine| {
        let mut b = Vec::new();
        H1Repr {
            start,
            content_type: None,
            body: Vec::new(),
        }
        .emit(&mut b);
        b
    };
    let req = |t: &str| {
        msg(StartLine::Request {
            method: Method::Get,
            target: t.to_owned(),
        })
    };
    // A response before any request (capture started mid-way) pairs with nothing.
    conns.message(
        &meta(1),
        c.reversed(),
        &msg(StartLine::Response { status: 200 }),
        &mut out,
    );
    conns.message(&meta(2), c, &req("/a/v1/x"), &mut out);
    conns.message(&meta(3), c, &req("/a/v1/y"), &mut out);
    conns.message(
        &meta(4),
        c.reversed(),
        &msg(StartLine::Response { status: 100 }),
        &mut out,
    );
    conns.message(
        &meta(5),
        c.reversed(),
        &msg(StartLine::Response { status: 200 }),
        &mut out,
    );
    conns.message(
        &meta(6),
        c.reversed(),
        &msg(StartLine::Response { status: 404 }),
        &mut out,
    );
    assert_eq!(out.notes, vec![Note::ResponseWithoutRequest]);
    let ids: Vec<Option<u64>> = out.messages.iter().map(|m| m.2.map(|e| e.id)).collect();
    assert_eq!(ids, vec![None, Some(0), Some(1), Some(0), Some(1)]);
}

#[test]
fn a_connection_holds_bounded_body_bytes() {
    let c = client();
    let mut conns = H2Connections::new(h2::H2Config {
        max_body: 100,
        max_connection_body: 150,
        ..h2::H2Config::default()
    });
    let mut out = Collect::default();
    let mut p = Peer::new();
    conns.push(&meta(1), c, PREFACE, &mut out);
    let open = |stream: u32| {
        bytes(&FrameRepr::Data {
            stream,
            end_stream: false,
            data: vec![b'x'; 80],
        })
    };
    for (i, stream) in [1u32, 3].into_iter().enumerate() {
        let h = p.headers(stream, &[(":method", "POST"), (":path", "/x/v1/y")], false);
        conns.push(&meta(2 + i as u64), c, &h, &mut out);
        conns.push(&meta(4 + i as u64), c, &open(stream), &mut out);
    }
    // The second stream's 80 octets would make 160 > 150: it is not kept.
    conns.push(&meta(6), c, &data(3, b""), &mut out);
    conns.push(&meta(7), c, &data(1, b""), &mut out);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.messages[0].1.len(), 80);
    // Delivered bytes are released: a third stream fits again.
    let h = p.headers(5, &[(":method", "POST"), (":path", "/x/v1/y")], false);
    conns.push(&meta(8), c, &h, &mut out);
    conns.push(&meta(9), c, &data(5, &[b'y'; 90]), &mut out);
    assert_eq!(out.messages.len(), 2);
}
