//! The HTTP contract's bodies, shared by the functions and the SPA.
//!
//! Request types hold validated domain types, so a body that deserializes is a
//! body that is valid; the serde error names the offending field. Requests refuse
//! unknown fields; `PATCH` bodies have only optional fields.
//!
//! The contract checks permission (`403`) before validation (`400`), so a function
//! authorizes first and deserializes the body after. Where the permission depends on
//! the body (the kind of a plan), [`RequestedPlanKind`] reads just that field.
//!
//! List endpoints take their filters and [`PageRequest`] as two query extractors
//! (serde's `flatten` breaks numbers in query strings).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use crate::authz::{
    BuiltInRole, CustomRole, Grant, PermissionSet, Principal, PrincipalRef, Reach, RoleRef, Scope,
};
use crate::model::{
    AlertEventId, AlertId, AlertStatus, ApiTokenId, AssignmentId, AuditEntryId, CloseReasonId,
    CloseReasons, CommentText, Commitment, CommittedDevices, DetectedAlert, DeviceGroupId,
    DeviceId, DisplayName, Email, Engine, EventFilter, EventKind, GroupId, HealthFinding,
    MAX_ESCALATION_MINUTES, NotificationRuleId, ObservedDevice, PendingAction, PlanId, PlanKind,
    PlanStatus, PlanTermsError, SensorHealth, SensorId, SensorIssue, SensorType, SettingsDelivery,
    SettingsReport, Severity, SiteId, SiteOwners, SitePlacement, SitePlacementError, SiteSelector,
    SoftwareUpdate, SoftwareVersion, SubscriptionId, Tags, TiMode, TiUpdateStatus, TiVersion,
    WebhookEndpointId, WebhookUrl, ZoneId, committed_devices_for,
};

pub use crate::authz::RoleAssignment;
pub use crate::model::{Alert, CommittedDevicesEstimate, Device};

/// Largest JSON body accepted by any endpoint.
pub const MAX_JSON_BODY_BYTES: usize = 1024 * 1024;

/// Default and largest page sizes of every list.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
pub const MAX_PAGE_LIMIT: u32 = 500;

/// The contract's error codes; each has exactly one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Invalid,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    PreconditionFailed,
    TooLarge,
    Internal,
}

impl ErrorCode {
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::Invalid => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PreconditionFailed => 412,
            ErrorCode::TooLarge => 413,
            ErrorCode::Internal => 500,
        }
    }
}

/// `{"error": {"code", "message"}}`: the body of every failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

/// One page of any collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `limit` and `cursor` of every list request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct PageRequest {
    /// Items per page: 1 to 500, 50 when omitted.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page, passed back as it is.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between 1 and {MAX_PAGE_LIMIT}")]
pub struct InvalidLimit;

impl PageRequest {
    /// The page size to use, or why the requested one is refused.
    pub fn limit(&self) -> Result<u32, InvalidLimit> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_LIMIT),
            Some(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(InvalidLimit),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DevLoginRequest {
    pub email: Email,
    /// The groups to put in the token's `groups` claim, standing in for the identity
    /// provider's groups (local binary only).
    /// A repeat counts once.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<GroupId>))]
    pub groups: BTreeSet<GroupId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub token: String,
}

/// `GET /auth/config`: how a person signs in to this deployment. Public, so the console
/// can offer the right sign-in before anyone is signed in; one console build serves every
/// deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthConfig {
    /// Whether `POST /auth/dev-login` is served (the local binary on loopback).
    pub dev_login: bool,
    /// The OpenID provider to sign in with, if one is configured.
    pub oidc: Option<OidcSignIn>,
}

/// An OpenID provider, as a public client (the console) signs in with it: authorization
/// code with PKCE (S256), then the ID token as the bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OidcSignIn {
    pub issuer: String,
    /// The console's client id at the provider, also the audience of its ID tokens.
    pub client_id: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub end_session_endpoint: Option<String>,
    /// The scopes to ask for.
    pub scope: String,
}

/// `GET /me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub email: Email,
    pub subscriptions: Vec<MySubscription>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MySubscription {
    pub id: SubscriptionId,
    pub name: DisplayName,
    pub assignments: Vec<MyAssignment>,
}

/// One of the caller's assignments, resolved by the server so that the SPA can build
/// the same [`crate::authz::Access`] as the functions:
/// `Access::from_grants(assignments.iter().map(MyAssignment::grant))`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MyAssignment {
    pub id: AssignmentId,
    pub role: RoleRef,
    pub site_id: Option<SiteId>,
    #[serde(default)]
    pub device_group_id: Option<DeviceGroupId>,
    /// The role's permissions.
    pub permissions: PermissionSet,
    /// The sites the assignment's scope covers today.
    pub reach: Reach,
}

impl MyAssignment {
    pub fn grant(&self) -> Grant {
        Grant {
            permissions: self.permissions,
            reach: self.reach.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    pub name: DisplayName,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    pub id: SubscriptionId,
    pub name: DisplayName,
}

// ----- Roles -----

/// A role of `GET /roles` (built-in) or `GET /subscriptions/{sub}/roles` (custom).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Role {
    pub id: RoleRef,
    pub name: String,
    pub built_in: bool,
    pub permissions: PermissionSet,
}

impl Role {
    /// The four built-in roles, in the seed table's column order.
    pub fn built_in_roles() -> Vec<Role> {
        BuiltInRole::ALL.into_iter().map(Role::from).collect()
    }
}

impl From<BuiltInRole> for Role {
    fn from(role: BuiltInRole) -> Self {
        Role {
            id: RoleRef::BuiltIn(role),
            name: role.display_name().to_owned(),
            built_in: true,
            permissions: role.permissions(),
        }
    }
}

impl From<CustomRole> for Role {
    fn from(role: CustomRole) -> Self {
        Role {
            id: RoleRef::Custom(role.id),
            name: role.name.into(),
            built_in: false,
            permissions: role.permissions,
        }
    }
}

/// `POST /subscriptions/{sub}/roles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    pub name: DisplayName,
    #[serde(deserialize_with = "non_empty_permissions")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::authz::Permission>, min_items = 1))]
    pub permissions: PermissionSet,
}

/// A role granting nothing is a mistake, never an intent.
fn non_empty_permissions<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<PermissionSet, D::Error> {
    let permissions = PermissionSet::deserialize(deserializer)?;
    if permissions.is_empty() {
        return Err(serde::de::Error::custom(
            "must name at least one permission",
        ));
    }
    Ok(permissions)
}

/// The filter of `GET /subscriptions/{sub}/role-assignments[?site_id=]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct RoleAssignmentFilter {
    /// Only the assignments made at this site.
    pub site_id: Option<SiteId>,
}

/// `POST /subscriptions/{sub}/role-assignments`
/// `{"principal", "role", "site_id"?, "device_group_id"?}`; answered with a
/// [`RoleAssignment`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "CreateRoleAssignmentFields",
    into = "CreateRoleAssignmentFields"
)]
pub struct CreateRoleAssignment {
    pub principal: PrincipalRef,
    pub role: RoleRef,
    pub scope: Scope,
}

schema_as!(CreateRoleAssignment => CreateRoleAssignmentFields, "CreateRoleAssignment");

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct CreateRoleAssignmentFields {
    principal: PrincipalRef,
    role: RoleRef,
    #[serde(default)]
    site_id: Option<SiteId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_group_id: Option<DeviceGroupId>,
}

/// Reads only the scope of a `POST .../role-assignments` body, to authorize before
/// validating the rest: `grant_permissions` is needed at the target scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RequestedAssignmentScope {
    #[serde(default)]
    site_id: Option<serde_json::Value>,
    #[serde(default)]
    device_group_id: Option<serde_json::Value>,
}

impl RequestedAssignmentScope {
    /// The site the assignment is for, when the body names exactly one valid site and
    /// no device group; `None` means the body asks for more than one site (the
    /// subscription or a device group) or cannot be read, which needs
    /// `grant_permissions` at subscription scope.
    pub fn site(&self) -> Option<SiteId> {
        let no_group = matches!(self.device_group_id, None | Some(serde_json::Value::Null));
        match &self.site_id {
            Some(serde_json::Value::String(raw)) if no_group => SiteId::parse(raw.as_str()).ok(),
            _ => None,
        }
    }
}

impl TryFrom<CreateRoleAssignmentFields> for CreateRoleAssignment {
    type Error = crate::authz::ConflictingScope;
    fn try_from(fields: CreateRoleAssignmentFields) -> Result<Self, Self::Error> {
        Ok(CreateRoleAssignment {
            principal: fields.principal,
            role: fields.role,
            scope: Scope::from_fields(fields.site_id, fields.device_group_id)?,
        })
    }
}

impl From<CreateRoleAssignment> for CreateRoleAssignmentFields {
    fn from(request: CreateRoleAssignment) -> Self {
        CreateRoleAssignmentFields {
            principal: request.principal,
            role: request.role,
            site_id: request.scope.site_id().cloned(),
            device_group_id: request.scope.device_group_id().cloned(),
        }
    }
}

/// `POST /subscriptions/{sub}/device-groups` `{"name", "sites": {"sites": [...]} |
/// {"tags": {...}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDeviceGroup {
    pub name: DisplayName,
    #[serde(deserialize_with = "checked_selector")]
    pub sites: SiteSelector,
}

fn checked_selector<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SiteSelector, D::Error> {
    let selector = SiteSelector::deserialize(deserializer)?;
    selector.check().map_err(serde::de::Error::custom)?;
    Ok(selector)
}

// ----- API tokens -----

/// Most API tokens one subscription holds at a time (each holds a role assignment).
pub const MAX_API_TOKENS_PER_SUBSCRIPTION: usize = 100;

/// How long an API token stays valid: 1 to 365 days from its creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u16")]
pub struct ApiTokenLifetime(u16);

named_schema!(ApiTokenLifetime, {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .minimum(Some(1))
        .maximum(Some(ApiTokenLifetime::MAX_DAYS))
        .description(Some("Days until the token expires."))
        .into()
});

impl ApiTokenLifetime {
    pub const MAX_DAYS: u16 = 365;

    pub const fn days(self) -> u16 {
        self.0
    }
}

impl TryFrom<u64> for ApiTokenLifetime {
    type Error = InvalidApiTokenLifetime;
    fn try_from(days: u64) -> Result<Self, InvalidApiTokenLifetime> {
        u16::try_from(days)
            .ok()
            .filter(|days| (1..=Self::MAX_DAYS).contains(days))
            .map(ApiTokenLifetime)
            .ok_or(InvalidApiTokenLifetime)
    }
}

