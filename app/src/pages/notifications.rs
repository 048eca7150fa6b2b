//! `/s/{sub}/notifications`: webhook endpoints (the signing secret shown once, "Send
//! test event"), the rules that route events to them, and the delivery log.

use leptos::prelude::*;
use shared::api::{Delivery, DeliveryStatus, NotificationRule, WebhookEndpoint};
use shared::authz::Permission;
use shared::model::{Engine, EventKind, Severity, SiteId, WebhookEndpointId};

use crate::api::notifications;
use crate::components::action::Guarded;
use crate::components::live::refresh_while_visible;
use crate::components::load::Load;
use crate::components::secret::ShownOnce;
use crate::components::states::{Denied, Empty, loaded};
use crate::components::toast::{Toasts, use_toasts};
use crate::logic::denial::{At, needs};
use crate::logic::format::{utc, words};
use crate::logic::notifications::{EndpointForm, RuleForm, describe, event_label};
use crate::tenant::use_tenant;
use crate::use_api;

/// Most deliveries the log shows.
const LOG_ROWS: u32 = 50;

#[component]
pub fn Notifications() -> impl IntoView {
    let tenant = use_tenant();
    match tenant
        .with_untracked(|t| t.denial(needs(Permission::GrantPermissions), &At::Subscription))
    {
        Some(reason) => view! { <h1>"Notifications"</h1><Denied reason /> }.into_any(),
        None => view! { <NotificationSettings /> }.into_any(),
    }
}

#[component]
fn NotificationSettings() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let sub = move || tenant.with(|t| t.id.clone());
    let endpoints = Load::new(move || {
        let sub = sub();
        async move { notifications::endpoints(api, &sub).await }
    });
    let rules = Load::new(move || {
        let sub = sub();
        async move { notifications::rules(api, &sub).await }
    });
    let log = Load::new(move || {
        let sub = sub();
        async move { notifications::deliveries(api, &sub, LOG_ROWS).await }
    });
    refresh_while_visible(move || log.refetch());
    let secret = RwSignal::new(None::<String>);
    let changed = Callback::new(move |()| {
        endpoints.refetch();
        rules.refetch();
        log.refetch();
    });
    view! {
        <h1>"Notifications"</h1>
        <p class="hint">"Events leave Vigil as signed webhooks (Vigil-Signature: HMAC-SHA256 of the timestamp and body), retried with back-off for 24 hours, each endpoint's in order."</p>
        <section class="card" aria-label="Webhook endpoints">
            <h2>"Webhook endpoints"</h2>
            <ShownOnce secret label="New endpoint signing secret" usage="Receivers verify Vigil-Signature with it." />
            {move || loaded(endpoints.get(), "the webhook endpoints", move || endpoints.refetch(), |list| view! {
                <Endpoints list changed />
                <NewEndpoint secret changed />
            }.into_any())}
        </section>
        <section class="card" aria-label="Notification rules">
            <h2>"Notification rules"</h2>
            {move || loaded(rules.get(), "the notification rules", move || rules.refetch(), |list| {
                let endpoints = endpoints.get().and_then(Result::ok).unwrap_or_default();
                view! {
                    <Rules list endpoints=endpoints.clone() changed />
                    <NewRule endpoints changed />
                }.into_any()
            })}
        </section>
        <section class="card" aria-label="Delivery log">
            <h2>"Delivery log"</h2>
            <button type="button" on:click=move |_| log.refetch()>"Refresh"</button>
            {move || loaded(log.get(), "the delivery log", move || log.refetch(), |page| {
                let endpoints = endpoints.get().and_then(Result::ok).unwrap_or_default();
                view! { <DeliveryLog list=page.items endpoints /> }.into_any()
            })}
        </section>
    }
}

const GRANT: At = At::Subscription;

fn grant() -> shared::authz::PermissionSet {
    needs(Permission::GrantPermissions)
}

/// Runs a change, then reloads the page's data; a refusal is a toast.
fn act<T: 'static>(
    request: impl std::future::Future<Output = Result<T, crate::api::ApiError>> + 'static,
    done: &'static str,
    changed: Callback<()>,
    toasts: Toasts,
) {
    leptos::task::spawn_local(async move {
        match request.await {
            Ok(_) => {
                toasts.info(done);
                changed.run(());
            }
            Err(e) => toasts.error(format!("{done} failed: {e}")),
        }
    });
}

