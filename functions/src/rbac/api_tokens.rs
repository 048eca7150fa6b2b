//! API tokens: service principals of one subscription, for scripts and SIEMs.
//!
//! A token is three things, written and removed in one policy change: its role
//! assignment in the subscription's policy, naming its service principal's address
//! (so it is authorized exactly like a user, by the same code); its record under the
//! secret's SHA-256 (`keys::api_token`, what authentication reads — deleting it revokes
//! the token at once); and its entry in the subscription's partition, which lists it.
//! The secret itself is answered once and stored nowhere.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::{
    ApiToken, CreateApiToken, CreateRoleAssignment, CreatedApiToken,
    MAX_API_TOKENS_PER_SUBSCRIPTION, Page, PageRequest, RequestedAssignmentScope,
    RoleAssignmentFilter,
};
use shared::authz::{
    MAX_ASSIGNMENTS_PER_SUBSCRIPTION, Permission, PrincipalRef, RoleAssignment, Scope, Target,
    api_token_principal,
};
use shared::model::{ApiTokenId, AssignmentId, SubscriptionId};
use time::{Duration, OffsetDateTime};

use super::{AuditedChange, PolicyChange, apply, check_assignable, new_id, page_of, require_site};
use crate::access;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, json};
use crate::http::params::{IfMatch, Params, json_with_etag};
use crate::http::principal::{API_TOKEN_PREFIX, Caller};
use crate::http::sensor::{new_secret, token_hash};
use crate::keys;
use crate::openapi::{CreateErrors, DeleteErrors, IfMatchHeader, InSubscription, ListErrors};
use crate::records::{self, ApiTokenEntry, ApiTokenRecord};
use crate::store::{Condition, Table, TableRead, Write};

/// Lists the API tokens: every one in the subscription, or with `site_id` those
/// scoped to that site. Never their secrets.
///
/// Needs `grant_permissions` at that scope (the subscription, or the site).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/api-tokens",
    tag = "rbac",
    params(InSubscription, RoleAssignmentFilter, PageRequest),
    responses(
        (status = 200, description = "A page of API tokens", body = Page<ApiToken>,
            headers(("ETag" = String, description = "The version of the subscription's policy, for If-Match on a DELETE"))),
        ListErrors,
    )
)]
pub(super) async fn list_api_tokens(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<RoleAssignmentFilter>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let table = table.as_ref();
    let authorized = access::authorize(table, &principal, &sub).await?;
    let filter = filter.get();
    // A filter that cannot be read names no site: the subscription-wide check applies.
    let site = filter.as_ref().ok().and_then(|f| f.site_id.as_ref());
    authorized.require(
        Permission::GrantPermissions,
        site.map_or(Target::Subscription, Target::Site),
    )?;
    let site = filter?.site_id;
    let page = page.get()?;
    let tokens = tokens_of(table, &authorized.subscription.id)
        .await?
        .into_iter()
        .filter(|token| site.is_none() || token.site_id == site)
        .collect();
    let page = page_of(tokens, |token: &ApiToken| token.id.to_string(), page)?;
    Ok(json_with_etag(StatusCode::OK, &page, authorized.version))
}

