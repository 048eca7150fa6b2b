//! Notifications: webhook endpoints, the rules routing events to them, and the
//! delivery log (see `docs/notifications.md`).
//!
//! Nothing is sent from inside the request that caused an event. A new alert's event
//! is an outbox item written in the ingest transaction that raises the alert
//! ([`outbox`]); audit entries are streamed from the audit log itself, which every
//! change already writes atomically. The [`worker`] routes each event to the
//! endpoints whose rules match, queues one delivery per endpoint (written
//! `MustNotExist`, so an event reaches an endpoint's queue once), and sends each
//! endpoint's queue in order, signed, retrying with back-off.

pub mod outbox;
pub mod send;
pub mod worker;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::api::{
    AuditActor, CreateNotificationRule, CreateWebhookEndpoint, CreatedWebhookEndpoint, Delivery,
    MAX_NOTIFICATION_RULES, MAX_WEBHOOK_ENDPOINTS, NotificationRule, Page, PageRequest,
    WebhookEndpoint, WebhookEvent,
};
use shared::authz::{Permission, Principal, Target};
use shared::model::{
    EventKind, NotificationRuleId, SubscriptionId, WebhookEndpointId, WebhookTargets,
};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{self, Authorized};
use crate::audit;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, json};
use crate::http::params::{IfMatch, Params, json_with_etag};
use crate::http::principal::Caller;
use crate::http::sensor::new_secret;
use crate::ids;
use crate::keys;
use crate::openapi::{CreateErrors, DeleteErrors, IfMatchHeader, InSubscription, ListErrors};
use crate::records;
use crate::store::{Condition, StoreError, Table, TableRead, Write};

/// What every endpoint's signing secret starts with.
const SECRET_PREFIX: &str = "whsec_";

/// A subscription's endpoints, with their signing secrets, and its rules: one item
/// (`keys::notification_config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NotificationConfig {
    pub endpoints: Vec<StoredEndpoint>,
    pub rules: Vec<NotificationRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredEndpoint {
    pub endpoint: WebhookEndpoint,
    /// The HMAC key of its deliveries: kept, since signing needs it; never answered
    /// after creation.
    pub secret: String,
}

impl NotificationConfig {
    pub fn endpoint(&self, id: &WebhookEndpointId) -> Option<&StoredEndpoint> {
        self.endpoints.iter().find(|e| e.endpoint.id == *id)
    }

    /// Whether some rule routes events of `kind`.
    pub fn routes(&self, kind: EventKind) -> bool {
        self.rules.iter().any(|rule| rule.events.contains(&kind))
    }
}

pub async fn config(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
) -> ApiResult<(NotificationConfig, Option<u64>)> {
    Ok(
        match records::read(table, &keys::notification_config(subscription)).await? {
            Some(stored) => (stored.record, Some(stored.version)),
            None => (NotificationConfig::default(), None),
        },
    )
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhook_endpoints, create_webhook_endpoint))
        .routes(routes!(delete_webhook_endpoint))
        .routes(routes!(send_webhook_test_event))
        .routes(routes!(list_notification_rules, create_notification_rule))
        .routes(routes!(delete_notification_rule))
        .routes(routes!(list_webhook_deliveries))
}

pub fn router() -> Router<AppState> {
    routes().into()
}

/// Notification settings reach every site's alerts and the audit log: they need
/// `grant_permissions` at subscription scope, as the audit log does.
async fn authorize(table: &dyn TableRead, caller: &Principal, sub: &str) -> ApiResult<Authorized> {
    let authorized = access::authorize(table, caller, sub).await?;
    authorized.require(Permission::GrantPermissions, Target::Subscription)?;
    Ok(authorized)
}

/// How often a settings change is decided again after losing a race with another.
const MAX_ATTEMPTS: u32 = 16;

