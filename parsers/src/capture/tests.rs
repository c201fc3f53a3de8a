use super::*;
use crate::transport::ip::IpLayer;
use crate::transport::link::{parse_link, LinkType, Network};
use std::collections::BTreeMap;
use std::io;
use std::io::Cursor;
use std::path::PathBuf;

fn read_all(bytes: Vec<u8>) -> Vec<Result<Frame, CaptureError>> {
    CaptureReader::from_reader(Cursor::new(bytes), "mem", 3)
        .unwrap()
        .collect()
}

fn frames(bytes: Vec<u8>) -> Vec<Frame> {
    read_all(bytes).into_iter().map(|r| r.unwrap()).collect()
}

fn pkt(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn pcap_round_trip_both_orders_and_resolutions() {
    for big_endian in [false, true] {
        for res in [TsResolution::Micro, TsResolution::Nano] {
            let mut w =
                PcapWriter::with_byte_order(Vec::new(), LinkType::ETHERNET, res, big_endian)
                    .unwrap();
            let ts = [1_700_000_000_123_456_789i64, 1_700_000_001_000_000_999, 5];
            for (i, &t) in ts.iter().enumerate() {
                w.write_packet(t, &pkt(60 + i, i as u8), 1500).unwrap();
            }
            let got = frames(w.into_inner().unwrap());
            assert_eq!(got.len(), 3);
            for (i, f) in got.iter().enumerate() {
                assert_eq!(
                    f.meta,
                    PacketMeta {
                        file: 3,
                        frame: i as u64 + 1,
                        ts_us: ts[i] / 1000
                    },
                    "{big_endian} {res:?}"
                );
                assert_eq!((f.linktype, f.orig_len), (LinkType::ETHERNET, 1500));
                assert_eq!(f.data, pkt(60 + i, i as u8));
            }
            // Frames written back out read the same.
            let mut w2 = PcapWriter::new(Vec::new(), LinkType::ETHERNET, res).unwrap();
            for f in &got {
                w2.write_frame(f).unwrap();
            }
            assert_eq!(frames(w2.into_inner().unwrap()), got);
        }
    }
}

#[test]
fn pcapng_two_interfaces_and_resolutions() {
    for big_endian in [false, true] {
        let mut w = PcapNgWriter::with_byte_order(Vec::new(), big_endian).unwrap();
        let eth = w.add_interface(LinkType::ETHERNET, 6).unwrap();
        let sll = w.add_interface(LinkType::LINUX_SLL, 9).unwrap();
        // 2^-20 s units and a one-hour offset.
        let pow2 = w
            .add_interface_with_offset(LinkType::RAW, 0x80 | 20, 3600)
            .unwrap();
        w.write_packet(eth, 1_600_000_000_654_321_999, &pkt(64, 1), 64)
            .unwrap();
        w.write_raw_block(0x0000_0F00, b"skip me").unwrap();
        w.write_packet(sll, 1_600_000_000_654_321_999, &pkt(33, 2), 90)
            .unwrap();
        // 0.5 s exactly in 2^-20 units.
        w.write_packet(pow2, 3_600_500_000_000, &pkt(20, 3), 20)
            .unwrap();
        w.write_simple_packet(&pkt(7, 4)).unwrap();
        let got = frames(w.into_inner().unwrap());
        let summary: Vec<_> = got
            .iter()
            .map(|f| {
                (
                    f.meta.frame,
                    f.meta.ts_us,
                    f.linktype,
                    f.data.len(),
                    f.orig_len,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, 1_600_000_000_654_321, LinkType::ETHERNET, 64, 64),
                (2, 1_600_000_000_654_321, LinkType::LINUX_SLL, 33, 90),
                (3, 3_600_500_000, LinkType::RAW, 20, 20),
                (4, 0, LinkType::ETHERNET, 7, 7),
            ],
            "big_endian {big_endian}"
        );
        assert_eq!(got[1].data, pkt(33, 2));
        assert_eq!(got[3].data, pkt(7, 4));
    }
}

#[test]
fn clock_offsets_per_file_and_per_interface() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let a = w.add_interface(LinkType::ETHERNET, 6).unwrap();
    let b = w.add_interface(LinkType::ETHERNET, 6).unwrap();
    w.write_packet(a, 10_000, &pkt(20, 1), 20).unwrap();
    w.write_packet(b, 10_000, &pkt(20, 2), 20).unwrap();
    let bytes = w.into_inner().unwrap();
    for mapped in [false, true] {
        let mut r = if mapped {
            CaptureReader::from_bytes(bytes.clone(), "ng", 0).unwrap()
        } else {
            CaptureReader::from_reader(Cursor::new(bytes.clone()), "ng", 0).unwrap()
        };
        r.set_clock_offset(-3);
        r.set_interface_clock_offset(1, 5);
        let ts: Vec<i64> = r.map(|f| f.unwrap().meta.ts_us).collect();
        assert_eq!(ts, vec![7, 12], "mapped {mapped}");
    }
}

