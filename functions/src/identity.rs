//! Who the caller is, and the subscriptions they belong to:
//! `GET /auth/config`, `POST /auth/dev-login`, `GET /me`, `POST /subscriptions`, `GET /subscriptions`.

use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use shared::api::{
    AuditActor, AuthConfig, CreateSubscription, DevLoginRequest, Me, MyAssignment, MySubscription,
    Page, PageRequest, Subscription, TokenResponse,
};
use shared::authz::{BuiltInRole, Principal, PrincipalRef, RoleAssignment, RoleRef, Scope};
use shared::model::{AssignmentId, DisplayName, SubscriptionId};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{self, directory, site_tags_for, tags_of};
use crate::audit;
use crate::auth::Authenticator;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, json};
use crate::http::params::Params;
use crate::http::principal::Caller;
use crate::ids;
use crate::keys;
use crate::openapi::{self, Invalid, TooLarge, Unauthenticated};
use crate::records::{self, MembershipRecord, SubscriptionRecord};
use crate::store::{
    Condition, Query as TableQuery, SortKeyRange, StoreError, Table, TableRead, Write,
};

/// The identity routes, and `GET /api/openapi.json`. `dev_login` mounts the
/// password-less sign-in of the local binary.
pub fn routes(dev_login: bool) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .routes(routes!(auth_config))
        .layer(Extension(DevLoginMounted(dev_login)))
        .routes(routes!(me))
        .routes(routes!(create_subscription_handler, list_subscriptions))
        .routes(routes!(openapi::openapi_json));
    if dev_login {
        routes.routes(routes!(dev_login_handler))
    } else {
        routes
    }
}

/// The identity function's routes, serving the document of every area's routes with
/// the same `dev_login`. Deployed, it is `false`: the document lists what the deployed
/// functions serve, never `dev-login`, which only `vigil serve` has.
pub fn router(dev_login: bool) -> Router<AppState> {
    openapi::serving(routes(dev_login).into(), &openapi::document(dev_login))
}

/// Whether this process mounted `POST /auth/dev-login`, for `GET /auth/config`.
#[derive(Debug, Clone, Copy)]
struct DevLoginMounted(bool);

/// How to sign in here: dev-login, an OpenID provider, or both.
///
/// Public: the console reads it before anyone is signed in, so one console build serves
/// every deployment.
#[utoipa::path(
    get,
    path = "/api/auth/config",
    tag = "identity",
    operation_id = "auth_config",
    security(()),
    responses((status = 200, description = "The ways to sign in", body = AuthConfig))
)]
async fn auth_config(
    State(auth): State<Arc<Authenticator>>,
    Extension(DevLoginMounted(dev_login)): Extension<DevLoginMounted>,
) -> ApiResult<Response> {
    // A deployed function whose provider has not answered yet cannot say how to sign in.
    let oidc = auth
        .oidc_sign_in()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json(StatusCode::OK, &AuthConfig { dev_login, oidc }))
}

/// Signs in without a password (the local binary only).
///
/// Exists only in `vigil serve`, on by default when it listens on a loopback address;
/// the deployed functions never have it. Answers a user token for `email`.
#[utoipa::path(
    post,
    path = "/api/auth/dev-login",
    tag = "identity",
    operation_id = "dev_login",
    security(()),
    request_body = DevLoginRequest,
    responses(
        (status = 200, description = "A token for the email", body = TokenResponse),
        (status = 400, response = Invalid),
        (status = 413, response = TooLarge),
    )
)]
async fn dev_login_handler(
    State(auth): State<Arc<Authenticator>>,
    body: Body,
) -> ApiResult<Response> {
    let request: DevLoginRequest = body.parse()?;
    if shared::authz::is_api_token_principal(&request.email) {
        return Err(ApiError::invalid_field(
            "email",
            "names an API token, which only its secret can act as",
        ));
    }
    let token = auth
        .issue_with_groups(&request.email, &request.groups)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json(StatusCode::OK, &TokenResponse { token }))
}

/// Who the caller is, and their subscriptions.
///
/// Each subscription lists the caller's assignments in it, resolved (permissions and
/// the sites they reach) so that a client can decide what to show. Needs only a valid
/// token.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "identity",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, response = Unauthenticated),
    )
)]
async fn me(State(table): State<Arc<dyn Table>>, Caller(principal): Caller) -> ApiResult<Response> {
    let mut subscriptions = Vec::new();
    for membership in all_memberships(table.as_ref(), &principal).await? {
        let Some(item) = table
            .get(&keys::subscription(&membership.subscription_id))
            .await?
        else {
            continue;
        };
        let subscription: SubscriptionRecord = records::decode(&item)?;
        subscriptions.push(my_subscription(table.as_ref(), &principal, &subscription).await?);
    }
    Ok(json(
        StatusCode::OK,
        &Me {
            email: principal.email,
            subscriptions,
        },
    ))
}

/// The caller's assignments in one subscription, resolved so that the SPA can build
/// the same `Access` as the server.
async fn my_subscription(
    table: &dyn TableRead,
    principal: &Principal,
    subscription: &SubscriptionRecord,
) -> ApiResult<MySubscription> {
    let site_tags = site_tags_for(table, principal, subscription).await?;
    let sites = tags_of(&site_tags);
    let directory = directory(subscription, &sites);
    let assignments = subscription
        .assignments
        .iter()
        .filter(|assignment| principal.is_named_by(&assignment.principal))
        .map(|assignment| {
            let grant = directory.grant(assignment);
            MyAssignment {
                id: assignment.id.clone(),
                role: assignment.role.clone(),
                site_id: assignment.scope.site_id().cloned(),
                device_group_id: assignment.scope.device_group_id().cloned(),
                permissions: grant.permissions,
                reach: grant.reach,
            }
        })
        .collect();
    Ok(MySubscription {
        id: subscription.id.clone(),
        name: subscription.name.clone(),
        assignments,
    })
}

