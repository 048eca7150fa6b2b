//! `/s/{sub}/devices`: the device inventory — every filter the API's, selection across
//! pages, authorize or unauthorize in bulk with progress, edit and delete in the pane,
//! Export CSV of what the filters match.

pub mod edit;

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use shared::api::{DeviceCounts, MAX_MERGED_DEVICES, UpdateDevice};
use shared::authz::Permission;
use shared::model::{Device, DeviceId, SubscriptionId};

use crate::api::devices;
use crate::components::action::Guarded;
use crate::components::filter_bar::{
    FilterInput, FilterSelect, SearchBox, use_query_pairs, use_set_param,
};
use crate::components::grid::{LoadMore, PageCheckbox, RowCheckbox};
use crate::components::live::refresh_while_visible;
use crate::components::paged::{Counts, Paged, fetch_with};
use crate::components::progress::BulkProgressBar;
use crate::components::selection_bar::SelectionBar;
use crate::components::states::{Denied, Empty, Failed, Loading};
use crate::components::toast::use_toasts;
use crate::logic::bulk::BulkProgress;
use crate::logic::denial::{At, needs};
use crate::logic::format::utc;
use crate::logic::grouping::group_by;
use crate::logic::query::{DeviceGroupBy, DeviceQuery, count_line};
use crate::logic::selection::Selection;
use crate::pages::names::{
    SensorNames, ZoneNames, sensor_name, sensor_names, zone_name, zone_names,
};
use crate::routes::{self, Page};
use crate::tenant::use_tenant;
use crate::use_api;

#[component]
pub fn Devices() -> impl IntoView {
    let tenant = use_tenant();
    match tenant.with_untracked(|t| t.denial(needs(Permission::ViewDevices), &At::AnySite)) {
        Some(reason) => view! { <h1>"Device inventory"</h1><Denied reason /> }.into_any(),
        None => view! { <Inventory /> }.into_any(),
    }
}

/// A device as the grid names it: its name, or its address.
pub fn device_label(device: &Device) -> String {
    device
        .name
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| device.ip.to_string())
}

