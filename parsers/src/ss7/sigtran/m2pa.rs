//! M2PA (RFC 4165): MTP2 peer-to-peer adaptation over SCTP (payload protocol id 5). A
//! User Data message carries one MTP3 message after a priority octet; Link Status
//! messages and empty User Data (acknowledgements) carry none.

use crate::error::{DecodeError, Layer};
use crate::wire::be32;

pub const PPID: u32 = 5;
const CLASS_M2PA: u8 = 11;
const TYPE_USER_DATA: u8 = 1;
const TYPE_LINK_STATUS: u8 = 2;
/// Common header (8) + BSN (4) + FSN (4).
const HEADER_LEN: usize = 16;

fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::M2pa, reason, offset)
}

/// A view of one M2PA message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct M2paMessage<'a> {
    pub msg_type: u8,
    pub bsn: u32,
    pub fsn: u32,
    /// The MTP3 message of a User Data message (after the priority octet), if any.
    pub mtp3: Option<&'a [u8]>,
}

impl<'a> M2paMessage<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<M2paMessage<'a>, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(err("truncated M2PA header", 0));
        }
        if buf[0] != 1 || buf[2] != CLASS_M2PA {
            return Err(err("not M2PA (version 1, class 11)", 0));
        }
        let len = be32(buf, 4).unwrap_or(0) as usize;
        if len < HEADER_LEN {
            return Err(err("M2PA length shorter than header", 4));
        }
        let body = buf
            .get(HEADER_LEN..len)
            .ok_or(err("M2PA length past end", 4))?;
        let mtp3 = match buf[3] {
            TYPE_USER_DATA if body.len() > 1 => Some(&body[1..]),
            _ => None,
        };
        Ok(M2paMessage {
            msg_type: buf[3],
            bsn: be32(buf, 8).unwrap_or(0) & 0x00ff_ffff,
            fsn: be32(buf, 12).unwrap_or(0) & 0x00ff_ffff,
            mtp3,
        })
    }

    pub fn name(&self) -> &'static str {
        match self.msg_type {
            TYPE_USER_DATA => "User Data",
            TYPE_LINK_STATUS => "Link Status",
            _ => "unknown",
        }
    }

    /// A User Data message carrying `mtp3` (priority 0).
    pub fn emit_user_data(bsn: u32, fsn: u32, mtp3: &[u8]) -> Vec<u8> {
        let len = (HEADER_LEN + 1 + mtp3.len()) as u32;
        let mut out = vec![1, 0, CLASS_M2PA, TYPE_USER_DATA];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&(bsn & 0x00ff_ffff).to_be_bytes());
        out.extend_from_slice(&(fsn & 0x00ff_ffff).to_be_bytes());
        out.push(0);
        out.extend_from_slice(mtp3);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn user_data_round_trip() {
        let wire = M2paMessage::emit_user_data(7, 8, b"\x83abcd");
        let m = M2paMessage::parse(&wire).unwrap();
        assert_eq!((m.bsn, m.fsn, m.mtp3), (7, 8, Some(&b"\x83abcd"[..])));
        assert_eq!(m.name(), "User Data");
        assert!(M2paMessage::parse(&wire[..15]).is_err());
        let mut bad = wire.clone();
        bad[7] = 200;
        assert!(M2paMessage::parse(&bad).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = M2paMessage::parse(&data);
        }
    }
}
