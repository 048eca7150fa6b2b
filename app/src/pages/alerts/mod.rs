//! `/s/{sub}/alerts`: alert triage — every filter the API's, grouping, selection
//! across pages, status changes one by one or in bulk with progress, the detail pane.

pub mod details;
pub mod rules;

use leptos_router::hooks::use_navigate;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use leptos::prelude::*;
use shared::api::{
    AlertCounts, BulkAlertStatus, BulkAlertStatusResult, BulkAssignAlerts, MAX_BULK_ALERTS,
};
use shared::authz::{Permission, PrincipalRef};
use shared::model::{
    Alert, AlertId, AlertStatus, CloseReasonId, CloseReasons, Engine, Severity, SubscriptionId,
};

use crate::api::{Api, ApiError, alerts};
use crate::components::action::Guarded;
use crate::components::filter_bar::{FilterSelect, SearchBox, use_query_pairs, use_set_param};
use crate::components::grid::{LoadMore, PageCheckbox, RowCheckbox};
use crate::components::live::refresh_while_visible;
use crate::components::paged::{Counts, Paged, fetch_with};
use crate::components::progress::BulkProgressBar;
use crate::components::selection_bar::SelectionBar;
use crate::components::states::{Denied, Empty, Failed, Loading};
use crate::components::toast::use_toasts;
use crate::logic::bulk::{BulkProgress, chunks};
use crate::logic::denial::{At, needs};
use crate::logic::format::{utc, words};
use crate::logic::grouping::group_by;
use crate::logic::query::{AlertGroup, AlertQuery, SeenWithin, alert_count_line};
use crate::logic::selection::Selection;
use crate::pages::names::{SensorNames, sensor_name, sensor_names};
use crate::pages::sites::now;
use crate::routes::{self, Page};
use crate::tenant::use_tenant;
use crate::{MeResource, use_api};

/// The statuses an alert can be set to (nothing goes back to `new`).
pub const TARGET_STATUSES: [AlertStatus; 2] = [AlertStatus::Active, AlertStatus::Closed];

#[component]
pub fn Alerts() -> impl IntoView {
    let tenant = use_tenant();
    match tenant.with_untracked(|t| t.denial(needs(Permission::ViewAlerts), &At::AnySite)) {
        Some(reason) => view! { <h1>"Alerts"</h1><Denied reason /> }.into_any(),
        None => view! { <AlertTriage /> }.into_any(),
    }
}