#[test]
fn pcapng_obsolete_packet_block() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.add_interface(LinkType::ETHERNET, 6).unwrap();
    let mut body = Vec::new();
    body.extend_from_slice(&0u16.to_le_bytes()); // interface
    body.extend_from_slice(&0u16.to_le_bytes()); // drops
    let ts: u64 = 1_234_567;
    body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts as u32).to_le_bytes());
    body.extend_from_slice(&5u32.to_le_bytes());
    body.extend_from_slice(&9u32.to_le_bytes());
    body.extend_from_slice(b"hello");
    w.write_raw_block(2, &body).unwrap();
    let got = frames(w.into_inner().unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].meta.ts_us, &got[0].data[..], got[0].orig_len),
        (1_234_567, &b"hello"[..], 9)
    );
}

fn sample_pcap(n: usize) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, TsResolution::Micro).unwrap();
    for i in 0..n {
        w.write_packet(i as i64 * 1000, &pkt(100, i as u8), 100)
            .unwrap();
    }
    w.into_inner().unwrap()
}

#[test]
fn truncated_files_give_one_error_then_end() {
    let full = sample_pcap(3);
    // Cut inside the third record (header 24 + 2 records of 116 + 10 bytes).
    let cut = full[..24 + 2 * 116 + 10].to_vec();
    let got = read_all(cut);
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok() && got[1].is_ok());
    let e = got[2].clone().unwrap_err();
    assert_eq!(
        (e.kind, e.frame, e.offset, e.file_index),
        (CaptureErrorKind::Truncated, Some(3), 24 + 2 * 116, 3)
    );
    assert_eq!(
        e.to_string(),
        format!("mem: frame 3 (byte offset {}): {}", 24 + 2 * 116, e.reason)
    );
    // Cut inside a record header, and in the pcapng case inside a block.
    assert!(read_all(full[..24 + 116 + 3].to_vec())
        .last()
        .unwrap()
        .is_err());
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.add_interface(1, 6).unwrap();
    w.write_packet(0, 0, &pkt(50, 0), 50).unwrap();
    w.write_packet(0, 0, &pkt(50, 1), 50).unwrap();
    let ng = w.into_inner().unwrap();
    let got = read_all(ng[..ng.len() - 5].to_vec());
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].as_ref().unwrap_err().kind,
        CaptureErrorKind::Truncated
    );
    // Headers.
    for bad in [vec![], vec![0xd4, 0xc3], full[..10].to_vec()] {
        let e = CaptureReader::from_reader(Cursor::new(bad), "h", 0).unwrap_err();
        assert_eq!(e.kind, CaptureErrorKind::Truncated);
    }
    let e = CaptureReader::from_reader(Cursor::new(b"GET / HTTP/1.1\r\n".to_vec()), "h", 0)
        .unwrap_err();
    assert_eq!(e.kind, CaptureErrorKind::NotACapture);
}

