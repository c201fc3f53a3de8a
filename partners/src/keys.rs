//! Secrets: API keys (shown once, stored as a SHA-256 hash under a non-secret prefix,
//! compared in constant time), webhook secrets and the partners' HMAC keys.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The characters of an API key that identify it (`lf_` and 9 of its 43 base64url
/// characters): stored in the clear, for the lookup; the other 34 (≈ 200 bits) are
/// the secret.
pub const KEY_PREFIX_LEN: usize = 12;

/// `n` random bytes from the operating system.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source");
    b
}

/// A new API key: `lf_` + base64url (no padding) of 32 random bytes.
pub fn new_api_key() -> String {
    format!("lf_{}", URL_SAFE_NO_PAD.encode(random::<32>()))
}

/// A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
pub fn new_webhook_secret() -> String {
    format!("whsec_{}", STANDARD.encode(random::<32>()))
}

/// The stored lookup prefix of a key, if it has the form of one.
pub fn key_prefix(key: &str) -> Option<&str> {
    (key.len() == 3 + 43 && key.starts_with("lf_") && key.is_ascii())
        .then(|| &key[..KEY_PREFIX_LEN])
}

/// SHA-256 of the whole key.
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Whether `key` hashes to `stored`, in constant time.
pub fn key_matches(key: &str, stored: &[u8]) -> bool {
    let h = key_hash(key);
    stored.len() == 32 && bool::from(h.as_slice().ct_eq(stored))
}

/// Whether two secrets are equal, in constant time (through their hashes, so the
/// lengths do not leak either).
pub fn secret_eq(given: &str, expected: &str) -> bool {
    bool::from(key_hash(given).ct_eq(&key_hash(expected)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_their_form_and_differ() {
        let a = new_api_key();
        let b = new_api_key();
        assert_ne!(a, b);
        assert_eq!(key_prefix(&a).map(str::len), Some(KEY_PREFIX_LEN));
        assert!(key_matches(&a, &key_hash(&a)));
        assert!(!key_matches(&b, &key_hash(&a)));
        assert_eq!(key_prefix("lf_short"), None);
        let s = new_webhook_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&s[6..]).map(|v| v.len()), Ok(32));
        assert!(secret_eq("x", "x") && !secret_eq("x", "y"));
    }
}
