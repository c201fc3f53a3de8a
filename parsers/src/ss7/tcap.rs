//! TCAP (ITU-T Q.773): transaction messages (Begin, Continue, End, Abort, Unidirectional),
//! transaction ids, the dialogue portion with its application-context name, and the
//! components (invoke, returnResult(Last), returnError, reject) that carry MAP operations.

use crate::error::{DecodeError, Layer};
use crate::ss7::ber::{self, Class, Tlv};

const L: Layer = Layer::Tcap;

/// The application-context names of GSM MAP all sit under this OID arc (0.4.0.0.1).
const MAP_AC_PREFIX: [u8; 4] = [0x04, 0x00, 0x00, 0x01];

fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(L, reason, offset)
}

/// The transaction message type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcapKind {
    Unidirectional,
    Begin,
    End,
    Continue,
    Abort,
}

impl TcapKind {
    fn from_tag(tag: u32) -> Option<TcapKind> {
        Some(match tag {
            1 => TcapKind::Unidirectional,
            2 => TcapKind::Begin,
            4 => TcapKind::End,
            5 => TcapKind::Continue,
            7 => TcapKind::Abort,
            _ => return None,
        })
    }

    fn tag(self) -> u32 {
        match self {
            TcapKind::Unidirectional => 1,
            TcapKind::Begin => 2,
            TcapKind::End => 4,
            TcapKind::Continue => 5,
            TcapKind::Abort => 7,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TcapKind::Unidirectional => "unidirectional",
            TcapKind::Begin => "begin",
            TcapKind::End => "end",
            TcapKind::Continue => "continue",
            TcapKind::Abort => "abort",
        }
    }
}

/// The dialogue PDU of a dialogue portion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialoguePdu {
    /// AARQ (dialogue request) or AUDT (unidirectional).
    Request,
    /// AARE (dialogue response).
    Response,
    /// ABRT (dialogue abort).
    Abort,
}

/// The dialogue portion: which PDU, and the application-context name it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialogue<'a> {
    pub pdu: DialoguePdu,
    /// Contents octets of the application-context-name OBJECT IDENTIFIER.
    pub application_context: Option<&'a [u8]>,
    /// AARE result: 0 accepted, 1 reject-permanent.
    pub result: Option<i64>,
}

impl Dialogue<'_> {
    /// Is the application context a GSM MAP one (0.4.0.0.1.…)?
    pub fn is_map(&self) -> Option<bool> {
        self.application_context
            .map(|oid| oid.starts_with(&MAP_AC_PREFIX))
    }

    /// (application context, version) of a MAP context: 0.4.0.0.1.0.<ac>.<version>.
    pub fn map_context(&self) -> Option<(u8, u8)> {
        match self.application_context? {
            [0x04, 0x00, 0x00, 0x01, 0x00, ac, v] if *ac < 0x80 => Some((*ac, *v)),
            _ => None,
        }
    }

    /// The application context in dotted form, e.g. "0.4.0.0.1.0.1.3".
    pub fn context_string(&self) -> Option<String> {
        let oid = asn1_rs::Oid::new(std::borrow::Cow::Borrowed(self.application_context?));
        Some(oid.to_id_string())
    }
}

/// An operation or error code: local (INTEGER) or global (OBJECT IDENTIFIER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code<'a> {
    Local(i64),
    Global(&'a [u8]),
}

impl Code<'_> {
    pub fn local(&self) -> Option<i64> {
        match self {
            Code::Local(v) => Some(*v),
            Code::Global(_) => None,
        }
    }
}

/// The component type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    Invoke,
    ReturnResultLast,
    ReturnError,
    Reject,
    /// returnResultNotLast (tag 7).
    ReturnResult,
}

impl ComponentKind {
    fn from_tag(tag: u32) -> Option<ComponentKind> {
        Some(match tag {
            1 => ComponentKind::Invoke,
            2 => ComponentKind::ReturnResultLast,
            3 => ComponentKind::ReturnError,
            4 => ComponentKind::Reject,
            7 => ComponentKind::ReturnResult,
            _ => return None,
        })
    }

