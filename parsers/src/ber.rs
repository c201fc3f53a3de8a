//! BER (ITU-T X.690) elements for TCAP and MAP, read and written with rusticata's
//! `asn1-rs` (definite and indefinite lengths, bounded nesting, errors instead of panics).
//!
//! TCAP and MAP are decoded as typed structures over these elements ([`crate::tcap`],
//! [`crate::map`]); this module only turns bytes into (class, tag, value) and back.

use asn1_rs::{FromBer, Header, Length, Tag, ToDer};

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
    pub fn parse(buf: &'a [u8], layer: Layer) -> Result<(Tlv<'a>, &'a [u8]), DecodeError> {
        let (rest, any) = asn1_rs::Any::from_ber(buf).map_err(|e| {
            let reason = match e {
                asn1_rs::Err::Incomplete(_) => "BER element truncated",
                _ => "malformed BER element",
            };
            DecodeError::new(layer, reason, 0)
        })?;
        let used = buf.len() - rest.len();
        Ok((
            Tlv {
                class: any.header.class(),
                constructed: any.header.is_constructed(),
                tag: any.header.tag().0,
                value: any.data,
                raw: &buf[..used],
            },
            rest,
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

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            for t in elements(&data, Layer::Map).flatten() {
                let _ = t.children(Layer::Map).count();
                let _ = t.integer();
            }
        }
    }
}
