//! Link layer: from a captured frame and its link type to the network-layer packet inside.
//!
//! Only the IP payload matters downstream, so [`parse_link`] strips whatever framing the
//! capture used (Ethernet with any stack of VLAN tags, Linux cooked v1/v2, BSD loopback,
//! raw IP) without allocating. The `Repr`s parse and emit the headers themselves, so tests
//! and fixtures can build frames.

use crate::error::{DecodeError, Layer};
use crate::wire::{be16, be32};

/// LINKTYPE_* values (tcpdump.org link-layer header types) understood here.
#[derive(Debug)]
pub struct LinkType;

impl LinkType {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    /// DLT_RAW as written by some OSes (12 on most BSDs/Linux, 14 on OpenBSD).
    pub const RAW_12: u32 = 12;
    pub const RAW_14: u32 = 14;
    /// Raw IPv4 or IPv6, told apart by the version nibble.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: address family in network byte order.
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    /// Wireshark "exported PDU": dissector output, not a link layer; not supported.
    pub const WIRESHARK_UPPER_PDU: u32 = 252;
    pub const LINUX_SLL2: u32 = 276;
}

/// EtherType values used here.
#[derive(Debug)]
pub struct EtherType;

impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86DD;
    /// 802.1ad service tag (QinQ outer tag).
    pub const QINQ: u16 = 0x88A8;
    /// Pre-standard QinQ outer tags still seen on some equipment.
    pub const QINQ_9100: u16 = 0x9100;
    pub const QINQ_9200: u16 = 0x9200;

    /// Is this a VLAN tag protocol identifier (a tag follows, then the next EtherType)?
    pub fn is_vlan_tpid(t: u16) -> bool {
        matches!(
            t,
            Self::VLAN | Self::QINQ | Self::QINQ_9100 | Self::QINQ_9200
        )
    }
}

/// The network-layer packet of a frame. The IP slices run to the end of the frame (link
/// padding included); the IP layer trims them by the header's length field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    /// Not IP (ARP, LLDP, …). `ethertype` is the EtherType, or for frames without one
    /// (802.3/LLC) 0, or for Linux cooked captures the SLL protocol code.
    Other {
        ethertype: u16,
    },
}

impl<'a> Network<'a> {
    /// The IP packet bytes, if this is IP.
    pub fn ip_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Network::Ipv4(b) | Network::Ipv6(b) => Some(b),
            Network::Other { .. } => None,
        }
    }
}

const fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Link, reason, offset)
}

/// The network packet inside a frame of the given link type.
pub fn parse_link(linktype: u32, data: &[u8]) -> Result<Network<'_>, DecodeError> {
    match linktype {
        LinkType::ETHERNET => {
            let ethertype =
                be16(data, 12).ok_or(err("ethernet: frame shorter than its header", 0))?;
            let payload = data.get(ETHERNET_HEADER_LEN..).unwrap_or_default();
            if ethertype < 0x0600 {
                return llc_payload(payload, ETHERNET_HEADER_LEN);
            }
            by_ethertype(ethertype, payload, ETHERNET_HEADER_LEN)
        }
        LinkType::LINUX_SLL => {
            let (repr, payload) = SllRepr::parse(data)?;
            cooked(repr.arphrd, repr.protocol, payload, SLL_HEADER_LEN)
        }
        LinkType::LINUX_SLL2 => {
            let (repr, payload) = Sll2Repr::parse(data)?;
            cooked(repr.arphrd, repr.protocol, payload, SLL2_HEADER_LEN)
        }
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => raw_ip(data, 0),
        LinkType::IPV4 => Ok(Network::Ipv4(data)),
        LinkType::IPV6 => Ok(Network::Ipv6(data)),
        LinkType::NULL => {
            let b: [u8; 4] = data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(err("loopback: truncated header", 0))?;
            // Host byte order of the capturing machine: accept whichever reading is known.
            let le = u32::from_le_bytes(b);
            let af = if loopback_family(le).is_some() {
                le
            } else {
                u32::from_be_bytes(b)
            };
            loopback(af, data.get(4..).unwrap_or_default())
        }
        LinkType::LOOP => {
            let af = be32(data, 0).ok_or(err("loopback: truncated header", 0))?;
            loopback(af, data.get(4..).unwrap_or_default())
        }
        _ => Err(err("unsupported linktype", 0)),
    }
}