#[component]
fn Inventory() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let pairs = use_query_pairs();
    let query = Memo::new(move |_| pairs.with(DeviceQuery::from_pairs));
    let api_filters = Memo::new(move |_| query.with(DeviceQuery::api_query));
    let set_param = use_set_param();
    let navigate = use_navigate();
    let sensors = sensor_names();
    let zones = zone_names();

    let paged = Paged::new(
        api_filters,
        fetch_with(move |filters, limit, cursor| {
            let sub = tenant.with_untracked(|t| t.id.clone());
            async move { devices::page(api, &sub, &filters, limit, cursor.as_deref()).await }
        }),
    );
    let selection = RwSignal::new(Selection::<DeviceId>::default());
    let progress = RwSignal::new(None::<BulkProgress>);
    let progress_title = RwSignal::new(String::new());
    Effect::new(move || {
        api_filters.track();
        selection.update(Selection::clear);
    });
    let counts = Counts::new(api_filters, move |filters| {
        let sub = tenant.with_untracked(|t| t.id.clone());
        async move { devices::counts(api, &sub, &filters).await }
    });
    let reload = move || {
        paged.reload(true);
        counts.reload();
    };
    refresh_while_visible(reload);

    // Marks every selected device authorized or not, one request each, with progress.
    let set_authorized = move |authorized: bool| {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let chosen = selection.get_untracked();
        progress_title.set(
            if authorized {
                "Mark authorized"
            } else {
                "Mark unauthorized"
            }
            .to_owned(),
        );
        progress.set(Some(BulkProgress::new(0)));
        leptos::task::spawn_local(async move {
            let listed = if chosen.is_all_matching() {
                devices::all(api, &sub, &api_filters.get_untracked()).await
            } else {
                Ok(paged.shown_untracked())
            };
            let targets: Vec<Device> = match listed {
                Ok(all) => all
                    .into_iter()
                    .filter(|d| chosen.is_selected(&d.id))
                    .collect(),
                Err(error) => {
                    progress.set(None);
                    toasts.error(format!("Could not list the selected devices: {error}"));
                    return;
                }
            };
            progress.set(Some(BulkProgress::new(targets.len())));
            let request = UpdateDevice {
                authorized: Some(authorized),
                ..UpdateDevice::default()
            };
            for device in targets {
                if progress.with_untracked(|p| p.as_ref().is_none_or(|p| p.cancelled)) {
                    break;
                }
                let answer = devices::update(api, &sub, &device.id, &request, None).await;
                progress.update(|p| {
                    let Some(p) = p else { return };
                    match answer {
                        Ok(_) => p.succeeded(1),
                        Err(error) => p.failed(device_label(&device), error.to_string()),
                    }
                });
            }
            reload();
        });
    };
    let export = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let filters = api_filters.get_untracked();
        leptos::task::spawn_local(async move {
            if let Err(error) = devices::export_csv(api, &sub, &filters).await {
                toasts.error(format!("Export failed: {error}"));
            }
        });
    };
    let nothing_selected = Signal::derive(move || {
        if progress.with(|p| p.as_ref().is_some_and(|p| !p.is_finished())) {
            Some("Wait for the running change to finish".to_owned())
        } else if selection.with(Selection::is_empty) {
            Some("Select one or more devices first".to_owned())
        } else {
            None
        }
    });
    // Merge works on ticked rows of one site (2 to 10), not on "all that match".
    let merging = RwSignal::new(None::<Vec<Device>>);
    let merge_blocked = Signal::derive(move || {
        let picked = selection.with(|s| match s {
            Selection::Chosen(chosen) => Some(chosen.len()),
            Selection::AllMatching { .. } => None,
        });
        match picked {
            None => Some("Merge works on devices ticked one by one".to_owned()),
            Some(n) if !(2..=MAX_MERGED_DEVICES).contains(&n) => Some(format!(
                "Tick 2 to {MAX_MERGED_DEVICES} devices at one site to merge them"
            )),
            Some(_) => None,
        }
    });
    let start_merge = move || {
        let chosen = selection.get_untracked();
        let picked: Vec<Device> = paged
            .shown_untracked()
            .into_iter()
            .filter(|d| chosen.is_selected(&d.id))
            .collect();
        if picked
            .windows(2)
            .any(|pair| pair[0].site_id != pair[1].site_id)
        {
            toasts.error("Only devices at one site can be merged");
            return;
        }
        merging.set(Some(picked));
    };
    let merged = Callback::new(move |()| {
        merging.set(None);
        selection.update(Selection::clear);
        reload();
    });
    let open = Callback::new(move |id: DeviceId| {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let search = pairs.get_untracked().with("device", id.as_str());
        navigate(&Page::Devices.href_with(&sub, &search), Default::default());
    });
    let close_pane = Callback::new(move |()| set_param("device", ""));
    let changed = Callback::new(move |()| reload());
    let site_options = Signal::derive(move || {
        tenant.with(|t| {
            t.sites
                .iter()
                .map(|s| (s.id.to_string(), s.display_name.to_string()))
                .collect()
        })
    });
    let yes_no = |yes: &str, no: &str| {
        vec![
            ("true".to_owned(), yes.to_owned()),
            ("false".to_owned(), no.to_owned()),
        ]
    };
    let group_options: Vec<(String, String)> = DeviceGroupBy::ALL
        .into_iter()
        .map(|g| (g.as_param().to_owned(), g.label().to_owned()))
        .collect();
    let loaded = Signal::derive(move || paged.loaded());
    let loading_more = paged.loading_more;
    let load_more = move || {
        paged.load_more(move |error| toasts.error(format!("Could not load more devices: {error}")));
    };

    view! {
        <h1>"Device inventory"</h1>
        <div class="filters" role="search">
            <FilterSelect label="Site" key="site" options=site_options />
            <FilterInput label="Type" key="type" kind="search" />
            <FilterInput label="Vendor" key="vendor" kind="search" />
            <FilterSelect label="Authorized" key="authorized" options=yes_no("Authorized", "Not authorized") />
            <FilterSelect label="Activity" key="inactive" options=yes_no("Inactive over 30 days", "Active in the last 30 days") />
            <FilterSelect label="Group by" key="group" options=group_options unset="None" />
            <SearchBox label="Search names and addresses" />
        </div>
        <div class="toolbar" role="toolbar" aria-label="Device actions">
            <Guarded label="Mark authorized" needs=needs(Permission::ManageDevices) at=At::AnySite blocked=nothing_selected on_click=move |_| set_authorized(true) />
            <Guarded label="Mark unauthorized" needs=needs(Permission::ManageDevices) at=At::AnySite blocked=nothing_selected on_click=move |_| set_authorized(false) />
            <Guarded label="Merge" needs=needs(Permission::ManageDevices) at=At::AnySite blocked=merge_blocked on_click=move |_| start_merge() />
            <Guarded label="Export CSV" needs=needs(Permission::ViewDevices) at=At::AnySite on_click=move |_| export() />
        </div>
        <BulkProgressBar title=progress_title progress />
        <p class="count" id="device-count">
            {move || loaded.get().map(|(shown, more)| {
                count_line(shown, more, counts.value.with(|c| c.as_ref().map(|c| c.total)), ("device", "devices"))
            })}
        </p>
        <SelectionBar selection loaded filtered=Signal::derive(move || query.with(DeviceQuery::is_filtered)) noun="devices" />
        {move || match paged.rows.get() {
            None => view! { <Loading what="devices" /> }.into_any(),
            Some(Err(error)) => view! { <Failed what="devices" error retry=move |_| paged.reload(false) /> }.into_any(),
            Some(Ok(page)) => {
                let more = page.next_cursor.is_some();
                let body = if page.items.is_empty() {
                    let message = if query.with(DeviceQuery::is_filtered) {
                        "No devices match these filters"
                    } else {
                        "No devices yet: sensors add the devices they see"
                    };
                    view! { <Empty message=message /> }.into_any()
                } else {
                    view! { <DeviceGrid devices=page.items group=query.with(|q| q.group) counts=counts.value selection sensors zones open /> }.into_any()
                };
                view! { {body}<LoadMore more loading=loading_more on_load=move |_| load_more() /> }.into_any()
            }
        }}
        {move || merging.get().map(|devices| view! {
            <edit::MergeDialog devices on_close=move |_| merging.set(None) on_merged=merged />
        })}
        {move || query.with(|q| q.device.clone()).map(|id| view! {
            <edit::DevicePane id on_close=close_pane on_changed=changed />
        })}
    }
}