    fn tag(self) -> u32 {
        match self {
            ComponentKind::Invoke => 1,
            ComponentKind::ReturnResultLast => 2,
            ComponentKind::ReturnError => 3,
            ComponentKind::Reject => 4,
            ComponentKind::ReturnResult => 7,
        }
    }

    /// The name the conformance oracle uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Invoke => "invoke",
            ComponentKind::ReturnResultLast => "returnResultLast",
            ComponentKind::ReturnError => "returnError",
            ComponentKind::Reject => "reject",
            ComponentKind::ReturnResult => "returnResult",
        }
    }
}

/// One component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component<'a> {
    pub kind: ComponentKind,
    pub invoke_id: Option<i64>,
    pub linked_id: Option<i64>,
    /// The operation of an invoke, or of the result of a returnResult(Last).
    pub opcode: Option<Code<'a>>,
    /// The error of a returnError.
    pub error: Option<Code<'a>>,
    /// The parameter element, as is (its type depends on the operation).
    pub parameter: Option<Tlv<'a>>,
}

fn code<'a>(t: &Tlv<'a>) -> Option<Code<'a>> {
    if t.is_universal(2) {
        t.integer().map(Code::Local)
    } else if t.is_universal(6) {
        Some(Code::Global(t.value))
    } else {
        None
    }
}

impl<'a> Component<'a> {
    /// Parse one component element (`[1]`…`[7]` constructed).
    pub fn parse(t: &Tlv<'a>) -> Result<Component<'a>, DecodeError> {
        let kind = ComponentKind::from_tag(t.tag)
            .filter(|_| t.class == Class::ContextSpecific && t.constructed)
            .ok_or(err("unknown component type", 0))?;
        let mut c = Component {
            kind,
            invoke_id: None,
            linked_id: None,
            opcode: None,
            error: None,
            parameter: None,
        };
        let mut kids = t.children(L);
        let first = kids.next().ok_or(err("component without invoke id", 0))??;
        c.invoke_id = first.integer().filter(|_| first.is_universal(2));
        for kid in kids {
            let kid = kid?;
            match kind {
                ComponentKind::Invoke => {
                    if kid.is_context(0) && c.opcode.is_none() {
                        c.linked_id = kid.integer();
                    } else if c.opcode.is_none() {
                        c.opcode = Some(code(&kid).ok_or(err("invoke without operation code", 0))?);
                    } else if c.parameter.is_none() {
                        c.parameter = Some(kid);
                    }
                }
                ComponentKind::ReturnResultLast | ComponentKind::ReturnResult => {
                    // The optional result: SEQUENCE { opcode, parameter }.
                    if kid.is_universal(16) && c.opcode.is_none() {
                        let mut inner = kid.children(L);
                        if let Some(op) = inner.next() {
                            c.opcode =
                                Some(code(&op?).ok_or(err("result without operation code", 0))?);
                        }
                        if let Some(p) = inner.next() {
                            c.parameter = Some(p?);
                        }
                    }
                }
                ComponentKind::ReturnError => {
                    if c.error.is_none() {
                        c.error = Some(code(&kid).ok_or(err("returnError without error code", 0))?);
                    } else if c.parameter.is_none() {
                        c.parameter = Some(kid);
                    }
                }
                ComponentKind::Reject => {
                    if c.parameter.is_none() {
                        // The problem: [0]..[3] IMPLICIT INTEGER, kept as the parameter.
                        c.parameter = Some(kid);
                    }
                }
            }
        }
        if kind == ComponentKind::Invoke && c.opcode.is_none() {
            return Err(err("invoke without operation code", 0));
        }
        if kind == ComponentKind::ReturnError && c.error.is_none() {
            return Err(err("returnError without error code", 0));
        }
        Ok(c)
    }
}

/// A view of one TCAP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcapMessage<'a> {
    pub kind: TcapKind,
    pub otid: Option<&'a [u8]>,
    pub dtid: Option<&'a [u8]>,
    pub dialogue: Option<Dialogue<'a>>,
    /// P-abort cause of an Abort without a dialogue portion.
    pub abort_cause: Option<i64>,
    /// The component portion's contents.
    components: &'a [u8],
}

