//! Realistic S6a/S6d (TS 29.272) and base messages for fixtures and tests, built as
//! [`MessageRepr`]s. AVP order follows what Magma's MME and HSS put on the wire.

use landfall_parsers::diameter::dictionary::{self, app, avp, cmd, result, VENDOR_3GPP};
use landfall_parsers::diameter::{AvpRepr, Flags, MessageRepr};
use landfall_parsers::{Msisdn, Plmn};

/// How an answer ends: a base Result-Code or a vendor Experimental-Result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Result(u32),
    Experimental { vendor: u32, code: u32 },
}

impl Outcome {
    pub const SUCCESS: Outcome = Outcome::Result(result::DIAMETER_SUCCESS);
    /// Experimental-Result 5004 DIAMETER_ERROR_ROAMING_NOT_ALLOWED (vendor 10415).
    pub const ROAMING_NOT_ALLOWED: Outcome = Outcome::Experimental {
        vendor: VENDOR_3GPP,
        code: result::DIAMETER_ERROR_ROAMING_NOT_ALLOWED,
    };
    /// Experimental-Result 5001 DIAMETER_ERROR_USER_UNKNOWN (vendor 10415).
    pub const USER_UNKNOWN: Outcome = Outcome::Experimental {
        vendor: VENDOR_3GPP,
        code: result::DIAMETER_ERROR_USER_UNKNOWN,
    };
    /// Experimental-Result 5420 DIAMETER_ERROR_UNKNOWN_EPS_SUBSCRIPTION (vendor 10415).
    pub const UNKNOWN_EPS_SUBSCRIPTION: Outcome = Outcome::Experimental {
        vendor: VENDOR_3GPP,
        code: result::DIAMETER_ERROR_UNKNOWN_EPS_SUBSCRIPTION,
    };

    /// A 3GPP experimental result code.
    pub fn experimental(code: u32) -> Outcome {
        Outcome::Experimental {
            vendor: VENDOR_3GPP,
            code,
        }
    }

    pub fn code(self) -> u32 {
        match self {
            Outcome::Result(c) | Outcome::Experimental { code: c, .. } => c,
        }
    }

    pub fn is_success(self) -> bool {
        dictionary::is_success(self.code())
    }

    fn avp(self) -> AvpRepr {
        match self {
            Outcome::Result(c) => AvpRepr::u32(avp::RESULT_CODE, 0, c),
            Outcome::Experimental { vendor, code } => AvpRepr::grouped(
                avp::EXPERIMENTAL_RESULT,
                0,
                vec![
                    AvpRepr::u32(avp::VENDOR_ID, 0, vendor),
                    AvpRepr::u32(avp::EXPERIMENTAL_RESULT_CODE, 0, code),
                ],
            ),
        }
    }

    /// Protocol errors (3xxx Result-Codes) set the E bit (RFC 6733 §7.1.3).
    fn error_bit(self) -> bool {
        matches!(self, Outcome::Result(c) if (3000..4000).contains(&c))
    }
}

/// The two ends of an S6a session and its Session-Id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S6aSession {
    pub session_id: String,
    pub mme_host: String,
    pub mme_realm: String,
    pub origin_state_id: Option<u32>,
    pub hss_host: Option<String>,
    pub hss_realm: String,
}

impl S6aSession {
    /// A session between an MME and an HSS of the home network `home`, named as in
    /// TS 23.003 §19.4.
    pub fn new(home: Plmn, serving: Plmn, n: u32) -> S6aSession {
        let realm = |p: Plmn| format!("epc.mnc{:03}.mcc{:03}.3gppnetwork.org", p.mnc, p.mcc);
        let mme_realm = realm(serving);
        let mme_host = format!("mme01.{mme_realm}");
        S6aSession {
            session_id: format!("{mme_host};{n};s6a"),
            mme_host,
            mme_realm,
            origin_state_id: Some(1),
            hss_host: Some(format!("hss01.{}", realm(home))),
            hss_realm: realm(home),
        }
    }

