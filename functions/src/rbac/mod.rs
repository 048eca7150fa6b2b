//! Roles, role assignments, custom roles, device groups and the audit log.
//!
//! A subscription's whole authorization policy is one item (`SUB#<id>/META`,
//! [`SubscriptionRecord`]), so every policy change here is ONE conditional write of
//! that item (`VersionIs` the version read), in one transaction with the membership
//! items it adds or removes and its audit entry. Last-owner protection and uniqueness
//! are therefore race-free: of two concurrent changes only one commits, the other
//! re-reads the policy and decides again ([`apply`]).
//!
//! Choices the contract leaves open (see `docs/rbac.md`):
//! - `GET /subscriptions/{sub}/roles` lists the built-in roles, then the custom ones.
//! - A custom role or a device group still used by an assignment cannot be deleted
//!   (`409`): deleting it would silently change what the assignment grants.
//! - An assignment at a site that does not exist, with a custom role or device group
//!   that does not exist, or whose role grants nothing at a site while the scope is a
//!   site or device group, is refused with `400` naming the field.
//! - `GET .../role-assignments?site_id=` lists the assignments made at that site.
//! - Groups are the identity provider's (the token's `groups` claim); Vigil keeps no
//!   group directory, an assignment simply names `group:<id>`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use shared::api::{
    AuditActor, AuditEntry, AuditFilter, CreateDeviceGroup, CreateRole, CreateRoleAssignment, Page,
    PageRequest, RequestedAssignmentScope, Role, RoleAssignmentFilter,
};
use shared::authz::{
    BuiltInRole, CustomRole, MAX_ASSIGNMENTS_PER_SUBSCRIPTION, MAX_CUSTOM_ROLES_PER_SUBSCRIPTION,
    MAX_DEVICE_GROUPS_PER_SUBSCRIPTION, Permission, PermissionSet, Principal, RoleAssignment,
    RoleRef, Scope, Target, last_owner_refusal,
};
use shared::model::{
    AssignmentId, DeviceGroup, DeviceGroupId, RoleId, SiteId, SiteSelector, SubscriptionId,
};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod api_tokens;

use crate::access::{self, Authorized};
use crate::audit;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, json};
use crate::http::params::{IfMatch, Params, json_with_etag};
use crate::http::principal::Caller;
use crate::ids;
use crate::keys;
use crate::openapi::{
    CreateErrors, DeleteErrors, IfMatchHeader, InSubscription, Invalid, ListErrors, Unauthenticated,
};
use crate::records::{self, MembershipRecord, SubscriptionRecord};
use crate::store::{Condition, Query, SortKeyRange, StoreError, Table, TableRead, Write};

/// The RBAC routes, with their document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_built_in_roles))
        .routes(routes!(list_roles, create_role))
        .routes(routes!(delete_role))
        .routes(routes!(list_assignments, create_assignment))
        .routes(routes!(delete_assignment))
        .routes(routes!(list_device_groups, create_device_group))
        .routes(routes!(delete_device_group))
        .routes(routes!(audit_log))
        .routes(routes!(
            api_tokens::list_api_tokens,
            api_tokens::create_api_token
        ))
        .routes(routes!(api_tokens::revoke_api_token))
}

/// The RBAC function's routes.
pub fn router() -> Router<AppState> {
    routes().into()
}

// ----- Policy changes -----

/// How often a policy change is decided again after losing a race with another
/// change of the same subscription. Each lost race means another change committed,
/// so this many concurrent changes always all get through.
const MAX_ATTEMPTS: u32 = 32;

/// One change of a subscription's policy, decided from the policy as read.
struct PolicyChange<T> {
    /// The subscription with its new policy.
    subscription: SubscriptionRecord,
    /// Items that must still exist for the change to make sense (e.g. the site of a
    /// new site-scope assignment), each with the `400` message if it does not.
    must_exist: Vec<(crate::store::Key, String)>,
    audit: AuditedChange,
    /// Further writes of the change, committed with it (an API token's own items).
    also: Vec<Write>,
    /// What the handler answers.
    output: T,
}

