//! BER (ITU-T X.690) elements for TCAP and MAP, read and written with rusticata's
//! `asn1-rs` (definite and indefinite lengths, bounded nesting, errors instead of panics).
//!
//! TCAP and MAP are decoded as typed structures over these elements ([`crate::ss7::tcap`],
//! [`crate::ss7::map`]); this module only turns bytes into (class, tag, value) and back.

use asn1_rs::{Header, Length, Tag, ToDer};

pub use asn1_rs::Class;

use crate::error::{DecodeError, Layer};

/// One BER element borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub class: Class,
    pub constructed: bool,
    pub tag: u32,
    /// The contents (without the end-of-contents octets of an indefinite length).
    pub value: &'a [u8],
    /// The whole element, header included.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Parse the element at the start of `buf`; returns it and what follows it.
    ///
    /// The header and the extent of the contents are read by [`read_element`], which
    /// accepts and refuses exactly what `asn1_rs::Any::from_ber` does (a property test
    /// holds it to that) without building asn1-rs' parse results for every element.
    #[inline]
    pub fn parse(buf: &'a [u8], layer: Layer) -> Result<(Tlv<'a>, &'a [u8]), DecodeError> {
        // Most TCAP/MAP elements have a one-octet tag and a short definite length.
        if let [id, len, ..] = *buf {
            if id & 0x1f != 0x1f && len < 0x80 {
                if let Some((raw, rest)) = buf.split_at_checked(2 + usize::from(len)) {
                    let tlv = Tlv {
                        class: CLASSES[usize::from(id >> 6)],
                        constructed: id & 0x20 != 0,
                        tag: u32::from(id & 0x1f),
                        value: raw.get(2..).unwrap_or_default(),
                        raw,
                    };
                    return Ok((tlv, rest));
                }
            }
        }
        Self::parse_general(buf, layer)
    }

    /// [`Tlv::parse`] for any header: long tags, long-form and indefinite lengths, errors.
    #[inline(never)]
    fn parse_general(buf: &'a [u8], layer: Layer) -> Result<(Tlv<'a>, &'a [u8]), DecodeError> {
        let e = read_element(buf, MAX_DEPTH).map_err(|e| {
            let reason = match e {
                BerError::Truncated => "BER element truncated",
                BerError::Malformed => "malformed BER element",
            };
            DecodeError::new(layer, reason, 0)
        })?;
        Ok((
            Tlv {
                class: CLASSES[usize::from(buf[0] >> 6)],
                constructed: buf[0] & 0x20 != 0,
                tag: e.tag,
                value: &buf[e.header..e.header + e.value_len],
                raw: &buf[..e.end],
            },
            &buf[e.end..],
        ))
    }

    pub fn is(&self, class: Class, tag: u32) -> bool {
        self.class == class && self.tag == tag
    }

    pub fn is_context(&self, tag: u32) -> bool {
        self.is(Class::ContextSpecific, tag)
    }

    pub fn is_universal(&self, tag: u32) -> bool {
        self.is(Class::Universal, tag)
    }

    /// The elements inside a constructed element.
    pub fn children(&self, layer: Layer) -> Children<'a> {
        Children {
            rest: if self.constructed { self.value } else { &[] },
            layer,
        }
    }

    /// The value as a (two's complement) INTEGER, if it fits in an i64.
    pub fn integer(&self) -> Option<i64> {
        let v = self.value;
        if v.is_empty() || v.len() > 8 {
            return None;
        }
        let init: i64 = if v[0] & 0x80 != 0 { -1 } else { 0 };
        Some(v.iter().fold(init, |acc, &b| (acc << 8) | i64::from(b)))
    }
}

/// How deep indefinite-length elements may nest (asn1-rs' `MAX_RECURSION`).
const MAX_DEPTH: usize = 50;

const CLASSES: [Class; 4] = [
    Class::Universal,
    Class::Application,
    Class::ContextSpecific,
    Class::Private,
];

/// Why an element could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BerError {
    /// The input ends inside the element.
    Truncated,
    /// The header or a nested element is invalid.
    Malformed,
}

/// Where one element's parts end, as offsets from its first octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Extent {
    tag: u32,
    /// Length of the identifier and length octets.
    header: usize,
    /// Length of the contents (without the end-of-contents of an indefinite length).
    value_len: usize,
    /// Length of the whole element.
    end: usize,
    /// Is this the end-of-contents element (tag 0, length 0)?
    eoc: bool,
}