fn parse_dialogue<'a>(portion: &Tlv<'a>) -> Result<Dialogue<'a>, DecodeError> {
    // [APPLICATION 11] { EXTERNAL { direct-reference OID, [0] { DialoguePDU } } }
    let external = portion
        .children(L)
        .next()
        .ok_or(err("empty dialogue portion", 0))??;
    let single = external
        .children(L)
        .filter_map(Result::ok)
        .find(|t| t.is_context(0))
        .ok_or(err("dialogue portion without single-ASN1-type", 0))?;
    let pdu_tlv = single
        .children(L)
        .next()
        .ok_or(err("dialogue portion without dialogue PDU", 0))??;
    let pdu = match (pdu_tlv.class, pdu_tlv.tag) {
        (Class::Application, 0) => DialoguePdu::Request,
        (Class::Application, 1) => DialoguePdu::Response,
        (Class::Application, 4) => DialoguePdu::Abort,
        _ => return Err(err("unknown dialogue PDU", 0)),
    };
    let mut d = Dialogue {
        pdu,
        application_context: None,
        result: None,
    };
    for kid in pdu_tlv.children(L) {
        let kid = kid?;
        if kid.is_context(1) {
            let oid = kid.children(L).next().transpose()?;
            d.application_context = oid.filter(|o| o.is_universal(6)).map(|o| o.value);
        } else if kid.is_context(2) && pdu == DialoguePdu::Response {
            d.result = kid
                .children(L)
                .next()
                .transpose()?
                .and_then(|r| r.integer());
        }
    }
    Ok(d)
}

impl<'a> TcapMessage<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<TcapMessage<'a>, DecodeError> {
        let (top, _) = Tlv::parse(buf, L)?;
        let kind = TcapKind::from_tag(top.tag)
            .filter(|_| top.class == Class::Application && top.constructed)
            .ok_or(err("not a TCAP message (unknown message type)", 0))?;
        let mut m = TcapMessage {
            kind,
            otid: None,
            dtid: None,
            dialogue: None,
            abort_cause: None,
            components: &[],
        };
        for kid in top.children(L) {
            let kid = kid?;
            match (kid.class, kid.tag) {
                (Class::Application, 8) => m.otid = Some(kid.value),
                (Class::Application, 9) => m.dtid = Some(kid.value),
                (Class::Application, 10) => m.abort_cause = kid.integer(),
                (Class::Application, 11) => m.dialogue = Some(parse_dialogue(&kid)?),
                (Class::Application, 12) => m.components = kid.value,
                _ => {}
            }
        }
        let tid_ok = |t: Option<&[u8]>| t.is_none_or(|t| (1..=4).contains(&t.len()));
        if !tid_ok(m.otid) || !tid_ok(m.dtid) {
            return Err(err("transaction id not 1-4 octets", 0));
        }
        match kind {
            TcapKind::Begin if m.otid.is_none() => Err(err("Begin without otid", 0)),
            TcapKind::Continue if m.otid.is_none() || m.dtid.is_none() => {
                Err(err("Continue without both transaction ids", 0))
            }
            TcapKind::End | TcapKind::Abort if m.dtid.is_none() => {
                Err(err("End/Abort without dtid", 0))
            }
            _ => Ok(m),
        }
    }

    /// The components, in order; a malformed one is an error item and ends the list.
    pub fn components(&self) -> impl Iterator<Item = Result<Component<'a>, DecodeError>> + 'a {
        let mut failed = false;
        ber::elements(self.components, L).map_while(move |t| {
            if failed {
                return None;
            }
            let r = t.and_then(|t| Component::parse(&t));
            failed = r.is_err();
            Some(r)
        })
    }

    /// A transaction id as the oracle prints it: lowercase hex.
    pub fn tid_hex(tid: &[u8]) -> String {
        tid.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// An owned component for building messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRepr {
    pub kind: ComponentKind,
    pub invoke_id: i64,
    /// Local operation code (invoke, returnResult) or error code (returnError).
    pub code: Option<i64>,
    /// The parameter element, already BER-encoded.
    pub parameter: Option<Vec<u8>>,
}

