//! `/s/{sub}/alerts/{id}`: one alert's details and triage, and the grid's pane
//! (`&alert={id}`) with the same facts and actions.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use shared::authz::{Permission, PrincipalRef};
use shared::model::{Alert, AlertId, AlertStatus, CloseReasons, CommentText};

use super::rules::RuleDialog;
use super::{ReasonSelect, StatusSelect, chosen_reason, close_reasons_of};
use crate::api::{Versioned, alerts};
use crate::components::action::Guarded;
use crate::components::dialog::Pane;
use crate::components::live::refresh_while_visible;
use crate::components::load::Load;
use crate::components::states::{Denied, loaded};
use crate::components::toast::use_toasts;
use crate::logic::denial::{At, needs};
use crate::logic::format::{utc, words};
use crate::logic::rules::RuleDraft;
use crate::logic::timeline::{actor_name, describe, principal_name, reason_label};
use crate::pages::names::{sensor_name, sensor_names};
use crate::routes;
use crate::tenant::use_tenant;
use crate::{MeResource, use_api};

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
    let reasons = close_reasons_of(api, sub.clone());
    let reason = RwSignal::new(String::new());

    let change_status = {
        let (sub, id) = (sub.clone(), id.clone());
        move || {
            let (sub, id, etag) = (sub.clone(), id.clone(), etag.clone());
            let to = to.get_untracked();
            let reason = chosen_reason(to, reason, reasons);
            busy.set(true);
            leptos::task::spawn_local(async move {
                match alerts::set_status(api, &sub, &id, to, reason, etag.as_deref()).await {
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
    let closing = Signal::derive(move || to.get() == AlertStatus::Closed);
    let making_rule = RwSignal::new(false);
    let for_rule = alert.clone();
    let close_reason = alert
        .close_reason
        .clone()
        .map(|id| move || reasons.with(|r| reason_label(r.as_ref(), &id)));

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
            <dt>"Detections"</dt><dd>{alert.detections}</dd>
            <dt>"Assignee"</dt><dd id="alert-assignee">{principal_name(alert.assignee.as_ref())}</dd>
            {close_reason.map(|label| view! { <dt>"Close reason"</dt><dd id="alert-close-reason">{label}</dd> })}
        </dl>
        {move || stale.get().then(|| view! {
            <div class="state error" role="alert" id="stale-alert">
                <p>"This alert changed elsewhere since it was opened: reload it to see its status now."</p>
                <button type="button" on:click=move |_| on_changed.run(())>"Reload"</button>
            </div>
        })}
        <div class="toolbar" role="toolbar" aria-label="Triage">
            <StatusSelect id="alert-status" label="New status" status=to />
            {move || closing.get().then(|| view! { <ReasonSelect id="close-reason" reasons chosen=reason /> })}
            <Guarded label="Change status" needs=needs(Permission::ModifyAlerts) at=at.clone() blocked=working on_click=move |_| change_status() />
            <Guarded label="Learn" needs=needs(Permission::ModifyAlerts) at=at.clone() blocked=Signal::derive(move || not_learnable.clone()) on_click=move |_| learn() />
            <Guarded label="Download PCAP" needs=needs(Permission::ModifyAlerts) at=at.clone() on_click=move |_| pcap() />
            <Guarded label="Create suppression rule" needs=needs(Permission::ModifyAlerts) at=at.clone() on_click=move |_| making_rule.set(true) />
        </div>
        {move || making_rule.get().then(|| view! {
            <RuleDialog draft=RuleDraft::from_alert(&for_rule) on_close=move |_| making_rule.set(false) on_created=on_changed />
        })}
        <Assignee alert=alert.clone() at=at.clone() on_changed />
        <Timeline alert reasons at on_changed />
    }
}

/// Who handles the alert: take it, hand it to someone who may view it, or release it.
#[component]
fn Assignee(alert: Alert, at: At, on_changed: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let me = expect_context::<MeResource>().0;
    let sub = tenant.with_untracked(|t| t.id.clone());
    let current = alert.assignee.clone();
    let other = RwSignal::new(String::new());
    let assign = move |to: Option<PrincipalRef>| {
        let (sub, id) = (sub.clone(), alert.id.clone());
        leptos::task::spawn_local(async move {
            let name = principal_name(to.as_ref());
            match alerts::assign(api, &sub, &id, to).await {
                Ok(_) => {
                    toasts.info(format!("Assigned to {name}"));
                    on_changed.run(());
                }
                Err(error) => toasts.error(format!("Could not assign the alert: {error}")),
            }
        });
    };
    let mine = move || {
        me.get()
            .and_then(Result::ok)
            .map(|me| PrincipalRef::User(me.email))
    };
    let already_mine = {
        let current = current.clone();
        Signal::derive(move || {
            (mine().is_some() && mine() == current).then(|| "It is assigned to you".to_owned())
        })
    };
    let nobody = Signal::derive(move || current.is_none().then(|| "Nobody has it".to_owned()));
    let not_a_principal = Signal::derive(move || {
        PrincipalRef::parse(other.get().trim())
            .is_err()
            .then(|| "Enter an email address or group:<group id>".to_owned())
    });
    let (take, give, release) = (assign.clone(), assign.clone(), assign);
    view! {
        <div class="toolbar" role="toolbar" aria-label="Assignee">
            <Guarded label="Assign to me" needs=needs(Permission::ModifyAlerts) at=at.clone() blocked=already_mine on_click=move |_| take(mine()) />
            <label class="filter" for="assign-to"><span>"Assign to"</span>
                <input id="assign-to" type="text" placeholder="email or group:<id>" prop:value=move || other.get() on:input=move |e| other.set(event_target_value(&e)) />
            </label>
            <Guarded label="Assign" needs=needs(Permission::ModifyAlerts) at=at.clone() blocked=not_a_principal on_click=move |_| give(PrincipalRef::parse(other.get_untracked().trim()).ok()) />
            <Guarded label="Unassign" needs=needs(Permission::ModifyAlerts) at=at blocked=nobody on_click=move |_| release(None) />
        </div>
    }
}

/// The alert's history, oldest first — its detection, then every change with who made
/// it and when — and a box to comment.
#[component]
fn Timeline(
    alert: Alert,
    reasons: RwSignal<Option<CloseReasons>>,
    at: At,
    on_changed: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let id = alert.id.clone();
    let events = {
        let (sub, id) = (sub.clone(), id.clone());
        Load::new(move || {
            let (sub, id) = (sub.clone(), id.clone());
            async move { alerts::timeline(api, &sub, &id).await }
        })
    };
    let text = RwSignal::new(String::new());
    let empty = Signal::derive(move || {
        CommentText::parse(&text.get())
            .err()
            .map(|_| "Write a comment first (up to 2000 characters)".to_owned())
    });
    let add = move || {
        let Ok(comment) = CommentText::parse(&text.get_untracked()) else {
            return;
        };
        let (sub, id) = (sub.clone(), id.clone());
        leptos::task::spawn_local(async move {
            match alerts::comment(api, &sub, &id, comment).await {
                Ok(_) => {
                    text.set(String::new());
                    on_changed.run(());
                }
                Err(error) => toasts.error(format!("Could not add the comment: {error}")),
            }
        });
    };
    let detected = format!(
        "Detected {} · {} detection{} · last {}",
        utc(alert.first_detected),
        alert.detections,
        if alert.detections == 1 { "" } else { "s" },
        utc(alert.last_detected)
    );
    view! {
        <section class="timeline" aria-label="Timeline">
            <h2>"Timeline"</h2>
            <ol id="alert-timeline">
                <li class="event">{detected}</li>
                {move || loaded(events.get(), "the timeline", move || events.refetch(), move |found| {
                    found.into_iter().map(|event| {
                        let said = reasons.with(|r| describe(&event, r.as_ref()));
                        let comment = match &event.change {
                            shared::api::AlertChange::Comment { text } => Some(text.as_str().to_owned()),
                            _ => None,
                        };
                        view! {
                            <li class="event" data-kind=event_kind(&event)>
                                <strong>{actor_name(&event.actor)}</strong>" "{said}
                                <span class="hint">{format!(" · {}", utc(event.at))}</span>
                                {comment.map(|c| view! { <p class="comment">{c}</p> })}
                            </li>
                        }
                    }).collect_view().into_any()
                })}
            </ol>
            <label for="comment-text">"Comment"</label>
            <textarea id="comment-text" rows="3" maxlength="2000" prop:value=move || text.get() on:input=move |e| text.set(event_target_value(&e))></textarea>
            <div class="toolbar">
                <Guarded label="Add comment" needs=needs(Permission::ModifyAlerts) at blocked=empty on_click=move |_| add() />
            </div>
        </section>
    }
}

fn event_kind(event: &shared::api::AlertEvent) -> &'static str {
    match event.change {
        shared::api::AlertChange::Status { .. } => "status",
        shared::api::AlertChange::Learned => "learned",
        shared::api::AlertChange::Assigned { .. } => "assigned",
        shared::api::AlertChange::Comment { .. } => "comment",
    }
}
