//! Watermarks through the running service: an unanswered request holds its source back at
//! most `max_delay` (and only until the decoder drops it); a silent source stops holding
//! the merge after `idle_timeout`, and holds it again when it speaks; with every source
//! idle the merge can advance with the wall clock.

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::*;
use landfall_parsers::capture::{PcapWriter, TsResolution};
use landfall_parsers::gtp::v2::Uli;
use landfall_parsers::transport::ip::Ipv4Repr;
use landfall_parsers::transport::link::{EtherType, EthernetRepr, LinkType};
use landfall_parsers::transport::udp::UdpRepr;
use landfall_parsers::{Imsi, Plmn};
use landfall_sources::{start, SourceSpec, Sources};
use landfall_testkit::gtpv2::{self as gtp, SessionRequest};

const S: i64 = 1_000_000;
const T0: i64 = 1_780_300_800 * S;
const MME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SGW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Ethernet/IPv4/UDP 2123 carrying `msg`.
fn frame(src: Ipv4Addr, dst: Ipv4Addr, msg: &landfall_parsers::gtp::v2::Gtpv2Repr) -> Vec<u8> {
    let mut udp = Vec::new();
    UdpRepr {
        src_port: 2123,
        dst_port: 2123,
    }
    .emit(IpAddr::V4(src), IpAddr::V4(dst), &msg.emit(false), &mut udp);
    let mut ip = Vec::new();
    Ipv4Repr {
        src,
        dst,
        protocol: 17,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    }
    .emit(&udp, &mut ip);
    let mut eth = Vec::new();
    EthernetRepr {
        dst: [2, 0, 0, 0, 0, 2],
        src: [2, 0, 0, 0, 0, 1],
        vlans: vec![],
        ethertype: EtherType::IPV4,
    }
    .emit(&ip, &mut eth);
    eth
}

/// A Create Session Request of subscriber `n` (sequence number `n`).
fn request(n: u32) -> landfall_parsers::gtp::v2::Gtpv2Repr {
    let imsi = Imsi::parse(&format!("20801{n:010}")).unwrap();
    let fr = Plmn::new(208, 1, 2);
    gtp::create_session_request(
        n,
        &SessionRequest {
            imsi: &imsi,
            msisdn: None,
            serving: fr,
            rat: gtp::RAT_EUTRAN,
            uli: Uli {
                tai: Some((fr, 1)),
                ecgi: Some((fr, 0x1234)),
                ..Uli::default()
            },
            mme_teid: 0x1000 + n,
            mme_addr: MME,
        },
    )
}

/// Sessions `from..=to`, one a second at `T0 + n s`, each answered 10 ms later except
/// those in `unanswered`; a pcap, with its file header when `header`.
fn sessions(from: i64, to: i64, unanswered: &[i64], header: bool) -> Vec<u8> {
    sessions_at(T0, from, to, unanswered, header)
}

/// Sessions `from..=to`, one a second after `base`.
fn sessions_at(base: i64, from: i64, to: i64, unanswered: &[i64], header: bool) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, TsResolution::Micro).unwrap();
    for n in from..=to {
        let req = request(n as u32);
        let f = frame(MME, SGW, &req);
        w.write_packet((base + n * S) * 1000, &f, f.len() as u32)
            .unwrap();
        if !unanswered.contains(&n) {
            let resp = gtp::response(&req, 0x1000 + n as u32, gtp::CAUSE_ACCEPTED, vec![]);
            let f = frame(SGW, MME, &resp);
            w.write_packet((base + n * S + 10_000) * 1000, &f, f.len() as u32)
                .unwrap();
        }
    }
    let bytes = w.into_inner().unwrap();
    if header {
        bytes
    } else {
        bytes[24..].to_vec()
    }
}

fn source_watermark(s: &Sources, i: usize) -> Option<i64> {
    s.control.sources()[i].snapshot().watermark
}

/// Read what the merge sent so far.
fn drain(s: &Sources, c: &mut Collected) {
    while let Ok(m) = s.output.try_recv() {
        c.take(m);
    }
}

/// One source, "gtp", reading what the test writes into the pipe.
fn piped(cfg: landfall_sources::SourcesConfig) -> (Sources, std::io::PipeWriter) {
    let (r, w) = std::io::pipe().unwrap();
    let sources = start(
        vec![SourceSpec::Reader {
            name: "gtp".into(),
            reader: Box::new(r),
        }],
        cfg,
    )
    .unwrap();
    (sources, w)
}

fn run_unanswered(max_delay_s: i64, held_at: i64) {
    let mut cfg = config();
    cfg.max_delay = Duration::from_secs(max_delay_s as u64);
    let (sources, mut w) = piped(cfg);
    let mut c = Collected::default();
    // Sessions 1..=20 s; the one at 1 s is never answered.
    w.write_all(&sessions(1, 20, &[1], true)).unwrap();
    wait_for("the first 20 s decoded and sent", || {
        drain(&sources, &mut c);
        sources.control.merge().watermark() == Some(held_at)
    });
    assert_eq!(source_watermark(&sources, 0), Some(held_at));
    assert!(c.watermarks.iter().all(|&wm| wm <= held_at));
    assert_eq!(c.signals.len(), 19);
    // 20 s more: the decoder drops the request after its timeout (30 s + the tolerance).
    w.write_all(&sessions(21, 40, &[], false)).unwrap();
    let last = T0 + 40 * S + 10_000;
    wait_for("the watermark at the last frame", || {
        drain(&sources, &mut c);
        sources.control.merge().watermark() == Some(last)
    });
    drop(w);
    let rest = collect(&sources, |_| false);
    assert!(rest.ended);
    assert_eq!(c.signals.len() + rest.signals.len(), 39);
    assert_eq!(c.late + rest.late, 0);
}

