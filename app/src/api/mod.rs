//! A typed client of Vigil's HTTP API: one module per area over one generic request
//! function, the contract's error body turned into [`ApiError`]. A `401` ends the
//! session, which sends the user to sign in again.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod devices;
pub mod identity;
pub mod notifications;
pub mod plans;
pub mod sensors;
pub mod sites;

use gloo_net::http::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{ErrorBody, ErrorCode, Page};

use crate::session::Session;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The API answered with the contract's error body.
    #[error("{message}")]
    Refused {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    /// The API could not be reached, or answered something unreadable.
    #[error("the server could not be reached: {0}")]
    Network(String),
}

impl ApiError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ApiError::Refused { code, .. } => Some(*code),
            ApiError::Network(_) => None,
        }
    }

    /// `412`: the item changed since it was read.
    pub fn is_stale(&self) -> bool {
        self.code() == Some(ErrorCode::PreconditionFailed)
    }
}

/// Most requests [`Api::first_pages`] makes to fill a screen.
const FIRST_SCREEN_REQUESTS: usize = 10;

/// A body read with its `ETag`, to send back as `If-Match`.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub etag: Option<String>,
}

/// The client: cheap to copy into every closure.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    session: Session,
}

impl Api {
    pub fn new(session: Session) -> Self {
        Api { session }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        if_match: Option<&str>,
    ) -> Result<Response, ApiError> {
        let mut builder = RequestBuilder::new(&format!("/api{path}")).method(method);
        if let Some(token) = self.session.token_untracked() {
            builder = builder.header("Authorization", &format!("Bearer {token}"));
        }
        if let Some(etag) = if_match {
            builder = builder.header("If-Match", etag);
        }
        let request = match body {
            Some(Body::Json(json)) => builder
                .header("Content-Type", "application/json")
                .body(json),
            // The browser streams the file; it is never copied into wasm memory.
            Some(Body::File(file)) => builder
                .header("Content-Type", "application/octet-stream")
                .body(file),
            None => builder.build(),
        }
        .map_err(network)?;
        let response = request.send().await.map_err(network)?;
        if response.ok() {
            return Ok(response);
        }
        let error = refusal(response).await;
        if error.code() == Some(ErrorCode::Unauthenticated) {
            self.session.expire();
        }
        Err(error)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        json(self.call(Method::GET, path, None, None).await?).await
    }

    pub async fn get_versioned<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Versioned<T>, ApiError> {
        let response = self.call(Method::GET, path, None, None).await?;
        let etag = response.headers().get("etag");
        Ok(Versioned {
            value: json(response).await?,
            etag,
        })
    }

    /// One page of a list at `path` (which may hold a query already).
    pub async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<T>, ApiError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let page_path = match cursor {
            None => format!("{path}{separator}limit={limit}"),
            Some(cursor) => format!(
                "{path}{separator}limit={limit}&cursor={}",
                crate::logic::query::encode(cursor)
            ),
        };
        self.get(&page_path).await
    }

    /// The first pages of a filtered list, until `limit` items or its end: a page the
    /// API ends early (it bounds what one request reads, whatever the filters
    /// exclude) is followed at once, up to [`FIRST_SCREEN_REQUESTS`] requests.
    pub async fn first_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: u32,
    ) -> Result<Page<T>, ApiError> {
        let mut first = Page {
            items: Vec::new(),
            next_cursor: None,
        };
        for _ in 0..FIRST_SCREEN_REQUESTS {
            let wanted = limit.saturating_sub(first.items.len() as u32).max(1);
            let page: Page<T> = self
                .page(path, wanted, first.next_cursor.as_deref())
                .await?;
            first.items.extend(page.items);
            first.next_cursor = page.next_cursor;
            if first.next_cursor.is_none() || first.items.len() as u32 >= limit {
                break;
            }
        }
        Ok(first)
    }

    /// A grid's rows: the first screen ([`Api::first_pages`]) without a cursor, else the
    /// page after it.
    pub async fn rows<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<T>, ApiError> {
        match cursor {
            None => self.first_pages(path, limit).await,
            Some(cursor) => self.page(path, limit, Some(cursor)).await,
        }
    }

    /// Every page of a list (for bulk work over all that match a filter).
    pub async fn get_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ApiError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page: Page<T> = self.page(path, 500, cursor.as_deref()).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        self.send(Method::POST, path, Body::Json(to_json(body)?), None)
            .await
    }

    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        if_match: Option<&str>,
    ) -> Result<T, ApiError> {
        self.send(Method::PUT, path, Body::Json(to_json(body)?), if_match)
            .await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        if_match: Option<&str>,
    ) -> Result<T, ApiError> {
        self.send(Method::PATCH, path, Body::Json(to_json(body)?), if_match)
            .await
    }

    /// Sends a file the user picked as the raw body of a `PUT`.
    pub async fn put_file<T: DeserializeOwned>(
        &self,
        path: &str,
        file: web_sys::File,
    ) -> Result<T, ApiError> {
        self.send(Method::PUT, path, Body::File(file), None).await
    }

    /// A request with a body, answered with JSON.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body,
        if_match: Option<&str>,
    ) -> Result<T, ApiError> {
        json(self.call(method, path, Some(body), if_match).await?).await
    }

    pub async fn delete(&self, path: &str, if_match: Option<&str>) -> Result<(), ApiError> {
        self.call(Method::DELETE, path, None, if_match).await?;
        Ok(())
    }

    /// Fetches with the bearer token and saves the body through a `Blob` (a plain
    /// link could not send the token).
    pub async fn download(&self, path: &str, file_name: &str) -> Result<(), ApiError> {
        let response = self.call(Method::GET, path, None, None).await?;
        let content_type = response
            .headers()
            .get("content-type")
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let bytes = response.binary().await.map_err(network)?;
        crate::components::download::save(&bytes, &content_type, file_name)
            .map_err(ApiError::Network)
    }
}

enum Body {
    Json(String),
    File(web_sys::File),
}

/// A refusal in the contract's error body, or what else came back.
async fn refusal(response: Response) -> ApiError {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => ApiError::Refused {
            status,
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => ApiError::Network(format!(
            "unexpected answer {status} {}",
            response.status_text()
        )),
    }
}

fn to_json<B: Serialize>(body: &B) -> Result<String, ApiError> {
    serde_json::to_string(body).map_err(|e| ApiError::Network(e.to_string()))
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    response.json().await.map_err(network)
}

fn network(error: gloo_net::Error) -> ApiError {
    ApiError::Network(error.to_string())
}
