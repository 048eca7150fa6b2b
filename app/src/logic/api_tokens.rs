//! The "New API token" form, read into the request the server validates again.

use shared::api::{ApiToken, ApiTokenLifetime, CreateApiToken};
use shared::authz::RoleRef;
use shared::model::{DisplayName, SiteId};
use time::OffsetDateTime;

/// The lifetime the form starts with.
pub const DEFAULT_DAYS: &str = "90";

/// What the form holds, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenForm {
    pub name: String,
    pub role: RoleRef,
    pub site: Option<SiteId>,
    pub days: String,
}

impl ApiTokenForm {
    /// The request, or what to fix, naming the field as its label does.
    pub fn request(&self) -> Result<CreateApiToken, String> {
        let name = DisplayName::parse(self.name.trim()).map_err(|e| format!("Name: {e}"))?;
        let expires_in_days = self
            .days
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|days| ApiTokenLifetime::try_from(days).ok())
            .ok_or_else(|| {
                format!(
                    "Expires in (days): {}",
                    shared::api::InvalidApiTokenLifetime
                )
            })?;
        Ok(CreateApiToken {
            name,
            role: self.role.clone(),
            site_id: self.site.clone(),
            expires_in_days,
        })
    }
}

/// A token's state as its row reads it.
pub fn token_state(token: &ApiToken, now: OffsetDateTime) -> &'static str {
    if token.is_expired(now) {
        "Expired"
    } else if token.expires_at - now < time::Duration::days(7) {
        "Expires soon"
    } else {
        "Active"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::authz::BuiltInRole;

    fn form(name: &str, days: &str) -> ApiTokenForm {
        ApiTokenForm {
            name: name.into(),
            role: RoleRef::BuiltIn(BuiltInRole::SecurityReader),
            site: None,
            days: days.into(),
        }
    }

    #[test]
    fn a_filled_form_is_the_request_and_a_bad_field_is_named() {
        let request = form(" SIEM export ", " 30 ").request().unwrap();
        assert_eq!(request.name.as_str(), "SIEM export");
        assert_eq!(request.expires_in_days.days(), 30);
        assert!(form("", "30").request().unwrap_err().starts_with("Name:"));
        for days in ["0", "366", "ten", "-1", ""] {
            let refused = form("x", days).request().unwrap_err();
            assert!(
                refused.starts_with("Expires in (days):"),
                "{days}: {refused}"
            );
        }
    }

    #[test]
    fn a_token_reads_active_expiring_soon_or_expired() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1000);
        let token = |expires_in: time::Duration| ApiToken {
            id: shared::model::ApiTokenId::parse("t1").unwrap(),
            name: DisplayName::parse("t").unwrap(),
            principal: shared::authz::api_token_principal(
                &shared::model::ApiTokenId::parse("t1").unwrap(),
            ),
            role: RoleRef::BuiltIn(BuiltInRole::SecurityReader),
            site_id: None,
            created_by: shared::model::Email::parse("a@b.co").unwrap(),
            created_at: now - time::Duration::days(1),
            expires_at: now + expires_in,
            last_used_at: None,
        };
        assert_eq!(token_state(&token(time::Duration::days(30)), now), "Active");
        assert_eq!(
            token_state(&token(time::Duration::days(2)), now),
            "Expires soon"
        );
        assert_eq!(token_state(&token(time::Duration::ZERO), now), "Expired");
    }
}
