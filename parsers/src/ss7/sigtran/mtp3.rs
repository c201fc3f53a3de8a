//! MTP3 (ITU-T Q.704) as carried by M2PA: service information octet and routing label.
//!
//! Point codes are ITU 14-bit; ANSI 24-bit labels are not supported (they cannot be told
//! apart from the bytes alone; an ANSI link would need a configuration switch).

use crate::error::{DecodeError, Layer};

/// Service indicator of SCCP.
pub const SI_SCCP: u8 = 3;

/// Origin and destination signalling points of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoutingLabel {
    pub opc: u32,
    pub dpc: u32,
    pub sls: u8,
}

/// An MTP3 message signal unit: SIO, routing label and user data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mtp3Message<'a> {
    /// Service indicator (low 4 bits of the SIO).
    pub si: u8,
    /// Network indicator (high 2 bits of the SIO).
    pub ni: u8,
    pub label: RoutingLabel,
    pub data: &'a [u8],
}

impl<'a> Mtp3Message<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Mtp3Message<'a>, DecodeError> {
        if buf.len() < 5 {
            return Err(DecodeError::new(
                Layer::Mtp3,
                "truncated MTP3 routing label",
                0,
            ));
        }
        let sio = buf[0];
        let l = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]);
        Ok(Mtp3Message {
            si: sio & 0x0f,
            ni: sio >> 6,
            label: RoutingLabel {
                dpc: l & 0x3fff,
                opc: (l >> 14) & 0x3fff,
                sls: (l >> 28) as u8,
            },
            data: &buf[5..],
        })
    }

    /// The wire form: SIO, label (little-endian DPC | OPC << 14 | SLS << 28), data.
    pub fn emit(si: u8, ni: u8, label: RoutingLabel, data: &[u8]) -> Vec<u8> {
        let l = (label.dpc & 0x3fff)
            | ((label.opc & 0x3fff) << 14)
            | (u32::from(label.sls & 0x0f) << 28);
        let mut out = Vec::with_capacity(5 + data.len());
        out.push((ni << 6) | (si & 0x0f));
        out.extend_from_slice(&l.to_le_bytes());
        out.extend_from_slice(data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_round_trip() {
        let label = RoutingLabel {
            opc: 0x3fff,
            dpc: 1234,
            sls: 9,
        };
        let wire = Mtp3Message::emit(SI_SCCP, 2, label, b"x");
        let m = Mtp3Message::parse(&wire).unwrap();
        assert_eq!(
            (m.si, m.ni, m.label, m.data),
            (SI_SCCP, 2, label, &b"x"[..])
        );
        assert!(Mtp3Message::parse(&wire[..4]).is_err());
    }
}