#[test]
fn corrupt_lengths_give_one_error() {
    // A record claiming 1 GiB.
    let mut bad = sample_pcap(2);
    bad[24 + 116 + 8..24 + 116 + 12].copy_from_slice(&0x4000_0000u32.to_le_bytes());
    let got = read_all(bad);
    assert_eq!(got.len(), 2);
    let e = got[1].clone().unwrap_err();
    assert_eq!((e.kind, e.frame), (CaptureErrorKind::Corrupt, Some(2)));
    // An EPB whose captured length runs past its block.
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.add_interface(1, 6).unwrap();
    w.write_packet(0, 0, &pkt(40, 0), 40).unwrap();
    w.write_packet(0, 0, &pkt(40, 0), 40).unwrap();
    let mut ng = w.into_inner().unwrap();
    let epb = 28 + 32; // SHB + IDB
    ng[epb + 20..epb + 24].copy_from_slice(&200u32.to_le_bytes());
    let got = read_all(ng);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].as_ref().unwrap_err().kind, CaptureErrorKind::Corrupt);
    // A packet on an interface never declared.
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.add_interface(1, 6).unwrap();
    w.write_packet(0, 0, &pkt(4, 0), 4).unwrap();
    let mut ng = w.into_inner().unwrap();
    ng[epb + 8] = 7;
    assert_eq!(read_all(ng).len(), 1);
}

/// Yields one byte per read, like a slow pipe.
struct Trickle(Cursor<Vec<u8>>);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn short_reads_and_large_records() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.add_interface(1, 6).unwrap();
    w.write_packet(0, 1_000, &pkt(300, 1), 300).unwrap();
    // Larger than the initial buffer: it grows.
    w.write_packet(0, 2_000, &pkt(300_000, 2), 300_000).unwrap();
    w.write_packet(0, 3_000, &pkt(10, 3), 10).unwrap();
    let bytes = w.into_inner().unwrap();
    let got: Vec<Frame> = CaptureReader::from_reader(Trickle(Cursor::new(bytes)), "pipe", 0)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        got.iter().map(|f| f.data.len()).collect::<Vec<_>>(),
        vec![300, 300_000, 10]
    );
    assert_eq!(got[1].data, pkt(300_000, 2));
}

/// A pcapng file whose Section Header Block carries a `comment_len`-octet comment, then
/// one interface and packet (the rest of a writer's file after its own 28-octet SHB).
fn ng_with_long_shb(comment_len: usize) -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.add_interface(1, 6).unwrap();
    w.write_packet(0, 1_000, &pkt(40, 1), 40).unwrap();
    let rest = w.into_inner().unwrap().split_off(28);
    let padded = comment_len.next_multiple_of(4);
    let len = (28 + 4 + padded + 4) as u32;
    let mut b = Vec::new();
    // Block type, length, byte-order magic, version 1.0 (two u16), section length -1.
    let words = [0x0A0D_0D0Au32, len, 0x1A2B_3C4D, 1, u32::MAX, u32::MAX];
    for v in words {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&(comment_len as u16).to_le_bytes());
    b.resize(b.len() + padded, b'c');
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&len.to_le_bytes());
    b.extend(rest);
    b
}

/// An SHB larger than the streaming reader's first buffer (found by fuzzing the two
/// readers against each other): both read the file.
#[test]
fn long_section_header_block_reads_both_ways() {
    // Options are at most 65,535 octets each; several make the block long.
    let mut bytes = ng_with_long_shb(60_000);
    let one = bytes.clone();
    assert_eq!(frames(one.clone()).len(), 1);
    // Three comments: the block grows past 128 KiB.
    let extra: Vec<u8> = {
        let mut o = Vec::new();
        for _ in 0..2 {
            o.extend_from_slice(&1u16.to_le_bytes());
            o.extend_from_slice(&60_000u16.to_le_bytes());
            o.resize(o.len() + 60_000, b'd');
        }
        o
    };
    let old_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let new_len = (old_len + extra.len()) as u32;
    bytes.splice(28..28, extra);
    bytes[4..8].copy_from_slice(&new_len.to_le_bytes());
    let end = new_len as usize;
    bytes[end - 4..end].copy_from_slice(&new_len.to_le_bytes());
    assert!(end > INITIAL_BUFFER);
    let streamed = frames(bytes.clone());
    assert_eq!(streamed.len(), 1);
    let in_place: Vec<Frame> = CaptureReader::from_bytes(bytes, "mem", 3)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(in_place, streamed);
}

