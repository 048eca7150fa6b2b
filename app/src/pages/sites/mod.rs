//! `/s/{sub}/sites`: Sites and sensors — health widgets, the sensor grid grouped by
//! site, filters in the URL, selection across pages, bulk actions with progress, the
//! Edit site and Onboard sensor panes.

mod actions;
pub mod details;
mod edit_site;
mod onboard;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use leptos::prelude::*;

use crate::components::load::Load;
use leptos_router::hooks::use_navigate;
use shared::api::{PushTiUpdate, RequestSoftwareUpdate, Sensor};
use shared::authz::Permission;
use shared::model::{SensorHealth, SensorId, SensorSettings, SensorType, SoftwareRelease};

use crate::api::{ApiError, sensors};
use crate::components::action::Guarded;
use crate::components::dialog::Menu;
use crate::components::filter_bar::{FilterSelect, SearchBox, use_query_pairs, use_set_param};
use crate::components::grid::{LoadMore, PageCheckbox, RowCheckbox, SortHeader};
use crate::components::live::refresh_while_visible;
use crate::components::progress::BulkProgressBar;
use crate::components::selection_bar::SelectionBar;
use crate::components::states::{Denied, Empty, Failed, Loading};
use crate::components::toast::use_toasts;
use crate::logic::bulk::{BulkProgress, chunks};
use crate::logic::denial::{At, needs};
use crate::logic::format::{ago, count, utc, words};
use crate::logic::grouping::{Sort, group_by};
use crate::logic::query::{SensorQuery, SitesPane};
use crate::logic::selection::Selection;
use crate::pages::names::{ZoneNames, zone_names};
use crate::routes;
use crate::tenant::use_tenant;
use crate::use_api;

pub use actions::SensorActions;

const PAGE_SIZE: u32 = 50;
/// Sensors per TI push request: progress moves in steps this size.
const TI_PUSH_CHUNK: usize = 50;

pub fn type_name(sensor_type: SensorType) -> &'static str {
    match sensor_type {
        SensorType::OtCloudConnected => "OT cloud-connected",
        SensorType::OtLocallyManaged => "OT locally managed",
        SensorType::EnterpriseIot => "Enterprise IoT",
    }
}

pub const SENSOR_TYPES: [SensorType; 3] = [
    SensorType::OtCloudConnected,
    SensorType::OtLocallyManaged,
    SensorType::EnterpriseIot,
];

pub const HEALTHS: [SensorHealth; 4] = [
    SensorHealth::Healthy,
    SensorHealth::Unhealthy,
    SensorHealth::Unsupported,
    SensorHealth::Disconnected,
];

/// One request of a bulk action, over a chunk of the selected sensors.
type BulkStep = Rc<dyn Fn(Vec<Sensor>) -> Pin<Box<dyn Future<Output = Result<(), ApiError>>>>>;

pub fn now() -> time::OffsetDateTime {
    let millis = js_sys::Date::now() as i128;
    time::OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The sensor grid's rows and paging, refreshed in place.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rows {
    sensors: Vec<Sensor>,
    next_cursor: Option<String>,
}

#[component]
pub fn Sites() -> impl IntoView {
    let tenant = use_tenant();
    let denied = tenant
        .with_untracked(|t| t.denial(needs(Permission::ViewSitesAndSensors), &At::Subscription));
    match denied {
        Some(reason) => view! { <h1>"Sites and sensors"</h1><Denied reason /> }.into_any(),
        None => view! { <SitesAndSensors /> }.into_any(),
    }
}

