//! Notifications: webhook endpoints, the rules that route events to them, and which
//! target addresses a webhook may reach.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Engine, Severity, SiteId};

/// Longest webhook URL accepted.
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;

/// Where a webhook is delivered: `http` or `https`, a host, an optional port and path;
/// no user or password in it (a secret belongs in the signing secret, not the URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl {
    url: String,
    host_start: usize,
    host_end: usize,
    port: u16,
}

// A subset of what `parse` takes (IPv6 hosts in full form, at most four host labels
// of 60 characters, a shorter path), so everything it matches is accepted.
pattern_schema!(
    WebhookUrl,
    format!(
        "^[hH][tT][tT][pP][sS]?://{host}(?::{port})?(?:[/?#][^{forbidden}]{{0,1500}})?$",
        host = r"(?:[A-Za-z0-9-]{1,60}(?:\.[A-Za-z0-9-]{1,60}){0,3}|\[(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\])",
        port = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])",
        forbidden = super::text::FORBIDDEN_IN_URL,
    ),
    Some(
        "An http:// or https:// URL with a host and no user or password, at most 2048 characters."
    )
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be an http:// or https:// URL with a host, without user or password, at most 2048 characters"
)]
pub struct InvalidWebhookUrl;

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidWebhookUrl> {
        let url = raw.trim();
        if url.len() > MAX_WEBHOOK_URL_LEN
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InvalidWebhookUrl);
        }
        let (scheme, rest) = url.split_once("://").ok_or(InvalidWebhookUrl)?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(InvalidWebhookUrl),
        };
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        if authority.contains('@') || authority.is_empty() {
            return Err(InvalidWebhookUrl);
        }
        let host_start = scheme.len() + 3;
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or(InvalidWebhookUrl)?;
            host.parse::<std::net::Ipv6Addr>()
                .map_err(|_| InvalidWebhookUrl)?;
            (&authority[..host.len() + 2], after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or(InvalidWebhookUrl)?,
        };
        let host_ok = host.starts_with('[')
            || (!host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }));
        if !host_ok {
            return Err(InvalidWebhookUrl);
        }
        Ok(WebhookUrl {
            url: url.to_owned(),
            host_start,
            host_end: host_start + host.len(),
            port,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host as written (an IPv6 address without its brackets).
    pub fn host(&self) -> &str {
        self.url[self.host_start..self.host_end]
            .trim_start_matches('[')
            .trim_end_matches(']')
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl TryFrom<String> for WebhookUrl {
    type Error = InvalidWebhookUrl;
    fn try_from(raw: String) -> Result<Self, InvalidWebhookUrl> {
        WebhookUrl::parse(&raw)
    }
}

impl From<WebhookUrl> for String {
    fn from(url: WebhookUrl) -> String {
        url.url
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Whether a webhook may be sent to `address` without the operator's leave: only
/// public unicast addresses. Loopback, private, link-local (cloud metadata services
/// live there), unique-local, shared (CGNAT), multicast, broadcast, documentation and
/// unspecified addresses are the host's own network, which a webhook must not be
/// turned against.
pub fn is_public_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0xdb8)
        }
    }
}

/// Longest escalation delay a rule may set: a week.
pub const MAX_ESCALATION_MINUTES: u16 = 10_080;

/// Which addresses webhooks may reach: the operator's setting (`vigil serve
/// --allow-private-webhooks`, `ALLOW_PRIVATE_WEBHOOKS` in the cloud).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WebhookTargets {
    /// Public unicast addresses only ([`is_public_address`]): the default.
    #[default]
    PublicOnly,
    /// Any address, the host's own network included: for a receiver on the same
    /// machine or LAN, when the operator says so.
    AnyAddress,
}

impl WebhookTargets {
    pub fn allows(self, address: IpAddr) -> bool {
        match self {
            WebhookTargets::PublicOnly => is_public_address(address),
            WebhookTargets::AnyAddress => true,
        }
    }
}

/// What happened, as a webhook names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventKind {
    /// A sensor raised a new alert (not a repeat of an open one).
    #[serde(rename = "alert.created")]
    AlertCreated,
    /// An alert still `new` (nobody moved it to active or closed) a rule's
    /// `escalate_after_minutes` after it was raised.
    #[serde(rename = "alert.unacknowledged")]
    AlertUnacknowledged,
    /// An entry was written to the audit log: audit streaming, for a SIEM's own copy.
    #[serde(rename = "audit.entry")]
    AuditEntry,
    /// A sensor that was connected stopped heartbeating (an operational alert is raised).
    #[serde(rename = "sensor.disconnected")]
    SensorDisconnected,
    /// A live plan's detected devices went above its committed devices: the commitment
    /// should be raised.
    #[serde(rename = "plan.over_committed")]
    PlanOverCommitted,
    /// A connected sensor reports itself unhealthy, or issues.
    #[serde(rename = "sensor.unhealthy")]
    SensorUnhealthy,
    /// A disconnected sensor heartbeats again (its operational alert is closed), or an
    /// unhealthy one is healthy again.
    #[serde(rename = "sensor.recovered")]
    SensorRecovered,
    /// "Send test event": sent to one endpoint on request, matched by no rule.
    #[serde(rename = "test")]
    Test,
}

