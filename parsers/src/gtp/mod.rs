//! GTP control plane: [`v1`] (GTPv1-C, Gn/Gp) and [`v2`] (GTPv2-C, S5/S8/S11), and what
//! their correlators share: the pending-request table.

mod ie;
pub(crate) mod pending;
pub mod transactions;
pub mod v1;
pub mod v2;
