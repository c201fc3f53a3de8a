use super::*;

const S: i64 = 1_000_000;
const T0: i64 = 1_780_300_800 * S;

fn cfg(wall: bool) -> MergeConfig {
    MergeConfig {
        idle_timeout: Duration::from_secs(5),
        advance_with_wall_clock: wall,
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn a_silent_source_stops_holding_the_others_after_the_idle_timeout() {
    let t = Instant::now();
    let mut m = Merger::new(2, cfg(false), t);
    m.progress(0, Some(T0), Some((T0, t)));
    assert_eq!(m.watermark(t, 0), None, "source 1 has said nothing yet");
    let t1 = t + secs(1);
    m.progress(0, Some(T0 + S), Some((T0 + S, t1)));
    assert_eq!(m.watermark(t1, 0), None);
    assert!(!m.is_idle(1, t + secs(4)));
    let t5 = t + secs(5);
    assert!(m.is_idle(1, t5));
    assert_eq!(
        m.watermark(t5, 0),
        Some(T0 + S),
        "source 1 idle: not waited for"
    );
    // Source 0 goes on; source 1 speaks again, behind: it holds again, but the merged
    // watermark does not go back.
    let t6 = t + secs(6);
    m.progress(0, Some(T0 + 3 * S), Some((T0 + 3 * S, t6)));
    assert_eq!(m.watermark(t6, 0), Some(T0 + 3 * S));
    m.progress(1, Some(T0 + 2 * S), Some((T0 + 2 * S, t6)));
    assert!(!m.is_idle(1, t6));
    assert_eq!(m.watermark(t6, 0), Some(T0 + 3 * S), "never back");
    m.progress(0, Some(T0 + 9 * S), Some((T0 + 9 * S, t6)));
    m.progress(1, Some(T0 + 4 * S), Some((T0 + 4 * S, t6)));
    assert_eq!(
        m.watermark(t6, 0),
        Some(T0 + 4 * S),
        "the minimum of the two"
    );
}

#[test]
fn ended_sources_hold_nothing_and_all_ended_is_the_end() {
    let t = Instant::now();
    let mut m = Merger::new(2, cfg(false), t);
    m.progress(0, Some(T0 + 10 * S), Some((T0 + 10 * S, t)));
    m.progress(1, Some(T0), Some((T0, t)));
    assert_eq!(m.watermark(t, 0), Some(T0));
    m.end(1);
    assert_eq!(m.watermark(t, 0), Some(T0 + 10 * S));
    assert!(!m.all_ended());
    m.end(0);
    assert!(m.all_ended());
}

#[test]
fn all_idle_without_the_wall_clock_holds_at_the_highest_promise() {
    let t = Instant::now();
    let mut m = Merger::new(2, cfg(false), t);
    m.progress(0, Some(T0 + 10 * S), Some((T0 + 10 * S, t)));
    m.progress(1, Some(T0), Some((T0, t)));
    assert_eq!(m.watermark(t, 0), Some(T0));
    let later = t + secs(3600);
    assert_eq!(m.watermark(later, T0 + 7200 * S), Some(T0 + 10 * S));
}

#[test]
fn all_idle_with_the_wall_clock_continues_from_the_datas_own_time() {
    let t = Instant::now();
    let mut m = Merger::new(2, cfg(true), t);
    // Old data (a year before the wall clock): extrapolated from its own time.
    let wall = T0 + 365 * 86_400 * S;
    m.progress(0, Some(T0 + 10 * S), Some((T0 + 10 * S, t)));
    m.progress(1, Some(T0 + 8 * S), Some((T0 + 9 * S, t)));
    assert_eq!(m.watermark(t + secs(1), wall), Some(T0 + 8 * S));
    // Both idle 5 s after their last frames: the lower extrapolation, minus the timeout.
    let t5 = t + secs(5);
    assert_eq!(
        m.watermark(t5, wall),
        Some(T0 + 10 * S),
        "the highest promise"
    );
    let t20 = t + secs(20);
    assert_eq!(
        m.watermark(t20, wall),
        Some(T0 + 9 * S + 20 * S - 5 * S),
        "source 1's time moved on by the 20 s since its last frame, less the idle timeout"
    );
    // Before any frame: the wall clock itself.
    let mut fresh = Merger::new(1, cfg(true), t);
    assert_eq!(fresh.watermark(t + secs(1), wall), None, "not idle yet");
    assert_eq!(fresh.watermark(t + secs(6), wall), Some(wall - 5 * S));
}

#[test]
fn late_signals_are_counted_against_the_watermark_handed_out() {
    let t = Instant::now();
    let mut m = Merger::new(1, cfg(false), t);
    m.progress(0, Some(T0 + 10 * S), Some((T0 + 10 * S, t)));
    m.watermark(t, 0);
    let s = |at| Signal {
        at,
        imsi: landfall_model::identity::Imsi::parse("001010000000001").unwrap(),
        msisdn: None,
        kind: landfall_model::signal::SignalKind::Auth,
        home: None,
        home_country: None,
        serving: None,
        serving_country: None,
        location: None,
        rat: None,
        source: landfall_model::signal::Provenance {
            file: 0,
            frame: 1,
            proto: landfall_model::signal::Proto::Diameter,
            message: 318,
        },
    };
    assert_eq!(m.late(&[s(T0 + 9 * S), s(T0 + 10 * S), s(T0 + 11 * S)]), 1);
}
