//! Sensors: the list, one sensor, and the actions on them.

use serde::de::IgnoredAny;
use shared::api::{
    ActivationFile, ConsoleRecoveryCode, CreateSensor, OnboardedSensor, Page, PushTiUpdate,
    RecoverConsolePassword, RequestSoftwareUpdate, Sensor, SensorHealthSummary, TiUpdatePushed,
    UpdateSensor,
};
use shared::model::{SensorId, SensorSettings, SubscriptionId};

use super::{Api, ApiError, Versioned};
use crate::logic::query::QueryPairs;

/// One page of the list; `filters` is [`crate::logic::query::SensorQuery::api_query`].
pub async fn page(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<Sensor>, ApiError> {
    api.page(
        &format!("/subscriptions/{sub}/sensors{}", filters.to_search()),
        limit,
        cursor,
    )
    .await
}

/// Every sensor matching the filters, for bulk actions over "all that match".
pub async fn all(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
) -> Result<Vec<Sensor>, ApiError> {
    api.get_all(&format!(
        "/subscriptions/{sub}/sensors{}",
        filters.to_search()
    ))
    .await
}

pub async fn get(
    api: Api,
    sub: &SubscriptionId,
    id: &SensorId,
) -> Result<Versioned<Sensor>, ApiError> {
    api.get_versioned(&format!("/subscriptions/{sub}/sensors/{id}"))
        .await
}

pub async fn health_summary(
    api: Api,
    sub: &SubscriptionId,
) -> Result<SensorHealthSummary, ApiError> {
    api.get(&format!("/subscriptions/{sub}/sensors/health-summary"))
        .await
}

pub async fn onboard(
    api: Api,
    sub: &SubscriptionId,
    request: &CreateSensor,
) -> Result<OnboardedSensor, ApiError> {
    api.post(&format!("/subscriptions/{sub}/sensors"), request)
        .await
}

pub async fn update(
    api: Api,
    sub: &SubscriptionId,
    id: &SensorId,
    request: &UpdateSensor,
) -> Result<Sensor, ApiError> {
    api.patch(&format!("/subscriptions/{sub}/sensors/{id}"), request, None)
        .await
}

pub async fn delete(api: Api, sub: &SubscriptionId, id: &SensorId) -> Result<(), ApiError> {
    api.delete(&format!("/subscriptions/{sub}/sensors/{id}"), None)
        .await
}

/// Why a sensor gets a new activation file (which revokes its current one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewActivation {
    Reactivate,
    /// A legacy OT sensor about to be updated to 22.x.
    PrepareLegacyUpdate,
}

pub async fn new_activation(
    api: Api,
    sub: &SubscriptionId,
    id: &SensorId,
    why: NewActivation,
) -> Result<ActivationFile, ApiError> {
    let action = match why {
        NewActivation::Reactivate => "reactivate",
        NewActivation::PrepareLegacyUpdate => "prepare-update",
    };
    api.post(&format!("/subscriptions/{sub}/sensors/{id}/{action}"), &())
        .await
}

pub async fn download_activation_file(
    api: Api,
    sub: &SubscriptionId,
    id: &SensorId,
    sensor_name: &str,
) -> Result<(), ApiError> {
    api.download(
        &format!("/subscriptions/{sub}/sensors/{id}/activation-file"),
        &format!("{}-activation.json", file_stem(sensor_name)),
    )
    .await
}

pub async fn push_ti_update(
    api: Api,
    sub: &SubscriptionId,
    request: &PushTiUpdate,
) -> Result<TiUpdatePushed, ApiError> {
    api.post(&format!("/subscriptions/{sub}/sensors/ti-update"), request)
        .await
}

pub async fn request_software_update(
    api: Api,
    sub: &SubscriptionId,
    id: &SensorId,
    request: &RequestSoftwareUpdate,
) -> Result<(), ApiError> {
    api.post::<_, IgnoredAny>(
        &format!("/subscriptions/{sub}/sensors/{id}/software-update"),
        request,
    )
    .await
    .map(|_| ())
}

pub async fn define_settings(
    api: Api,
    sub: &SubscriptionId,
    id: &SensorId,
    settings: &SensorSettings,
) -> Result<(), ApiError> {
    api.put::<_, IgnoredAny>(
        &format!("/subscriptions/{sub}/sensors/{id}/settings"),
        settings,
        None,
    )
    .await
    .map(|_| ())
}

pub async fn send_diagnostics(
    api: Api,
    sub: &SubscriptionId,
    id: &SensorId,
    archive: web_sys::File,
) -> Result<(), ApiError> {
    api.put_file::<IgnoredAny>(
        &format!("/subscriptions/{sub}/sensors/{id}/diagnostics"),
        archive,
    )
    .await
    .map(|_| ())
}

pub async fn download_diagnostics(
    api: Api,
    sub: &SubscriptionId,
    id: &SensorId,
    sensor_name: &str,
) -> Result<(), ApiError> {
    api.download(
        &format!("/subscriptions/{sub}/sensors/{id}/diagnostics"),
        &format!("{}-diagnostics.bin", file_stem(sensor_name)),
    )
    .await
}

pub async fn export_csv(api: Api, sub: &SubscriptionId) -> Result<(), ApiError> {
    api.download(
        &format!("/subscriptions/{sub}/sensors/export.csv"),
        "sensors.csv",
    )
    .await
}

pub async fn download_endpoint_details(api: Api, sub: &SubscriptionId) -> Result<(), ApiError> {
    api.download(
        &format!("/subscriptions/{sub}/sensors/endpoint-details"),
        "sensor-endpoints.json",
    )
    .await
}

/// The command that activates an Enterprise IoT sensor.
pub async fn activation_command(
    api: Api,
    sub: &SubscriptionId,
    id: &SensorId,
) -> Result<String, ApiError> {
    api.get::<shared::api::ActivationCommand>(&format!(
        "/subscriptions/{sub}/sensors/{id}/activation-command"
    ))
    .await
    .map(|answer| answer.command)
}

pub async fn download_snmp_mib(api: Api, sub: &SubscriptionId) -> Result<(), ApiError> {
    api.download(
        &format!("/subscriptions/{sub}/sensors/snmp-mib"),
        "VIGIL-SENSOR-MIB.txt",
    )
    .await
}

pub async fn recover_console_password(
    api: Api,
    sub: &SubscriptionId,
    request: &RecoverConsolePassword,
) -> Result<ConsoleRecoveryCode, ApiError> {
    api.post(
        &format!("/subscriptions/{sub}/console-password-recovery"),
        request,
    )
    .await
}

/// A file name from a display name: letters and digits, the rest as '-'.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
