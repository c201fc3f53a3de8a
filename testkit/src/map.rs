//! MAP arguments and results (the v3 syntax) as BER, for fixtures and tests: what the
//! scenarios' VLR and HLR send, and what the MAP decoder's tests read back.

use landfall_parsers::ss7::ber;
use landfall_parsers::ss7::map::Isdn;
use landfall_parsers::types::{Imsi, Msisdn};

/// An ISDN-AddressString: international, E.164.
pub fn address_string(d: &Isdn) -> Vec<u8> {
    let mut v = vec![0x91];
    v.extend_from_slice(&d.to_tbcd());
    v
}

/// updateLocation argument: SEQUENCE { imsi, msc-Number [1], vlr-Number }.
pub fn update_location(imsi: &Imsi, msc: &Isdn, vlr: &Isdn) -> Vec<u8> {
    ber::sequence(
        &[
            ber::octet_string(&imsi.to_tbcd()),
            ber::context(1, &address_string(msc)),
            ber::octet_string(&address_string(vlr)),
        ]
        .concat(),
    )
}

/// updateGprsLocation argument: SEQUENCE { imsi, sgsn-Number, sgsn-Address }.
pub fn update_gprs_location(imsi: &Imsi, sgsn: &Isdn, sgsn_ip: [u8; 4]) -> Vec<u8> {
    let mut addr = vec![0x04];
    addr.extend_from_slice(&sgsn_ip);
    ber::sequence(
        &[
            ber::octet_string(&imsi.to_tbcd()),
            ber::octet_string(&address_string(sgsn)),
            ber::octet_string(&addr),
        ]
        .concat(),
    )
}

/// insertSubscriberData argument: SEQUENCE { imsi [0], msisdn [1] }.
pub fn insert_subscriber_data(imsi: Option<&Imsi>, msisdn: &Msisdn) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(i) = imsi {
        body.extend_from_slice(&ber::context(0, &i.to_tbcd()));
    }
    body.extend_from_slice(&ber::context(1, &address_string(msisdn)));
    ber::sequence(&body)
}

/// sendAuthenticationInfo argument (v3): SEQUENCE { imsi [0], numberOfRequestedVectors }.
pub fn send_authentication_info(imsi: &Imsi) -> Vec<u8> {
    ber::sequence(&[ber::context(0, &imsi.to_tbcd()), ber::integer(1)].concat())
}

/// purgeMS argument (v3): [3] SEQUENCE { imsi, vlr-Number [0] }.
pub fn purge_ms(imsi: &Imsi, vlr: &Isdn) -> Vec<u8> {
    ber::context_cons(
        3,
        &[
            ber::octet_string(&imsi.to_tbcd()),
            ber::context(0, &address_string(vlr)),
        ]
        .concat(),
    )
}

/// updateLocation / updateGprsLocation result: SEQUENCE { hlr-Number }.
pub fn location_result(hlr: &Isdn) -> Vec<u8> {
    ber::sequence(&ber::octet_string(&address_string(hlr)))
}

/// roamingNotAllowed parameter: SEQUENCE { roamingNotAllowedCause ENUMERATED }.
pub fn roaming_not_allowed(cause: u8) -> Vec<u8> {
    ber::sequence(&ber::write(ber::Class::Universal, false, 10, &[cause]))
}