/// Every subscription the caller belongs to, as a user or through a group.
async fn all_memberships(
    table: &dyn TableRead,
    principal: &Principal,
) -> ApiResult<Vec<MembershipRecord>> {
    let mut memberships = Vec::new();
    let principals = std::iter::once(PrincipalRef::User(principal.email.clone()))
        .chain(principal.groups.iter().cloned().map(PrincipalRef::Group));
    for member in principals {
        let query = membership_query(&member, 500, None);
        memberships.extend(records::read_all::<MembershipRecord>(table, query).await?);
    }
    memberships.sort_by(|a, b| a.subscription_id.cmp(&b.subscription_id));
    memberships.dedup_by(|a, b| a.subscription_id == b.subscription_id);
    Ok(memberships)
}

/// Lists the subscriptions where the caller holds any assignment.
///
/// Needs only a valid token.
#[utoipa::path(
    get,
    path = "/api/subscriptions",
    tag = "identity",
    params(PageRequest),
    responses(
        (status = 200, description = "A page of subscriptions", body = Page<Subscription>),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthenticated),
    )
)]
async fn list_subscriptions(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    let user = PrincipalRef::User(principal.email.clone());
    let found = if principal.groups.is_empty() {
        table
            .query(&membership_query(&user, limit, page.cursor))
            .await?
    } else {
        // Through groups, a subscription may be reached more than once: list the
        // merged set in one page (a user belongs to few subscriptions).
        let items = all_memberships(table.as_ref(), &principal).await?;
        return Ok(json(
            StatusCode::OK,
            &Page {
                items: items.into_iter().map(subscription_of).collect(),
                next_cursor: None,
            },
        ));
    };
    let items = found
        .items
        .iter()
        .map(|item| records::decode(item).map(subscription_of))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(json(
        StatusCode::OK,
        &Page {
            items,
            next_cursor: found.next_cursor,
        },
    ))
}

fn subscription_of(membership: MembershipRecord) -> Subscription {
    Subscription {
        id: membership.subscription_id,
        name: membership.subscription_name,
    }
}

fn membership_query(principal: &PrincipalRef, limit: u32, cursor: Option<String>) -> TableQuery {
    TableQuery {
        range: SortKeyRange::BeginsWith(keys::MEMBERSHIP_PREFIX.to_owned()),
        limit,
        cursor,
        ..TableQuery::partition(keys::principal_partition(principal))
    }
}

/// Creates a subscription; the caller becomes its `owner` at subscription scope.
///
/// Needs only a valid token.
#[utoipa::path(
    post,
    path = "/api/subscriptions",
    tag = "identity",
    operation_id = "create_subscription",
    request_body = CreateSubscription,
    responses(
        (status = 201, description = "The new subscription", body = Subscription),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthenticated),
        (status = 413, response = TooLarge),
    )
)]
async fn create_subscription_handler(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    body: Body,
) -> ApiResult<Response> {
    let request: CreateSubscription = body.parse()?;
    let id = SubscriptionId::parse(ids::new()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let created = create_subscription(table.as_ref(), &principal, id, request.name).await?;
    Ok(json(StatusCode::CREATED, &created))
}

/// Creates a subscription whose creator becomes its `owner` at subscription scope:
/// the subscription, the creator's membership and the audit entry in one
/// transaction. `Conflict` if `id` is taken.
pub async fn create_subscription(
    table: &dyn Table,
    creator: &Principal,
    id: SubscriptionId,
    name: DisplayName,
) -> ApiResult<Subscription> {
    let now = OffsetDateTime::now_utc();
    let owner = PrincipalRef::User(creator.email.clone());
    let subscription = SubscriptionRecord {
        id,
        name,
        created_at: now,
        created_by: creator.email.clone(),
        assignments: vec![RoleAssignment {
            id: AssignmentId::parse(ids::new()).map_err(|e| ApiError::Internal(e.to_string()))?,
            principal: owner.clone(),
            role: RoleRef::BuiltIn(BuiltInRole::Owner),
            scope: Scope::Subscription,
        }],
        custom_roles: Vec::new(),
        device_groups: Vec::new(),
    };
    let created = Subscription {
        id: subscription.id.clone(),
        name: subscription.name.clone(),
    };
    let membership = MembershipRecord {
        subscription_id: subscription.id.clone(),
        subscription_name: subscription.name.clone(),
    };
    let new = |item| Write::Put {
        item,
        condition: Condition::MustNotExist,
    };
    let [policy, head] = access::policy_writes(&subscription, None)?;
    let writes = vec![
        policy,
        head,
        new(records::item(
            keys::membership(&owner, &subscription.id),
            &membership,
        )?),
        audit::Change {
            actor: AuditActor::User {
                email: creator.email.clone(),
            },
            action: "subscription.create",
            subscription: &subscription.id,
            site: None,
            target: subscription.id.as_str(),
        }
        .write(now, None, audit::snapshot(&created))?,
    ];
    table.transact(writes).await.map_err(|error| match error {
        StoreError::ConditionFailed { .. } => ApiError::Conflict(format!(
            "a subscription with id {} already exists",
            created.id
        )),
        other => other.into(),
    })?;
    Ok(created)
}
