//! The one way model back-ends reach the network: "every fetch of a URL that
//! came from outside goes through one client that refuses private addresses
//! and caps bodies".
//!
//! An [`Outbound`] is built per model from its `base_url` and allow-list of
//! output hosts, and it:
//! - connects only to public addresses: a DNS resolver drops loopback,
//!   private (RFC 1918), shared (100.64/10), link-local (169.254/16,
//!   fe80::/10), unique-local (fc00::/7), unspecified, multicast,
//!   documentation and reserved addresses, also in their IPv4-mapped and
//!   NAT64 forms; hosts written as IP literals (which skip the resolver) are
//!   checked the same way before each request;
//! - follows no redirects (a `3xx` is an answer, never a second request);
//! - speaks https only, except to a model whose `base_url` is itself on
//!   loopback (the project's model server in tests and demos): that model,
//!   and only it, may use `http://` and loopback addresses, never other
//!   private ones;
//! - takes no proxy from the environment (a proxy would resolve names
//!   itself, out of the resolver's sight);
//! - fetches outputs only from the model's output hosts (by default the
//!   `base_url`'s host);
//! - reads every answer chunk by chunk and stops past a cap.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::error_chain;

/// Why a model's outbound settings are refused (a configuration error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutboundError {
    #[error("base_url {0:?} has no host")]
    NoHost(String),
    #[error(
        "base_url {0:?} must use https:// (http:// only for a server on this machine, such as 127.0.0.1)"
    )]
    Insecure(String),
    #[error("base_url {0:?} is a private or reserved address; model providers must be public (or on loopback)")]
    PrivateBase(String),
    #[error("output host {0:?} is not a host name (write example.com, *.example.com, 203.0.113.7 or [2001:db8::1])")]
    BadOutputHost(String),
    #[error("the HTTP client cannot start: {0}")]
    Client(String),
}

/// Why one fetch failed; `message` is for operators' logs (never shown to
/// the person who asked for the image).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// Whether trying again later may work (network trouble, 5xx); refusals
    /// by policy and oversized answers are permanent.
    pub retryable: bool,
    pub message: String,
}

impl FetchError {
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
        }
    }
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            message: message.into(),
        }
    }
}

/// One entry of a model's output-host allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// This host exactly (`cdn.example`, `203.0.113.7`, `[2001:db8::1]`).
    Exact(String),
    /// Any subdomain of this domain (`*.cdn.example`), not the domain itself.
    Subdomains(String),
}

impl HostPattern {
    fn parse(entry: &str) -> Result<Self, OutboundError> {
        let bad = || OutboundError::BadOutputHost(entry.to_owned());
        let trimmed = entry.trim();
        if let Some(domain) = trimmed.strip_prefix("*.") {
            match url::Host::parse(domain).map_err(|_| bad())? {
                url::Host::Domain(d) if !d.is_empty() => Ok(Self::Subdomains(d)),
                _ => Err(bad()),
            }
        } else {
            if trimmed.is_empty() || trimmed.contains(['/', ':', '@']) && !trimmed.starts_with('[')
            {
                return Err(bad());
            }
            Ok(Self::Exact(
                url::Host::parse(trimmed).map_err(|_| bad())?.to_string(),
            ))
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(h) => h == host,
            Self::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
        }
    }
}

/// The outbound HTTP client of one model (cheap to clone).
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_loopback: bool,
    output_hosts: Arc<[HostPattern]>,
    max_image_bytes: usize,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_loopback", &self.allow_loopback)
            .field("output_hosts", &self.output_hosts)
            .field("max_image_bytes", &self.max_image_bytes)
            .finish_non_exhaustive()
    }
}

/// Checks a model's `base_url` the way [`Outbound::for_model`] does
/// (for configuration validation).
pub fn check_base_url(base_url: &url::Url) -> Result<(), OutboundError> {
    base_policy(base_url).map(|_| ())
}

/// Checks a list of output hosts the way [`Outbound::for_model`] does.
pub fn check_output_hosts(entries: &[String]) -> Result<(), OutboundError> {
    entries
        .iter()
        .try_for_each(|e| HostPattern::parse(e).map(|_| ()))
}

/// Whether `base_url` may be used, and if so whether it is on loopback.
fn base_policy(base_url: &url::Url) -> Result<bool, OutboundError> {
    let raw = || base_url.as_str().to_owned();
    let host = base_url
        .host()
        .ok_or_else(|| OutboundError::NoHost(raw()))?;
    let loopback = is_loopback_host(&host);
    match base_url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(OutboundError::Insecure(raw())),
    }
    if let Some(ip) = host_ip(&host) {
        if !permitted(ip, loopback) {
            return Err(OutboundError::PrivateBase(raw()));
        }
    }
    Ok(loopback)
}

