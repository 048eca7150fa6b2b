//! `/s/{sub}/sensors/{id}`: a sensor's details (`?tab=overview|health|actions`), and
//! the quick pane of the grid (`&pane=sensor:{id}`).

use leptos::prelude::*;

use crate::components::load::Load;
use leptos_router::hooks::{use_navigate, use_params_map};
use shared::api::Sensor;
use shared::authz::Permission;
use shared::model::SensorId;

use super::{SensorActions, now, type_name};
use crate::api::sensors;
use crate::components::dialog::Pane;
use crate::components::filter_bar::use_query_pairs;
use crate::components::live::refresh_while_visible;
use crate::components::states::{Denied, Failed, Loading};
use crate::components::tabs::Tabs;
use crate::logic::denial::{At, needs};
use crate::logic::diagnostics::archive_summary;
use crate::logic::format::{ago, utc, words};
use crate::logic::sensor_settings::settings_status;
use crate::routes::{self, Page};
use crate::tenant::use_tenant;

fn sensor_resource(id: Signal<Option<SensorId>>) -> Load<Sensor> {
    crate::pages::load_by_id(id, "sensor", |api, sub, id| async move {
        sensors::get(api, &sub, &id).await.map(|v| v.value)
    })
}

#[component]
pub fn SensorDetails() -> impl IntoView {
    let tenant = use_tenant();
    if let Some(reason) = tenant
        .with_untracked(|t| t.denial(needs(Permission::ViewSitesAndSensors), &At::Subscription))
    {
        return view! { <Denied reason /> }.into_any();
    }
    let params = use_params_map();
    let id = Signal::derive(move || {
        params.with(|p| p.get("id").and_then(|raw| SensorId::parse(&raw).ok()))
    });
    let sensor = sensor_resource(id);
    refresh_while_visible(move || sensor.refetch());
    let pairs = use_query_pairs();
    let tab = Signal::derive(move || pairs.with(|q| q.get("tab").unwrap_or("overview").to_owned()));
    let navigate = use_navigate();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let deleted = Callback::new(move |()| navigate(&Page::Sites.href(&sub), Default::default()));
    view! {
        {move || match sensor.get() {
            None => view! { <Loading what="the sensor" /> }.into_any(),
            Some(Err(error)) => view! { <Failed what="the sensor" error retry=move |_| sensor.refetch() /> }.into_any(),
            Some(Ok(s)) => view! {
                <h1>{s.name.to_string()}</h1>
                <Tabs tabs=vec![("overview", "Overview"), ("health", "Health"), ("actions", "Actions")] current=tab />
                {move || match tab.get().as_str() {
                    "health" => view! { <HealthFindings sensor=s.clone() /> }.into_any(),
                    "actions" => view! { <SensorActions sensor=s.clone() in_menu=false on_changed=move |_| sensor.refetch() on_deleted=deleted /> }.into_any(),
                    _ => view! { <Facts sensor=s.clone() /> }.into_any(),
                }}
            }
                .into_any(),
        }}
    }
    .into_any()
}

#[component]
fn Facts(sensor: Sensor) -> impl IntoView {
    let tenant = use_tenant();
    let site = tenant.with_untracked(|t| t.site_name(&sensor.site_id));
    let last = sensor
        .last_connected
        .map(|at| format!("{} ({})", utc(at), ago(at, now())))
        .unwrap_or_else(|| "Never".into());
    view! {
        <dl class="facts">
            <dt>"Sensor type"</dt><dd>{type_name(sensor.sensor_type)}</dd>
            <dt>"Site"</dt><dd>{site}</dd>
            <dt>"Sensor version"</dt><dd>{sensor.version.as_ref().map(ToString::to_string).unwrap_or_else(|| "Unknown".into())}</dd>
            <dt>"Sensor health"</dt><dd><span class=format!("health h-{}", sensor.health.as_str())>{words(sensor.health.as_str())}</span></dd>
            <dt>"Last connected (UTC)"</dt><dd>{last}</dd>
            <dt>"Threat Intelligence version"</dt><dd>{sensor.ti_version.as_ref().map(ToString::to_string).unwrap_or_default()}</dd>
            <dt>"Threat Intelligence mode"</dt><dd>{sensor.ti_mode.map(|m| words(m.as_str())).unwrap_or_default()}</dd>
            <dt>"Threat Intelligence update status"</dt><dd>{sensor.ti_update_status.map(|s| words(s.as_str())).unwrap_or_default()}</dd>
            <dt>"Sensor settings"</dt><dd class="settings-status">{settings_status(&sensor)}</dd>
            <dt>"Diagnostics"</dt><dd class="diagnostics">{archive_summary(sensor.diagnostics.as_ref())}</dd>
        </dl>
    }
}

/// The health messages behind the sensor's health, each with what to do.
#[component]
fn HealthFindings(sensor: Sensor) -> impl IntoView {
    if sensor.health_findings.is_empty() {
        return view! { <p class="state empty">"No health issues: the sensor reports healthy."</p> }.into_any();
    }
    view! {
        <table class="grid" aria-label="Health messages">
            <thead><tr><th scope="col">"Message"</th><th scope="col">"Recommended action"</th></tr></thead>
            <tbody>
                {sensor.health_findings.into_iter().map(|finding| view! {
                    <tr><td>{finding.message()}</td><td>{finding.recommended_action()}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// The grid's quick look at one sensor.
#[component]
pub fn SensorPane(id: SensorId, #[prop(into)] on_close: Callback<()>) -> impl IntoView {
    let tenant = use_tenant();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let href = routes::sensor(&sub, &id);
    let sensor = sensor_resource(Signal::derive(move || Some(id.clone())));
    view! {
        <Pane title="Sensor" on_close>
            {move || match sensor.get() {
                None => view! { <Loading what="the sensor" /> }.into_any(),
                Some(Err(error)) => view! { <Failed what="the sensor" error retry=move |_| sensor.refetch() /> }.into_any(),
                Some(Ok(s)) => view! { <h3>{s.name.to_string()}</h3><Facts sensor=s.clone() /><HealthFindings sensor=s /> }.into_any(),
            }}
            <a href=href.clone()>"Open sensor details"</a>
        </Pane>
    }
}
