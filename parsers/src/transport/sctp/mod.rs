//! SCTP (RFC 9260): the common header, an iterator over the chunks of a packet, a
//! [`SctpRepr`] that emits bundled packets with their CRC32c, and an [`SctpReassembler`]
//! that turns DATA / I-DATA chunks into user messages, fragmented ones reassembled and
//! duplicates (retransmissions, the same packet captured on two hops) dropped.

use crate::error::{DecodeError, Layer};
use crate::wire::{be16_or_zero as be16, be32_or_zero as be32};

mod reassembly;
pub use reassembly::*;

/// Length of the common header.
pub const HEADER_LEN: usize = 12;
/// Chunk type of DATA.
pub const CHUNK_DATA: u8 = 0;
/// Chunk type of SACK.
pub const CHUNK_SACK: u8 = 3;
/// INIT and INIT ACK: an association starts; their Initiate Tag is the verification tag
/// the sender wants on what it receives.
pub const CHUNK_INIT: u8 = 1;
pub const CHUNK_INIT_ACK: u8 = 2;
/// Chunk type of I-DATA (RFC 8260, interleaving).
pub const CHUNK_IDATA: u8 = 64;

const FLAG_END: u8 = 0x01;
const FLAG_BEGIN: u8 = 0x02;
const FLAG_UNORDERED: u8 = 0x04;
const FLAG_IMMEDIATE: u8 = 0x08;

/// CRC-32C (Castagnoli), as SCTP uses it.
const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

const fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Sctp, reason, offset)
}

/// The CRC32c of a packet, computed with its checksum field taken as zero. The value goes
/// on the wire least significant byte first (RFC 9260 appendix A; checked against real
/// captures), which is how [`SctpHeader::checksum`] reads it back.
pub fn checksum(packet: &[u8]) -> u32 {
    let mut d = CRC32C.digest();
    d.update(packet.get(..8).unwrap_or(packet));
    if packet.len() >= HEADER_LEN {
        d.update(&[0; 4]);
        d.update(packet.get(HEADER_LEN..).unwrap_or_default());
    }
    d.finalize()
}

/// The common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SctpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub vtag: u32,
    /// The CRC32c as a number (wire bytes read little-endian). Often 0 or wrong in
    /// captures taken with checksum offload, so decoders do not insist on it.
    pub checksum: u32,
}

/// Entry point for a packet's bytes: see [`SctpPacket::parse`].
#[derive(Debug, Clone, Copy)]
pub struct SctpPacket<'a> {
    bytes: &'a [u8],
}

impl<'a> SctpPacket<'a> {
    pub fn new_checked(bytes: &'a [u8]) -> Result<SctpPacket<'a>, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(err(
                "packet shorter than the 12-byte common header",
                bytes.len(),
            ));
        }
        Ok(SctpPacket { bytes })
    }

    /// The common header and a lazy iterator over the chunks.
    pub fn parse(bytes: &'a [u8]) -> Result<(SctpHeader, ChunkIter<'a>), DecodeError> {
        let p = SctpPacket::new_checked(bytes)?;
        Ok((p.header(), p.chunks()))
    }

    pub fn header(&self) -> SctpHeader {
        let b = self.bytes;
        let c = b
            .get(8..12)
            .map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        SctpHeader {
            src_port: be16(b, 0),
            dst_port: be16(b, 2),
            vtag: be32(b, 4),
            checksum: c,
        }
    }

    pub fn chunks(&self) -> ChunkIter<'a> {
        ChunkIter {
            bytes: self.bytes,
            offset: HEADER_LEN,
            done: false,
        }
    }

    pub fn verify_checksum(&self) -> bool {
        checksum(self.bytes) == self.header().checksum
    }
}

