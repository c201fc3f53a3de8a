//! Domain values shared by every decoder and by the dataflow: subscriber identities,
//! PLMN ids and countries. Small `Copy` types, so a `Signal` is cheap to move through
//! timely channels and to hash by IMSI.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a digit string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitsError {
    #[error("empty digit string")]
    Empty,
    #[error("{0} digits is more than the {1} allowed")]
    TooLong(usize, usize),
    #[error("non-decimal digit {0:#x} at position {1}")]
    NotDecimal(u8, usize),
}

/// Up to `N` decimal digits kept inline (ASCII). Leading zeros matter (test IMSIs start
/// with 001), so digits are never stored as an integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digits<const N: usize> {
    len: u8,
    #[serde(with = "serde_digits")]
    ascii: [u8; N],
}

mod serde_digits {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let v: Vec<u8> = Deserialize::deserialize(d)?;
        v.try_into()
            .map_err(|_| D::Error::custom("wrong digit array length"))
    }
}

impl<const N: usize> Digits<N> {
    /// Digits from an ASCII string such as `"001020000000064"`.
    pub fn parse(s: &str) -> Result<Self, DigitsError> {
        Self::from_ascii(s.as_bytes())
    }

    pub fn from_ascii(s: &[u8]) -> Result<Self, DigitsError> {
        if s.is_empty() {
            return Err(DigitsError::Empty);
        }
        if s.len() > N {
            return Err(DigitsError::TooLong(s.len(), N));
        }
        let mut ascii = [b'0'; N];
        for (i, &c) in s.iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(DigitsError::NotDecimal(c, i));
            }
            ascii[i] = c;
        }
        Ok(Digits {
            len: s.len() as u8,
            ascii,
        })
    }

    /// Telephony BCD (TBCD, 3GPP TS 29.002): low nibble first, stopping at an `F` filler.
    pub fn from_tbcd(bytes: &[u8]) -> Result<Self, DigitsError> {
        let mut ascii = [b'0'; N];
        let mut len = 0usize;
        'outer: for &b in bytes {
            let (lo, hi) = (b & 0x0f, b >> 4);
            // Two decimal digits with room for both: what the nibble loop below would do.
            if lo <= 9 && hi <= 9 {
                if let Some(pair) = ascii.get_mut(len..len + 2) {
                    pair.copy_from_slice(&[b'0' + lo, b'0' + hi]);
                    len += 2;
                    continue;
                }
            }
            for nibble in [lo, hi] {
                if nibble == 0x0f {
                    break 'outer;
                }
                if nibble > 9 {
                    return Err(DigitsError::NotDecimal(nibble, len));
                }
                if len == N {
                    return Err(DigitsError::TooLong(len + 1, N));
                }
                ascii[len] = b'0' + nibble;
                len += 1;
            }
        }
        if len == 0 {
            return Err(DigitsError::Empty);
        }
        Ok(Digits {
            len: len as u8,
            ascii,
        })
    }

    /// The first `n` digits of packed BCD `bytes` (low nibble first); `None` unless all
    /// of them are decimal and `1 <= n <= N`, `n <= 2 * bytes.len()`. The same digits as
    /// [`Digits::from_ascii`] of their ASCII form, without the intermediate string.
    pub fn from_bcd(bytes: &[u8], n: usize) -> Option<Self> {
        if n == 0 || n > N || n > bytes.len().saturating_mul(2) {
            return None;
        }
        let mut ascii = [b'0'; N];
        let out = ascii.get_mut(..n)?;
        for (pair, &b) in out.chunks_mut(2).zip(bytes) {
            let lo = b & 0x0f;
            if lo > 9 {
                return None;
            }
            if let Some(slot) = pair.first_mut() {
                *slot = b'0' + lo;
            }
            if let Some(slot) = pair.get_mut(1) {
                let hi = b >> 4;
                if hi > 9 {
                    return None;
                }
                *slot = b'0' + hi;
            }
        }
        Some(Digits {
            len: n as u8,
            ascii,
        })
    }

    /// The TBCD encoding of these digits (odd counts padded with an `F` nibble).
    pub fn to_tbcd(&self) -> Vec<u8> {
        self.as_bytes()
            .chunks(2)
            .map(|p| {
                let lo = p[0] - b'0';
                let hi = p.get(1).map_or(0x0f, |c| c - b'0');
                lo | (hi << 4)
            })
            .collect()
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.ascii[..self.len as usize]
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The leading `n` digits as a number (e.g. the MCC of an IMSI).
    pub fn prefix_value(&self, n: usize) -> Option<u32> {
        let p = self.as_bytes().get(..n)?;
        Some(p.iter().fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0')))
    }
}

impl<const N: usize> fmt::Display for Digits<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for Digits<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.as_str())
    }
}

/// International Mobile Subscriber Identity (E.212): MCC + MNC + MSIN, at most 15 digits.
pub type Imsi = Digits<15>;
/// Subscriber number (E.164), at most 15 digits.
pub type Msisdn = Digits<15>;

/// A public land mobile network id: mobile country code and mobile network code, with the
/// MNC length as encoded (2 or 3 digits; `01` and `001` are different networks on the wire).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Plmn {
    pub mcc: u16,
    pub mnc: u16,
    pub mnc_len: u8,
}

impl Plmn {
    pub const fn new(mcc: u16, mnc: u16, mnc_len: u8) -> Self {
        Plmn { mcc, mnc, mnc_len }
    }