#[component]
fn SitesAndSensors() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let pairs = use_query_pairs();
    let query = Memo::new(move |_| pairs.with(SensorQuery::from_pairs));
    let api_filters = Memo::new(move |_| query.with(SensorQuery::api_query));
    let set_param = use_set_param();
    let navigate = use_navigate();

    let rows = RwSignal::new(None::<Result<Rows, ApiError>>);
    let loading_more = RwSignal::new(false);
    let selection = RwSignal::new(Selection::<SensorId>::default());
    let sort = RwSignal::new(None::<Sort>);
    let progress = RwSignal::new(None::<BulkProgress>);
    let progress_title = RwSignal::new(String::new());
    let recover_open = RwSignal::new(false);
    let settings_open = RwSignal::new(false);

    let zone_names = zone_names();
    let health = Load::new(move || {
        let sub = tenant.with(|t| t.id.clone());
        async move { sensors::health_summary(api, &sub).await }
    });

    // (Re)loads the first pages: as many rows as are shown, so a refresh keeps them.
    let reload = move |keep_rows: bool| {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let filters = api_filters.get_untracked();
        let shown = rows.with_untracked(|r| match r {
            Some(Ok(rows)) if keep_rows => rows.sensors.len() as u32,
            _ => 0,
        });
        let limit = shown.clamp(PAGE_SIZE, shared::api::MAX_PAGE_LIMIT);
        leptos::task::spawn_local(async move {
            let answer = sensors::page(api, &sub, &filters, limit, None).await;
            rows.set(Some(answer.map(|page| Rows {
                sensors: page.items,
                next_cursor: page.next_cursor,
            })));
        });
    };
    Effect::new(move || {
        api_filters.track();
        rows.set(None);
        selection.update(Selection::clear);
        reload(false);
    });
    refresh_while_visible(move || {
        reload(true);
        health.refetch();
    });
    let load_more = move || {
        let Some(cursor) = rows.with_untracked(|r| {
            r.as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|r| r.next_cursor.clone())
        }) else {
            return;
        };
        let sub = tenant.with_untracked(|t| t.id.clone());
        let filters = api_filters.get_untracked();
        loading_more.set(true);
        leptos::task::spawn_local(async move {
            match sensors::page(api, &sub, &filters, PAGE_SIZE, Some(&cursor)).await {
                Ok(page) => rows.update(|r| {
                    if let Some(Ok(rows)) = r {
                        rows.sensors.extend(page.items);
                        rows.next_cursor = page.next_cursor;
                    }
                }),
                Err(error) => toasts.error(format!("Could not load more sensors: {error}")),
            }
            loading_more.set(false);
        });
    };

    // The selected sensors: the ticked rows, or every sensor matching the filters.
    let selected = move || async move {
        let chosen = selection.get_untracked();
        let text_query = query.get_untracked();
        let all = if chosen.is_all_matching() {
            let sub = tenant.with_untracked(|t| t.id.clone());
            sensors::all(api, &sub, &api_filters.get_untracked()).await?
        } else {
            rows.with_untracked(|r| {
                r.as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .map(|r| r.sensors.clone())
                    .unwrap_or_default()
            })
        };
        let ids: Vec<SensorId> = all
            .iter()
            .filter(|s| text_query.matches_text(s.name.as_str()))
            .map(|s| s.id.clone())
            .collect();
        let picked = chosen.resolve(&ids);
        Ok::<Vec<Sensor>, ApiError>(all.into_iter().filter(|s| picked.contains(&s.id)).collect())
    };

    // A bulk action over the selected OT sensors, `size` at a time: the others are
    // listed as failed (`not_ot` says why), every outcome counted in the progress bar,
    // a cancel honoured between requests.
    let run_bulk = move |title: &'static str, not_ot: &'static str, size: usize, act: BulkStep| {
        progress_title.set(title.into());
        progress.set(Some(BulkProgress::new(0)));
        leptos::task::spawn_local(async move {
            let chosen = match selected().await {
                Ok(chosen) => chosen,
                Err(error) => {
                    progress.set(None);
                    toasts.error(format!("Could not list the selected sensors: {error}"));
                    return;
                }
            };
            let mut state = BulkProgress::new(chosen.len());
            let (ot, others): (Vec<Sensor>, Vec<Sensor>) =
                chosen.into_iter().partition(|s| s.sensor_type.is_ot());
            for sensor in others {
                state.failed(sensor.name.to_string(), not_ot);
            }
            progress.set(Some(state));
            for chunk in chunks(&ot, size) {
                if progress.with_untracked(|p| p.as_ref().is_none_or(|p| p.cancelled)) {
                    break;
                }
                let answer = act(chunk.clone()).await;
                progress.update(|p| {
                    let Some(p) = p else { return };
                    match &answer {
                        Ok(()) => p.succeeded(chunk.len()),
                        Err(error) => {
                            for sensor in &chunk {
                                p.failed(sensor.name.to_string(), error.to_string());
                            }
                        }
                    }
                });
            }
            reload(true);
        });
    };
    let push_ti = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let act: BulkStep = Rc::new(move |chunk: Vec<Sensor>| {
            let sub = sub.clone();
            Box::pin(async move {
                let request = PushTiUpdate {
                    sensor_ids: chunk.iter().map(|s| s.id.clone()).collect(),
                };
                sensors::push_ti_update(api, &sub, &request)
                    .await
                    .map(|_| ())
            })
        });
        run_bulk(
            "Threat intelligence update",
            "Enterprise IoT sensors take no TI packages",
            TI_PUSH_CHUNK,
            act,
        );
    };
    let update_software = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let act: BulkStep = Rc::new(move |chunk: Vec<Sensor>| {
            let sub = sub.clone();
            Box::pin(async move {
                let request = RequestSoftwareUpdate {
                    version: SoftwareRelease::latest().version(),
                };
                for sensor in &chunk {
                    sensors::request_software_update(api, &sub, &sensor.id, &request).await?;
                }
                Ok(())
            })
        });
        run_bulk(
            "Sensor update",
            "only OT sensors take software updates",
            1,
            act,
        );
    };

    let define_settings = Callback::new(move |settings: SensorSettings| {
        settings_open.set(false);
        let sub = tenant.with_untracked(|t| t.id.clone());
        let act: BulkStep = Rc::new(move |chunk: Vec<Sensor>| {
            let (sub, settings) = (sub.clone(), settings.clone());
            Box::pin(async move {
                for sensor in &chunk {
                    sensors::define_settings(api, &sub, &sensor.id, &settings).await?;
                }
                Ok(())
            })
        });
        run_bulk(
            "Sensor settings",
            "only OT cloud-connected sensors take settings from here",
            1,
            act,
        );
    });

    let export = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        leptos::task::spawn_local(async move {
            if let Err(error) = sensors::export_csv(api, &sub).await {
                toasts.error(format!("Export failed: {error}"));
            }
        });
    };
    let endpoint_details = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        leptos::task::spawn_local(async move {
            if let Err(error) = sensors::download_endpoint_details(api, &sub).await {
                toasts.error(format!("Download failed: {error}"));
            }
        });
    };
    let snmp_mib = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        leptos::task::spawn_local(async move {
            if let Err(error) = sensors::download_snmp_mib(api, &sub).await {
                toasts.error(format!("Download failed: {error}"));
            }
        });
    };

    let nothing_selected = Signal::derive(move || {
        let busy = progress.with(|p| p.as_ref().is_some_and(|p| !p.is_finished()));
        if busy {
            Some("Wait for the running bulk action to finish".to_owned())
        } else if selection.with(Selection::is_empty) {
            Some("Select one or more sensors first".to_owned())
        } else {
            None
        }
    });
    // Opening a pane pushes a history entry, so Back closes it.
    let open = Callback::new(move |pane: SitesPane| {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let search = pairs.get_untracked().with("pane", &pane.as_param());
        navigate(
            &routes::Page::Sites.href_with(&sub, &search),
            Default::default(),
        );
    });
    let close_pane = Callback::new(move |()| set_param("pane", ""));
    let changed = Callback::new(move |()| {
        reload(true);
        health.refetch();
    });

    let site_options = Signal::derive(move || {
        tenant.with(|t| {
            t.sites
                .iter()
                .map(|s| (s.id.to_string(), s.display_name.to_string()))
                .collect()
        })
    });
    let type_options: Vec<(String, String)> = SENSOR_TYPES
        .into_iter()
        .map(|t| (t.as_str().to_owned(), type_name(t).to_owned()))
        .collect();
    let health_options: Vec<(String, String)> = HEALTHS
        .into_iter()
        .map(|h| (h.as_str().to_owned(), words(h.as_str())))
        .collect();

    view! {
        <h1>"Sites and sensors"</h1>
        <section class="widgets" aria-label="Sensor health">
            {move || match health.get() {
                None => view! { <Loading what="sensor health" /> }.into_any(),
                Some(Err(error)) => view! { <Failed what="sensor health" error retry=move |_| health.refetch() /> }.into_any(),
                Some(Ok(summary)) => {
                    let set_param = use_set_param();
                    HEALTHS
                        .into_iter()
                        .map(|h| {
                            let value = match h {
                                SensorHealth::Healthy => summary.healthy,
                                SensorHealth::Unhealthy => summary.unhealthy,
                                SensorHealth::Unsupported => summary.unsupported,
                                SensorHealth::Disconnected => summary.disconnected,
                            };
                            let set_param = set_param.clone();
                            view! {
                                <button type="button" class=format!("widget h-{}", h.as_str()) on:click=move |_| set_param("health", h.as_str())>
                                    <strong>{count(value)}</strong>
                                    <span>{words(h.as_str())}</span>
                                </button>
                            }
                        })
                        .collect_view()
                        .into_any()
                }
            }}
        </section>
        <div class="filters" role="search">
            <FilterSelect label="Site" key="site" options=site_options />
            <FilterSelect label="Sensor type" key="type" options=type_options />
            <FilterSelect label="Sensor health" key="health" options=health_options />
            <SearchBox label="Search sensors" />
        </div>
        <div class="toolbar" role="toolbar" aria-label="Sensor actions">
            <Guarded label="Onboard sensor" needs=needs(Permission::OnboardSensors) at=At::Subscription on_click=move |_| open.run(SitesPane::Onboard) />
            <Guarded label="Sensor update" needs=needs(Permission::ModifySitesAndSensors) at=At::Subscription blocked=nothing_selected on_click=move |_| update_software() />
            <Guarded label="Threat intelligence update" needs=needs(Permission::PushTiUpdates) at=At::Subscription blocked=nothing_selected on_click=move |_| push_ti() />
            <Guarded label="Sensor settings" needs=needs(Permission::ModifySitesAndSensors) at=At::Subscription blocked=nothing_selected on_click=move |_| settings_open.set(true) />
            <Guarded label="Export CSV" needs=needs(Permission::ViewSitesAndSensors) at=At::Subscription on_click=move |_| export() />
            <Menu label="More actions">
                <Guarded label="Recover console password" menu_item=true needs=needs(Permission::RecoverConsolePasswords) at=At::Subscription on_click=move |_| recover_open.set(true) />
                <Guarded label="Download SNMP MIB file" menu_item=true needs=needs(Permission::DownloadSensorSoftware) at=At::Subscription on_click=move |_| snmp_mib() />
                <Guarded label="Download endpoint details" menu_item=true needs=needs(Permission::DownloadEndpointDetails) at=At::Subscription on_click=move |_| endpoint_details() />
            </Menu>
        </div>
        <BulkProgressBar title=progress_title progress />
        <SelectionBar
            selection
            loaded=Signal::derive(move || rows.with(|r| r.as_ref().and_then(|r| r.as_ref().ok()).map(|r| (r.sensors.len(), r.next_cursor.is_some()))))
            filtered=Signal::derive(move || query.with(SensorQuery::is_filtered))
            noun="sensors"
        />
        {move || match rows.get() {
            None => view! { <Loading what="sensors" /> }.into_any(),
            Some(Err(error)) => view! { <Failed what="sensors" error retry=move |_| reload(false) /> }.into_any(),
            Some(Ok(loaded)) => {
                let mut shown: Vec<Sensor> = loaded
                    .sensors
                    .iter()
                    .filter(|s| query.with(|q| q.matches_text(s.name.as_str())))
                    .cloned()
                    .collect();
                if shown.is_empty() {
                    let message = if query.with(SensorQuery::is_filtered) {
                        "No sensors match these filters"
                    } else {
                        "No sensors yet: onboard one to start monitoring"
                    };
                    return view! { <Empty message=message /> }.into_any();
                }
                if let Some(sort) = sort.get() {
                    let zone_names = zone_names.get();
                    sort.apply(&mut shown, |s| cell_text(s, sort.column, &zone_names));
                }
                view! {
                    <SensorGrid shown selection sort zone_names open changed />
                    <LoadMore more=loaded.next_cursor.is_some() loading=loading_more on_load=move |_| load_more() />
                }
                    .into_any()
            }
        }}
        {move || settings_open.get().then(|| view! {
            <actions::SettingsDialog title="Settings of the selected sensors" initial=SensorSettings::default() on_save=define_settings on_close=move |_| settings_open.set(false) />
        })}
        {move || recover_open.get().then(|| view! {
            <actions::RecoverPasswordDialog sensor=None on_close=move |_| recover_open.set(false) />
        })}
        {move || query.with(|q| q.pane.clone()).map(|pane| match pane {
            SitesPane::EditSite(site) => view! { <edit_site::EditSitePane site on_close=close_pane /> }.into_any(),
            SitesPane::Onboard => view! { <onboard::OnboardPane on_close=close_pane on_onboarded=changed /> }.into_any(),
            SitesPane::Sensor(id) => view! { <details::SensorPane id on_close=close_pane /> }.into_any(),
        })}
    }
}

