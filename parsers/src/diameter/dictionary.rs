//! Diameter codes as named constants: application ids, command codes, AVP codes, result
//! codes. Sources: RFC 6733 (base), RFC 4006 (credit control), 3GPP TS 29.272 (S6a/S6d),
//! TS 29.212/29.214 (Gx/Rx) and TS 29.229 (Cx); checked against Wireshark's
//! `resources/protocols/diameter/dictionary.xml` and `TGPP.xml`.

/// 3GPP's IANA enterprise number, the vendor of every S6a-specific AVP.
pub const VENDOR_3GPP: u32 = 10415;

/// Application ids (RFC 6733 §2.4, 3GPP TS 29.230 §7).
pub mod app {
    /// Diameter common messages (CER/CEA, DWR/DWA, DPR/DPA).
    pub const BASE: u32 = 0;
    pub const NASREQ: u32 = 1;
    pub const BASE_ACCOUNTING: u32 = 3;
    /// Credit control (RFC 4006), used as Gy/Ro.
    pub const CREDIT_CONTROL: u32 = 4;
    pub const CX: u32 = 16777216;
    pub const SH: u32 = 16777217;
    pub const RX: u32 = 16777236;
    pub const GX: u32 = 16777238;
    /// S6a and S6d share one application id (TS 29.272 §7.1.8).
    pub const S6A: u32 = 16777251;
    pub const S13: u32 = 16777252;
    pub const SLG: u32 = 16777255;
    pub const SWX: u32 = 16777265;
    pub const S6B: u32 = 16777272;
    pub const SLH: u32 = 16777291;
    pub const S6T: u32 = 16777345;
    pub const RELAY: u32 = 0xffff_ffff;
}

/// Command codes.
pub mod cmd {
    // RFC 6733 base
    pub const CAPABILITIES_EXCHANGE: u32 = 257;
    pub const RE_AUTH: u32 = 258;
    pub const ACCOUNTING: u32 = 271;
    pub const CREDIT_CONTROL: u32 = 272;
    pub const ABORT_SESSION: u32 = 274;
    pub const SESSION_TERMINATION: u32 = 275;
    pub const DEVICE_WATCHDOG: u32 = 280;
    pub const DISCONNECT_PEER: u32 = 282;
    // Rx
    pub const AA: u32 = 265;
    /// Cx Location-Info (TS 29.229).
    pub const LOCATION_INFO: u32 = 302;
    // S6a/S6d (TS 29.272 §7.2.2)
    pub const UPDATE_LOCATION: u32 = 316;
    pub const CANCEL_LOCATION: u32 = 317;
    pub const AUTHENTICATION_INFORMATION: u32 = 318;
    pub const INSERT_SUBSCRIBER_DATA: u32 = 319;
    pub const DELETE_SUBSCRIBER_DATA: u32 = 320;
    pub const PURGE_UE: u32 = 321;
    pub const RESET: u32 = 322;
    pub const NOTIFY: u32 = 323;
    // S13
    pub const ME_IDENTITY_CHECK: u32 = 324;
}