impl EventKind {
    /// The kinds a rule may route (`test` is sent on request only).
    pub const ROUTABLE: [EventKind; 7] = [
        EventKind::AlertCreated,
        EventKind::AlertUnacknowledged,
        EventKind::AuditEntry,
        EventKind::PlanOverCommitted,
        EventKind::SensorDisconnected,
        EventKind::SensorUnhealthy,
        EventKind::SensorRecovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AlertCreated => "alert.created",
            EventKind::AlertUnacknowledged => "alert.unacknowledged",
            EventKind::AuditEntry => "audit.entry",
            EventKind::PlanOverCommitted => "plan.over_committed",
            EventKind::SensorDisconnected => "sensor.disconnected",
            EventKind::SensorUnhealthy => "sensor.unhealthy",
            EventKind::SensorRecovered => "sensor.recovered",
            EventKind::Test => "test",
        }
    }
}

/// What a rule matches in an event, beside its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventFacts<'a> {
    pub kind: EventKind,
    pub site: Option<&'a SiteId>,
    pub severity: Option<Severity>,
    pub engine: Option<Engine>,
}

/// The filters of a notification rule; an absent filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Only events at this site (audit entries: changes at it).
    #[serde(default)]
    pub site_id: Option<SiteId>,
    /// Only alerts this severe or more (`major`: critical and major).
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Only alerts of these engines (empty: all).
    #[serde(default)]
    pub engines: BTreeSet<Engine>,
}

impl EventFilter {
    /// Whether an event with these facts passes. A severity or engine filter passes
    /// only events that have one (alerts), so an audit rule never filters on them.
    pub fn passes(&self, facts: &EventFacts<'_>) -> bool {
        self.site_id
            .as_ref()
            .is_none_or(|site| facts.site == Some(site))
            && self
                .min_severity
                .is_none_or(|min| facts.severity.is_some_and(|severity| severity <= min))
            && (self.engines.is_empty()
                || facts
                    .engine
                    .is_some_and(|engine| self.engines.contains(&engine)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_name_a_host_and_port_and_refuse_credentials_and_other_schemes() {
        let url = WebhookUrl::parse("https://siem.example.com/hooks/vigil?x=1").unwrap();
        assert_eq!((url.host(), url.port()), ("siem.example.com", 443));
        let url = WebhookUrl::parse("http://127.0.0.1:8081/in").unwrap();
        assert_eq!((url.host(), url.port()), ("127.0.0.1", 8081));
        let url = WebhookUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!((url.host(), url.port()), ("::1", 9000));
        for bad in [
            "ftp://example.com",
            "https://user:pw@example.com/",
            "https:///path",
            "https://exa mple.com",
            "https://example.com:0/",
            "https://example.com:99999/",
            "example.com/hook",
            "https://[::1/",
            "https://ex_ample.com/",
        ] {
            assert_eq!(WebhookUrl::parse(bad), Err(InvalidWebhookUrl), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_WEBHOOK_URL_LEN));
        assert!(WebhookUrl::parse(&long).is_err());
    }

    #[test]
    fn only_public_unicast_addresses_are_reachable_without_the_operators_leave() {
        for public in [
            "8.8.8.8",
            "203.0.114.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(is_public_address(public.parse().unwrap()), "{public}");
        }
        for own in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(!is_public_address(own.parse().unwrap()), "{own}");
        }
    }

    #[test]
    fn a_filter_passes_what_it_names_and_ignores_what_an_event_lacks() {
        let north = SiteId::parse("north").unwrap();
        let south = SiteId::parse("south").unwrap();
        let alert = |site, severity, engine| EventFacts {
            kind: EventKind::AlertCreated,
            site: Some(site),
            severity: Some(severity),
            engine: Some(engine),
        };
        let filter = EventFilter {
            site_id: Some(north.clone()),
            min_severity: Some(Severity::Major),
            engines: [Engine::Malware, Engine::PolicyViolation].into(),
        };
        assert!(filter.passes(&alert(&north, Severity::Critical, Engine::Malware)));
        assert!(filter.passes(&alert(&north, Severity::Major, Engine::PolicyViolation)));
        assert!(!filter.passes(&alert(&south, Severity::Critical, Engine::Malware)));
        assert!(!filter.passes(&alert(&north, Severity::Minor, Engine::Malware)));
        assert!(!filter.passes(&alert(&north, Severity::Critical, Engine::Anomaly)));
        let audit = EventFacts {
            kind: EventKind::AuditEntry,
            site: None,
            severity: None,
            engine: None,
        };
        assert!(EventFilter::default().passes(&audit));
        assert!(!filter.passes(&audit));
    }
}
