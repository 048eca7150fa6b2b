//! Users and roles: role assignments, custom roles, device groups.

use shared::api::{CreateDeviceGroup, CreateRole, CreateRoleAssignment, Role};
use shared::authz::RoleAssignment;
use shared::model::{AssignmentId, DeviceGroup, DeviceGroupId, RoleId, SiteId, SubscriptionId};

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
