//! NAS-5GS (TS 24.501) inside an NGAP NAS-PDU, read for the UE's identity only, with
//! oxirush-nas: a SUCI of the null scheme (Registration Request, Identity Response) is
//! the IMSI in clear; a 5G-GUTI or 5G-S-TMSI the UE presents (Registration Request,
//! Service Request, Deregistration Request) is matched to the one the AMF assigned
//! (Registration Accept, Configuration Update Command). A message under integrity
//! protection only (security header type 1 or 3) carries the plain message and is read;
//! a ciphered one (2 or 4) is not, unless the UE's Security Mode Command chose the null
//! cipher 5G-EA0, whose ciphertext is the plain message (TS 33.501 §D.2.1).

use oxirush_nas::nas_5gs::{
    Nas5gmmMessage, Nas5gsMessage, Nas5gsSecurityHeaderType, NasFGsMobileIdentity, Suci,
};

use crate::types::Imsi;

/// A 5G-S-TMSI: AMF Set ID (10 bits), AMF Pointer (6 bits), 5G-TMSI (TS 23.003 §2.11).
/// Within the AMF sets of one network it names a UE as its 5G-GUTI does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct STmsi {
    amf_set_id: u16,
    amf_pointer: u8,
    tmsi: u32,
}

impl STmsi {
    /// `None` for a set id over 10 bits or a pointer over 6.
    pub fn new(amf_set_id: u16, amf_pointer: u8, tmsi: u32) -> Option<STmsi> {
        (amf_set_id < 1 << 10 && amf_pointer < 1 << 6).then_some(STmsi {
            amf_set_id,
            amf_pointer,
            tmsi,
        })
    }

    pub fn amf_set_id(&self) -> u16 {
        self.amf_set_id
    }

    pub fn amf_pointer(&self) -> u8 {
        self.amf_pointer
    }

    pub fn tmsi(&self) -> u32 {
        self.tmsi
    }
}

/// The protection of a NAS message (its security header type, TS 24.501 §9.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protection {
    Plain,
    /// Integrity protected only (types 1 and 3): the plain message is inside.
    Integrity,
    /// Integrity protected and ciphered (types 2 and 4).
    Ciphered,
}

/// What a NAS-PDU says about the UE.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NasFacts {
    pub protection: Option<Protection>,
    /// The 5GMM message type of the plain message, where it could be read.
    pub message_type: Option<u8>,
    /// The IMSI of a SUCI under the null scheme.
    pub imsi: Option<Imsi>,
    /// A SUCI under a protection scheme: the IMSI is concealed.
    pub concealed: bool,
    /// The 5G-GUTI or 5G-S-TMSI the UE presents (as its S-TMSI).
    pub presented: Option<STmsi>,
    /// The 5G-GUTI the AMF assigns (as its S-TMSI).
    pub assigned: Option<STmsi>,
    /// A Security Mode Command: whether its ciphering algorithm is 5G-EA0.
    pub null_cipher: Option<bool>,
    /// A ciphered message read as under 5G-EA0: what it says if the UE's security mode
    /// chose the null cipher, which only the UE's context tells.
    pub if_null_cipher: Option<Box<NasFacts>>,
    /// The octets are not a NAS-5GS message.
    pub undecodable: bool,
}

impl NasFacts {
    /// Read one NAS-PDU; never fails (what cannot be read is marked).
    pub fn parse(octets: &[u8]) -> NasFacts {
        let mut facts = NasFacts::default();
        match Nas5gsMessage::decode(octets) {
            Ok(m) => facts.read(&m, true),
            Err(_) => facts.undecodable = true,
        }
        facts
    }

    fn read(&mut self, m: &Nas5gsMessage, outer: bool) {
        match m {
            Nas5gsMessage::Gmm(_, gmm) => {
                if outer {
                    self.protection = Some(Protection::Plain);
                }
                self.gmm(gmm);
            }
            Nas5gsMessage::Gsm(..) if outer => self.protection = Some(Protection::Plain),
            Nas5gsMessage::SecurityProtected(header, inner) => {
                use Nas5gsSecurityHeaderType as H;
                let ciphered = matches!(
                    header.security_header_type,
                    H::IntegrityProtectedAndCiphered
                        | H::IntegrityProtectedAndCipheredWithNewFiveGNasSecurityContext
                );
                if outer {
                    self.protection = Some(if ciphered {
                        Protection::Ciphered
                    } else {
                        Protection::Integrity
                    });
                }
                match inner.as_ref() {
                    Nas5gsMessage::Opaque(_) if outer => {
                        if let Ok(plain) = m.decode_null_ciphered_payload() {
                            let mut under_ea0 = NasFacts::default();
                            under_ea0.read(&plain, false);
                            self.if_null_cipher = Some(Box::new(under_ea0));
                        }
                    }
                    Nas5gsMessage::Opaque(_) => {}
                    plain if !ciphered => self.read(plain, false),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn gmm(&mut self, gmm: &Nas5gmmMessage) {
        self.message_type = Some(gmm.message_type().as_u8());
        match gmm {
            Nas5gmmMessage::RegistrationRequest(r) => self.identity(&r.fgs_mobile_identity),
            Nas5gmmMessage::IdentityResponse(r) => self.identity(&r.mobile_identity),
            Nas5gmmMessage::ServiceRequest(r) => self.identity(&r.fg_s_tmsi),
            Nas5gmmMessage::DeregistrationRequestUeOriginating(r) => {
                self.identity(&r.fgs_mobile_identity)
            }
            Nas5gmmMessage::RegistrationAccept(r) => {
                self.assigned = r.fg_guti.as_ref().and_then(s_tmsi_of_guti);
            }
            Nas5gmmMessage::ConfigurationUpdateCommand(r) => {
                self.assigned = r.fg_guti.as_ref().and_then(s_tmsi_of_guti);
            }
            Nas5gmmMessage::SecurityModeCommand(r) => {
                self.null_cipher = Some(r.selected_nas_security_algorithms.ciphering_raw() == 0);
            }
            _ => {}
        }
    }

    /// A 5GS mobile identity the UE sends: SUCI, 5G-GUTI or 5G-S-TMSI.
    fn identity(&mut self, id: &NasFGsMobileIdentity) {
        if let Some(suci) = id.as_suci() {
            match suci {
                Suci::Imsi(s) => match s.imsi() {
                    Some(i) => self.imsi = Imsi::parse(&i.to_string()).ok(),
                    None => self.concealed = true,
                },
                Suci::Nai(_) => self.concealed = true,
            }
        } else if let Some(g) = id.as_guti() {
            self.presented = STmsi::new(g.amf_set_id(), g.amf_pointer(), g.tmsi());
        } else if let Some(t) = id.as_s_tmsi() {
            self.presented = STmsi::new(t.amf_set_id(), t.amf_pointer(), t.tmsi());
        }
    }
}

fn s_tmsi_of_guti(id: &NasFGsMobileIdentity) -> Option<STmsi> {
    let g = id.as_guti()?;
    STmsi::new(g.amf_set_id(), g.amf_pointer(), g.tmsi())
}