/// The audit entry of a policy change.
struct AuditedChange {
    action: &'static str,
    site: Option<SiteId>,
    target: String,
    before: Option<Value>,
    after: Option<Value>,
}

impl AuditedChange {
    fn created<R: Serialize>(action: &'static str, target: &str, resource: &R) -> Self {
        AuditedChange {
            action,
            site: None,
            target: target.to_owned(),
            before: None,
            after: audit::snapshot(resource),
        }
    }

    fn deleted<R: Serialize>(action: &'static str, target: &str, resource: &R) -> Self {
        AuditedChange {
            action,
            site: None,
            target: target.to_owned(),
            before: audit::snapshot(resource),
            after: None,
        }
    }

    fn at_site(mut self, site: Option<&SiteId>) -> Self {
        self.site = site.cloned();
        self
    }
}

/// Reads the subscription's policy, lets `decide` check the request against it and
/// plan the change, and commits the change with one conditional write of the
/// subscription item, its membership bookkeeping and its audit entry in one
/// transaction. When another change committed in between, the policy is read and
/// decided again — unless the caller sent `If-Match`, which then is stale (`412`).
///
/// `decide` runs the contract's checks after the subscription's existence: permission
/// (`403`), validation (`400`), `If-Match` (`412`, checked here), state (`409`).
async fn apply<T>(
    table: &dyn Table,
    principal: &Principal,
    subscription: &str,
    if_match: IfMatch,
    mut decide: impl FnMut(&Authorized) -> ApiResult<PolicyChange<T>>,
) -> ApiResult<T> {
    for attempt in 0..MAX_ATTEMPTS {
        let authorized = access::authorize(table, principal, subscription).await?;
        let change = decide(&authorized)?;
        let writes = transaction(principal, &authorized, &change)?;
        match table.transact(writes).await {
            Ok(_) => return Ok(change.output),
            Err(StoreError::ConditionFailed { index: 0 }) => {
                if if_match != IfMatch::Any {
                    return Err(ApiError::PreconditionFailed);
                }
                crate::contention::back_off(attempt).await;
            }
            Err(StoreError::ConditionFailed { index }) => {
                let refusal = change
                    .must_exist
                    .get(index.wrapping_sub(FIRST_CHECK))
                    .map(|(_, refusal)| refusal.clone());
                return Err(match refusal {
                    Some(refusal) => ApiError::Invalid(refusal),
                    None => ApiError::Internal(format!("write {index} of a policy change failed")),
                });
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the subscription's roles are being changed by many requests at once; try again".into(),
    ))
}

/// Where a policy change's existence checks start: after the subscription item and its
/// head ([`access::policy_writes`]).
const FIRST_CHECK: usize = 2;

/// The writes of one policy change: the subscription item first (its condition
/// failing is a lost race) and its head, then the existence checks, the membership items, the
/// change's own further writes and the audit entry.
fn transaction<T>(
    principal: &Principal,
    authorized: &Authorized,
    change: &PolicyChange<T>,
) -> ApiResult<Vec<Write>> {
    let now = OffsetDateTime::now_utc();
    let id = &change.subscription.id;
    let mut writes = Vec::from(access::policy_writes(
        &change.subscription,
        Some(authorized.version),
    )?);
    debug_assert_eq!(writes.len(), FIRST_CHECK);
    writes.extend(change.must_exist.iter().map(|(key, _)| Write::Check {
        key: key.clone(),
        condition: Condition::MustExist,
    }));
    writes.extend(membership_writes(
        &authorized.subscription,
        &change.subscription,
    )?);
    writes.extend(change.also.iter().cloned());
    let audited = &change.audit;
    writes.push(
        audit::Change {
            actor: AuditActor::User {
                email: principal.email.clone(),
            },
            action: audited.action,
            subscription: id,
            site: audited.site.as_ref(),
            target: &audited.target,
        }
        .write(now, audited.before.clone(), audited.after.clone())?,
    );
    Ok(writes)
}

/// Keeps `PRINCIPAL#<principal>/SUB#<id>` in step with the assignments: put when a
/// principal gets its first assignment in the subscription, deleted when its last
/// one goes.
pub fn membership_writes(
    before: &SubscriptionRecord,
    after: &SubscriptionRecord,
) -> ApiResult<Vec<Write>> {
    let holders = |record: &SubscriptionRecord| {
        record
            .assignments
            .iter()
            .map(|assignment| assignment.principal.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (old, new) = (holders(before), holders(after));
    let mut writes = Vec::new();
    for joined in new.difference(&old) {
        let membership = MembershipRecord {
            subscription_id: after.id.clone(),
            subscription_name: after.name.clone(),
        };
        writes.push(Write::Put {
            item: records::item(keys::membership(joined, &after.id), &membership)?,
            condition: Condition::Always,
        });
    }
    for left in old.difference(&new) {
        writes.push(Write::Delete {
            key: keys::membership(left, &after.id),
            condition: Condition::Always,
        });
    }
    Ok(writes)
}

fn new_id<T>(parse: impl FnOnce(String) -> Result<T, shared::model::InvalidId>) -> ApiResult<T> {
    parse(ids::new()).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `400` unless `site` is a site of the subscription.
async fn require_site(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    site: &SiteId,
    field: &str,
) -> ApiResult<()> {
    match table.get(&keys::site(subscription, site)).await? {
        Some(_) => Ok(()),
        None => Err(no_such_site(field, site)),
    }
}

fn no_such_site(field: &str, site: &SiteId) -> ApiError {
    ApiError::invalid_field(
        field,
        format!("there is no site {site} in this subscription"),
    )
}

// ----- Lists held in the subscription item -----

/// One page of a list kept in memory, in the order of `key` (ascending, unique). The
/// cursor is the key of the last item returned: a forged one only skips items of the
/// same list, which the caller may see whole anyway.
fn page_of<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    request: PageRequest,
) -> ApiResult<Page<T>> {
    let limit = request
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))? as usize;
    items.sort_by_key(|item| key(item));
    let start = match &request.cursor {
        None => 0,
        Some(cursor) => {
            let after = decode_cursor(cursor)?;
            items.partition_point(|item| key(item) <= after)
        }
    };
    let rest: Vec<T> = items.into_iter().skip(start).collect();
    let next_cursor = (rest.len() > limit).then(|| encode_cursor(&key(&rest[limit - 1])));
    Ok(Page {
        items: rest.into_iter().take(limit).collect(),
        next_cursor,
    })
}

const CURSOR_PREFIX: &str = "after:";

fn encode_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{key}"))
}