#[test]
fn merge_by_time_then_file_then_frame() {
    let file = |idx: u16, ts: &[i64]| {
        let mut w = PcapWriter::new(Vec::new(), 1, TsResolution::Micro).unwrap();
        for &t in ts {
            w.write_packet(t * 1000, &[idx as u8], 1).unwrap();
        }
        CaptureReader::from_reader(Cursor::new(w.into_inner().unwrap()), "m", idx).unwrap()
    };
    // File 1 goes backwards in time once: its own order is kept.
    let merged: Vec<(i64, u16, u64)> = MergedCaptures::new(vec![
        file(1, &[10, 30, 20, 50]),
        file(0, &[10, 40]),
        file(2, &[]),
    ])
    .map(|r| r.unwrap())
    .map(|f| (f.meta.ts_us, f.meta.file, f.meta.frame))
    .collect();
    assert_eq!(
        merged,
        vec![
            (10, 0, 1),
            (10, 1, 1),
            (30, 1, 2),
            (20, 1, 3),
            (40, 0, 2),
            (50, 1, 4)
        ]
    );

    // A clock offset corrects one file's timestamps before the merge.
    let mut late = file(1, &[5, 25]);
    late.set_clock_offset(-10);
    let merged: Vec<(i64, u16)> = MergedCaptures::new(vec![file(0, &[10, 20]), late])
        .map(|r| r.unwrap())
        .map(|f| (f.meta.ts_us, f.meta.file))
        .collect();
    assert_eq!(merged, vec![(-5, 1), (10, 0), (15, 1), (20, 0)]);

    // An error in one file comes out in place; the other file goes on.
    let mut broken = sample_pcap(3);
    broken.truncate(broken.len() - 1);
    let a = CaptureReader::from_reader(Cursor::new(broken), "broken", 0).unwrap();
    let items: Vec<_> = MergedCaptures::new(vec![a, file(1, &[0, 1, 2, 3])]).collect();
    let shape: Vec<String> = items
        .iter()
        .map(|r| match r {
            Ok(f) => format!("{}:{}", f.meta.file, f.meta.frame),
            Err(e) => format!("err{}", e.file_index()),
        })
        .collect();
    // The error sorts at file 0's last time (1 µs), ahead of file 1's frame at 1 µs.
    assert_eq!(shape, ["0:1", "1:1", "0:2", "err0", "1:2", "1:3", "1:4"]);
}

/// The shared captures; tests that read them are ignored when they are absent outside CI
/// (see the workspace's `build.rs`), so here a missing folder is a failure.
fn captures_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures");
    assert!(
        dir.is_dir(),
        "{} is missing: this test needs the shared captures",
        dir.display()
    );
    dir
}