/// AVP codes; vendor 0 unless the name ends in the vendor (all `_3GPP` are vendor 10415).
pub mod avp {
    // RFC 6733 base
    pub const USER_NAME: u32 = 1;
    pub const CLASS: u32 = 25;
    pub const SESSION_TIMEOUT: u32 = 27;
    pub const HOST_IP_ADDRESS: u32 = 257;
    pub const AUTH_APPLICATION_ID: u32 = 258;
    pub const ACCT_APPLICATION_ID: u32 = 259;
    pub const VENDOR_SPECIFIC_APPLICATION_ID: u32 = 260;
    pub const REDIRECT_HOST_USAGE: u32 = 261;
    pub const SESSION_ID: u32 = 263;
    pub const ORIGIN_HOST: u32 = 264;
    pub const SUPPORTED_VENDOR_ID: u32 = 265;
    pub const VENDOR_ID: u32 = 266;
    pub const FIRMWARE_REVISION: u32 = 267;
    pub const RESULT_CODE: u32 = 268;
    pub const PRODUCT_NAME: u32 = 269;
    pub const DISCONNECT_CAUSE: u32 = 273;
    pub const AUTH_REQUEST_TYPE: u32 = 274;
    pub const AUTH_SESSION_STATE: u32 = 277;
    pub const ORIGIN_STATE_ID: u32 = 278;
    pub const FAILED_AVP: u32 = 279;
    pub const PROXY_HOST: u32 = 280;
    pub const ERROR_MESSAGE: u32 = 281;
    pub const ROUTE_RECORD: u32 = 282;
    pub const DESTINATION_REALM: u32 = 283;
    pub const PROXY_INFO: u32 = 284;
    pub const PROXY_STATE: u32 = 33;
    pub const DESTINATION_HOST: u32 = 293;
    pub const ERROR_REPORTING_HOST: u32 = 294;
    pub const TERMINATION_CAUSE: u32 = 295;
    pub const ORIGIN_REALM: u32 = 296;
    pub const EXPERIMENTAL_RESULT: u32 = 297;
    pub const EXPERIMENTAL_RESULT_CODE: u32 = 298;
    pub const INBAND_SECURITY_ID: u32 = 299;
    pub const E2E_SEQUENCE: u32 = 300;
    // RFC 4006 credit control
    pub const CC_REQUEST_NUMBER: u32 = 415;
    pub const CC_REQUEST_TYPE: u32 = 416;
    pub const GRANTED_SERVICE_UNIT: u32 = 431;
    pub const REQUESTED_SERVICE_UNIT: u32 = 437;
    pub const SUBSCRIPTION_ID: u32 = 443;
    pub const SUBSCRIPTION_ID_DATA: u32 = 444;
    pub const USED_SERVICE_UNIT: u32 = 446;
    pub const SUBSCRIPTION_ID_TYPE: u32 = 450;
    pub const MULTIPLE_SERVICES_CREDIT_CONTROL: u32 = 456;
    pub const USER_EQUIPMENT_INFO: u32 = 458;
    pub const SERVICE_CONTEXT_ID: u32 = 461;
    // RFC 5778 / 5447
    pub const MIP_HOME_AGENT_HOST: u32 = 348;
    pub const MIP6_AGENT_INFO: u32 = 486;
    pub const SERVICE_SELECTION: u32 = 493;
    // 3GPP (vendor 10415)
    pub const CHARGING_CHARACTERISTICS_3GPP: u32 = 13;
    pub const MAX_REQUESTED_BANDWIDTH_DL_3GPP: u32 = 515;
    pub const MAX_REQUESTED_BANDWIDTH_UL_3GPP: u32 = 516;
    pub const SUPPORTED_FEATURES_3GPP: u32 = 628;
    pub const FEATURE_LIST_ID_3GPP: u32 = 629;
    pub const FEATURE_LIST_3GPP: u32 = 630;
    pub const USER_IDENTITY_3GPP: u32 = 700;
    pub const MSISDN_3GPP: u32 = 701;
    pub const SERVICE_INFORMATION_3GPP: u32 = 873;
    pub const PS_INFORMATION_3GPP: u32 = 874;
    pub const CHARGING_RULE_INSTALL_3GPP: u32 = 1001;
    pub const CHARGING_RULE_DEFINITION_3GPP: u32 = 1003;
    pub const QOS_INFORMATION_3GPP: u32 = 1016;
    pub const QOS_CLASS_IDENTIFIER_3GPP: u32 = 1028;
    pub const RAT_TYPE_3GPP: u32 = 1032;
    pub const EVENT_REPORT_INDICATION_3GPP: u32 = 1033;
    pub const ALLOCATION_RETENTION_PRIORITY_3GPP: u32 = 1034;
    pub const PRIORITY_LEVEL_3GPP: u32 = 1046;
    pub const PRE_EMPTION_CAPABILITY_3GPP: u32 = 1047;
    pub const PRE_EMPTION_VULNERABILITY_3GPP: u32 = 1048;
    pub const SUBSCRIPTION_DATA_3GPP: u32 = 1400;
    pub const TERMINAL_INFORMATION_3GPP: u32 = 1401;
    pub const IMEI_3GPP: u32 = 1402;
    pub const SOFTWARE_VERSION_3GPP: u32 = 1403;
    pub const ULR_FLAGS_3GPP: u32 = 1405;
    pub const ULA_FLAGS_3GPP: u32 = 1406;
    pub const VISITED_PLMN_ID_3GPP: u32 = 1407;
    pub const REQUESTED_EUTRAN_AUTHENTICATION_INFO_3GPP: u32 = 1408;
    pub const REQUESTED_UTRAN_GERAN_AUTHENTICATION_INFO_3GPP: u32 = 1409;
    pub const NUMBER_OF_REQUESTED_VECTORS_3GPP: u32 = 1410;
    pub const RE_SYNCHRONIZATION_INFO_3GPP: u32 = 1411;
    pub const IMMEDIATE_RESPONSE_PREFERRED_3GPP: u32 = 1412;
    pub const AUTHENTICATION_INFO_3GPP: u32 = 1413;
    pub const E_UTRAN_VECTOR_3GPP: u32 = 1414;
    pub const UTRAN_VECTOR_3GPP: u32 = 1415;
    pub const GERAN_VECTOR_3GPP: u32 = 1416;
    pub const NETWORK_ACCESS_MODE_3GPP: u32 = 1417;
    pub const ITEM_NUMBER_3GPP: u32 = 1419;
    pub const CANCELLATION_TYPE_3GPP: u32 = 1420;
    pub const CONTEXT_IDENTIFIER_3GPP: u32 = 1423;
    pub const SUBSCRIBER_STATUS_3GPP: u32 = 1424;
    pub const ACCESS_RESTRICTION_DATA_3GPP: u32 = 1426;
    pub const ALL_APN_CONFIGURATIONS_INCLUDED_INDICATOR_3GPP: u32 = 1428;
    pub const APN_CONFIGURATION_PROFILE_3GPP: u32 = 1429;
    pub const APN_CONFIGURATION_3GPP: u32 = 1430;
    pub const EPS_SUBSCRIBED_QOS_PROFILE_3GPP: u32 = 1431;
    pub const AMBR_3GPP: u32 = 1435;
    pub const PUA_FLAGS_3GPP: u32 = 1442;
    pub const RAND_3GPP: u32 = 1447;
    pub const XRES_3GPP: u32 = 1448;
    pub const AUTN_3GPP: u32 = 1449;
    pub const KASME_3GPP: u32 = 1450;
    pub const PDN_TYPE_3GPP: u32 = 1456;
    pub const TRACE_DATA_3GPP: u32 = 1458;
    pub const GPRS_SUBSCRIPTION_DATA_3GPP: u32 = 1467;
    pub const PDP_CONTEXT_3GPP: u32 = 1469;
    pub const SPECIFIC_APN_INFO_3GPP: u32 = 1472;
    pub const LCS_INFO_3GPP: u32 = 1473;
    pub const SGSN_NUMBER_3GPP: u32 = 1489;
    pub const UE_SRVCC_CAPABILITY_3GPP: u32 = 1615;
    pub const PUR_FLAGS_3GPP: u32 = 1635;
    pub const NOR_FLAGS_3GPP: u32 = 1443;
    pub const CLR_FLAGS_3GPP: u32 = 1638;
    pub const ADJACENT_ACCESS_RESTRICTION_DATA_3GPP: u32 = 1673;
}