/// The chunks of a packet in order. A chunk whose length field is impossible yields one
/// `Err` and ends the iteration (nothing after it can be located).
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    bytes: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = Result<Chunk<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.offset;
        let rest = self.bytes.get(at..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let item = match rest {
            [kind, flags, l0, l1, ..] => {
                let len = usize::from(u16::from_be_bytes([*l0, *l1]));
                if len < 4 {
                    Err(err("chunk length below 4", at + 2))
                } else if len > rest.len() {
                    Err(err("chunk length beyond the end of the packet", at + 2))
                } else {
                    let value = rest.get(4..len).unwrap_or_default();
                    // The last chunk's padding is sometimes cut off by the capture.
                    self.offset = (at + len.next_multiple_of(4)).min(self.bytes.len());
                    Chunk::parse(*kind, *flags, value).map_err(|e| e.shifted(at))
                }
            }
            _ => Err(err("truncated chunk header", at)),
        };
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }
}

/// A DATA (type 0) or I-DATA (type 64) chunk: one user message or a fragment of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataChunk<'a> {
    /// U: unordered delivery.
    pub unordered: bool,
    /// B: first fragment of the user message.
    pub begin: bool,
    /// E: last fragment of the user message.
    pub end: bool,
    /// I: the sender asks for an immediate SACK.
    pub immediate: bool,
    pub tsn: u32,
    pub stream_id: u16,
    /// Stream sequence number (DATA only; 0 for I-DATA).
    pub ssn: u16,
    /// Payload protocol identifier (for I-DATA only carried by the first fragment; 0
    /// in the others).
    pub ppid: u32,
    /// Present for I-DATA: message id and fragment sequence number (0 on the B fragment).
    pub i_data: Option<IData>,
    pub payload: &'a [u8],
}

/// The I-DATA fields that replace DATA's SSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IData {
    pub mid: u32,
    pub fsn: u32,
}

/// The same type is the parsed chunk and the thing emitted.
pub type DataChunkRepr<'a> = DataChunk<'a>;

impl<'a> DataChunk<'a> {
    fn parse_data(flags: u8, value: &'a [u8]) -> Result<DataChunk<'a>, DecodeError> {
        if value.len() < 12 {
            return Err(err("DATA chunk shorter than 16 bytes", 2));
        }
        Ok(DataChunk {
            unordered: flags & FLAG_UNORDERED != 0,
            begin: flags & FLAG_BEGIN != 0,
            end: flags & FLAG_END != 0,
            immediate: flags & FLAG_IMMEDIATE != 0,
            tsn: be32(value, 0),
            stream_id: be16(value, 4),
            ssn: be16(value, 6),
            ppid: be32(value, 8),
            i_data: None,
            payload: value.get(12..).unwrap_or_default(),
        })
    }

    fn parse_idata(flags: u8, value: &'a [u8]) -> Result<DataChunk<'a>, DecodeError> {
        if value.len() < 16 {
            return Err(err("I-DATA chunk shorter than 20 bytes", 2));
        }
        let begin = flags & FLAG_BEGIN != 0;
        let ppid_or_fsn = be32(value, 12);
        Ok(DataChunk {
            unordered: flags & FLAG_UNORDERED != 0,
            begin,
            end: flags & FLAG_END != 0,
            immediate: flags & FLAG_IMMEDIATE != 0,
            tsn: be32(value, 0),
            stream_id: be16(value, 4),
            ssn: 0,
            ppid: if begin { ppid_or_fsn } else { 0 },
            i_data: Some(IData {
                mid: be32(value, 8),
                fsn: if begin { 0 } else { ppid_or_fsn },
            }),
            payload: value.get(16..).unwrap_or_default(),
        })
    }

    fn flags(&self) -> u8 {
        let mut f = 0;
        for (on, bit) in [
            (self.end, FLAG_END),
            (self.begin, FLAG_BEGIN),
            (self.unordered, FLAG_UNORDERED),
            (self.immediate, FLAG_IMMEDIATE),
        ] {
            if on {
                f |= bit;
            }
        }
        f
    }

    /// Append the chunk, padded to 4 bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut value = Vec::with_capacity(16 + self.payload.len());
        value.extend_from_slice(&self.tsn.to_be_bytes());
        value.extend_from_slice(&self.stream_id.to_be_bytes());
        match self.i_data {
            None => {
                value.extend_from_slice(&self.ssn.to_be_bytes());
                value.extend_from_slice(&self.ppid.to_be_bytes());
            }
            Some(i) => {
                value.extend_from_slice(&[0, 0]);
                value.extend_from_slice(&i.mid.to_be_bytes());
                let x = if self.begin { self.ppid } else { i.fsn };
                value.extend_from_slice(&x.to_be_bytes());
            }
        }
        value.extend_from_slice(self.payload);
        let kind = if self.i_data.is_some() {
            CHUNK_IDATA
        } else {
            CHUNK_DATA
        };
        emit_chunk(out, kind, self.flags(), &value);
    }
}

/// Append one chunk (type, flags, length, value, padding). A value too long for the
/// 16-bit length is cut to fit, since emit is for fixtures and cannot fail.
fn emit_chunk(out: &mut Vec<u8>, kind: u8, flags: u8, value: &[u8]) {
    let value = value.get(..usize::from(u16::MAX) - 4).unwrap_or(value);
    let len = 4 + value.len();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (len.next_multiple_of(4) - len), 0);
}

