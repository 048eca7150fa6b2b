//! Users and roles: role assignments, custom roles, device groups, API tokens.

use shared::api::{
    ApiToken, CreateApiToken, CreateDeviceGroup, CreateRole, CreateRoleAssignment, CreatedApiToken,
    Role,
};
use shared::authz::RoleAssignment;
use shared::model::{
    ApiTokenId, AssignmentId, DeviceGroup, DeviceGroupId, RoleId, SiteId, SubscriptionId,
};

use super::{Api, ApiError};

/// Every assignment in the subscription, or (`site`) those made at one site.
pub async fn assignments(
    api: Api,
    sub: &SubscriptionId,
    site: Option<&SiteId>,
) -> Result<Vec<RoleAssignment>, ApiError> {
    let filter = site.map(|s| format!("?site_id={s}")).unwrap_or_default();
    api.get_all(&format!("/subscriptions/{sub}/role-assignments{filter}"))
        .await
}

pub async fn assign(
    api: Api,
    sub: &SubscriptionId,
    request: &CreateRoleAssignment,
) -> Result<RoleAssignment, ApiError> {
    api.post(&format!("/subscriptions/{sub}/role-assignments"), request)
        .await
}

pub async fn unassign(api: Api, sub: &SubscriptionId, id: &AssignmentId) -> Result<(), ApiError> {
    api.delete(&format!("/subscriptions/{sub}/role-assignments/{id}"), None)
        .await
}

/// The built-in roles, then the subscription's custom ones.
pub async fn roles(api: Api, sub: &SubscriptionId) -> Result<Vec<Role>, ApiError> {
    api.get_all(&format!("/subscriptions/{sub}/roles")).await
}

pub async fn create_role(
    api: Api,
    sub: &SubscriptionId,
    request: &CreateRole,
) -> Result<Role, ApiError> {
    api.post(&format!("/subscriptions/{sub}/roles"), request)
        .await
}

pub async fn delete_role(api: Api, sub: &SubscriptionId, id: &RoleId) -> Result<(), ApiError> {
    api.delete(&format!("/subscriptions/{sub}/roles/{id}"), None)
        .await
}

pub async fn device_groups(api: Api, sub: &SubscriptionId) -> Result<Vec<DeviceGroup>, ApiError> {
    api.get_all(&format!("/subscriptions/{sub}/device-groups"))
        .await
}

pub async fn create_device_group(
    api: Api,
    sub: &SubscriptionId,
    request: &CreateDeviceGroup,
) -> Result<DeviceGroup, ApiError> {
    api.post(&format!("/subscriptions/{sub}/device-groups"), request)
        .await
}

pub async fn delete_device_group(
    api: Api,
    sub: &SubscriptionId,
    id: &DeviceGroupId,
) -> Result<(), ApiError> {
    api.delete(&format!("/subscriptions/{sub}/device-groups/{id}"), None)
        .await
}

/// Every API token in the subscription, or (`site`) those scoped to one site.
pub async fn api_tokens(
    api: Api,
    sub: &SubscriptionId,
    site: Option<&SiteId>,
) -> Result<Vec<ApiToken>, ApiError> {
    let filter = site.map(|s| format!("?site_id={s}")).unwrap_or_default();
    api.get_all(&format!("/subscriptions/{sub}/api-tokens{filter}"))
        .await
}

/// A new token, with its secret: the only time it is ever shown.
pub async fn create_api_token(
    api: Api,
    sub: &SubscriptionId,
    request: &CreateApiToken,
) -> Result<CreatedApiToken, ApiError> {
    api.post(&format!("/subscriptions/{sub}/api-tokens"), request)
        .await
}

pub async fn revoke_api_token(
    api: Api,
    sub: &SubscriptionId,
    id: &ApiTokenId,
) -> Result<(), ApiError> {
    api.delete(&format!("/subscriptions/{sub}/api-tokens/{id}"), None)
        .await
}
