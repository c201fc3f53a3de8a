//! A capture held whole in memory (a memory map of the file, or a buffer) read in place:
//! the same blocks and errors as pcap-parser's streaming readers, without copying the file
//! through a read buffer (the copy is the cost it avoids: benches/README.md).

use pcap_parser::nom::{self, IResult};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{
    parse_block_be, parse_block_le, parse_pcap_frame, parse_pcap_frame_be,
    parse_pcap_frame_modified, parse_pcap_header, parse_sectionheaderblock, Block, LegacyPcapBlock,
    PcapBlockOwned, PcapError, PcapHeader,
};

type LegacyParse = fn(&[u8]) -> IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>>;

enum Layout {
    /// Byte order of the current section (each Section Header Block declares its own).
    PcapNg { big_endian: bool },
    /// The file header, yielded as the first block, and the record parser it selects.
    Pcap {
        header: PcapHeader,
        parse: LegacyParse,
    },
}

/// Blocks parsed where they lie in `bytes`; `pos` is what has been consumed.
pub(super) struct InPlace<B> {
    bytes: B,
    pos: usize,
    layout: Layout,
}

impl<B: AsRef<[u8]>> InPlace<B> {
    /// A pcapng file: its Section Header Block is checked now (as `PcapNGReader::new`
    /// does) and comes out of the first `next`.
    pub(super) fn pcapng(bytes: B) -> Result<InPlace<B>, PcapError<&'static [u8]>> {
        opening(parse_sectionheaderblock(bytes.as_ref()))?;
        Ok(InPlace {
            bytes,
            pos: 0,
            layout: Layout::PcapNg { big_endian: false },
        })
    }

    /// A classic pcap file: its header is parsed now (as `LegacyPcapReader::new` does).
    pub(super) fn pcap(bytes: B) -> Result<InPlace<B>, PcapError<&'static [u8]>> {
        let header = opening(parse_pcap_header(bytes.as_ref()))?;
        let parse: LegacyParse = if header.is_modified_format() {
            parse_pcap_frame_modified
        } else if header.is_bigendian() {
            parse_pcap_frame_be
        } else {
            parse_pcap_frame
        };
        Ok(InPlace {
            bytes,
            pos: 0,
            layout: Layout::Pcap { header, parse },
        })
    }
}

/// The file header's parse, its error detached from the input.
fn opening<T>(r: IResult<&[u8], T, PcapError<&[u8]>>) -> Result<T, PcapError<&'static [u8]>> {
    match r {
        Ok((_, h)) => Ok(h),
        Err(nom::Err::Incomplete(_)) => Err(PcapError::Incomplete(0)),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.to_owned_vec()),
    }
}

/// All of the input is here: a block cut short is the end of the file inside it.
fn cut(e: nom::Err<PcapError<&[u8]>>) -> PcapError<&[u8]> {
    match e {
        nom::Err::Incomplete(_) => PcapError::UnexpectedEof,
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
    }
}

impl<B: AsRef<[u8]>> PcapReaderIterator for InPlace<B> {
    fn next(&mut self) -> Result<(usize, PcapBlockOwned<'_>), PcapError<&[u8]>> {
        let InPlace { bytes, pos, layout } = self;
        let data = B::as_ref(bytes).get(*pos..).unwrap_or_default();
        match layout {
            Layout::Pcap { header, .. } if *pos == 0 => {
                Ok((header.size(), PcapBlockOwned::from(header.clone())))
            }
            _ if data.is_empty() => Err(PcapError::Eof),
            Layout::Pcap { parse, .. } => {
                let (rem, b) = parse(data).map_err(cut)?;
                Ok((data.len() - rem.len(), PcapBlockOwned::from(b)))
            }
            Layout::PcapNg { big_endian } => {
                let parse = if *big_endian {
                    parse_block_be
                } else {
                    parse_block_le
                };
                let (rem, b) = parse(data).map_err(cut)?;
                if let Block::SectionHeader(shb) = &b {
                    *big_endian = shb.big_endian();
                }
                Ok((data.len() - rem.len(), PcapBlockOwned::from(b)))
            }
        }
    }

    fn consume(&mut self, offset: usize) {
        self.pos = self
            .pos
            .saturating_add(offset)
            .min(self.bytes.as_ref().len());
    }

    fn consume_noshift(&mut self, offset: usize) {
        self.consume(offset);
    }

    fn consumed(&self) -> usize {
        self.pos
    }

    fn refill(&mut self) -> Result<(), PcapError<&[u8]>> {
        Ok(())
    }

    fn position(&self) -> usize {
        self.pos
    }

    /// Nothing to grow: every block is already whole in memory.
    fn grow(&mut self, _new_size: usize) -> bool {
        false
    }

    fn data(&self) -> &[u8] {
        self.bytes.as_ref().get(self.pos..).unwrap_or_default()
    }

    fn reader_exhausted(&self) -> bool {
        true
    }
}