/// Creates an API token holding one role over the subscription or one site, valid
/// for `expires_in_days`. The answer carries its secret, this once; send it as
/// `Authorization: Bearer <secret>` to the user API (never to ingest).
///
/// Needs `grant_permissions` at the token's scope. A site or custom role that does not
/// exist, or a role that grants nothing at a site, is `400`; more than
/// 100 tokens is `409`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/api-tokens",
    tag = "rbac",
    params(InSubscription),
    request_body = CreateApiToken,
    responses(
        (status = 201, description = "The new token and its secret, shown once", body = CreatedApiToken),
        CreateErrors,
    )
)]
pub(super) async fn create_api_token(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let table = table.as_ref();
    let authorized = access::authorize(table, &principal, &sub).await?;
    // Permission first: read only the scope (an unreadable body needs it everywhere).
    let requested: RequestedAssignmentScope = body.parse().unwrap_or_default();
    let target_site = requested.site();
    authorized.require(
        Permission::GrantPermissions,
        target_site
            .as_ref()
            .map_or(Target::Subscription, Target::Site),
    )?;
    let request: CreateApiToken = body.parse()?;
    let subscription_id = authorized.subscription.id.clone();
    if let Some(site) = &request.site_id {
        require_site(table, &subscription_id, site, "site_id").await?;
    }
    let id: ApiTokenId = new_id(ApiTokenId::parse)?;
    let assignment_id: AssignmentId = new_id(AssignmentId::parse)?;
    let secret = new_secret(API_TOKEN_PREFIX)?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let token = ApiToken {
        id: id.clone(),
        name: request.name.clone(),
        principal: api_token_principal(&id),
        role: request.role.clone(),
        site_id: request.site_id.clone(),
        created_by: principal.email.clone(),
        created_at: now,
        expires_at: now + Duration::days(i64::from(request.expires_in_days.days())),
        last_used_at: None,
    };
    let hash = token_hash(&secret);
    let token = apply(table, &principal, &sub, IfMatch::Any, |authorized| {
        authorized.require(Permission::GrantPermissions, request.scope().granting_target())?;
        let mut subscription = authorized.subscription.clone();
        let as_assignment = CreateRoleAssignment {
            principal: PrincipalRef::User(token.principal.clone()),
            role: request.role.clone(),
            scope: request.scope(),
        };
        check_assignable(&subscription, &as_assignment)?;
        let tokens = subscription
            .assignments
            .iter()
            .filter(|a| a.principal.is_api_token())
            .count();
        if tokens >= MAX_API_TOKENS_PER_SUBSCRIPTION {
            return Err(ApiError::Conflict(format!(
                "a subscription has at most {MAX_API_TOKENS_PER_SUBSCRIPTION} API tokens; revoke one first"
            )));
        }
        if subscription.assignments.len() >= MAX_ASSIGNMENTS_PER_SUBSCRIPTION {
            return Err(ApiError::Conflict(format!(
                "a subscription has at most {MAX_ASSIGNMENTS_PER_SUBSCRIPTION} role assignments, an API token's included"
            )));
        }
        subscription.assignments.push(RoleAssignment {
            id: assignment_id.clone(),
            principal: as_assignment.principal,
            role: as_assignment.role,
            scope: as_assignment.scope,
        });
        let record = ApiTokenRecord {
            subscription_id: subscription.id.clone(),
            token: token.clone(),
        };
        let entry = ApiTokenEntry {
            token_hash: hash.clone(),
        };
        let also = vec![
            Write::Put {
                item: records::item(keys::api_token(&hash), &record)?,
                condition: Condition::MustNotExist,
            },
            Write::Put {
                item: records::item(keys::api_token_entry(&subscription.id, &id), &entry)?,
                condition: Condition::MustNotExist,
            },
        ];
        Ok(PolicyChange {
            also,
            subscription,
            must_exist: Vec::new(),
            audit: AuditedChange::created("api_token.create", id.as_str(), &token)
                .at_site(token.site_id.as_ref()),
            output: token.clone(),
        })
    })
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &CreatedApiToken { token, secret },
    ))
}

/// Revokes an API token: from this request on, its secret is `401` everywhere.
///
/// Needs `grant_permissions` at the token's scope.
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/api-tokens/{id}",
    tag = "rbac",
    params(InSubscription, ("id" = inline(shared::model::ApiTokenId), Path, description = "The token's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Revoked"),
        DeleteErrors,
    )
)]
pub(super) async fn revoke_api_token(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let table = table.as_ref();
    let not_found = || ApiError::NotFound("no such API token".into());
    let authorized = access::authorize(table, &principal, &sub).await?;
    let id = ApiTokenId::parse(id).map_err(|_| not_found())?;
    let entry_key = keys::api_token_entry(&authorized.subscription.id, &id);
    let entry: ApiTokenEntry = match table.get(&entry_key).await? {
        Some(item) => records::decode(&item)?,
        None => return Err(not_found()),
    };
    let record_key = keys::api_token(&entry.token_hash);
    let token = match table.get(&record_key).await? {
        Some(item) => records::decode::<ApiTokenRecord>(&item)?.token,
        None => return Err(not_found()),
    };
    let token_principal = PrincipalRef::User(token.principal.clone());
    apply(table, &principal, &sub, if_match, |authorized| {
        let mut subscription = authorized.subscription.clone();
        let scope = token
            .site_id
            .clone()
            .map_or(Scope::Subscription, Scope::Site);
        authorized.require(Permission::GrantPermissions, scope.granting_target())?;
        if_match.check(authorized.version)?;
        // Gone already when its site was deleted; the token then reached nothing.
        subscription
            .assignments
            .retain(|assignment| assignment.principal != token_principal);
        Ok(PolicyChange {
            also: vec![
                // Unconditional: of two revocations racing, both may answer 204.
                Write::Delete {
                    key: record_key.clone(),
                    condition: Condition::Always,
                },
                Write::Delete {
                    key: entry_key.clone(),
                    condition: Condition::Always,
                },
            ],
            subscription,
            must_exist: Vec::new(),
            audit: AuditedChange::deleted("api_token.delete", id.as_str(), &token)
                .at_site(token.site_id.as_ref()),
            output: (),
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Every API token of a subscription: its entries, then their records in one read.
async fn tokens_of(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
) -> ApiResult<Vec<ApiToken>> {
    let entries: Vec<ApiTokenEntry> = records::read_all(
        table,
        keys::api_token_entries_query(subscription, MAX_API_TOKENS_PER_SUBSCRIPTION as u32),
    )
    .await?;
    let keys: Vec<_> = entries
        .iter()
        .map(|entry| keys::api_token(&entry.token_hash))
        .collect();
    table
        .get_many(&keys)
        .await?
        .into_iter()
        .flatten()
        .map(|item| records::decode::<ApiTokenRecord>(&item).map(|record| record.token))
        .collect()
}