#[component]
fn AlertTriage() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let pairs = use_query_pairs();
    let query = Memo::new(move |_| pairs.with(AlertQuery::from_pairs));
    let api_filters = Memo::new(move |_| query.with(|q| q.api_query(now())));
    let set_param = use_set_param();
    let navigate = use_navigate();
    let names = sensor_names();

    let paged = Paged::new(
        api_filters,
        fetch_with(move |filters, limit, cursor| {
            let sub = tenant.with_untracked(|t| t.id.clone());
            async move { alerts::page(api, &sub, &filters, limit, cursor.as_deref()).await }
        }),
    );
    // The server's counts of what the filters match.
    let counts = Counts::new(api_filters, move |filters| {
        let sub = tenant.with_untracked(|t| t.id.clone());
        async move { alerts::counts(api, &sub, &filters).await }
    });
    let reload = move || {
        paged.reload(true);
        counts.reload();
    };
    let selection = RwSignal::new(Selection::<AlertId>::default());
    let progress = RwSignal::new(None::<BulkProgress>);
    let progress_title = RwSignal::new(String::new());
    let bulk_status = RwSignal::new(AlertStatus::Closed);
    // Only a change of filters clears the selection; a refresh keeps it.
    Effect::new(move || {
        api_filters.track();
        selection.update(Selection::clear);
    });
    refresh_while_visible(reload);
    let load_more = move || {
        paged.load_more(move |error| toasts.error(format!("Could not load more alerts: {error}")));
    };

    // The selected alerts: the ticked rows, or every alert matching the filters.
    let selected = move || async move {
        let chosen = selection.get_untracked();
        let all = if chosen.is_all_matching() {
            let sub = tenant.with_untracked(|t| t.id.clone());
            alerts::all(api, &sub, &api_filters.get_untracked()).await?
        } else {
            paged.shown_untracked()
        };
        Ok::<Vec<Alert>, ApiError>(
            all.into_iter()
                .filter(|a| chosen.is_selected(&a.id))
                .collect(),
        )
    };

    let reasons = close_reasons_of(api, tenant.with_untracked(|t| t.id.clone()));
    let bulk_reason = RwSignal::new(String::new());
    let me = expect_context::<MeResource>().0;
    // Runs one bulk action over the selected alerts, `send` per chunk, with progress.
    let run_bulk = move |title: String, send: BulkSend| {
        progress_title.set(title);
        progress.set(Some(BulkProgress::new(0)));
        leptos::task::spawn_local(async move {
            match selected().await {
                Ok(chosen) => run_in_chunks(chosen, progress, send).await,
                Err(error) => {
                    progress.set(None);
                    toasts.error(format!("Could not list the selected alerts: {error}"));
                }
            }
            reload();
        });
    };
    let change_statuses = move || {
        let to = bulk_status.get_untracked();
        let reason = chosen_reason(to, bulk_reason, reasons);
        let sub = tenant.with_untracked(|t| t.id.clone());
        let send: BulkSend = Rc::new(move |alert_ids| {
            let request = BulkAlertStatus {
                alert_ids,
                status: to,
                reason: reason.clone(),
            };
            let sub = sub.clone();
            Box::pin(async move { alerts::set_statuses(api, &sub, &request).await })
        });
        run_bulk(format!("Change status to {}", words(to.as_str())), send);
    };
    let assign_to_me = move || {
        let Some(Ok(me)) = me.get_untracked() else {
            return;
        };
        let sub = tenant.with_untracked(|t| t.id.clone());
        let assignee = Some(PrincipalRef::User(me.email));
        let send: BulkSend = Rc::new(move |alert_ids| {
            let request = BulkAssignAlerts {
                alert_ids,
                assignee: assignee.clone(),
            };
            let sub = sub.clone();
            Box::pin(async move { alerts::assign_many(api, &sub, &request).await })
        });
        run_bulk("Assign to me".to_owned(), send);
    };

    let nothing_selected = Signal::derive(move || {
        if progress.with(|p| p.as_ref().is_some_and(|p| !p.is_finished())) {
            Some("Wait for the running status change to finish".to_owned())
        } else if selection.with(Selection::is_empty) {
            Some("Select one or more alerts first".to_owned())
        } else {
            None
        }
    });
    // Opening the pane pushes a history entry, so Back closes it.
    let open = Callback::new(move |id: AlertId| {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let search = pairs.get_untracked().with("alert", id.as_str());
        navigate(&Page::Alerts.href_with(&sub, &search), Default::default());
    });
    let close_pane = Callback::new(move |()| set_param("alert", ""));
    let changed = Callback::new(move |()| reload());

    let status_options: Vec<(String, String)> = [("new,active", "Open (new or active)")]
        .into_iter()
        .map(|(v, t)| (v.to_owned(), t.to_owned()))
        .chain(
            AlertStatus::ALL
                .into_iter()
                .map(|s| (s.as_str().to_owned(), words(s.as_str()))),
        )
        .collect();
    let severity_options: Vec<(String, String)> = Severity::ALL
        .into_iter()
        .map(|s| (s.as_str().to_owned(), words(s.as_str())))
        .collect();
    let engine_options: Vec<(String, String)> = Engine::ALL
        .into_iter()
        .map(|e| (e.as_str().to_owned(), words(e.as_str())))
        .collect();
    let assignee_options: Vec<(String, String)> =
        [("me", "Assigned to me"), ("none", "Unassigned")]
            .into_iter()
            .map(|(v, t)| (v.to_owned(), t.to_owned()))
            .collect();
    let seen_options: Vec<(String, String)> = SeenWithin::ALL
        .into_iter()
        .map(|w| (w.as_param().to_owned(), w.label().to_owned()))
        .collect();
    let group_options: Vec<(String, String)> = AlertGroup::ALL
        .into_iter()
        .map(|g| (g.as_param().to_owned(), g.label().to_owned()))
        .collect();
    let site_options = Signal::derive(move || {
        tenant.with(|t| {
            t.sites
                .iter()
                .map(|s| (s.id.to_string(), s.display_name.to_string()))
                .collect()
        })
    });
    let loaded = Signal::derive(move || paged.loaded());
    let loading_more = paged.loading_more;

    view! {
        <h1>"Alerts"</h1>
        <div class="filters" role="search">
            <FilterSelect label="Status" key="status" options=status_options />
            <FilterSelect label="Severity" key="severity" options=severity_options />
            <FilterSelect label="Site" key="site" options=site_options />
            <FilterSelect label="Engine" key="engine" options=engine_options />
            <FilterSelect label="Last detected" key="seen" options=seen_options />
            <FilterSelect label="Assignee" key="assignee" options=assignee_options />
            <FilterSelect label="Group by" key="group" options=group_options unset="None" />
            <SearchBox label="Search titles and addresses" />
        </div>
        <div class="toolbar" role="toolbar" aria-label="Alert actions">
            <StatusSelect id="bulk-status" label="Set selected to" status=bulk_status />
            {move || (bulk_status.get() == AlertStatus::Closed).then(|| view! { <ReasonSelect id="bulk-reason" reasons chosen=bulk_reason /> })}
            <Guarded label="Change status" needs=needs(Permission::ModifyAlerts) at=At::AnySite blocked=nothing_selected on_click=move |_| change_statuses() />
            <Guarded label="Assign to me" needs=needs(Permission::ModifyAlerts) at=At::AnySite blocked=nothing_selected on_click=move |_| assign_to_me() />
            <a class="button secondary" href=routes::suppression_rules(&tenant.with_untracked(|t| t.id.clone()))>"Suppression rules"</a>
        </div>
        <BulkProgressBar title=progress_title progress />
        <p class="count" id="alert-count">
            {move || loaded.get().map(|(shown, more)| counts.value.with(|c| alert_count_line(shown, more, c.as_ref())))}
        </p>
        <SelectionBar selection loaded filtered=Signal::derive(move || query.with(AlertQuery::is_filtered)) noun="alerts" />
        {move || match paged.rows.get() {
            None => view! { <Loading what="alerts" /> }.into_any(),
            Some(Err(error)) => view! { <Failed what="alerts" error retry=move |_| paged.reload(false) /> }.into_any(),
            Some(Ok(loaded)) if loaded.items.is_empty() => {
                let message = if query.with(AlertQuery::is_filtered) {
                    "No alerts match these filters"
                } else {
                    "No alerts: the sensors have raised nothing yet"
                };
                view! {
                    <Empty message=message />
                    <LoadMore more=loaded.next_cursor.is_some() loading=loading_more on_load=move |_| load_more() />
                }
                    .into_any()
            }
            Some(Ok(loaded)) => view! {
                <AlertGrid alerts=loaded.items group=query.with(|q| q.group) counts=counts.value selection names open />
                <LoadMore more=loaded.next_cursor.is_some() loading=loading_more on_load=move |_| load_more() />
            }
                .into_any(),
        }}
        {move || query.with(|q| q.alert.clone()).map(|id| view! {
            <details::AlertPane id on_close=close_pane on_changed=changed />
        })}
    }
}