/// Reads the settings, lets `decide` change them, and commits the change with the
/// worker's mark and the audit entry in one transaction (conditional on the version
/// read; a lost race is decided again).
async fn change<T>(
    table: &dyn Table,
    principal: &Principal,
    subscription: &SubscriptionId,
    if_match: IfMatch,
    mut decide: impl FnMut(&mut NotificationConfig) -> ApiResult<Audited<T>>,
) -> ApiResult<T> {
    for attempt in 0..MAX_ATTEMPTS {
        let (mut config, version) = config(table, subscription).await?;
        let audited = decide(&mut config)?;
        if_match.check(version.unwrap_or_default())?;
        let writes = vec![
            Write::Put {
                item: records::item(keys::notification_config(subscription), &config)?,
                condition: version.map_or(Condition::MustNotExist, Condition::VersionIs),
            },
            Write::Put {
                item: records::item(keys::notifying_subscription(subscription), &())?,
                condition: Condition::Always,
            },
            audit::Change {
                actor: AuditActor::User {
                    email: principal.email.clone(),
                },
                action: audited.action,
                subscription,
                site: None,
                target: &audited.target,
            }
            .write(OffsetDateTime::now_utc(), audited.before, audited.after)?,
        ];
        match table.transact(writes).await {
            Ok(_) => return Ok(audited.output),
            Err(StoreError::ConditionFailed { index: 0 }) if if_match != IfMatch::Any => {
                return Err(ApiError::PreconditionFailed);
            }
            Err(StoreError::ConditionFailed { index: 0 }) => {
                crate::contention::back_off(attempt).await;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the notification settings are being changed by many requests at once; try again".into(),
    ))
}

struct Audited<T> {
    action: &'static str,
    target: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    output: T,
}

fn all<T>(items: Vec<T>) -> Page<T> {
    Page {
        items,
        next_cursor: None,
    }
}

fn new_id<T>(parse: impl FnOnce(String) -> Result<T, shared::model::InvalidId>) -> ApiResult<T> {
    parse(ids::new()).map_err(|e| ApiError::Internal(e.to_string()))
}

fn now_to_the_second() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

// ----- Endpoints -----

/// Lists the webhook endpoints (at most 10, one page), never their secrets.
///
/// Needs `grant_permissions` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/webhook-endpoints",
    tag = "notifications",
    params(InSubscription),
    responses(
        (status = 200, description = "Every endpoint", body = Page<WebhookEndpoint>,
            headers(("ETag" = String, description = "The version of the notification settings, for If-Match on a DELETE"))),
        ListErrors,
    )
)]
async fn list_webhook_endpoints(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    let authorized = authorize(table.as_ref(), &principal, &sub).await?;
    let (config, version) = config(table.as_ref(), &authorized.subscription.id).await?;
    let endpoints = config.endpoints.into_iter().map(|e| e.endpoint).collect();
    let page = all::<WebhookEndpoint>(endpoints);
    Ok(json_with_etag(
        StatusCode::OK,
        &page,
        version.unwrap_or_default(),
    ))
}

/// Adds a webhook endpoint. The answer carries its signing secret, this once.
///
/// Needs `grant_permissions` at subscription scope. A URL whose host is, or resolves
/// to, a loopback, private or link-local address is `400` unless the operator allows
/// private targets; an 11th endpoint is `409`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/webhook-endpoints",
    tag = "notifications",
    params(InSubscription),
    request_body = CreateWebhookEndpoint,
    responses(
        (status = 201, description = "The endpoint and its secret, shown once", body = CreatedWebhookEndpoint),
        CreateErrors,
    )
)]
async fn create_webhook_endpoint(
    State(table): State<Arc<dyn Table>>,
    State(targets): State<WebhookTargets>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = authorize(table.as_ref(), &principal, &sub).await?;
    let request: CreateWebhookEndpoint = body.parse()?;
    send::resolve(&request.url, targets)
        .await
        .map_err(|refused| ApiError::invalid_field("url", refused))?;
    let endpoint = WebhookEndpoint {
        id: new_id(WebhookEndpointId::parse)?,
        name: request.name,
        url: request.url,
        created_by: principal.email.clone(),
        created_at: now_to_the_second(),
    };
    let secret = new_secret(SECRET_PREFIX)?;
    let subscription = authorized.subscription.id;
    let endpoint = change(
        table.as_ref(),
        &principal,
        &subscription,
        IfMatch::Any,
        |config| {
            if config.endpoints.len() >= MAX_WEBHOOK_ENDPOINTS {
                return Err(ApiError::Conflict(format!(
                    "a subscription has at most {MAX_WEBHOOK_ENDPOINTS} webhook endpoints"
                )));
            }
            config.endpoints.push(StoredEndpoint {
                endpoint: endpoint.clone(),
                secret: secret.clone(),
            });
            Ok(Audited {
                action: "webhook_endpoint.create",
                target: endpoint.id.to_string(),
                before: None,
                after: audit::snapshot(&endpoint),
                output: endpoint.clone(),
            })
        },
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &CreatedWebhookEndpoint { endpoint, secret },
    ))
}