/// Result codes (RFC 6733 §7.1) and 3GPP experimental result codes (TS 29.272 §7.4).
pub mod result {
    pub const DIAMETER_SUCCESS: u32 = 2001;
    pub const DIAMETER_LIMITED_SUCCESS: u32 = 2002;
    pub const DIAMETER_COMMAND_UNSUPPORTED: u32 = 3001;
    pub const DIAMETER_UNABLE_TO_DELIVER: u32 = 3002;
    pub const DIAMETER_REALM_NOT_SERVED: u32 = 3003;
    pub const DIAMETER_TOO_BUSY: u32 = 3004;
    pub const DIAMETER_AUTHENTICATION_REJECTED: u32 = 4001;
    pub const DIAMETER_MISSING_AVP: u32 = 5005;
    pub const DIAMETER_UNABLE_TO_COMPLY: u32 = 5012;
    // Experimental, vendor 10415 (TS 29.272 §7.4.3, §7.4.4)
    pub const DIAMETER_AUTHENTICATION_DATA_UNAVAILABLE: u32 = 4181;
    pub const DIAMETER_ERROR_CAMEL_SUBSCRIPTION_PRESENT: u32 = 4182;
    pub const DIAMETER_ERROR_USER_UNKNOWN: u32 = 5001;
    pub const DIAMETER_ERROR_ROAMING_NOT_ALLOWED: u32 = 5004;
    pub const DIAMETER_ERROR_UNKNOWN_EPS_SUBSCRIPTION: u32 = 5420;
    pub const DIAMETER_ERROR_RAT_NOT_ALLOWED: u32 = 5421;
    pub const DIAMETER_ERROR_EQUIPMENT_UNKNOWN: u32 = 5422;
    pub const DIAMETER_ERROR_UNKNOWN_SERVING_NODE: u32 = 5423;
}