impl ComponentRepr {
    pub fn emit(&self) -> Vec<u8> {
        let mut body = ber::integer(self.invoke_id);
        match self.kind {
            ComponentKind::ReturnResultLast | ComponentKind::ReturnResult => {
                if let Some(op) = self.code {
                    let mut inner = ber::integer(op);
                    inner.extend_from_slice(self.parameter.as_deref().unwrap_or_default());
                    body.extend_from_slice(&ber::sequence(&inner));
                }
            }
            _ => {
                if let Some(c) = self.code {
                    body.extend_from_slice(&ber::integer(c));
                }
                body.extend_from_slice(self.parameter.as_deref().unwrap_or_default());
            }
        }
        ber::context_cons(self.kind.tag(), &body)
    }
}

/// An owned TCAP message; `emit` writes it, [`TcapMessage::parse`] reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcapRepr {
    pub kind: TcapKind,
    pub otid: Option<Vec<u8>>,
    pub dtid: Option<Vec<u8>>,
    /// (PDU, application-context OID contents) for a dialogue portion.
    pub dialogue: Option<(DialoguePdu, Vec<u8>)>,
    pub components: Vec<ComponentRepr>,
}

/// The OID contents of MAP application context `ac`, version `v` (0.4.0.0.1.0.ac.v).
pub fn map_context(ac: u8, v: u8) -> Vec<u8> {
    vec![0x04, 0x00, 0x00, 0x01, 0x00, ac, v]
}

/// dialogue-as-id: 0.0.17.773.1.1.1.
const DIALOGUE_AS_ID: [u8; 7] = [0x00, 0x11, 0x86, 0x05, 0x01, 0x01, 0x01];

