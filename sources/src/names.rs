//! File names in a followed folder: which match the source's pattern, and their order.
//!
//! Probes name rotated captures so that name order is time order: a timestamp in the
//! name (`tcpdump -G` with `%Y%m%d-%H%M%S`), or a counter (`tcpdump -C` writes `x.pcap`,
//! `x.pcap1`, … `x.pcap10`). Counters are not zero-padded, so names are compared
//! *naturally*: runs of digits as numbers, the rest character by character. Names equal
//! that way (`a01`, `a1`) are ordered by modification time, then plainly.

use std::cmp::Ordering;
use std::time::SystemTime;

/// A glob over file names: `*` any run of characters (also none), `?` exactly one; every
/// other character stands for itself. The empty pattern matches every name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    chars: Vec<char>,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        let p = if pattern.is_empty() { "*" } else { pattern };
        Pattern {
            chars: p.chars().collect(),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let (p, n) = (&self.chars, &name);
        // Iterative glob match: on a mismatch, go back to the last `*` and let it take
        // one more character.
        let (mut i, mut j) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while j < n.len() {
            match p.get(i) {
                Some('*') => {
                    star = Some((i, j));
                    i += 1;
                }
                Some(&c) if c == '?' || c == n[j] => {
                    i += 1;
                    j += 1;
                }
                _ => match star {
                    Some((si, sj)) => {
                        i = si + 1;
                        j = sj + 1;
                        star = Some((si, sj + 1));
                    }
                    None => return false,
                },
            }
        }
        p[i.min(p.len())..].iter().all(|&c| c == '*')
    }
}

/// Natural order of two names: digit runs compared as numbers (any length), the rest by
/// character.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (na, nb) = (trim_zeros(da), trim_zeros(db));
                let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if o != Ordering::Equal {
                    return o;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    s.split_at(n)
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

/// The order files are picked up in: natural name order, then modification time, then
/// the plain name.
pub fn pickup_cmp(a: (&str, Option<SystemTime>), b: (&str, Option<SystemTime>)) -> Ordering {
    natural_cmp(a.0, b.0)
        .then_with(|| a.1.cmp(&b.1))
        .then_with(|| a.0.cmp(b.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let p = Pattern::new("*.pcap");
        assert!(p.matches("a.pcap"));
        assert!(p.matches(".pcap"));
        assert!(!p.matches("a.pcapng"));
        assert!(!p.matches("a.pcap.tmp"));
        assert!(Pattern::new("x.pcap*").matches("x.pcap10"));
        assert!(Pattern::new("p-????.pcap").matches("p-0001.pcap"));
        assert!(!Pattern::new("p-????.pcap").matches("p-001.pcap"));
        assert!(Pattern::new("*a*b*").matches("xxaxxbxx"));
        assert!(!Pattern::new("*a*b").matches("xxaxxbxx"));
        assert!(Pattern::new("").matches("anything"));
        assert!(Pattern::new("é*").matches("été"));
    }

    #[test]
    fn natural_order_of_rotated_names() {
        let mut names = ["x.pcap10", "x.pcap2", "x.pcap", "x.pcap1", "x.pcap11"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            ["x.pcap", "x.pcap1", "x.pcap2", "x.pcap10", "x.pcap11"]
        );
        let mut stamped = ["p-20260601-0900.pcap", "p-20260601-0800.pcap"];
        stamped.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(stamped[0], "p-20260601-0800.pcap");
        assert_eq!(natural_cmp("a01", "a1"), Ordering::Equal);
        assert_eq!(
            natural_cmp("a99999999999999999999999", "a100000000000000000000000"),
            Ordering::Less
        );
        let t = |s| Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(pickup_cmp(("a01", t(2)), ("a1", t(1))), Ordering::Greater);
        assert_eq!(pickup_cmp(("a01", t(1)), ("a1", t(1))), Ordering::Less);
    }
}
