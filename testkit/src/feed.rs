//! Out-of-order feeds for the dataflow runner's tests: a deterministic shuffled schedule
//! of signals (`landfall_dataflows::Feed::Scheduled`), and which signals it makes late.
//!
//! A schedule has one entry per signal: `(delay, key)`, the signal entering the dataflow
//! `delay` batches after its event-time batch, inserted within its round in the order of
//! `key`.

use std::sync::Arc;

/// SplitMix64: a small, fast, well-mixed hash of `x` (the schedule's randomness).
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The schedule of `len` signals arriving out of order: signal `i` enters `d` batches
/// late, `d` drawn deterministically from `0..=max_delay_batches` (seeded by `seed` and
/// `i`), and the signals of a round are inserted in a shuffled order. Later batches then
/// revise moments already emitted for earlier ones.
pub fn shuffled(len: usize, seed: u64, max_delay_batches: u64) -> Arc<[(u64, u64)]> {
    (0..len as u64)
        .map(|i| {
            let r = splitmix64(seed ^ splitmix64(i));
            let delay = if max_delay_batches == 0 {
                0
            } else {
                r % (max_delay_batches + 1)
            };
            (delay, splitmix64(r))
        })
        .collect()
}

/// Indices of the signals that `schedule` makes late for a bounded run allowing
/// `lateness_batches`: those entering more than that many batches after their event-time
/// batch. (A run whose engine revises any disorder has none.)
pub fn late_indices(schedule: &[(u64, u64)], lateness_batches: u64) -> Vec<usize> {
    (0..schedule.len())
        .filter(|&i| schedule[i].0 > lateness_batches)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_the_bound_and_late_ones_exceed_the_lateness() {
        let s = shuffled(1000, 7, 5);
        assert!(s.iter().all(|&(d, _)| d <= 5));
        assert!(
            (0..=5).all(|d| s.iter().any(|&(x, _)| x == d)),
            "every delay drawn"
        );
        assert_eq!(s, shuffled(1000, 7, 5), "deterministic");
        let late = late_indices(&s, 2);
        assert!(late.iter().all(|&i| s[i].0 > 2));
        assert_eq!(late.len(), s.iter().filter(|&&(d, _)| d > 2).count());
        assert!(shuffled(10, 7, 0).iter().all(|&(d, _)| d == 0));
        assert!(late_indices(&shuffled(10, 7, 3), 3).is_empty());
    }
}
