//! The caller of an ingest endpoint: a sensor, by the token of its activation file.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::model::{SensorId, SensorType, SiteId, SubscriptionId, ZoneId};

use super::error::ApiError;
use super::principal::bearer_token;
use crate::keys;
use crate::records;
use crate::store::Table;

/// What a sensor token stands for. Stored under the token's hash; deleting this item
/// (sensor deleted or reactivated) revokes the token at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorTokenRecord {
    pub subscription_id: SubscriptionId,
    pub sensor_id: SensorId,
    pub sensor_type: SensorType,
    pub site_id: SiteId,
    pub zone_id: Option<ZoneId>,
}

/// An authenticated sensor. A user's JWT, an unknown or a revoked token is `401`.
#[derive(Debug, Clone)]
pub struct SensorCaller(pub SensorTokenRecord);

impl<S> FromRequestParts<S> for SensorCaller
where
    Arc<dyn Table>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let table = Arc::<dyn Table>::from_ref(state);
        let item = table
            .get(&keys::sensor_token(&token_hash(token)))
            .await?
            .ok_or(ApiError::Unauthenticated(
                "the sensor token is unknown or revoked",
            ))?;
        Ok(SensorCaller(records::decode(&item)?))
    }
}

/// Tokens are looked up by their SHA-256, so the table's keys never hold a secret.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A new sensor token: 256 random bits, URL-safe.
pub fn new_token() -> Result<String, ApiError> {
    new_secret(SENSOR_TOKEN_PREFIX)
}

const SENSOR_TOKEN_PREFIX: &str = "vst_";

/// A new bearer secret: `prefix` and 256 random bits, URL-safe.
pub fn new_secret(prefix: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("randomness: {e}")))?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}