impl From<ApiTokenLifetime> for u16 {
    fn from(lifetime: ApiTokenLifetime) -> u16 {
        lifetime.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number of days from 1 to 365")]
pub struct InvalidApiTokenLifetime;

/// `POST /subscriptions/{sub}/api-tokens`: a service principal holding `role` over the
/// subscription, or over one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    pub name: DisplayName,
    pub role: RoleRef,
    #[serde(default)]
    pub site_id: Option<SiteId>,
    /// Days until the token expires.
    pub expires_in_days: ApiTokenLifetime,
}

impl CreateApiToken {
    pub fn scope(&self) -> Scope {
        self.site_id
            .clone()
            .map_or(Scope::Subscription, Scope::Site)
    }
}

/// An API token as listed: never its secret, which is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub name: DisplayName,
    /// The service principal the token acts as: its role assignment and the audit log
    /// name this address.
    pub principal: Email,
    pub role: RoleRef,
    pub site_id: Option<SiteId>,
    pub created_by: Email,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When the token last authenticated a request, to the minute.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl ApiToken {
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }
}

/// The answer to `POST /subscriptions/{sub}/api-tokens`: the token and, this once, its
/// secret — sent as `Authorization: Bearer <secret>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    pub token: ApiToken,
    pub secret: String,
}

// ----- Notifications -----

/// Most webhook endpoints and notification rules one subscription holds (they are one
/// item, read by every ingest batch).
pub const MAX_WEBHOOK_ENDPOINTS: usize = 10;
pub const MAX_NOTIFICATION_RULES: usize = 50;

/// `POST /subscriptions/{sub}/webhook-endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    pub name: DisplayName,
    pub url: WebhookUrl,
}

/// Where notifications are delivered, signed with a secret shown once, at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub name: DisplayName,
    pub url: WebhookUrl,
    pub created_by: Email,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The answer to `POST /subscriptions/{sub}/webhook-endpoints`: the endpoint and, this
/// once, the secret its deliveries are signed with (`Vigil-Signature`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

/// The document's schema of a rule's `events`: one or more of
/// [`EventKind::ROUTABLE`].
#[cfg(feature = "openapi")]
pub struct RuleEvents;

named_schema!(RuleEvents, {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let kind = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(EventKind::ROUTABLE.map(EventKind::as_str)));
    ArrayBuilder::new().items(kind).min_items(Some(1)).into()
});

/// `POST /subscriptions/{sub}/notification-rules`: events of these kinds that pass the
/// filter go to the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateNotificationRule {
    pub name: DisplayName,
    pub endpoint_id: WebhookEndpointId,
    /// At least one; `test` is sent only on request. A repeat counts once.
    #[cfg_attr(feature = "openapi", schema(value_type = RuleEvents))]
    pub events: BTreeSet<EventKind>,
    #[serde(default)]
    pub filter: EventFilter,
    /// With `alert.unacknowledged` (and only then): how long an alert may stay `new`
    /// before it is escalated, 1 to 10080 minutes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10080))]
    pub escalate_after_minutes: Option<u16>,
}

impl CreateNotificationRule {
    /// The rules beyond each field's own type, as `(field, problem)`: at least one
    /// routable kind, and `escalate_after_minutes` (1 to 10080) exactly with
    /// `alert.unacknowledged`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.events.is_empty() || self.events.contains(&EventKind::Test) {
            let kinds: Vec<&str> = EventKind::ROUTABLE.iter().map(|k| k.as_str()).collect();
            return Err((
                "events",
                format!(
                    "must name at least one of {} (test events are sent on request)",
                    kinds.join(", ")
                ),
            ));
        }
        let escalates = self.events.contains(&EventKind::AlertUnacknowledged);
        let problem = match self.escalate_after_minutes {
            None if escalates => "is required with alert.unacknowledged".to_owned(),
            Some(_) if !escalates => "applies only with alert.unacknowledged".to_owned(),
            Some(minutes) if !(1..=MAX_ESCALATION_MINUTES).contains(&minutes) => {
                format!("must be 1 to {MAX_ESCALATION_MINUTES}")
            }
            _ => return Ok(()),
        };
        Err(("escalate_after_minutes", problem))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationRule {
    pub id: NotificationRuleId,
    pub name: DisplayName,
    pub endpoint_id: WebhookEndpointId,
    pub events: BTreeSet<EventKind>,
    pub filter: EventFilter,
    #[serde(default)]
    pub escalate_after_minutes: Option<u16>,
    pub created_by: Email,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The JSON body of every webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEvent {
    /// Unique per event and stable across retries: a receiver deduplicates on it.
    pub id: String,
    pub kind: EventKind,
    pub subscription_id: SubscriptionId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The alert (`alert.created`), the audit entry (`audit.entry`), or a greeting.
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx; tried again with back-off.
    Pending,
    Delivered,
    /// Given up after the retry period.
    Failed,
}

/// One event's delivery to one endpoint, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub event_id: String,
    pub kind: EventKind,
    pub endpoint_id: WebhookEndpointId,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The HTTP status of the last attempt, if the receiver answered.
    pub response_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

// ----- Plans -----

/// Reads only `kind` from a `POST .../plans` body, to authorize before validating the
/// rest: an Enterprise IoT plan needs more than `modify_plans`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RequestedPlanKind {
    pub kind: PlanKind,
}

/// `POST /subscriptions/{sub}/plans`. A trial's `committed_devices` must be omitted
/// or 1000; monthly and annual plans need one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CreatePlanFields", into = "CreatePlanFields")]
pub struct CreatePlan {
    pub kind: PlanKind,
    pub commitment: Commitment,
    /// What the caller sent, checked against the commitment; pass it to
    /// [`crate::model::PlanTerms::new`].
    pub committed_devices: Option<CommittedDevices>,
}

schema_as!(CreatePlan => CreatePlanFields, "CreatePlan");

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct CreatePlanFields {
    kind: PlanKind,
    commitment: Commitment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    committed_devices: Option<CommittedDevices>,
}

impl TryFrom<CreatePlanFields> for CreatePlan {
    type Error = PlanTermsError;
    fn try_from(fields: CreatePlanFields) -> Result<Self, PlanTermsError> {
        committed_devices_for(fields.commitment, fields.committed_devices)?;
        Ok(CreatePlan {
            kind: fields.kind,
            commitment: fields.commitment,
            committed_devices: fields.committed_devices,
        })
    }
}

impl From<CreatePlan> for CreatePlanFields {
    fn from(request: CreatePlan) -> Self {
        CreatePlanFields {
            kind: request.kind,
            commitment: request.commitment,
            committed_devices: request.committed_devices,
        }
    }
}

/// `PATCH /subscriptions/{sub}/plans/{plan}`; see [`crate::model::PlanTerms::change`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdatePlan {
    #[serde(default)]
    pub commitment: Option<Commitment>,
    #[serde(default)]
    pub committed_devices: Option<CommittedDevices>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub id: PlanId,
    pub kind: PlanKind,
    pub commitment: Commitment,
    pub committed_devices: CommittedDevices,
    pub status: PlanStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
    /// The devices of the inventory this kind of plan covers, counted by the seed's
    /// rules ([`crate::model::PlanKind::covering_site`], `estimate_committed_devices`).
    #[serde(default)]
    pub detected_devices: u64,
    /// Live, and `detected_devices` exceeds `committed_devices`
    /// ([`crate::model::is_over_committed`]): the commitment should be raised.
    #[serde(default)]
    pub over_committed: bool,
}

/// The filter of `GET /subscriptions/{sub}/plans/committed-devices[?kind=]`: the
/// devices one kind of plan covers, or without `kind` the whole inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct CommittedDevicesFilter {
    /// Only the devices this kind of plan covers; the whole inventory when omitted.
    #[serde(default)]
    pub kind: Option<PlanKind>,
}

// ----- Sites and zones -----

/// `POST /subscriptions/{sub}/sites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSite {
    pub display_name: DisplayName,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub owners: SiteOwners,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Site {
    pub id: SiteId,
    pub display_name: DisplayName,
    pub tags: Tags,
    pub owners: SiteOwners,
}

/// `PATCH /subscriptions/{sub}/sites/{site}`: each given field replaces the old one
/// whole (tags and owners included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateSite {
    #[serde(default)]
    pub display_name: Option<DisplayName>,
    #[serde(default)]
    pub tags: Option<Tags>,
    #[serde(default)]
    pub owners: Option<SiteOwners>,
}

/// `POST /subscriptions/{sub}/sites/{site}/zones`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateZone {
    pub name: DisplayName,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Zone {
    pub id: ZoneId,
    pub site_id: SiteId,
    pub name: DisplayName,
}

// ----- Sensors -----

/// The filters of `GET /subscriptions/{sub}/sensors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct SensorFilter {
    /// Only sensors at this site.
    pub site_id: Option<SiteId>,
    /// Only sensors of this type.
    #[serde(rename = "type")]
    pub sensor_type: Option<SensorType>,
    /// Only sensors in this health (derived when read).
    pub health: Option<SensorHealth>,
}

/// `POST /subscriptions/{sub}/sensors` `{"name", "type", "site_id", "zone_id"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CreateSensorFields", into = "CreateSensorFields")]
pub struct CreateSensor {
    pub name: DisplayName,
    pub sensor_type: SensorType,
    pub placement: SitePlacement,
    /// Only with a site: the Enterprise network site may not exist yet.
    pub zone_id: Option<ZoneId>,
}

