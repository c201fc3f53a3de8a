//! What the benchmarks share: the synthetic networks and subscribers, and the process's
//! memory as /proc reports it.

#![allow(dead_code)] // each benchmark uses its share

use landfall_parsers::{Country, Imsi, Plmn};

/// Networks the synthetic subscribers move between: 12 PLMNs in 4 countries.
pub fn networks() -> Vec<(Plmn, Country)> {
    let c = |s| Country::new(s).unwrap();
    vec![
        (Plmn::new(208, 1, 2), c("FR")),
        (Plmn::new(208, 10, 2), c("FR")),
        (Plmn::new(208, 20, 2), c("FR")),
        (Plmn::new(262, 1, 2), c("DE")),
        (Plmn::new(262, 2, 2), c("DE")),
        (Plmn::new(262, 3, 2), c("DE")),
        (Plmn::new(214, 1, 2), c("ES")),
        (Plmn::new(214, 7, 2), c("ES")),
        (Plmn::new(214, 3, 2), c("ES")),
        (Plmn::new(222, 1, 2), c("IT")),
        (Plmn::new(222, 10, 2), c("IT")),
        (Plmn::new(222, 88, 2), c("IT")),
    ]
}

/// A fixed 64-bit mix (splitmix64's finaliser): deterministic pseudo-randomness.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Subscriber `sub`'s IMSI: 20801 followed by the number.
pub fn imsi_of(sub: u64) -> Imsi {
    let mut digits = *b"208010000000000";
    let mut v = sub;
    for d in digits[5..].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    Imsi::from_ascii(&digits).expect("digits")
}

/// `VmHWM` (peak) or `VmRSS` (now) of this process, in bytes.
/// The resident set after the allocator has handed its free memory back (glibc's
/// `malloc_trim`): what the live state holds, not what a burst of short-lived allocations
/// (a million subscriptions fed at once) left in the allocator's free lists.
#[allow(dead_code)] // each bench uses its share
pub fn live_bytes() -> u64 {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: glibc's malloc_trim only releases free memory; it takes no pointers.
    unsafe {
        malloc_trim(0);
    }
    rss_bytes("VmRSS:")
}

pub fn rss_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
