//! Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the
//! partner's `whsec_<base64>` secret, so partners verify our webhooks with any Standard
//! Webhooks library.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of a webhook secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";

/// A partner's webhook secret (the key bytes; text form `whsec_<base64>`).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// A secret that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a webhook secret starts with whsec_")]
    Prefix,
    #[error("a webhook secret is whsec_ and base64")]
    Base64,
    #[error("a webhook secret has 24 to 64 bytes of key")]
    Length,
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

impl WebhookSecret {
    /// A new random secret of 32 bytes from the operating system's generator.
    pub fn generate() -> Result<WebhookSecret, SecretError> {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(WebhookSecret(key))
    }

    /// Parse `whsec_<base64>` (24–64 bytes of key).
    pub fn parse(text: &str) -> Result<WebhookSecret, SecretError> {
        let b64 = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(b64).map_err(|_| SecretError::Base64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length);
        }
        Ok(WebhookSecret(key))
    }

    /// The text form `whsec_<base64>`, what the partner is given.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
    pub fn signature(&self, id: &str, timestamp_s: i64, body: &[u8]) -> String {
        // HMAC accepts any key length; parse and generate keep it at 24–64 bytes.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_s.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The three headers of a webhook carrying `body` as event `id`, sent at `timestamp_s`.
    pub fn headers(&self, id: &str, timestamp_s: i64, body: &[u8]) -> WebhookHeaders {
        WebhookHeaders {
            id: id.to_owned(),
            timestamp: timestamp_s.to_string(),
            signature: self.signature(id, timestamp_s, body),
        }
    }
}

/// The Standard Webhooks headers' values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookHeaders {
    /// `webhook-id`
    pub id: String,
    /// `webhook-timestamp` (unix seconds)
    pub timestamp: String,
    /// `webhook-signature`
    pub signature: String,
}

impl WebhookHeaders {
    pub const ID: &'static str = "webhook-id";
    pub const TIMESTAMP: &'static str = "webhook-timestamp";
    pub const SIGNATURE: &'static str = "webhook-signature";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(secret: &WebhookSecret, h: &WebhookHeaders, body: &[u8]) -> bool {
        let wh = standardwebhooks::Webhook::new(&secret.to_text()).unwrap();
        let mut map = axum::http::HeaderMap::new();
        map.insert(WebhookHeaders::ID, h.id.parse().unwrap());
        map.insert(WebhookHeaders::TIMESTAMP, h.timestamp.parse().unwrap());
        map.insert(WebhookHeaders::SIGNATURE, h.signature.parse().unwrap());
        wh.verify(body, &map).is_ok()
    }

    #[test]
    fn standardwebhooks_verifies_and_tampering_fails() {
        let secret = WebhookSecret::generate().unwrap();
        let text = secret.to_text();
        assert!(text.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&text).unwrap(), secret);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let body = br#"{"specversion":"1.0","id":"abc"}"#;
        let h = secret.headers("abc", now, body);
        assert!(verify(&secret, &h, body));
        // A changed body, id, timestamp or key fails.
        assert!(!verify(&secret, &h, br#"{"specversion":"1.0","id":"abd"}"#));
        let mut other_id = h.clone();
        other_id.id = "abd".into();
        assert!(!verify(&secret, &other_id, body));
        let mut other_ts = h.clone();
        other_ts.timestamp = (now - 1).to_string();
        assert!(!verify(&secret, &other_ts, body));
        assert!(!verify(&WebhookSecret::generate().unwrap(), &h, body));
    }

    #[test]
    fn known_vector_and_bad_secrets() {
        // The Standard Webhooks specification's example.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Prefix)
        );
        assert_eq!(WebhookSecret::parse("whsec_!!!"), Err(SecretError::Base64));
        assert_eq!(WebhookSecret::parse("whsec_AAAA"), Err(SecretError::Length));
        assert!(format!("{secret:?}").find("MfKQ").is_none());
    }
}