schema_as!(CreateSensor => CreateSensorFields, "CreateSensor");

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct CreateSensorFields {
    name: DisplayName,
    #[serde(rename = "type")]
    sensor_type: SensorType,
    #[serde(default)]
    site_id: Option<SiteId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone_id: Option<ZoneId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CreateSensorError {
    #[error(transparent)]
    Placement(#[from] SitePlacementError),
    #[error("zone_id must be omitted for Enterprise IoT sensors")]
    ZoneNotAllowed,
}

impl TryFrom<CreateSensorFields> for CreateSensor {
    type Error = CreateSensorError;
    fn try_from(fields: CreateSensorFields) -> Result<Self, CreateSensorError> {
        let placement = fields.sensor_type.place(fields.site_id)?;
        if placement == SitePlacement::EnterpriseNetwork && fields.zone_id.is_some() {
            return Err(CreateSensorError::ZoneNotAllowed);
        }
        Ok(CreateSensor {
            name: fields.name,
            sensor_type: fields.sensor_type,
            placement,
            zone_id: fields.zone_id,
        })
    }
}

impl From<CreateSensor> for CreateSensorFields {
    fn from(request: CreateSensor) -> Self {
        CreateSensorFields {
            name: request.name,
            sensor_type: request.sensor_type,
            site_id: match request.placement {
                SitePlacement::Site(site) => Some(site),
                SitePlacement::EnterpriseNetwork => None,
            },
            zone_id: request.zone_id,
        }
    }
}

/// A sensor as shown in the grid; health and TI status are derived at read time
/// ([`crate::model::assess_health`], [`crate::model::ThreatIntelligence::status`]).
/// The TI fields are `null` for Enterprise IoT sensors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sensor {
    pub id: SensorId,
    pub name: DisplayName,
    #[serde(rename = "type")]
    pub sensor_type: SensorType,
    pub site_id: SiteId,
    pub zone_id: Option<ZoneId>,
    pub version: Option<SoftwareVersion>,
    pub health: SensorHealth,
    pub health_findings: Vec<HealthFinding>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_connected: Option<OffsetDateTime>,
    pub ti_version: Option<TiVersion>,
    pub ti_mode: Option<TiMode>,
    pub ti_update_status: Option<TiUpdateStatus>,
    /// The remote software update asked for, and where it stands.
    pub software_update: SoftwareUpdate,
    /// When the current activation file was issued: at onboarding, or by the latest
    /// reactivation (which revoked the one before).
    #[serde(with = "time::serde::rfc3339")]
    pub activation_issued_at: OffsetDateTime,
    /// The settings given from here and where they stand; `null` when none were.
    #[serde(default)]
    pub settings: Option<SettingsDelivery>,
    /// When the current activation file was issued to prepare this legacy sensor for
    /// the 22.x update (`POST …/prepare-update`); `null` otherwise.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub legacy_update_prepared_at: Option<OffsetDateTime>,
    /// The diagnostics archive sent for support (locally managed sensors), if any.
    #[serde(default)]
    pub diagnostics: Option<DiagnosticsArchive>,
}

/// The most a diagnostics archive may hold: what one request body may carry.
pub const MAX_DIAGNOSTICS_BYTES: usize = MAX_JSON_BODY_BYTES;

/// Why an archive of that many bytes is not taken: the server answers `400` or `413`,
/// the console says so before sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DiagnosticsSizeError {
    #[error("the archive is empty")]
    Empty,
    #[error(
        "the archive is {} KiB; at most {} KiB is taken",
        .0.div_ceil(1024),
        MAX_DIAGNOSTICS_BYTES / 1024
    )]
    TooLarge(u64),
}

pub fn check_diagnostics_size(bytes: u64) -> Result<(), DiagnosticsSizeError> {
    match bytes {
        0 => Err(DiagnosticsSizeError::Empty),
        n if n > MAX_DIAGNOSTICS_BYTES as u64 => Err(DiagnosticsSizeError::TooLarge(n)),
        _ => Ok(()),
    }
}

/// A locally managed sensor's diagnostics archive, as uploaded for support
/// (`PUT …/sensors/{id}/diagnostics`; the bytes at `GET` of the same path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiagnosticsArchive {
    pub size_bytes: u64,
    /// SHA-256 of the archive, hex: what support checks the download against.
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
    pub uploaded_by: Email,
}

/// The header of `GET /subscriptions/{sub}/sensors/export.csv`: the grid's columns.
pub const SENSOR_EXPORT_COLUMNS: [&str; 11] = [
    "name",
    "type",
    "site",
    "zone",
    "subscription",
    "software version",
    "health",
    "last connected (UTC)",
    "TI version",
    "TI mode",
    "TI update status",
];

/// A cell of a CSV export, defused for spreadsheets: a cell starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return is evaluated as a formula by Excel, LibreOffice and
/// Sheets (CSV injection: a device named `=cmd|' /C calc'!A0` would run), so it gets a
/// leading `'`, which they show as text. Quoting for CSV itself is the writer's job.
pub fn spreadsheet_cell(raw: String) -> String {
    if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw
    }
}

/// The names the export shows instead of ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorExportNames<'a> {
    pub site: &'a str,
    pub zone: Option<&'a str>,
    pub subscription: &'a str,
}

impl Sensor {
    /// The sensor's row of the CSV export, in [`SENSOR_EXPORT_COLUMNS`] order; enum
    /// values as in the API, times in RFC 3339 UTC, empty cells for unknowns, each
    /// [`spreadsheet_cell`].
    pub fn export_row(&self, names: SensorExportNames<'_>) -> [String; 11] {
        let text = |value: Option<String>| value.unwrap_or_default();
        let row = [
            self.name.to_string(),
            self.sensor_type.as_str().to_owned(),
            names.site.to_owned(),
            text(names.zone.map(str::to_owned)),
            names.subscription.to_owned(),
            text(self.version.as_ref().map(ToString::to_string)),
            self.health.as_str().to_owned(),
            text(self.last_connected.and_then(|at| {
                at.to_offset(time::UtcOffset::UTC)
                    .format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })),
            text(self.ti_version.as_ref().map(ToString::to_string)),
            text(self.ti_mode.map(|mode| mode.as_str().to_owned())),
            text(
                self.ti_update_status
                    .map(|status| status.as_str().to_owned()),
            ),
        ];
        row.map(spreadsheet_cell)
    }
}

/// `POST /subscriptions/{sub}/sensors` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnboardedSensor {
    pub sensor: Sensor,
    pub activation_file: ActivationFile,
}

/// What a sensor needs to reach the API; the token is its ingest credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivationFile {
    pub sensor_id: SensorId,
    pub subscription_id: SubscriptionId,
    pub api_url: String,
    pub token: String,
}

impl ActivationFile {
    /// What to run on the machine that becomes this Enterprise IoT sensor: it hands the
    /// sensor software this file's fields (seed 002, "Create an activation command").
    /// Every value is single-quoted for the shell.
    pub fn activation_command(&self) -> String {
        let quoted = |value: &str| format!("'{}'", value.replace('\'', r"'\''"));
        format!(
            "sudo vigil-eiot-sensor activate --api-url {} --subscription {} --sensor {} --token {}",
            quoted(&self.api_url),
            quoted(self.subscription_id.as_str()),
            quoted(self.sensor_id.as_str()),
            quoted(&self.token),
        )
    }
}

/// `GET /subscriptions/{sub}/sensors/{id}/activation-command`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivationCommand {
    pub command: String,
}

/// `PATCH /subscriptions/{sub}/sensors/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateSensor {
    #[serde(default)]
    pub name: Option<DisplayName>,
    #[serde(default)]
    pub zone_id: Option<ZoneId>,
    #[serde(default)]
    pub ti_mode: Option<TiMode>,
}

/// Most sensors one TI push may name: one page of the grid.
pub const MAX_TI_PUSH_SENSORS: usize = MAX_PAGE_LIMIT as usize;

/// `POST /subscriptions/{sub}/sensors/ti-update`: 1 to [`MAX_TI_PUSH_SENSORS`]
/// sensors, a repeated id counting once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushTiUpdate {
    /// A repeated id counts once.
    #[serde(deserialize_with = "sensor_ids_to_push")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<SensorId>, min_items = 1, max_items = 500))]
    pub sensor_ids: BTreeSet<SensorId>,
}

fn sensor_ids_to_push<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeSet<SensorId>, D::Error> {
    let sensor_ids = BTreeSet::<SensorId>::deserialize(deserializer)?;
    if sensor_ids.is_empty() || sensor_ids.len() > MAX_TI_PUSH_SENSORS {
        return Err(serde::de::Error::custom(format!(
            "must name 1 to {MAX_TI_PUSH_SENSORS} sensors"
        )));
    }
    Ok(sensor_ids)
}

/// `POST /subscriptions/{sub}/sensors/ti-update` answer: the sensors now updating,
/// each with the package it will get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TiUpdatePushed {
    pub ti_version: TiVersion,
    pub sensor_ids: Vec<SensorId>,
}

/// `GET /subscriptions/{sub}/sensors/health-summary`: how many sensors are in each
/// health, for the widgets above the grid (health derived at the time of the request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SensorHealthSummary {
    pub healthy: u64,
    pub unhealthy: u64,
    pub unsupported: u64,
    pub disconnected: u64,
    pub total: u64,
}

impl SensorHealthSummary {
    pub fn count(&mut self, health: SensorHealth) {
        let bucket = match health {
            SensorHealth::Healthy => &mut self.healthy,
            SensorHealth::Unhealthy => &mut self.unhealthy,
            SensorHealth::Unsupported => &mut self.unsupported,
            SensorHealth::Disconnected => &mut self.disconnected,
        };
        *bucket += 1;
        self.total += 1;
    }
}

/// `POST /subscriptions/{sub}/sensors/{id}/software-update`: a remote update to a
/// published version (see [`crate::model::SoftwareUpdate::request`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestSoftwareUpdate {
    pub version: SoftwareVersion,
}

/// One item of `GET /subscriptions/{sub}/sensors/software`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SensorSoftwareRelease {
    pub version: SoftwareVersion,
    /// `YYYY-MM-DD`.
    pub released_on: String,
    pub latest: bool,
    /// The name of the update package.
    pub file_name: String,
    /// SHA-256 of the package, hex.
    pub sha256: String,
}

/// One item of `GET /subscriptions/{sub}/sensors/endpoint-details`: an endpoint that
/// OT sensors must be allowed to reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SensorEndpoint {
    pub url: String,
    pub protocol: String,
    pub port: u16,
    pub purpose: String,
}

/// `GET /subscriptions/{sub}/ti-packages/latest`: the newest TI package, ready to
/// upload to a locally managed sensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TiPackage {
    pub ti_version: TiVersion,
    /// `YYYY-MM-DD`.
    pub published_on: String,
    pub file_name: String,
    /// SHA-256 of the decoded content, hex.
    pub sha256: String,
    pub content_base64: String,
}

/// The identifier an on-premises console shows on its sign-in screen when its
/// password is lost: 1 to 64 letters, digits or '-'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretIdentifier(String);

pattern_schema!(SecretIdentifier, "^[A-Za-z0-9-]{1,64}$");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 letters, digits or '-', as shown on the console's sign-in screen")]
pub struct InvalidSecretIdentifier;

impl SecretIdentifier {
    pub fn parse(raw: &str) -> Result<Self, InvalidSecretIdentifier> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(SecretIdentifier(raw.to_owned()))
        } else {
            Err(InvalidSecretIdentifier)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretIdentifier {
    type Error = InvalidSecretIdentifier;
    fn try_from(raw: String) -> Result<Self, InvalidSecretIdentifier> {
        SecretIdentifier::parse(&raw)
    }
}

impl From<SecretIdentifier> for String {
    fn from(identifier: SecretIdentifier) -> String {
        identifier.0
    }
}

/// `POST /subscriptions/{sub}/console-password-recovery`: recovers the password of an
/// on-premises management console, or of one OT sensor's console with `sensor_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecoverConsolePassword {
    pub secret_identifier: SecretIdentifier,
    #[serde(default)]
    pub sensor_id: Option<SensorId>,
}

/// The answer: a one-time code to enter on the console; it is shown only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsoleRecoveryCode {
    pub recovery_code: String,
    pub sensor_id: Option<SensorId>,
}

// ----- Alerts -----

