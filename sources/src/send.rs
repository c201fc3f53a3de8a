//! The project's own sender, for tests (cargo feature `live`): plays a capture's frames
//! onto an interface through libpcap (`pcap_inject`), in order, timing compressed to a
//! steady pace. Frames of other link types than Ethernet (Linux cooked, raw IP, …) are
//! sent as Ethernet frames carrying the same IP packet; non-IP frames of those types are
//! skipped.

use std::borrow::Cow;
use std::time::Duration;

use landfall_parsers::capture::FrameRef;
use landfall_parsers::transport::link::{parse_link, EtherType, EthernetRepr, LinkType, Network};
use pcap::{Active, Capture};

use crate::config::InterfaceSpec;
use crate::error::SourceError;

/// How fast to send: `burst` frames back to back, then a pause of `gap`. Sending much
/// faster than the receiving side drains (a veth peer's backlog is 1000 packets) loses
/// frames before any capture sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    pub burst: usize,
    pub gap: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            burst: 32,
            gap: Duration::from_millis(1),
        }
    }
}

/// What a play sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: u64,
    /// Frames with no Ethernet form (not IP, under another link type).
    pub skipped: u64,
}

/// A frame as an Ethernet frame: itself when it is one, else its IP packet in a new
/// Ethernet header; `None` for a non-IP frame of another link type.
pub fn ethernet_frame<'a>(linktype: u32, data: &'a [u8]) -> Option<Cow<'a, [u8]>> {
    if linktype == LinkType::ETHERNET {
        return Some(Cow::Borrowed(data));
    }
    let (ethertype, ip) = match parse_link(linktype, data).ok()? {
        Network::Ipv4(ip) => (EtherType::IPV4, ip),
        Network::Ipv6(ip) => (EtherType::IPV6, ip),
        Network::Other { .. } => return None,
    };
    let eth = EthernetRepr {
        dst: [0x02, 0, 0, 0, 0, 2],
        src: [0x02, 0, 0, 0, 0, 1],
        vlans: vec![],
        ethertype,
    };
    let mut out = Vec::with_capacity(14 + ip.len());
    eth.emit(ip, &mut out);
    Some(Cow::Owned(out))
}

/// An interface opened for sending.
pub struct Sender {
    cap: Capture<Active>,
    name: String,
}

impl Sender {
    /// Open `interface` for sending (an unknown one is an error naming it).
    pub fn open(interface: &str) -> Result<Sender, SourceError> {
        let mut spec = InterfaceSpec::new(interface);
        // Nothing is read through this handle.
        spec.filter = Some("less 1".to_string());
        spec.buffer_bytes = 1 << 20;
        Ok(Sender {
            cap: crate::source::live::open_capture(&spec)?,
            name: interface.to_string(),
        })
    }

    /// Send one frame (converted to Ethernet when needed); `false` when skipped.
    pub fn send(&mut self, f: &FrameRef<'_>) -> Result<bool, SourceError> {
        let Some(bytes) = ethernet_frame(f.linktype, f.data) else {
            return Ok(false);
        };
        self.cap
            .sendpacket(bytes.as_ref())
            .map_err(|e| SourceError::Interface {
                name: self.name.clone(),
                message: format!("sending frame {}: {e}", f.meta.frame),
            })?;
        Ok(true)
    }

    /// Send `frames` in order at `pace`.
    pub fn play<'a>(
        &mut self,
        frames: impl IntoIterator<Item = FrameRef<'a>>,
        pace: Pace,
    ) -> Result<SendReport, SourceError> {
        let mut r = SendReport::default();
        let mut in_burst = 0;
        for f in frames {
            if self.send(&f)? {
                r.sent += 1;
                in_burst += 1;
                if in_burst >= pace.burst.max(1) {
                    std::thread::sleep(pace.gap);
                    in_burst = 0;
                }
            } else {
                r.skipped += 1;
            }
        }
        Ok(r)
    }
}
