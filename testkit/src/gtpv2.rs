//! Builders of the S11/S5 session messages the correlator reads (TS 29.274 §7.2), for
//! fixtures and tests: Create Session, Modify Bearer, Delete Session and their responses.

use std::net::Ipv4Addr;

use landfall_parsers::gtp::v2::{ie, Gtpv2Repr, IeRepr, Uli};
use landfall_parsers::{Imsi, Msisdn, Plmn};

pub const CREATE_SESSION_REQUEST: u8 = 32;
pub const CREATE_SESSION_RESPONSE: u8 = 33;
pub const MODIFY_BEARER_REQUEST: u8 = 34;
pub const MODIFY_BEARER_RESPONSE: u8 = 35;
pub const DELETE_SESSION_REQUEST: u8 = 36;
pub const DELETE_SESSION_RESPONSE: u8 = 37;
/// Cause "Request accepted".
pub const CAUSE_ACCEPTED: u8 = 16;
/// RAT Type EUTRAN.
pub const RAT_EUTRAN: u8 = 6;
/// F-TEID interface types: S11 MME GTP-C, S11/S4 SGW GTP-C.
pub const IF_S11_MME: u8 = 10;
pub const IF_S11_SGW: u8 = 11;

fn ie(kind: u8, instance: u8, value: Vec<u8>) -> IeRepr {
    IeRepr {
        kind,
        instance,
        value,
    }
}

/// A control-plane F-TEID (IPv4).
pub fn fteid(interface: u8, teid: u32, addr: Ipv4Addr) -> IeRepr {
    let mut v = vec![0x80 | (interface & 0x3f)];
    v.extend_from_slice(&teid.to_be_bytes());
    v.extend_from_slice(&addr.octets());
    ie(ie::F_TEID, 0, v)
}

pub fn cause(c: u8) -> IeRepr {
    ie(ie::CAUSE, 0, vec![c, 0])
}

pub fn uli(u: &Uli) -> IeRepr {
    ie(ie::ULI, 0, u.emit())
}

/// What a Create Session Request says about the subscriber and the MME.
pub struct SessionRequest<'a> {
    pub imsi: &'a Imsi,
    pub msisdn: Option<&'a Msisdn>,
    pub serving: Plmn,
    pub rat: u8,
    pub uli: Uli,
    pub mme_teid: u32,
    pub mme_addr: Ipv4Addr,
}

pub fn create_session_request(seq: u32, r: &SessionRequest<'_>) -> Gtpv2Repr {
    let mut ies = vec![ie(ie::IMSI, 0, r.imsi.to_tbcd())];
    if let Some(m) = r.msisdn {
        ies.push(ie(ie::MSISDN, 0, m.to_tbcd()));
    }
    ies.push(uli(&r.uli));
    ies.push(ie(ie::SERVING_NETWORK, 0, r.serving.to_bcd().to_vec()));
    ies.push(ie(ie::RAT_TYPE, 0, vec![r.rat]));
    ies.push(fteid(IF_S11_MME, r.mme_teid, r.mme_addr));
    Gtpv2Repr {
        msg_type: CREATE_SESSION_REQUEST,
        teid: Some(0),
        seq,
        ies,
    }
}

/// The response to a request, to `peer_teid`, with `cause` and further IEs.
pub fn response(
    request: &Gtpv2Repr,
    peer_teid: u32,
    cause_value: u8,
    more: Vec<IeRepr>,
) -> Gtpv2Repr {
    let mut ies = vec![cause(cause_value)];
    ies.extend(more);
    Gtpv2Repr {
        msg_type: request.msg_type + 1,
        teid: Some(peer_teid),
        seq: request.seq,
        ies,
    }
}

/// A Modify Bearer Request to the SGW's TEID reporting the new location.
pub fn modify_bearer_request(sgw_teid: u32, seq: u32, location: &Uli) -> Gtpv2Repr {
    Gtpv2Repr {
        msg_type: MODIFY_BEARER_REQUEST,
        teid: Some(sgw_teid),
        seq,
        ies: vec![uli(location)],
    }
}

/// A Delete Session Request to the SGW's TEID.
pub fn delete_session_request(sgw_teid: u32, seq: u32) -> Gtpv2Repr {
    Gtpv2Repr {
        msg_type: DELETE_SESSION_REQUEST,
        teid: Some(sgw_teid),
        seq,
        ies: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use landfall_parsers::gtp::v2::{Gtpv2Fields, Gtpv2Message};

    #[test]
    fn create_session_request_reads_back() {
        let imsi = Imsi::parse("208017000000004").unwrap();
        let u = Uli {
            tai: Some((Plmn::new(208, 1, 2), 0x0101)),
            ecgi: Some((Plmn::new(208, 1, 2), 0x12_3450)),
            ..Uli::default()
        };
        let r = create_session_request(
            7,
            &SessionRequest {
                imsi: &imsi,
                msisdn: None,
                serving: Plmn::new(208, 1, 2),
                rat: RAT_EUTRAN,
                uli: u,
                mme_teid: 0x1000,
                mme_addr: Ipv4Addr::new(10, 0, 0, 1),
            },
        );
        let wire = r.emit(false);
        let m = Gtpv2Message::parse(&wire).unwrap();
        let (f, e) = Gtpv2Fields::extract(&m);
        assert_eq!(e, None);
        assert_eq!(f.imsi, Some(imsi));
        assert_eq!(f.location.uli, Some(u));
        assert_eq!(f.location.serving, Some(Plmn::new(208, 1, 2)));
        assert_eq!(Uli::parse(&u.emit()), u);
    }
}
