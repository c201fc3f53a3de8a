//! 5G SBI fixture builders: the AMF's Nudm UECM registration with the home UDM
//! (TS 29.503: `Amf3GppAccessRegistration` PUT, its purge PATCH) as the parsers' typed
//! bodies, and one HTTP/2 cleartext connection (RFC 9113) carrying such exchanges as the
//! parsers' `FrameRepr`s: the client preface with SETTINGS, the server's SETTINGS, both
//! acknowledged, then per exchange a HEADERS block (HPACK, one encoder per direction, so a
//! later block may name an earlier one's fields by their index) and a DATA frame.

use landfall_parsers::http::frame::{FrameRepr, PREFACE};
use landfall_parsers::http::hpack::HeaderEncoder;
use landfall_parsers::sbi::model::{
    AmfRegistration, AmfRegistrationModification, Guami, PlmnId, RatType,
};
use landfall_parsers::{Imsi, Plmn};

/// SETTINGS parameters (RFC 9113 §6.5.2).
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;

/// `/nudm-uecm/v1/imsi-…/registrations/amf-3gpp-access`: the UE's 3GPP-access AMF
/// registration at its UDM.
pub fn amf_3gpp_registration_path(imsi: &Imsi) -> String {
    format!("/nudm-uecm/v1/imsi-{imsi}/registrations/amf-3gpp-access")
}

/// The AMF `amf_id` of `serving` registering as the UE's serving AMF over NR
/// (`initialRegistrationInd` on a first registration).
pub fn amf_registration(serving: Plmn, amf_id: &str, initial: bool) -> AmfRegistration {
    AmfRegistration {
        amf_instance_id: format!("5a0f{:04}-0000-4000-8000-{amf_id:0>12}", serving.mcc),
        dereg_callback_uri: format!(
            "http://amf.5gc.mnc{:03}.mcc{:03}.3gppnetwork.org/namf-callback/v1/dereg",
            serving.mnc, serving.mcc
        ),
        guami: guami(serving, amf_id),
        rat_type: RatType::Nr,
        initial_registration_ind: Some(initial),
        purge_flag: None,
        pei: None,
        supi: None,
    }
}

/// The AMF telling the UDM it purged the UE (`purgeFlag`).
pub fn amf_purge(serving: Plmn, amf_id: &str) -> AmfRegistrationModification {
    AmfRegistrationModification {
        guami: guami(serving, amf_id),
        purge_flag: Some(true),
        pei: None,
    }
}

fn guami(serving: Plmn, amf_id: &str) -> Guami {
    Guami {
        plmn_id: PlmnId::of(serving),
        amf_id: amf_id.to_owned(),
    }
}

/// A body as its JSON bytes (the structs' field order).
pub fn json<T: serde::Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).expect("an SBI body serialises")
}

/// One SBI request.
pub struct Request<'a> {
    pub method: &'a str,
    /// The authority the client addresses (`udm.5gc.mnc…` through a SEPP).
    pub authority: &'a str,
    pub path: &'a str,
    /// JSON body, if any.
    pub body: Option<&'a [u8]>,
}

/// One HTTP/2 connection: each side's HPACK encoder and the client's next stream.
pub struct H2Connection {
    client: HeaderEncoder,
    server: HeaderEncoder,
    next_stream: u32,
}

impl Default for H2Connection {
    fn default() -> Self {
        H2Connection {
            client: HeaderEncoder::default(),
            server: HeaderEncoder::default(),
            next_stream: 1,
        }
    }
}

fn frames(reprs: &[FrameRepr]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in reprs {
        r.emit(&mut out);
    }
    out
}

impl H2Connection {
    /// The client's first bytes: the preface and its SETTINGS.
    pub fn client_preface(&self) -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        out.extend(frames(&[FrameRepr::Settings {
            ack: false,
            params: vec![
                (SETTINGS_MAX_CONCURRENT_STREAMS, 100),
                (SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20),
            ],
        }]));
        out
    }

    /// The server's first bytes: its SETTINGS and the acknowledgement of the client's.
    pub fn server_preface(&self) -> Vec<u8> {
        frames(&[
            FrameRepr::Settings {
                ack: false,
                params: vec![(SETTINGS_MAX_CONCURRENT_STREAMS, 128)],
            },
            FrameRepr::Settings {
                ack: true,
                params: vec![],
            },
        ])
    }

    /// The client acknowledging the server's SETTINGS.
    pub fn client_settings_ack(&self) -> Vec<u8> {
        frames(&[FrameRepr::Settings {
            ack: true,
            params: vec![],
        }])
    }

    /// `req` on the next client stream: its id and bytes (HEADERS, then DATA ending the
    /// stream when there is a body).
    pub fn request(&mut self, req: &Request<'_>) -> (u32, Vec<u8>) {
        let stream = self.next_stream;
        self.next_stream += 2;
        let mut fields = vec![
            (":method", req.method),
            (":scheme", "http"),
            (":authority", req.authority),
            (":path", req.path),
        ];
        if req.body.is_some() {
            fields.push(("content-type", "application/json"));
        }
        fields.push(("accept", "application/json,application/problem+json"));
        let mut reprs = vec![FrameRepr::Headers {
            stream,
            end_stream: req.body.is_none(),
            end_headers: true,
            block: self.client.encode(&fields),
        }];
        if let Some(body) = req.body {
            reprs.push(FrameRepr::Data {
                stream,
                end_stream: true,
                data: body.to_vec(),
            });
        }
        (stream, frames(&reprs))
    }

    /// The answer on `stream`: `status`, a JSON body if any, `location` for a 201.
    pub fn response(
        &mut self,
        stream: u32,
        status: u16,
        location: Option<&str>,
        body: Option<&[u8]>,
    ) -> Vec<u8> {
        let status = status.to_string();
        let mut fields = vec![(":status", status.as_str())];
        if let Some(l) = location {
            fields.push(("location", l));
        }
        if body.is_some() {
            fields.push(("content-type", "application/json"));
        }
        let mut reprs = vec![FrameRepr::Headers {
            stream,
            end_stream: body.is_none(),
            end_headers: true,
            block: self.server.encode(&fields),
        }];
        if let Some(body) = body {
            reprs.push(FrameRepr::Data {
                stream,
                end_stream: true,
                data: body.to_vec(),
            });
        }
        frames(&reprs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use landfall_parsers::sbi::model::AmfRegistration;

    #[test]
    fn registration_body_reads_back_as_the_model() {
        let fr = Plmn::new(208, 1, 2);
        let reg = amf_registration(fr, "cafe01", true);
        let back: AmfRegistration = serde_json::from_slice(&json(&reg)).unwrap();
        assert_eq!(back, reg);
        assert_eq!(back.guami.plmn_id.plmn(), Some(fr));
        let imsi = Imsi::parse("222100000000007").unwrap();
        assert_eq!(
            amf_3gpp_registration_path(&imsi),
            "/nudm-uecm/v1/imsi-222100000000007/registrations/amf-3gpp-access"
        );
    }
}
