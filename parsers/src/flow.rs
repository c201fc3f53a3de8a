//! Addressing shared by the transport layers and the correlators: which packet, which
//! direction of which connection.

use std::net::IpAddr;

/// Where a unit of input sits in the run: file index, 1-based frame number, capture time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PacketMeta {
    pub file: u16,
    pub frame: u64,
    /// Capture time in µs since the epoch (truncated, as tshark's `frame.time_epoch`).
    pub ts_us: i64,
}

/// One end of a transport connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
}

/// One direction of a UDP/TCP/SCTP conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    pub src: Endpoint,
    pub dst: Endpoint,
}

impl FlowKey {
    pub fn new(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> FlowKey {
        FlowKey {
            src: Endpoint {
                addr: src,
                port: src_port,
            },
            dst: Endpoint {
                addr: dst,
                port: dst_port,
            },
        }
    }

    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
        }
    }

    /// The same key for both directions (lower endpoint first): a connection id.
    pub fn connection(&self) -> FlowKey {
        if self.src <= self.dst {
            *self
        } else {
            self.reversed()
        }
    }
}

/// The transport an application message arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    /// SCTP user message: stream id and payload protocol identifier.
    Sctp {
        stream: u16,
        ppid: u32,
    },
}
