//! `landfall replicate`: without a flag the output is what it always was (byte for byte);
//! with `--distinct-subscribers` every copy has its own subscribers (issue 10, item 12):
//! N copies replay to N times the distinct IMSIs, arrivals and departures, each copy's
//! moments are the original's up to an identity mapping and the time shift, the decoders
//! see no new errors, and the rewritten frames' checksums are right.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use landfall_parsers::transport::link::{parse_link, Network};
use landfall_parsers::transport::sctp::SctpPacket;
use landfall_parsers::transport::tcp::TcpPacket;
use landfall_parsers::transport::udp::UdpRepr;
use landfall_testkit::replicate::{copy_spacing_us, read_frames};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A capture of `../shared/captures`. Tests that call this carry
/// `#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]` (see `build.rs`):
/// where the folder is missing here, the run is CI's and the test fails saying why.
fn shared(name: &str) -> PathBuf {
    let path = common::shared_captures().join(name);
    assert!(
        path.is_file(),
        "{} missing from the shared captures",
        path.display()
    );
    path
}

fn landfall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_landfall"))
        .args(args)
        .output()
        .expect("run landfall")
}

fn ok(args: &[&str]) -> Output {
    let out = landfall(args);
    assert!(
        out.status.success(),
        "landfall {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replicate");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

fn replicate(input: &Path, copies: u32, distinct: bool, out: &Path) -> String {
    let n = copies.to_string();
    let mut args = vec!["replicate", s(input), s(out), "-n", &n];
    if distinct {
        args.push("--distinct-subscribers");
    }
    String::from_utf8(ok(&args).stderr).expect("utf-8")
}

fn replay(capture: &Path) -> Vec<Value> {
    let out = ok(&["replay", "--quiet", s(capture)]);
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("moment is JSON"))
        .collect()
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read output");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn without_the_flag_the_output_is_unchanged() {
    // Digests of what `landfall replicate` wrote before --distinct-subscribers existed
    // (commit 4536fb7), for the bundled fixture; for 3 copies, since the Initiate Tags of
    // each copy's SCTP INIT and INIT ACK move with its verification tags (they had kept
    // the original's, so a decoder that honours INIT saw the copies' associations start
    // under tags their data never used). The fixture gained the 5G roamer since (its SBI
    // connections): the digests are of today's fixture; the fixture before it (commit
    // ebeaa93) still replicates to the digests taken at 4536fb7 (e4de8bf9… for 1 copy,
    // 9339f50e… for 3).
    for (copies, digest) in [
        (
            1,
            "3da0fe1c85f7402418e3804d71f19de0d233dfe1fa08c82cd2fd7953049ea35c",
        ),
        (
            3,
            "51316fbf515183a0646a466de72f5f0a78e1cd40f1f410d6f9b9abbaff82c2b8",
        ),
    ] {
        let out = tmp(&format!("plain-{copies}.pcapng"));
        replicate(&fixture("roaming-scenario.pcap"), copies, false, &out);
        assert_eq!(
            sha256(&out),
            digest,
            "{copies} copies without the flag changed"
        );
    }
}

/// Moment time (µs since the epoch) from its RFC 3339 `at`.
fn micros(at: &str) -> i64 {
    let t = humantime::parse_rfc3339(at).expect("RFC 3339 time");
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    i64::try_from(d.as_micros()).expect("fits")
}

