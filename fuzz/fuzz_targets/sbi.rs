//! SBI messages: the first byte picks method/status and the resource, the rest is the
//! path tail or the JSON body; requests and responses alternate over a few exchanges
//! through one correlator (paths, SUPI/SUCI, every body schema, relayed copies).
#![no_main]

use landfall_parsers::flow::{FlowKey, PacketMeta};
use landfall_parsers::http::{Exchange, Head, HttpMessage, Method, Version};
use landfall_parsers::sbi::correlate::SbiCorrelator;
use landfall_parsers::sbi::{imsi_of, serving_network, target};
use std::net::{IpAddr, Ipv4Addr};

const PATHS: [&str; 6] = [
    "/nudm-uecm/v1/imsi-999700000021309/registrations/amf-3gpp-access",
    "/nudm-uecm/v1/imsi-001010000021309/registrations/amf-non-3gpp-access/dereg-amf",
    "/nudm-sdm/v2/imsi-999700000021309/am-data",
    "/nausf-auth/v1/ue-authentications",
    "/nudm-uecm/v1/suci-0-999-70-0-0-0-0000021309/registrations/amf-3gpp-access",
    "/nnrf-disc/v1/nf-instances",
];
const METHODS: [Method; 5] = [
    Method::Put,
    Method::Patch,
    Method::Delete,
    Method::Post,
    Method::Get,
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = target(s);
        let _ = imsi_of(s);
        let _ = serving_network(s, &Default::default());
    }
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut c = SbiCorrelator::new(Default::default());
    for (i, part) in data.split(|&b| b == 0xff).enumerate() {
        let Some((&sel, body)) = part.split_first() else {
            continue;
        };
        let exchange = Exchange {
            conn: FlowKey::new(ip, 40000 + u16::from(sel & 3), ip, 7777),
            version: Version::H2,
            id: u64::from(sel >> 6),
        };
        let head = if i % 2 == 0 {
            Head {
                method: Some(METHODS[usize::from(sel >> 2) % METHODS.len()]),
                path: Some(PATHS[usize::from(sel) % PATHS.len()].to_owned()),
                content_type: Some("application/json".to_owned()),
                ..Head::default()
            }
        } else {
            Head {
                status: Some([200, 201, 204, 403, 404, 500][usize::from(sel) % 6]),
                ..Head::default()
            }
        };
        let meta = PacketMeta {
            file: 0,
            frame: i as u64,
            ts_us: i as i64 * 1000,
        };
        let _ = c.push(&HttpMessage {
            start: meta,
            meta,
            flow: exchange.conn,
            exchange: Some(exchange),
            head: &head,
            body,
        });
    }
    c.flush();
});