/// A `<select>` of the statuses an alert can be set to.
#[component]
pub fn StatusSelect(
    id: &'static str,
    label: &'static str,
    status: RwSignal<AlertStatus>,
) -> impl IntoView {
    view! {
        <label class="filter" for=id>
            <span>{label}</span>
            <select
                id=id
                prop:value=move || status.get().as_str()
                on:change=move |event| {
                    let chosen = event_target_value(&event);
                    if let Some(to) = TARGET_STATUSES.into_iter().find(|s| s.as_str() == chosen) {
                        status.set(to);
                    }
                }
            >
                {TARGET_STATUSES.into_iter().map(|s| view! {
                    <option value=s.as_str() selected=move || status.get() == s>{words(s.as_str())}</option>
                }).collect_view()}
            </select>
        </label>
    }
}

/// One bulk request over a chunk of alert ids.
type BulkSend = Rc<
    dyn Fn(Vec<AlertId>) -> Pin<Box<dyn Future<Output = Result<BulkAlertStatusResult, ApiError>>>>,
>;

/// Sends `chosen` in chunks of [`MAX_BULK_ALERTS`] through `send`, counting each alert's
/// result into `progress`, until done or cancelled.
async fn run_in_chunks(
    chosen: Vec<Alert>,
    progress: RwSignal<Option<BulkProgress>>,
    send: BulkSend,
) {
    progress.set(Some(BulkProgress::new(chosen.len())));
    for chunk in chunks(&chosen, MAX_BULK_ALERTS) {
        if progress.with_untracked(|p| p.as_ref().is_none_or(|p| p.cancelled)) {
            break;
        }
        let answer = send(chunk.iter().map(|a| a.id.clone()).collect()).await;
        let title_of = |id: &AlertId| {
            chunk
                .iter()
                .find(|a| &a.id == id)
                .map(|a| a.title.to_string())
                .unwrap_or_else(|| id.to_string())
        };
        progress.update(|p| {
            let Some(p) = p else { return };
            match &answer {
                Ok(result) => {
                    for item in &result.items {
                        match &item.error {
                            None if item.status == 200 => p.succeeded(1),
                            None => {
                                p.failed(title_of(&item.id), format!("answered {}", item.status))
                            }
                            Some(error) => p.failed(title_of(&item.id), error.message.clone()),
                        }
                    }
                }
                Err(error) => {
                    for alert in &chunk {
                        p.failed(alert.title.to_string(), error.to_string());
                    }
                }
            }
        });
    }
}

