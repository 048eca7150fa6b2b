//! Demo data for `vigil serve --demo`: a console that is alive on first start.
//! Seeding is idempotent: an existing demo subscription is left as it is.

use shared::authz::Principal;
use shared::model::{DisplayName, Email, SubscriptionId};

use crate::http::error::{ApiError, ApiResult};
use crate::identity;
use crate::store::Table;

pub const DEMO_SUBSCRIPTION: &str = "demo";
pub const DEMO_OWNER: &str = "owner@vigil.demo";

pub async fn seed(table: &dyn Table) -> ApiResult<()> {
    let id =
        SubscriptionId::parse(DEMO_SUBSCRIPTION).map_err(|e| ApiError::Internal(e.to_string()))?;
    let owner = Principal {
        email: Email::parse(DEMO_OWNER).map_err(|e| ApiError::Internal(e.to_string()))?,
        groups: Default::default(),
    };
    let name = DisplayName::parse("Contoso Manufacturing")
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    match identity::create_subscription(table, &owner, id, name).await {
        Ok(_) | Err(ApiError::Conflict(_)) => Ok(()),
        Err(other) => Err(other),
    }
}
