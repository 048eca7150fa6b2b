//! `/s/{sub}/suppression-rules`: the rules that keep expected traffic from raising
//! alerts — what they match, where, until when, who made them and how often they hit —
//! and the form that makes one, from an alert or from nothing.

use leptos::prelude::*;
use shared::authz::Permission;
use shared::model::{Engine, RuleScope, SuppressionRule};

use crate::api::alerts;
use crate::components::action::Guarded;
use crate::components::dialog::{Confirm, Dialog};
use crate::components::load::Load;
use crate::components::states::{Denied, Empty, loaded};
use crate::components::toast::use_toasts;
use crate::logic::denial::{At, needs};
use crate::logic::format::{utc, words};
use crate::logic::rules::{RULE_DAYS, ReasonRow, RuleDraft, describe_match, expiry, reason_list};
use crate::pages::names::{SensorNames, sensor_name, sensor_names};
use crate::pages::sites::now;
use crate::routes::Page;
use crate::tenant::use_tenant;
use crate::use_api;

#[component]
pub fn SuppressionRules() -> impl IntoView {
    let tenant = use_tenant();
    if let Some(reason) =
        tenant.with_untracked(|t| t.denial(needs(Permission::ViewAlerts), &At::AnySite))
    {
        return view! { <h1>"Suppression rules"</h1><Denied reason /> }.into_any();
    }
    let api = use_api();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let rules = {
        let sub = sub.clone();
        Load::new(move || {
            let sub = sub.clone();
            async move { alerts::rules(api, &sub).await }
        })
    };
    let creating = RwSignal::new(false);
    let changed = Callback::new(move |()| rules.refetch());
    // Read once for every row.
    let sensors = sensor_names();
    view! {
        <h1>"Suppression rules"</h1>
        <p class="hint">
            "While a rule is active, the traffic it matches raises no alert at the sites it covers: each detection is counted on the rule instead. Every rule expires. "
            <a href=Page::Alerts.href(&sub)>"Back to alerts"</a>
        </p>
        <div class="toolbar" role="toolbar" aria-label="Rule actions">
            <Guarded label="New rule" needs=needs(Permission::ModifyAlerts) at=At::AnySite on_click=move |_| creating.set(true) />
        </div>
        {move || creating.get().then(|| view! {
            <RuleDialog draft=RuleDraft::default() on_close=move |_| creating.set(false) on_created=changed />
        })}
        {move || loaded(rules.get(), "the suppression rules", move || rules.refetch(), move |found| {
            if found.is_empty() {
                return view! { <Empty message="No suppression rules: every detection raises its alert" /> }.into_any();
            }
            view! {
                <div class="grid-wrap">
                <table class="grid" id="rules">
                    <thead><tr>
                        {["Matches", "Scope", "Reason", "Author", "Expires", "State", "Hits", "Last hit", ""]
                            .into_iter().map(|h| view! { <th scope="col">{h}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {found.into_iter().map(|rule| view! { <RuleRow rule sensors on_deleted=changed /> }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any()
        })}
        <CloseReasonsEditor />
    }
    .into_any()
}

/// The subscription's close reasons: what closing an alert offers, and which also learn.
#[component]
fn CloseReasonsEditor() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let stored = {
        let sub = sub.clone();
        Load::new(move || {
            let sub = sub.clone();
            async move { alerts::close_reasons_versioned(api, &sub).await }
        })
    };
    let rows = RwSignal::new(Vec::<ReasonRow>::new());
    let etag = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    Effect::new(move || {
        if let Some(Ok(found)) = stored.get() {
            rows.set(
                found
                    .value
                    .reasons
                    .reasons()
                    .iter()
                    .map(ReasonRow::of)
                    .collect(),
            );
            etag.set(found.etag);
        }
    });
    let save = move || {
        let sub = sub.clone();
        match rows.with_untracked(|r| reason_list(r)) {
            Err(problem) => error.set(Some(problem)),
            Ok(list) => {
                error.set(None);
                let etag = etag.get_untracked();
                leptos::task::spawn_local(async move {
                    match alerts::put_close_reasons(api, &sub, &list, etag.as_deref()).await {
                        Ok(_) => {
                            toasts.info("Close reasons saved");
                            stored.refetch();
                        }
                        Err(e) if e.is_stale() => error.set(Some(
                            "Someone changed the close reasons meanwhile: reload to see theirs"
                                .into(),
                        )),
                        Err(e) => error.set(Some(e.to_string())),
                    }
                });
            }
        }
    };
    let edit = move |n: usize, change: Box<dyn Fn(&mut ReasonRow)>| {
        rows.update(|r| {
            if let Some(row) = r.get_mut(n) {
                change(row);
            }
        });
    };
    view! {
        <section class="close-reasons" aria-label="Close reasons">
            <h2>"Close reasons"</h2>
            <p class="hint">"What closing an alert offers, in this order. A reason that learns also learns a learnable alert."</p>
            {move || loaded(stored.get(), "the close reasons", move || stored.refetch(), move |_| view! {
                <table class="grid" id="close-reasons">
                    <thead><tr><th scope="col">"Id"</th><th scope="col">"Label"</th><th scope="col">"Learns"</th><th scope="col"></th></tr></thead>
                    <tbody>
                        {move || rows.get().into_iter().enumerate().map(|(n, row)| view! {
                            <tr class="reason">
                                <td><input type="text" aria-label="Id" prop:value=row.id on:change=move |e| { let v = event_target_value(&e); edit(n, Box::new(move |r| r.id = v.clone())) } /></td>
                                <td><input type="text" aria-label="Label" prop:value=row.label on:change=move |e| { let v = event_target_value(&e); edit(n, Box::new(move |r| r.label = v.clone())) } /></td>
                                <td><input type="checkbox" aria-label="Learns" prop:checked=row.learns on:change=move |e| { let v = event_target_checked(&e); edit(n, Box::new(move |r| r.learns = v)) } /></td>
                                <td><button type="button" class="secondary" on:click=move |_| rows.update(|r| { r.remove(n); })>"Remove"</button></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any())}
            {move || error.get().map(|e| view! { <p class="state error" role="alert">{e}</p> })}
            <div class="toolbar">
                <button type="button" class="secondary" on:click=move |_| rows.update(|r| r.push(ReasonRow::default()))>"Add reason"</button>
                <Guarded label="Save close reasons" needs=needs(Permission::ModifyAlerts) at=At::Subscription on_click=move |_| save() />
            </div>
        </section>
    }
}

#[component]
fn RuleRow(
    rule: SuppressionRule,
    sensors: Signal<SensorNames>,
    on_deleted: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let confirming = RwSignal::new(false);
    let (scope, at) = match &rule.scope {
        RuleScope::Subscription => ("Subscription".to_owned(), At::Subscription),
        RuleScope::Site { site_id } => (
            tenant.with_untracked(|t| t.site_name(site_id)),
            At::Site(site_id.clone()),
        ),
        RuleScope::DeviceGroup { device_group_id } => {
            (format!("Device group {device_group_id}"), At::Subscription)
        }
    };
    let matches = rule.matches.clone();
    let id = rule.id.clone();
    let delete = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match alerts::delete_rule(api, &sub, &id).await {
                Ok(()) => {
                    toasts.info("Rule deleted: its traffic raises alerts again");
                    on_deleted.run(());
                }
                Err(error) => toasts.error(format!("Could not delete the rule: {error}")),
            }
        });
    };
    view! {
        <tr class="rule" data-rule-id=rule.id.to_string()>
            <td>{move || sensors.with(|names| describe_match(&matches, |id| sensor_name(names, id)))}</td>
            <td>{scope}</td>
            <td>{rule.reason.to_string()}</td>
            <td>{rule.author.to_string()}</td>
            <td>{utc(rule.expires_at)}</td>
            <td>{expiry(&rule, now())}</td>
            <td class="hits">{rule.hits}</td>
            <td>{rule.last_hit.map(utc).unwrap_or_else(|| "Never".to_owned())}</td>
            <td>
                <Guarded label="Delete" class="danger" needs=needs(Permission::ModifyAlerts) at on_click=move |_| confirming.set(true) />
                {move || confirming.get().then(|| {
                    let delete = delete.clone();
                    view! {
                        <Confirm title="Delete rule" message="Its traffic will raise alerts again." confirm="Delete"
                            on_confirm=move |_| { confirming.set(false); delete() }
                            on_close=move |_| confirming.set(false) />
                    }
                })}
            </td>
        </tr>
    }
}

/// The form that makes a rule: what it matches (prefilled from an alert), where, for
/// how long and why; a preview of the open alerts it matches now; create.
#[component]
pub fn RuleDialog(
    draft: RuleDraft,
    #[prop(into)] on_close: Callback<()>,
    #[prop(into)] on_created: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let site_of_alert = draft.site.clone();
    let sensor_of_alert = draft.sensor.clone();
    let draft = RwSignal::new(draft);
    let error = RwSignal::new(None::<String>);
    let preview = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let field = |read: fn(&RuleDraft) -> &String, write: fn(&mut RuleDraft, String)| {
        (
            move || draft.with(|d| read(d).clone()),
            move |e| draft.update(|d| write(d, event_target_value(&e))),
        )
    };
    let (title, set_title) = field(|d| &d.title, |d, v| d.title = v);
    let (source, set_source) = field(|d| &d.source, |d, v| d.source = v);
    let (destination, set_destination) = field(|d| &d.destination, |d, v| d.destination = v);
    let (protocol, set_protocol) = field(|d| &d.protocol, |d, v| d.protocol = v);
    let (reason, set_reason) = field(|d| &d.reason, |d, v| d.reason = v);
    let request = move || draft.with_untracked(|d| d.to_request(now()));
    let run_preview = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        match request() {
            Err(problem) => error.set(Some(problem)),
            Ok(rule) => {
                error.set(None);
                leptos::task::spawn_local(async move {
                    match alerts::preview_rule(api, &sub, &rule).await {
                        Ok(found) => preview.set(Some(format!(
                            "Matches {}{} open alert{} now",
                            found.open_matching,
                            if found.more_open_alerts { "+" } else { "" },
                            if found.open_matching == 1 { "" } else { "s" }
                        ))),
                        Err(e) => error.set(Some(e.to_string())),
                    }
                });
            }
        }
    };
    let create = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        match request() {
            Err(problem) => error.set(Some(problem)),
            Ok(rule) => {
                error.set(None);
                busy.set(true);
                leptos::task::spawn_local(async move {
                    match alerts::create_rule(api, &sub, &rule).await {
                        Ok(created) => {
                            toasts.info(format!(
                                "Rule created; {} open alert{} closed",
                                created.closed,
                                if created.closed == 1 { "" } else { "s" }
                            ));
                            on_created.run(());
                            on_close.run(());
                        }
                        Err(e) => error.set(Some(e.to_string())),
                    }
                    busy.set(false);
                });
            }
        }
    };
    let working = Signal::derive(move || busy.get().then(|| "Creating the rule…".to_owned()));
    let scope_at = Signal::derive(move || match draft.with(|d| d.site.clone()) {
        Some(site) => At::Site(site),
        None => At::Subscription,
    });
    let site_name = site_of_alert
        .as_ref()
        .map(|site| tenant.with_untracked(|t| t.site_name(site)));
    view! {
        <Dialog title="Create suppression rule" on_close>
            <form class="form" on:submit=|e| e.prevent_default()>
                <label for="rule-title">"Title"</label>
                <input id="rule-title" type="text" prop:value=title on:input=set_title />
                <label for="rule-engine">"Engine"</label>
                <select id="rule-engine" on:change=move |e| {
                    let chosen = event_target_value(&e);
                    draft.update(|d| d.engine = Engine::ALL.into_iter().find(|x| x.as_str() == chosen));
                }>
                    <option value="" selected=move || draft.with(|d| d.engine.is_none())>"Any engine"</option>
                    {Engine::ALL.into_iter().map(|x| view! {
                        <option value=x.as_str() selected=move || draft.with(|d| d.engine == Some(x))>{words(x.as_str())}</option>
                    }).collect_view()}
                </select>
                {sensor_of_alert.map(|sensor| view! {
                    <label class="check">
                        <input id="rule-sensor" type="checkbox" prop:checked=move || draft.with(|d| d.sensor.is_some())
                            on:change=move |e| { let on = event_target_checked(&e); let s = sensor.clone(); draft.update(|d| d.sensor = on.then_some(s)); } />
                        "Only this alert's sensor"
                    </label>
                })}
                <label for="rule-source">"Source (address or CIDR)"</label>
                <input id="rule-source" type="text" prop:value=source on:input=set_source />
                <label for="rule-destination">"Destination (address or CIDR)"</label>
                <input id="rule-destination" type="text" prop:value=destination on:input=set_destination />
                <label for="rule-protocol">"Protocol"</label>
                <input id="rule-protocol" type="text" prop:value=protocol on:input=set_protocol />
                <label for="rule-scope">"Applies to"</label>
                <select id="rule-scope" on:change=move |e| {
                    let here = event_target_value(&e) == "site";
                    let site = site_of_alert.clone();
                    draft.update(|d| d.site = if here { site } else { None });
                }>
                    {site_name.map(|name| view! { <option value="site" selected=true>{format!("This site ({name})")}</option> })}
                    <option value="subscription">"The whole subscription"</option>
                </select>
                <label for="rule-days">"Expires in"</label>
                <select id="rule-days" on:change=move |e| {
                    if let Ok(days) = event_target_value(&e).parse() { draft.update(|d| d.days = days); }
                }>
                    {RULE_DAYS.into_iter().map(|days| view! {
                        <option value=days.to_string() selected=move || draft.with(|d| d.days == days)>{format!("{days} day{}", if days == 1 { "" } else { "s" })}</option>
                    }).collect_view()}
                </select>
                <label for="rule-reason">"Reason"</label>
                <input id="rule-reason" type="text" prop:value=reason on:input=set_reason />
                <label class="check">
                    <input id="rule-close" type="checkbox" prop:checked=move || draft.with(|d| d.close_matching)
                        on:change=move |e| draft.update(|d| d.close_matching = event_target_checked(&e)) />
                    "Also close the open alerts it matches (reason: suppressed)"
                </label>
                {move || error.get().map(|e| view! { <p class="state error" role="alert">{e}</p> })}
                <p id="rule-preview" aria-live="polite">{move || preview.get()}</p>
                <div class="buttons">
                    <Guarded label="Preview" needs=needs(Permission::ModifyAlerts) at=scope_at on_click=move |_| run_preview() />
                    <Guarded label="Create rule" needs=needs(Permission::ModifyAlerts) at=scope_at blocked=working on_click=move |_| create() />
                </div>
            </form>
        </Dialog>
    }
}
