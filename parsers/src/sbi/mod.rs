//! The 5G service-based interface (TS 29.500 family) read from [`crate::http`]
//! messages: the service and resource a request addresses (its path), the subscriber it
//! names (SUPI, or a SUCI with the null protection scheme, whose MSIN is in clear), and
//! the JSON bodies that matter for location, parsed with serde into [`model`]'s typed
//! schemas. [`correlate`] pairs requests with responses into signals.

pub mod correlate;
pub mod model;

#[cfg(test)]
mod tests;

use crate::error::{DecodeError, Layer};
use crate::flow::PacketMeta;
use crate::http::{HttpMessage, Method};
use crate::numbering::e212::E212;
use crate::record::Record;
use crate::signal::Proto;
use crate::types::{Imsi, Plmn};

/// The SBI services named in counts; the rest are `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    NudmUecm,
    NudmSdm,
    NudmUeau,
    NausfAuth,
    Other,
}

impl Service {
    pub fn parse(name: &str) -> Service {
        match name {
            "nudm-uecm" => Service::NudmUecm,
            "nudm-sdm" => Service::NudmSdm,
            "nudm-ueau" => Service::NudmUeau,
            "nausf-auth" => Service::NausfAuth,
            _ => Service::Other,
        }
    }

    /// The number counted in a message type's `app` (and a signal's provenance).
    pub fn code(self) -> u32 {
        match self {
            Service::NudmUecm => 1,
            Service::NudmSdm => 2,
            Service::NudmUeau => 3,
            Service::NausfAuth => 4,
            Service::Other => 0,
        }
    }

    pub fn name(code: u32) -> &'static str {
        match code {
            1 => "nudm-uecm",
            2 => "nudm-sdm",
            3 => "nudm-ueau",
            4 => "nausf-auth",
            _ => "other service",
        }
    }
}

/// Which access an AMF registration is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    ThreeGpp,
    NonThreeGpp,
}

/// The resources whose messages the correlator reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Nudm UECM `/{ueId}/registrations/amf-3gpp-access` (or non-3GPP).
    AmfRegistration(Access),
    /// Nudm UECM `.../amf-3gpp-access/dereg-amf` (R16+ deregistration by the AMF).
    AmfDeregistration(Access),
    /// Nudm SDM `/{supi}/am-data`.
    AmData,
    /// Nausf `/ue-authentications` (the AMF starting an authentication).
    UeAuthentications,
    /// Anything else of any service.
    Other,
}

/// What a request's path says: service, resource, subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub service: Service,
    /// The service name as written (`nudm-uecm`, `nnrf-disc`, ...).
    pub service_name: String,
    pub resource: Resource,
    /// The subscriber named by the path (`imsi-…`, or a null-scheme SUCI).
    pub imsi: Option<Imsi>,
}

/// Parse `/{service}/{version}/...` (query dropped). `None`: not an SBI path.
pub fn target(path: &str) -> Option<Target> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut seg = path.strip_prefix('/')?.split('/');
    let service_name = seg.next()?;
    let version = seg.next()?;
    if !service_name.starts_with('n') || !version.starts_with('v') {
        return None;
    }
    let service = Service::parse(service_name);
    let rest: Vec<&str> = seg.collect();
    let access = |s: &str| match s {
        "amf-3gpp-access" => Some(Access::ThreeGpp),
        "amf-non-3gpp-access" => Some(Access::NonThreeGpp),
        _ => None,
    };
    let (resource, ue) = match (service, rest.as_slice()) {
        (Service::NudmUecm, [ue, "registrations", a]) if access(a).is_some() => {
            (Resource::AmfRegistration(access(a)?), Some(*ue))
        }
        (Service::NudmUecm, [ue, "registrations", a, "dereg-amf"]) if access(a).is_some() => {
            (Resource::AmfDeregistration(access(a)?), Some(*ue))
        }
        (Service::NudmSdm, [ue, "am-data"]) => (Resource::AmData, Some(*ue)),
        (Service::NausfAuth, ["ue-authentications"]) => (Resource::UeAuthentications, None),
        (_, [ue, ..]) => (Resource::Other, Some(*ue)),
        _ => (Resource::Other, None),
    };
    Some(Target {
        service,
        service_name: service_name.to_owned(),
        resource,
        imsi: ue.and_then(imsi_of),
    })
}