/// The filters of `GET /subscriptions/{sub}/alerts`. Every filter given must match;
/// a list (`status=new,active`) matches any of its values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct AlertFilter {
    /// Only alerts at this site.
    pub site_id: Option<SiteId>,
    /// Only alerts this sensor raised.
    #[cfg_attr(feature = "openapi", param(inline))]
    pub sensor_id: Option<SensorId>,
    /// Only alerts in these statuses, comma-separated (`new,active`).
    #[cfg_attr(feature = "openapi", param(value_type = Option<AlertStatusList>, inline, example = "new,active"))]
    pub status: Option<AnyOf<AlertStatus>>,
    /// Only alerts of these severities, comma-separated (`critical,major`).
    #[cfg_attr(feature = "openapi", param(value_type = Option<SeverityList>, inline, example = "critical"))]
    pub severity: Option<AnyOf<Severity>>,
    /// Only alerts of these engines, comma-separated (`malware,anomaly`).
    #[cfg_attr(feature = "openapi", param(value_type = Option<EngineList>, inline, example = "malware"))]
    pub engine: Option<AnyOf<Engine>>,
    /// Only alerts whose title, source or destination address contains this text
    /// (case-insensitive, 1 to 100 characters).
    #[cfg_attr(feature = "openapi", param(inline, example = "modbus"))]
    pub q: Option<SearchText>,
    /// Only alerts assigned to `me` (the caller or one of their groups), to `none`, or
    /// to this email or `group:<group id>`.
    #[cfg_attr(feature = "openapi", param(inline, example = "me"))]
    pub assignee: Option<AssigneeFilter>,
    /// Only alerts last detected at or after this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime, example = "2026-12-01T00:00:00Z"))]
    pub since: Option<OffsetDateTime>,
    /// Only alerts last detected before this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime, example = "2026-12-02T00:00:00Z"))]
    pub until: Option<OffsetDateTime>,
}

impl AlertFilter {
    /// Whether `alert` passes the filters a stored alert's index entry cannot answer
    /// (all but site and status), for the caller `me`.
    pub fn keeps(&self, alert: &AlertFields<'_>, me: &Principal) -> bool {
        self.sensor_id
            .as_ref()
            .is_none_or(|s| s.as_str() == alert.sensor_id)
            && self
                .severity
                .as_ref()
                .is_none_or(|s| s.contains(&alert.severity))
            && self
                .engine
                .as_ref()
                .is_none_or(|e| e.contains(&alert.engine))
            && self.q.as_ref().is_none_or(|q| {
                q.found_in(&alert.title)
                    || q.found_in(&alert.source_ip.to_string())
                    || q.found_in(&alert.destination_ip.to_string())
            })
            && self.since.is_none_or(|since| alert.last_detected >= since)
            && self.until.is_none_or(|until| alert.last_detected < until)
            && self.assignee.as_ref().is_none_or(|wanted| {
                let assignee = alert
                    .assignee
                    .as_deref()
                    .and_then(|a| PrincipalRef::parse(a).ok());
                match (wanted, assignee) {
                    (AssigneeFilter::Nobody, assignee) => assignee.is_none(),
                    (AssigneeFilter::Me, Some(assignee)) => me.is_named_by(&assignee),
                    (AssigneeFilter::Is(wanted), Some(assignee)) => *wanted == assignee,
                    (_, None) => false,
                }
            })
    }

    /// Whether only site and status filter, so every indexed alert is kept.
    pub fn is_indexed_only(&self) -> bool {
        self.sensor_id.is_none()
            && self.severity.is_none()
            && self.engine.is_none()
            && self.q.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.assignee.is_none()
    }

    /// Whether the time window is empty (`since` not before `until`), so nothing matches.
    pub fn is_empty_window(&self) -> bool {
        matches!((self.since, self.until), (Some(since), Some(until)) if since >= until)
    }

    /// Whether the alerts of `group` pass every filter [`AlertCounts`] applies (all but
    /// [`AlertFilter::uncounted`]).
    pub fn counts(&self, group: &AlertGroup<'_>) -> bool {
        self.site_id
            .as_ref()
            .is_none_or(|site| site == group.site_id)
            && self.sensor_id.as_ref().is_none_or(|s| s == group.sensor_id)
            && self
                .status
                .as_ref()
                .is_none_or(|s| s.contains(&group.status))
            && self
                .severity
                .as_ref()
                .is_none_or(|s| s.contains(&group.severity))
            && self
                .engine
                .as_ref()
                .is_none_or(|e| e.contains(&group.engine))
    }

    /// The filters given that counts cannot apply: per-alert text and times are not kept
    /// in counters (see [`AlertCounts::uncounted`]).
    pub fn uncounted(&self) -> Vec<String> {
        [
            ("q", self.q.is_some()),
            ("since", self.since.is_some()),
            ("until", self.until.is_some()),
            ("assignee", self.assignee.is_some()),
        ]
        .into_iter()
        .filter(|&(_, given)| given)
        .map(|(name, _)| name.to_owned())
        .collect()
    }
}

/// Alerts alike in everything [`AlertCounts`] groups by: what one counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertGroup<'a> {
    pub site_id: &'a SiteId,
    pub sensor_id: &'a SensorId,
    pub status: AlertStatus,
    pub severity: Severity,
    pub engine: Engine,
    pub title: &'a str,
}

/// `GET /subscriptions/{sub}/alerts/counts`: how many alerts the filters match, and how
/// they split per status, severity, engine, site, sensor and title. Each split lists the
/// values with at least one alert, most alerts first (then by value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertCounts {
    pub total: u64,
    pub by_status: Vec<GroupCount>,
    pub by_severity: Vec<GroupCount>,
    pub by_engine: Vec<GroupCount>,
    /// Keyed by site id.
    pub by_site: Vec<GroupCount>,
    /// Keyed by sensor id.
    pub by_sensor: Vec<GroupCount>,
    pub by_title: Vec<GroupCount>,
    /// The filters given that the counts do not apply (`q`, `since`, `until`): the counts
    /// are then of the alerts matching the others, so at least what the list returns.
    pub uncounted: Vec<String>,
}

impl AlertCounts {
    /// The counts of `groups` (each with its number of alerts) that `filter` counts.
    pub fn tally<'a>(
        filter: &AlertFilter,
        groups: impl IntoIterator<Item = (AlertGroup<'a>, u64)>,
    ) -> AlertCounts {
        let mut splits: [BTreeMap<String, u64>; 6] = Default::default();
        let mut total = 0u64;
        for (group, count) in groups {
            if count == 0 || !filter.counts(&group) {
                continue;
            }
            total = total.saturating_add(count);
            let keys = [
                group.status.as_str(),
                group.severity.as_str(),
                group.engine.as_str(),
                group.site_id.as_str(),
                group.sensor_id.as_str(),
                group.title,
            ];
            for (split, key) in splits.iter_mut().zip(keys) {
                let sum = split.entry(key.to_owned()).or_default();
                *sum = sum.saturating_add(count);
            }
        }
        let [status, severity, engine, site, sensor, title] = splits.map(ranked);
        AlertCounts {
            total,
            by_status: status,
            by_severity: severity,
            by_engine: engine,
            by_site: site,
            by_sensor: sensor,
            by_title: title,
            uncounted: filter.uncounted(),
        }
    }
}

/// A split's counts, most first, then by value.
fn ranked(split: BTreeMap<String, u64>) -> Vec<GroupCount> {
    let mut counts: Vec<GroupCount> = split
        .into_iter()
        .map(|(key, count)| GroupCount { key, count })
        .collect();
    // Stable: equal counts keep the map's order, by value.
    counts.sort_by_key(|c| std::cmp::Reverse(c.count));
    counts
}

/// `GET /subscriptions/{sub}/devices/counts`: how many devices the filters match, and how
/// they split per site, zone, type, vendor and authorization. Keys: ids for sites and
/// zones, the text for types and vendors (`""` for devices without one), `true`/`false`
/// for authorization; most devices first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCounts {
    pub total: u64,
    pub by_site: Vec<GroupCount>,
    pub by_zone: Vec<GroupCount>,
    pub by_type: Vec<GroupCount>,
    pub by_vendor: Vec<GroupCount>,
    pub by_authorized: Vec<GroupCount>,
}

impl DeviceCounts {
    /// The key of `device` in each split, in the order of the fields.
    pub fn keys_of(device: &Device) -> [String; 5] {
        let text = |value: &Option<DisplayName>| {
            value.as_ref().map(ToString::to_string).unwrap_or_default()
        };
        [
            device.site_id.to_string(),
            device
                .zone_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            text(&device.device_type),
            text(&device.vendor),
            device.authorized.to_string(),
        ]
    }

    pub fn tally<'a>(devices: impl IntoIterator<Item = &'a Device>) -> DeviceCounts {
        let mut splits: [BTreeMap<String, u64>; 5] = Default::default();
        let mut total = 0u64;
        for device in devices {
            total = total.saturating_add(1);
            for (split, key) in splits.iter_mut().zip(DeviceCounts::keys_of(device)) {
                *split.entry(key).or_default() += 1;
            }
        }
        let [site, zone, device_type, vendor, authorized] = splits.map(ranked);
        DeviceCounts {
            total,
            by_site: site,
            by_zone: zone,
            by_type: device_type,
            by_vendor: vendor,
            by_authorized: authorized,
        }
    }
}

/// How many alerts have one value of a grouping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupCount {
    pub key: String,
    pub count: u64,
}

/// The fields of an alert [`AlertFilter::keeps`] reads, borrowed from a stored alert.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertFields<'a> {
    #[serde(borrow)]
    pub sensor_id: std::borrow::Cow<'a, str>,
    pub severity: Severity,
    pub engine: Engine,
    #[serde(borrow)]
    pub title: std::borrow::Cow<'a, str>,
    pub source_ip: std::net::IpAddr,
    pub destination_ip: std::net::IpAddr,
    #[serde(with = "time::serde::rfc3339")]
    pub last_detected: OffsetDateTime,
    #[serde(borrow, default)]
    pub assignee: Option<std::borrow::Cow<'a, str>>,
}

/// One or more values of a filter, written `a,b` in a query string; a repeated value
/// counts once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyOf<T>(Vec<T>);

impl<T: PartialEq> AnyOf<T> {
    /// `None` when `values` is empty.
    pub fn new(values: impl IntoIterator<Item = T>) -> Option<Self> {
        let mut unique: Vec<T> = Vec::new();
        for value in values {
            if !unique.contains(&value) {
                unique.push(value);
            }
        }
        (!unique.is_empty()).then_some(AnyOf(unique))
    }

    pub fn contains(&self, value: &T) -> bool {
        self.0.contains(value)
    }

    pub fn values(&self) -> &[T] {
        &self.0
    }
}