fn decode_cursor(cursor: &str) -> ApiResult<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(CURSOR_PREFIX).map(str::to_owned))
        .ok_or_else(|| {
            ApiError::invalid_field(
                "cursor",
                "is not a cursor this list issued; pass back next_cursor as is",
            )
        })
}

// ----- Roles -----

/// The sort key of a role in lists: the built-in roles first, in the seed's order,
/// then the custom ones by id (time-ordered, so by creation).
fn role_order(role: &Role) -> String {
    match &role.id {
        RoleRef::BuiltIn(built_in) => {
            let position = BuiltInRole::ALL
                .iter()
                .position(|r| r == built_in)
                .unwrap_or_default();
            format!("0{position}")
        }
        RoleRef::Custom(id) => format!("1{id}"),
    }
}

/// Lists the built-in roles and their permissions.
///
/// Needs only a valid token.
#[utoipa::path(
    get,
    path = "/api/roles",
    tag = "rbac",
    params(PageRequest),
    responses(
        (status = 200, description = "A page of roles", body = Page<Role>),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthenticated),
    )
)]
async fn list_built_in_roles(
    Caller(_principal): Caller,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let page = page_of(Role::built_in_roles(), role_order, page.get()?)?;
    Ok(json(StatusCode::OK, &page))
}

/// Lists the roles of a subscription: the built-in ones, then the custom ones.
///
/// Needs `grant_permissions` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/roles",
    tag = "rbac",
    params(InSubscription, PageRequest),
    responses(
        (status = 200, description = "A page of roles", body = Page<Role>,
            headers(("ETag" = String, description = "The version of the subscription's policy, for If-Match on a DELETE"))),
        ListErrors,
    )
)]
async fn list_roles(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::GrantPermissions, Target::Subscription)?;
    let roles = Role::built_in_roles()
        .into_iter()
        .chain(
            authorized
                .subscription
                .custom_roles
                .into_iter()
                .map(Role::from),
        )
        .collect();
    let page = page_of(roles, role_order, page.get()?)?;
    Ok(json_with_etag(StatusCode::OK, &page, authorized.version))
}