#[component]
fn Endpoints(list: Vec<WebhookEndpoint>, changed: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    if list.is_empty() {
        return view! { <Empty message="No webhook endpoints yet" /> }.into_any();
    }
    let rows = list
        .into_iter()
        .map(|endpoint| {
            let (test_id, delete_id) = (endpoint.id.clone(), endpoint.id.clone());
            let test = move || {
                let (sub, id) = (tenant.with_untracked(|t| t.id.clone()), test_id.clone());
                act(async move { notifications::send_test(api, &sub, &id).await }, "Test event queued", changed, toasts);
            };
            let delete = move || {
                let (sub, id) = (tenant.with_untracked(|t| t.id.clone()), delete_id.clone());
                act(async move { notifications::delete_endpoint(api, &sub, &id).await }, "Endpoint deleted", changed, toasts);
            };
            view! {
                <tr class="endpoint" data-endpoint=endpoint.id.to_string()>
                    <td>{endpoint.name.to_string()}</td>
                    <td><code>{endpoint.url.to_string()}</code></td>
                    <td>{endpoint.created_by.to_string()}</td>
                    <td class="row-actions">
                        <Guarded label="Send test event" needs=grant() at=GRANT on_click=move |_| test() />
                        <Guarded label="Delete" class="danger" needs=grant() at=GRANT on_click=move |_| delete() />
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="grid" id="webhook-endpoints">
            <thead><tr><th scope="col">"Name"</th><th scope="col">"URL"</th><th scope="col">"Created by"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn NewEndpoint(secret: RwSignal<Option<String>>, changed: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let name = RwSignal::new(String::new());
    let url = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let add = move || {
        let form = EndpointForm {
            name: name.get_untracked(),
            url: url.get_untracked(),
        };
        let request = match form.request() {
            Ok(request) => request,
            Err(e) => return error.set(Some(e)),
        };
        error.set(None);
        let sub = tenant.with_untracked(|t| t.id.clone());
        leptos::task::spawn_local(async move {
            match notifications::create_endpoint(api, &sub, &request).await {
                Ok(created) => {
                    secret.set(Some(created.secret));
                    changed.run(());
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <form class="form inline" aria-label="New webhook endpoint" on:submit=|e| e.prevent_default()>
            <label for="endpoint-name">"Endpoint name"</label>
            <input id="endpoint-name" type="text" prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e)) />
            <label for="endpoint-url">"URL"</label>
            <input id="endpoint-url" type="url" placeholder="https://" prop:value=move || url.get() on:input=move |e| url.set(event_target_value(&e)) />
            <Guarded label="Add endpoint" needs=grant() at=GRANT on_click=move |_| add() />
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}

fn endpoint_name(endpoints: &[WebhookEndpoint], id: &WebhookEndpointId) -> String {
    endpoints
        .iter()
        .find(|e| e.id == *id)
        .map_or_else(|| id.to_string(), |e| e.name.to_string())
}

#[component]
fn Rules(
    list: Vec<NotificationRule>,
    endpoints: Vec<WebhookEndpoint>,
    changed: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    if list.is_empty() {
        return view! { <Empty message="No notification rules yet" /> }.into_any();
    }
    let rows = list
        .into_iter()
        .map(|rule| {
            let id = rule.id.clone();
            let delete = move || {
                let (sub, id) = (tenant.with_untracked(|t| t.id.clone()), id.clone());
                act(async move { notifications::delete_rule(api, &sub, &id).await }, "Rule deleted", changed, toasts);
            };
            let what = tenant.with_untracked(|t| describe(&rule, &|s| t.site_name(s)));
            view! {
                <tr class="rule">
                    <td>{rule.name.to_string()}</td>
                    <td>{what}</td>
                    <td>{endpoint_name(&endpoints, &rule.endpoint_id)}</td>
                    <td class="row-actions">
                        <Guarded label="Delete" class="danger" needs=grant() at=GRANT on_click=move |_| delete() />
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="grid" id="notification-rules">
            <thead><tr><th scope="col">"Name"</th><th scope="col">"Sends"</th><th scope="col">"To"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn NewRule(endpoints: Vec<WebhookEndpoint>, changed: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let form = RwSignal::new(RuleForm {
        endpoint: endpoints.first().map(|e| e.id.clone()),
        events: [EventKind::AlertCreated].into(),
        escalate_after: "30".to_owned(),
        ..RuleForm::default()
    });
    let error = RwSignal::new(None::<String>);
    let sites = tenant.with_untracked(|t| t.sites.clone());
    let site_ids = StoredValue::new(sites.iter().map(|s| s.id.clone()).collect::<Vec<SiteId>>());
    let endpoint_ids = StoredValue::new(endpoints.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    let add = move || {
        let request = match form.with_untracked(RuleForm::request) {
            Ok(request) => request,
            Err(e) => return error.set(Some(e)),
        };
        error.set(None);
        let sub = tenant.with_untracked(|t| t.id.clone());
        leptos::task::spawn_local(async move {
            match notifications::create_rule(api, &sub, &request).await {
                Ok(_) => changed.run(()),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let severities = [
        ("", "Any severity", None),
        ("critical", "Critical only", Some(Severity::Critical)),
        ("major", "Major and more severe", Some(Severity::Major)),
        ("minor", "Minor and more severe", Some(Severity::Minor)),
    ];
    view! {
        <form class="form" aria-label="New notification rule" on:submit=|e| e.prevent_default()>
            <label for="rule-name">"Rule name"</label>
            <input id="rule-name" type="text" prop:value=move || form.with(|f| f.name.clone()) on:input=move |e| form.update(|f| f.name = event_target_value(&e)) />
            <label for="rule-endpoint">"Endpoint"</label>
            <select id="rule-endpoint" on:change=move |e| {
                let chosen = event_target_value(&e);
                form.update(|f| f.endpoint = endpoint_ids.with_value(|ids| ids.iter().find(|id| id.as_str() == chosen).cloned()));
            }>
                {endpoints.iter().map(|e| {
                    let id = e.id.clone();
                    view! { <option value=e.id.to_string() selected=move || form.with(|f| f.endpoint.as_ref() == Some(&id))>{e.name.to_string()}</option> }
                }).collect_view()}
            </select>
            <fieldset class="checklist">
                <legend>"Events"</legend>
                {EventKind::ROUTABLE.into_iter().map(|kind| view! {
                    <label class="check">
                        <input
                            type="checkbox"
                            data-event=kind.as_str()
                            prop:checked=move || form.with(|f| f.events.contains(&kind))
                            on:change=move |e| form.update(|f| {
                                if event_target_checked(&e) { f.events.insert(kind); } else { f.events.remove(&kind); }
                            })
                        />
                        {event_label(kind)}
                    </label>
                }).collect_view()}
            </fieldset>
            {move || form.with(|f| f.events.contains(&EventKind::AlertUnacknowledged)).then(|| view! {
                <label for="rule-escalate">"Escalate after (minutes)"</label>
                <input id="rule-escalate" type="number" min="1" max="10080" prop:value=move || form.with(|f| f.escalate_after.clone()) on:input=move |e| form.update(|f| f.escalate_after = event_target_value(&e)) />
            })}
            <label for="rule-site">"Site"</label>
            <select id="rule-site" on:change=move |e| {
                let chosen = event_target_value(&e);
                form.update(|f| f.site = site_ids.with_value(|ids| ids.iter().find(|id| id.as_str() == chosen).cloned()));
            }>
                <option value="" selected=move || form.with(|f| f.site.is_none())>"Every site"</option>
                {sites.into_iter().map(|s| {
                    let id = s.id.clone();
                    view! { <option value=s.id.to_string() selected=move || form.with(|f| f.site.as_ref() == Some(&id))>{s.display_name.to_string()}</option> }
                }).collect_view()}
            </select>
            <fieldset class="checklist">
                <legend>"Engines (none: every engine)"</legend>
                {Engine::ALL.into_iter().map(|engine| view! {
                    <label class="check">
                        <input
                            type="checkbox"
                            data-engine=engine.as_str()
                            prop:checked=move || form.with(|f| f.engines.contains(&engine))
                            on:change=move |e| form.update(|f| {
                                if event_target_checked(&e) { f.engines.insert(engine); } else { f.engines.remove(&engine); }
                            })
                        />
                        {words(engine.as_str())}
                    </label>
                }).collect_view()}
            </fieldset>
            <label for="rule-severity">"Alerts of"</label>
            <select id="rule-severity" on:change=move |e| {
                let chosen = event_target_value(&e);
                form.update(|f| f.min_severity = severities.iter().find(|(v, _, _)| *v == chosen).and_then(|(_, _, s)| *s));
            }>
                {severities.iter().map(|(value, name, severity)| {
                    let severity = *severity;
                    view! { <option value=*value selected=move || form.with(|f| f.min_severity == severity)>{*name}</option> }
                }).collect_view()}
            </select>
            <Guarded label="Add rule" needs=grant() at=GRANT on_click=move |_| add() />
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}

fn status_label(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "Pending",
        DeliveryStatus::Delivered => "Delivered",
        DeliveryStatus::Failed => "Failed",
    }
}

#[component]
fn DeliveryLog(list: Vec<Delivery>, endpoints: Vec<WebhookEndpoint>) -> impl IntoView {
    if list.is_empty() {
        return view! { <Empty message="Nothing sent yet" /> }.into_any();
    }
    let rows = list
        .into_iter()
        .map(|delivery| {
            let answer = match (delivery.response_status, &delivery.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => error.clone(),
                (None, None) => "—".to_owned(),
            };
            view! {
                <tr class="delivery" data-status=status_label(delivery.status)>
                    <td>{utc(delivery.created_at)}</td>
                    <td>{event_label(delivery.kind)}</td>
                    <td>{endpoint_name(&endpoints, &delivery.endpoint_id)}</td>
                    <td>{status_label(delivery.status)}</td>
                    <td>{delivery.attempts}</td>
                    <td>{answer}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="grid" id="deliveries">
            <thead><tr><th scope="col">"Queued"</th><th scope="col">"Event"</th><th scope="col">"Endpoint"</th><th scope="col">"Status"</th><th scope="col">"Attempts"</th><th scope="col">"Last answer"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
