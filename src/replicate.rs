//! Load generation for testers and benchmarks: a capture replicated N times, each copy
//! shifted in time after the previous one and moved to its own addresses and SCTP
//! verification tags, so that the copies are distinct connections and associations
//! rather than retransmissions the transport layers would rightly drop.

use std::collections::HashMap;
use std::io::{self, Cursor};

use landfall_parsers::capture::{CaptureError, CaptureReader, Frame, PcapNgWriter};
use landfall_parsers::ip::internet_checksum;
use landfall_parsers::link::{parse_link, Network};

const IPPROTO_SCTP: u8 = 132;

/// Read every frame of a capture held in memory.
pub fn read_frames(bytes: Vec<u8>, name: &str) -> Result<Vec<Frame>, CaptureError> {
    CaptureReader::from_reader(Cursor::new(bytes), name, 0)?.collect()
}

/// `copies` copies of `frames` as a pcapng (one interface per link type, ns stamps).
pub fn replicate(frames: &[Frame], copies: u32) -> io::Result<Vec<u8>> {
    let first = frames.first().map_or(0, |f| f.meta.ts_us);
    let last = frames.iter().map(|f| f.meta.ts_us).max().unwrap_or(first);
    let span_us = last - first + 1_000_000;
    let mut w = PcapNgWriter::new(Vec::new())?;
    let mut ifaces: HashMap<u32, u32> = HashMap::new();
    for copy in 0..copies {
        for f in frames {
            let if_id = match ifaces.get(&f.linktype) {
                Some(&i) => i,
                None => {
                    let i = w.add_interface(f.linktype, 9)?;
                    ifaces.insert(f.linktype, i);
                    i
                }
            };
            let mut data = f.data.clone();
            relocate(&mut data, f.linktype, copy);
            let ts_us = f.meta.ts_us + i64::from(copy) * span_us;
            w.write_packet(if_id, ts_us * 1000, &data, f.orig_len)?;
        }
    }
    w.into_inner()
}

/// Move an IPv4 packet to copy `copy`'s addresses (third octet XOR copy, header checksum
/// fixed) and SCTP verification tag. Other frames are left as they are.
fn relocate(data: &mut [u8], linktype: u32, copy: u32) {
    let offset = match parse_link(linktype, data) {
        Ok(Network::Ipv4(ip)) => ip.as_ptr() as usize - data.as_ptr() as usize,
        _ => return,
    };
    let Some(ip) = data.get_mut(offset..) else {
        return;
    };
    if ip.len() < 20 {
        return;
    }
    let tweak = (copy & 0xff) as u8;
    let hi = ((copy >> 8) & 0xff) as u8;
    ip[14] ^= tweak;
    ip[18] ^= tweak;
    ip[13] ^= hi;
    ip[17] ^= hi;
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ihl < 20 || ip.len() < ihl {
        return;
    }
    ip[10] = 0;
    ip[11] = 0;
    let sum = internet_checksum(&[&ip[..ihl]]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let first_fragment = ip[6] & 0x1f == 0 && ip[7] == 0;
    if ip[9] == IPPROTO_SCTP && first_fragment {
        if let Some(vtag) = ip.get_mut(ihl + 4..ihl + 8) {
            for (b, k) in vtag.iter_mut().zip(copy.to_be_bytes()) {
                *b ^= k;
            }
        }
    }
}