/// ULR-Flags bits (TS 29.272 §7.3.7).
pub mod ulr_flags {
    pub const SINGLE_REGISTRATION_INDICATION: u32 = 1 << 0;
    pub const S6A_S6D_INDICATOR: u32 = 1 << 1;
    pub const SKIP_SUBSCRIBER_DATA: u32 = 1 << 2;
    pub const GPRS_SUBSCRIPTION_DATA_INDICATOR: u32 = 1 << 3;
    pub const NODE_TYPE_INDICATOR: u32 = 1 << 4;
    pub const INITIAL_ATTACH_INDICATOR: u32 = 1 << 5;
    pub const PS_LCS_NOT_SUPPORTED_BY_UE: u32 = 1 << 6;
    pub const SMS_ONLY_INDICATION: u32 = 1 << 7;
}

/// RAT-Type values (TS 29.212 §5.3.31).
pub mod rat {
    pub const WLAN: u32 = 0;
    pub const UTRAN: u32 = 1000;
    pub const GERAN: u32 = 1001;
    pub const GAN: u32 = 1002;
    pub const HSPA_EVOLUTION: u32 = 1003;
    pub const EUTRAN: u32 = 1004;
    pub const EUTRAN_NB_IOT: u32 = 1005;
    pub const NR: u32 = 1009;
}

/// Cancellation-Type values (TS 29.272 §7.3.24).
pub mod cancellation_type {
    pub const MME_UPDATE_PROCEDURE: u32 = 0;
    pub const SGSN_UPDATE_PROCEDURE: u32 = 1;
    pub const SUBSCRIPTION_WITHDRAWAL: u32 = 2;
    pub const UPDATE_PROCEDURE_IWF: u32 = 3;
    pub const INITIAL_ATTACH_PROCEDURE: u32 = 4;
}