/// The one way an outside URL is reached: every address resolved is
/// checked ([`PublicOnly`]), no redirects, no proxy, `timeout` per request.
fn guarded_client(
    timeout: Duration,
    allow_loopback: bool,
    user_agent: &'static str,
) -> Result<reqwest::Client, OutboundError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .user_agent(user_agent)
        .build()
        .map_err(|e| OutboundError::Client(error_chain(&e)))
}

impl Outbound {
    /// The client for a model at `base_url`: loopback (and `http://`) are
    /// allowed only when `base_url` is itself on loopback; outputs are
    /// fetched only from `output_hosts` (`example.com`, `*.example.com`),
    /// or the `base_url`'s host when the list is empty. `timeout` bounds
    /// each whole request.
    pub fn for_model(
        base_url: &url::Url,
        output_hosts: &[String],
        timeout: Duration,
    ) -> Result<Self, OutboundError> {
        let allow_loopback = base_policy(base_url)?;
        let output_hosts: Vec<HostPattern> = if output_hosts.is_empty() {
            base_url
                .host()
                .map(|h| HostPattern::Exact(h.to_string()))
                .into_iter()
                .collect()
        } else {
            output_hosts
                .iter()
                .map(|e| HostPattern::parse(e))
                .collect::<Result<_, _>>()?
        };
        let client = guarded_client(
            timeout,
            allow_loopback,
            concat!("uni1/", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(Self {
            client,
            allow_loopback,
            output_hosts: output_hosts.into(),
            max_image_bytes: uni1_imaging::Limits::MODEL_OUTPUT.max_bytes,
        })
    }

    /// Sets the largest image a provider may send (default
    /// `uni1_imaging::Limits::MODEL_OUTPUT.max_bytes`); inline (base64)
    /// answers are capped from it.
    pub fn with_max_image_bytes(mut self, bytes: usize) -> Self {
        self.max_image_bytes = bytes;
        self
    }

    /// The largest image a provider may send.
    pub fn max_image_bytes(&self) -> usize {
        self.max_image_bytes
    }

    /// Whether a request to `url` may be made at all: https (or http on
    /// loopback for a loopback model), and an IP-literal host must be an
    /// address the resolver would allow.
    pub fn admit(&self, url: &url::Url) -> Result<(), String> {
        let Some(host) = url.host() else {
            return Err("the URL has no host".into());
        };
        let loopback_ok = self.allow_loopback && is_loopback_host(&host);
        match url.scheme() {
            "https" => {}
            "http" if loopback_ok => {}
            other => return Err(format!("refusing a {other}:// URL (https only)")),
        }
        if let Some(ip) = host_ip(&host) {
            if !permitted(ip, self.allow_loopback) {
                return Err(format!("refusing the non-public address {ip}"));
            }
        }
        Ok(())
    }

    /// [`Outbound::admit`], and the host is one of the model's output hosts.
    pub fn check_output(&self, url: &url::Url) -> Result<(), String> {
        self.admit(url)?;
        let host = url.host_str().unwrap_or_default();
        if !self.output_hosts.iter().any(|p| p.matches(host)) {
            return Err(format!(
                "the output host {host:?} is not one of this model's output hosts (output_hosts)"
            ));
        }
        Ok(())
    }

    /// A POST to `url` (after [`Outbound::admit`]).
    pub(crate) fn post(&self, url: url::Url) -> Result<reqwest::RequestBuilder, String> {
        self.admit(&url)?;
        Ok(self.client.post(url))
    }

    /// A GET of `url` (after [`Outbound::admit`]).
    pub(crate) fn get(&self, url: url::Url) -> Result<reqwest::RequestBuilder, String> {
        self.admit(&url)?;
        Ok(self.client.get(url))
    }

    /// Fetches an output the provider gave as a URL: only from the model's
    /// output hosts, no redirects, at most `max_bytes`.
    pub async fn fetch_output(
        &self,
        url: &url::Url,
        max_bytes: usize,
    ) -> Result<Vec<u8>, FetchError> {
        self.check_output(url).map_err(FetchError::permanent)?;
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| transport_error("fetching the image", &e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::permanent(format!(
                "fetching the image answered HTTP {status}: redirects are not followed"
            )));
        }
        if !status.is_success() {
            return Err(FetchError::retryable(format!(
                "fetching the image answered HTTP {status}"
            )));
        }
        read_capped(response, max_bytes)
            .await
            .map_err(|e| e.context("the image"))
    }
}

/// A transport error as a [`FetchError`]: refused by the address guard is
/// permanent, anything else (timeouts, refused connections) may pass.
pub(crate) fn transport_error(what: &str, error: &reqwest::Error) -> FetchError {
    let message = format!("{what} failed: {}", error_chain(error));
    if refused_by_guard(error) {
        FetchError::permanent(message)
    } else {
        FetchError {
            retryable: crate::transport_retryable(error),
            message,
        }
    }
}

/// Whether the resolver refused the host (somewhere in the error's causes).
pub(crate) fn refused_by_guard(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<NonPublicHost>().is_some() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Why a capped read stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    TooLarge { cap: usize },
    Transport(FetchError),
}

impl ReadError {
    /// As a [`FetchError`] about `what` ("the answer", "the image").
    pub(crate) fn context(self, what: &str) -> FetchError {
        match self {
            ReadError::TooLarge { cap } => {
                FetchError::permanent(format!("{what} is larger than the {cap} bytes allowed"))
            }
            ReadError::Transport(e) => FetchError {
                retryable: e.retryable,
                message: format!("reading {what}: {}", e.message),
            },
        }
    }
}

/// Reads a whole body, chunk by chunk, refusing it as soon as it passes
/// `cap` (or announces more with `Content-Length`).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(ReadError::TooLarge { cap });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Transport(transport_error("reading", &e)))?
    {
        if bytes.len() + chunk.len() > cap {
            return Err(ReadError::TooLarge { cap });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The length of `bytes` bytes in base64.
pub(crate) fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3).saturating_mul(4)
}

// ----------------------------------------------------------- Addresses

/// The resolver's refusal (kept as a type so callers can recognise it).
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to non-public addresses; refused")]
pub struct NonPublicHost(String);

/// Resolves with the system resolver, then keeps only allowed addresses.
struct PublicOnly {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(resolve_public(
            name.as_str().to_owned(),
            self.allow_loopback,
        ))
    }
}

