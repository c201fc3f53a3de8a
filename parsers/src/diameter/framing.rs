//! Finding Diameter messages in a TCP byte stream: the message length, a plausibility
//! check on a candidate header, and a resynchronisation scan after a gap or garbage.
//! (The TCP layer's framer calls these; SCTP delivers whole messages.)

use super::header::{Flags, Header, Message, HEADER_LEN};

/// Largest message length accepted as plausible (1 MiB; real S6a messages are a few KiB).
pub const MAX_PLAUSIBLE_LEN: usize = 1 << 20;

/// tshark dissects no Diameter message shorter than this (its `check_diameter`
/// heuristic); every real message is longer. Exposed for the caller's choice.
pub const TSHARK_MIN_LEN: usize = 44;

/// The message length from the header's 24-bit length field; `None` with fewer than 4
/// bytes. No validation: see [`plausible_header`].
pub fn message_length(buf: &[u8]) -> Option<usize> {
    let b = buf.get(..4)?;
    Some((usize::from(b[1]) << 16) | (usize::from(b[2]) << 8) | usize::from(b[3]))
}

/// Does `buf` start with a plausible Diameter header? Needs the 20 header bytes: version
/// 1, 20 <= length < 1 MiB, length a multiple of 4, reserved command flags zero, and not
/// both R and E (RFC 6733 §3: the E bit is never set in requests).
pub fn plausible_header(buf: &[u8]) -> bool {
    let Some(h) = Header::peek(buf) else {
        return false;
    };
    let len = h.length as usize;
    h.version == 1
        && (HEADER_LEN..MAX_PLAUSIBLE_LEN).contains(&len)
        && len.is_multiple_of(4)
        && h.flags.reserved() == 0
        && !(h.flags.request() && h.flags.error())
        && h.code != 0
}

/// The offset of the first plausible message start in `buf`, for resynchronising a
/// stream. When the whole candidate message is in `buf` its AVPs must parse too, which
/// makes false positives inside AVP data unlikely.
pub fn find_header(buf: &[u8]) -> Option<usize> {
    (0..buf.len().saturating_sub(HEADER_LEN - 1)).find(|&i| {
        let rest = &buf[i..];
        if !plausible_header(rest) {
            return false;
        }
        match message_length(rest) {
            Some(len) if len <= rest.len() => {
                Message::parse(rest).is_ok_and(|m| m.avps().all(|a| a.is_ok()))
            }
            Some(len) => avp_headers_plausible(&rest[HEADER_LEN..], len - HEADER_LEN),
            None => true,
        }
    })
}

/// For a message not yet complete in the buffer: do the AVP headers that are present
/// chain correctly (reserved flag bits zero, length >= 8, inside the message)? Bytes of
/// ordinary AVP data rarely pass this, so a resync does not lock onto a false header and
/// wait for megabytes that never come.
fn avp_headers_plausible(mut avps: &[u8], mut remaining: usize) -> bool {
    while avps.len() >= 8 && remaining > 0 {
        let flags = avps[4];
        let len = (usize::from(avps[5]) << 16) | (usize::from(avps[6]) << 8) | usize::from(avps[7]);
        let min = if flags & 0x80 != 0 { 12 } else { 8 };
        if flags & 0x1f != 0 || len < min || len > remaining {
            return false;
        }
        let padded = (len + 3) & !3;
        avps = avps.get(padded..).unwrap_or_default();
        remaining = remaining.saturating_sub(padded);
    }
    true
}

/// Is the R bit set in a plausible header? (Convenience for stream statistics.)
pub fn is_request(buf: &[u8]) -> Option<bool> {
    buf.get(4).map(|f| Flags(*f).request())
}