/// Adds a custom role: a named set of permissions.
///
/// Needs `grant_permissions` at subscription scope. A taken name is `409`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/roles",
    tag = "rbac",
    params(InSubscription),
    request_body = CreateRole,
    responses(
        (status = 201, description = "The new role", body = Role),
        CreateErrors,
    )
)]
async fn create_role(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let id: RoleId = new_id(RoleId::parse)?;
    let role = apply(
        table.as_ref(),
        &principal,
        &sub,
        IfMatch::Any,
        |authorized| {
            authorized.require(Permission::GrantPermissions, Target::Subscription)?;
            let request: CreateRole = body.parse()?;
            let mut subscription = authorized.subscription.clone();
            let taken = BuiltInRole::ALL
                .iter()
                .map(|role| role.display_name())
                .chain(subscription.custom_roles.iter().map(|r| r.name.as_str()))
                .any(|name| name.eq_ignore_ascii_case(request.name.as_str()));
            if taken {
                return Err(ApiError::Conflict(format!(
                    "a role named {} already exists",
                    request.name
                )));
            }
            if subscription.custom_roles.len() >= MAX_CUSTOM_ROLES_PER_SUBSCRIPTION {
                return Err(ApiError::Conflict(format!(
                    "a subscription has at most {MAX_CUSTOM_ROLES_PER_SUBSCRIPTION} custom roles"
                )));
            }
            let role = CustomRole {
                id: id.clone(),
                name: request.name,
                permissions: request.permissions,
            };
            subscription.custom_roles.push(role.clone());
            let role = Role::from(role);
            Ok(PolicyChange {
                also: Vec::new(),
                subscription,
                must_exist: Vec::new(),
                audit: AuditedChange::created("role.create", id.as_str(), &role),
                output: role,
            })
        },
    )
    .await?;
    Ok(json(StatusCode::CREATED, &role))
}