/// BSD address families: 2 = AF_INET; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD),
/// 30 (Darwin), and 10 on Linux. Returns true for IPv6.
fn loopback_family(af: u32) -> Option<bool> {
    match af {
        2 => Some(false),
        10 | 24 | 28 | 30 => Some(true),
        _ => None,
    }
}

fn loopback(af: u32, payload: &[u8]) -> Result<Network<'_>, DecodeError> {
    match loopback_family(af) {
        Some(false) => Ok(Network::Ipv4(payload)),
        Some(true) => Ok(Network::Ipv6(payload)),
        None => Err(err("loopback: unknown address family", 0)),
    }
}

/// Raw IP: the version nibble says which.
fn raw_ip(data: &[u8], base: usize) -> Result<Network<'_>, DecodeError> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Ok(Network::Ipv4(data)),
        Some(6) => Ok(Network::Ipv6(data)),
        Some(_) => Err(err("raw ip: version is neither 4 nor 6", base)),
        None => Err(err("raw ip: empty packet", base)),
    }
}

const ARPHRD_NETLINK: u16 = 824;

/// Linux cooked capture payload: the protocol field is an EtherType unless the device is
/// netlink or the value is one of Linux's small pseudo-protocol codes.
fn cooked(
    arphrd: u16,
    protocol: u16,
    payload: &[u8],
    base: usize,
) -> Result<Network<'_>, DecodeError> {
    if arphrd == ARPHRD_NETLINK || protocol < 0x0600 {
        return Ok(Network::Other {
            ethertype: protocol,
        });
    }
    by_ethertype(protocol, payload, base)
}

/// 802.3 frame: only LLC/SNAP can carry an EtherType.
fn llc_payload(payload: &[u8], base: usize) -> Result<Network<'_>, DecodeError> {
    if payload.get(..3) == Some(&[0xAA, 0xAA, 0x03]) {
        if let Some(t) = be16(payload, 6) {
            return by_ethertype(t, payload.get(8..).unwrap_or_default(), base + 8);
        }
    }
    Ok(Network::Other { ethertype: 0 })
}

/// Walk VLAN tags (any number, any TPID mix) to the innermost EtherType.
fn by_ethertype(
    mut ethertype: u16,
    mut payload: &[u8],
    mut base: usize,
) -> Result<Network<'_>, DecodeError> {
    while EtherType::is_vlan_tpid(ethertype) {
        ethertype = be16(payload, 2).ok_or(err("vlan: truncated tag", base))?;
        payload = payload.get(4..).unwrap_or_default();
        base += 4;
    }
    Ok(match ethertype {
        EtherType::IPV4 => Network::Ipv4(payload),
        EtherType::IPV6 => Network::Ipv6(payload),
        t => Network::Other { ethertype: t },
    })
}

pub const ETHERNET_HEADER_LEN: usize = 14;
pub const SLL_HEADER_LEN: usize = 16;
pub const SLL2_HEADER_LEN: usize = 20;

/// One 802.1Q/802.1ad tag: protocol identifier and tag control (PCP, DEI, VLAN id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlanTag {
    pub tpid: u16,
    pub tci: u16,
}

impl VlanTag {
    pub fn vid(&self) -> u16 {
        self.tci & 0x0fff
    }
}