/// Reads one BER element (X.690 §8.1) at the start of `buf`: identifier (tags up to
/// five subsequent octets, as asn1-rs), definite length (short or long form, at most a
/// u64) or indefinite length (constructed only, contents up to the end-of-contents
/// element, nested at most `depth` levels). Every index is checked; nothing panics.
///
/// This replaces `asn1_rs::Any::from_ber` on the hot path only, because that was the MAP
/// decoder's main cost (benches/README.md, "Why the code is shaped so"). The accepted
/// language is asn1-rs' (see the property test).
fn read_element(buf: &[u8], depth: usize) -> Result<Extent, BerError> {
    let first = *buf.first().ok_or(BerError::Truncated)?;
    let constructed = first & 0x20 != 0;
    let mut tag = u32::from(first & 0x1f);
    let mut at = 1;
    if tag == 0x1f {
        tag = 0;
        loop {
            let b = *buf.get(at).ok_or(BerError::Malformed)?;
            if at > 5 {
                return Err(BerError::Malformed);
            }
            tag = (tag << 7) | u32::from(b & 0x7f);
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let len_byte = *buf.get(at).ok_or(BerError::Truncated)?;
    at += 1;
    let definite = match len_byte {
        0..=0x7f => Some(usize::from(len_byte)),
        0x80 if !constructed => return Err(BerError::Malformed),
        0x80 => None,
        0xff => return Err(BerError::Malformed),
        _ => {
            let n = usize::from(len_byte & 0x7f);
            let octets = buf.get(at..at + n).ok_or(BerError::Truncated)?;
            at += n;
            let mut l: u64 = 0;
            for &o in octets {
                if l & 0xff00_0000_0000_0000 != 0 {
                    return Err(BerError::Malformed);
                }
                l = (l << 8) | u64::from(o);
            }
            Some(usize::try_from(l).map_err(|_| BerError::Malformed)?)
        }
    };
    if depth == 0 {
        return Err(BerError::Malformed);
    }
    let header = at;
    match definite {
        Some(l) => {
            let end = header.checked_add(l).ok_or(BerError::Truncated)?;
            if end > buf.len() {
                return Err(BerError::Truncated);
            }
            Ok(Extent {
                tag,
                header,
                value_len: l,
                end,
                eoc: l == 0 && tag == 0,
            })
        }
        None => indefinite(buf, tag, header, depth),
    }
}

/// The extent of an indefinite-length element whose contents start at `header`: its
/// elements up to (and including) the end-of-contents element.
#[inline(never)]
fn indefinite(buf: &[u8], tag: u32, header: usize, depth: usize) -> Result<Extent, BerError> {
    let mut pos = header;
    loop {
        let rest = buf.get(pos..).ok_or(BerError::Truncated)?;
        let inner = read_element(rest, depth - 1)?;
        pos += inner.end;
        if inner.eoc {
            // As asn1-rs: the contents stop two octets (the end-of-contents) before the end.
            return Ok(Extent {
                tag,
                header,
                value_len: pos.saturating_sub(2 + header),
                end: pos,
                eoc: false,
            });
        }
    }
}

/// Iterates the elements of a constructed value; stops after the first error.
#[derive(Clone)]
pub struct Children<'a> {
    rest: &'a [u8],
    layer: Layer,
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match Tlv::parse(self.rest, self.layer) {
            Ok((tlv, rest)) => {
                self.rest = rest;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Parse all elements of `buf` (e.g. a SEQUENCE's contents), stopping at the first error.
pub fn elements(buf: &[u8], layer: Layer) -> Children<'_> {
    Children { rest: buf, layer }
}

/// Write one element with a definite length.
pub fn write(class: Class, constructed: bool, tag: u32, content: &[u8]) -> Vec<u8> {
    let header = Header::new(
        class,
        constructed,
        Tag(tag),
        Length::Definite(content.len()),
    );
    let mut out = header.to_der_vec().unwrap_or_default();
    out.extend_from_slice(content);
    out
}

/// A context-specific primitive element `[tag] IMPLICIT` with `content`.
pub fn context(tag: u32, content: &[u8]) -> Vec<u8> {
    write(Class::ContextSpecific, false, tag, content)
}

/// A context-specific constructed element `[tag]` around `content`.
pub fn context_cons(tag: u32, content: &[u8]) -> Vec<u8> {
    write(Class::ContextSpecific, true, tag, content)
}

/// A universal SEQUENCE around `content`.
pub fn sequence(content: &[u8]) -> Vec<u8> {
    write(Class::Universal, true, 16, content)
}

/// A universal OCTET STRING.
pub fn octet_string(content: &[u8]) -> Vec<u8> {
    write(Class::Universal, false, 4, content)
}

/// The minimal two's complement contents of an INTEGER.
pub fn integer_content(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

/// A universal INTEGER.
pub fn integer(v: i64) -> Vec<u8> {
    write(Class::Universal, false, 2, &integer_content(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn definite_and_indefinite_lengths() {
        let def = sequence(&[integer(5), octet_string(b"ab")].concat());
        let (t, rest) = Tlv::parse(&def, Layer::Tcap).unwrap();
        assert!(rest.is_empty() && t.constructed && t.is_universal(16));
        let kids: Vec<_> = t.children(Layer::Tcap).collect::<Result<_, _>>().unwrap();
        assert_eq!(kids[0].integer(), Some(5));
        assert_eq!(kids[1].value, b"ab");
        // The same SEQUENCE with an indefinite length and end-of-contents.
        let mut indef = vec![0x30, 0x80];
        indef.extend_from_slice(&def[2..]);
        indef.extend_from_slice(&[0, 0, 0xff]);
        let (t2, rest) = Tlv::parse(&indef, Layer::Tcap).unwrap();
        assert_eq!(rest, &[0xff]);
        assert_eq!(t2.value, &def[2..]);
        assert!(Tlv::parse(&[0x30, 0x05, 0x02], Layer::Tcap).is_err());
    }

    #[test]
    fn integers_are_minimal_and_signed() {
        for v in [
            0i64,
            1,
            127,
            128,
            255,
            256,
            -1,
            -128,
            -129,
            i64::MAX,
            i64::MIN,
        ] {
            let wire = integer(v);
            let (t, _) = Tlv::parse(&wire, Layer::Map).unwrap();
            assert_eq!(t.integer(), Some(v), "{v}");
        }
        assert_eq!(integer_content(128), vec![0, 128]);
        assert_eq!(integer_content(-1), vec![0xff]);
    }

    /// What `asn1_rs::Any::from_ber` makes of `buf`: (class, constructed, tag, value,
    /// rest) or whether the input was truncated.
    type Parsed<'a> = Result<(Class, bool, u32, &'a [u8], &'a [u8]), bool>;

    fn asn1_rs_parse(buf: &[u8]) -> Parsed<'_> {
        use asn1_rs::FromBer;
        match asn1_rs::Any::from_ber(buf) {
            Ok((rest, any)) => Ok((
                any.header.class(),
                any.header.is_constructed(),
                any.header.tag().0,
                any.data,
                rest,
            )),
            Err(e) => Err(matches!(e, asn1_rs::Err::Incomplete(_))),
        }
    }

    fn our_parse(buf: &[u8]) -> Parsed<'_> {
        match Tlv::parse(buf, Layer::Tcap) {
            Ok((t, rest)) => Ok((t.class, t.constructed, t.tag, t.value, rest)),
            Err(e) => Err(e.reason == "BER element truncated"),
        }
    }

    /// Octets that make headers: EOC, indefinite and long-form lengths, long tags.
    fn ber_octet() -> impl Strategy<Value = u8> {
        prop_oneof![
            Just(0x00u8),
            Just(0x80),
            Just(0x30),
            Just(0xa0),
            Just(0xa1),
            Just(0x62),
            Just(0x02),
            Just(0x04),
            Just(0x01),
            Just(0x03),
            Just(0x1f),
            Just(0x3f),
            Just(0x81),
            Just(0x82),
            Just(0x7f),
            Just(0xff),
            Just(0x20),
            any::<u8>(),
        ]
    }

    #[test]
    fn nested_indefinite_and_depth_limit_agree_with_asn1_rs() {
        for depth in [1usize, 10, 49, 50, 51, 60] {
            let mut v = Vec::new();
            for _ in 0..depth {
                v.extend_from_slice(&[0x30, 0x80]);
            }
            v.extend_from_slice(&[0x02, 0x01, 0x05]);
            for _ in 0..depth {
                v.extend_from_slice(&[0x00, 0x00]);
            }
            assert_eq!(our_parse(&v), asn1_rs_parse(&v), "depth {depth}");
            for cut in 0..v.len() {
                assert_eq!(
                    our_parse(&v[..cut]),
                    asn1_rs_parse(&v[..cut]),
                    "{depth} {cut}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn reads_as_asn1_rs_does(data in proptest::collection::vec(ber_octet(), 0..48)) {
            prop_assert_eq!(our_parse(&data), asn1_rs_parse(&data));
            if let Ok((t, _)) = Tlv::parse(&data, Layer::Tcap) {
                for k in t.children(Layer::Tcap) {
                    let Ok(k) = k else { break };
                    prop_assert_eq!(our_parse(k.raw), asn1_rs_parse(k.raw));
                }
            }
        }

        #[test]
        fn reads_random_octets_as_asn1_rs_does(data in proptest::collection::vec(any::<u8>(), 0..48)) {
            prop_assert_eq!(our_parse(&data), asn1_rs_parse(&data));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            for t in elements(&data, Layer::Map).flatten() {
                let _ = t.children(Layer::Map).count();
                let _ = t.integer();
            }
        }
    }
}