    fn request(
        &self,
        code: u32,
        hbh: u32,
        e2e: u32,
        user: &str,
        specific: Vec<AvpRepr>,
    ) -> MessageRepr {
        let mut m = MessageRepr::request(app::S6A, code, hbh, e2e)
            .with(AvpRepr::utf8(avp::SESSION_ID, 0, &self.session_id))
            .with(AvpRepr::utf8(avp::ORIGIN_HOST, 0, &self.mme_host))
            .with(AvpRepr::utf8(avp::ORIGIN_REALM, 0, &self.mme_realm));
        if let Some(s) = self.origin_state_id {
            m = m.with(AvpRepr::u32(avp::ORIGIN_STATE_ID, 0, s));
        }
        m = m
            .with(AvpRepr::utf8(avp::USER_NAME, 0, user))
            .with(AvpRepr::u32(avp::AUTH_SESSION_STATE, 0, 1));
        m.avps.extend(specific);
        m = m.with(AvpRepr::utf8(avp::DESTINATION_REALM, 0, &self.hss_realm));
        if let Some(h) = &self.hss_host {
            m = m.with(AvpRepr::utf8(avp::DESTINATION_HOST, 0, h));
        }
        m
    }

    /// A request from the HSS to the MME (CLR, IDR).
    fn hss_request(
        &self,
        code: u32,
        hbh: u32,
        e2e: u32,
        user: &str,
        specific: Vec<AvpRepr>,
    ) -> MessageRepr {
        let mut m = MessageRepr::request(app::S6A, code, hbh, e2e)
            .with(AvpRepr::utf8(avp::SESSION_ID, 0, &self.session_id))
            .with(AvpRepr::utf8(
                avp::ORIGIN_HOST,
                0,
                self.hss_host.as_deref().unwrap_or(&self.hss_realm),
            ))
            .with(AvpRepr::utf8(avp::ORIGIN_REALM, 0, &self.hss_realm))
            .with(AvpRepr::utf8(avp::DESTINATION_HOST, 0, &self.mme_host))
            .with(AvpRepr::utf8(avp::DESTINATION_REALM, 0, &self.mme_realm))
            .with(AvpRepr::utf8(avp::USER_NAME, 0, user))
            .with(AvpRepr::u32(avp::AUTH_SESSION_STATE, 0, 1));
        m.avps.extend(specific);
        m
    }

    fn answer(
        &self,
        req: &MessageRepr,
        outcome: Outcome,
        from_hss: bool,
        specific: Vec<AvpRepr>,
    ) -> MessageRepr {
        let (host, realm) = if from_hss {
            (
                self.hss_host.as_deref().unwrap_or(&self.hss_realm),
                self.hss_realm.as_str(),
            )
        } else {
            (self.mme_host.as_str(), self.mme_realm.as_str())
        };
        let mut m = MessageRepr::answer_to(req)
            .with(AvpRepr::utf8(avp::SESSION_ID, 0, &self.session_id))
            .with(vendor_specific_app(app::S6A))
            .with(outcome.avp())
            .with(AvpRepr::u32(avp::AUTH_SESSION_STATE, 0, 1))
            .with(AvpRepr::utf8(avp::ORIGIN_HOST, 0, host))
            .with(AvpRepr::utf8(avp::ORIGIN_REALM, 0, realm));
        if outcome.error_bit() {
            m.flags = Flags(m.flags.0 | Flags::ERROR);
        }
        m.avps.extend(specific);
        m
    }

    /// Update-Location-Request (TS 29.272 §7.2.3).
    pub fn ulr(
        &self,
        hbh: u32,
        e2e: u32,
        imsi: &str,
        visited: Plmn,
        rat: u32,
        ulr_flags: u32,
    ) -> MessageRepr {
        self.request(
            cmd::UPDATE_LOCATION,
            hbh,
            e2e,
            imsi,
            vec![
                AvpRepr::u32(avp::RAT_TYPE_3GPP, VENDOR_3GPP, rat),
                AvpRepr::u32(avp::ULR_FLAGS_3GPP, VENDOR_3GPP, ulr_flags),
                AvpRepr::tgpp(avp::VISITED_PLMN_ID_3GPP, visited.to_bcd()),
            ],
        )
    }