/// The grid's columns after the checkbox, in the seed's order.
const COLUMNS: [&str; 10] = [
    "Sensor name",
    "Sensor type",
    "Zone",
    "Subscription name",
    "Sensor version",
    "Sensor health",
    "Last connected (UTC)",
    "Threat Intelligence version",
    "Threat Intelligence mode",
    "Threat Intelligence update status",
];

/// A cell's text, for sorting by that column.
fn cell_text(s: &Sensor, column: usize, zones: &ZoneNames) -> String {
    match column {
        0 => s.name.to_string(),
        1 => type_name(s.sensor_type).to_owned(),
        2 => s
            .zone_id
            .as_ref()
            .and_then(|z| zones.get(z).cloned())
            .unwrap_or_default(),
        3 => String::new(),
        4 => s
            .version
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        5 => s.health.as_str().to_owned(),
        6 => s.last_connected.map(utc).unwrap_or_default(),
        7 => s
            .ti_version
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        8 => s.ti_mode.map(|m| m.as_str().to_owned()).unwrap_or_default(),
        _ => s
            .ti_update_status
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
    }
}

#[component]
fn SensorGrid(
    shown: Vec<Sensor>,
    selection: RwSignal<Selection<SensorId>>,
    sort: RwSignal<Option<Sort>>,
    zone_names: Signal<ZoneNames>,
    open: Callback<SitesPane>,
    changed: Callback<()>,
) -> impl IntoView {
    let tenant = use_tenant();
    let page_ids: Vec<_> = shown.iter().map(|row| row.id.clone()).collect();
    let groups = group_by(&shown, |s| s.site_id.clone());
    let sub = tenant.with_untracked(|t| t.id.clone());
    let sub_name = tenant.with_untracked(|t| t.name.clone());
    view! {
        <div class="grid-wrap">
        <table class="grid" id="sensors">
            <thead>
                <tr>
                    <PageCheckbox ids=page_ids selection noun="sensors" />
                    {COLUMNS.into_iter().enumerate().map(|(column, name)| view! { <SortHeader name column sort /> }).collect_view()}
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            {groups
                .into_iter()
                .map(|(site, sensors)| {
                    let site_name = tenant.with_untracked(|t| t.site_name(&site));
                    let site_for_click = site.clone();
                    view! {
                        <tbody class="site-group">
                            <tr class="group">
                                <th colspan="12" scope="rowgroup">
                                    <button type="button" class="link site-name" title="Edit site" on:click=move |_| open.run(SitesPane::EditSite(site_for_click.clone()))>
                                        {site_name}
                                    </button>
                                    <span class="hint">{format!(" · {} sensors", sensors.len())}</span>
                                </th>
                            </tr>
                            {sensors
                                .into_iter()
                                .cloned()
                                .map(|sensor| view! { <SensorRow sensor sub=sub.clone() sub_name=sub_name.clone() selection zone_names changed /> })
                                .collect_view()}
                        </tbody>
                    }
                })
                .collect_view()}
        </table>
        </div>
    }
}

