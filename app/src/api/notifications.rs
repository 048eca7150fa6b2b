//! Notifications: webhook endpoints, notification rules, the delivery log.

use shared::api::{
    CreateNotificationRule, CreateWebhookEndpoint, CreatedWebhookEndpoint, Delivery,
    NotificationRule, Page, WebhookEndpoint,
};
use shared::model::{NotificationRuleId, SubscriptionId, WebhookEndpointId};

use super::{Api, ApiError};

pub async fn endpoints(api: Api, sub: &SubscriptionId) -> Result<Vec<WebhookEndpoint>, ApiError> {
    api.get_all(&format!("/subscriptions/{sub}/webhook-endpoints"))
        .await
}

/// A new endpoint, with its signing secret: the only time it is ever shown.
pub async fn create_endpoint(
    api: Api,
    sub: &SubscriptionId,
    request: &CreateWebhookEndpoint,
) -> Result<CreatedWebhookEndpoint, ApiError> {
    api.post(&format!("/subscriptions/{sub}/webhook-endpoints"), request)
        .await
}

pub async fn delete_endpoint(
    api: Api,
    sub: &SubscriptionId,
    id: &WebhookEndpointId,
) -> Result<(), ApiError> {
    api.delete(
        &format!("/subscriptions/{sub}/webhook-endpoints/{id}"),
        None,
    )
    .await
}

/// Queues a `test` event for the endpoint.
pub async fn send_test(
    api: Api,
    sub: &SubscriptionId,
    id: &WebhookEndpointId,
) -> Result<Delivery, ApiError> {
    api.post(
        &format!("/subscriptions/{sub}/webhook-endpoints/{id}/test"),
        &(),
    )
    .await
}

pub async fn rules(api: Api, sub: &SubscriptionId) -> Result<Vec<NotificationRule>, ApiError> {
    api.get_all(&format!("/subscriptions/{sub}/notification-rules"))
        .await
}

pub async fn create_rule(
    api: Api,
    sub: &SubscriptionId,
    request: &CreateNotificationRule,
) -> Result<NotificationRule, ApiError> {
    api.post(&format!("/subscriptions/{sub}/notification-rules"), request)
        .await
}

pub async fn delete_rule(
    api: Api,
    sub: &SubscriptionId,
    id: &NotificationRuleId,
) -> Result<(), ApiError> {
    api.delete(
        &format!("/subscriptions/{sub}/notification-rules/{id}"),
        None,
    )
    .await
}

/// The newest deliveries.
pub async fn deliveries(
    api: Api,
    sub: &SubscriptionId,
    limit: u32,
) -> Result<Page<Delivery>, ApiError> {
    api.page(
        &format!("/subscriptions/{sub}/webhook-deliveries"),
        limit,
        None,
    )
    .await
}