/// Deletes a custom role.
///
/// Needs `grant_permissions` at subscription scope. A built-in role, or one still
/// used by an assignment, is `409`.
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/roles/{role}",
    tag = "rbac",
    params(InSubscription, ("role" = inline(shared::model::RoleId), Path, description = "The custom role's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Deleted"),
        DeleteErrors,
    )
)]
async fn delete_role(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, role)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let not_found = || ApiError::NotFound("no such custom role".into());
    let role = RoleRef::parse(&role).map_err(|_| not_found())?;
    apply(table.as_ref(), &principal, &sub, if_match, |authorized| {
        let mut subscription = authorized.subscription.clone();
        let position = match &role {
            RoleRef::Custom(id) => subscription.custom_roles.iter().position(|r| r.id == *id),
            RoleRef::BuiltIn(_) => None,
        };
        let is_built_in = matches!(role, RoleRef::BuiltIn(_));
        if position.is_none() && !is_built_in {
            return Err(not_found());
        }
        authorized.require(Permission::GrantPermissions, Target::Subscription)?;
        if_match.check(authorized.version)?;
        let Some(position) = position else {
            return Err(ApiError::Conflict(format!(
                "{role} is a built-in role and cannot be deleted"
            )));
        };
        let users = subscription
            .assignments
            .iter()
            .filter(|assignment| assignment.role == role)
            .count();
        if users > 0 {
            return Err(ApiError::Conflict(format!(
                "role {role} is used by {users} assignment(s); delete them first"
            )));
        }
        let removed = Role::from(subscription.custom_roles.remove(position));
        Ok(PolicyChange {
            also: Vec::new(),
            subscription,
            must_exist: Vec::new(),
            audit: AuditedChange::deleted("role.delete", role.as_str(), &removed),
            output: (),
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- Role assignments -----

/// Lists role assignments: every one in the subscription, or with `site_id` those
/// made at that site.
///
/// Needs `grant_permissions` at that scope (the subscription, or the site).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/role-assignments",
    tag = "rbac",
    params(InSubscription, RoleAssignmentFilter, PageRequest),
    responses(
        (status = 200, description = "A page of assignments", body = Page<RoleAssignment>,
            headers(("ETag" = String, description = "The version of the subscription's policy, for If-Match on a DELETE"))),
        ListErrors,
    )
)]
async fn list_assignments(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<RoleAssignmentFilter>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let filter = filter.get();
    // A filter that cannot be read names no site: the subscription-wide check applies.
    let site = filter.as_ref().ok().and_then(|f| f.site_id.as_ref());
    let target = site.map_or(Target::Subscription, Target::Site);
    authorized.require(Permission::GrantPermissions, target)?;
    let site = filter?.site_id;
    let assignments = authorized
        .subscription
        .assignments
        .into_iter()
        .filter(|assignment| site.is_none() || assignment.scope.site_id() == site.as_ref())
        .collect();
    let page = page_of(
        assignments,
        |a: &RoleAssignment| a.id.to_string(),
        page.get()?,
    )?;
    Ok(json_with_etag(StatusCode::OK, &page, authorized.version))
}

/// Gives a role to a user (`email`) or group (`group:<id>`) at the subscription, a
/// site or a device group.
///
/// Needs `grant_permissions` at the target scope (a site assignment: at that site; a
/// device group: at subscription scope). A site, custom role or device group that does
/// not exist is `400`; a duplicate is `409`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/role-assignments",
    tag = "rbac",
    params(InSubscription),
    request_body = CreateRoleAssignment,
    responses(
        (status = 201, description = "The new assignment", body = RoleAssignment),
        CreateErrors,
    )
)]
async fn create_assignment(
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
    let target = target_site
        .as_ref()
        .map_or(Target::Subscription, Target::Site);
    authorized.require(Permission::GrantPermissions, target)?;
    let request: CreateRoleAssignment = body.parse()?;
    if request.principal.is_api_token() {
        return Err(ApiError::invalid_field(
            "principal",
            "names an API token, which gets its one role when it is created",
        ));
    }
    let subscription_id = authorized.subscription.id.clone();
    if let Scope::Site(site) = &request.scope {
        require_site(table, &subscription_id, site, "site_id").await?;
    }
    let id: AssignmentId = new_id(AssignmentId::parse)?;
    let assignment = apply(table, &principal, &sub, IfMatch::Any, |authorized| {
        authorized.require(
            Permission::GrantPermissions,
            request.scope.granting_target(),
        )?;
        let mut subscription = authorized.subscription.clone();
        check_assignable(&subscription, &request)?;
        let duplicate = subscription.assignments.iter().any(|a| {
            a.principal == request.principal && a.role == request.role && a.scope == request.scope
        });
        if duplicate {
            return Err(ApiError::Conflict(format!(
                "{} already holds {} at this scope",
                request.principal, request.role
            )));
        }
        if subscription.assignments.len() >= MAX_ASSIGNMENTS_PER_SUBSCRIPTION {
            return Err(ApiError::Conflict(format!(
                "a subscription has at most {MAX_ASSIGNMENTS_PER_SUBSCRIPTION} role assignments"
            )));
        }
        let assignment = RoleAssignment {
            id: id.clone(),
            principal: request.principal.clone(),
            role: request.role.clone(),
            scope: request.scope.clone(),
        };
        subscription.assignments.push(assignment.clone());
        let must_exist = match &request.scope {
            Scope::Site(site) => vec![(
                keys::site(&subscription.id, site),
                no_such_site("site_id", site).to_string(),
            )],
            Scope::Subscription | Scope::DeviceGroup(_) => Vec::new(),
        };
        Ok(PolicyChange {
            also: Vec::new(),
            subscription,
            must_exist,
            audit: AuditedChange::created("role_assignment.create", id.as_str(), &assignment)
                .at_site(assignment.scope.site_id()),
            output: assignment,
        })
    })
    .await?;
    Ok(json(StatusCode::CREATED, &assignment))
}

