//! Sign-in, who am I, subscriptions.

use gloo_net::http::Request;
use shared::api::{CreateSubscription, DevLoginRequest, Me, Page, Subscription, TokenResponse};

use super::{Api, ApiError};

/// The one call made without a token.
pub async fn dev_login(request: &DevLoginRequest) -> Result<TokenResponse, ApiError> {
    let response = Request::post("/api/auth/dev-login")
        .json(request)
        .map_err(super::network)?
        .send()
        .await
        .map_err(super::network)?;
    if response.ok() {
        return response.json().await.map_err(super::network);
    }
    Err(super::refusal(response).await)
}

pub async fn me(api: Api) -> Result<Me, ApiError> {
    api.get("/me").await
}

pub async fn subscriptions(api: Api) -> Result<Page<Subscription>, ApiError> {
    api.get("/subscriptions?limit=500").await
}

pub async fn create_subscription(
    api: Api,
    request: &CreateSubscription,
) -> Result<Subscription, ApiError> {
    api.post("/subscriptions", request).await
}