/// The subscription's close reasons, once loaded (`None` until then, or when they
/// could not be read: a close then goes without a reason).
pub fn close_reasons_of(api: Api, sub: SubscriptionId) -> RwSignal<Option<CloseReasons>> {
    let reasons = RwSignal::new(None);
    leptos::task::spawn_local(async move {
        if let Ok(list) = alerts::close_reasons(api, &sub).await {
            reasons.try_set(Some(list.reasons));
        }
    });
    reasons
}

/// The reason a change to `to` goes with: the one chosen, or the first listed; none
/// unless it closes.
pub fn chosen_reason(
    to: AlertStatus,
    chosen: RwSignal<String>,
    reasons: RwSignal<Option<CloseReasons>>,
) -> Option<CloseReasonId> {
    if to != AlertStatus::Closed {
        return None;
    }
    reasons.with_untracked(|reasons| {
        let reasons = reasons.as_ref()?;
        let chosen = chosen.get_untracked();
        reasons
            .reasons()
            .iter()
            .find(|r| r.id.as_str() == chosen)
            .or_else(|| reasons.reasons().first())
            .map(|r| r.id.clone())
    })
}

/// A `<select>` of the subscription's close reasons.
#[component]
pub fn ReasonSelect(
    id: &'static str,
    reasons: RwSignal<Option<CloseReasons>>,
    chosen: RwSignal<String>,
) -> impl IntoView {
    view! {
        <label class="filter" for=id>
            <span>"Close reason"</span>
            <select id=id on:change=move |event| chosen.set(event_target_value(&event))>
                {move || reasons.with(|reasons| {
                    reasons.iter().flat_map(|r| r.reasons()).map(|r| {
                        let value = r.id.to_string();
                        let selected = chosen.with(|c| *c == value);
                        view! { <option value=value selected=selected>{r.label.to_string()}</option> }
                    }).collect_view()
                })}
            </select>
        </label>
    }
}

/// The columns after the checkbox, as CONSOLE.md names them.
const COLUMNS: [&str; 11] = [
    "Severity",
    "Title",
    "Site",
    "Sensor",
    "Engine",
    "Status",
    "Source",
    "Destination",
    "Protocol",
    "First detected",
    "Last detected",
];

