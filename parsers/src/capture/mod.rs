//! Capture files: pcap and pcapng read as a stream of [`Frame`]s.
//!
//! A capture file is memory-mapped and its blocks parsed where they lie (no copy through a
//! read buffer); a pipe or other stream is read through a bounded buffer (`pcap-parser`'s
//! readers), so a capture of any size replays in constant memory either way. Both paths
//! give the same frames and errors (property-tested). A damaged file yields exactly one [`CaptureError`]
//! and then the iterator ends: a tester sees where the file broke, and a run never spins.
//! [`MergedCaptures`] replays several probes' files in capture-time order; the writers build
//! fixtures.

mod blocks;
mod in_place;
mod merge;
mod write;

pub use merge::MergedCaptures;
pub use write::{PcapNgWriter, PcapWriter, TsResolution};

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapError, PcapNGReader};

use crate::flow::PacketMeta;
use blocks::*;
use in_place::InPlace;

/// One captured frame, copied out of the reader's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// File index, 1-based frame number within the file, capture time (µs, truncated).
    pub meta: PacketMeta,
    /// The frame's link type (LINKTYPE_* value, see [`crate::transport::link::LinkType`]).
    pub linktype: u32,
    /// Captured bytes (may be shorter than `orig_len` when the capture used a snap length).
    pub data: Vec<u8>,
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

impl Frame {
    /// The frame as a [`FrameRef`] borrowing its bytes.
    pub fn as_frame_ref(&self) -> FrameRef<'_> {
        FrameRef {
            meta: self.meta,
            linktype: self.linktype,
            data: &self.data,
            orig_len: self.orig_len,
        }
    }
}

/// One captured frame lent from the reader's buffer ([`CaptureReader::next_frame`]): the
/// same fields as a [`Frame`] without copying the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef<'a> {
    pub meta: PacketMeta,
    pub linktype: u32,
    pub data: &'a [u8],
    pub orig_len: u32,
}

impl FrameRef<'_> {
    /// An owned copy.
    pub fn to_frame(&self) -> Frame {
        Frame {
            meta: self.meta,
            linktype: self.linktype,
            data: self.data.to_vec(),
            orig_len: self.orig_len,
        }
    }
}

/// A frame found in the read buffer: its fields, and where its bytes are (address and
/// length), so that the block borrowing the buffer can be let go before they are lent.
#[derive(Clone, Copy, Debug)]
struct Head {
    meta: PacketMeta,
    linktype: u32,
    addr: usize,
    len: usize,
    orig_len: u32,
}

impl Head {
    fn new(meta: PacketMeta, linktype: u32, data: &[u8], orig_len: u32) -> Head {
        Head {
            meta,
            linktype,
            addr: data.as_ptr() as usize,
            len: data.len(),
            orig_len,
        }
    }
}

/// What kind of failure a [`CaptureError`] is, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaptureErrorKind {
    /// The file could not be opened or read.
    Io,
    /// The first bytes are neither a pcap nor a pcapng magic number.
    NotACapture,
    /// The file ends in the middle of a header or record.
    Truncated,
    /// A header or block is malformed.
    Corrupt,
}

impl CaptureErrorKind {
    /// A short static reason, for counting errors by kind.
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureErrorKind::Io => "capture file read error",
            CaptureErrorKind::NotACapture => "not a pcap or pcapng file",
            CaptureErrorKind::Truncated => "capture file truncated",
            CaptureErrorKind::Corrupt => "corrupt capture record",
        }
    }
}

/// A capture file that cannot be read (further): which file, where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}", describe(self))]
pub struct CaptureError {
    /// The file's name (path as given, or the name passed to [`CaptureReader::from_reader`]).
    pub file: String,
    pub file_index: u16,
    /// The 1-based number of the frame being read when the error occurred, if past the header.
    pub frame: Option<u64>,
    /// Byte offset in the file of the header or record that failed.
    pub offset: u64,
    pub kind: CaptureErrorKind,
    pub reason: Cow<'static, str>,
}

/// One sentence after the file name: where (frame, byte offset) when it says something,
/// then what. An error opening or reading the file is the system's message alone.
fn describe(e: &CaptureError) -> String {
    match (e.kind, e.frame) {
        (CaptureErrorKind::Io, _) => e.reason.to_string(),
        (_, Some(frame)) => format!("frame {frame} (byte offset {}): {}", e.offset, e.reason),
        (_, None) if e.offset == 0 => e.reason.to_string(),
        (_, None) => format!("{} (byte offset {})", e.reason, e.offset),
    }
}