#[test]
fn an_unanswered_request_holds_its_source_at_most_max_delay() {
    // max_delay 5 s: held 5 s behind the last frame (20.01 s), not at the request (1 s).
    run_unanswered(5, T0 + 15 * S + 10_000);
}

#[test]
fn an_unanswered_request_holds_its_source_until_dropped_within_max_delay() {
    // max_delay 60 s: held at the request until the decoder gives up on it.
    run_unanswered(60, T0 + S);
}

fn two_pipes(wall_clock: bool) -> (Sources, std::io::PipeWriter, std::io::PipeWriter) {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(500);
    cfg.advance_with_wall_clock = wall_clock;
    let (ra, wa) = std::io::pipe().unwrap();
    let (rb, wb) = std::io::pipe().unwrap();
    let sources = start(
        vec![
            SourceSpec::Reader {
                name: "a".into(),
                reader: Box::new(ra),
            },
            SourceSpec::Reader {
                name: "b".into(),
                reader: Box::new(rb),
            },
        ],
        cfg,
    )
    .unwrap();
    (sources, wa, wb)
}

#[test]
fn a_silent_source_stops_holding_the_merge_after_the_idle_timeout() {
    let started = Instant::now();
    let (sources, mut wa, mut wb) = two_pipes(false);
    wa.write_all(&sessions(1, 10, &[], true)).unwrap();
    let a_last = T0 + 10 * S + 10_000;
    let mut c = Collected::default();
    wait_for("source a decoded", || {
        source_watermark(&sources, 0) == Some(a_last)
    });
    drain(&sources, &mut c);
    // b has said nothing: no merged watermark until it is idle.
    if started.elapsed() < Duration::from_millis(450) {
        assert!(
            c.watermarks.is_empty(),
            "b holds the merge before its timeout"
        );
    }
    wait_for("the merge past a silent b", || {
        drain(&sources, &mut c);
        c.watermarks.last() == Some(&a_last)
    });
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(sources.control.sources()[1].snapshot().idle);
    // b speaks (later data): it holds the merge again; a, silent by now, does not.
    wb.write_all(&sessions(100, 105, &[], true)).unwrap();
    let b_last = T0 + 105 * S + 10_000;
    wait_for("the merge following b", || {
        drain(&sources, &mut c);
        c.watermarks.last() == Some(&b_last)
    });
    assert!(!sources.control.sources()[1].snapshot().idle);
    assert!(sources.control.sources()[0].snapshot().idle);
    // Without the wall clock, nothing moves while all are idle.
    std::thread::sleep(Duration::from_millis(700));
    drain(&sources, &mut c);
    assert_eq!(c.watermarks.last(), Some(&b_last));
    drop((wa, wb));
    let rest = collect(&sources, |_| false);
    assert_eq!(c.signals.len() + rest.signals.len(), 16);
    assert_eq!(c.late + rest.late, 0);
}

#[test]
fn with_every_source_idle_the_wall_clock_advances_the_merge() {
    let (sources, mut wa, wb) = two_pipes(true);
    wa.write_all(&sessions(1, 10, &[], true)).unwrap();
    let a_last = T0 + 10 * S + 10_000;
    let mut c = Collected::default();
    // Both idle: a's time moves on from its last frame at the wall clock's pace, less the
    // idle timeout (b never had a frame, so it does not count).
    wait_for("the merge past a's last frame", || {
        drain(&sources, &mut c);
        c.watermarks.last().is_some_and(|&w| w > a_last)
    });
    let (w1, t1) = (*c.watermarks.last().unwrap(), Instant::now());
    wait_for("the merge advancing 300 ms more", || {
        drain(&sources, &mut c);
        c.watermarks.last().is_some_and(|&w| w >= w1 + 300_000)
    });
    // At the wall clock's pace, no faster.
    assert!(
        t1.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t1.elapsed()
    );
    let w2 = *c.watermarks.last().unwrap();
    assert!(w2 < a_last + 10 * S, "from the data's time, not today's");
    drop((wa, wb));
    let rest = collect(&sources, |_| false);
    assert!(rest.ended);
}

/// A capture dated a year ahead of the wall clock: in a run that follows the wall clock its
/// frames are taken as damaged (they move no watermark); in one on the captures' own time
/// (`wall_clock = false`, synthetic captures) they move it as any other.
#[test]
fn future_dates_move_the_watermark_only_off_the_wall_clock() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let base = now + 365 * 86_400 * S;
    for wall_clock in [false, true] {
        let mut cfg = config();
        cfg.advance_with_wall_clock = wall_clock;
        let (sources, mut w) = piped(cfg);
        let mut c = Collected::default();
        w.write_all(&sessions_at(base, 1, 20, &[], true)).unwrap();
        let last = base + 20 * S + 10_000;
        wait_for("the sessions decoded", || {
            drain(&sources, &mut c);
            sources.control.sources()[0].decode_stats().frames == 40
        });
        if wall_clock {
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(source_watermark(&sources, 0), None, "damaged stamps");
        } else {
            wait_for("the watermark at the last frame", || {
                drain(&sources, &mut c);
                source_watermark(&sources, 0) == Some(last)
            });
        }
        drop(w);
        let rest = collect(&sources, |_| false);
        assert!(rest.ended);
        assert_eq!(
            c.signals.len() + rest.signals.len(),
            20,
            "decoded either way"
        );
    }
}