/// The group a row falls in: an order (severity and engine in their own order) and
/// the group's name.
fn group_of(
    alert: &Alert,
    group: AlertGroup,
    site: &dyn Fn(&Alert) -> String,
    names: &SensorNames,
) -> (usize, String) {
    match group {
        AlertGroup::Severity => (
            Severity::ALL
                .iter()
                .position(|s| *s == alert.severity)
                .unwrap_or(0),
            words(alert.severity.as_str()),
        ),
        AlertGroup::Engine => (
            Engine::ALL
                .iter()
                .position(|e| *e == alert.engine)
                .unwrap_or(0),
            words(alert.engine.as_str()),
        ),
        AlertGroup::Site => (0, site(alert)),
        AlertGroup::Sensor => (0, sensor_name(names, &alert.sensor_id)),
        AlertGroup::Title => (0, alert.title.to_string()),
    }
}

#[component]
fn AlertGrid(
    alerts: Vec<Alert>,
    group: Option<AlertGroup>,
    counts: RwSignal<Option<AlertCounts>>,
    selection: RwSignal<Selection<AlertId>>,
    names: Signal<SensorNames>,
    open: Callback<AlertId>,
) -> impl IntoView {
    let tenant = use_tenant();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let page_ids: Vec<_> = alerts.iter().map(|row| row.id.clone()).collect();
    let site = move |a: &Alert| tenant.with_untracked(|t| t.site_name(&a.site_id));
    let groups: Vec<(Option<String>, Vec<&Alert>)> = match group {
        None => vec![(None, alerts.iter().collect())],
        Some(group) => names.with_untracked(|names| {
            group_by(&alerts, |a| group_of(a, group, &site, names))
                .into_iter()
                .map(|((_, name), rows)| (Some(name), rows))
                .collect()
        }),
    };
    view! {
        <div class="grid-wrap">
        <table class="grid" id="alerts">
            <thead>
                <tr>
                    <PageCheckbox ids=page_ids selection noun="alerts" />
                    {COLUMNS.into_iter().map(|name| view! { <th scope="col">{name}</th> }).collect_view()}
                </tr>
            </thead>
            {groups
                .into_iter()
                .map(|(name, rows)| view! {
                    <tbody>
                        {name.zip(group).map(|(name, group)| {
                            let shown = rows.len();
                            let first: Alert = rows[0].clone();
                            view! {
                                <tr class="group">
                                    <th colspan="12" scope="rowgroup">
                                        {name}
                                        <span class="hint group-count">{move || counts.with(|c| match c {
                                            Some(c) => format!(" · {} match · {shown} shown", group.count_of(c, &first)),
                                            None => format!(" · {shown} shown"),
                                        })}</span>
                                    </th>
                                </tr>
                            }
                        })}
                        {rows
                            .into_iter()
                            .map(|alert| {
                                let alert = alert.clone();
                                let site_name = site(&alert);
                                view! { <AlertRow alert site_name sub=sub.clone() selection names open /> }
                            })
                            .collect_view()}
                    </tbody>
                })
                .collect_view()}
        </table>
        </div>
    }
}

#[component]
fn AlertRow(
    alert: Alert,
    site_name: String,
    sub: SubscriptionId,
    selection: RwSignal<Selection<AlertId>>,
    names: Signal<SensorNames>,
    open: Callback<AlertId>,
) -> impl IntoView {
    let id = alert.id.clone();
    let id_for_open = id.clone();
    let sensor = alert.sensor_id.clone();
    let title = alert.title.to_string();
    let severity = alert.severity.as_str();
    let id_text = id.to_string();
    view! {
        <tr class="alert" data-alert-id=id_text>
            <RowCheckbox id=id.clone() selection label=title.clone() />
            <td><span class=format!("severity sev-{severity}")>{words(severity)}</span></td>
            <td class="name">
                <a
                    href=routes::alert(&sub, &alert.id)
                    on:click=move |event| {
                        event.prevent_default();
                        open.run(id_for_open.clone());
                    }
                >
                    {title.clone()}
                </a>
            </td>
            <td>{site_name}</td>
            <td>{move || names.with(|n| sensor_name(n, &sensor))}</td>
            <td>{words(alert.engine.as_str())}</td>
            <td>{words(alert.status.as_str())}</td>
            <td>{alert.source_ip.to_string()}</td>
            <td>{alert.destination_ip.to_string()}</td>
            <td>{alert.protocol.to_string()}</td>
            <td>{utc(alert.first_detected)}</td>
            <td>{utc(alert.last_detected)}</td>
        </tr>
    }
}
