//! HPACK (RFC 7541) state of one direction of an HTTP/2 connection, over the
//! `loona-hpack` decoder, with what a capture adds: the connection may have been met in
//! its middle, or may lose a header block to a gap.
//!
//! The dynamic table holds the newest entries first, so a decoder that started empty in
//! the middle of a connection holds exactly the newest entries of the sender's table, at
//! the same indices, as long as it missed no header block since: every field it decodes
//! is then the sender's, and a reference to an older entry is an index beyond its table,
//! an error, never a guess. Any block not decoded whole (a gap in the stream, a block
//! refused) breaks that, so the table is emptied and the history is "partial" again.

use loona_hpack::decoder::DecoderError;

/// The largest dynamic table accepted (a SETTINGS_HEADER_TABLE_SIZE beyond it is capped):
/// bounds the memory one direction holds.
pub const MAX_TABLE: usize = 65_536;
/// The table size before any SETTINGS (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE: usize = 4_096;

/// What the decoder knows of the dynamic table's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum History {
    /// Every header block of the direction was decoded since the connection began.
    Complete,
    /// The direction was met in its middle or lost a block: entries older than the
    /// capture (or the loss) are unknown.
    Partial,
}

/// Why a header block was not decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpackError {
    /// It refers to a table entry made before the capture began (or before a loss).
    UnknownEntry,
    /// It is not valid HPACK (with what reason).
    Malformed(&'static str),
}

/// The HPACK decoding state of one direction.
pub struct HeaderDecoder {
    inner: loona_hpack::Decoder<'static>,
    history: History,
    /// The table size the peer allowed (its SETTINGS_HEADER_TABLE_SIZE, capped).
    allowed: usize,
}

impl std::fmt::Debug for HeaderDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderDecoder")
            .field("history", &self.history)
            .field("allowed", &self.allowed)
            .finish()
    }
}

impl HeaderDecoder {
    /// A decoder with an empty table; `history` says whether that is the true start.
    pub fn new(history: History) -> HeaderDecoder {
        let mut d = HeaderDecoder {
            inner: loona_hpack::Decoder::new(),
            history,
            allowed: DEFAULT_TABLE,
        };
        d.inner.set_max_allowed_table_size(MAX_TABLE);
        d
    }

    pub fn history(&self) -> History {
        self.history
    }

    /// The connection (re)starts here: the table is known empty.
    pub fn restart(&mut self) {
        *self = HeaderDecoder::new(History::Complete);
    }

    /// A block was lost or refused: the table is emptied, its history partial.
    pub fn lost(&mut self) {
        let allowed = self.allowed;
        *self = HeaderDecoder::new(History::Partial);
        self.allow(allowed);
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE (capped at [`MAX_TABLE`]): the table may
    /// grow to it once the sender says so; the decoder keeps up to it meanwhile, which
    /// never changes an index the sender can use.
    pub fn allow(&mut self, size: usize) {
        self.allowed = size.min(MAX_TABLE);
        self.inner
            .set_max_table_size(self.allowed.max(DEFAULT_TABLE));
    }

    /// Decode one whole header block, each field to `field` in order. On error the
    /// fields already given must be dropped by the caller; the table is reset.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let r = self
            .inner
            .decode_with_cb(block, |n, v| field(n.as_ref(), v.as_ref()));
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                let out = match (e, self.history) {
                    (DecoderError::HeaderIndexOutOfBounds, History::Partial) => {
                        HpackError::UnknownEntry
                    }
                    (e, _) => HpackError::Malformed(reason(e)),
                };
                self.lost();
                Err(out)
            }
        }
    }
}

fn reason(e: DecoderError) -> &'static str {
    match e {
        DecoderError::HeaderIndexOutOfBounds => "hpack index beyond the tables",
        DecoderError::IntegerDecodingError(_) => "hpack integer malformed",
        DecoderError::StringDecodingError(_) => "hpack string malformed (length or Huffman)",
        DecoderError::InvalidMaxDynamicSize => "hpack table size update beyond the limit",
        DecoderError::SizeUpdateAtEnd => "hpack table size update at the end of a block",
        _ => "hpack block malformed",
    }
}

/// Encodes header lists for tests and fixtures (the encoder side of the same crate).
pub struct HeaderEncoder {
    inner: loona_hpack::Encoder<'static>,
}

impl Default for HeaderEncoder {
    fn default() -> Self {
        HeaderEncoder {
            inner: loona_hpack::Encoder::new(),
        }
    }
}

impl HeaderEncoder {
    /// One header block for `fields`, updating this encoder's dynamic table.
    pub fn encode(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        self.inner
            .encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }
}
