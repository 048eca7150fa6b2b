//! `/s/{sub}/audit`: the audit log — who changed what, when, where, before and
//! after, newest first; filtered by the API; exported as CSV.

use leptos::prelude::*;
use shared::api::{AUDITED_RESOURCES, AuditEntry};
use shared::authz::Permission;

use crate::api::{ApiError, audit};
use crate::components::action::Guarded;
use crate::components::download::save;
use crate::components::filter_bar::{FilterInput, FilterSelect, use_query_pairs};
use crate::components::grid::LoadMore;
use crate::components::paged::{Paged, fetch_with};
use crate::components::states::{Denied, Empty, Failed, Loading};
use crate::components::toast::use_toasts;
use crate::logic::audit::{actor, changes, csv};
use crate::logic::denial::{At, needs};
use crate::logic::format::{utc, words};
use crate::logic::query::AuditQuery;
use crate::tenant::use_tenant;
use crate::use_api;

#[component]
pub fn Audit() -> impl IntoView {
    let tenant = use_tenant();
    match tenant
        .with_untracked(|t| t.denial(needs(Permission::GrantPermissions), &At::Subscription))
    {
        Some(reason) => view! { <h1>"Audit log"</h1><Denied reason /> }.into_any(),
        None => view! { <AuditLog /> }.into_any(),
    }
}

#[component]
fn AuditLog() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let pairs = use_query_pairs();
    let query = Memo::new(move |_| pairs.with(AuditQuery::from_pairs));
    let api_filters = Memo::new(move |_| query.with(AuditQuery::api_query));
    let paged = Paged::new(
        api_filters,
        fetch_with(move |filters, limit, cursor| {
            let sub = tenant.with_untracked(|t| t.id.clone());
            async move { audit::page(api, &sub, &filters, limit, cursor.as_deref()).await }
        }),
    );
    let loading_more = paged.loading_more;
    let load_more = move || {
        paged.load_more(move |error| toasts.error(format!("Could not load more entries: {error}")));
    };
    let exporting = RwSignal::new(false);
    let export = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let filters = api_filters.get_untracked();
        exporting.set(true);
        leptos::task::spawn_local(async move {
            let answer = audit::all(api, &sub, &filters).await;
            let saved = answer.and_then(|all| {
                let text = csv(&all, |e| scope(&tenant, e));
                save(text.as_bytes(), "text/csv", "audit-log.csv").map_err(ApiError::Network)
            });
            if let Err(error) = saved {
                toasts.error(format!("Export failed: {error}"));
            }
            exporting.set(false);
        });
    };
    let action_options: Vec<(String, String)> = AUDITED_RESOURCES
        .into_iter()
        .map(|r| (r.to_owned(), words(r)))
        .collect();
    let busy = Signal::derive(move || exporting.get().then(|| "Exporting…".to_owned()));

    view! {
        <h1>"Audit log"</h1>
        <div class="filters" role="search">
            <FilterInput label="Who" key="actor" kind="search" />
            <FilterSelect label="Kind of change" key="action" options=action_options />
            <FilterInput label="From (UTC)" key="since" kind="date" />
            <FilterInput label="To (UTC)" key="until" kind="date" />
        </div>
        <div class="toolbar" role="toolbar" aria-label="Audit actions">
            <Guarded label="Export CSV" needs=needs(Permission::GrantPermissions) at=At::Subscription blocked=busy on_click=move |_| export() />
        </div>
        {move || match paged.rows.get() {
            None => view! { <Loading what="the audit log" /> }.into_any(),
            Some(Err(error)) => view! { <Failed what="the audit log" error retry=move |_| paged.reload(false) /> }.into_any(),
            Some(Ok(page)) => {
                let more = page.next_cursor.is_some();
                let body = if page.items.is_empty() {
                    let message = if query.with(AuditQuery::is_filtered) {
                        "No changes match these filters"
                    } else {
                        "No changes recorded yet"
                    };
                    view! { <Empty message=message /> }.into_any()
                } else {
                    view! { <AuditTable entries=page.items /> }.into_any()
                };
                view! {
                    {body}
                    <LoadMore more loading=loading_more on_load=move |_| load_more() />
                }
                    .into_any()
            }
        }}
    }
}

/// Where a change was: its site, or the subscription.
fn scope(tenant: &Signal<crate::tenant::Tenant>, entry: &AuditEntry) -> String {
    match &entry.site_id {
        Some(site) => tenant.with_untracked(|t| t.site_name(site)),
        None => "Subscription".to_owned(),
    }
}

#[component]
fn AuditTable(entries: Vec<AuditEntry>) -> impl IntoView {
    let tenant = use_tenant();
    view! {
        <div class="grid-wrap">
        <table class="grid" id="audit">
            <thead>
                <tr>
                    {["When (UTC)", "Who", "What", "Scope", "Target", "Before → after"].into_iter().map(|name| view! { <th scope="col">{name}</th> }).collect_view()}
                </tr>
            </thead>
            <tbody>
                {entries.into_iter().map(|entry| {
                    let changed = changes(entry.before.as_ref(), entry.after.as_ref());
                    view! {
                        <tr class="entry" data-action=entry.action.clone()>
                            <td>{utc(entry.at)}</td>
                            <td>{actor(&entry.actor)}</td>
                            <td>{entry.action.clone()}</td>
                            <td>{scope(&tenant, &entry)}</td>
                            <td class="mono">{entry.target.clone()}</td>
                            <td>
                                <ul class="diff">
                                    {changed.into_iter().map(|c| view! {
                                        <li>
                                            <strong>{c.field}</strong>": "
                                            <del>{c.before.unwrap_or_else(|| "(none)".into())}</del>
                                            " → "
                                            <ins>{c.after.unwrap_or_else(|| "(none)".into())}</ins>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}
