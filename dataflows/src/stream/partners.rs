//! The partner stage of a streaming run: subscriptions, consent and global opt-outs as
//! inputs edited while it runs, matched against the moments by
//! [`crate::subscribe::partner_matches`].

use differential_dataflow::input::InputSession;
use landfall_model::Imsi;

use crate::subscribe::{Consent, Subscription};

/// One change to what partners receive, applied at the input's current time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryEdit {
    Subscription(Box<Subscription>),
    Consent(Consent),
    /// The subscriber opted out of everything.
    OptOut(Imsi),
}

/// The partner stage's input sessions (worker 0 feeds them; the others hold empty ones).
pub(super) struct PartnerInputs {
    subscriptions: InputSession<u64, Subscription, isize>,
    consent: InputSession<u64, Consent, isize>,
    opt_out: InputSession<u64, Imsi, isize>,
}

impl PartnerInputs {
    pub(super) fn new(
        subscriptions: InputSession<u64, Subscription, isize>,
        consent: InputSession<u64, Consent, isize>,
        opt_out: InputSession<u64, Imsi, isize>,
    ) -> PartnerInputs {
        PartnerInputs {
            subscriptions,
            consent,
            opt_out,
        }
    }

    pub(super) fn apply(&mut self, edits: Vec<(RegistryEdit, isize)>) {
        for (edit, r) in edits {
            match edit {
                RegistryEdit::Subscription(s) => self.subscriptions.update(*s, r),
                RegistryEdit::Consent(c) => self.consent.update(c, r),
                RegistryEdit::OptOut(i) => self.opt_out.update(i, r),
            }
        }
    }

    pub(super) fn advance_to(&mut self, b: u64) {
        self.subscriptions.advance_to(b);
        self.consent.advance_to(b);
        self.opt_out.advance_to(b);
    }

    pub(super) fn flush(&mut self) {
        self.subscriptions.flush();
        self.consent.flush();
        self.opt_out.flush();
    }
}
