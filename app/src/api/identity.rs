//! Sign-in, who am I, subscriptions.

use gloo_net::http::{Request, Response};
use shared::api::{
    AuthConfig, CreateSubscription, DevLoginRequest, Me, OidcSignIn, Page, Subscription,
    TokenResponse,
};

use super::{Api, ApiError};
use crate::logic::oidc::TokenAnswer;

/// How this deployment signs people in (public).
pub async fn auth_config() -> Result<AuthConfig, ApiError> {
    without_token(Request::get("/api/auth/config").build()).await
}

/// The provider's token endpoint: the code and its PKCE verifier for the ID token.
pub async fn exchange_code(provider: &OidcSignIn, form: String) -> Result<TokenAnswer, ApiError> {
    let response = send(
        Request::post(&provider.token_endpoint)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await?;
    if response.ok() {
        return response.json().await.map_err(super::network);
    }
    // An OAuth error body (`error`, `error_description`), not the contract's.
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    Err(ApiError::Network(format!(
        "the sign-in provider refused the code ({status}): {text}"
    )))
}

/// Signs in without a password (the local binary's dev-login).
pub async fn dev_login(request: &DevLoginRequest) -> Result<TokenResponse, ApiError> {
    without_token(Request::post("/api/auth/dev-login").json(request)).await
}

/// One of the calls made before anyone is signed in.
async fn without_token<T: serde::de::DeserializeOwned>(
    request: Result<Request, gloo_net::Error>,
) -> Result<T, ApiError> {
    let response = send(request).await?;
    if response.ok() {
        return response.json().await.map_err(super::network);
    }
    Err(super::refusal(response).await)
}

/// Sends a request built without the API client (no token); a failure to build or to
/// reach the server is a network error.
async fn send(request: Result<Request, gloo_net::Error>) -> Result<Response, ApiError> {
    request
        .map_err(super::network)?
        .send()
        .await
        .map_err(super::network)
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