/// An Ethernet II header with its VLAN tags, outermost first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub vlans: Vec<VlanTag>,
    /// The innermost EtherType (after the tags).
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Parse the header and tags; returns the payload after the innermost EtherType.
    pub fn parse(data: &[u8]) -> Result<(EthernetRepr, &[u8]), DecodeError> {
        let hdr = data
            .get(..ETHERNET_HEADER_LEN)
            .ok_or(err("ethernet: frame shorter than its header", 0))?;
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(hdr.get(..6).unwrap_or(&[0; 6]));
        src.copy_from_slice(hdr.get(6..12).unwrap_or(&[0; 6]));
        let mut ethertype = be16(hdr, 12).unwrap_or_default();
        let mut at = ETHERNET_HEADER_LEN;
        let mut vlans = Vec::new();
        while EtherType::is_vlan_tpid(ethertype) {
            let (tci, next) = be16(data, at)
                .zip(be16(data, at + 2))
                .ok_or(err("vlan: truncated tag", at))?;
            vlans.push(VlanTag {
                tpid: ethertype,
                tci,
            });
            ethertype = next;
            at += 4;
        }
        Ok((
            EthernetRepr {
                dst,
                src,
                vlans,
                ethertype,
            },
            data.get(at..).unwrap_or_default(),
        ))
    }

    pub fn header_len(&self) -> usize {
        ETHERNET_HEADER_LEN + 4 * self.vlans.len()
    }

    /// Append header and payload to `out`.
    pub fn emit(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(self.header_len() + payload.len());
        out.extend_from_slice(&self.dst);
        out.extend_from_slice(&self.src);
        for tag in &self.vlans {
            out.extend_from_slice(&tag.tpid.to_be_bytes());
            out.extend_from_slice(&tag.tci.to_be_bytes());
        }
        out.extend_from_slice(&self.ethertype.to_be_bytes());
        out.extend_from_slice(payload);
    }
}

/// Linux cooked capture v1 (LINKTYPE_LINUX_SLL) header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SllRepr {
    /// 0 = to us, 1 = broadcast, 2 = multicast, 3 = to another host, 4 = sent by us.
    pub packet_type: u16,
    /// ARPHRD_* device type (1 = Ethernet, 772 = loopback, …).
    pub arphrd: u16,
    pub addr_len: u16,
    pub addr: [u8; 8],
    /// EtherType (or a Linux pseudo-protocol code below 0x0600).
    pub protocol: u16,
}

impl SllRepr {
    pub fn parse(data: &[u8]) -> Result<(SllRepr, &[u8]), DecodeError> {
        let hdr = data
            .get(..SLL_HEADER_LEN)
            .ok_or(err("sll: frame shorter than its header", 0))?;
        let mut addr = [0u8; 8];
        addr.copy_from_slice(hdr.get(6..14).unwrap_or(&[0; 8]));
        let repr = SllRepr {
            packet_type: be16(hdr, 0).unwrap_or_default(),
            arphrd: be16(hdr, 2).unwrap_or_default(),
            addr_len: be16(hdr, 4).unwrap_or_default(),
            addr,
            protocol: be16(hdr, 14).unwrap_or_default(),
        };
        Ok((repr, data.get(SLL_HEADER_LEN..).unwrap_or_default()))
    }

    pub fn emit(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(SLL_HEADER_LEN + payload.len());
        out.extend_from_slice(&self.packet_type.to_be_bytes());
        out.extend_from_slice(&self.arphrd.to_be_bytes());
        out.extend_from_slice(&self.addr_len.to_be_bytes());
        out.extend_from_slice(&self.addr);
        out.extend_from_slice(&self.protocol.to_be_bytes());
        out.extend_from_slice(payload);
    }
}

/// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2) header: protocol first, interface index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sll2Repr {
    pub protocol: u16,
    pub if_index: u32,
    pub arphrd: u16,
    pub packet_type: u8,
    pub addr_len: u8,
    pub addr: [u8; 8],
}

impl Sll2Repr {
    pub fn parse(data: &[u8]) -> Result<(Sll2Repr, &[u8]), DecodeError> {
        let hdr = data
            .get(..SLL2_HEADER_LEN)
            .ok_or(err("sll2: frame shorter than its header", 0))?;
        let mut addr = [0u8; 8];
        addr.copy_from_slice(hdr.get(12..20).unwrap_or(&[0; 8]));
        let repr = Sll2Repr {
            protocol: be16(hdr, 0).unwrap_or_default(),
            if_index: be32(hdr, 4).unwrap_or_default(),
            arphrd: be16(hdr, 8).unwrap_or_default(),
            packet_type: hdr.get(10).copied().unwrap_or_default(),
            addr_len: hdr.get(11).copied().unwrap_or_default(),
            addr,
        };
        Ok((repr, data.get(SLL2_HEADER_LEN..).unwrap_or_default()))
    }