/// `400` unless the request's role and scope exist in the subscription and the role
/// grants something at the scope.
fn check_assignable(
    subscription: &SubscriptionRecord,
    request: &CreateRoleAssignment,
) -> ApiResult<()> {
    let permissions = match &request.role {
        RoleRef::BuiltIn(role) => role.permissions(),
        RoleRef::Custom(id) => subscription
            .custom_roles
            .iter()
            .find(|role| role.id == *id)
            .map(|role| role.permissions)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "role",
                    format!("there is no role {id} in this subscription"),
                )
            })?,
    };
    if let Scope::DeviceGroup(group) = &request.scope
        && !subscription.device_groups.iter().any(|g| g.id == *group)
    {
        return Err(ApiError::invalid_field(
            "device_group_id",
            format!("there is no device group {group} in this subscription"),
        ));
    }
    let at_sites = !matches!(request.scope, Scope::Subscription);
    if at_sites
        && permissions
            .intersection(PermissionSet::SITE_GRANTABLE)
            .is_empty()
    {
        return Err(ApiError::invalid_field(
            "role",
            format!(
                "{} grants only subscription-wide permissions, so it grants nothing at a site",
                request.role
            ),
        ));
    }
    Ok(())
}

/// Removes a role assignment.
///
/// Needs `grant_permissions` at the assignment's scope. Removing the last
/// subscription-scope `owner` is `409`.
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/role-assignments/{id}",
    tag = "rbac",
    params(InSubscription, ("id" = inline(shared::model::AssignmentId), Path, description = "The assignment's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Removed"),
        DeleteErrors,
    )
)]
async fn delete_assignment(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let not_found = || ApiError::NotFound("no such role assignment".into());
    let id = AssignmentId::parse(id).map_err(|_| not_found())?;
    apply(table.as_ref(), &principal, &sub, if_match, |authorized| {
        let mut subscription = authorized.subscription.clone();
        let position = subscription
            .assignments
            .iter()
            .position(|assignment| assignment.id == id)
            .ok_or_else(not_found)?;
        authorized.require(
            Permission::GrantPermissions,
            subscription.assignments[position].scope.granting_target(),
        )?;
        if_match.check(authorized.version)?;
        if let Some(refusal) = last_owner_refusal(&subscription.assignments, &id) {
            return Err(ApiError::Conflict(refusal.into()));
        }
        if subscription.assignments[position].principal.is_api_token() {
            return Err(ApiError::Conflict(
                "this is an API token's role; revoke the token instead".into(),
            ));
        }
        let assignment = subscription.assignments.remove(position);
        Ok(PolicyChange {
            also: Vec::new(),
            subscription,
            must_exist: Vec::new(),
            audit: AuditedChange::deleted("role_assignment.delete", id.as_str(), &assignment)
                .at_site(assignment.scope.site_id()),
            output: (),
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- Device groups -----

/// Lists the device groups: named sets of sites that roles can be assigned over.
///
/// Needs `grant_permissions` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/device-groups",
    tag = "rbac",
    params(InSubscription, PageRequest),
    responses(
        (status = 200, description = "A page of device groups", body = Page<DeviceGroup>,
            headers(("ETag" = String, description = "The version of the subscription's policy, for If-Match on a DELETE"))),
        ListErrors,
    )
)]
async fn list_device_groups(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::GrantPermissions, Target::Subscription)?;
    let page = page_of(
        authorized.subscription.device_groups,
        |group: &DeviceGroup| group.id.to_string(),
        page.get()?,
    )?;
    Ok(json_with_etag(StatusCode::OK, &page, authorized.version))
}

/// Adds a device group, selecting its sites by id or by tags.
///
/// Needs `grant_permissions` at subscription scope. A listed site that does not
/// exist is `400`; a taken name is `409`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/device-groups",
    tag = "rbac",
    params(InSubscription),
    request_body = CreateDeviceGroup,
    responses(
        (status = 201, description = "The new device group", body = DeviceGroup),
        CreateErrors,
    )
)]
async fn create_device_group(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let table = table.as_ref();
    let authorized = access::authorize(table, &principal, &sub).await?;
    authorized.require(Permission::GrantPermissions, Target::Subscription)?;
    let request: CreateDeviceGroup = body.parse()?;
    let listed: Vec<SiteId> = match &request.sites {
        SiteSelector::Sites(sites) => sites.iter().cloned().collect(),
        SiteSelector::Tags(_) => Vec::new(),
    };
    for site in &listed {
        require_site(table, &authorized.subscription.id, site, "sites.sites").await?;
    }
    let id: DeviceGroupId = new_id(DeviceGroupId::parse)?;
    let group = apply(table, &principal, &sub, IfMatch::Any, |authorized| {
        authorized.require(Permission::GrantPermissions, Target::Subscription)?;
        let mut subscription = authorized.subscription.clone();
        let taken = subscription
            .device_groups
            .iter()
            .any(|g| g.name.as_str().eq_ignore_ascii_case(request.name.as_str()));
        if taken {
            return Err(ApiError::Conflict(format!(
                "a device group named {} already exists",
                request.name
            )));
        }
        if subscription.device_groups.len() >= MAX_DEVICE_GROUPS_PER_SUBSCRIPTION {
            return Err(ApiError::Conflict(format!(
                "a subscription has at most {MAX_DEVICE_GROUPS_PER_SUBSCRIPTION} device groups"
            )));
        }
        let group = DeviceGroup {
            id: id.clone(),
            name: request.name.clone(),
            sites: request.sites.clone(),
        };
        subscription.device_groups.push(group.clone());
        let must_exist = listed
            .iter()
            .map(|site| {
                (
                    keys::site(&subscription.id, site),
                    no_such_site("sites.sites", site).to_string(),
                )
            })
            .collect();
        Ok(PolicyChange {
            also: Vec::new(),
            subscription,
            must_exist,
            audit: AuditedChange::created("device_group.create", id.as_str(), &group),
            output: group,
        })
    })
    .await?;
    Ok(json(StatusCode::CREATED, &group))
}