    /// Decode the 3-octet BCD PLMN id of TS 24.008 §10.5.1.13: octet 1 = MCC2|MCC1,
    /// octet 2 = MNC3|MCC3, octet 3 = MNC2|MNC1; MNC3 = F means a 2-digit MNC.
    pub fn from_bcd(b: &[u8]) -> Option<Plmn> {
        if b.len() < 3 {
            return None;
        }
        let d = |x: u8| if x <= 9 { Some(u16::from(x)) } else { None };
        let mcc = d(b[0] & 0x0f)? * 100 + d(b[0] >> 4)? * 10 + d(b[1] & 0x0f)?;
        let mnc3 = b[1] >> 4;
        let (mnc, mnc_len) = if mnc3 == 0x0f {
            (d(b[2] & 0x0f)? * 10 + d(b[2] >> 4)?, 2)
        } else {
            (d(b[2] & 0x0f)? * 100 + d(b[2] >> 4)? * 10 + d(mnc3)?, 3)
        };
        Some(Plmn { mcc, mnc, mnc_len })
    }

    /// The 3-octet BCD encoding, inverse of [`Plmn::from_bcd`].
    pub fn to_bcd(&self) -> [u8; 3] {
        let m = |n: u16, p: u16| ((n / p) % 10) as u8;
        let (mnc1, mnc2, mnc3) = if self.mnc_len == 3 {
            (m(self.mnc, 100), m(self.mnc, 10), m(self.mnc, 1))
        } else {
            (m(self.mnc, 10), m(self.mnc, 1), 0x0f)
        };
        [
            m(self.mcc, 100) | (m(self.mcc, 10) << 4),
            m(self.mcc, 1) | (mnc3 << 4),
            mnc1 | (mnc2 << 4),
        ]
    }

    /// The PLMN as "MCC-MNC" parsed back (e.g. "001-01").
    pub fn parse(s: &str) -> Option<Plmn> {
        let (mcc, mnc) = s.split_once('-')?;
        if mcc.len() != 3 || !(2..=3).contains(&mnc.len()) {
            return None;
        }
        Some(Plmn {
            mcc: mcc.parse().ok()?,
            mnc: mnc.parse().ok()?,
            mnc_len: mnc.len() as u8,
        })
    }
}

impl fmt::Display for Plmn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mnc_len == 3 {
            write!(f, "{:03}-{:03}", self.mcc, self.mnc)
        } else {
            write!(f, "{:03}-{:02}", self.mcc, self.mnc)
        }
    }
}

impl fmt::Debug for Plmn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plmn({self})")
    }
}

/// An ISO 3166-1 alpha-2 country code ("FR"); test networks use their MCC digits ("001").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Country {
    len: u8,
    code: [u8; 3],
}

impl Country {
    pub fn new(code: &str) -> Option<Country> {
        let b = code.as_bytes();
        if !(2..=3).contains(&b.len()) || !b.iter().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let mut out = [b' '; 3];
        out[..b.len()].copy_from_slice(b);
        Some(Country {
            len: b.len() as u8,
            code: out,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.code[..self.len as usize]).unwrap_or_default()
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plmn_bcd_round_trip_and_display() {
        let p = Plmn::from_bcd(&[0x00, 0xf1, 0x10]).unwrap();
        assert_eq!(p.to_string(), "001-01");
        assert_eq!(p.to_bcd(), [0x00, 0xf1, 0x10]);
        let p3 = Plmn::from_bcd(&[0x00, 0x11, 0x00]).unwrap();
        assert_eq!(p3.to_string(), "001-001");
        assert_eq!(p3.to_bcd(), [0x00, 0x11, 0x00]);
        assert_eq!(Plmn::parse("310-260"), Some(Plmn::new(310, 260, 3)));
        assert_eq!(Plmn::from_bcd(&[0x0a, 0xf1, 0x10]), None);
    }

    #[test]
    fn tbcd_digits() {
        let m = Msisdn::from_tbcd(&[0x00, 0x51, 0x01, 0x02, 0x00, 0x60, 0xf4]).unwrap();
        assert_eq!(m.as_str(), "0015102000064");
        assert_eq!(Msisdn::from_tbcd(&m.to_tbcd()).unwrap(), m);
        assert!(Imsi::from_tbcd(&[0x1a]).is_err());
        assert_eq!(
            Imsi::parse("001020000000064").unwrap().prefix_value(3),
            Some(1)
        );
    }

    /// The plain nibble loop `from_tbcd` had before its two-digit fast path.
    fn tbcd_reference<const N: usize>(bytes: &[u8]) -> Result<Digits<N>, DigitsError> {
        let mut ascii = [b'0'; N];
        let mut len = 0usize;
        'outer: for &b in bytes {
            for nibble in [b & 0x0f, b >> 4] {
                if nibble == 0x0f {
                    break 'outer;
                }
                if nibble > 9 {
                    return Err(DigitsError::NotDecimal(nibble, len));
                }
                if len == N {
                    return Err(DigitsError::TooLong(len + 1, N));
                }
                ascii[len] = b'0' + nibble;
                len += 1;
            }
        }
        if len == 0 {
            return Err(DigitsError::Empty);
        }
        Ok(Digits {
            len: len as u8,
            ascii,
        })
    }

    proptest::proptest! {
        #[test]
        fn tbcd_fast_path_matches_nibble_loop(bytes in proptest::collection::vec(
            proptest::prop_oneof![0u8..=0x99, proptest::num::u8::ANY], 0..12)) {
            proptest::prop_assert_eq!(Digits::<15>::from_tbcd(&bytes), tbcd_reference::<15>(&bytes));
            proptest::prop_assert_eq!(Digits::<4>::from_tbcd(&bytes), tbcd_reference::<4>(&bytes));
            proptest::prop_assert_eq!(Digits::<5>::from_tbcd(&bytes), tbcd_reference::<5>(&bytes));
        }
    }
}
