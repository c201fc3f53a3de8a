//! GTP control plane: [`v1`] (GTPv1-C, Gn/Gp) and [`v2`] (GTPv2-C, S5/S8/S11), and what
//! their correlators share: the IE walk ([`ie`]), the pending-request table and the
//! correlator itself ([`transactions`]: stats, subscriber, request/response pairing,
//! session table), each version supplying what its messages mean.

/// The registered GTP-C port, both versions (UDP, and TCP when tshark's GTP-over-TCP is on).
pub const PORT: u16 = 2123;

pub(crate) mod ie;
pub(crate) mod pending;
pub mod transactions;
pub mod v1;
pub mod v2;