/// Removes a webhook endpoint; what was queued for it is then given up.
///
/// Needs `grant_permissions` at subscription scope; `409` while a rule routes to it.
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/webhook-endpoints/{id}",
    tag = "notifications",
    params(InSubscription, ("id" = inline(shared::model::WebhookEndpointId), Path, description = "The endpoint's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Removed"),
        DeleteErrors,
    )
)]
async fn delete_webhook_endpoint(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let authorized = authorize(table.as_ref(), &principal, &sub).await?;
    let not_found = || ApiError::NotFound("no such webhook endpoint".into());
    let id = WebhookEndpointId::parse(id).map_err(|_| not_found())?;
    change(
        table.as_ref(),
        &principal,
        &authorized.subscription.id,
        if_match,
        |config| {
            let position = config
                .endpoints
                .iter()
                .position(|e| e.endpoint.id == id)
                .ok_or_else(not_found)?;
            if let Some(rule) = config.rules.iter().find(|r| r.endpoint_id == id) {
                return Err(ApiError::Conflict(format!(
                    "rule {} routes to this endpoint; delete the rule first",
                    rule.name
                )));
            }
            let removed = config.endpoints.remove(position).endpoint;
            Ok(Audited {
                action: "webhook_endpoint.delete",
                target: id.to_string(),
                before: audit::snapshot(&removed),
                after: None,
                output: (),
            })
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Queues a `test` event for one endpoint: the worker sends it like any other, so the
/// delivery log then shows whether the receiver took it.
///
/// Needs `grant_permissions` at subscription scope.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/webhook-endpoints/{id}/test",
    tag = "notifications",
    params(InSubscription, ("id" = inline(shared::model::WebhookEndpointId), Path, description = "The endpoint's id")),
    responses(
        (status = 202, description = "Queued; the delivery as the log will show it", body = Delivery),
        DeleteErrors,
    )
)]
async fn send_webhook_test_event(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let authorized = authorize(table.as_ref(), &principal, &sub).await?;
    let not_found = || ApiError::NotFound("no such webhook endpoint".into());
    let id = WebhookEndpointId::parse(id).map_err(|_| not_found())?;
    let subscription = authorized.subscription.id;
    let (config, _) = config(table.as_ref(), &subscription).await?;
    config.endpoint(&id).ok_or_else(not_found)?;
    let now = OffsetDateTime::now_utc();
    let event = WebhookEvent {
        id: ids::time_ordered(now),
        kind: EventKind::Test,
        subscription_id: subscription.clone(),
        at: now,
        data: serde_json::json!({
            "message": "A test event from Vigil",
            "requested_by": principal.email,
        }),
    };
    let (writes, delivery) = worker::queue(&subscription, &event, &id, now)?;
    table.transact(writes).await?;
    Ok(json(StatusCode::ACCEPTED, &delivery))
}

// ----- Rules -----

/// Lists the notification rules (at most 50, one page).
///
/// Needs `grant_permissions` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/notification-rules",
    tag = "notifications",
    params(InSubscription),
    responses(
        (status = 200, description = "Every rule", body = Page<NotificationRule>,
            headers(("ETag" = String, description = "The version of the notification settings, for If-Match on a DELETE"))),
        ListErrors,
    )
)]
async fn list_notification_rules(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    let authorized = authorize(table.as_ref(), &principal, &sub).await?;
    let (config, version) = config(table.as_ref(), &authorized.subscription.id).await?;
    let page = all(config.rules);
    Ok(json_with_etag(
        StatusCode::OK,
        &page,
        version.unwrap_or_default(),
    ))
}

