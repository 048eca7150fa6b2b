//! One device: its page (`/s/{sub}/devices/{id}`) and the grid's pane
//! (`&device={id}`), with the edit form (`If-Match`, a `412` explained) and Delete.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
use shared::api::{MergeDevices, UpdateDevice};
use shared::authz::Permission;
use shared::model::{Device, DeviceId, DisplayName};

use super::device_label;
use crate::api::{Versioned, devices};
use crate::components::action::Guarded;
use crate::components::dialog::{Confirm, Dialog, Pane};
use crate::components::load::Load;
use crate::components::states::{Denied, loaded};
use crate::components::toast::use_toasts;
use crate::logic::denial::{At, needs};
use crate::routes::{self, Page};
use crate::tenant::use_tenant;
use crate::use_api;

fn device_resource(id: Signal<Option<DeviceId>>) -> Load<Versioned<Device>> {
    crate::pages::load_by_id(id, "device", |api, sub, id| async move {
        devices::get(api, &sub, &id).await
    })
}

#[component]
pub fn DeviceDetails() -> impl IntoView {
    let tenant = use_tenant();
    if let Some(reason) =
        tenant.with_untracked(|t| t.denial(needs(Permission::ViewDevices), &At::AnySite))
    {
        return view! { <h1>"Device"</h1><Denied reason /> }.into_any();
    }
    let params = use_params_map();
    let id = Signal::derive(move || {
        params.with(|p| p.get("id").and_then(|raw| DeviceId::parse(raw).ok()))
    });
    let device = device_resource(id);
    let navigate = use_navigate();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let deleted = Callback::new(move |()| navigate(&Page::Devices.href(&sub), Default::default()));
    view! {
        {move || loaded(device.get(), "the device", move || device.refetch(), |found| view! {
            <h1>{device_label(&found.value)}</h1>
            <DeviceForm device=found on_changed=Callback::new(move |()| device.refetch()) on_deleted=deleted />
        }.into_any())}
    }
    .into_any()
}

#[component]
pub fn DevicePane(
    id: DeviceId,
    #[prop(into)] on_close: Callback<()>,
    #[prop(into)] on_changed: Callback<()>,
) -> impl IntoView {
    let tenant = use_tenant();
    let href = routes::device(&tenant.with_untracked(|t| t.id.clone()), &id);
    let device = device_resource(Signal::derive(move || Some(id.clone())));
    let changed = Callback::new(move |()| {
        device.refetch();
        on_changed.run(());
    });
    let deleted = Callback::new(move |()| {
        on_changed.run(());
        on_close.run(());
    });
    view! {
        <Pane title="Device" on_close>
            {move || loaded(device.get(), "the device", move || device.refetch(), |found| view! {
                <DeviceForm device=found on_changed=changed on_deleted=deleted />
            }.into_any())}
            <a href=href.clone()>"Open device details"</a>
        </Pane>
    }
}