/// Deletes a device group.
///
/// Needs `grant_permissions` at subscription scope. One still used by an
/// assignment is `409`.
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/device-groups/{id}",
    tag = "rbac",
    params(InSubscription, ("id" = inline(shared::model::DeviceGroupId), Path, description = "The device group's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Deleted"),
        DeleteErrors,
    )
)]
async fn delete_device_group(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let not_found = || ApiError::NotFound("no such device group".into());
    let id = DeviceGroupId::parse(id).map_err(|_| not_found())?;
    apply(table.as_ref(), &principal, &sub, if_match, |authorized| {
        let mut subscription = authorized.subscription.clone();
        let position = subscription
            .device_groups
            .iter()
            .position(|group| group.id == id)
            .ok_or_else(not_found)?;
        authorized.require(Permission::GrantPermissions, Target::Subscription)?;
        if_match.check(authorized.version)?;
        let users = subscription
            .assignments
            .iter()
            .filter(|a| a.scope.device_group_id() == Some(&id))
            .count();
        if users > 0 {
            return Err(ApiError::Conflict(format!(
                "device group {id} is used by {users} assignment(s); delete them first"
            )));
        }
        let removed = subscription.device_groups.remove(position);
        Ok(PolicyChange {
            also: Vec::new(),
            subscription,
            must_exist: Vec::new(),
            audit: AuditedChange::deleted("device_group.delete", id.as_str(), &removed),
            output: (),
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- Audit log -----

/// Lists the audit log, newest first: every successful write, who made it, and the
/// resource before and after; filtered by actor, kind of change and time.
///
/// Needs `grant_permissions` at subscription scope. A filtered page holds the entries
/// of one page of the log that match, so it may be shorter than `limit`, or empty with
/// a `next_cursor`: the cost of a page never depends on what the filters exclude.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/audit-log",
    tag = "rbac",
    params(InSubscription, AuditFilter, PageRequest),
    responses(
        (status = 200, description = "A page of audit entries", body = Page<AuditEntry>),
        ListErrors,
    )
)]
async fn audit_log(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<AuditFilter>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::GrantPermissions, Target::Subscription)?;
    let filter = filter.get()?;
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    // Entry ids are time-ordered: a time window is a range of the partition's sort
    // keys, so the entries outside it are never read.
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && since >= until
    {
        let nothing: Page<AuditEntry> = Page {
            items: Vec::new(),
            next_cursor: None,
        };
        return Ok(json(StatusCode::OK, &nothing));
    }
    let range = match (filter.since, filter.until) {
        (None, None) => SortKeyRange::All,
        (since, until) => {
            let (low, high) = ids::time_ordered_range(since, until);
            SortKeyRange::Between(low, high)
        }
    };
    let found = table
        .query(&Query {
            descending: true,
            limit,
            cursor: page.cursor,
            range,
            ..Query::partition(keys::audit_partition(&authorized.subscription.id))
        })
        .await?;
    let mut entries = records::page::<AuditEntry>(found)?;
    entries.items.retain(|entry| filter.keeps(entry));
    Ok(json(StatusCode::OK, &entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::model::{DisplayName, Email};

    fn subscription(assignments: &[(&str, BuiltInRole)]) -> SubscriptionRecord {
        SubscriptionRecord {
            id: SubscriptionId::parse("sub-1").unwrap(),
            name: DisplayName::parse("Plants").unwrap(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            created_by: Email::parse("a@example.com").unwrap(),
            assignments: assignments
                .iter()
                .enumerate()
                .map(|(n, (principal, role))| RoleAssignment {
                    id: AssignmentId::parse(format!("a{n}")).unwrap(),
                    principal: shared::authz::PrincipalRef::parse(principal).unwrap(),
                    role: (*role).into(),
                    scope: Scope::Subscription,
                })
                .collect(),
            custom_roles: Vec::new(),
            device_groups: Vec::new(),
        }
    }

    fn keys_of(writes: &[Write]) -> Vec<(&'static str, String)> {
        writes
            .iter()
            .map(|write| {
                let kind = match write {
                    Write::Put { .. } => "put",
                    Write::Delete { .. } => "delete",
                    Write::Check { .. } => "check",
                };
                (kind, write.key().pk.clone())
            })
            .collect()
    }

    #[test]
    fn a_membership_is_written_for_a_first_assignment_and_removed_with_the_last() {
        let before = subscription(&[("a@example.com", BuiltInRole::Owner)]);
        // A new principal joins; one already present adds a second role: one put.
        let after = subscription(&[
            ("a@example.com", BuiltInRole::Owner),
            ("a@example.com", BuiltInRole::Contributor),
            ("group:ops", BuiltInRole::SecurityReader),
        ]);
        assert_eq!(
            keys_of(&membership_writes(&before, &after).unwrap()),
            [("put", "PRINCIPAL#group:ops".to_owned())]
        );
        // The group's only assignment goes: its membership goes; a's stays.
        let later = subscription(&[("a@example.com", BuiltInRole::Contributor)]);
        assert_eq!(
            keys_of(&membership_writes(&after, &later).unwrap()),
            [("delete", "PRINCIPAL#group:ops".to_owned())]
        );
        assert!(membership_writes(&later, &later).unwrap().is_empty());
    }

    #[test]
    fn in_memory_pages_resume_after_the_cursor_and_end_without_one() {
        let items: Vec<String> = ["c", "a", "d", "b", "e"].map(String::from).to_vec();
        let request = |cursor: Option<String>| PageRequest {
            limit: Some(2),
            cursor,
        };
        let first = page_of(items.clone(), String::clone, request(None)).unwrap();
        assert_eq!(first.items, ["a", "b"]);
        let second = page_of(items.clone(), String::clone, request(first.next_cursor)).unwrap();
        assert_eq!(second.items, ["c", "d"]);
        let third = page_of(items.clone(), String::clone, request(second.next_cursor)).unwrap();
        assert_eq!(third.items, ["e"]);
        assert_eq!(third.next_cursor, None);
        let exact = page_of(items[..2].to_vec(), String::clone, request(None)).unwrap();
        assert_eq!(exact.next_cursor, None);
        assert!(page_of(items, String::clone, request(Some("nonsense".into()))).is_err());
    }
}