    /// Update-Location-Answer; on success with `msisdn`, a Subscription-Data carrying it.
    pub fn ula(&self, ulr: &MessageRepr, outcome: Outcome, msisdn: Option<&str>) -> MessageRepr {
        let mut specific = Vec::new();
        if outcome.is_success() {
            specific.push(AvpRepr::u32(avp::ULA_FLAGS_3GPP, VENDOR_3GPP, 1));
            specific.push(subscription_data(msisdn));
        }
        self.answer(ulr, outcome, true, specific)
    }

    /// Authentication-Information-Request asking for `vectors` E-UTRAN vectors.
    pub fn air(&self, hbh: u32, e2e: u32, imsi: &str, visited: Plmn, vectors: u32) -> MessageRepr {
        self.request(
            cmd::AUTHENTICATION_INFORMATION,
            hbh,
            e2e,
            imsi,
            vec![
                AvpRepr::tgpp(avp::VISITED_PLMN_ID_3GPP, visited.to_bcd()),
                AvpRepr::grouped(
                    avp::REQUESTED_EUTRAN_AUTHENTICATION_INFO_3GPP,
                    VENDOR_3GPP,
                    vec![
                        AvpRepr::u32(avp::NUMBER_OF_REQUESTED_VECTORS_3GPP, VENDOR_3GPP, vectors),
                        AvpRepr::u32(avp::IMMEDIATE_RESPONSE_PREFERRED_3GPP, VENDOR_3GPP, 0),
                    ],
                ),
            ],
        )
    }

    /// Authentication-Information-Answer; on success one E-UTRAN vector (fixed bytes).
    pub fn aia(&self, air: &MessageRepr, outcome: Outcome) -> MessageRepr {
        let mut specific = Vec::new();
        if outcome.is_success() {
            let v = |code, byte: u8, n: usize| AvpRepr::tgpp(code, vec![byte; n]);
            specific.push(AvpRepr::grouped(
                avp::AUTHENTICATION_INFO_3GPP,
                VENDOR_3GPP,
                vec![AvpRepr::grouped(
                    avp::E_UTRAN_VECTOR_3GPP,
                    VENDOR_3GPP,
                    vec![
                        v(avp::RAND_3GPP, 0x11, 16),
                        v(avp::XRES_3GPP, 0x22, 8),
                        v(avp::AUTN_3GPP, 0x33, 16),
                        v(avp::KASME_3GPP, 0x44, 32),
                    ],
                )],
            ));
        }
        self.answer(air, outcome, true, specific)
    }

    /// Purge-UE-Request.
    pub fn pur(&self, hbh: u32, e2e: u32, imsi: &str) -> MessageRepr {
        self.request(cmd::PURGE_UE, hbh, e2e, imsi, vec![])
    }

    /// Purge-UE-Answer (PUA-Flags: freeze M-TMSI).
    pub fn pua(&self, pur: &MessageRepr, outcome: Outcome) -> MessageRepr {
        let specific = if outcome.is_success() {
            vec![AvpRepr::u32(avp::PUA_FLAGS_3GPP, VENDOR_3GPP, 1)]
        } else {
            vec![]
        };
        self.answer(pur, outcome, true, specific)
    }

    /// Cancel-Location-Request, sent by the HSS.
    pub fn clr(&self, hbh: u32, e2e: u32, imsi: &str, cancellation_type: u32) -> MessageRepr {
        self.hss_request(
            cmd::CANCEL_LOCATION,
            hbh,
            e2e,
            imsi,
            vec![AvpRepr::u32(
                avp::CANCELLATION_TYPE_3GPP,
                VENDOR_3GPP,
                cancellation_type,
            )],
        )
    }

    /// Cancel-Location-Answer, sent by the MME.
    pub fn cla(&self, clr: &MessageRepr, outcome: Outcome) -> MessageRepr {
        self.answer(clr, outcome, false, vec![])
    }

