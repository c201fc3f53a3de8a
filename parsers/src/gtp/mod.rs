//! GTP control plane: [`v1`] (GTPv1-C, Gn/Gp) and [`v2`] (GTPv2-C, S5/S8/S11), and what
//! they share: the header's first octets and the wire format trait ([`GtpWire`]), the IE
//! walk ([`ie`]), the subscriber fields and their record ([`fields`]), the pending-request
//! table and the correlator itself ([`transactions`]: stats, subscriber, request/response
//! pairing, session table), each version supplying what its messages mean.

/// The registered GTP-C port, both versions (UDP, and TCP when tshark's GTP-over-TCP is on).
pub const PORT: u16 = 2123;

/// The name of a path management message both versions number alike (TS 29.060 Table 1,
/// TS 29.274 Table 6.1-1); `None` for another type.
fn path_message_name(t: u32) -> Option<&'static str> {
    Some(match t {
        1 => "Echo Request",
        2 => "Echo Response",
        3 => "Version Not Supported",
        _ => return None,
    })
}

pub mod fields;
mod header;
pub mod ie;
pub(crate) mod pending;
pub mod transactions;
pub mod v1;
pub mod v2;

pub use header::{GtpWire, Version};

/// GTPv1-C, as the code both versions share knows it: its wire format ([`GtpWire`], in
/// [`v1`]) and its correlator's rules ([`transactions::GtpVersion`], in [`v1::correlate`]).
#[derive(Clone, Copy, Debug)]
pub enum V1 {}

/// GTPv2-C, as the code both versions share knows it: its wire format ([`GtpWire`], in
/// [`v2`]) and its correlator's rules ([`transactions::GtpVersion`], in [`v2::correlate`]).
#[derive(Clone, Copy, Debug)]
pub enum V2 {}
