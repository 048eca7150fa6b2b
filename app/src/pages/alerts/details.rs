//! `/s/{sub}/alerts/{id}`: one alert's details and triage, and the grid's pane
//! (`&alert={id}`) with the same facts and actions.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use shared::authz::Permission;
use shared::model::{Alert, AlertId, AlertStatus};

use super::StatusSelect;
use crate::api::{Versioned, alerts};
use crate::components::action::Guarded;
use crate::components::dialog::Pane;
use crate::components::live::refresh_while_visible;
use crate::components::load::Load;
use crate::components::states::{Denied, loaded};
use crate::components::toast::use_toasts;
use crate::logic::denial::{At, needs};
use crate::logic::format::{utc, words};
use crate::pages::names::{sensor_name, sensor_names};
use crate::routes;
use crate::tenant::use_tenant;
use crate::use_api;

fn alert_resource(id: Signal<Option<AlertId>>) -> Load<Versioned<Alert>> {
    crate::pages::load_by_id(id, "alert", |api, sub, id| async move {
        alerts::get(api, &sub, &id).await
    })
}

#[component]
pub fn AlertDetails() -> impl IntoView {
    let tenant = use_tenant();
    if let Some(reason) =
        tenant.with_untracked(|t| t.denial(needs(Permission::ViewAlerts), &At::AnySite))
    {
        return view! { <h1>"Alert"</h1><Denied reason /> }.into_any();
    }
    let params = use_params_map();
    let id = Signal::derive(move || {
        params.with(|p| p.get("id").and_then(|raw| AlertId::parse(raw).ok()))
    });
    let alert = alert_resource(id);
    refresh_while_visible(move || alert.refetch());
    view! {
        {move || loaded(alert.get(), "the alert", move || alert.refetch(), |found| view! {
            <h1>{found.value.title.to_string()}</h1>
            <AlertTriagePanel alert=found on_changed=Callback::new(move |()| alert.refetch()) />
        }.into_any())}
    }
    .into_any()
}

/// The grid's look at one alert, with the same actions as its page.
#[component]
pub fn AlertPane(
    id: AlertId,
    #[prop(into)] on_close: Callback<()>,
    #[prop(into)] on_changed: Callback<()>,
) -> impl IntoView {
    let tenant = use_tenant();
    let href = routes::alert(&tenant.with_untracked(|t| t.id.clone()), &id);
    let alert = alert_resource(Signal::derive(move || Some(id.clone())));
    let changed = Callback::new(move |()| {
        alert.refetch();
        on_changed.run(());
    });
    view! {
        <Pane title="Alert" on_close>
            {move || loaded(alert.get(), "the alert", move || alert.refetch(), |found| view! {
                <h3>{found.value.title.to_string()}</h3>
                <AlertTriagePanel alert=found on_changed=changed />
            }.into_any())}
            <a href=href.clone()>"Open alert details"</a>
        </Pane>
    }
}

/// An alert's facts, then Change status, Learn and Download PCAP, each offered as
/// `shared::authz` allows at the alert's site.
#[component]
fn AlertTriagePanel(alert: Versioned<Alert>, on_changed: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let names = sensor_names();
    let Versioned { value: alert, etag } = alert;
    let sub = tenant.with_untracked(|t| t.id.clone());
    let site = tenant.with_untracked(|t| t.site_name(&alert.site_id));
    let at = At::Site(alert.site_id.clone());
    let to = RwSignal::new(match alert.status {
        AlertStatus::Closed => AlertStatus::Active,
        AlertStatus::New | AlertStatus::Active => AlertStatus::Closed,
    });
    let stale = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let not_learnable = (!alert.learnable).then(|| {
        "Only learnable alerts can be learned: the sensor marked this one as not learnable"
            .to_owned()
    });
    let sensor = alert.sensor_id.clone();
    let id = alert.id.clone();

    let change_status = {
        let (sub, id) = (sub.clone(), id.clone());
        move || {
            let (sub, id, etag) = (sub.clone(), id.clone(), etag.clone());
            busy.set(true);
            leptos::task::spawn_local(async move {
                match alerts::set_status(api, &sub, &id, to.get_untracked(), etag.as_deref()).await
                {
                    Ok(changed) => {
                        toasts.info(format!("Status set to {}", words(changed.status.as_str())));
                        on_changed.run(());
                    }
                    Err(error) if error.is_stale() => stale.set(true),
                    Err(error) => toasts.error(format!("Could not change the status: {error}")),
                }
                busy.set(false);
            });
        }
    };
    let learn = {
        let (sub, id) = (sub.clone(), id.clone());
        move || {
            let (sub, id) = (sub.clone(), id.clone());
            leptos::task::spawn_local(async move {
                match alerts::learn(api, &sub, &id).await {
                    Ok(_) => {
                        toasts.info("Learned: identical traffic from this sensor raises no alert");
                        on_changed.run(());
                    }
                    Err(error) => toasts.error(format!("Could not learn the alert: {error}")),
                }
            });
        }
    };
    let pcap = move || {
        let (sub, id) = (sub.clone(), id.clone());
        leptos::task::spawn_local(async move {
            if let Err(error) = alerts::download_pcap(api, &sub, &id).await {
                toasts.error(format!("Download failed: {error}"));
            }
        });
    };
    let working = Signal::derive(move || busy.get().then(|| "Changing the status…".to_owned()));

    view! {
        <dl class="facts">
            <dt>"Severity"</dt><dd><span class=format!("severity sev-{}", alert.severity.as_str())>{words(alert.severity.as_str())}</span></dd>
            <dt>"Status"</dt><dd id="alert-status-now">{words(alert.status.as_str())}</dd>
            <dt>"Site"</dt><dd>{site}</dd>
            <dt>"Sensor"</dt><dd>{move || names.with(|n| sensor_name(n, &sensor))}</dd>
            <dt>"Engine"</dt><dd>{words(alert.engine.as_str())}</dd>
            <dt>"Source"</dt><dd>{alert.source_ip.to_string()}</dd>
            <dt>"Destination"</dt><dd>{alert.destination_ip.to_string()}</dd>
            <dt>"Protocol"</dt><dd>{alert.protocol.to_string()}</dd>
            <dt>"Learnable"</dt><dd>{if alert.learnable { "Yes" } else { "No" }}</dd>
            <dt>"First detected"</dt><dd>{utc(alert.first_detected)}</dd>
            <dt>"Last detected"</dt><dd>{utc(alert.last_detected)}</dd>
        </dl>
        {move || stale.get().then(|| view! {
            <div class="state error" role="alert" id="stale-alert">
                <p>"This alert changed elsewhere since it was opened: reload it to see its status now."</p>
                <button type="button" on:click=move |_| on_changed.run(())>"Reload"</button>
            </div>
        })}
        <div class="toolbar" role="toolbar" aria-label="Triage">
            <StatusSelect id="alert-status" label="New status" status=to />
            <Guarded label="Change status" needs=needs(Permission::ModifyAlerts) at=at.clone() blocked=working on_click=move |_| change_status() />
            <Guarded label="Learn" needs=needs(Permission::ModifyAlerts) at=at.clone() blocked=Signal::derive(move || not_learnable.clone()) on_click=move |_| learn() />
            <Guarded label="Download PCAP" needs=needs(Permission::ModifyAlerts) at=at on_click=move |_| pcap() />
        </div>
    }
}