    /// Notify-Request (NOR-Flags: single registration indication).
    pub fn nor(&self, hbh: u32, e2e: u32, imsi: &str) -> MessageRepr {
        self.request(
            cmd::NOTIFY,
            hbh,
            e2e,
            imsi,
            vec![AvpRepr::u32(avp::NOR_FLAGS_3GPP, VENDOR_3GPP, 1)],
        )
    }

    pub fn noa(&self, nor: &MessageRepr, outcome: Outcome) -> MessageRepr {
        self.answer(nor, outcome, true, vec![])
    }

    /// Insert-Subscriber-Data-Request with a Subscription-Data (sent by the HSS).
    pub fn idr(&self, hbh: u32, e2e: u32, imsi: &str, msisdn: Option<&str>) -> MessageRepr {
        self.hss_request(
            cmd::INSERT_SUBSCRIBER_DATA,
            hbh,
            e2e,
            imsi,
            vec![subscription_data(msisdn)],
        )
    }
}

/// Vendor-Specific-Application-Id { Vendor-Id 10415, Auth-Application-Id `app_id` }.
pub fn vendor_specific_app(app_id: u32) -> AvpRepr {
    AvpRepr::grouped(
        avp::VENDOR_SPECIFIC_APPLICATION_ID,
        0,
        vec![
            AvpRepr::u32(avp::VENDOR_ID, 0, VENDOR_3GPP),
            AvpRepr::u32(avp::AUTH_APPLICATION_ID, 0, app_id),
        ],
    )
}

/// A compact Subscription-Data (TS 29.272 §7.3.2): status, MSISDN, access mode, AMBR and
/// one APN configuration ("internet", QCI 9).
pub fn subscription_data(msisdn: Option<&str>) -> AvpRepr {
    let t = |code, v| AvpRepr::u32(code, VENDOR_3GPP, v);
    let ambr = || {
        AvpRepr::grouped(
            avp::AMBR_3GPP,
            VENDOR_3GPP,
            vec![
                t(avp::MAX_REQUESTED_BANDWIDTH_UL_3GPP, 50_000_000),
                t(avp::MAX_REQUESTED_BANDWIDTH_DL_3GPP, 100_000_000),
            ],
        )
    };
    let mut children = vec![t(avp::SUBSCRIBER_STATUS_3GPP, 0)];
    if let Some(tbcd) = msisdn
        .and_then(|m| Msisdn::parse(m).ok())
        .map(|m| m.to_tbcd())
    {
        children.push(AvpRepr::tgpp(avp::MSISDN_3GPP, tbcd));
    }
    children.extend([
        t(avp::NETWORK_ACCESS_MODE_3GPP, 2),
        t(avp::ACCESS_RESTRICTION_DATA_3GPP, 0),
        ambr(),
        AvpRepr::grouped(
            avp::APN_CONFIGURATION_PROFILE_3GPP,
            VENDOR_3GPP,
            vec![
                t(avp::CONTEXT_IDENTIFIER_3GPP, 1),
                t(avp::ALL_APN_CONFIGURATIONS_INCLUDED_INDICATOR_3GPP, 0),
                AvpRepr::grouped(
                    avp::APN_CONFIGURATION_3GPP,
                    VENDOR_3GPP,
                    vec![
                        t(avp::CONTEXT_IDENTIFIER_3GPP, 1),
                        t(avp::PDN_TYPE_3GPP, 0),
                        AvpRepr::utf8(avp::SERVICE_SELECTION, 0, "internet"),
                        AvpRepr::grouped(
                            avp::EPS_SUBSCRIBED_QOS_PROFILE_3GPP,
                            VENDOR_3GPP,
                            vec![
                                t(avp::QOS_CLASS_IDENTIFIER_3GPP, 9),
                                AvpRepr::grouped(
                                    avp::ALLOCATION_RETENTION_PRIORITY_3GPP,
                                    VENDOR_3GPP,
                                    vec![
                                        t(avp::PRIORITY_LEVEL_3GPP, 9),
                                        t(avp::PRE_EMPTION_CAPABILITY_3GPP, 1),
                                        t(avp::PRE_EMPTION_VULNERABILITY_3GPP, 1),
                                    ],
                                ),
                            ],
                        ),
                        ambr(),
                    ],
                ),
            ],
        ),
    ]);
    AvpRepr::grouped(avp::SUBSCRIPTION_DATA_3GPP, VENDOR_3GPP, children)
}