impl TcapRepr {
    pub fn emit(&self) -> Vec<u8> {
        let app = |tag, content: &[u8]| ber::write(Class::Application, false, tag, content);
        let mut body = Vec::new();
        if let Some(t) = &self.otid {
            body.extend_from_slice(&app(8, t));
        }
        if let Some(t) = &self.dtid {
            body.extend_from_slice(&app(9, t));
        }
        if let Some((pdu, acn)) = &self.dialogue {
            let oid = ber::write(Class::Universal, false, 6, acn);
            let version = ber::context(0, &[0x07, 0x80]);
            let inner = match pdu {
                DialoguePdu::Request => {
                    let c = [version, ber::context_cons(1, &oid)].concat();
                    ber::write(Class::Application, true, 0, &c)
                }
                DialoguePdu::Response => {
                    let result = ber::context_cons(2, &ber::integer(0));
                    let diag = ber::context_cons(3, &ber::context_cons(1, &ber::integer(0)));
                    let c = [version, ber::context_cons(1, &oid), result, diag].concat();
                    ber::write(Class::Application, true, 1, &c)
                }
                DialoguePdu::Abort => {
                    ber::write(Class::Application, true, 4, &ber::context(0, &[0]))
                }
            };
            let external = [
                ber::write(Class::Universal, false, 6, &DIALOGUE_AS_ID),
                ber::context_cons(0, &inner),
            ]
            .concat();
            let external = ber::write(Class::Universal, true, 8, &external);
            body.extend_from_slice(&ber::write(Class::Application, true, 11, &external));
        }
        if !self.components.is_empty() {
            let comps: Vec<u8> = self.components.iter().flat_map(|c| c.emit()).collect();
            body.extend_from_slice(&ber::write(Class::Application, true, 12, &comps));
        }
        ber::write(Class::Application, true, self.kind.tag(), &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn begin_with_dialogue_and_invoke_round_trips() {
        let param = ber::sequence(&ber::octet_string(&[0x21, 0x43]));
        let repr = TcapRepr {
            kind: TcapKind::Begin,
            otid: Some(vec![0x2c, 0x5b, 0x00, 0x1c]),
            dtid: None,
            dialogue: Some((DialoguePdu::Request, map_context(1, 3))),
            components: vec![ComponentRepr {
                kind: ComponentKind::Invoke,
                invoke_id: 1,
                code: Some(2),
                parameter: Some(param.clone()),
            }],
        };
        let wire = repr.emit();
        let m = TcapMessage::parse(&wire).unwrap();
        assert_eq!(m.kind, TcapKind::Begin);
        assert_eq!(TcapMessage::tid_hex(m.otid.unwrap()), "2c5b001c");
        let d = m.dialogue.unwrap();
        assert_eq!(d.pdu, DialoguePdu::Request);
        assert_eq!(d.is_map(), Some(true));
        assert_eq!(d.map_context(), Some((1, 3)));
        assert_eq!(d.context_string().unwrap(), "0.4.0.0.1.0.1.3");
        let c: Vec<_> = m.components().collect::<Result<_, _>>().unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, ComponentKind::Invoke);
        assert_eq!(c[0].opcode, Some(Code::Local(2)));
        assert_eq!(c[0].parameter.unwrap().raw, &param[..]);
    }

    #[test]
    fn end_with_result_and_error() {
        let repr = TcapRepr {
            kind: TcapKind::End,
            otid: None,
            dtid: Some(vec![1, 2, 3, 4]),
            dialogue: Some((DialoguePdu::Response, map_context(1, 3))),
            components: vec![
                ComponentRepr {
                    kind: ComponentKind::ReturnResultLast,
                    invoke_id: 1,
                    code: None,
                    parameter: None,
                },
                ComponentRepr {
                    kind: ComponentKind::ReturnResultLast,
                    invoke_id: 2,
                    code: Some(2),
                    parameter: Some(ber::sequence(&ber::octet_string(b"\x91\x44"))),
                },
                ComponentRepr {
                    kind: ComponentKind::ReturnError,
                    invoke_id: 3,
                    code: Some(8),
                    parameter: None,
                },
            ],
        };
        let wire = repr.emit();
        let m = TcapMessage::parse(&wire).unwrap();
        assert_eq!(m.dialogue.unwrap().result, Some(0));
        let c: Vec<_> = m.components().collect::<Result<_, _>>().unwrap();
        assert_eq!(c[0].opcode, None);
        assert_eq!(c[1].opcode, Some(Code::Local(2)));
        assert!(c[1].parameter.is_some());
        assert_eq!(c[2].error, Some(Code::Local(8)));
    }

    #[test]
    fn non_map_context_is_recognised() {
        let repr = TcapRepr {
            kind: TcapKind::Begin,
            otid: Some(vec![9]),
            dtid: None,
            dialogue: Some((
                DialoguePdu::Request,
                vec![0x2a, 0x86, 0x3a, 0x00, 0x89, 0x61, 0x33],
            )),
            components: vec![],
        };
        let wire = repr.emit();
        let m = TcapMessage::parse(&wire).unwrap();
        assert_eq!(m.dialogue.unwrap().is_map(), Some(false));
    }

    #[test]
    fn missing_transaction_ids_are_errors() {
        let end = TcapRepr {
            kind: TcapKind::End,
            otid: None,
            dtid: None,
            dialogue: None,
            components: vec![],
        };
        assert!(TcapMessage::parse(&end.emit()).is_err());
        assert!(TcapMessage::parse(&[0x30, 0x00]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..96)) {
            if let Ok(m) = TcapMessage::parse(&data) {
                let _ = m.components().count();
                if let Some(d) = m.dialogue { let _ = d.context_string(); }
            }
        }
    }
}
