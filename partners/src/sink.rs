//! Which sink URLs a subscription may use. The service plugs in delivery's SSRF guard
//! (addresses resolved and checked); [`HttpsOnly`] is the syntactic default.

use std::net::IpAddr;

use axum::http::Uri;

/// Decides whether events may be sent to `url`; the error says why not (it is sent to
/// the partner as `sink: <why>`).
pub trait SinkCheck: Send + Sync {
    fn check(&self, url: &str) -> Result<(), String>;
}

impl<F> SinkCheck for F
where
    F: Fn(&str) -> Result<(), String> + Send + Sync,
{
    fn check(&self, url: &str) -> Result<(), String> {
        self(url)
    }
}

/// An absolute `https://` URL with a host and no user information; with
/// `allow_http_loopback`, also `http://` to a loopback address or `localhost` (tests,
/// the operator's explicit setting). Resolves nothing: a hostname's addresses are
/// delivery's SSRF guard's to check.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpsOnly {
    pub allow_http_loopback: bool,
}

impl SinkCheck for HttpsOnly {
    fn check(&self, url: &str) -> Result<(), String> {
        if url.len() > 2048 {
            return Err("longer than 2048 characters".into());
        }
        let uri: Uri = url.parse().map_err(|_| "not an absolute URL".to_string())?;
        let authority = uri
            .authority()
            .ok_or_else(|| "not an absolute URL".to_string())?;
        if authority.as_str().contains('@') {
            return Err("user information in the URL is not allowed".into());
        }
        let host = authority.host();
        if host.is_empty() {
            return Err("no host".into());
        }
        match uri.scheme_str() {
            Some("https") => Ok(()),
            Some("http") if self.allow_http_loopback && is_loopback(host) => Ok(()),
            Some("http") => Err("must be https".into()),
            _ => Err("must be an https URL".into()),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_only_unless_loopback_is_allowed() {
        let strict = HttpsOnly::default();
        let loose = HttpsOnly {
            allow_http_loopback: true,
        };
        assert!(strict.check("https://partner.example.com/hook").is_ok());
        assert!(strict.check("http://127.0.0.1:8080/hook").is_err());
        assert!(loose.check("http://127.0.0.1:8080/hook").is_ok());
        assert!(loose.check("http://[::1]:8080/hook").is_ok());
        assert!(loose.check("http://localhost/hook").is_ok());
        assert!(loose.check("http://10.0.0.1/hook").is_err());
        assert!(strict
            .check("https://user:pw@partner.example.com/")
            .is_err());
        assert!(strict.check("ftp://partner.example.com/").is_err());
        assert!(strict.check("/relative").is_err());
        assert!(strict.check("not a url").is_err());
    }
}
