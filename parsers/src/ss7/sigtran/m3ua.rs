//! M3UA (RFC 4666): MTP3 user messages over SCTP (payload protocol id 3).
//!
//! Only DATA carries signaling; the management classes (ASPSM, ASPTM, MGMT, SSNM, RKM) are
//! recognised by name for `inspect --stats` and otherwise left alone.

use super::mtp3::RoutingLabel;
use crate::error::{DecodeError, Layer};
use crate::wire::{be16, be32};

pub const PPID: u32 = 3;
/// The Protocol Data parameter of a DATA message.
pub const TAG_PROTOCOL_DATA: u16 = 0x0210;
pub const TAG_NETWORK_APPEARANCE: u16 = 0x0200;
pub const TAG_ROUTING_CONTEXT: u16 = 0x0006;
pub const TAG_CORRELATION_ID: u16 = 0x0013;

const CLASS_TRANSFER: u8 = 1;
const TYPE_DATA: u8 = 1;

fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::M3ua, reason, offset)
}

/// A view of one M3UA message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct M3uaMessage<'a> {
    pub class: u8,
    pub msg_type: u8,
    /// The parameters (after the 8-byte common header), as long as the header says.
    pub params: &'a [u8],
}

impl<'a> M3uaMessage<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<M3uaMessage<'a>, DecodeError> {
        if buf.len() < 8 {
            return Err(err("truncated common header", 0));
        }
        if buf[0] != 1 {
            return Err(err("unsupported version (not 1)", 0));
        }
        let len = be32(buf, 4).unwrap_or(0) as usize;
        if len < 8 {
            return Err(err("message length shorter than header", 4));
        }
        let body = buf.get(8..len).ok_or(err("message length past end", 4))?;
        Ok(M3uaMessage {
            class: buf[2],
            msg_type: buf[3],
            params: body,
        })
    }

    pub fn is_data(&self) -> bool {
        self.class == CLASS_TRANSFER && self.msg_type == TYPE_DATA
    }

    /// The parameters in order; a malformed one ends the iteration with an error.
    pub fn params(&self) -> ParamIter<'a> {
        ParamIter {
            rest: self.params,
            offset: 8,
        }
    }

    /// The Protocol Data of a DATA message.
    pub fn protocol_data(&self) -> Result<ProtocolData<'a>, DecodeError> {
        for p in self.params() {
            let (tag, value, at) = p?;
            if tag == TAG_PROTOCOL_DATA {
                return ProtocolData::parse(value).map_err(|e| e.shifted(at));
            }
        }
        Err(err("DATA without Protocol Data parameter", 8))
    }

    /// "class/type" name, e.g. `ASPSM BEAT`, for statistics.
    pub fn name(&self) -> &'static str {
        message_name(self.class, self.msg_type)
    }
}

/// Iterates (tag, value, offset of the value in the message).
pub struct ParamIter<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Result<(u16, &'a [u8], usize), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (Some(tag), Some(len)) = (be16(self.rest, 0), be16(self.rest, 2)) else {
            self.rest = &[];
            return Some(Err(err("truncated parameter header", self.offset)));
        };
        let len = usize::from(len);
        let Some(value) = self.rest.get(4..len.max(4)).filter(|_| len >= 4) else {
            self.rest = &[];
            return Some(Err(err("parameter length past end", self.offset + 2)));
        };
        let at = self.offset + 4;
        let padded = (len + 3) & !3;
        self.rest = self.rest.get(padded..).unwrap_or_default();
        self.offset += padded;
        Some(Ok((tag, value, at)))
    }
}

/// The MTP3 routing label and user part carried by a DATA message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolData<'a> {
    pub opc: u32,
    pub dpc: u32,
    /// Service indicator (3 = SCCP).
    pub si: u8,
    pub ni: u8,
    pub mp: u8,
    pub sls: u8,
    pub data: &'a [u8],
}

