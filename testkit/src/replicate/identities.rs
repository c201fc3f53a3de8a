//! Per-copy subscriber identities: each (identity, copy ≥ 1) gets a new identity of the
//! same length and the same home (the IMSI's MCC+MNC, the MSISDN's country code), distinct
//! from every other (identity, copy) and from every original; and per-copy transaction
//! identifiers (GTP TEIDs, TCAP transaction ids) that keep copies' sessions apart.

use std::collections::{BTreeMap, BTreeSet};

/// What kind of subscriber identity a digit string is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Imsi,
    Msisdn,
}

impl Kind {
    /// Leading digits kept: MCC + a 3-digit MNC for IMSIs (so any MNC length is kept), the
    /// longest country code (3 digits) for MSISDNs.
    pub fn kept(self) -> usize {
        match self {
            Kind::Imsi => 6,
            Kind::Msisdn => 3,
        }
    }

    /// The shortest identity that is mapped: at least 2 free digits (100 values) after the
    /// kept prefix. Shorter ones are not subscriber identities in any capture we read.
    pub fn min_len(self) -> usize {
        self.kept() + 2
    }

    pub fn max_len(self) -> usize {
        15
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Imsi => "IMSI",
            Kind::Msisdn => "MSISDN",
        }
    }
}

/// Is `digits` an identity of `kind` the mapping handles (decimal, length in range)?
pub fn mappable(kind: Kind, digits: &str) -> bool {
    (kind.min_len()..=kind.max_len()).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// One class of identities sharing a kind, a length and a kept prefix: the suffixes of its
/// originals, sorted (an original's index is its position).
#[derive(Debug, Default)]
struct Class {
    originals: Vec<u64>,
}

impl Class {
    /// The `n`-th (0-based) suffix value that is not an original's. Below the `j`-th
    /// original (sorted) there are `originals[j] - j` free values, nondecreasing in `j`; with
    /// `j*` the originals whose count is at most `n`, the answer is `n + j*`.
    fn nth_free(&self, n: u64) -> u64 {
        let s = &self.originals;
        let (mut lo, mut hi) = (0usize, s.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if s[mid] - mid as u64 <= n {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        n + lo as u64
    }
}

/// The identity mapping for one replication: built from every original identity of the
/// capture, so that no new identity equals an original.
///
/// Within a class (kind, length, kept prefix) with `m` originals, copy `k` (≥ 1) of the
/// `i`-th original (in sorted order) gets the `((k - 1) * m + i)`-th suffix value that no
/// original has: distinct (identity, copy) pairs get distinct positions, hence distinct
/// values, and none of them is an original's. Identities of different classes differ in
/// length or prefix, which the mapping keeps.
#[derive(Debug, Default)]
pub struct IdentityMap {
    classes: BTreeMap<(Kind, usize, String), Class>,
}

/// Too many copies for the identities of one class (short identities, many copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub kind: Kind,
    pub prefix: String,
    pub len: usize,
    pub needed: u64,
    pub available: u64,
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the copies need {} distinct {}-digit {}s with prefix {}, only {} exist",
            self.needed,
            self.len,
            self.kind.name(),
            self.prefix,
            self.available
        )
    }
}

impl std::error::Error for Exhausted {}

fn split(kind: Kind, digits: &str) -> (String, u64) {
    let (p, s) = digits.split_at(kind.kept());
    (p.to_string(), s.parse().unwrap_or(0))
}

impl IdentityMap {
    /// The mapping for `originals` (unmappable ones are ignored) and `copies` copies.
    pub fn new<'a>(
        originals: impl IntoIterator<Item = (Kind, &'a str)>,
        copies: u32,
    ) -> Result<IdentityMap, Exhausted> {
        let mut sets: BTreeMap<(Kind, usize, String), BTreeSet<u64>> = BTreeMap::new();
        for (kind, d) in originals {
            if !mappable(kind, d) {
                continue;
            }
            let (prefix, suffix) = split(kind, d);
            sets.entry((kind, d.len(), prefix))
                .or_default()
                .insert(suffix);
        }
        let mut classes = BTreeMap::new();
        for ((kind, len, prefix), set) in sets {
            let m = set.len() as u64;
            let space = 10u64.pow((len - kind.kept()) as u32);
            let needed = m * u64::from(copies.saturating_sub(1));
            if needed > space - m {
                return Err(Exhausted {
                    kind,
                    prefix,
                    len,
                    needed,
                    available: space - m,
                });
            }
            classes.insert(
                (kind, len, prefix),
                Class {
                    originals: set.into_iter().collect(),
                },
            );
        }
        Ok(IdentityMap { classes })
    }

    /// How many original identities of `kind` the mapping knows.
    pub fn originals(&self, kind: Kind) -> usize {
        self.classes
            .iter()
            .filter(|((k, ..), _)| *k == kind)
            .map(|(_, c)| c.originals.len())
            .sum()
    }

    /// Copy `copy`'s identity for the original `digits`: the original itself for copy 0,
    /// `None` for an identity the mapping was not built with.
    pub fn map(&self, kind: Kind, digits: &str, copy: u32) -> Option<String> {
        if !mappable(kind, digits) {
            return None;
        }
        let (prefix, suffix) = split(kind, digits);
        let len = digits.len();
        let class = self.classes.get(&(kind, len, prefix.clone()))?;
        let i = class.originals.binary_search(&suffix).ok()? as u64;
        if copy == 0 {
            return Some(digits.to_string());
        }
        let m = class.originals.len() as u64;
        let v = class.nth_free(u64::from(copy - 1) * m + i);
        Some(format!("{prefix}{v:0width$}", width = len - kind.kept()))
    }
}