async fn resolve_public(
    host: String,
    allow_loopback: bool,
) -> Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
    let allowed: Vec<SocketAddr> = found
        .filter(|address| permitted(address.ip(), allow_loopback))
        .collect();
    if allowed.is_empty() {
        return Err(Box::new(NonPublicHost(host)));
    }
    Ok(Box::new(allowed.into_iter()))
}

fn host_ip(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        url::Host::Domain(_) => None,
    }
}

/// `localhost`, `*.localhost`, or a loopback address.
fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        _ => host_ip(host).is_some_and(is_loopback),
    }
}

/// Whether a connection to `ip` is allowed.
pub fn permitted(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public(ip) || (allow_loopback && is_loopback(ip))
}

/// 127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether `ip` is a globally reachable unicast address (what a provider's
/// output may live on).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local (cloud metadata)
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Forms that carry an IPv4 address: judge that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4); // ::ffff:a.b.c.d
    }
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(embedded(s[6], s[7])); // NAT64 64:ff9b::/96
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2])); // 6to4 2002::/16
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || s[0..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible ::a.b.c.d (deprecated)
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments, Teredo 2001::/23
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation 2001:db8::/32
        || (s[0] == 0x3fff && s[1] < 0x1000) // documentation 3fff::/20
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] & 0xff00) == 0xff00) // multicast ff00::/8
}

// ----------------------------------------------------------- Webhooks

/// How much of a webhook receiver's answer is read (and then dropped).
pub const WEBHOOK_ANSWER_CAP: usize = 64 * 1024;

