//! SSRF protection: a partner's sink must not make the operator's network call itself.
//!
//! A sink URL is https (plain http only to loopback, and only when the operator allows
//! loopback sinks), and its host must not be, or resolve to, a loopback, private,
//! link-local, CGNAT, unspecified, multicast, broadcast, documentation or cloud metadata
//! address (IPv4-mapped IPv6 forms included), unless the operator allowed that class.
//! Checked twice: when a subscription is made ([`check_sink`]), and on every connection
//! ([`GuardedResolver`], the HTTP client's resolver, so DNS rebinding after the check
//! does not help; IP-literal URLs are checked with [`check_sink_url`] before each send,
//! since the client resolves no name for them). The dispatcher follows no redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// What the operator allows beyond public https sinks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuardConfig {
    /// Loopback sinks (127.0.0.0/8, ::1, names resolving there), over http or https.
    /// For tests and same-host receivers.
    pub allow_http_loopback: bool,
    /// Private (RFC 1918, ULA fc00::/7), link-local and CGNAT (100.64/10) sinks, https
    /// only. Never the metadata addresses, unspecified, multicast or broadcast.
    pub allow_private_sinks: bool,
}

/// Why a sink was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SinkRefused {
    #[error("the sink is not a URL")]
    NotAUrl,
    #[error("the sink must use https (plain http only to an allowed loopback sink)")]
    Scheme,
    #[error("the sink URL must not carry user information")]
    UserInfo,
    #[error("the sink has no host")]
    NoHost,
    #[error("the sink's address {0} is {1}")]
    Address(IpAddr, &'static str),
    #[error("the sink's host does not resolve")]
    Unresolved,
}

/// The class of an address that is not a public unicast address, if it is one.
/// IPv4-mapped and IPv4-compatible IPv6 addresses are classed as their IPv4 address.
pub fn address_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_class(v4);
            }
            v6_class(v6)
        }
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [169, 254, 169, 254] => "a cloud metadata address",
        _ if ip.is_unspecified() || o[0] == 0 => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        [100, b, ..] if (64..128).contains(&b) => "shared (CGNAT)",
        _ if ip.is_multicast() || o[0] >= 240 => "multicast or reserved",
        _ if ip.is_broadcast() => "broadcast",
        [192, 0, 0, _] => "reserved (IETF protocol assignments)",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, 18 | 19, ..] => "benchmarking",
        _ => return None,
    })
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s {
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] => "a cloud metadata address",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_multicast() => "multicast",
        _ if s[0] & 0xfe00 == 0xfc00 => "private (unique local)",
        _ if s[0] & 0xffc0 == 0xfe80 => "link-local",
        _ if s[0] & 0xffc0 == 0xfec0 => "site-local",
        // IPv4-compatible (deprecated) ::a.b.c.d and NAT64 64:ff9b::/96: the embedded
        // IPv4 address decides.
        [0, 0, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            let v4 = Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
            return v4_class(v4);
        }
        [0x2001, 0xdb8, ..] => "documentation",
        _ => return None,
    })
}

/// Whether the operator's settings allow connecting to `ip`.
pub fn address_allowed(ip: IpAddr, cfg: &GuardConfig) -> Result<(), SinkRefused> {
    match address_class(ip) {
        None => Ok(()),
        Some("loopback") if cfg.allow_http_loopback => Ok(()),
        Some(
            c @ ("private"
            | "private (unique local)"
            | "link-local"
            | "shared (CGNAT)"
            | "site-local"),
        ) => {
            if cfg.allow_private_sinks {
                Ok(())
            } else {
                Err(SinkRefused::Address(ip, c))
            }
        }
        Some(c) => Err(SinkRefused::Address(ip, c)),
    }
}

/// A URL's host: an IP literal or a domain name.
enum Host<'a> {
    Ip(IpAddr),
    Domain(&'a str),
}

fn host_of(url: &Url) -> Option<Host<'_>> {
    let h = url.host_str()?;
    if h.is_empty() {
        return None;
    }
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    Some(match bare.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Domain(h),
    })
}

fn is_loopback_host(url: &Url) -> bool {
    match host_of(url) {
        Some(Host::Ip(ip)) => address_class(ip) == Some("loopback"),
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
}

/// The checks that need no name resolution: scheme, no user information, a host, and
/// an IP-literal host's address. Returns the parsed URL.
pub fn check_sink_url(sink: &str, cfg: &GuardConfig) -> Result<Url, SinkRefused> {
    let url = Url::parse(sink).map_err(|_| SinkRefused::NotAUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if cfg.allow_http_loopback && is_loopback_host(&url) => {}
        _ => return Err(SinkRefused::Scheme),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SinkRefused::UserInfo);
    }
    match host_of(&url) {
        None => return Err(SinkRefused::NoHost),
        Some(Host::Ip(ip)) => address_allowed(ip, cfg)?,
        Some(Host::Domain(_)) => {}
    }
    Ok(url)
}