/// Adds a notification rule: events of its kinds that pass its filter go to its
/// endpoint, from now on.
///
/// Needs `grant_permissions` at subscription scope. An unknown endpoint or site, no
/// event kind or `test` among them is `400`; a 51st rule is `409`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/notification-rules",
    tag = "notifications",
    params(InSubscription),
    request_body = CreateNotificationRule,
    responses(
        (status = 201, description = "The new rule", body = NotificationRule),
        CreateErrors,
    )
)]
async fn create_notification_rule(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let table = table.as_ref();
    let authorized = authorize(table, &principal, &sub).await?;
    let request: CreateNotificationRule = body.parse()?;
    request
        .check()
        .map_err(|(field, problem)| ApiError::invalid_field(field, problem))?;
    let subscription = authorized.subscription.id;
    if let Some(site) = &request.filter.site_id
        && table.get(&keys::site(&subscription, site)).await?.is_none()
    {
        return Err(ApiError::invalid_field(
            "filter.site_id",
            format!("there is no site {site} in this subscription"),
        ));
    }
    let rule = NotificationRule {
        id: new_id(NotificationRuleId::parse)?,
        name: request.name,
        endpoint_id: request.endpoint_id,
        events: request.events,
        filter: request.filter,
        escalate_after_minutes: request.escalate_after_minutes,
        created_by: principal.email.clone(),
        created_at: OffsetDateTime::now_utc(),
    };
    let rule = change(table, &principal, &subscription, IfMatch::Any, |config| {
        if config.endpoint(&rule.endpoint_id).is_none() {
            return Err(ApiError::invalid_field(
                "endpoint_id",
                format!("there is no webhook endpoint {}", rule.endpoint_id),
            ));
        }
        if config.rules.len() >= MAX_NOTIFICATION_RULES {
            return Err(ApiError::Conflict(format!(
                "a subscription has at most {MAX_NOTIFICATION_RULES} notification rules"
            )));
        }
        config.rules.push(rule.clone());
        Ok(Audited {
            action: "notification_rule.create",
            target: rule.id.to_string(),
            before: None,
            after: audit::snapshot(&rule),
            output: rule.clone(),
        })
    })
    .await?;
    Ok(json(StatusCode::CREATED, &rule))
}

/// Removes a notification rule; what it already queued is still delivered.
///
/// Needs `grant_permissions` at subscription scope.
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/notification-rules/{id}",
    tag = "notifications",
    params(InSubscription, ("id" = inline(shared::model::NotificationRuleId), Path, description = "The rule's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Removed"),
        DeleteErrors,
    )
)]
async fn delete_notification_rule(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let authorized = authorize(table.as_ref(), &principal, &sub).await?;
    let not_found = || ApiError::NotFound("no such notification rule".into());
    let id = NotificationRuleId::parse(id).map_err(|_| not_found())?;
    change(
        table.as_ref(),
        &principal,
        &authorized.subscription.id,
        if_match,
        |config| {
            let position = config
                .rules
                .iter()
                .position(|r| r.id == id)
                .ok_or_else(not_found)?;
            let removed = config.rules.remove(position);
            Ok(Audited {
                action: "notification_rule.delete",
                target: id.to_string(),
                before: audit::snapshot(&removed),
                after: None,
                output: (),
            })
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- Delivery log -----

/// The delivery log, newest event first: each event's delivery to each endpoint, with
/// its status, attempts and the receiver's last answer.
///
/// Needs `grant_permissions` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/webhook-deliveries",
    tag = "notifications",
    params(InSubscription, PageRequest),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<Delivery>),
        ListErrors,
    )
)]
async fn list_webhook_deliveries(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = authorize(table.as_ref(), &principal, &sub).await?;
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    let query = crate::store::Query {
        cursor: page.cursor.clone(),
        ..keys::deliveries_query(&authorized.subscription.id, limit)
    };
    let found = table.query(&query).await?;
    let deliveries: Page<Delivery> = records::page(found)?;
    Ok(json(StatusCode::OK, &deliveries))
}