    pub fn emit(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(SLL2_HEADER_LEN + payload.len());
        out.extend_from_slice(&self.protocol.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.if_index.to_be_bytes());
        out.extend_from_slice(&self.arphrd.to_be_bytes());
        out.push(self.packet_type);
        out.push(self.addr_len);
        out.extend_from_slice(&self.addr);
        out.extend_from_slice(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
    const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

    fn eth(vlans: Vec<VlanTag>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        EthernetRepr {
            dst: MAC_A,
            src: MAC_B,
            vlans,
            ethertype,
        }
        .emit(payload, &mut out);
        out
    }

    #[test]
    fn ethernet_plain_and_qinq() {
        let ip = [0x45u8, 0, 0, 20];
        let f = eth(vec![], EtherType::IPV4, &ip);
        assert_eq!(parse_link(LinkType::ETHERNET, &f), Ok(Network::Ipv4(&ip)));
        let tags = vec![
            VlanTag {
                tpid: EtherType::QINQ,
                tci: 100,
            },
            VlanTag {
                tpid: EtherType::VLAN,
                tci: 200,
            },
        ];
        let f = eth(tags.clone(), EtherType::IPV6, &[0x60]);
        assert_eq!(
            parse_link(LinkType::ETHERNET, &f),
            Ok(Network::Ipv6(&[0x60]))
        );
        let (repr, payload) = EthernetRepr::parse(&f).unwrap();
        assert_eq!(repr.vlans, tags);
        assert_eq!(repr.header_len(), 22);
        assert_eq!(payload, &[0x60]);
        let f = eth(
            vec![VlanTag {
                tpid: 0x9100,
                tci: 1,
            }],
            EtherType::ARP,
            &[1, 2],
        );
        assert_eq!(
            parse_link(LinkType::ETHERNET, &f),
            Ok(Network::Other {
                ethertype: EtherType::ARP
            })
        );
        // A tag cut short is an error with the tag's offset.
        let mut f = eth(vec![], EtherType::VLAN, &[]);
        f.extend_from_slice(&[0, 1]);
        assert_eq!(
            parse_link(LinkType::ETHERNET, &f),
            Err(err("vlan: truncated tag", 14))
        );
        assert!(parse_link(LinkType::ETHERNET, &[0; 13]).is_err());
    }

    #[test]
    fn ethernet_llc_snap() {
        let mut payload = vec![0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00];
        payload.push(0x45);
        let f = eth(vec![], payload.len() as u16, &payload);
        assert_eq!(
            parse_link(LinkType::ETHERNET, &f),
            Ok(Network::Ipv4(&[0x45]))
        );
        let f = eth(vec![], 3, &[0x42, 0x42, 0x03]);
        assert_eq!(
            parse_link(LinkType::ETHERNET, &f),
            Ok(Network::Other { ethertype: 0 })
        );
    }

    #[test]
    fn sll_and_sll2_round_trip() {
        let sll = SllRepr {
            packet_type: 4,
            arphrd: 1,
            addr_len: 6,
            addr: [1, 2, 3, 4, 5, 6, 0, 0],
            protocol: EtherType::IPV4,
        };
        let mut f = Vec::new();
        sll.emit(&[0x45, 0], &mut f);
        assert_eq!(SllRepr::parse(&f).unwrap(), (sll, &[0x45u8, 0][..]));
        assert_eq!(
            parse_link(LinkType::LINUX_SLL, &f),
            Ok(Network::Ipv4(&[0x45, 0]))
        );
        let nl = SllRepr {
            arphrd: ARPHRD_NETLINK,
            protocol: 0,
            ..sll
        };
        f.clear();
        nl.emit(&[1], &mut f);
        assert_eq!(
            parse_link(LinkType::LINUX_SLL, &f),
            Ok(Network::Other { ethertype: 0 })
        );

        let sll2 = Sll2Repr {
            protocol: EtherType::IPV6,
            if_index: 3,
            arphrd: 1,
            packet_type: 0,
            addr_len: 6,
            addr: [9; 8],
        };
        let mut f = Vec::new();
        sll2.emit(&[0x60], &mut f);
        assert_eq!(Sll2Repr::parse(&f).unwrap(), (sll2, &[0x60u8][..]));
        assert_eq!(
            parse_link(LinkType::LINUX_SLL2, &f),
            Ok(Network::Ipv6(&[0x60]))
        );
        assert!(parse_link(LinkType::LINUX_SLL2, &f[..19]).is_err());
    }

    #[test]
    fn raw_and_loopback() {
        assert_eq!(
            parse_link(LinkType::RAW, &[0x45, 1]),
            Ok(Network::Ipv4(&[0x45, 1]))
        );
        assert_eq!(
            parse_link(LinkType::RAW_12, &[0x60]),
            Ok(Network::Ipv6(&[0x60]))
        );
        assert_eq!(
            parse_link(LinkType::RAW_14, &[0x60]),
            Ok(Network::Ipv6(&[0x60]))
        );
        assert!(parse_link(LinkType::RAW, &[0x50]).is_err());
        assert!(parse_link(LinkType::RAW, &[]).is_err());
        assert_eq!(parse_link(LinkType::IPV4, &[1]), Ok(Network::Ipv4(&[1])));
        assert_eq!(parse_link(LinkType::IPV6, &[1]), Ok(Network::Ipv6(&[1])));
        // NULL: host byte order, either one.
        assert_eq!(
            parse_link(LinkType::NULL, &[2, 0, 0, 0, 0x45]),
            Ok(Network::Ipv4(&[0x45]))
        );
        assert_eq!(
            parse_link(LinkType::NULL, &[0, 0, 0, 2, 0x45]),
            Ok(Network::Ipv4(&[0x45]))
        );
        for af in [24u32, 28, 30] {
            let mut f = af.to_le_bytes().to_vec();
            f.push(0x60);
            assert_eq!(parse_link(LinkType::NULL, &f), Ok(Network::Ipv6(&[0x60])));
            let mut f = af.to_be_bytes().to_vec();
            f.push(0x60);
            assert_eq!(parse_link(LinkType::NULL, &f), Ok(Network::Ipv6(&[0x60])));
            assert_eq!(parse_link(LinkType::LOOP, &f), Ok(Network::Ipv6(&[0x60])));
        }
        assert!(parse_link(LinkType::NULL, &[7, 0, 0, 0]).is_err());
        assert!(parse_link(LinkType::NULL, &[2, 0]).is_err());
    }

    #[test]
    fn exported_pdu_is_unsupported() {
        let e = parse_link(LinkType::WIRESHARK_UPPER_PDU, &[0; 32]).unwrap_err();
        assert_eq!((e.layer, e.reason), (Layer::Link, "unsupported linktype"));
    }

    fn arb_tag() -> impl Strategy<Value = VlanTag> {
        (
            prop::sample::select(vec![EtherType::VLAN, EtherType::QINQ, EtherType::QINQ_9100]),
            any::<u16>(),
        )
            .prop_map(|(tpid, tci)| VlanTag { tpid, tci })
    }

    proptest! {
        #[test]
        fn ethernet_vlan_round_trip(
            dst in any::<[u8; 6]>(), src in any::<[u8; 6]>(),
            vlans in prop::collection::vec(arb_tag(), 0..4),
            ethertype in 0x0600u16..,
            payload in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            prop_assume!(!EtherType::is_vlan_tpid(ethertype));
            let repr = EthernetRepr { dst, src, vlans, ethertype };
            let mut f = Vec::new();
            repr.emit(&payload, &mut f);
            prop_assert_eq!(f.len(), repr.header_len() + payload.len());
            let (back, p) = EthernetRepr::parse(&f).unwrap();
            prop_assert_eq!(&back, &repr);
            prop_assert_eq!(p, &payload[..]);
            let net = parse_link(LinkType::ETHERNET, &f).unwrap();
            match ethertype {
                EtherType::IPV4 => prop_assert_eq!(net, Network::Ipv4(&payload)),
                EtherType::IPV6 => prop_assert_eq!(net, Network::Ipv6(&payload)),
                t => prop_assert_eq!(net, Network::Other { ethertype: t }),
            }
        }

        #[test]
        fn parse_link_never_panics(linktype in prop::sample::select(vec![0u32, 1, 12, 14, 101, 108, 113, 228, 229, 252, 276, 9999]),
                                   data in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_link(linktype, &data);
            let _ = EthernetRepr::parse(&data);
            let _ = SllRepr::parse(&data);
            let _ = Sll2Repr::parse(&data);
        }
    }
}