/// One subscriber's moments with its identities abstracted away: each moment as its
/// fields but `id` (a hash of the IMSI), `imsi`, `msisdn` (kept as length and first three
/// digits), times moved back by `shift_us` and the frame by `frame_shift`.
fn normalized(ms: &[&Value], shift_us: i64, frame_shift: u64) -> Vec<String> {
    let mut out: Vec<String> = ms
        .iter()
        .map(|m| {
            let mut m = (*m).clone();
            let o = m.as_object_mut().expect("moment is an object");
            o.remove("id");
            let imsi = o.remove("imsi").expect("imsi");
            let imsi = imsi.as_str().expect("imsi string");
            o.insert("imsi_home".into(), Value::from(&imsi[..6]));
            o.insert("imsi_len".into(), Value::from(imsi.len()));
            if let Some(Value::String(msisdn)) = o.remove("msisdn") {
                let cc = &msisdn[..msisdn.len().min(3)];
                o.insert("msisdn_cc".into(), Value::from(cc));
                o.insert("msisdn_len".into(), Value::from(msisdn.len()));
            }
            for k in ["at", "expires_at"] {
                if let Some(Value::String(t)) = o.get(k) {
                    let us = micros(t) - shift_us;
                    o.insert(k.into(), Value::from(us));
                }
            }
            let src = o["source"].as_object_mut().expect("source");
            src.remove("file");
            let frame = src["frame"].as_u64().expect("frame");
            src.insert("frame".into(), Value::from(frame - frame_shift));
            Value::Object(o.clone()).to_string()
        })
        .collect();
    out.sort();
    out
}

/// The multiset of per-subscriber normalized histories.
fn histories(ms: &[&Value], shift_us: i64, frame_shift: u64) -> Vec<Vec<String>> {
    let mut by_imsi: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for m in ms {
        by_imsi
            .entry(m["imsi"].as_str().unwrap())
            .or_default()
            .push(m);
    }
    let mut h: Vec<Vec<String>> = by_imsi
        .values()
        .map(|v| normalized(v, shift_us, frame_shift))
        .collect();
    h.sort();
    h
}

fn count(ms: &[Value], kind: &str) -> usize {
    ms.iter().filter(|m| m["type"] == kind).count()
}

fn imsis(ms: &[Value]) -> HashSet<String> {
    ms.iter()
        .map(|m| m["imsi"].as_str().unwrap().to_string())
        .collect()
}

/// `inspect --stats`: (messages, signals, decode errors).
fn stats(capture: &Path) -> (u64, u64, u64) {
    let out = ok(&["inspect", "--stats", s(capture)]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name:?} line in:\n{text}"))
    };
    (
        field("messages "),
        field("signals "),
        field("decode errors "),
    )
}

/// Replicate `input` `copies` times with distinct subscribers and check everything the
/// issue asks of it. Returns (original, replicated) moments.
fn check_distinct(input: &Path, copies: u32) -> (Vec<Value>, Vec<Value>) {
    let name = input.file_name().unwrap().to_str().unwrap();
    let out = tmp(&format!("{name}-{copies}.pcapng"));
    replicate(input, copies, true, &out);
    let original = replay(input);
    let replicated = replay(&out);
    assert!(!original.is_empty(), "{name}: no moments to compare");
    let n = copies as usize;

    // Subscribers, arrivals and departures scale by N (and nothing else appears).
    let orig_imsis = imsis(&original);
    let rep_imsis = imsis(&replicated);
    assert_eq!(
        rep_imsis.len(),
        n * orig_imsis.len(),
        "{name}: distinct IMSIs"
    );
    assert!(
        orig_imsis.is_subset(&rep_imsis),
        "{name}: copy 0 keeps the originals"
    );
    for kind in ["arrival", "departure", "roaming-on", "roaming-off"] {
        assert_eq!(
            count(&replicated, kind),
            n * count(&original, kind),
            "{name}: {kind} moments"
        );
    }
    assert_eq!(replicated.len(), n * original.len(), "{name}: moments");

    // Each copy's moments are the original's up to the identity mapping and time shift.
    let frames = read_frames(std::fs::read(input).unwrap(), name).expect("read input");
    let first = frames.first().unwrap().meta.ts_us;
    let spacing = copy_spacing_us(&frames);
    let mut per_copy: Vec<Vec<&Value>> = vec![Vec::new(); n];
    for m in &replicated {
        let k = (micros(m["at"].as_str().unwrap()) - first).div_euclid(spacing);
        let k = usize::try_from(k).expect("moment within the copies");
        per_copy[k].push(m);
    }
    let orig_refs: Vec<&Value> = original.iter().collect();
    let expected = histories(&orig_refs, 0, 0);
    for (k, ms) in per_copy.iter().enumerate() {
        let shift = k as i64 * spacing;
        let frame_shift = (k * frames.len()) as u64;
        assert_eq!(
            histories(ms, shift, frame_shift),
            expected,
            "{name}: copy {k}'s moments differ from the original's"
        );
        let copy_imsis: HashSet<&str> = ms.iter().map(|m| m["imsi"].as_str().unwrap()).collect();
        if k > 0 {
            assert!(
                copy_imsis.iter().all(|i| !orig_imsis.contains(*i)),
                "{name}: copy {k} reuses an original IMSI"
            );
        }
    }
    // No IMSI in two copies.
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (k, ms) in per_copy.iter().enumerate() {
        for m in ms {
            let prev = owner.insert(m["imsi"].as_str().unwrap(), k);
            assert!(
                prev.is_none_or(|p| p == k),
                "{name}: an IMSI in copies {prev:?} and {k}"
            );
        }
    }

    // The decoders see N times what they saw, errors included (no new ones).
    let (messages, signals, errors) = stats(input);
    assert_eq!(
        stats(&out),
        (
            messages * u64::from(copies),
            signals * u64::from(copies),
            errors * u64::from(copies)
        ),
        "{name}: inspect --stats (messages, signals, errors)"
    );
    (original, replicated)
}