/// Device-Watchdog-Request (base application, not proxiable).
pub fn dwr(hbh: u32, e2e: u32, host: &str, realm: &str) -> MessageRepr {
    let mut m = MessageRepr::request(app::BASE, cmd::DEVICE_WATCHDOG, hbh, e2e)
        .with(AvpRepr::utf8(avp::ORIGIN_HOST, 0, host))
        .with(AvpRepr::utf8(avp::ORIGIN_REALM, 0, realm))
        .with(AvpRepr::u32(avp::ORIGIN_STATE_ID, 0, 1));
    m.flags = Flags(Flags::REQUEST);
    m
}

/// Device-Watchdog-Answer, Result-Code 2001.
pub fn dwa(dwr: &MessageRepr, host: &str, realm: &str) -> MessageRepr {
    MessageRepr::answer_to(dwr)
        .with(AvpRepr::u32(avp::RESULT_CODE, 0, result::DIAMETER_SUCCESS))
        .with(AvpRepr::utf8(avp::ORIGIN_HOST, 0, host))
        .with(AvpRepr::utf8(avp::ORIGIN_REALM, 0, realm))
        .with(AvpRepr::u32(avp::ORIGIN_STATE_ID, 0, 1))
}

/// Credit-Control-Request (RFC 4006, application 4, Gy), INITIAL_REQUEST, with the
/// subscriber as Subscription-Id E.164 and IMSI.
pub fn ccr(hbh: u32, e2e: u32, session_id: &str, imsi: &str, msisdn: &str) -> MessageRepr {
    let sub = |ty: u32, data: &str| {
        AvpRepr::grouped(
            avp::SUBSCRIPTION_ID,
            0,
            vec![
                AvpRepr::u32(avp::SUBSCRIPTION_ID_TYPE, 0, ty),
                AvpRepr::utf8(avp::SUBSCRIPTION_ID_DATA, 0, data),
            ],
        )
    };
    MessageRepr::request(app::CREDIT_CONTROL, cmd::CREDIT_CONTROL, hbh, e2e)
        .with(AvpRepr::utf8(avp::SESSION_ID, 0, session_id))
        .with(AvpRepr::utf8(avp::ORIGIN_HOST, 0, "pgw01.example.org"))
        .with(AvpRepr::utf8(avp::ORIGIN_REALM, 0, "example.org"))
        .with(AvpRepr::utf8(avp::DESTINATION_REALM, 0, "ocs.example.org"))
        .with(AvpRepr::u32(
            avp::AUTH_APPLICATION_ID,
            0,
            app::CREDIT_CONTROL,
        ))
        .with(AvpRepr::utf8(avp::SERVICE_CONTEXT_ID, 0, "32251@3gpp.org"))
        .with(AvpRepr::u32(avp::CC_REQUEST_TYPE, 0, 1))
        .with(AvpRepr::u32(avp::CC_REQUEST_NUMBER, 0, 0))
        .with(sub(0, msisdn))
        .with(sub(1, imsi))
}

/// Credit-Control-Answer to `ccr`.
pub fn cca(ccr: &MessageRepr, session_id: &str, outcome: Outcome) -> MessageRepr {
    MessageRepr::answer_to(ccr)
        .with(AvpRepr::utf8(avp::SESSION_ID, 0, session_id))
        .with(outcome.avp())
        .with(AvpRepr::utf8(avp::ORIGIN_HOST, 0, "ocs01.ocs.example.org"))
        .with(AvpRepr::utf8(avp::ORIGIN_REALM, 0, "ocs.example.org"))
        .with(AvpRepr::u32(
            avp::AUTH_APPLICATION_ID,
            0,
            app::CREDIT_CONTROL,
        ))
        .with(AvpRepr::u32(avp::CC_REQUEST_TYPE, 0, 1))
        .with(AvpRepr::u32(avp::CC_REQUEST_NUMBER, 0, 0))
}