/// The device's name, type, vendor and authorization, saved with the version read;
/// Delete after a confirmation.
#[component]
fn DeviceForm(
    device: Versioned<Device>,
    on_changed: Callback<()>,
    on_deleted: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let Versioned {
        value: device,
        etag,
    } = device;
    let sub = tenant.with_untracked(|t| t.id.clone());
    let at = At::Site(device.site_id.clone());
    let text =
        |value: &Option<DisplayName>| value.as_ref().map(ToString::to_string).unwrap_or_default();
    let name = RwSignal::new(text(&device.name));
    let device_type = RwSignal::new(text(&device.device_type));
    let vendor = RwSignal::new(text(&device.vendor));
    let authorized = RwSignal::new(device.authorized);
    let error = RwSignal::new(None::<String>);
    let stale = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let label = device_label(&device);
    let id = device.id.clone();

    let save = {
        let (sub, id, etag) = (sub.clone(), id.clone(), etag.clone());
        move || {
            // Every field is checked by the same rule the server applies.
            let parse = |field: &str, raw: String| -> Result<Option<DisplayName>, String> {
                let raw = raw.trim();
                if raw.is_empty() {
                    return Ok(None);
                }
                DisplayName::parse(raw)
                    .map(Some)
                    .map_err(|e| format!("{field}: {e}"))
            };
            let request = match (
                parse("Name", name.get_untracked()),
                parse("Type", device_type.get_untracked()),
                parse("Vendor", vendor.get_untracked()),
            ) {
                (Ok(name), Ok(device_type), Ok(vendor)) => UpdateDevice {
                    name,
                    device_type,
                    vendor,
                    authorized: Some(authorized.get_untracked()),
                },
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    error.set(Some(e));
                    return;
                }
            };
            error.set(None);
            busy.set(true);
            let (sub, id, etag) = (sub.clone(), id.clone(), etag.clone());
            leptos::task::spawn_local(async move {
                match devices::update(api, &sub, &id, &request, etag.as_deref()).await {
                    Ok(_) => {
                        toasts.info("Device saved");
                        on_changed.run(());
                    }
                    Err(e) if e.is_stale() => stale.set(true),
                    Err(e) => error.set(Some(e.to_string())),
                }
                busy.set(false);
            });
        }
    };
    let delete = move || {
        let (sub, id, etag) = (sub.clone(), id.clone(), etag.clone());
        busy.set(true);
        leptos::task::spawn_local(async move {
            match devices::delete(api, &sub, &id, etag.as_deref()).await {
                Ok(()) => {
                    toasts.info("Device deleted");
                    on_deleted.run(());
                }
                Err(e) if e.is_stale() => stale.set(true),
                Err(e) => toasts.error(format!("Could not delete the device: {e}")),
            }
            confirming.set(false);
            busy.set(false);
        });
    };
    let working = Signal::derive(move || busy.get().then(|| "Saving…".to_owned()));
    let field = move |id: &'static str, label: &'static str, value: RwSignal<String>| {
        view! {
            <label for=id>{label}</label>
            <input id=id type="text" prop:value=move || value.get() on:input=move |e| value.set(event_target_value(&e)) />
        }
    };

    view! {
        <form class="form" on:submit=|e| e.prevent_default()>
            {field("device-name", "Name", name)}
            {field("device-type", "Type", device_type)}
            {field("device-vendor", "Vendor", vendor)}
            <label class="check">
                <input id="device-authorized" type="checkbox" prop:checked=move || authorized.get() on:change=move |e| authorized.set(event_target_checked(&e)) />
                "Authorized"
            </label>
            <p class="hint">{format!("{} · {} · seen by sensor {}", device.ip, device.mac, device.sensor_id)}</p>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || stale.get().then(|| view! {
                <div class="state error" role="alert" id="stale-device">
                    <p>"This device changed elsewhere since it was opened: reload it before saving."</p>
                    <button type="button" on:click=move |_| on_changed.run(())>"Reload"</button>
                </div>
            })}
            <div class="buttons">
                <Guarded label="Save" needs=needs(Permission::ManageDevices) at=at.clone() blocked=working on_click=move |_| save() />
                <Guarded label="Delete" class="danger" needs=needs(Permission::ManageDevices) at=at on_click=move |_| confirming.set(true) />
            </div>
        </form>
        {move || confirming.get().then(|| {
            let delete = delete.clone();
            view! {
                <Confirm
                    title="Delete device"
                    message=format!("Delete {label} from the inventory? Sensors add it again if they see it.")
                    confirm="Delete"
                    busy=busy
                    on_confirm=move |_| delete()
                    on_close=move |_| confirming.set(false)
                />
            }
        })}
    }
}

/// Merging ticked devices: which one survives, then one request.
#[component]
pub fn MergeDialog(
    devices: Vec<Device>,
    #[prop(into)] on_close: Callback<()>,
    #[prop(into)] on_merged: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let survivor = RwSignal::new(devices[0].id.clone());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let ids: Vec<DeviceId> = devices.iter().map(|d| d.id.clone()).collect();
    let merge = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let request = MergeDevices {
            device_ids: ids.clone(),
            survivor_id: survivor.get_untracked(),
            name: None,
            device_type: None,
            vendor: None,
            authorized: None,
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match devices::merge(api, &sub, &request).await {
                Ok(kept) => {
                    toasts.info(format!("Merged into {}", device_label(&kept)));
                    on_merged.run(());
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <Dialog title="Merge devices" on_close>
            <p>"The device you keep takes the others' addresses: later observations of them update it."</p>
            <fieldset class="checklist">
                <legend>"Keep"</legend>
                {devices.into_iter().map(|device| {
                    let id = device.id.clone();
                    let id_for_change = id.clone();
                    view! {
                        <label class="check">
                            <input
                                type="radio"
                                name="survivor"
                                value=id.to_string()
                                prop:checked=move || survivor.get() == id
                                on:change=move |_| survivor.set(id_for_change.clone())
                            />
                            {format!("{} ({} · {})", device_label(&device), device.ip, device.mac)}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <div class="buttons">
                <button type="button" disabled=move || busy.get() on:click=move |_| merge()>"Merge"</button>
                <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
        </Dialog>
    }
}