#[component]
fn SensorRow(
    sensor: Sensor,
    sub: shared::model::SubscriptionId,
    sub_name: String,
    selection: RwSignal<Selection<SensorId>>,
    zone_names: Signal<ZoneNames>,
    changed: Callback<()>,
) -> impl IntoView {
    let id = sensor.id.clone();
    let id_text = id.to_string();
    let zone = sensor.zone_id.clone();
    let zone_name = move || {
        zone.as_ref()
            .and_then(|z| zone_names.with(|names| names.get(z).cloned()))
            .unwrap_or_default()
    };
    let health = sensor.health;
    let now = now();
    let last_connected = sensor
        .last_connected
        .map(|at| format!("{} ({})", utc(at), ago(at, now)))
        .unwrap_or_else(|| "Never".into());
    let name = sensor.name.to_string();
    view! {
        <tr class="sensor" data-sensor-id=id_text>
            <RowCheckbox id=id.clone() selection label=name.clone() />
            <td class="name"><a href=routes::sensor(&sub, &sensor.id)>{name.clone()}</a></td>
            <td>{type_name(sensor.sensor_type)}</td>
            <td>{zone_name}</td>
            <td>{sub_name}</td>
            <td>{sensor.version.as_ref().map(ToString::to_string).unwrap_or_default()}</td>
            <td><span class=format!("health h-{}", health.as_str())>{words(health.as_str())}</span></td>
            <td>{last_connected}</td>
            <td>{sensor.ti_version.as_ref().map(ToString::to_string).unwrap_or_default()}</td>
            <td>{sensor.ti_mode.map(|m| words(m.as_str())).unwrap_or_default()}</td>
            <td>{sensor.ti_update_status.map(|s| words(s.as_str())).unwrap_or_default()}</td>
            <td class="row-actions">
                <SensorActions sensor=sensor.clone() in_menu=true on_changed=changed />
            </td>
        </tr>
    }
}