/// One chunk. Only user data is decoded; control chunks (SACK, INIT, HEARTBEAT, ...) are
/// passed through as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chunk<'a> {
    Data(DataChunk<'a>),
    Other {
        kind: u8,
        flags: u8,
        value: &'a [u8],
    },
}

impl<'a> Chunk<'a> {
    /// The Initiate Tag of an INIT or INIT ACK: from now on the chunk's receiver sends to
    /// its sender under this verification tag, starting a new TSN sequence.
    pub fn initiate_tag(&self) -> Option<u32> {
        match self {
            Chunk::Other {
                kind: CHUNK_INIT | CHUNK_INIT_ACK,
                value,
                ..
            } if value.len() >= 16 => {
                Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]))
            }
            _ => None,
        }
    }

    /// A chunk from its type, flags and value (the bytes after the 4-byte chunk header, up
    /// to its length, padding excluded). Error offsets are relative to the chunk.
    pub fn parse(kind: u8, flags: u8, value: &'a [u8]) -> Result<Chunk<'a>, DecodeError> {
        match kind {
            CHUNK_DATA => DataChunk::parse_data(flags, value).map(Chunk::Data),
            CHUNK_IDATA => DataChunk::parse_idata(flags, value).map(Chunk::Data),
            _ => Ok(Chunk::Other { kind, flags, value }),
        }
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Chunk::Data(d) => d.emit(out),
            Chunk::Other { kind, flags, value } => emit_chunk(out, *kind, *flags, value),
        }
    }
}

/// A whole packet: header fields and chunks (bundling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub vtag: u32,
    pub chunks: Vec<Chunk<'a>>,
}

impl<'a> SctpRepr<'a> {
    /// All chunks of a packet; fails on the first bad one (use [`SctpPacket::parse`] to keep
    /// the chunks before it).
    pub fn parse(bytes: &'a [u8]) -> Result<SctpRepr<'a>, DecodeError> {
        let (h, chunks) = SctpPacket::parse(bytes)?;
        Ok(SctpRepr {
            src_port: h.src_port,
            dst_port: h.dst_port,
            vtag: h.vtag,
            chunks: chunks.collect::<Result<_, _>>()?,
        })
    }

    /// The packet bytes with a correct CRC32c.
    pub fn emit(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + 64 * self.chunks.len());
        b.extend_from_slice(&self.src_port.to_be_bytes());
        b.extend_from_slice(&self.dst_port.to_be_bytes());
        b.extend_from_slice(&self.vtag.to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        for c in &self.chunks {
            c.emit(&mut b);
        }
        let c = checksum(&b);
        b[8..12].copy_from_slice(&c.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests;
