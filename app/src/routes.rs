//! Every console URL, built in one place so that no page formats a path by hand.

use shared::model::{AlertId, DeviceId, SensorId, SubscriptionId};

use crate::logic::query::{QueryPairs, encode};

/// The pages of a subscription, in the side navigation's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Overview,
    Sites,
    Plans,
    Alerts,
    Devices,
    Workbooks,
    Access,
    Notifications,
    Audit,
}

impl Page {
    pub const ALL: [Page; 9] = [
        Page::Overview,
        Page::Sites,
        Page::Plans,
        Page::Alerts,
        Page::Devices,
        Page::Workbooks,
        Page::Access,
        Page::Notifications,
        Page::Audit,
    ];

    pub const fn title(self) -> &'static str {
        match self {
            Page::Overview => "Overview",
            Page::Sites => "Sites and sensors",
            Page::Plans => "Plans and pricing",
            Page::Alerts => "Alerts",
            Page::Devices => "Device inventory",
            Page::Workbooks => "Workbooks",
            Page::Access => "Users and roles",
            Page::Notifications => "Notifications",
            Page::Audit => "Audit log",
        }
    }

    const fn segment(self) -> &'static str {
        match self {
            Page::Overview => "",
            Page::Sites => "/sites",
            Page::Plans => "/plans",
            Page::Alerts => "/alerts",
            Page::Devices => "/devices",
            Page::Workbooks => "/workbooks",
            Page::Access => "/access",
            Page::Notifications => "/notifications",
            Page::Audit => "/audit",
        }
    }

    /// The page a route's first segment under `/s/{sub}` names (`sensors` is a
    /// sensor's page of Sites and sensors).
    pub fn from_segment(segment: &str) -> Option<Page> {
        match segment {
            "" => Some(Page::Overview),
            "sensors" => Some(Page::Sites),
            "suppression-rules" => Some(Page::Alerts),
            _ => Page::ALL
                .into_iter()
                .find(|page| page.segment().strip_prefix('/') == Some(segment)),
        }
    }

    pub fn href(self, sub: &SubscriptionId) -> String {
        format!("/s/{sub}{}", self.segment())
    }

    pub fn href_with(self, sub: &SubscriptionId, query: &QueryPairs) -> String {
        format!("{}{}", self.href(sub), query.to_search())
    }
}

pub fn sensor(sub: &SubscriptionId, id: &SensorId) -> String {
    format!("/s/{sub}/sensors/{id}")
}

pub fn alert(sub: &SubscriptionId, id: &AlertId) -> String {
    format!("/s/{sub}/alerts/{id}")
}

/// The suppression rules, a part of Alerts.
pub fn suppression_rules(sub: &SubscriptionId) -> String {
    format!("/s/{sub}/suppression-rules")
}

pub fn device(sub: &SubscriptionId, id: &DeviceId) -> String {
    format!("/s/{sub}/devices/{id}")
}

pub const SUBSCRIPTIONS: &str = "/subscriptions";

/// The sign-in page, returning to `next` afterwards.
pub fn sign_in(next: &str) -> String {
    if next.is_empty() || next == "/" || next.starts_with("/sign-in") {
        "/sign-in".to_owned()
    } else {
        format!("/sign-in?next={}", encode(next))
    }
}

/// Where to go after signing in: only a path of this console, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") => path.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_have_the_console_routes() {
        let sub = SubscriptionId::parse("s1").unwrap();
        assert_eq!(Page::Overview.href(&sub), "/s/s1");
        assert_eq!(Page::Sites.href(&sub), "/s/s1/sites");
        assert_eq!(
            Page::Sites.href_with(&sub, &QueryPairs::default().with("site", "n")),
            "/s/s1/sites?site=n"
        );
        assert_eq!(
            sensor(&sub, &SensorId::parse("x").unwrap()),
            "/s/s1/sensors/x"
        );
        for page in Page::ALL {
            let segment = page
                .href(&sub)
                .trim_start_matches("/s/s1")
                .trim_start_matches('/')
                .to_owned();
            assert_eq!(Page::from_segment(&segment), Some(page));
        }
        assert_eq!(Page::from_segment("sensors"), Some(Page::Sites));
        assert_eq!(Page::from_segment("suppression-rules"), Some(Page::Alerts));
        assert_eq!(Page::from_segment("nowhere"), None);
    }

    #[test]
    fn sign_in_keeps_where_the_user_was_and_only_returns_inside_the_console() {
        assert_eq!(
            sign_in("/s/s1/sites?site=n"),
            "/sign-in?next=%2Fs%2Fs1%2Fsites%3Fsite%3Dn"
        );
        assert_eq!(sign_in("/"), "/sign-in");
        assert_eq!(safe_next(Some("/s/s1")), "/s/s1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