/// Packet counts per file from MANIFEST.md ("### name" then "**packets**: N").
fn manifest_counts(dir: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.md")).unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            current = Some(name.trim().to_string());
        } else if let (Some(name), Some(i)) = (&current, line.find("**packets**: ")) {
            let n: String = line[i + 13..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = n.parse() {
                out.insert(name.clone(), n);
            }
        }
    }
    out
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn real_captures_end_to_end() {
    let dir = captures_dir();
    let entries = std::fs::read_dir(&dir).expect("list the shared captures");
    let counts = manifest_counts(&dir);
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    let mut checked = 0;
    for (i, path) in paths.iter().enumerate() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let reader = CaptureReader::open(path, i as u16).unwrap_or_else(|e| panic!("{e}"));
        let mut n = 0u64;
        let mut linktypes = BTreeMap::new();
        let mut ip = IpLayer::new();
        let (mut v4, mut v6, mut other, mut ip_errors) = (0, 0, 0, 0);
        let mut others = BTreeMap::new();
        for item in reader {
            let f = item.unwrap_or_else(|e| panic!("{e}"));
            n += 1;
            assert_eq!(f.meta.frame, n);
            *linktypes.entry(f.linktype).or_insert(0u64) += 1;
            match parse_link(f.linktype, &f.data) {
                Ok(net) => {
                    match net {
                        Network::Ipv4(_) => v4 += 1,
                        Network::Ipv6(_) => v6 += 1,
                        Network::Other { ethertype } => {
                            other += 1;
                            *others.entry(ethertype).or_insert(0u64) += 1;
                        }
                    }
                    if let Err(e) = ip.push(&f.meta, net) {
                        ip_errors += 1;
                        eprintln!("{name} frame {}: {e}", f.meta.frame);
                    }
                }
                Err(e) => {
                    assert_eq!(
                        f.linktype,
                        LinkType::WIRESHARK_UPPER_PDU,
                        "{name} frame {}: {e}",
                        f.meta.frame
                    );
                    assert_eq!(e.reason, "unsupported linktype");
                }
            }
        }
        eprintln!(
            "{name}: {n} frames, linktypes {linktypes:?}, ipv4 {v4} ipv6 {v6} other {other}, ip errors {ip_errors}, non-IP ethertypes {others:04x?}, {:?}",
            ip.stats()
        );
        if let Some(&want) = counts.get(&name) {
            assert_eq!(n, want, "{name}: frame count differs from MANIFEST");
            checked += 1;
        }
        assert_eq!(ip_errors, 0, "{name}");
        match name.as_str() {
            "zeek-linux-sll2-icmp.pcap" => {
                assert_eq!(
                    linktypes.keys().copied().collect::<Vec<_>>(),
                    vec![LinkType::LINUX_SLL2]
                );
                // ICMP and ICMPv6 echoes, plus one ARP and one RARP frame.
                assert_eq!((v4, v6), (2, 2));
                assert_eq!(others, BTreeMap::from([(0x0806, 1), (0x8035, 1)]));
            }
            "ndpi-gtpu-ipv6-qinq-vlan.pcap" => assert_eq!(v4, n),
            "open5gs-testepc-s1-x2-handover-pathswitch-null-loopback.pcapng" => {
                assert_eq!(
                    linktypes.keys().copied().collect::<Vec<_>>(),
                    vec![LinkType::NULL]
                );
                assert_eq!(v4 + v6, n);
            }
            "magma-inbound-roaming-01-s6a-s8-gtpv2.pcapng" => assert_eq!(n, 240),
            // MANIFEST: ip_fragments=30 / 980 (frames); every datagram completes.
            "magma-gx-gy-s6a-1ue.pcapng" => assert_eq!(
                (ip.stats().fragments, ip.stats().reassembled, ip.pending()),
                (30, 15, 0)
            ),
            "magma-gx-gy-s6a-32ue.pcapng" => assert_eq!(
                (ip.stats().fragments, ip.stats().reassembled, ip.pending()),
                (980, 490, 0)
            ),
            "telekom-exported-pdu-http2-nsmf.pcapng" => {
                assert_eq!(
                    linktypes.keys().copied().collect::<Vec<_>>(),
                    vec![LinkType::WIRESHARK_UPPER_PDU]
                );
            }
            _ => {}
        }
    }
    assert!(
        checked >= 30,
        "only {checked} files matched MANIFEST entries"
    );
}

/// Every item of a capture file opened `mapped` (in place) or streamed.
fn file_items(path: &Path, mapped: bool) -> Vec<Result<Frame, CaptureError>> {
    let open = if mapped {
        CaptureReader::open
    } else {
        CaptureReader::open_streaming
    };
    open(path, 1).unwrap_or_else(|e| panic!("{e}")).collect()
}

