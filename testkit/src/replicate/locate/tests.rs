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