impl Outbound {
    /// The client that sends people's webhooks (Standard Webhooks): the same
    /// address guard as model outputs, no redirects, no proxy, `timeout` per
    /// request. https only; with `allow_loopback` (tests, and a demo on one
    /// machine) also loopback addresses and `http://` to them, never other
    /// private ones.
    pub fn for_webhooks(timeout: Duration, allow_loopback: bool) -> Result<Self, OutboundError> {
        let client = guarded_client(
            timeout,
            allow_loopback,
            concat!("uni1-webhooks/", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(Self {
            client,
            allow_loopback,
            output_hosts: Vec::new().into(),
            max_image_bytes: 0,
        })
    }

    /// Whether a person may register `url` as a webhook endpoint:
    /// [`Outbound::admit`], no user name or password in it, and a
    /// `localhost` name only when loopback is allowed. (A name that
    /// resolves to a private address passes here and is refused by the
    /// resolver at every delivery.)
    pub fn check_endpoint(&self, url: &url::Url) -> Result<(), String> {
        self.admit(url)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL must not hold a user name or password".into());
        }
        let host = url.host().ok_or("the URL has no host")?;
        if !self.allow_loopback && is_loopback_host(&host) {
            return Err("refusing an address on this machine".into());
        }
        Ok(())
    }

    /// POSTs a webhook: `body` (JSON) with `headers`, after
    /// [`Outbound::check_endpoint`]; reads at most [`WEBHOOK_ANSWER_CAP`] of
    /// the answer and returns its status. A redirect is an answer like any
    /// other (not followed).
    pub async fn post_webhook(
        &self,
        url: &url::Url,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<u16, FetchError> {
        self.check_endpoint(url).map_err(FetchError::permanent)?;
        let mut request = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error("sending the webhook", &e))?;
        let status = response.status().as_u16();
        // The answer is not used; reading (a little of) it lets the
        // connection be reused.
        let _ = read_capped(response, WEBHOOK_ANSWER_CAP).await;
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn address_classifier() {
        let table: &[(&str, bool)] = &[
            // Public.
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("93.184.216.34", true),
            ("100.63.255.255", true),
            ("100.128.0.1", true),
            ("172.15.255.255", true),
            ("172.32.0.1", true),
            ("192.0.1.1", true),
            ("223.255.255.255", true),
            ("2606:4700:4700::1111", true),
            ("2a00:1450:4001:81c::200e", true),
            ("::ffff:8.8.8.8", true),
            ("64:ff9b::808:808", true),
            ("2002:808:808::1", true),
            // Not public.
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("10.0.0.5", false),
            ("10.255.255.255", false),
            ("100.64.0.1", false),
            ("100.127.255.254", false),
            ("127.0.0.1", false),
            ("127.1.2.3", false),
            ("169.254.169.254", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.0.0.8", false),
            ("192.0.2.1", false),
            ("192.88.99.1", false),
            ("192.168.1.1", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("::", false),
            ("::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.0.0.5", false),
            ("::ffff:169.254.169.254", false),
            ("::10.0.0.5", false),
            ("64:ff9b::a00:5", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b:1::1", false),
            ("2002:a00:5::1", false),
            ("2002:7f00:1::1", false),
            ("100::1", false),
            ("2001::1", false),
            ("2001:db8::1", false),
            ("3fff::1", false),
            ("fc00::1", false),
            ("fd00:ec2::254", false),
            ("fe80::1", false),
            ("febf::1", false),
            ("fec0::1", false),
            ("ff02::1", false),
        ];
        for (address, public) in table {
            let ip: IpAddr = address.parse().unwrap();
            assert_eq!(is_public(ip), *public, "{address}");
        }
    }

    #[test]
    fn loopback_is_allowed_only_when_asked() {
        for address in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = address.parse().unwrap();
            assert!(is_loopback(ip), "{address}");
            assert!(permitted(ip, true), "{address}");
            assert!(!permitted(ip, false), "{address}");
        }
        // Loopback permission does not open other private ranges.
        for address in ["10.0.0.5", "169.254.169.254", "fd00::1", "0.0.0.0"] {
            assert!(!permitted(address.parse().unwrap(), true), "{address}");
        }
    }

    #[test]
    fn base_urls() {
        let ok = |u: &str| check_base_url(&u.parse().unwrap());
        assert_eq!(ok("https://api.replicate.com"), Ok(()));
        assert_eq!(ok("http://127.0.0.1:7070/"), Ok(()));
        assert_eq!(ok("http://localhost:7070/"), Ok(()));
        assert_eq!(ok("http://[::1]:7070/"), Ok(()));
        assert!(matches!(
            ok("http://api.example.com"),
            Err(OutboundError::Insecure(_))
        ));
        assert!(matches!(
            ok("http://10.0.0.5:8000"),
            Err(OutboundError::Insecure(_))
        ));
        assert!(matches!(
            ok("https://169.254.169.254/"),
            Err(OutboundError::PrivateBase(_))
        ));
        assert!(matches!(
            ok("https://[fd00::1]/"),
            Err(OutboundError::PrivateBase(_))
        ));
        assert!(matches!(
            ok("ftp://example.com/"),
            Err(OutboundError::Insecure(_))
        ));
    }

    #[test]
    fn output_hosts() {
        let base: url::Url = "https://api.replicate.com".parse().unwrap();
        let t = Duration::from_secs(5);
        let check = |o: &Outbound, u: &str| o.check_output(&u.parse().unwrap());

        let default = Outbound::for_model(&base, &[], t).unwrap();
        assert!(check(&default, "https://api.replicate.com/files/a.png").is_ok());
        assert!(check(&default, "https://API.replicate.com/files/a.png").is_ok());
        assert!(check(&default, "https://replicate.delivery/a.png").is_err());
        assert!(check(&default, "http://api.replicate.com/a.png").is_err());

        let listed = Outbound::for_model(
            &base,
            &["replicate.delivery".into(), "*.replicate.delivery".into()],
            t,
        )
        .unwrap();
        assert!(check(&listed, "https://replicate.delivery/a.png").is_ok());
        assert!(check(&listed, "https://pbxt.replicate.delivery/a.png").is_ok());
        assert!(check(&listed, "https://evilreplicate.delivery/a.png").is_err());
        assert!(check(&listed, "https://replicate.delivery.evil.example/a.png").is_err());
        assert!(check(&listed, "https://api.replicate.com/a.png").is_err());

        // Listing an internal address does not make it reachable.
        let internal = Outbound::for_model(
            &base,
            &[
                "10.0.0.5".into(),
                "[fd00::1]".into(),
                "169.254.169.254".into(),
            ],
            t,
        )
        .unwrap();
        for url in [
            "https://10.0.0.5/x",
            "https://[fd00::1]/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::ffff:a00:5]/x",
        ] {
            let refused = check(&internal, url).unwrap_err();
            assert!(refused.contains("non-public"), "{url}: {refused}");
        }

        for bad in [
            "",
            "*.",
            "http://x.example",
            "x.example/path",
            "user@x.example",
        ] {
            assert!(
                matches!(
                    Outbound::for_model(&base, &[bad.into()], t),
                    Err(OutboundError::BadOutputHost(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn loopback_models_may_use_http_on_loopback_only() {
        let t = Duration::from_secs(5);
        let local =
            Outbound::for_model(&"http://127.0.0.1:7070/".parse().unwrap(), &[], t).unwrap();
        assert!(local
            .check_output(&"http://127.0.0.1:7070/files/a.png".parse().unwrap())
            .is_ok());
        // Another loopback host name is not on the list.
        assert!(local
            .check_output(&"http://localhost:7070/files/a.png".parse().unwrap())
            .is_err());
        // Plain http to a non-loopback host is refused even when listed.
        let listed = Outbound::for_model(
            &"http://127.0.0.1:7070/".parse().unwrap(),
            &["cdn.example".into()],
            t,
        )
        .unwrap();
        assert!(listed
            .check_output(&"http://cdn.example/a.png".parse().unwrap())
            .is_err());
        assert!(listed
            .check_output(&"https://cdn.example/a.png".parse().unwrap())
            .is_ok());
        // A public model never reaches loopback, even by IP literal.
        let public = Outbound::for_model(&"https://api.example".parse().unwrap(), &[], t).unwrap();
        assert!(public
            .admit(&"https://127.0.0.1/".parse().unwrap())
            .is_err());
    }

    #[test]
    fn webhook_endpoints_follow_the_address_rules() {
        let t = Duration::from_secs(5);
        let strict = Outbound::for_webhooks(t, false).unwrap();
        let open = Outbound::for_webhooks(t, true).unwrap();
        let url = |s: &str| -> url::Url { s.parse().unwrap() };
        assert!(strict
            .check_endpoint(&url("https://hooks.example/x"))
            .is_ok());
        for refused in [
            "http://hooks.example/x",
            "https://10.1.2.3/x",
            "https://[fe80::1]/x",
            "https://127.0.0.1/x",
            "https://localhost/x",
            "https://a.localhost/x",
            "http://127.0.0.1:8080/x",
            "https://user:pw@hooks.example/x",
        ] {
            assert!(strict.check_endpoint(&url(refused)).is_err(), "{refused}");
        }
        // Loopback (and http to it) only when allowed; other private
        // addresses never.
        assert!(open.check_endpoint(&url("http://127.0.0.1:8080/x")).is_ok());
        assert!(open.check_endpoint(&url("https://localhost/x")).is_ok());
        assert!(open.check_endpoint(&url("https://192.168.0.2/x")).is_err());
        assert!(open.check_endpoint(&url("http://hooks.example/x")).is_err());
    }
}