const COLUMNS: [&str; 11] = [
    "Name",
    "IP",
    "MAC",
    "Type",
    "Vendor",
    "Site",
    "Zone",
    "Sensor",
    "Authorized",
    "First seen",
    "Last activity",
];

#[component]
fn DeviceGrid(
    devices: Vec<Device>,
    group: Option<DeviceGroupBy>,
    counts: RwSignal<Option<DeviceCounts>>,
    selection: RwSignal<Selection<DeviceId>>,
    sensors: Signal<SensorNames>,
    zones: Signal<ZoneNames>,
    open: Callback<DeviceId>,
) -> impl IntoView {
    let tenant = use_tenant();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let page_ids: Vec<_> = devices.iter().map(|row| row.id.clone()).collect();
    let name_of = move |group: DeviceGroupBy, device: &Device| -> String {
        let text = |value: &Option<shared::model::DisplayName>, none: &str| {
            value
                .as_ref()
                .map_or_else(|| none.to_owned(), ToString::to_string)
        };
        match group {
            DeviceGroupBy::Site => tenant.with_untracked(|t| t.site_name(&device.site_id)),
            DeviceGroupBy::Zone => match &device.zone_id {
                Some(zone) => zones.with_untracked(|z| zone_name(z, Some(zone))),
                None => "No zone".to_owned(),
            },
            DeviceGroupBy::Type => text(&device.device_type, "No type"),
            DeviceGroupBy::Vendor => text(&device.vendor, "No vendor"),
            DeviceGroupBy::Authorized if device.authorized => "Authorized".to_owned(),
            DeviceGroupBy::Authorized => "Not authorized".to_owned(),
        }
    };
    let groups: Vec<(Option<String>, Vec<&Device>)> = match group {
        None => vec![(None, devices.iter().collect())],
        Some(group) => group_by(&devices, |d| name_of(group, d))
            .into_iter()
            .map(|(name, rows)| (Some(name), rows))
            .collect(),
    };
    view! {
        <div class="grid-wrap">
        <table class="grid" id="devices">
            <thead>
                <tr>
                    <PageCheckbox ids=page_ids selection noun="devices" />
                    {COLUMNS.into_iter().map(|name| view! { <th scope="col">{name}</th> }).collect_view()}
                </tr>
            </thead>
            {groups.into_iter().map(|(name, rows)| view! {
                <tbody>
                    {name.zip(group).map(|(name, group)| {
                        let shown = rows.len();
                        let first: Device = rows[0].clone();
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
                    {rows.into_iter().map(|device| view! {
                        <DeviceRow device=device.clone() sub=sub.clone() selection sensors zones open />
                    }).collect_view()}
                </tbody>
            }).collect_view()}
        </table>
        </div>
    }
}

#[component]
fn DeviceRow(
    device: Device,
    sub: SubscriptionId,
    selection: RwSignal<Selection<DeviceId>>,
    sensors: Signal<SensorNames>,
    zones: Signal<ZoneNames>,
    open: Callback<DeviceId>,
) -> impl IntoView {
    let tenant = use_tenant();
    let id = device.id.clone();
    let (id_for_open, id_text) = (id.clone(), id.to_string());
    let label = device_label(&device);
    let site = tenant.with_untracked(|t| t.site_name(&device.site_id));
    let (zone, sensor) = (device.zone_id.clone(), device.sensor_id.clone());
    let text = |value: &Option<shared::model::DisplayName>| {
        value.as_ref().map(ToString::to_string).unwrap_or_default()
    };
    view! {
        <tr class="device" data-device-id=id_text>
            <RowCheckbox id=id.clone() selection label=label.clone() />
            <td class="name">
                <a
                    href=routes::device(&sub, &device.id)
                    on:click=move |event| {
                        event.prevent_default();
                        open.run(id_for_open.clone());
                    }
                >
                    {label.clone()}
                </a>
            </td>
            <td>{device.ip.to_string()}</td>
            <td class="mono">{device.mac.to_string()}</td>
            <td>{text(&device.device_type)}</td>
            <td>{text(&device.vendor)}</td>
            <td>{site}</td>
            <td>{move || zones.with(|z| zone_name(z, zone.as_ref()))}</td>
            <td>{move || sensors.with(|s| sensor_name(s, &sensor))}</td>
            <td>{if device.authorized { "Yes" } else { "No" }}</td>
            <td>{utc(device.first_seen)}</td>
            <td>
                {utc(device.last_activity)}
                {device.is_inactive(crate::pages::sites::now()).then(|| view! { " " <span class="badge">"Inactive"</span> })}
            </td>
        </tr>
    }
}