impl CaptureError {
    pub fn file_index(&self) -> u16 {
        self.file_index
    }
}

/// Mapped files up to this size are faulted in whole when opened.
const POPULATE_UP_TO: u64 = 256 * 1024 * 1024;

/// Start size of the read buffer; it grows (up to [`MAX_RECORD`]) for larger records.
const INITIAL_BUFFER: usize = 128 * 1024;
/// Largest pcap record / pcapng block accepted: bounds memory on corrupt length fields.
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

/// A streaming reader over one pcap or pcapng file, yielding its frames in file order.
pub struct CaptureReader {
    name: String,
    inner: Box<dyn PcapReaderIterator>,
    format: Format,
    capacity: usize,
    state: State,
    done: bool,
    /// Length of the block of the frame last lent, consumed on the next call.
    lent: usize,
    /// Read plain EPBs directly ([`plain_epb`]); off only in tests, to compare.
    fast_epb: bool,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("file_index", &self.state.file_index)
            .field("format", &self.format)
            .field("frames", &self.state.frames)
            .finish()
    }
}

impl CaptureReader {
    /// Open a capture file; `file_index` is its position in the run (it goes into every
    /// frame's [`PacketMeta`]). A regular file is memory-mapped and read in place
    /// ([`CaptureReader::from_bytes`]); anything else (a pipe, a device), or a file the
    /// system will not map, is streamed ([`CaptureReader::open_streaming`]).
    ///
    /// A mapped file must not be truncated while it is read (the pages gone would fault);
    /// a file still being appended to is read as it was when opened. Open such files with
    /// [`CaptureReader::open_streaming`].
    pub fn open(path: &Path, file_index: u16) -> Result<Self, CaptureError> {
        let file = Self::open_file(path, file_index)?;
        let len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len());
        if len > 0 {
            // A file of moderate size is faulted in whole when mapped (one call instead of a
            // page fault every few pages); a larger one is read ahead as it is parsed, so
            // that decoding need not wait for all of it.
            let mut options = memmap2::MmapOptions::new();
            if len <= POPULATE_UP_TO {
                options.populate();
            }
            // SAFETY: the map is read-only and private to this reader; the file is not
            // written through it. Truncation by another process is the documented caveat.
            if let Ok(map) = unsafe { options.map(&file) } {
                #[cfg(unix)]
                let _ = map.advise(memmap2::Advice::Sequential);
                return Self::from_bytes(map, &path.display().to_string(), file_index);
            }
        }
        Self::from_reader(file, &path.display().to_string(), file_index)
    }

    /// Correct this file's clock: `offset_us` is added to every frame's timestamp from now
    /// on (a probe whose clock is 5 ms behind needs +5000), before [`MergedCaptures`]
    /// merges it with other files.
    pub fn set_clock_offset(&mut self, offset_us: i64) {
        self.state.clock_offset_us = offset_us;
    }

    /// Correct the clock of one pcapng interface (by interface id, in the order of the
    /// file's Interface Description Blocks): `offset_us` is added to its packets'
    /// timestamps on top of the file's offset. No effect on classic pcap files.
    pub fn set_interface_clock_offset(&mut self, if_id: u32, offset_us: i64) {
        let o = &mut self.state.iface_clock_offsets;
        o.retain(|(i, _)| *i != if_id);
        if offset_us != 0 {
            o.push((if_id, offset_us));
        }
    }

    /// Open a capture file and read it through a bounded buffer, in constant memory.
    pub fn open_streaming(path: &Path, file_index: u16) -> Result<Self, CaptureError> {
        let file = Self::open_file(path, file_index)?;
        Self::from_reader(file, &path.display().to_string(), file_index)
    }

    fn open_file(path: &Path, file_index: u16) -> Result<File, CaptureError> {
        File::open(path).map_err(|e| CaptureError {
            file: path.display().to_string(),
            file_index,
            frame: None,
            offset: 0,
            kind: CaptureErrorKind::Io,
            reason: Cow::Owned(format!("cannot open: {e}")),
        })
    }

    /// Read a capture held whole in memory (a memory map, a buffer), parsing its blocks
    /// where they lie: the same frames and errors as [`CaptureReader::from_reader`].
    pub fn from_bytes(
        bytes: impl AsRef<[u8]> + 'static,
        name: &str,
        file_index: u16,
    ) -> Result<Self, CaptureError> {
        let magic: [u8; 4] = bytes
            .as_ref()
            .get(..4)
            .and_then(|m| m.try_into().ok())
            .ok_or_else(|| open_error(name, file_index, CaptureErrorKind::Truncated, SHORT))?;
        let format = Format::of(magic).map_err(|k| open_error(name, file_index, k, UNKNOWN))?;
        if format == Format::PcapNg && shb_len(bytes.as_ref()).is_some_and(|n| n > MAX_RECORD) {
            return Err(open_error(
                name,
                file_index,
                CaptureErrorKind::Corrupt,
                LIMIT,
            ));
        }
        let inner: Box<dyn PcapReaderIterator> = match format {
            Format::PcapNg => {
                Box::new(InPlace::pcapng(bytes).map_err(|e| header_error(name, file_index, e))?)
            }
            Format::Pcap { .. } => {
                Box::new(InPlace::pcap(bytes).map_err(|e| header_error(name, file_index, e))?)
            }
        };
        Ok(Self::with_inner(inner, format, name, file_index))
    }

    /// Read a capture from any byte stream (a file, stdin, a test buffer).
    pub fn from_reader(
        reader: impl Read + 'static,
        name: &str,
        file_index: u16,
    ) -> Result<Self, CaptureError> {
        Self::from_stream_with(reader, name, file_index, false)
    }

    /// [`CaptureReader::from_reader`] for a stream read while it is written (a pipe from
    /// `tcpdump -U -w -`, a file followed as a probe writes it): once the file header is
    /// in, each refill takes what one `read` returns instead of waiting for the read
    /// buffer (128 KiB) to fill, so a frame is lent as soon as its bytes arrived. `reader`
    /// must block until bytes are there and return 0 only at the end of the stream.
    pub fn from_stream(
        reader: impl Read + 'static,
        name: &str,
        file_index: u16,
    ) -> Result<Self, CaptureError> {
        Self::from_stream_with(reader, name, file_index, true)
    }

    fn from_stream_with(
        reader: impl Read + 'static,
        name: &str,
        file_index: u16,
        eager: bool,
    ) -> Result<Self, CaptureError> {
        let mut reader = FillingReader(reader);
        // The magic, and for pcapng the Section Header Block's length and byte order.
        let mut head = [0u8; 12];
        let got = reader.read(&mut head).map_err(|e| CaptureError {
            reason: Cow::Owned(format!("read error: {e}")),
            ..open_error(name, file_index, CaptureErrorKind::Io, "")
        })?;
        let head = head.get(..got).unwrap_or_default();
        let magic: [u8; 4] = head
            .get(..4)
            .and_then(|m| m.try_into().ok())
            .ok_or_else(|| open_error(name, file_index, CaptureErrorKind::Truncated, SHORT))?;
        let format = Format::of(magic).map_err(|k| open_error(name, file_index, k, UNKNOWN))?;
        // The first read must hold the whole Section Header Block (its options can make it
        // longer than the usual buffer).
        let capacity = match format {
            Format::PcapNg => match shb_len(head) {
                Some(n) if n > MAX_RECORD => {
                    return Err(open_error(
                        name,
                        file_index,
                        CaptureErrorKind::Corrupt,
                        LIMIT,
                    ))
                }
                Some(n) => n
                    .saturating_add(1)
                    .next_power_of_two()
                    .clamp(INITIAL_BUFFER, MAX_RECORD + 64),
                None => INITIAL_BUFFER,
            },
            Format::Pcap { .. } => INITIAL_BUFFER,
        };
        // Hand the head back to the parser in front of the rest of the stream.
        let stream = Cursor::new(head.to_vec()).chain(reader.0);
        let inner = if eager {
            // The parser reads the file header from its first read: that one is filled.
            let header_len = match format {
                Format::PcapNg => shb_len(head).unwrap_or(capacity),
                Format::Pcap { .. } => PCAP_HEADER_LEN,
            };
            stream_parser(HeadFilled::new(stream, header_len), format, capacity)
        } else {
            stream_parser(FillingReader(stream), format, capacity)
        }
        .map_err(|e| header_error(name, file_index, e))?;
        let mut reader = Self::with_inner(inner, format, name, file_index);
        reader.capacity = capacity;
        Ok(reader)
    }

    fn with_inner(
        inner: Box<dyn PcapReaderIterator>,
        format: Format,
        name: &str,
        file_index: u16,
    ) -> CaptureReader {
        CaptureReader {
            name: name.to_string(),
            inner,
            format,
            capacity: INITIAL_BUFFER,
            state: State {
                file_index,
                ..State::default()
            },
            done: false,
            lent: 0,
            fast_epb: true,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes of the input consumed up to the end of the frame (or error) last returned:
    /// where reading would resume after it.
    pub fn offset(&self) -> u64 {
        (self.inner.consumed() as u64).saturating_add(self.lent as u64)
    }

    pub fn file_index(&self) -> u16 {
        self.state.file_index
    }

    /// Frames yielded so far.
    pub fn frames_read(&self) -> u64 {
        self.state.frames
    }

    /// True for pcapng input, false for classic pcap.
    pub fn is_pcapng(&self) -> bool {
        self.format == Format::PcapNg
    }

    fn fail(&mut self, kind: CaptureErrorKind, reason: &'static str) -> CaptureError {
        self.done = true;
        CaptureError {
            file: self.name.clone(),
            file_index: self.state.file_index,
            frame: Some(self.state.frames + 1),
            offset: self.inner.consumed() as u64,
            kind,
            reason: Cow::Borrowed(reason),
        }
    }

    /// Length of the record/block starting at the head of the buffer, once its header is in.
    fn head_len(&self, data: &[u8]) -> Option<usize> {
        let rd = |o: usize, be: bool| -> Option<u32> {
            let b: [u8; 4] = data.get(o..o + 4)?.try_into().ok()?;
            Some(if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        match self.format {
            Format::Pcap {
                big_endian,
                modified,
            } => {
                // Before the first record the head is the 24-byte file header, already parsed.
                let hdr = if modified { 24 } else { 16 };
                let caplen = rd(8, big_endian)? as usize;
                Some(hdr + caplen)
            }
            Format::PcapNg => {
                let be = if rd(0, false)? == PCAPNG_SHB {
                    // A new section declares its own byte order.
                    rd(8, false)? != 0x1A2B_3C4D
                } else {
                    self.state.big_endian
                };
                Some(rd(4, be)? as usize)
            }
        }
    }

    fn over_limit(&mut self) -> CaptureError {
        self.fail(CaptureErrorKind::Corrupt, LIMIT)
    }

    /// Why the input ended inside the block at its head: a declared length over the limit,
    /// a whole block that does not parse, or a block the file stops inside.
    fn cut_short(&self) -> Failure {
        let data = self.inner.data();
        match self.head_len(data) {
            Some(n) if n > MAX_RECORD => (CaptureErrorKind::Corrupt, LIMIT),
            Some(n) if n > 0 && n <= data.len() => {
                (CaptureErrorKind::Corrupt, "malformed record or block")
            }
            _ => (CaptureErrorKind::Truncated, "file ends inside a record"),
        }
    }
}

/// The parser over a byte stream: pcapng or classic pcap, with a read buffer of `capacity`.
fn stream_parser<S: Read + 'static>(
    stream: S,
    format: Format,
    capacity: usize,
) -> Result<Box<dyn PcapReaderIterator>, PcapError<&'static [u8]>> {
    Ok(match format {
        Format::PcapNg => Box::new(PcapNGReader::new(capacity, stream)?),
        Format::Pcap { .. } => Box::new(LegacyPcapReader::new(capacity, stream)?),
    })
}

enum Step {
    Consumed(usize, Result<Option<Head>, Failure>),
    Eof,
    NeedMore,
    Fail(Failure),
}

impl CaptureReader {
    /// The next frame (or the error that ends the file), its bytes lent from the read
    /// buffer until the next call: no copy and no allocation per frame.
    pub fn next_frame(&mut self) -> Option<Result<FrameRef<'_>, CaptureError>> {
        let head = match self.next_head()? {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        let buf = self.inner.data();
        // The block was parsed at the head of the buffer, which has not moved since.
        let data = head
            .addr
            .checked_sub(buf.as_ptr() as usize)
            .and_then(|at| buf.get(at..at.checked_add(head.len)?))
            .unwrap_or_default();
        Some(Ok(FrameRef {
            meta: head.meta,
            linktype: head.linktype,
            data,
            orig_len: head.orig_len,
        }))
    }

    /// Consume blocks up to the next frame; its block stays in the buffer until the next
    /// call. Consumed bytes are not shifted out on every block (as `consume` does past half
    /// the buffer): the refill shifts the remainder when it needs the space.
    fn next_head(&mut self) -> Option<Result<Head, CaptureError>> {
        if self.lent > 0 {
            self.inner.consume_noshift(std::mem::take(&mut self.lent));
        }
        // Refills that brought no new bytes in a row; guards against a stuck reader.
        let mut stalls = 0u32;
        while !self.done {
            let plain = if self.fast_epb {
                plain_epb(self.inner.data(), &mut self.state)
            } else {
                None
            };
            if let Some((len, head)) = plain {
                match head {
                    // In place a block of any length is whole; the limit holds all the same.
                    _ if len > MAX_RECORD => return Some(Err(self.over_limit())),
                    Ok(h) => {
                        self.lent = len;
                        return Some(Ok(h));
                    }
                    Err((kind, reason)) => return Some(Err(self.fail(kind, reason))),
                }
            }
            let step = match self.inner.next() {
                Ok((len, block)) => Step::Consumed(len, self.state.handle(block)),
                Err(PcapError::Eof) => Step::Eof,
                Err(PcapError::Incomplete(_) | PcapError::BufferTooSmall) => Step::NeedMore,
                // At the end of the input (a file read in place is always there): judged
                // by the declared length, as a record that cannot be buffered would be.
                Err(PcapError::UnexpectedEof) => Step::Fail(self.cut_short()),
                Err(PcapError::ReadError) => Step::Fail((CaptureErrorKind::Io, "read error")),
                Err(_) => Step::Fail((CaptureErrorKind::Corrupt, "malformed record or block")),
            };
            match step {
                Step::Consumed(len, _) if len > MAX_RECORD => return Some(Err(self.over_limit())),
                Step::Consumed(len, Ok(Some(head))) => {
                    self.lent = len;
                    return Some(Ok(head));
                }
                Step::Consumed(len, Ok(None)) => self.inner.consume_noshift(len),
                Step::Consumed(_, Err((kind, reason))) | Step::Fail((kind, reason)) => {
                    return Some(Err(self.fail(kind, reason)));
                }
                Step::Eof => self.done = true,
                Step::NeedMore => {
                    let avail = self.inner.data().len();
                    match self.head_len(self.inner.data()) {
                        Some(n) if n > MAX_RECORD => return Some(Err(self.over_limit())),
                        // The whole record is buffered yet does not parse: its inside is bad.
                        Some(n) if n <= avail && n > 0 => {
                            return Some(Err(
                                self.fail(CaptureErrorKind::Corrupt, "malformed record or block")
                            ));
                        }
                        Some(n) if n >= self.capacity => {
                            let want = n.saturating_add(1).next_power_of_two().min(MAX_RECORD + 64);
                            if self.inner.grow(want) {
                                self.capacity = want;
                            }
                        }
                        _ => {}
                    }
                    if self.inner.refill().is_err() {
                        return Some(Err(self.fail(CaptureErrorKind::Io, "read error")));
                    }
                    if self.inner.data().len() == avail && !self.inner.reader_exhausted() {
                        stalls += 1;
                        let want = self.capacity.saturating_mul(2);
                        if stalls > 2 || want > MAX_RECORD + 64 || !self.inner.grow(want) {
                            return Some(Err(self.fail(
                                CaptureErrorKind::Corrupt,
                                "record does not fit the read buffer",
                            )));
                        }
                        self.capacity = want;
                    } else {
                        stalls = 0;
                    }
                }
            }
        }
        None
    }
}

impl Iterator for CaptureReader {
    type Item = Result<Frame, CaptureError>;

    /// The next frame, copied out of the buffer (see [`CaptureReader::next_frame`]).
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().map(|r| r.map(|f| f.to_frame()))
    }
}

#[cfg(test)]
mod tests;