#[test]
fn fixture_copies_carry_their_own_subscribers() {
    // Diameter over SCTP and over TCP (a ULR split over out-of-order segments, a
    // retransmitted ULA), GTPv2-C, MAP over M3UA, the SBI over HTTP/2 (the 5G roamer's
    // IMSI in the paths and the 201's location, both SEPP hops).
    let (original, replicated) = check_distinct(&fixture("roaming-scenario.pcap"), 4);
    assert_eq!(imsis(&original).len(), 7);
    assert_eq!(imsis(&replicated).len(), 28);
    // MSISDNs follow their subscribers: one per (subscriber, copy).
    let msisdns: HashSet<&str> = replicated
        .iter()
        .filter_map(|m| m["msisdn"].as_str())
        .collect();
    let orig_msisdns: HashSet<&str> = original
        .iter()
        .filter_map(|m| m["msisdn"].as_str())
        .collect();
    assert_eq!(msisdns.len(), 4 * orig_msisdns.len());
}

/// The rewritten frames' IPv4, UDP, TCP and SCTP checksums are right (the fixture's all
/// are, being built by landfall's encoders).
#[test]
fn rewritten_frames_have_right_checksums() {
    let out = tmp("checksums.pcapng");
    replicate(&fixture("roaming-scenario.pcap"), 3, true, &out);
    let frames = read_frames(std::fs::read(&out).unwrap(), "checksums").unwrap();
    let mut checked = [0usize; 3];
    for f in &frames {
        let Ok(Network::Ipv4(ip)) = parse_link(f.linktype, &f.data) else {
            continue;
        };
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        assert_eq!(
            landfall_parsers::transport::ip::internet_checksum(&[&ip[..ihl]]),
            0,
            "IPv4 header checksum"
        );
        let src = IpAddr::from(<[u8; 4]>::try_from(&ip[12..16]).unwrap());
        let dst = IpAddr::from(<[u8; 4]>::try_from(&ip[16..20]).unwrap());
        let l4 = &ip[ihl..usize::from(u16::from_be_bytes([ip[2], ip[3]]))];
        match ip[9] {
            17 => {
                assert!(UdpRepr::checksum_ok(src, dst, l4), "UDP checksum");
                checked[0] += 1;
            }
            6 => {
                let p = TcpPacket::new_checked(l4).unwrap();
                assert!(p.verify_checksum(src, dst), "TCP checksum");
                checked[1] += 1;
            }
            132 => {
                assert!(
                    SctpPacket::new_checked(l4).unwrap().verify_checksum(),
                    "SCTP CRC32c"
                );
                checked[2] += 1;
            }
            _ => {}
        }
    }
    assert!(
        checked.iter().all(|&c| c > 0),
        "each transport seen: {checked:?}"
    );
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn shared_diameter_sctp_32_subscribers() {
    let p = shared("magma-gx-gy-s6a-32ue.pcapng");
    let (original, replicated) = check_distinct(&p, 5);
    assert_eq!(imsis(&original).len(), 32);
    assert_eq!(imsis(&replicated).len(), 160);
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn shared_diameter_and_gtpv2() {
    for name in [
        "magma-inbound-roaming-01-s6a-s8-gtpv2.pcapng",
        "tempo-magma-quectel-s6a-ulr-air-pur-gtpv2-mbr-sll.pcapng",
        "open5gs-testepc-s1-x2-handover-pathswitch-null-loopback.pcapng",
    ] {
        let p = shared(name);
        check_distinct(&p, 3);
    }
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn shared_diameter_tcp() {
    let p = shared("magma-nsa-connection-sll-diameter-tcp.pcapng");
    check_distinct(&p, 3);
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn shared_gtpv1() {
    let p = shared("zeek-gtpv1-pdp-ctx-messages.pcapng");
    check_distinct(&p, 3);
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn shared_map() {
    for name in [
        "pcapr-LU-m3ua-map-updatelocation-isd.pcap",
        "pcapr-tmp-m3ua-map-sri-ul-isd.pcap",
        "pcapr-gprs_ms_log-m3ua-map-sai-ugl-isd-with-gb.pcap",
    ] {
        let p = shared(name);
        check_distinct(&p, 3);
    }
}

#[test]
fn bad_input_is_a_clear_error_with_exit_code_2() {
    let missing = tmp("no-such-capture.pcap");
    let out = landfall(&["replicate", s(&missing), s(&tmp("x.pcapng")), "-n", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading"));

    let garbage = tmp("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture at all").unwrap();
    let y = tmp("y.pcapng");
    for flag in [None, Some("--distinct-subscribers")] {
        let mut args = vec!["replicate", s(&garbage), s(&y), "-n", "2"];
        args.extend(flag);
        let out = landfall(&args);
        assert_eq!(out.status.code(), Some(2), "{flag:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("landfall: reading"));
    }

    // A capture cut short: an error or a shorter output, never a panic.
    let bytes = std::fs::read(fixture("roaming-scenario.pcap")).unwrap();
    for cut in [30, 100, bytes.len() / 2, bytes.len() - 3] {
        let short = tmp(&format!("cut-{cut}.pcap"));
        std::fs::write(&short, &bytes[..cut]).unwrap();
        let out = landfall(&[
            "replicate",
            s(&short),
            s(&tmp("z.pcapng")),
            "-n",
            "2",
            "--distinct-subscribers",
        ]);
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "cut at {cut}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Bit-flipped and truncated frames: the walk and the rewrite never panic, and every copy
/// still has every frame.
#[test]
fn damaged_frames_do_not_panic() {
    damage_and_replicate(&[fixture("roaming-scenario.pcap")]);
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn damaged_shared_frames_do_not_panic() {
    damage_and_replicate(&[
        shared("pcapr-tmp-m3ua-map-sri-ul-isd.pcap"),
        shared("zeek-gtpv1-pdp-ctx-messages.pcapng"),
    ]);
}

fn damage_and_replicate(paths: &[PathBuf]) {
    use landfall_testkit::replicate::{replicate_with, Options};
    let opts = Options {
        copies: 2,
        distinct_subscribers: true,
        diameter_tcp_ports: vec![3868, 3871],
    };
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for path in paths {
        let frames = read_frames(std::fs::read(path).unwrap(), "damaged").unwrap();
        for _ in 0..300 {
            let mut damaged = frames.clone();
            for f in damaged.iter_mut() {
                if f.data.is_empty() || next() % 4 != 0 {
                    continue;
                }
                let len = f.data.len() as u64;
                match next() % 3 {
                    0 => f.data.truncate((next() % len) as usize),
                    _ => {
                        for _ in 0..1 + next() % 3 {
                            let i = (next() % len) as usize;
                            f.data[i] ^= 1 << (next() % 8);
                        }
                    }
                }
            }
            let (out, _) = replicate_with(&damaged, &opts).expect("replicates");
            let back = read_frames(out, "out").expect("reads back");
            assert_eq!(back.len(), 2 * damaged.len());
        }
    }
}

/// `inspect` records of `capture`: (frame, imsi, msisdn).
fn records(capture: &Path) -> Vec<(u64, Option<String>, Option<String>)> {
    let out = ok(&["inspect", s(capture)]);
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("record is JSON");
            let text = |k: &str| v[k].as_str().map(str::to_string);
            (v["frame"].as_u64().unwrap(), text("imsi"), text("msisdn"))
        })
        .collect()
}

/// No identity the decoders read in a later copy is an original one (identities too
/// short to map — an IMSI under 8 digits, an MSISDN under 5 — excepted), and every copy
/// has as many records as the original.
fn no_original_identity_in_copies(input: &Path) {
    let name = input.file_name().unwrap().to_str().unwrap();
    let out = tmp(&format!("{name}-ids.pcapng"));
    replicate(input, 3, true, &out);
    let frames = read_frames(std::fs::read(input).unwrap(), name)
        .unwrap()
        .len() as u64;
    let original = records(input);
    let replicated = records(&out);
    assert_eq!(replicated.len(), 3 * original.len(), "{name}: records");
    let imsis: HashSet<&String> = original.iter().filter_map(|r| r.1.as_ref()).collect();
    let msisdns: HashSet<&String> = original.iter().filter_map(|r| r.2.as_ref()).collect();
    let mut later = 0;
    for (frame, imsi, msisdn) in &replicated {
        if *frame <= frames {
            continue;
        }
        later += 1;
        if let Some(i) = imsi.as_ref().filter(|i| i.len() >= 8) {
            assert!(!imsis.contains(i), "{name}: frame {frame} keeps IMSI {i}");
        }
        if let Some(m) = msisdn.as_ref().filter(|m| m.len() >= 5) {
            assert!(
                !msisdns.contains(m),
                "{name}: frame {frame} keeps MSISDN {m}"
            );
        }
    }
    assert_eq!(
        later,
        2 * original.len(),
        "{name}: records of the later copies"
    );
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn copies_carry_no_original_identity() {
    no_original_identity_in_copies(&fixture("roaming-scenario.pcap"));
    for name in [
        // MAP in segmented XUDTs (SMS), MAP returnError, SendIdentification, ATI.
        "pcapr-dump-m2pa-map-sms-srism-mofsm.pcap",
        "pcapr-test-m3ua-map-ati-sendid-ul-roamingNotAllowed.pcap",
        // GTPv2 over TCP, piggybacking, malformed; GTPv2 and GTPv1 single sessions.
        "pcapplusplus-gtpv2-edgecases-piggyback-tcp-malformed.pcapng",
        "ndpi-gtpv2-create-session.pcap",
        "zeek-gtpv1-create-pdp-ctx-with-gb.pcap",
        // Diameter over TCP, AIR resync over SCTP, attach with S6a and GTPv2.
        "pyhss-s6a-air-aia-tcp.pcapng",
        "pyhss-s6a-air-resync-sctp.pcap",
        "open5gs-testattach-epc-s6a-gtpv2-s1ap-sll.pcapng",
        "tempo-magma-oppo-detach-s6a-pur-sll.pcapng",
    ] {
        let p = shared(name);
        no_original_identity_in_copies(&p);
    }
}
