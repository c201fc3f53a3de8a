//! Capture writers, for fixtures and round-trip tests: classic pcap and pcapng, written by
//! hand (a few fixed layouts) in either byte order, so the reader's byte-order and
//! resolution paths can all be exercised.

use std::io::{self, Write};

use super::Frame;

/// Fractional-second unit of a classic pcap file (chosen by its magic number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsResolution {
    Micro,
    Nano,
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Appends integers in the file's byte order.
#[derive(Clone, Copy)]
struct Order(bool);

impl Order {
    fn u16(self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&if self.0 {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    fn u32(self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&if self.0 {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    fn i64(self, out: &mut Vec<u8>, v: i64) {
        out.extend_from_slice(&if self.0 {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
}

/// A classic pcap writer with one link type for the whole file.
pub struct PcapWriter<W: Write> {
    w: W,
    res: TsResolution,
    order: Order,
}

impl<W: Write> PcapWriter<W> {
    /// Little-endian file with the given link type and timestamp resolution.
    pub fn new(w: W, linktype: u32, res: TsResolution) -> io::Result<Self> {
        Self::with_byte_order(w, linktype, res, false)
    }

    pub fn with_byte_order(
        mut w: W,
        linktype: u32,
        res: TsResolution,
        big_endian: bool,
    ) -> io::Result<Self> {
        let order = Order(big_endian);
        let mut h = Vec::with_capacity(24);
        order.u32(
            &mut h,
            if res == TsResolution::Nano {
                0xa1b2_3c4d
            } else {
                0xa1b2_c3d4
            },
        );
        order.u16(&mut h, 2);
        order.u16(&mut h, 4);
        order.u32(&mut h, 0); // thiszone
        order.u32(&mut h, 0); // sigfigs
        order.u32(&mut h, 262_144); // snaplen
        order.u32(&mut h, linktype);
        w.write_all(&h)?;
        Ok(PcapWriter { w, res, order })
    }

    /// One record; `ts_ns` is nanoseconds since the epoch (truncated to µs in µs files).
    pub fn write_packet(&mut self, ts_ns: i64, data: &[u8], orig_len: u32) -> io::Result<()> {
        if ts_ns < 0 {
            return Err(invalid("pcap timestamps cannot be negative"));
        }
        let sec =
            u32::try_from(ts_ns / 1_000_000_000).map_err(|_| invalid("timestamp beyond 2106"))?;
        let ns = (ts_ns % 1_000_000_000) as u32;
        let frac = if self.res == TsResolution::Nano {
            ns
        } else {
            ns / 1000
        };
        let caplen = u32::try_from(data.len()).map_err(|_| invalid("packet too large"))?;
        let mut h = Vec::with_capacity(16 + data.len());
        self.order.u32(&mut h, sec);
        self.order.u32(&mut h, frac);
        self.order.u32(&mut h, caplen);
        self.order.u32(&mut h, orig_len);
        h.extend_from_slice(data);
        self.w.write_all(&h)
    }

    /// A frame read earlier (its µs timestamp, data and original length).
    pub fn write_frame(&mut self, frame: &Frame) -> io::Result<()> {
        self.write_packet(
            frame.meta.ts_us.saturating_mul(1000),
            &frame.data,
            frame.orig_len,
        )
    }

    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// A pcapng writer: one section, any number of interfaces, Enhanced (or Simple) Packet Blocks.
pub struct PcapNgWriter<W: Write> {
    w: W,
    order: Order,
    /// Per interface: units per second and if_tsoffset seconds.
    ifaces: Vec<(u128, i64)>,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

impl<W: Write> PcapNgWriter<W> {
    /// Little-endian section.
    pub fn new(w: W) -> io::Result<Self> {
        Self::with_byte_order(w, false)
    }

    pub fn with_byte_order(mut w: W, big_endian: bool) -> io::Result<Self> {
        let order = Order(big_endian);
        let mut b = Vec::with_capacity(28);
        order.u32(&mut b, 0x0A0D_0D0A);
        order.u32(&mut b, 28);
        order.u32(&mut b, 0x1A2B_3C4D);
        order.u16(&mut b, 1);
        order.u16(&mut b, 0);
        order.i64(&mut b, -1); // section length unknown
        order.u32(&mut b, 28);
        w.write_all(&b)?;
        Ok(PcapNgWriter {
            w,
            order,
            ifaces: Vec::new(),
        })
    }

    /// Declare an interface; `tsresol` is the raw if_tsresol byte (6 = µs, 9 = ns,
    /// 0x80|n = 2^-n s). Returns its interface id.
    pub fn add_interface(&mut self, linktype: u32, tsresol: u8) -> io::Result<u32> {
        self.add_interface_with_offset(linktype, tsresol, 0)
    }

    /// As [`Self::add_interface`], with an if_tsoffset (seconds added to every timestamp).
    pub fn add_interface_with_offset(
        &mut self,
        linktype: u32,
        tsresol: u8,
        tsoffset_s: i64,
    ) -> io::Result<u32> {
        let units =
            super::ts_units_per_sec(tsresol).ok_or_else(|| invalid("invalid if_tsresol"))?;
        let linktype =
            u16::try_from(linktype).map_err(|_| invalid("pcapng link types are 16-bit"))?;
        let o = self.order;
        let len = 20 + 8 + if tsoffset_s != 0 { 12 } else { 0 } + 4;
        let mut b = Vec::with_capacity(len);
        o.u32(&mut b, 1);
        o.u32(&mut b, len as u32);
        o.u16(&mut b, linktype);
        o.u16(&mut b, 0);
        o.u32(&mut b, 262_144);
        o.u16(&mut b, 9); // if_tsresol
        o.u16(&mut b, 1);
        b.extend_from_slice(&[tsresol, 0, 0, 0]);
        if tsoffset_s != 0 {
            o.u16(&mut b, 14); // if_tsoffset
            o.u16(&mut b, 8);
            o.i64(&mut b, tsoffset_s);
        }
        o.u16(&mut b, 0); // opt_endofopt
        o.u16(&mut b, 0);
        o.u32(&mut b, len as u32);
        self.w.write_all(&b)?;
        self.ifaces.push((units, tsoffset_s));
        Ok((self.ifaces.len() - 1) as u32)
    }

    /// An Enhanced Packet Block; `ts_ns` is converted to the interface's units (truncating).
    pub fn write_packet(
        &mut self,
        if_id: u32,
        ts_ns: i64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let &(units, offset_s) = self
            .ifaces
            .get(if_id as usize)
            .ok_or_else(|| invalid("undeclared interface"))?;
        let rel_ns = i128::from(ts_ns) - i128::from(offset_s) * 1_000_000_000;
        if rel_ns < 0 {
            return Err(invalid("timestamp before the interface's if_tsoffset"));
        }
        let ts = u64::try_from(rel_ns * units as i128 / 1_000_000_000)
            .map_err(|_| invalid("timestamp out of range"))?;
        let caplen = u32::try_from(data.len()).map_err(|_| invalid("packet too large"))?;
        let len = 32 + data.len() + pad4(data.len());
        let o = self.order;
        let mut b = Vec::with_capacity(len);
        o.u32(&mut b, 6);
        o.u32(&mut b, len as u32);
        o.u32(&mut b, if_id);
        o.u32(&mut b, (ts >> 32) as u32);
        o.u32(&mut b, ts as u32);
        o.u32(&mut b, caplen);
        o.u32(&mut b, orig_len);
        b.extend_from_slice(data);
        b.resize(b.len() + pad4(data.len()), 0);
        o.u32(&mut b, len as u32);
        self.w.write_all(&b)
    }

    /// A frame read earlier, on interface `if_id`.
    pub fn write_frame(&mut self, if_id: u32, frame: &Frame) -> io::Result<()> {
        self.write_packet(
            if_id,
            frame.meta.ts_us.saturating_mul(1000),
            &frame.data,
            frame.orig_len,
        )
    }

    /// A Simple Packet Block (interface 0, no timestamp; captured length = `data.len()`).
    pub fn write_simple_packet(&mut self, data: &[u8]) -> io::Result<()> {
        let orig_len = u32::try_from(data.len()).map_err(|_| invalid("packet too large"))?;
        let len = 16 + data.len() + pad4(data.len());
        let o = self.order;
        let mut b = Vec::with_capacity(len);
        o.u32(&mut b, 3);
        o.u32(&mut b, len as u32);
        o.u32(&mut b, orig_len);
        b.extend_from_slice(data);
        b.resize(b.len() + pad4(data.len()), 0);
        o.u32(&mut b, len as u32);
        self.w.write_all(&b)
    }

    /// Any other block (type and body, padded), e.g. to test that readers skip it.
    pub fn write_raw_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        let len = 12 + body.len() + pad4(body.len());
        let o = self.order;
        let mut b = Vec::with_capacity(len);
        o.u32(&mut b, block_type);
        o.u32(&mut b, len as u32);
        b.extend_from_slice(body);
        b.resize(b.len() + pad4(body.len()), 0);
        o.u32(&mut b, len as u32);
        self.w.write_all(&b)
    }

    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}
