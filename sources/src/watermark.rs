//! A source's watermark: the event time (µs) below which it will produce no more signals.
//!
//! It is not simply the latest frame's time. A signal carries its *request's* capture
//! time and is made when the answer arrives (or later), so while a request waits, signals
//! older than the latest frame can still come: the decoder's
//! [`oldest_pending`](landfall_parsers::decode::Decoder::oldest_pending) bounds them. And
//! frames within a capture are not always in time order (a pcapng of several interfaces,
//! probes merged upstream: the real captures in `../shared` step back by up to a second),
//! so a request can still arrive stamped before the latest frame; the largest such step
//! seen recently (this and the previous [`DISORDER_WINDOW_US`] of event time) is allowed
//! for. Hence, with `last` the latest frame time:
//!
//! ```text
//! watermark = max( min(oldest pending, last − disorder), last − hold )
//! hold      = min( max_delay, max(disorder, 2 × recent p99.9 answer delay) )
//! ```
//!
//! never going back. A request is waited for as long as answers actually take (the
//! decoder's [`answer_delay`](landfall_parsers::decode::Decoder::answer_delay) over the
//! last minute or two, twice over), and never longer than `max_delay`: on a live link some
//! requests are never answered (an answer the probe missed), and waiting `max_delay` for
//! each would put every moment that far behind. Before [`ANSWERS_KNOWN`] recent answers
//! the hold is `max_delay`. A signal whose answer comes later than the hold after its
//! request may arrive behind the watermark, and is counted late downstream.

use std::time::Duration;

use landfall_parsers::decode::LATEST_TIMESTAMP_US;

/// The quantile of recent answer delays a request is held for (twice over): ‰.
pub const ANSWER_PER_MILLE: u32 = 999;
/// Recent answers needed before their delays shorten the hold.
pub const ANSWERS_KNOWN: u64 = 100;

/// The span of event time over which the largest step back of frame times is remembered
/// (the current window and the previous one).
pub const DISORDER_WINDOW_US: i64 = 60_000_000;

/// Frames stamped this far after the wall clock (µs) are taken as damaged: they are decoded
/// but move no watermark (one such frame would otherwise put every later signal behind).
/// Only while the wall clock itself looks set (after [`SANE_WALL_CLOCK_US`]): a host
/// without a clock must not stall every source; and only in a run that follows the wall
/// clock (`SourcesConfig::advance_with_wall_clock`): otherwise the captures' time is the
/// run's, and a synthetic capture dated in the future moves the watermark as any other.
pub const MAX_FUTURE_US: i64 = 86_400_000_000;
/// 2020-01-01T00:00:00Z.
pub const SANE_WALL_CLOCK_US: i64 = 1_577_836_800_000_000;

/// The watermark of one source, fed the time of each frame it decodes.
#[derive(Clone, Debug)]
pub struct Watermark {
    max_delay_us: i64,
    /// Latest frame time used.
    last: Option<i64>,
    /// Largest step back (latest − frame time) in the current and previous windows.
    disorder: i64,
    previous_disorder: i64,
    window_start: i64,
    current: Option<i64>,
    /// Frames not used: stamped outside 1970–8999 or a day past a set wall clock.
    pub ignored_frames: u64,
}

impl Watermark {
    pub fn new(max_delay: Duration) -> Watermark {
        Watermark {
            max_delay_us: i64::try_from(max_delay.as_micros()).unwrap_or(i64::MAX),
            last: None,
            disorder: 0,
            previous_disorder: 0,
            window_start: i64::MIN,
            current: None,
            ignored_frames: 0,
        }
    }

    /// A frame stamped `ts_us` was decoded; `wall_us` is the wall clock (µs since the
    /// epoch), for telling damaged stamps.
    pub fn observe(&mut self, ts_us: i64, wall_us: i64) {
        if !(0..=LATEST_TIMESTAMP_US).contains(&ts_us)
            || (wall_us > SANE_WALL_CLOCK_US && ts_us > wall_us.saturating_add(MAX_FUTURE_US))
        {
            self.ignored_frames += 1;
            return;
        }
        let last = match self.last {
            Some(l) if l >= ts_us => {
                self.disorder = self.disorder.max(l - ts_us);
                return;
            }
            _ => ts_us,
        };
        self.last = Some(last);
        if last.saturating_sub(self.window_start) >= DISORDER_WINDOW_US {
            // Windows follow each other; a jump over several forgets both.
            self.previous_disorder =
                if last.saturating_sub(self.window_start) < 2 * DISORDER_WINDOW_US {
                    self.disorder
                } else {
                    0
                };
            self.disorder = 0;
            self.window_start = last;
        }
    }

    /// The latest frame time seen (µs).
    pub fn last_frame(&self) -> Option<i64> {
        self.last
    }

    /// The step back currently allowed for (µs).
    pub fn disorder(&self) -> i64 {
        self.disorder
            .max(self.previous_disorder)
            .min(self.max_delay_us)
    }

