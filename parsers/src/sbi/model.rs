//! The JSON bodies the SBI decoder reads, as typed structs of the 3GPP OpenAPI schemas
//! (serde; unknown members ignored, required members required): TS 29.571 common data,
//! TS 29.503 Nudm (UECM, SDM), TS 29.509 Nausf.

use serde::{Deserialize, Serialize};

use crate::types::Plmn;

/// TS 29.571 `PlmnId`: MCC and MNC as digit strings (the MNC's length is the network's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlmnId {
    pub mcc: String,
    pub mnc: String,
}

impl PlmnId {
    /// The PLMN, when both codes are digits of the right lengths.
    pub fn plmn(&self) -> Option<Plmn> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if self.mcc.len() != 3 || !(2..=3).contains(&self.mnc.len()) {
            return None;
        }
        if !digits(&self.mcc) || !digits(&self.mnc) {
            return None;
        }
        Some(Plmn::new(
            self.mcc.parse().ok()?,
            self.mnc.parse().ok()?,
            self.mnc.len() as u8,
        ))
    }

    pub fn of(p: Plmn) -> PlmnId {
        let s = p.to_string();
        let (mcc, mnc) = s.split_once('-').unwrap_or((&s, ""));
        PlmnId {
            mcc: mcc.to_owned(),
            mnc: mnc.to_owned(),
        }
    }
}

/// TS 29.571 `Guami`: the AMF's PLMN and AMF id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guami {
    pub plmn_id: PlmnId,
    pub amf_id: String,
}

/// TS 29.571 `RatType` (an extensible enumeration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RatType {
    #[serde(rename = "NR")]
    Nr,
    #[serde(rename = "EUTRA")]
    Eutra,
    #[serde(rename = "WLAN")]
    Wlan,
    #[serde(rename = "VIRTUAL")]
    Virtual,
    #[serde(rename = "NBIOT")]
    NbIot,
    #[serde(rename = "WIRELINE")]
    Wireline,
    #[serde(rename = "LTE-M")]
    LteM,
    #[serde(rename = "TRUSTED_N3GA")]
    TrustedN3ga,
    #[serde(rename = "TRUSTED_WLAN")]
    TrustedWlan,
    #[serde(other)]
    Other,
}

impl RatType {
    /// The RAT as S6a's RAT-Type AVP codes it (TS 29.212 §5.3.31), so signals of every
    /// protocol compare: NR 1006, EUTRAN 1004, WLAN 0, VIRTUAL 1, NB-IoT 1005, LTE-M
    /// 1007, TRUSTED-N3GA 2, TRUSTED-WLAN 3.
    pub fn code(self) -> Option<u32> {
        Some(match self {
            RatType::Nr => 1006,
            RatType::Eutra => 1004,
            RatType::Wlan => 0,
            RatType::Virtual => 1,
            RatType::NbIot => 1005,
            RatType::LteM => 1007,
            RatType::TrustedN3ga => 2,
            RatType::TrustedWlan => 3,
            RatType::Wireline | RatType::Other => return None,
        })
    }
}

/// TS 29.503 `Amf3GppAccessRegistration` (and, with `imsVoPs` required there,
/// `AmfNon3GppAccessRegistration`): the AMF registering a UE with the UDM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmfRegistration {
    pub amf_instance_id: String,
    pub dereg_callback_uri: String,
    pub guami: Guami,
    pub rat_type: RatType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_registration_ind: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_flag: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pei: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supi: Option<String>,
}

/// TS 29.503 `Amf3GppAccessRegistrationModification` (PATCH): `purgeFlag` = the UE was
/// purged at the AMF.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmfRegistrationModification {
    pub guami: Guami,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_flag: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pei: Option<String>,
}

/// TS 29.509 `AuthenticationInfo` (POST ue-authentications): who, and for which serving
/// network ("5G:mncXXX.mccYYY.3gppnetwork.org").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationInfo {
    pub supi_or_suci: String,
    pub serving_network_name: String,
}

/// TS 29.503 `AccessAndMobilitySubscriptionData` (SDM am-data): the MSISDNs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessAndMobilitySubscriptionData {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpsis: Vec<String>,
}

/// TS 29.571 `ProblemDetails`: what an error answer says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}