/// A file reads the same mapped (in place) and streamed.
fn assert_mapped_reads_as_streamed(path: &Path) {
    let mapped = file_items(path, true);
    assert!(!mapped.is_empty(), "{}", path.display());
    assert_eq!(mapped, file_items(path, false), "{}", path.display());
}

#[test]
fn mapped_files_read_as_streamed_files() {
    assert_mapped_reads_as_streamed(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/roaming-scenario.pcap"),
    );
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn mapped_shared_captures_read_as_streamed() {
    let entries = std::fs::read_dir(captures_dir()).expect("list the shared captures");
    for path in entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
    {
        assert_mapped_reads_as_streamed(&path);
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn valid_files() -> Vec<Vec<u8>> {
        let mut ng = PcapNgWriter::new(Vec::new()).unwrap();
        ng.add_interface(LinkType::ETHERNET, 6).unwrap();
        ng.add_interface(LinkType::LINUX_SLL, 0x80 | 10).unwrap();
        for i in 0..4 {
            ng.write_packet(
                i % 2,
                i64::from(i) * 1_000_000,
                &pkt(30 + i as usize, i as u8),
                99,
            )
            .unwrap();
        }
        ng.write_simple_packet(&pkt(9, 9)).unwrap();
        vec![sample_pcap(4), ng.into_inner().unwrap()]
    }

    /// A pcapng file whose EPBs are plain, with options (left to `pcap-parser`) and odd
    /// captured lengths, and big-endian in a second section.
    fn ng_mixed() -> Vec<u8> {
        let mut ng = PcapNgWriter::new(Vec::new()).unwrap();
        ng.add_interface(LinkType::ETHERNET, 6).unwrap();
        ng.add_interface(LinkType::LINUX_SLL, 9).unwrap();
        ng.write_packet(0, 1_000_000, &pkt(33, 1), 40).unwrap();
        // An EPB with an epb_flags option and the end of options.
        let mut body = Vec::new();
        for v in [1u32, 0, 2_000_000_000, 5, 5] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(&[1, 2, 3, 4, 5, 0, 0, 0]);
        body.extend_from_slice(&[2, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        ng.write_raw_block(6, &body).unwrap();
        ng.write_packet(1, 3_000_000_000, &pkt(60, 2), 60).unwrap();
        let mut bytes = ng.into_inner().unwrap();
        let mut be = PcapNgWriter::with_byte_order(Vec::new(), true).unwrap();
        be.add_interface(LinkType::ETHERNET, 6).unwrap();
        be.write_packet(0, 4_000_000, &pkt(21, 3), 21).unwrap();
        bytes.extend(be.into_inner().unwrap());
        bytes
    }

    /// A file's opening error or every item (up to 1000), read in place or streamed.
    fn read_either(
        bytes: &[u8],
        in_place: bool,
    ) -> Result<Vec<Result<Frame, CaptureError>>, CaptureError> {
        let r = if in_place {
            CaptureReader::from_bytes(Vec::from(bytes), "fuzz", 0)
        } else {
            CaptureReader::from_reader(Cursor::new(bytes.to_vec()), "fuzz", 0)
        };
        Ok(r?.take(1000).collect())
    }

    /// A little-endian modified-format pcap (magic a1b2cd34: 24-byte record headers).
    fn modified_pcap() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_cd34u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        for v in [0u32, 0, 65535, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for (i, n) in [(1u32, 30usize), (2, 50)] {
            for v in [i, 0, n as u32, n as u32, 2, 0] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(&pkt(n, i as u8));
        }
        b
    }

    /// Classic pcap in both byte orders and the modified (Kuznetzov) format, and pcapng.
    fn in_place_files() -> Vec<Vec<u8>> {
        let mut files = valid_files();
        files.push(ng_mixed());
        let mut be =
            PcapWriter::with_byte_order(Vec::new(), LinkType::ETHERNET, TsResolution::Nano, true)
                .unwrap();
        be.write_packet(5_000, &pkt(40, 7), 44).unwrap();
        be.write_packet(6_000, &pkt(20, 8), 20).unwrap();
        files.push(be.into_inner().unwrap());
        files.push(modified_pcap());
        files
    }

    /// Every item of a file, through the plain-EPB reader or through `pcap-parser` only.
    fn items(bytes: &[u8], fast: bool) -> Option<Vec<Result<Frame, CaptureError>>> {
        let mut r = CaptureReader::from_reader(Cursor::new(bytes.to_vec()), "fuzz", 0).ok()?;
        r.fast_epb = fast;
        Some(r.take(1000).collect())
    }

    #[test]
    fn plain_epb_reader_matches_pcap_parser_on_valid_files() {
        let mixed = items(&ng_mixed(), false).unwrap();
        assert_eq!(mixed.len(), 4);
        assert!(mixed.iter().all(Result::is_ok));
        for bytes in valid_files().into_iter().chain([ng_mixed()]) {
            let fast = items(&bytes, true).unwrap();
            assert!(fast.iter().all(Result::is_ok));
            assert_eq!(fast, items(&bytes, false).unwrap());
        }
    }

    #[test]
    fn lent_frames_equal_copied_frames() {
        for bytes in valid_files().into_iter().chain([ng_mixed()]) {
            let copied = items(&bytes, true).unwrap();
            let mut r = CaptureReader::from_reader(Cursor::new(bytes), "fuzz", 0).unwrap();
            let mut lent = Vec::new();
            while let Some(item) = r.next_frame() {
                lent.push(item.map(|f| f.to_frame()));
            }
            assert_eq!(lent, copied);
        }
    }

    /// `bytes` with the octets at `edits` overwritten, then cut at `cut` if given.
    fn damaged(
        mut bytes: Vec<u8>,
        edits: &[(prop::sample::Index, u8)],
        cut: Option<prop::sample::Index>,
    ) -> Vec<u8> {
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = *v;
        }
        if let Some(cut) = cut {
            let n = cut.index(bytes.len());
            bytes.truncate(n);
        }
        bytes
    }

    proptest! {
        /// The direct EPB reading gives exactly what `pcap-parser` gives, damaged or not.
        #[test]
        fn plain_epb_reader_matches_pcap_parser(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
                                                cut in any::<prop::sample::Index>(), do_cut in any::<bool>()) {
            let bytes = damaged(ng_mixed(), &edits, do_cut.then_some(cut));
            prop_assert_eq!(items(&bytes, true), items(&bytes, false));
        }

        /// A file read in place gives exactly what it gives streamed (frames, errors and
        /// where they are), damaged or not.
        #[test]
        fn in_place_reader_matches_streaming(which in 0usize..5, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
                                             cut in any::<prop::sample::Index>(), do_cut in any::<bool>()) {
            let bytes = damaged(in_place_files().swap_remove(which), &edits, do_cut.then_some(cut));
            prop_assert_eq!(read_either(&bytes, true), read_either(&bytes, false));
        }

        /// Corrupted files end (at most one error, always last) without panicking.
        #[test]
        fn mutated_captures_terminate(which in 0usize..2, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
                                      cut in any::<prop::sample::Index>(), do_cut in any::<bool>()) {
            let bytes = damaged(valid_files().swap_remove(which), &edits, do_cut.then_some(cut));
            if let Ok(reader) = CaptureReader::from_reader(Cursor::new(bytes), "fuzz", 0) {
                let items: Vec<_> = reader.take(1000).collect();
                prop_assert!(items.len() < 1000);
                let errors = items.iter().filter(|r| r.is_err()).count();
                prop_assert!(errors <= 1);
                if errors == 1 {
                    prop_assert!(items.last().is_some_and(|r| r.is_err()));
                }
            }
        }
    }
}