/// The IMSI in a SUPI (`imsi-<digits>`) or in a SUCI of IMSI type with the null
/// protection scheme (`suci-0-<mcc>-<mnc>-<routing>-0-<key id>-<msin>`, TS 29.503
/// §6.1.6.2.2, TS 23.003 §2.2B: its scheme output is the MSIN in clear). Anything else
/// (NAI, concealed SUCI, GPSI) names no IMSI.
pub fn imsi_of(ue: &str) -> Option<Imsi> {
    if let Some(d) = ue.strip_prefix("imsi-") {
        return Imsi::parse(d).ok().filter(|i| i.len() >= 6);
    }
    let parts: Vec<&str> = ue.strip_prefix("suci-")?.split('-').collect();
    match parts.as_slice() {
        ["0", mcc, mnc, _routing, "0", _key, msin]
            if mcc.len() == 3 && (2..=3).contains(&mnc.len()) =>
        {
            Imsi::parse(&format!("{mcc}{mnc}{msin}")).ok()
        }
        _ => None,
    }
}

/// The PLMN in a serving network name (`5G:mnc001.mcc001.3gppnetwork.org`, TS 24.501
/// §9.12.1: the MNC always written with 3 digits; its length is the E.212 table's).
pub fn serving_network(name: &str, e212: &E212) -> Option<Plmn> {
    let rest = name.strip_prefix("5G:mnc")?;
    let (mnc, rest) = rest.split_once(".mcc")?;
    let mcc = rest.get(..3)?;
    if mnc.len() != 3 || !rest[3..].starts_with('.') {
        return None;
    }
    let mcc_n: u16 = mcc.parse().ok()?;
    let mnc_n: u16 = mnc.parse().ok()?;
    let len = e212.mnc_len_of(format!("{mcc}{mnc}").as_bytes());
    if len == 2 && mnc_n >= 100 {
        return None;
    }
    Some(Plmn::new(mcc_n, mnc_n, len))
}

/// Is this body JSON (by content type, or by its first byte where there is none)?
pub fn is_json(msg: &HttpMessage<'_>) -> bool {
    match &msg.head.content_type {
        Some(ct) => {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("application/json") || ct.starts_with("application/problem+json")
        }
        None => msg.body.first() == Some(&b'{'),
    }
}

/// Parse a JSON body into `T`, a decode error naming the schema otherwise.
pub fn body<T: serde::de::DeserializeOwned>(
    msg: &HttpMessage<'_>,
    schema: &'static str,
) -> Result<T, DecodeError> {
    serde_json::from_slice(msg.body).map_err(|e| DecodeError::new(Layer::Sbi, schema, e.column()))
}

/// One SBI message as the inspect record shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SbiView {
    pub method: Option<Method>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub stream: Option<u64>,
    pub service: Option<String>,
    pub imsi: Option<Imsi>,
    /// The serving PLMN the body names (the AMF's GUAMI, the serving network name).
    pub plmn: Option<Plmn>,
    pub rat: Option<u32>,
}

impl SbiView {
    pub fn record(&self, meta: &PacketMeta) -> Record {
        let mut r = Record::new(Proto::Sbi, meta.frame, meta.ts_us);
        r.method = self.method.map(Method::as_str);
        r.path.clone_from(&self.path);
        r.status = self.status.map(u32::from);
        r.stream = self.stream;
        r.service.clone_from(&self.service);
        r.imsi = self.imsi.map(|i| i.as_str().to_owned());
        r.plmn = self.plmn.map(|p| p.to_string());
        r.rat = self.rat;
        r
    }
}