/// A per-copy step coprime with 2^32 - 1 (a prime, 2654435761) and odd (coprime with
/// every power of two).
const STEP: u64 = 0x9E37_79B1;

/// Copy `copy`'s TEID for `teid`: 0 (no tunnel yet) stays 0; other values are moved by a
/// per-copy offset within 1..=2^32-1, a bijection for each copy (the same TEID maps the
/// same way in every message of the copy), never 0, and different in different copies.
pub fn teid(teid: u32, copy: u32) -> u32 {
    if teid == 0 || copy == 0 {
        return teid;
    }
    const M: u64 = u32::MAX as u64; // 2^32 - 1 non-zero values
    let off = (u64::from(copy) * STEP) % M;
    (((u64::from(teid) - 1 + off) % M) + 1) as u32
}

/// Copy `copy`'s value of a 1–4 octet identifier (a TCAP transaction id, a GTP sequence
/// number), rewritten in place: the value plus a per-copy offset modulo its width, a
/// bijection for each copy, different in copies less than 2^(8·len) apart.
pub fn shift_id(tid: &mut [u8], copy: u32) {
    if tid.is_empty() || tid.len() > 4 || copy == 0 {
        return;
    }
    let bits = 8 * tid.len() as u32;
    let mut v = 0u64;
    for &b in tid.iter() {
        v = (v << 8) | u64::from(b);
    }
    let modulus = 1u64 << bits;
    let v = (v + u64::from(copy) * STEP) % modulus;
    let n = tid.len();
    for (i, b) in tid.iter_mut().enumerate() {
        *b = (v >> (8 * (n - 1 - i))) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn keeps_length_and_home_and_copy_zero() {
        let m = IdentityMap::new([(Kind::Imsi, "999990000000001")], 3).unwrap();
        assert_eq!(
            m.map(Kind::Imsi, "999990000000001", 0).as_deref(),
            Some("999990000000001")
        );
        assert_eq!(
            m.map(Kind::Imsi, "999990000000001", 1).as_deref(),
            Some("999990000000000")
        );
        assert_eq!(
            m.map(Kind::Imsi, "999990000000001", 2).as_deref(),
            Some("999990000000002")
        );
        assert_eq!(m.map(Kind::Imsi, "999990000000009", 1), None);
        assert_eq!(m.map(Kind::Msisdn, "999990000000001", 1), None);
    }

    #[test]
    fn nth_free_skips_the_originals() {
        let c = Class {
            originals: vec![0, 1, 3, 7],
        };
        let free: Vec<u64> = (0..6).map(|n| c.nth_free(n)).collect();
        assert_eq!(free, vec![2, 4, 5, 6, 8, 9]);
    }

    #[test]
    fn too_many_copies_is_an_error() {
        let e = IdentityMap::new([(Kind::Msisdn, "4912345")], 20_000).unwrap_err();
        assert_eq!(e.available, 9999);
        assert!(IdentityMap::new([(Kind::Msisdn, "4912")], 20_000).is_ok()); // not mapped
    }

    #[test]
    fn teid_zero_stays_and_copies_differ() {
        assert_eq!(teid(0, 5), 0);
        assert_eq!(teid(7, 0), 7);
        assert_ne!(teid(1, 1), 1);
        assert_ne!(teid(1, 1), teid(1, 2));
        assert_ne!(teid(u32::MAX, 1), 0);
        let mut t = [0x12];
        shift_id(&mut t, 0);
        assert_eq!(t, [0x12]);
        shift_id(&mut t, 1);
        assert_ne!(t, [0x12]);
    }

    fn digits(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
        // Few prefixes and a narrow alphabet, so classes hold several originals and
        // suffixes crowd the low values the mapping hands out first.
        (
            prop::sample::select(vec!["001010", "999990", "262011"]),
            prop::collection::vec(prop::sample::select(vec!['0', '1', '9']), len),
        )
            .prop_map(|(p, s)| format!("{p}{}", s.into_iter().collect::<String>()))
    }

    proptest! {
        #[test]
        fn mapping_is_injective_and_never_an_original(
            imsis in prop::collection::vec(digits(2..=9), 1..40),
            msisdns in prop::collection::vec(digits(2..=6), 0..20),
            copies in 1u32..12,
        ) {
            let originals: Vec<(Kind, &str)> = imsis
                .iter()
                .map(|d| (Kind::Imsi, d.as_str()))
                .chain(msisdns.iter().map(|d| (Kind::Msisdn, d.as_str())))
                .collect();
            let map = IdentityMap::new(originals.iter().copied(), copies).unwrap();
            let orig: HashSet<(Kind, &str)> = originals.iter().copied().collect();
            let mut seen = HashSet::new();
            for &(kind, d) in &orig {
                for copy in 0..copies {
                    let n = map.map(kind, d, copy).expect("every original is mapped");
                    prop_assert_eq!(n.len(), d.len());
                    prop_assert_eq!(&n[..kind.kept()], &d[..kind.kept()]);
                    prop_assert!(n.bytes().all(|b| b.is_ascii_digit()));
                    if copy == 0 {
                        prop_assert_eq!(&n, d);
                    } else {
                        prop_assert!(!orig.contains(&(kind, n.as_str())), "{} is an original", n);
                    }
                    prop_assert!(seen.insert((kind, n.clone())), "{} given twice", n);
                }
            }
        }

        #[test]
        fn teids_are_a_bijection_per_copy(ts in prop::collection::hash_set(any::<u32>(), 1..200), copy in 0u32..100_000) {
            let mapped: HashSet<u32> = ts.iter().map(|&t| teid(t, copy)).collect();
            prop_assert_eq!(mapped.len(), ts.len());
            for &t in &ts {
                prop_assert_eq!(teid(t, copy) == 0, t == 0);
            }
        }
    }
}
