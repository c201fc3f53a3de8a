use super::*;

#[test]
fn tbcd_round_trip_keeps_the_filler() {
    let v = [0x21, 0x43, 0xf5];
    assert_eq!(read_digits(&v, Enc::Tbcd).as_deref(), Some("12345"));
    let mut w = v;
    write_digits(&mut w, Enc::Tbcd, "98765");
    assert_eq!(w, [0x89, 0x67, 0xf5]);
    assert_eq!(
        read_digits(&[0x21, 0xf3], Enc::Tbcd).as_deref(),
        Some("123")
    );
    assert_eq!(read_digits(&[0xf1, 0x32], Enc::Tbcd), None); // filler not last
    assert_eq!(read_digits(&[0x2a], Enc::Tbcd), None);
    assert_eq!(read_digits(b"00101", Enc::Ascii).as_deref(), Some("00101"));
    assert_eq!(read_digits(b"0010a", Enc::Ascii), None);
}

/// A MAP field is a whole primitive element holding exactly the component's IMSI or
/// MSISDN: the same octets inside another element, or other numbers, are not taken.
#[test]
fn map_fields_are_whole_elements_with_the_decoded_identities() {
    use crate::map as encode;
    use landfall_parsers::ss7::ber;
    use landfall_parsers::ss7::map::Isdn;
    use landfall_parsers::ss7::tcap::{ComponentKind, ComponentRepr, TcapKind, TcapRepr};

    let imsi = Imsi::parse("208011000000001").unwrap();
    let msisdn = Msisdn::parse("33612000001").unwrap();
    let vlr = Isdn::parse("33609000001").unwrap();
    // updateLocation with a trailing extra element embedding the IMSI's octets.
    let mut arg = encode::update_location(&imsi, &vlr, &vlr);
    let mut decoy = vec![0x00];
    decoy.extend_from_slice(&imsi.to_tbcd());
    let inner = [&arg[2..], &ber::octet_string(&decoy)[..]].concat();
    arg = ber::sequence(&inner);
    let isd = encode::insert_subscriber_data(Some(&imsi), &msisdn);
    let tcap = TcapRepr {
        kind: TcapKind::Begin,
        otid: Some(vec![0x01, 0x02, 0x03, 0x04]),
        dtid: None,
        dialogue: None,
        components: vec![
            ComponentRepr {
                kind: ComponentKind::Invoke,
                invoke_id: 1,
                code: Some(2),
                parameter: Some(arg),
            },
            ComponentRepr {
                kind: ComponentKind::Invoke,
                invoke_id: 2,
                code: Some(7),
                parameter: Some(isd),
            },
        ],
    }
    .emit();
    let mut w = Walker::new(&tcap);
    super::tcap(&mut w, &tcap);
    let got: Vec<(What, Vec<u8>)> = w
        .fields
        .iter()
        .map(|f| (f.what, tcap[f.at..f.at + f.len].to_vec()))
        .collect();
    let imsi_field = (What::Identity(Kind::Imsi, Enc::Tbcd), imsi.to_tbcd());
    assert_eq!(
        got,
        vec![
            (What::TcapTid, vec![1, 2, 3, 4]),
            imsi_field.clone(),
            imsi_field,
            (What::Identity(Kind::Msisdn, Enc::Tbcd), msisdn.to_tbcd()),
        ]
    );
}

#[test]
fn offsets_are_within_the_frame() {
    let f = [1u8, 2, 3, 4];
    assert_eq!(offset(&f, &f[1..3]), Some(1));
    assert_eq!(offset(&f[1..], &f[..2]), None);
}

/// In an HTTP/2 connection the SBI paths' and URIs' IMSI digits are located in each
/// direction (plain HPACK literals); a path naming no subscriber, a Huffman-coded literal
/// and a stream that is not HTTP/2 give nothing.
#[test]
fn http2_sbi_paths_give_their_imsi_digits() {
    use crate::sbi::{H2Connection, Request};
    use landfall_parsers::http::frame::FrameRepr;

    let path = "/nudm-uecm/v1/imsi-222100000000007/registrations/amf-3gpp-access";
    let mut h2 = H2Connection::default();
    let mut up = h2.client_preface();
    for p in [path, "/nnrf-disc/v1/nf-instances", path] {
        let req = Request {
            method: "PUT",
            authority: "udm",
            path: p,
            body: Some(b"{}"),
        };
        up.extend(h2.request(&req).1);
    }
    // A Huffman-coded :path (literal without indexing, name index 4, H bit set).
    let mut block = vec![0x04, 0x80 | 3, 0x61, 0x62, 0x63];
    block.extend_from_slice(&[0x82]);
    FrameRepr::Headers {
        stream: 7,
        end_stream: true,
        end_headers: true,
        block,
    }
    .emit(&mut up);
    let covered = vec![true; up.len()];
    let spans = stream_spans(StreamKind::Http, &up, &covered);
    let digits: Vec<&[u8]> = spans.iter().map(|s| &up[s.at..s.at + s.len]).collect();
    assert_eq!(digits, [b"222100000000007", b"222100000000007"]);
    assert!(spans
        .iter()
        .all(|s| s.what == What::Identity(Kind::Imsi, Enc::Ascii)));
    // A stream captured with a hole stops at the hole.
    let mut holed = covered.clone();
    holed[30] = false;
    assert!(stream_spans(StreamKind::Http, &up, &holed).is_empty());

    let mut down = h2.server_preface();
    down.extend(h2.response(1, 201, Some(&format!("http://udm{path}")), None));
    let covered = vec![true; down.len()];
    let spans = stream_spans(StreamKind::Http, &down, &covered);
    assert_eq!(spans.len(), 1);
    assert_eq!(&down[spans[0].at..spans[0].at + 15], b"222100000000007");

    let h1 = format!("PUT {path} HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    assert!(stream_spans(StreamKind::Http, h1.as_bytes(), &[true; 200][..h1.len()]).is_empty());
}

#[test]
fn hpack_integers_and_literals() {
    assert_eq!(hpack_int(&[0x0a], 5), Some((10, 1)));
    assert_eq!(hpack_int(&[0x1f, 0x9a, 0x0a], 5), Some((1337, 3)));
    assert_eq!(hpack_int(&[0x1f, 0x9a], 5), None);
    // Literal with indexing, new name "a", value "bc"; then an indexed field.
    let block = [0x40, 1, b'a', 2, b'b', b'c', 0x82];
    assert_eq!(hpack_plain_values(&block), [(4, 2)]);
    // A truncated literal ends the walk.
    assert!(hpack_plain_values(&[0x04, 5, b'x']).is_empty());
}