/// The schema of an [`AnyOf`] of an enum of strings: `a,b` of its names, each with
/// optional spaces around. Filters name it as their `value_type`.
macro_rules! any_of_schema {
    ($list:ident, $of:ty) => {
        #[cfg(feature = "openapi")]
        #[doc = concat!("The document's name for `AnyOf<", stringify!($of), ">`.")]
        pub struct $list;

        named_schema!($list, {
            any_of_names(<$of as utoipa::PartialSchema>::schema())
        });
    };
}

#[cfg(feature = "openapi")]
fn any_of_names(
    of: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    let names: Vec<String> = match of {
        RefOr::T(Schema::Object(object)) => object
            .enum_values
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    assert!(
        !names.is_empty(),
        "an AnyOf filter is of an enum of strings"
    );
    let one = format!(" *(?:{}) *", names.join("|"));
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^{one}(?:,{one})*$")))
        .description(Some(format!(
            "One or more of {}, comma-separated.",
            names.join(", ")
        )))
        .into()
}

any_of_schema!(AlertStatusList, AlertStatus);
any_of_schema!(SeverityList, Severity);
any_of_schema!(EngineList, Engine);

impl<T: Serialize> Serialize for AnyOf<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut names = Vec::with_capacity(self.0.len());
        for value in &self.0 {
            match serde_json::to_value(value).map_err(serde::ser::Error::custom)? {
                serde_json::Value::String(name) => names.push(name),
                _ => return Err(serde::ser::Error::custom("a filter value is a name")),
            }
        }
        serializer.serialize_str(&names.join(","))
    }
}

impl<'de, T: serde::de::DeserializeOwned + PartialEq> Deserialize<'de> for AnyOf<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        use serde::de::value::{Error as ValueError, StrDeserializer};
        let raw = String::deserialize(deserializer)?;
        let values = raw
            .split(',')
            .map(|name| {
                T::deserialize(StrDeserializer::<ValueError>::new(name.trim()))
                    .map_err(|e| D::Error::custom(format!("{name:?}: {e}")))
            })
            .collect::<Result<Vec<T>, D::Error>>()?;
        AnyOf::new(values).ok_or_else(|| D::Error::custom("an empty list"))
    }
}

/// Longest text search, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

/// Text to look for, case-insensitive: trimmed, 1 to [`MAX_SEARCH_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchText(String);

pattern_schema!(
    SearchText,
    crate::model::trimmed_pattern(MAX_SEARCH_CHARS, "")
);

impl SearchText {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.is_empty() {
            return Err("the search text is empty".into());
        }
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(format!(
                "the search text is longer than {MAX_SEARCH_CHARS} characters"
            ));
        }
        Ok(SearchText(text.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `haystack` contains the text, ignoring case.
    pub fn found_in(&self, haystack: &str) -> bool {
        haystack.to_lowercase().contains(&self.0)
    }
}

impl<'de> Deserialize<'de> for SearchText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        SearchText::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// `PATCH /subscriptions/{sub}/alerts/{id}`; see [`AlertStatus::transition`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateAlert {
    #[serde(default)]
    pub status: Option<AlertStatus>,
    /// Why it is closed: one of the subscription's close reasons (only with
    /// `"status": "closed"`; a reason that learns also learns a learnable alert).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<CloseReasonId>, example = "false_positive"))]
    pub reason: Option<CloseReasonId>,
}

/// Most alerts one bulk status change may name.
pub const MAX_BULK_ALERTS: usize = 100;

/// `POST /subscriptions/{sub}/alerts/status` `{"alert_ids": [...], "status"}`: 1 to
/// [`MAX_BULK_ALERTS`] alerts, a repeated id counting once. Each alert is changed on
/// its own (see [`BulkAlertStatusResult`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkAlertStatus {
    #[serde(deserialize_with = "alert_ids_to_change")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub alert_ids: Vec<AlertId>,
    pub status: AlertStatus,
    /// As [`UpdateAlert::reason`], for every alert named.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<CloseReasonId>, example = "false_positive"))]
    pub reason: Option<CloseReasonId>,
}

/// `POST /subscriptions/{sub}/alerts/{id}/assign` `{"assignee"}`: a user's email or
/// `group:<group id>` who may view alerts at the alert's site, or `null` for nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignAlert {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PrincipalRef>, example = "analyst@example.com"))]
    pub assignee: Option<PrincipalRef>,
}

/// `POST /subscriptions/{sub}/alerts/assign` `{"alert_ids", "assignee"}`: as
/// [`AssignAlert`] for 1 to [`MAX_BULK_ALERTS`] alerts, each on its own (the answer is a
/// [`BulkAlertStatusResult`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkAssignAlerts {
    #[serde(deserialize_with = "alert_ids_to_change")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub alert_ids: Vec<AlertId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PrincipalRef>, example = "analyst@example.com"))]
    pub assignee: Option<PrincipalRef>,
}

/// `POST /subscriptions/{sub}/alerts/{id}/comments` `{"text"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddComment {
    #[cfg_attr(
        feature = "openapi",
        schema(example = "Seen during the maintenance window")
    )]
    pub text: CommentText,
}

/// `GET`/`PUT /subscriptions/{sub}/alerts/close-reasons`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CloseReasonList {
    /// 1 to 20 reasons, each id once.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::model::CloseReason>, min_items = 1, max_items = 20))]
    pub reasons: CloseReasons,
}

/// The `assignee` filter of the alert list: `me` (the caller or one of their groups),
/// `none` (nobody), or a user's email or `group:<group id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AssigneeFilter {
    Me,
    Nobody,
    Is(PrincipalRef),
}

pattern_schema!(
    AssigneeFilter,
    format!("^(?:me|none|{})$", crate::authz::principal_regex()),
    None::<String>,
    Some(crate::model::MAX_EMAIL_LEN)
);

impl TryFrom<String> for AssigneeFilter {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        match raw.as_str() {
            "me" => Ok(AssigneeFilter::Me),
            "none" => Ok(AssigneeFilter::Nobody),
            other => PrincipalRef::parse(other)
                .map(AssigneeFilter::Is)
                .map_err(|_| "must be me, none, an email address or group:<group id>".into()),
        }
    }
}

impl From<AssigneeFilter> for String {
    fn from(filter: AssigneeFilter) -> String {
        match filter {
            AssigneeFilter::Me => "me".into(),
            AssigneeFilter::Nobody => "none".into(),
            AssigneeFilter::Is(principal) => principal.into(),
        }
    }
}

fn alert_ids_to_change<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<AlertId>, D::Error> {
    let ids = Vec::<AlertId>::deserialize(deserializer)?;
    if ids.is_empty() || ids.len() > MAX_BULK_ALERTS {
        return Err(serde::de::Error::custom(format!(
            "must name 1 to {MAX_BULK_ALERTS} alerts"
        )));
    }
    let mut seen = BTreeSet::new();
    Ok(ids
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect())
}

/// The answer of a bulk status change: one result per distinct alert, in the order
/// asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkAlertStatusResult {
    pub items: Vec<BulkAlertStatusItem>,
}

/// One alert's outcome: `status` is what a `PATCH` of that alert alone would have
/// answered (`200`, `403`, `404`, `409`); `alert` on success, `error` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkAlertStatusItem {
    pub id: AlertId,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<Alert>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// Alert counts per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeverityCounts {
    pub critical: u64,
    pub major: u64,
    pub minor: u64,
    pub warning: u64,
}

impl SeverityCounts {
    /// Every severity, most severe first.
    pub const SEVERITIES: [Severity; 4] = Severity::ALL;

    /// All severities together.
    pub fn total(&self) -> u64 {
        self.critical
            .saturating_add(self.major)
            .saturating_add(self.minor)
            .saturating_add(self.warning)
    }

    /// The count of one severity.
    pub fn get(&self, severity: Severity) -> u64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::Major => self.major,
            Severity::Minor => self.minor,
            Severity::Warning => self.warning,
        }
    }

    /// Counts `n` more of `severity` (saturating, never wrapping).
    pub fn add(&mut self, severity: Severity, n: u64) {
        let count = match severity {
            Severity::Critical => &mut self.critical,
            Severity::Major => &mut self.major,
            Severity::Minor => &mut self.minor,
            Severity::Warning => &mut self.warning,
        };
        *count = count.saturating_add(n);
    }
}

/// One UTC day of [`AlertSummary::daily`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyAlertCount {
    /// The UTC day, `YYYY-MM-DD`.
    #[cfg_attr(feature = "openapi", schema(example = "2024-03-01"))]
    pub date: String,
    /// Alerts first detected that day, per severity.
    pub counts: SeverityCounts,
}

/// `GET /subscriptions/{sub}/alerts/summary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertSummary {
    /// Open alerts (status new or active) per severity, at the sites the caller may view.
    pub open: SeverityCounts,
    /// Alerts first detected on each of the last 30 UTC days, oldest first, today last
    /// (always 30 entries, zero-filled).
    pub daily: Vec<DailyAlertCount>,
}

/// How many days [`AlertSummary::daily`] covers, today included.
pub const ALERT_SUMMARY_DAYS: usize = 30;

// ----- Devices -----

/// Days without activity after which a device counts as inactive.
pub const INACTIVE_AFTER_DAYS: i64 = 30;

/// The filters of `GET /subscriptions/{sub}/devices` (and of its CSV export); every
/// filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct DeviceFilter {
    /// Only devices at this site.
    pub site_id: Option<SiteId>,
    /// Only devices in this zone.
    #[cfg_attr(feature = "openapi", param(inline))]
    pub zone_id: Option<ZoneId>,
    /// Only devices whose type contains this text (case-insensitive).
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", param(inline, example = "plc"))]
    pub device_type: Option<SearchText>,
    /// Only devices whose vendor contains this text (case-insensitive).
    #[cfg_attr(feature = "openapi", param(inline, example = "siemens"))]
    pub vendor: Option<SearchText>,
    /// Only authorized (`true`) or unauthorized (`false`) devices.
    pub authorized: Option<bool>,
    /// Only devices without activity for more than [`INACTIVE_AFTER_DAYS`] days
    /// (`true`), or only the others (`false`).
    pub inactive: Option<bool>,
    /// Only devices whose name, IP or MAC address contains this text (case-insensitive).
    #[cfg_attr(feature = "openapi", param(inline, example = "10.0.1."))]
    pub q: Option<SearchText>,
}

impl DeviceFilter {
    /// Whether `device` passes every filter but the site (which picks the partitions
    /// read), as of `now`.
    pub fn keeps(&self, device: &Device, now: OffsetDateTime) -> bool {
        let contains = |filter: &Option<SearchText>, value: &Option<DisplayName>| {
            filter
                .as_ref()
                .is_none_or(|text| value.as_ref().is_some_and(|v| text.found_in(v.as_str())))
        };
        let inactive = device.is_inactive(now);
        self.zone_id
            .as_ref()
            .is_none_or(|zone| device.zone_id.as_ref() == Some(zone))
            && contains(&self.device_type, &device.device_type)
            && contains(&self.vendor, &device.vendor)
            && self.authorized.is_none_or(|a| device.authorized == a)
            && self.inactive.is_none_or(|i| inactive == i)
            && self.q.as_ref().is_none_or(|text| {
                device
                    .name
                    .as_ref()
                    .is_some_and(|n| text.found_in(n.as_str()))
                    || text.found_in(&device.ip.to_string())
                    || text.found_in(&device.mac.to_string())
            })
    }