/// The subscription-time check: [`check_sink_url`], then every address the host resolves
/// to must be allowed (a name with one private address among public ones is refused:
/// the client could pick it).
pub async fn check_sink(sink: &str, cfg: &GuardConfig) -> Result<(), SinkRefused> {
    let url = check_sink_url(sink, cfg)?;
    if let Some(Host::Domain(d)) = host_of(&url) {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((d, port))
            .await
            .map_err(|_| SinkRefused::Unresolved)?
            .collect();
        if addrs.is_empty() {
            return Err(SinkRefused::Unresolved);
        }
        for a in addrs {
            address_allowed(a.ip(), cfg)?;
        }
    }
    Ok(())
}

/// [`check_sink`] for callers outside an async context (resolves with the blocking
/// system resolver).
pub fn check_sink_blocking(sink: &str, cfg: &GuardConfig) -> Result<(), SinkRefused> {
    use std::net::ToSocketAddrs;
    let url = check_sink_url(sink, cfg)?;
    if let Some(Host::Domain(d)) = host_of(&url) {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = (d, port)
            .to_socket_addrs()
            .map_err(|_| SinkRefused::Unresolved)?
            .collect();
        if addrs.is_empty() {
            return Err(SinkRefused::Unresolved);
        }
        for a in addrs {
            address_allowed(a.ip(), cfg)?;
        }
    }
    Ok(())
}

/// The HTTP client's DNS resolver: the system resolver, with every address the settings
/// refuse removed; none left is an error naming the refusal (the request fails before
/// any connection).
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    cfg: GuardConfig,
}

impl GuardedResolver {
    pub fn new(cfg: GuardConfig) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { cfg })
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let cfg = self.cfg;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| match address_allowed(a.ip(), &cfg) {
                    Ok(()) => true,
                    Err(e) => {
                        refusal.get_or_insert(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let e = refusal.unwrap_or(SinkRefused::Unresolved);
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str, cfg: &GuardConfig) -> bool {
        check_sink_url(url, cfg).is_err()
    }

    #[test]
    fn classes() {
        let none = GuardConfig::default();
        for bad in [
            "http://example.com/hook",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://127.0.0.1/",
            "https://127.1.2.3:8443/",
            "https://[::1]/",
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://169.254.1.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://[fc00::1]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[::ffff:10.1.2.3]/",
            "https://[64:ff9b::a00:1]/",
            "https://[::]/",
            "https://[ff02::1]/",
            "not a url",
        ] {
            assert!(refused(bad, &none), "{bad} accepted");
        }
        for good in [
            "https://example.com/hook",
            "https://93.184.216.34/x",
            "https://[2606:4700::1111]/",
        ] {
            assert!(!refused(good, &none), "{good} refused");
        }
        let lo = GuardConfig {
            allow_http_loopback: true,
            ..GuardConfig::default()
        };
        assert!(!refused("http://127.0.0.1:8080/", &lo));
        assert!(!refused("http://localhost:8080/", &lo));
        assert!(!refused("https://[::1]/", &lo));
        assert!(refused("http://example.com/", &lo), "http beyond loopback");
        assert!(refused("https://10.0.0.1/", &lo));
        let private = GuardConfig {
            allow_private_sinks: true,
            ..GuardConfig::default()
        };
        assert!(!refused("https://10.0.0.1/", &private));
        assert!(!refused("https://[fd12::1]/", &private));
        assert!(!refused("https://100.100.1.1/", &private));
        assert!(refused("http://10.0.0.1/", &private), "http to private");
        assert!(
            refused("https://127.0.0.1/", &private),
            "loopback is its own setting"
        );
        assert!(
            refused("https://169.254.169.254/", &private),
            "metadata never"
        );
        assert!(
            refused("https://[fd00:ec2::254]/", &private),
            "metadata never"
        );
        assert_eq!(
            check_sink_url("https://169.254.169.254/", &private),
            Err(SinkRefused::Address(
                "169.254.169.254".parse().unwrap(),
                "a cloud metadata address"
            ))
        );
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let none = GuardConfig::default();
        // localhost resolves to loopback: refused by address even over https.
        assert!(matches!(
            check_sink("https://localhost:9/", &none).await,
            Err(SinkRefused::Address(_, "loopback"))
        ));
        let lo = GuardConfig {
            allow_http_loopback: true,
            ..GuardConfig::default()
        };
        assert_eq!(check_sink("http://localhost:9/", &lo).await, Ok(()));
        assert!(matches!(
            check_sink_blocking("https://localhost:9/", &none),
            Err(SinkRefused::Address(_, "loopback"))
        ));
        assert_eq!(check_sink_blocking("http://localhost:9/", &lo), Ok(()));
        assert_eq!(
            check_sink("https://no-such-host.invalid/", &none).await,
            Err(SinkRefused::Unresolved)
        );
        // The resolver filters the same way.
        let r = GuardedResolver::new(none);
        let name: Name = "localhost".parse().unwrap();
        let err = r.resolve(name).await.err().expect("refused");
        assert!(err.to_string().contains("loopback"), "{err}");
        let r = GuardedResolver::new(lo);
        let addrs: Vec<_> = r
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
