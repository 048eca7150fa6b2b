//! A typed client of Vigil's HTTP API: one function per endpoint, the contract's
//! error body turned into [`ApiError`].

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{
    CreateSubscription, DevLoginRequest, ErrorBody, ErrorCode, Me, Page, Subscription,
    TokenResponse,
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The API answered with the contract's error body.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// The API could not be reached, or answered something unreadable.
    #[error("the server could not be reached: {0}")]
    Network(String),
}

impl ApiError {
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            ApiError::Refused {
                code: ErrorCode::Unauthenticated,
                ..
            }
        )
    }
}

pub async fn dev_login(request: &DevLoginRequest) -> Result<TokenResponse, ApiError> {
    send(with_json(Request::post("/api/auth/dev-login"), request)?).await
}

pub async fn me(token: &str) -> Result<Me, ApiError> {
    send(authorized(Request::get("/api/me"), token)).await
}

pub async fn subscriptions(token: &str) -> Result<Page<Subscription>, ApiError> {
    send(authorized(
        Request::get("/api/subscriptions?limit=500"),
        token,
    ))
    .await
}

pub async fn create_subscription(
    token: &str,
    request: &CreateSubscription,
) -> Result<Subscription, ApiError> {
    send(with_json(
        authorized(Request::post("/api/subscriptions"), token),
        request,
    )?)
    .await
}

fn authorized(builder: RequestBuilder, token: &str) -> RequestBuilder {
    builder.header("Authorization", &format!("Bearer {token}"))
}

fn with_json<T: Serialize>(
    builder: RequestBuilder,
    body: &T,
) -> Result<gloo_net::http::Request, ApiError> {
    builder
        .json(body)
        .map_err(|e| ApiError::Network(e.to_string()))
}

trait Sendable {
    fn into_request(self) -> Result<Request, ApiError>;
}

impl Sendable for RequestBuilder {
    fn into_request(self) -> Result<Request, ApiError> {
        self.build().map_err(|e| ApiError::Network(e.to_string()))
    }
}

impl Sendable for Request {
    fn into_request(self) -> Result<Request, ApiError> {
        Ok(self)
    }
}

async fn send<T: DeserializeOwned>(request: impl Sendable) -> Result<T, ApiError> {
    let response = request
        .into_request()?
        .send()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    read(response).await
}

async fn read<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    if response.ok() {
        return response
            .json()
            .await
            .map_err(|e| ApiError::Network(e.to_string()));
    }
    match response.json::<ErrorBody>().await {
        Ok(body) => Err(ApiError::Refused {
            code: body.error.code,
            message: body.error.message,
        }),
        Err(_) => Err(ApiError::Network(format!(
            "unexpected answer {} {}",
            response.status(),
            response.status_text()
        ))),
    }
}
