//! Opaque identifiers. Each kind of thing has its own type so that a `SiteId`
//! can never be passed where a `SensorId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::authz::BuiltInRole;

/// Longest id accepted from outside; generated ids are far shorter.
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    #[error("must be 1 to {MAX_ID_LEN} characters of letters, digits, '-' or '_'")]
    Malformed,
    /// A custom role id equal to a built-in role's id would make a role reference
    /// ambiguous, so such ids are never accepted.
    #[error("must not be the id of a built-in role")]
    BuiltInRoleName,
}

fn check_id(raw: &str) -> Result<(), InvalidId> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_ID_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(InvalidId::Malformed)
    }
}

/// Most ids need nothing beyond [`check_id`].
fn no_further_rule(_raw: &str) -> Result<(), InvalidId> {
    Ok(())
}

/// Custom role ids share one namespace with the built-in role ids (`owner`, ...) in a
/// role reference; refusing the built-in names (in any case) keeps that reference
/// unambiguous.
fn custom_role_id(raw: &str) -> Result<(), InvalidId> {
    let is_built_in = BuiltInRole::ALL
        .iter()
        .any(|role| role.id().eq_ignore_ascii_case(raw));
    if is_built_in {
        Err(InvalidId::BuiltInRoleName)
    } else {
        Ok(())
    }
}

/// The ids [`check_id`] accepts, as an unanchored regular expression.
#[cfg(feature = "openapi")]
pub(crate) fn id_regex() -> String {
    format!("[A-Za-z0-9_-]{{1,{MAX_ID_LEN}}}")
}

/// The pattern of the ids [`check_id`] accepts, for the OpenAPI document.
#[cfg(feature = "openapi")]
fn id_pattern() -> String {
    format!("^{}$", id_regex())
}

/// The pattern of the ids [`check_id`] and [`custom_role_id`] accept: a built-in role's
/// id in any case is excluded, spelled `[oO][wW]...` because ECMA patterns take no
/// inline case-insensitive flag.
#[cfg(feature = "openapi")]
fn custom_role_id_pattern() -> String {
    let any_case = |id: &str| -> String {
        id.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let built_in: Vec<String> = BuiltInRole::ALL.iter().map(|r| any_case(r.id())).collect();
    format!("^(?!(?:{})$){}$", built_in.join("|"), id_regex())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        id_type!($(#[$doc])* $name, no_further_rule, id_pattern);
    };
    ($(#[$doc:meta])* $name:ident, $extra_check:path, $pattern:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        pattern_schema!($name, $pattern());

        impl $name {
            /// Accepts an id from outside (a path, a body), refusing anything that could
            /// not have been issued by Vigil.
            pub fn parse(raw: impl Into<String>) -> Result<Self, InvalidId> {
                let raw = raw.into();
                check_id(&raw)?;
                $extra_check(&raw)?;
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(raw: &str) -> Result<Self, InvalidId> {
                Self::parse(raw)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(raw: String) -> Result<Self, InvalidId> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A subscription: the unit of billing and of subscription-scope roles.
    SubscriptionId
);
id_type!(
    /// A site within a subscription.
    SiteId
);
id_type!(
    /// A zone within a site.
    ZoneId
);
id_type!(
    /// A network sensor.
    SensorId
);
id_type!(
    /// An alert raised by a sensor.
    AlertId
);
id_type!(
    /// A device in the inventory.
    DeviceId
);
id_type!(
    /// A monitoring plan.
    PlanId
);
id_type!(
    /// A role assignment.
    AssignmentId
);
id_type!(
    /// A custom role. Built-in roles have fixed ids such as `owner`, which a custom
    /// role id can never be.
    RoleId,
    custom_role_id,
    custom_role_id_pattern
);
id_type!(
    /// A group of principals.
    GroupId
);
id_type!(
    /// A device group: a named set of sites.
    DeviceGroupId
);
id_type!(
    /// An entry of the audit log.
    AuditEntryId
);
id_type!(
    /// An entry of an alert's timeline.
    AlertEventId
);
id_type!(
    /// One of a subscription's reasons for closing an alert (`false_positive`).
    CloseReasonId
);
id_type!(
    /// A suppression rule.
    RuleId
);
id_type!(
    /// An API token: a service principal of one subscription, for scripts and SIEMs.
    ApiTokenId
);
id_type!(
    /// A webhook endpoint: where notifications are delivered.
    WebhookEndpointId
);
id_type!(
    /// A notification rule: which events go to which endpoint.
    NotificationRuleId
);