    /// How long behind the latest frame the watermark may be held (µs), with
    /// `answer_delay` the recent answers' p99.9 delay if known.
    pub fn hold(&self, answer_delay: Option<i64>) -> i64 {
        answer_delay.map_or(self.max_delay_us, |d| {
            self.disorder()
                .max(d.saturating_mul(2))
                .min(self.max_delay_us)
        })
    }

    /// The watermark after the frames seen, with `oldest_pending` the decoder's oldest
    /// waiting request and `answer_delay` how long recent answers took
    /// ([`Watermark::hold`]); `None` before the first frame. Never goes back.
    pub fn update(
        &mut self,
        oldest_pending: Option<i64>,
        answer_delay: Option<i64>,
    ) -> Option<i64> {
        let last = self.last?;
        let mut low = last.saturating_sub(self.disorder());
        if let Some(p) = oldest_pending {
            low = low.min(p);
        }
        let w = low.max(last.saturating_sub(self.hold(answer_delay)));
        self.current = Some(self.current.map_or(w, |c| c.max(w)));
        self.current
    }

    pub fn current(&self) -> Option<i64> {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;
    const T0: i64 = 1_780_300_800 * S;
    const NOW: i64 = T0 + 3600 * S;

    #[test]
    fn an_unanswered_request_holds_the_watermark_at_most_max_delay() {
        let mut w = Watermark::new(Duration::from_secs(5));
        assert_eq!(w.update(None, None), None, "nothing before the first frame");
        w.observe(T0, NOW);
        assert_eq!(w.update(None, None), Some(T0));
        // A request at T0 + 1 s is never answered; frames go on.
        for t in 1..=60 {
            w.observe(T0 + t * S, NOW);
            let got = w.update(Some(T0 + S), None).unwrap();
            let want = (T0 + S).max(T0 + t * S - 5 * S);
            assert_eq!(got, want, "at {t} s");
        }
        // The decoder dropped it (its timeout): the watermark is the latest frame.
        assert_eq!(w.update(None, None), Some(T0 + 60 * S));
    }

    #[test]
    fn never_goes_back() {
        let mut w = Watermark::new(Duration::from_secs(5));
        w.observe(T0 + 10 * S, NOW);
        assert_eq!(w.update(None, None), Some(T0 + 10 * S));
        // A request older than the watermark shows up pending (a frame out of order).
        assert_eq!(w.update(Some(T0 + 8 * S), None), Some(T0 + 10 * S));
    }

    #[test]
    fn steps_back_in_frame_times_are_allowed_for() {
        let mut w = Watermark::new(Duration::from_secs(5));
        w.observe(T0, NOW);
        w.observe(T0 + S, NOW);
        w.observe(T0 + S / 2, NOW); // 500 ms behind
        w.observe(T0 + 2 * S, NOW);
        assert_eq!(w.disorder(), S / 2);
        assert_eq!(w.update(None, None), Some(T0 + 2 * S - S / 2));
        // Remembered for the window after the one it was seen in, then forgotten.
        w.observe(T0 + 61 * S, NOW);
        assert_eq!(w.disorder(), S / 2);
        w.observe(T0 + 122 * S, NOW);
        assert_eq!(w.disorder(), 0);
        // Never more than max_delay.
        w.observe(T0 + 100 * S, NOW);
        assert_eq!(w.disorder(), 5 * S);
    }

    #[test]
    fn damaged_stamps_move_nothing() {
        let mut w = Watermark::new(Duration::from_secs(5));
        w.observe(T0, NOW);
        w.observe(NOW + 2 * MAX_FUTURE_US, NOW);
        w.observe(-5, NOW);
        assert_eq!(w.ignored_frames, 2);
        assert_eq!(w.update(None, None), Some(T0));
        // A host clock not set: no guard.
        let mut unset = Watermark::new(Duration::from_secs(5));
        unset.observe(T0, 0);
        assert_eq!(unset.update(None, None), Some(T0));
    }

    #[test]
    fn an_unanswered_request_is_held_as_long_as_answers_take() {
        let mut w = Watermark::new(Duration::from_secs(5));
        w.observe(T0, NOW);
        // Answers take up to 20 ms (p99.9): a request unanswered at T0 holds 40 ms.
        for t in 1..=10 {
            w.observe(T0 + t * S, NOW);
            assert_eq!(w.update(Some(T0), Some(20_000)), Some(T0 + t * S - 40_000));
        }
        // Disorder in the frames is still allowed for.
        w.observe(T0 + 10 * S - S / 2, NOW);
        w.observe(T0 + 11 * S, NOW);
        assert_eq!(w.update(Some(T0), Some(20_000)), Some(T0 + 11 * S - S / 2));
        // Slow answers: held up to max_delay, no more.
        assert_eq!(w.hold(Some(30 * S)), 5 * S);
        assert_eq!(w.hold(None), 5 * S);
    }
}