    /// Whether only the site filters, so every device read is kept.
    pub fn is_site_only(&self) -> bool {
        *self
            == DeviceFilter {
                site_id: self.site_id.clone(),
                ..DeviceFilter::default()
            }
    }
}

/// `PATCH /subscriptions/{sub}/devices/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateDevice {
    #[serde(default)]
    pub name: Option<DisplayName>,
    #[serde(default, rename = "type")]
    pub device_type: Option<DisplayName>,
    #[serde(default)]
    pub vendor: Option<DisplayName>,
    #[serde(default)]
    pub authorized: Option<bool>,
}

/// Most devices one merge may name, the survivor included.
pub const MAX_MERGED_DEVICES: usize = 10;

/// `POST /subscriptions/{sub}/devices/merge`: 2 to [`MAX_MERGED_DEVICES`] devices at
/// one site become `survivor_id` (one of them), which keeps the fields given here and
/// its own otherwise; the others are removed and their identities (zone, IP, MAC) now
/// name the survivor, so later observations of them update it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MergeDevices {
    #[serde(deserialize_with = "devices_to_merge")]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeSet<DeviceId>, min_items = 2, max_items = 10))]
    pub device_ids: Vec<DeviceId>,
    pub survivor_id: DeviceId,
    #[serde(default)]
    pub name: Option<DisplayName>,
    #[serde(default, rename = "type")]
    pub device_type: Option<DisplayName>,
    #[serde(default)]
    pub vendor: Option<DisplayName>,
    #[serde(default)]
    pub authorized: Option<bool>,
}

impl MergeDevices {
    /// The survivor's fields this merge sets.
    pub fn kept_fields(&self) -> UpdateDevice {
        UpdateDevice {
            name: self.name.clone(),
            device_type: self.device_type.clone(),
            vendor: self.vendor.clone(),
            authorized: self.authorized,
        }
    }
}

fn devices_to_merge<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<DeviceId>, D::Error> {
    let ids = Vec::<DeviceId>::deserialize(deserializer)?;
    let distinct: BTreeSet<&DeviceId> = ids.iter().collect();
    if distinct.len() != ids.len() || !(2..=MAX_MERGED_DEVICES).contains(&ids.len()) {
        return Err(serde::de::Error::custom(format!(
            "name 2 to {MAX_MERGED_DEVICES} different devices"
        )));
    }
    Ok(ids)
}

/// The header of `GET /subscriptions/{sub}/devices/export.csv`.
pub const DEVICE_EXPORT_COLUMNS: [&str; 12] = [
    "id",
    "name",
    "type",
    "vendor",
    "ip",
    "mac",
    "site",
    "zone",
    "sensor",
    "authorized",
    "first seen (UTC)",
    "last activity (UTC)",
];

/// A device's row of the CSV export, in [`DEVICE_EXPORT_COLUMNS`] order: ids as in the
/// API, times in RFC 3339 UTC, empty cells for unknowns, each [`spreadsheet_cell`].
pub fn device_export_row(device: &Device) -> [String; 12] {
    let text = |value: &Option<DisplayName>| value.as_ref().map(ToString::to_string);
    let utc = |at: OffsetDateTime| {
        at.to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let row = [
        device.id.to_string(),
        text(&device.name).unwrap_or_default(),
        text(&device.device_type).unwrap_or_default(),
        text(&device.vendor).unwrap_or_default(),
        device.ip.to_string(),
        device.mac.to_string(),
        device.site_id.to_string(),
        device
            .zone_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        device.sensor_id.to_string(),
        device.authorized.to_string(),
        utc(device.first_seen),
        utc(device.last_activity),
    ];
    row.map(spreadsheet_cell)
}

// ----- Sensor ingest -----

/// `POST /ingest/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub version: SoftwareVersion,
    /// The installed TI package; Enterprise IoT sensors have none.
    #[serde(default)]
    pub ti_version: Option<TiVersion>,
    pub health: SensorHealth,
    /// What is wrong, when the sensor knows.
    #[serde(default)]
    pub issues: Vec<SensorIssue>,
    /// On the settings revision the sensor was last sent (`apply_settings`).
    #[serde(default)]
    pub settings: Option<SettingsReport>,
}

/// `POST /ingest/heartbeat` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatResponse {
    pub pending: Vec<PendingAction>,
}

/// `POST /ingest/alerts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IngestAlerts {
    pub alerts: Vec<DetectedAlert>,
}

/// `POST /ingest/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IngestDevices {
    pub devices: Vec<ObservedDevice>,
}

/// The `202` answer of the ingest endpoints: how many items were durably accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    pub accepted: usize,
}

// ----- Audit log -----

/// Who made an audited change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditActor {
    User {
        email: Email,
    },
    Sensor {
        sensor_id: SensorId,
    },
    /// Vigil itself, keeping a rule no person applied at that moment (retention).
    System,
}

// ----- Alert timelines -----

/// What one entry of an alert's timeline records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertChange {
    /// Its status changed (with the close reason given, on a close).
    Status {
        from: AlertStatus,
        to: AlertStatus,
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        reason: Option<CloseReasonId>,
    },
    /// It was learned: its traffic is expected from now on.
    Learned,
    /// Its assignee changed (`None`: nobody).
    Assigned {
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        from: Option<PrincipalRef>,
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        to: Option<PrincipalRef>,
    },
    /// Someone commented; never edited (a correction is a new comment).
    Comment {
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        text: CommentText,
    },
}

/// One entry of an alert's timeline, written in the same transaction as the change it
/// records, never changed afterwards. Ids are time-ordered: the timeline lists in
/// their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertEvent {
    pub id: AlertEventId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: AuditActor,
    pub change: AlertChange,
}

// ----- Suppression rules -----

/// `POST …/suppression-rules` answers the rule and how many open alerts it closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedRule {
    pub rule: crate::model::SuppressionRule,
    /// Open alerts closed with reason `suppressed` (0 unless `close_matching`).
    pub closed: u64,
}

/// `POST …/suppression-rules/preview`: the open alerts a rule would match now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulePreview {
    /// Open alerts it matches, among the first [`crate::model::MAX_PREVIEWED_ALERTS`] open alerts of
    /// its scope, newest first.
    pub open_matching: u64,
    /// Whether the scope holds more open alerts than were examined.
    pub more_open_alerts: bool,
}

/// The kinds of resource the audit log records changes of: an entry's `action` is
/// `<resource>.<verb>`.
pub const AUDITED_RESOURCES: [&str; 12] = [
    "subscription",
    "site",
    "zone",
    "sensor",
    "console",
    "plan",
    "alert",
    "device",
    "role_assignment",
    "role",
    "device_group",
    "suppression_rule",
];

/// The filters of `GET /subscriptions/{sub}/audit-log`; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct AuditFilter {
    /// Only changes by an actor whose email or sensor id contains this text
    /// (case-insensitive).
    #[cfg_attr(feature = "openapi", param(inline, example = "alice@"))]
    pub actor: Option<SearchText>,
    /// Only changes of this kind: a resource (`site`, every change of sites) or one
    /// action (`site.update`).
    #[cfg_attr(feature = "openapi", param(inline, example = "site"))]
    pub action: Option<AuditAction>,
    /// Only changes at or after this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime, example = "2026-12-01T00:00:00Z"))]
    pub since: Option<OffsetDateTime>,
    /// Only changes before this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime, example = "2026-12-02T00:00:00Z"))]
    pub until: Option<OffsetDateTime>,
}

impl AuditFilter {
    pub fn keeps(&self, entry: &AuditEntry) -> bool {
        self.actor.as_ref().is_none_or(|text| match &entry.actor {
            AuditActor::User { email } => text.found_in(email.as_str()),
            AuditActor::Sensor { sensor_id } => text.found_in(sensor_id.as_str()),
            AuditActor::System => text.found_in("vigil"),
        }) && self
            .action
            .as_ref()
            .is_none_or(|kind| kind.covers(&entry.action))
            && self.since.is_none_or(|since| entry.at >= since)
            && self.until.is_none_or(|until| entry.at < until)
    }

    pub fn is_empty(&self) -> bool {
        *self == AuditFilter::default()
    }
}

/// A kind of change: one of [`AUDITED_RESOURCES`], alone or with a verb (`site.update`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditAction(String);

pattern_schema!(
    AuditAction,
    format!("^(?:{})(?:\\.[a-z_]+)?$", AUDITED_RESOURCES.join("|")),
    Some("A kind of change: a resource (site) or <resource>.<verb> (site.update).")
);