/// Is the AVP `code` of `vendor` (0 = IETF) of type Grouped? Used to walk the tree
/// (MSISDN "anywhere, depth-first") and by [`super::repr::MessageRepr::parse`].
pub fn is_grouped(code: u32, vendor: u32) -> bool {
    use avp::*;
    match vendor {
        0 => matches!(
            code,
            VENDOR_SPECIFIC_APPLICATION_ID
                | FAILED_AVP
                | PROXY_INFO
                | EXPERIMENTAL_RESULT
                | E2E_SEQUENCE
                | GRANTED_SERVICE_UNIT
                | REQUESTED_SERVICE_UNIT
                | SUBSCRIPTION_ID
                | USED_SERVICE_UNIT
                | MULTIPLE_SERVICES_CREDIT_CONTROL
                | USER_EQUIPMENT_INFO
                | MIP_HOME_AGENT_HOST
                | MIP6_AGENT_INFO
        ),
        VENDOR_3GPP => matches!(
            code,
            SUPPORTED_FEATURES_3GPP
                | USER_IDENTITY_3GPP
                | SERVICE_INFORMATION_3GPP
                | PS_INFORMATION_3GPP
                | CHARGING_RULE_INSTALL_3GPP
                | CHARGING_RULE_DEFINITION_3GPP
                | QOS_INFORMATION_3GPP
                | EVENT_REPORT_INDICATION_3GPP
                | ALLOCATION_RETENTION_PRIORITY_3GPP
                | SUBSCRIPTION_DATA_3GPP
                | TERMINAL_INFORMATION_3GPP
                | REQUESTED_EUTRAN_AUTHENTICATION_INFO_3GPP
                | REQUESTED_UTRAN_GERAN_AUTHENTICATION_INFO_3GPP
                | AUTHENTICATION_INFO_3GPP
                | E_UTRAN_VECTOR_3GPP
                | UTRAN_VECTOR_3GPP
                | GERAN_VECTOR_3GPP
                | APN_CONFIGURATION_PROFILE_3GPP
                | APN_CONFIGURATION_3GPP
                | EPS_SUBSCRIBED_QOS_PROFILE_3GPP
                | AMBR_3GPP
                | TRACE_DATA_3GPP
                | GPRS_SUBSCRIPTION_DATA_3GPP
                | PDP_CONTEXT_3GPP
                | SPECIFIC_APN_INFO_3GPP
                | LCS_INFO_3GPP
                | ADJACENT_ACCESS_RESTRICTION_DATA_3GPP
        ),
        _ => false,
    }
}

/// An application's name in the statistics report (`inspect --stats`); `None` for one
/// reported as "other".
pub fn app_name(app_id: u32) -> Option<&'static str> {
    Some(match app_id {
        app::BASE => "base",
        app::CREDIT_CONTROL => "credit-control",
        app::CX => "Cx",
        app::RX => "Rx",
        app::GX => "Gx",
        app::S6A => "S6a/S6d",
        app::S13 => "S13",
        app::SLG => "SLg",
        app::SWX => "SWx",
        app::S6B => "S6b",
        _ => return None,
    })
}

/// A command's abbreviation in the statistics report (request/answer pairs share one:
/// `R`/`A` is appended); `None` for one reported by its code.
pub fn command_name(code: u32) -> Option<&'static str> {
    Some(match code {
        cmd::CAPABILITIES_EXCHANGE => "CE",
        cmd::RE_AUTH => "RA",
        cmd::AA => "AA",
        cmd::ACCOUNTING => "AC",
        cmd::CREDIT_CONTROL => "CC",
        cmd::ABORT_SESSION => "AS",
        cmd::SESSION_TERMINATION => "ST",
        cmd::DEVICE_WATCHDOG => "DW",
        cmd::DISCONNECT_PEER => "DP",
        cmd::LOCATION_INFO => "LI",
        cmd::UPDATE_LOCATION => "UL",
        cmd::CANCEL_LOCATION => "CL",
        cmd::AUTHENTICATION_INFORMATION => "AI",
        cmd::INSERT_SUBSCRIBER_DATA => "ID",
        cmd::DELETE_SUBSCRIBER_DATA => "DS",
        cmd::PURGE_UE => "PU",
        cmd::RESET => "RS",
        cmd::NOTIFY => "NO",
        _ => return None,
    })
}

/// Is `app_id` S6a/S6d, the application signals are derived from?
pub fn is_s6a(app_id: u32) -> bool {
    app_id == app::S6A
}

/// Is a Result-Code or Experimental-Result-Code a success (2xxx)?
pub fn is_success(code: u32) -> bool {
    (2000..3000).contains(&code)
}
