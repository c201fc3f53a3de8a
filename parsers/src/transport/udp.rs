//! UDP: ports and payload (cut at the header's length), and emission with the checksum over
//! the IPv4/IPv6 pseudo-header. Checksums are not verified on parse, because captures
//! taken on a sending host carry offloaded (unfilled) checksums; [`UdpRepr::checksum_ok`]
//! checks one on request.

use std::net::IpAddr;

use crate::error::{DecodeError, Layer};
use crate::transport::ip::{internet_checksum, IpProtocol};
use crate::wire::be16;

pub const UDP_HEADER_LEN: usize = 8;

const fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Udp, reason, offset)
}

/// A UDP header's ports (length and checksum are derived on emit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

/// The pseudo-header: IPv4 (12 bytes) when both addresses are IPv4, else IPv6 (40 bytes,
/// IPv4 addresses mapped).
fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize, protocol: u8) -> Vec<u8> {
    let mut ph = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ph.extend_from_slice(&s.octets());
            ph.extend_from_slice(&d.octets());
            ph.push(0);
            ph.push(protocol);
            ph.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            ph.extend_from_slice(&v6(src).octets());
            ph.extend_from_slice(&v6(dst).octets());
            ph.extend_from_slice(&(len as u32).to_be_bytes());
            ph.extend_from_slice(&[0, 0, 0, protocol]);
        }
    }
    ph
}

impl UdpRepr {
    /// Parse a datagram; the payload is cut at the length field (trailing bytes are ignored).
    /// A zero length (IPv6 jumbogram) means "to the end of the IP payload".
    pub fn parse(data: &[u8]) -> Result<(UdpRepr, &[u8]), DecodeError> {
        let hdr = data
            .get(..UDP_HEADER_LEN)
            .ok_or(err("udp: shorter than a header", 0))?;
        let len = usize::from(be16(hdr, 4).unwrap_or_default());
        let len = if len == 0 { data.len() } else { len };
        if len < UDP_HEADER_LEN {
            return Err(err("udp: length field below 8", 4));
        }
        let payload = data
            .get(UDP_HEADER_LEN..len)
            .ok_or(err("udp: length field beyond the datagram", 4))?;
        let repr = UdpRepr {
            src_port: be16(hdr, 0).unwrap_or_default(),
            dst_port: be16(hdr, 2).unwrap_or_default(),
        };
        Ok((repr, payload))
    }