impl AuditAction {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let resource = raw.split_once('.').map_or(raw, |(resource, _)| resource);
        let verb_ok = raw.split_once('.').is_none_or(|(_, verb)| {
            !verb.is_empty() && verb.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
        if AUDITED_RESOURCES.contains(&resource) && verb_ok {
            Ok(AuditAction(raw.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not a kind of change: use one of {} or <kind>.<verb>",
                AUDITED_RESOURCES.join(", ")
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an entry's `action` is of this kind.
    pub fn covers(&self, action: &str) -> bool {
        action == self.0
            || action
                .strip_prefix(self.0.as_str())
                .is_some_and(|rest| rest.starts_with('.') && !self.0.contains('.'))
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        AuditAction::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// How long the audit log keeps an entry: retention removes it after a year.
pub const AUDIT_RETENTION: time::Duration = time::Duration::days(365);

/// One successful write: who, what, when, where, and the resource before and after.
/// Written in the same transaction as the change, so the log never misses one; kept for
/// [`AUDIT_RETENTION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: AuditEntryId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: AuditActor,
    /// What was done, as `<resource>.<verb>`, e.g. `site.update`.
    pub action: String,
    pub subscription_id: SubscriptionId,
    /// The site the change was at, for site-scoped resources.
    pub site_id: Option<SiteId>,
    /// The id of the resource changed.
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{Access, Permission, Target};
    use serde_json::json;

    #[test]
    fn an_activation_command_quotes_every_value_for_the_shell() {
        let file = ActivationFile {
            sensor_id: SensorId::parse("s1").unwrap(),
            subscription_id: SubscriptionId::parse("sub1").unwrap(),
            api_url: "https://vigil.example/api?x='1'".into(),
            token: "vst_abc-_9".into(),
        };
        assert_eq!(
            file.activation_command(),
            r"sudo vigil-eiot-sensor activate --api-url 'https://vigil.example/api?x='\''1'\''' --subscription 'sub1' --sensor 's1' --token 'vst_abc-_9'"
        );
    }

    fn parse<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, String> {
        serde_json::from_value(body).map_err(|error| error.to_string())
    }

    #[test]
    fn filter_lists_read_comma_separated_names_once_each_and_write_them_back() {
        let statuses: AnyOf<AlertStatus> = parse(json!("new, active,new")).unwrap();
        assert_eq!(statuses.values(), [AlertStatus::New, AlertStatus::Active]);
        assert_eq!(
            serde_json::to_value(&statuses).unwrap(),
            json!("new,active")
        );
        for bad in ["", "new,", "new,done"] {
            assert!(parse::<AnyOf<AlertStatus>>(json!(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_audit_filter_keeps_entries_by_actor_kind_and_time() {
        let entry: AuditEntry = parse(json!({
            "id": "e1", "at": "2026-12-01T10:00:00Z",
            "actor": {"kind": "user", "email": "Alice@Plants.test"},
            "action": "site.update", "subscription_id": "sub-1", "site_id": "north",
            "target": "north", "before": null, "after": null,
        }))
        .unwrap();
        let filter = |body| parse::<AuditFilter>(body).unwrap();
        for keeps in [
            json!({}),
            json!({"actor": "alice@"}),
            json!({"action": "site"}),
            json!({"action": "site.update", "since": "2026-12-01T10:00:00Z"}),
            json!({"until": "2026-12-01T10:00:01Z"}),
        ] {
            assert!(filter(keeps.clone()).keeps(&entry), "{keeps}");
        }
        for drops in [
            json!({"actor": "bob"}),
            json!({"action": "site.delete"}),
            json!({"action": "sensor"}),
            json!({"since": "2026-12-01T10:00:01Z"}),
            json!({"until": "2026-12-01T10:00:00Z"}),
        ] {
            assert!(!filter(drops.clone()).keeps(&entry), "{drops}");
        }
        for bad in [
            json!({"action": "sit"}),
            json!({"action": "site."}),
            json!({"action": "site.Update"}),
            json!({"since": "yesterday"}),
        ] {
            assert!(parse::<AuditFilter>(bad.clone()).is_err(), "{bad}");
        }
        assert!(
            !AuditAction::parse("site")
                .unwrap()
                .covers("site_thing.update")
        );
    }

    #[test]
    fn an_alert_filter_keeps_what_every_given_filter_matches() {
        let alert = AlertFields {
            sensor_id: "s1".into(),
            severity: Severity::Major,
            engine: Engine::Malware,
            title: "Modbus write to PLC".into(),
            source_ip: "10.0.0.5".parse().unwrap(),
            destination_ip: "10.0.0.9".parse().unwrap(),
            last_detected: time::macros::datetime!(2026-12-01 10:00 UTC),
            assignee: Some("group:night-shift".into()),
        };
        let me = Principal {
            email: Email::parse("ana@example.com").unwrap(),
            groups: [GroupId::parse("night-shift").unwrap()].into(),
        };
        let filter = |body| parse::<AlertFilter>(body).unwrap();
        assert!(AlertFilter::default().is_indexed_only());
        for keeps in [
            json!({"severity": "critical,major"}),
            json!({"engine": "malware", "sensor_id": "s1"}),
            json!({"q": "  PLC "}),
            json!({"q": "0.0.9"}),
            json!({"since": "2026-12-01T10:00:00Z", "until": "2026-12-01T10:00:01Z"}),
            json!({"assignee": "me"}),
            json!({"assignee": "group:night-shift"}),
        ] {
            assert!(filter(keeps.clone()).keeps(&alert, &me), "{keeps}");
        }
        for drops in [
            json!({"severity": "minor"}),
            json!({"engine": "malware", "sensor_id": "s2"}),
            json!({"q": "dnp3"}),
            json!({"since": "2026-12-01T10:00:01Z"}),
            json!({"until": "2026-12-01T10:00:00Z"}),
            json!({"assignee": "none"}),
            json!({"assignee": "ana@example.com"}),
        ] {
            assert!(!filter(drops.clone()).keeps(&alert, &me), "{drops}");
        }
        assert!(!filter(json!({"since": "2026-12-01T10:00:00Z"})).is_indexed_only());
        assert!(
            filter(json!({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}))
                .is_empty_window()
        );
        assert!(parse::<AlertFilter>(json!({"until": "soon"})).is_err());
        assert!(parse::<AlertFilter>(json!({"assignee": "someone"})).is_err());
        assert!(parse::<AlertFilter>(json!({"q": " "})).is_err());
        assert!(parse::<AlertFilter>(json!({"q": "x".repeat(MAX_SEARCH_CHARS + 1)})).is_err());
    }

    #[test]
    fn alert_counts_tally_the_groups_the_counted_filters_keep_most_first() {
        let (north, south) = (
            SiteId::parse("north").unwrap(),
            SiteId::parse("south").unwrap(),
        );
        let (s1, s2) = (
            SensorId::parse("s1").unwrap(),
            SensorId::parse("s2").unwrap(),
        );
        let group = |site_id, sensor_id, status, severity, title| AlertGroup {
            site_id,
            sensor_id,
            status,
            severity,
            engine: Engine::Anomaly,
            title,
        };
        let groups = [
            (
                group(&north, &s1, AlertStatus::New, Severity::Critical, "Scan"),
                3,
            ),
            (
                group(&north, &s1, AlertStatus::Closed, Severity::Critical, "Scan"),
                5,
            ),
            (
                group(&south, &s2, AlertStatus::Active, Severity::Minor, "Write"),
                4,
            ),
            (
                group(&south, &s2, AlertStatus::New, Severity::Minor, "Empty"),
                0,
            ),
        ];
        let open: AlertFilter = parse(json!({"status": "new,active", "q": "scan"})).unwrap();
        let counts = AlertCounts::tally(&open, groups);
        assert_eq!(counts.total, 7);
        let split = |counts: &[GroupCount]| {
            counts
                .iter()
                .map(|c| (c.key.clone(), c.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            split(&counts.by_site),
            [("south".into(), 4), ("north".into(), 3)]
        );
        assert_eq!(
            split(&counts.by_status),
            [("active".into(), 4), ("new".into(), 3)]
        );
        assert_eq!(
            split(&counts.by_title),
            [("Write".into(), 4), ("Scan".into(), 3)]
        );
        assert_eq!(split(&counts.by_engine), [("anomaly".into(), 7)]);
        assert_eq!(counts.uncounted, ["q"]);
        let north_only: AlertFilter = parse(json!({"site_id": "north"})).unwrap();
        let counts = AlertCounts::tally(&north_only, groups);
        assert_eq!(
            (counts.total, split(&counts.by_sensor)),
            (8, vec![("s1".into(), 8)])
        );
        assert!(counts.uncounted.is_empty());
    }

    #[test]
    fn every_request_body_refuses_unknown_fields() {
        assert!(parse::<CreateSubscription>(json!({"name": "n", "x": 1})).is_err());
        assert!(parse::<CreateSite>(json!({"display_name": "n", "colour": "red"})).is_err());
        assert!(parse::<UpdateAlert>(json!({"status": "closed", "severity": "minor"})).is_err());
        assert!(
            parse::<CreateRoleAssignment>(
                json!({"principal": "a@b.co", "role": "owner", "scope": "all"})
            )
            .is_err()
        );
        assert!(
            parse::<CreatePlan>(json!({"kind": "ot", "commitment": "trial", "seats": 1})).is_err()
        );
        assert!(
            parse::<CreateSensor>(json!({"name": "s", "type": "enterprise_iot", "x": 1})).is_err()
        );
    }

    #[test]
    fn a_trial_plan_with_other_than_1000_devices_is_refused_naming_the_field() {
        let error = parse::<CreatePlan>(
            json!({"kind": "ot", "commitment": "trial", "committed_devices": 500}),
        )
        .unwrap_err();
        assert!(error.contains("committed_devices"), "{error}");
        for accepted in [
            json!({"kind": "ot", "commitment": "trial"}),
            json!({"kind": "enterprise_iot", "commitment": "trial", "committed_devices": 1000}),
            json!({"kind": "ot", "commitment": "monthly", "committed_devices": 1700}),
        ] {
            assert!(parse::<CreatePlan>(accepted.clone()).is_ok(), "{accepted}");
        }
        assert!(parse::<CreatePlan>(json!({"kind": "ot", "commitment": "annual"})).is_err());
        assert!(
            parse::<CreatePlan>(
                json!({"kind": "ot", "commitment": "monthly", "committed_devices": 150})
            )
            .is_err()
        );
    }

    #[test]
    fn the_kind_of_a_plan_request_is_readable_before_the_body_is_validated() {
        let body = json!({"kind": "enterprise_iot", "commitment": "trial", "committed_devices": 7});
        assert_eq!(
            parse::<RequestedPlanKind>(body.clone()).unwrap().kind,
            PlanKind::EnterpriseIot
        );
        assert!(parse::<CreatePlan>(body).is_err());
    }

    #[test]
    fn sensor_onboarding_places_ot_sensors_at_their_site_and_enterprise_iot_sensors_nowhere_else() {
        let ot: CreateSensor =
            parse(json!({"name": "s1", "type": "ot_cloud_connected", "site_id": "plant-1"}))
                .unwrap();
        assert_eq!(
            ot.placement,
            SitePlacement::Site(SiteId::parse("plant-1").unwrap())
        );
        let error =
            parse::<CreateSensor>(json!({"name": "s1", "type": "ot_locally_managed"})).unwrap_err();
        assert!(error.contains("site_id is required"), "{error}");
        let eiot: CreateSensor =
            parse(json!({"name": "e1", "type": "enterprise_iot", "site_id": null})).unwrap();
        assert_eq!(eiot.placement, SitePlacement::EnterpriseNetwork);
        assert!(
            parse::<CreateSensor>(json!({"name": "e1", "type": "enterprise_iot", "site_id": "s"}))
                .is_err()
        );
        assert!(
            parse::<CreateSensor>(json!({"name": "e1", "type": "enterprise_iot", "zone_id": "z"}))
                .is_err()
        );
        let round_trip: CreateSensor = parse(serde_json::to_value(&ot).unwrap()).unwrap();
        assert_eq!(round_trip, ot);
    }

    #[test]
    fn an_assignment_request_takes_one_scope_at_most() {
        let site: CreateRoleAssignment =
            parse(json!({"principal": "a@b.co", "role": "security_reader", "site_id": "plant-1"}))
                .unwrap();
        assert_eq!(site.scope, Scope::Site(SiteId::parse("plant-1").unwrap()));
        let subscription: CreateRoleAssignment =
            parse(json!({"principal": "group:ops", "role": "owner", "site_id": null})).unwrap();
        assert_eq!(subscription.scope, Scope::Subscription);
        assert!(
            parse::<CreateRoleAssignment>(json!({"principal": "a@b.co", "role": "owner",
                "site_id": "s", "device_group_id": "g"}))
            .is_err()
        );
        assert!(
            parse::<CreateRoleAssignment>(json!({"principal": "a@b.co", "role": "root"})).is_ok()
        );
        assert!(
            parse::<CreateRoleAssignment>(json!({"principal": "a@b.co", "role": "no such"}))
                .is_err()
        );
    }

    #[test]
    fn a_custom_role_must_grant_something() {
        let error = parse::<CreateRole>(json!({"name": "Empty", "permissions": []})).unwrap_err();
        assert!(error.contains("at least one permission"), "{error}");
        let role: CreateRole =
            parse(json!({"name": "Tier 1", "permissions": ["view_alerts", "modify_alerts"]}))
                .unwrap();
        assert_eq!(role.permissions.len(), 2);
        assert!(parse::<CreateRole>(json!({"name": "X", "permissions": ["root"]})).is_err());
    }

    #[test]
    fn built_in_roles_list_in_seed_order_with_their_permissions() {
        let roles = serde_json::to_value(Role::built_in_roles()).unwrap();
        assert_eq!(roles[3]["id"], "owner");
        assert_eq!(roles[3]["name"], "Owner");
        assert_eq!(roles[3]["built_in"], true);
        assert_eq!(roles[3]["permissions"][0], "grant_permissions");
        assert_eq!(roles[0]["id"], "security_reader");
    }

    #[test]
    fn the_spa_builds_the_same_access_from_me() {
        // GIVEN /me with one site assignment as Security Admin
        let me: Me = parse(json!({
            "email": "ana@example.com",
            "subscriptions": [{"id": "sub-1", "name": "Plants", "assignments": [{
                "id": "a1", "role": "security_admin", "site_id": "plant-1", "device_group_id": null,
                "permissions": BuiltInRole::SecurityAdmin.permissions(),
                "reach": {"sites": ["plant-1"]}
            }]}]
        }))
        .unwrap();
        // WHEN the SPA folds it
        let access = Access::from_grants(
            me.subscriptions[0]
                .assignments
                .iter()
                .map(MyAssignment::grant),
        );
        // THEN alerts at the site are modifiable, sensors are not
        let plant = SiteId::parse("plant-1").unwrap();
        assert!(
            access
                .decide(Permission::ModifyAlerts, Target::Site(&plant))
                .is_allowed()
        );
        assert!(
            !access
                .decide(Permission::ViewSitesAndSensors, Target::Site(&plant))
                .is_allowed()
        );
    }

    #[test]
    fn ti_push_names_one_to_500_sensors() {
        assert!(parse::<PushTiUpdate>(json!({"sensor_ids": []})).is_err());
        let ids: Vec<String> = (0..=MAX_TI_PUSH_SENSORS).map(|n| format!("s{n}")).collect();
        assert!(parse::<PushTiUpdate>(json!({"sensor_ids": ids})).is_err());
        let push: PushTiUpdate = parse(json!({"sensor_ids": ["a", "b", "a"]})).unwrap();
        assert_eq!(push.sensor_ids.len(), 2);
    }

    #[test]
    fn heartbeats_accept_the_contract_shape() {
        let heartbeat: Heartbeat =
            parse(json!({"version": "23.1.2", "ti_version": "2024.03.01", "health": "healthy"}))
                .unwrap();
        assert!(heartbeat.issues.is_empty());
        assert!(parse::<Heartbeat>(json!({"version": "new", "health": "healthy"})).is_err());
        let answer = HeartbeatResponse {
            pending: vec![PendingAction::TiUpdate {
                ti_version: TiVersion::parse("2024.03.01").unwrap(),
            }],
        };
        assert_eq!(
            serde_json::to_value(answer).unwrap(),
            json!({"pending": [{"kind": "ti_update", "ti_version": "2024.03.01"}]})
        );
    }

    #[test]
    fn the_export_row_follows_the_header_with_empty_cells_for_unknowns() {
        let sensor: Sensor = parse(json!({
            "id": "s1", "name": "Line 1", "type": "ot_cloud_connected", "site_id": "plant-1",
            "zone_id": null, "version": "23.1.2", "health": "disconnected", "health_findings": [],
            "last_connected": "2024-03-01T12:00:00+02:00", "ti_version": null,
            "ti_mode": "automatic", "ti_update_status": "update_available",
            "software_update": {"state": "idle"}, "activation_issued_at": "2024-03-01T09:00:00Z"
        }))
        .unwrap();
        let row = sensor.export_row(SensorExportNames {
            site: "Plant 1",
            zone: None,
            subscription: "Plants",
        });
        assert_eq!(row.len(), SENSOR_EXPORT_COLUMNS.len());
        assert_eq!(
            row,
            [
                "Line 1",
                "ot_cloud_connected",
                "Plant 1",
                "",
                "Plants",
                "23.1.2",
                "disconnected",
                "2024-03-01T10:00:00Z",
                "",
                "automatic",
                "update_available"
            ]
        );
    }

    #[test]
    fn a_bulk_status_change_names_one_to_100_alerts_each_once() {
        assert!(parse::<BulkAlertStatus>(json!({"alert_ids": [], "status": "closed"})).is_err());
        let ids: Vec<String> = (0..=MAX_BULK_ALERTS).map(|n| format!("a{n}")).collect();
        assert!(parse::<BulkAlertStatus>(json!({"alert_ids": ids, "status": "closed"})).is_err());
        let bulk: BulkAlertStatus =
            parse(json!({"alert_ids": ["b", "a", "b"], "status": "active"})).unwrap();
        assert_eq!(
            bulk.alert_ids,
            [AlertId::parse("b").unwrap(), AlertId::parse("a").unwrap()]
        );
        assert!(parse::<BulkAlertStatus>(json!({"alert_ids": ["a"], "status": "done"})).is_err());
        assert!(
            parse::<BulkAlertStatus>(json!({"alert_ids": ["a b"], "status": "closed"})).is_err()
        );
    }

    #[test]
    fn a_device_export_row_follows_the_header_with_empty_cells_for_unknowns() {
        let device: Device = parse(json!({
            "id": "d1", "site_id": "plant-1", "zone_id": null, "sensor_id": "s1",
            "ip": "10.0.0.7", "mac": "00:1b:44:11:3a:b7", "name": "plc-7", "type": null,
            "vendor": "Siemens", "authorized": true, "endpoint_managed": false,
            "first_seen": "2024-03-01T12:00:00+02:00", "last_activity": "2024-03-01T11:00:00Z"
        }))
        .unwrap();
        let row = device_export_row(&device);
        assert_eq!(row.len(), DEVICE_EXPORT_COLUMNS.len());
        assert_eq!(
            row,
            [
                "d1",
                "plc-7",
                "",
                "Siemens",
                "10.0.0.7",
                "00:1b:44:11:3a:b7",
                "plant-1",
                "",
                "s1",
                "true",
                "2024-03-01T10:00:00Z",
                "2024-03-01T11:00:00Z"
            ]
        );
    }

    #[test]
    fn severity_counts_add_get_and_total_each_severity_apart() {
        let mut counts = SeverityCounts::default();
        assert_eq!(counts.total(), 0);
        counts.add(Severity::Critical, 2);
        counts.add(Severity::Warning, 1);
        counts.add(Severity::Critical, 3);
        assert_eq!(counts.get(Severity::Critical), 5);
        assert_eq!(counts.get(Severity::Major), 0);
        assert_eq!(counts.get(Severity::Minor), 0);
        assert_eq!(counts.get(Severity::Warning), 1);
        assert_eq!(counts.total(), 6);
        for severity in SeverityCounts::SEVERITIES {
            let mut one = SeverityCounts::default();
            one.add(severity, 7);
            assert_eq!(one.get(severity), 7, "{severity:?}");
            assert_eq!(one.total(), 7, "{severity:?}");
        }
        counts.add(Severity::Major, u64::MAX);
        assert_eq!(counts.get(Severity::Major), u64::MAX);
        counts.add(Severity::Major, 1);
        assert_eq!(counts.get(Severity::Major), u64::MAX, "saturates");
        assert_eq!(
            serde_json::to_value(SeverityCounts {
                critical: 1,
                major: 2,
                minor: 3,
                warning: 4
            })
            .unwrap(),
            json!({"critical": 1, "major": 2, "minor": 3, "warning": 4})
        );
    }

    #[test]
    fn the_health_summary_counts_each_sensor_once_in_its_health() {
        let mut summary = SensorHealthSummary::default();
        for health in [
            SensorHealth::Healthy,
            SensorHealth::Healthy,
            SensorHealth::Disconnected,
            SensorHealth::Unsupported,
            SensorHealth::Unhealthy,
        ] {
            summary.count(health);
        }
        assert_eq!(
            serde_json::to_value(summary).unwrap(),
            json!({"healthy": 2, "unhealthy": 1, "unsupported": 1, "disconnected": 1, "total": 5})
        );
    }

    #[test]
    fn console_recovery_takes_a_plain_secret_identifier() {
        assert!(parse::<RecoverConsolePassword>(json!({"secret_identifier": "A1B2-C3"})).is_ok());
        for bad in ["", "has space", "x;rm", &"a".repeat(65)] {
            assert!(
                parse::<RecoverConsolePassword>(json!({"secret_identifier": bad})).is_err(),
                "{bad:?}"
            );
        }
        assert!(
            parse::<RecoverConsolePassword>(json!({"secret_identifier": "a", "pin": 1})).is_err()
        );
    }

    #[test]
    fn patch_bodies_accept_an_empty_object() {
        assert_eq!(
            parse::<UpdatePlan>(json!({})).unwrap(),
            UpdatePlan::default()
        );
        assert_eq!(
            parse::<UpdateSite>(json!({})).unwrap(),
            UpdateSite::default()
        );
        assert_eq!(
            parse::<UpdateSensor>(json!({})).unwrap(),
            UpdateSensor::default()
        );
        assert_eq!(
            parse::<UpdateDevice>(json!({})).unwrap(),
            UpdateDevice::default()
        );
        assert_eq!(
            parse::<UpdateAlert>(json!({})).unwrap(),
            UpdateAlert::default()
        );
    }

    #[test]
    fn a_diagnostics_archive_holds_one_byte_to_one_mebibyte() {
        assert_eq!(check_diagnostics_size(0), Err(DiagnosticsSizeError::Empty));
        assert_eq!(check_diagnostics_size(1), Ok(()));
        assert_eq!(check_diagnostics_size(1_048_576), Ok(()));
        let over = check_diagnostics_size(1_048_577).unwrap_err();
        assert_eq!(over, DiagnosticsSizeError::TooLarge(1_048_577));
        assert_eq!(
            over.to_string(),
            "the archive is 1025 KiB; at most 1024 KiB is taken"
        );
    }
}