impl<'a> ProtocolData<'a> {
    pub fn parse(v: &'a [u8]) -> Result<ProtocolData<'a>, DecodeError> {
        if v.len() < 12 {
            return Err(err("truncated Protocol Data", 0));
        }
        Ok(ProtocolData {
            opc: be32(v, 0).unwrap_or(0),
            dpc: be32(v, 4).unwrap_or(0),
            si: v[8],
            ni: v[9],
            mp: v[10],
            sls: v[11],
            data: &v[12..],
        })
    }

    pub fn label(&self) -> RoutingLabel {
        RoutingLabel {
            opc: self.opc,
            dpc: self.dpc,
            sls: self.sls,
        }
    }
}

/// The name of an M3UA message class and type (RFC 4666 §3.1.2).
pub fn message_name(class: u8, msg_type: u8) -> &'static str {
    match (class, msg_type) {
        (0, 0) => "MGMT ERR",
        (0, 1) => "MGMT NTFY",
        (1, 1) => "DATA",
        (2, 1) => "SSNM DUNA",
        (2, 2) => "SSNM DAVA",
        (2, 3) => "SSNM DAUD",
        (2, 4) => "SSNM SCON",
        (2, 5) => "SSNM DUPU",
        (2, 6) => "SSNM DRST",
        (3, 1) => "ASPSM ASPUP",
        (3, 2) => "ASPSM ASPDN",
        (3, 3) => "ASPSM BEAT",
        (3, 4) => "ASPSM ASPUP ACK",
        (3, 5) => "ASPSM ASPDN ACK",
        (3, 6) => "ASPSM BEAT ACK",
        (4, 1) => "ASPTM ASPAC",
        (4, 2) => "ASPTM ASPIA",
        (4, 3) => "ASPTM ASPAC ACK",
        (4, 4) => "ASPTM ASPIA ACK",
        (9, 1) => "RKM REG REQ",
        (9, 2) => "RKM REG RSP",
        (9, 3) => "RKM DEREG REQ",
        (9, 4) => "RKM DEREG RSP",
        _ => "unknown",
    }
}

/// An owned M3UA message; `emit` writes the wire form, `parse` reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct M3uaRepr {
    pub class: u8,
    pub msg_type: u8,
    /// (tag, value) in order; values are padded to 4 bytes on the wire.
    pub params: Vec<(u16, Vec<u8>)>,
}

impl M3uaRepr {
    /// A DATA message carrying `data` from `opc` to `dpc` with service indicator `si`.
    pub fn data(routing_context: Option<u32>, label: RoutingLabel, si: u8, data: &[u8]) -> Self {
        let mut pd = Vec::with_capacity(12 + data.len());
        pd.extend_from_slice(&label.opc.to_be_bytes());
        pd.extend_from_slice(&label.dpc.to_be_bytes());
        pd.extend_from_slice(&[si, 2, 0, label.sls]);
        pd.extend_from_slice(data);
        let mut params = Vec::new();
        if let Some(rc) = routing_context {
            params.push((TAG_ROUTING_CONTEXT, rc.to_be_bytes().to_vec()));
        }
        params.push((TAG_PROTOCOL_DATA, pd));
        M3uaRepr {
            class: CLASS_TRANSFER,
            msg_type: TYPE_DATA,
            params,
        }
    }

    pub fn parse(buf: &[u8]) -> Result<M3uaRepr, DecodeError> {
        let m = M3uaMessage::parse(buf)?;
        let params = m
            .params()
            .map(|p| p.map(|(t, v, _)| (t, v.to_vec())))
            .collect::<Result<_, _>>()?;
        Ok(M3uaRepr {
            class: m.class,
            msg_type: m.msg_type,
            params,
        })
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![1, 0, self.class, self.msg_type, 0, 0, 0, 0];
        for (tag, value) in &self.params {
            out.extend_from_slice(&tag.to_be_bytes());
            out.extend_from_slice(&((value.len() + 4) as u16).to_be_bytes());
            out.extend_from_slice(value);
            out.resize((out.len() + 3) & !3, 0);
        }
        let len = out.len() as u32;
        out[4..8].copy_from_slice(&len.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn data_round_trip() {
        let label = RoutingLabel {
            opc: 1001,
            dpc: 2002,
            sls: 5,
        };
        let repr = M3uaRepr::data(Some(7), label, 3, b"\x09\x80sccp");
        let wire = repr.emit();
        assert_eq!(wire.len() % 4, 0);
        let m = M3uaMessage::parse(&wire).unwrap();
        assert!(m.is_data());
        assert_eq!(m.name(), "DATA");
        let pd = m.protocol_data().unwrap();
        assert_eq!((pd.opc, pd.dpc, pd.si, pd.sls), (1001, 2002, 3, 5));
        assert_eq!(pd.data, b"\x09\x80sccp");
        assert_eq!(M3uaRepr::parse(&wire).unwrap(), repr);
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert!(M3uaMessage::parse(&[1, 0, 1, 1, 0, 0, 0]).is_err());
        assert!(M3uaMessage::parse(&[1, 0, 1, 1, 0, 0, 0, 4]).is_err());
        assert!(M3uaMessage::parse(&[1, 0, 1, 1, 0, 0, 0, 20]).is_err());
        let m = M3uaMessage::parse(&[1, 0, 1, 1, 0, 0, 0, 12, 2, 16, 0, 40]).unwrap();
        assert!(m.protocol_data().is_err());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(m) = M3uaMessage::parse(&data) {
                let _ = m.params().count();
                let _ = m.protocol_data();
            }
        }

        #[test]
        fn repr_round_trip(class in 0u8..10, t in 0u8..8,
                           params in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..9)), 0..4)) {
            let repr = M3uaRepr { class, msg_type: t, params };
            prop_assert_eq!(M3uaRepr::parse(&repr.emit()).unwrap(), repr);
        }
    }
}