    /// Is the checksum of `datagram` (header and payload as the length field says) right?
    /// A zero checksum over IPv4 means "not computed" and passes.
    pub fn checksum_ok(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> bool {
        let Some(stored) = be16(datagram, 6) else {
            return false;
        };
        if stored == 0 {
            return src.is_ipv4() && dst.is_ipv4();
        }
        let len = usize::from(be16(datagram, 4).unwrap_or_default());
        let Some(d) = datagram.get(..len) else {
            return false;
        };
        let ph = pseudo_header(src, dst, len, IpProtocol::UDP);
        // Even-length pseudo-header first, so the odd tail of the datagram is padded right.
        internet_checksum(&[&ph, d]) == 0
    }

    /// Append header (length and checksum filled in) and payload to `out`.
    pub fn emit(&self, src: IpAddr, dst: IpAddr, payload: &[u8], out: &mut Vec<u8>) {
        let len = UDP_HEADER_LEN + payload.len();
        let start = out.len();
        out.reserve(len);
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&(len.min(usize::from(u16::MAX)) as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(payload);
        let ph = pseudo_header(src, dst, len, IpProtocol::UDP);
        let sum = match internet_checksum(&[&ph, out.get(start..).unwrap_or_default()]) {
            // 0 would mean "no checksum"; its one's-complement twin is sent instead.
            0 => 0xffff,
            s => s,
        };
        if let Some(c) = out.get_mut(start + 6..start + 8) {
            c.copy_from_slice(&sum.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::PacketMeta;
    use crate::transport::ip::{IpLayer, Ipv4Repr, Ipv6Repr};
    use crate::transport::link::{parse_link, EtherType, EthernetRepr, LinkType, VlanTag};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn known_checksum() {
        // A DNS query-like datagram; checksum verified independently with the RFC 1071 sum.
        let src: IpAddr = Ipv4Addr::new(192, 168, 0, 1).into();
        let dst: IpAddr = Ipv4Addr::new(192, 168, 0, 199).into();
        let mut d = Vec::new();
        UdpRepr {
            src_port: 1024,
            dst_port: 53,
        }
        .emit(src, dst, b"odd", &mut d);
        assert_eq!(d.len(), 11);
        assert!(UdpRepr::checksum_ok(src, dst, &d));
        d[8] ^= 1;
        assert!(!UdpRepr::checksum_ok(src, dst, &d));
        d[6] = 0;
        d[7] = 0;
        assert!(UdpRepr::checksum_ok(src, dst, &d));
    }

    #[test]
    fn lengths() {
        let mut d = Vec::new();
        let a: IpAddr = Ipv6Addr::LOCALHOST.into();
        UdpRepr {
            src_port: 1,
            dst_port: 2,
        }
        .emit(a, a, b"payload", &mut d);
        d.extend_from_slice(b"trailer");
        assert_eq!(
            UdpRepr::parse(&d).unwrap(),
            (
                UdpRepr {
                    src_port: 1,
                    dst_port: 2
                },
                &b"payload"[..]
            )
        );
        let mut bad = d.clone();
        bad[5] = 4;
        assert_eq!(
            UdpRepr::parse(&bad).unwrap_err(),
            err("udp: length field below 8", 4)
        );
        bad[5] = 200;
        assert_eq!(
            UdpRepr::parse(&bad).unwrap_err().reason,
            "udp: length field beyond the datagram"
        );
        assert!(UdpRepr::parse(&d[..7]).is_err());
    }

    proptest! {
        #[test]
        fn ipv4_udp_over_ethernet_round_trip(
            src in any::<u32>(), dst in any::<u32>(), sport in any::<u16>(), dport in any::<u16>(),
            ttl in any::<u8>(), vlan in prop::option::of(any::<u16>()),
            payload in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let (s4, d4) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let udp = UdpRepr { src_port: sport, dst_port: dport };
            let mut seg = Vec::new();
            udp.emit(s4.into(), d4.into(), &payload, &mut seg);
            let ip = Ipv4Repr { src: s4, dst: d4, protocol: IpProtocol::UDP, ttl, tos: 0, ident: 1, dont_frag: true, more_frags: false, frag_offset: 0 };
            let mut pkt = Vec::new();
            ip.emit(&seg, &mut pkt);
            let vlans = vlan.map(|tci| VlanTag { tpid: EtherType::VLAN, tci }).into_iter().collect();
            let mut frame = Vec::new();
            EthernetRepr { dst: [1; 6], src: [2; 6], vlans, ethertype: EtherType::IPV4 }.emit(&pkt, &mut frame);
            frame.resize(frame.len().max(60), 0);

            let net = parse_link(LinkType::ETHERNET, &frame).unwrap();
            let d = IpLayer::new().push(&PacketMeta::default(), net).unwrap().unwrap();
            prop_assert_eq!((d.src, d.dst, d.protocol, d.ttl), (IpAddr::V4(s4), IpAddr::V4(d4), IpProtocol::UDP, ttl));
            prop_assert!(UdpRepr::checksum_ok(d.src, d.dst, &d.payload));
            let (back, p) = UdpRepr::parse(&d.payload).unwrap();
            prop_assert_eq!(back, udp);
            prop_assert_eq!(p, &payload[..]);
        }

        #[test]
        fn ipv6_udp_round_trip(src in any::<u128>(), dst in any::<u128>(), sport in any::<u16>(),
                               payload in prop::collection::vec(any::<u8>(), 0..300)) {
            let (s6, d6) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let udp = UdpRepr { src_port: sport, dst_port: 3868 };
            let mut seg = Vec::new();
            udp.emit(s6.into(), d6.into(), &payload, &mut seg);
            let mut pkt = Vec::new();
            Ipv6Repr { src: s6, dst: d6, next_header: IpProtocol::UDP, hop_limit: 9, traffic_class: 0, flow_label: 0 }.emit(&seg, &mut pkt);
            let d = IpLayer::new().push(&PacketMeta::default(), crate::transport::link::Network::Ipv6(&pkt)).unwrap().unwrap();
            prop_assert!(UdpRepr::checksum_ok(d.src, d.dst, &d.payload));
            prop_assert_eq!(UdpRepr::parse(&d.payload).unwrap(), (udp, &payload[..]));
        }

        #[test]
        fn udp_parse_never_panics(data in prop::collection::vec(any::<u8>(), 0..64), a in any::<u32>()) {
            let _ = UdpRepr::parse(&data);
            let ip: IpAddr = Ipv4Addr::from(a).into();
            let _ = UdpRepr::checksum_ok(ip, ip, &data);
        }
    }
}
