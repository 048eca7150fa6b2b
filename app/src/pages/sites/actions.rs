//! The actions on one sensor, from its row menu or its details page: edit zone,
//! automatic TI, download activation file, an Enterprise IoT sensor's activation
//! command, sensor settings, preparing a legacy sensor for 22.x, sending diagnostics,
//! reactivate, delete, recover its password.

use leptos::prelude::*;

use crate::components::load::Load;
use shared::api::{RecoverConsolePassword, SecretIdentifier, Sensor, UpdateSensor};
use shared::authz::Permission;
use shared::model::{
    SensorSettings, SensorType, TiMode, ZoneId, diagnostics_upload_allowed, legacy_update_allowed,
};

use crate::api::sensors::NewActivation;
use crate::api::{ApiError, sensors, sites};
use crate::components::action::Guarded;
use crate::components::dialog::{Confirm, Dialog, Menu};
use crate::components::states::loaded;
use crate::components::toast::use_toasts;
use crate::logic::denial::{At, needs};
use crate::logic::diagnostics::{archive_summary, picked_file};
use crate::logic::sensor_settings::SettingsDraft;
use crate::tenant::use_tenant;
use crate::use_api;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    EditZone,
    Reactivate,
    Delete,
    RecoverPassword,
    ActivationCommand,
    Settings,
    PrepareUpdate,
    Diagnostics,
}

#[component]
pub fn SensorActions(
    sensor: Sensor,
    /// In a row's menu, or laid out as a toolbar (details page).
    in_menu: bool,
    #[prop(into)] on_changed: Callback<()>,
    #[prop(optional, into)] on_deleted: Option<Callback<()>>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let open = RwSignal::new(None::<Open>);
    let busy = RwSignal::new(false);
    let sensor = StoredValue::new(sensor);
    let is_ot = sensor.with_value(|s| s.sensor_type.is_ot());
    let sub = move || tenant.with_untracked(|t| t.id.clone());
    let ot_only = Signal::derive(move || (!is_ot).then(|| "Only OT sensors".to_owned()));
    let eiot_only = Signal::derive(move || {
        is_ot.then(|| {
            "Only Enterprise IoT sensors: an OT sensor takes its activation file".to_owned()
        })
    });
    let cloud_connected = sensor.with_value(|s| s.sensor_type == SensorType::OtCloudConnected);
    let automatic_only = Signal::derive(move || {
        (!cloud_connected)
            .then(|| "Only OT cloud-connected sensors update automatically".to_owned())
    });
    let not_legacy = Signal::derive(move || {
        sensor.with_value(|s| {
            legacy_update_allowed(s.sensor_type, s.version.as_ref())
                .err()
                .map(|why| why.to_string())
        })
    });
    let locally_managed_only = Signal::derive(move || {
        sensor.with_value(|s| {
            diagnostics_upload_allowed(s.sensor_type)
                .err()
                .map(|why| why.to_string())
        })
    });
    let settings_only = Signal::derive(move || {
        (!cloud_connected).then(|| {
            "Only OT cloud-connected sensors take settings from here; set others on the sensor"
                .to_owned()
        })
    });

    let toggle_ti = move || {
        let (id, mode) = sensor.with_value(|s| (s.id.clone(), s.ti_mode));
        let next = match mode {
            Some(TiMode::Automatic) => TiMode::Manual,
            _ => TiMode::Automatic,
        };
        let sub = sub();
        leptos::task::spawn_local(async move {
            let request = UpdateSensor {
                ti_mode: Some(next),
                ..Default::default()
            };
            match sensors::update(api, &sub, &id, &request).await {
                Ok(_) => {
                    toasts.info(match next {
                        TiMode::Automatic => "Automatic threat intelligence updates are on",
                        TiMode::Manual => "Automatic threat intelligence updates are off",
                    });
                    on_changed.run(());
                }
                Err(error) => toasts.error(format!("Could not change TI mode: {error}")),
            }
        });
    };
    let download = move || {
        let (id, name) = sensor.with_value(|s| (s.id.clone(), s.name.to_string()));
        let sub = sub();
        leptos::task::spawn_local(async move {
            if let Err(error) = sensors::download_activation_file(api, &sub, &id, &name).await {
                toasts.error(format!("Could not download the activation file: {error}"));
            }
        });
    };
    // A new activation file, downloaded at once: the current one stops working.
    let renew = move |why: NewActivation| {
        let (id, name) = sensor.with_value(|s| (s.id.clone(), s.name.to_string()));
        let sub = sub();
        busy.set(true);
        leptos::task::spawn_local(async move {
            match sensors::new_activation(api, &sub, &id, why).await {
                Ok(file) => {
                    let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
                    let saved = crate::components::download::save(
                        &bytes,
                        "application/json",
                        &format!("{}-activation.json", name.replace(' ', "-")),
                    );
                    match saved {
                        Ok(()) => toasts.info(match why {
                            NewActivation::Reactivate => format!(
                                "{name} reactivated: its old activation file no longer works"
                            ),
                            NewActivation::PrepareLegacyUpdate => format!(
                                "{name} is prepared: update it to 22.x, then upload the downloaded activation file"
                            ),
                        }),
                        Err(error) => toasts.error(error),
                    }
                    open.set(None);
                    on_changed.run(());
                }
                Err(error) => toasts.error(format!(
                    "Could not issue a new activation file for {name}: {error}"
                )),
            }
            busy.set(false);
        });
    };
    let delete = move || {
        let (id, name) = sensor.with_value(|s| (s.id.clone(), s.name.to_string()));
        let sub = sub();
        busy.set(true);
        leptos::task::spawn_local(async move {
            match sensors::delete(api, &sub, &id).await {
                Ok(()) => {
                    toasts.info(format!("{name} deleted"));
                    open.set(None);
                    match on_deleted {
                        Some(deleted) => deleted.run(()),
                        None => on_changed.run(()),
                    }
                }
                Err(error) => toasts.error(format!("Could not delete {name}: {error}")),
            }
            busy.set(false);
        });
    };

    let save_settings = Callback::new(move |settings: SensorSettings| {
        let (id, name) = sensor.with_value(|s| (s.id.clone(), s.name.to_string()));
        let sub = sub();
        leptos::task::spawn_local(async move {
            match sensors::define_settings(api, &sub, &id, &settings).await {
                Ok(()) => {
                    toasts.info(format!(
                        "Settings saved: {name} applies them at its next heartbeat"
                    ));
                    open.set(None);
                    on_changed.run(());
                }
                Err(error) => {
                    toasts.error(format!("Could not save the settings of {name}: {error}"))
                }
            }
        });
    });

    let modify = needs(Permission::ModifySitesAndSensors);
    let ti_label = sensor.with_value(|s| match s.ti_mode {
        Some(TiMode::Automatic) => "Turn off automatic TI",
        _ => "Turn on automatic TI",
    });
    let buttons = move || {
        view! {
            <Guarded label="Edit zone" menu_item=in_menu needs=modify at=At::Subscription on_click=move |_| open.set(Some(Open::EditZone)) />
            <Guarded label=ti_label menu_item=in_menu needs=modify at=At::Subscription blocked=automatic_only on_click=move |_| toggle_ti() />
            <Guarded label="Download activation file" menu_item=in_menu needs=needs(Permission::DownloadActivationFiles) at=At::Subscription on_click=move |_| download() />
            <Guarded label="Create activation command" menu_item=in_menu needs=needs(Permission::DownloadActivationFiles) at=At::Subscription blocked=eiot_only on_click=move |_| open.set(Some(Open::ActivationCommand)) />
            <Guarded label="Sensor settings" menu_item=in_menu needs=modify at=At::Subscription blocked=settings_only on_click=move |_| open.set(Some(Open::Settings)) />
            <Guarded label="Prepare for 22.x update" menu_item=in_menu needs=modify at=At::Subscription blocked=not_legacy on_click=move |_| open.set(Some(Open::PrepareUpdate)) />
            <Guarded label="Send diagnostics" menu_item=in_menu needs=modify at=At::Subscription blocked=locally_managed_only on_click=move |_| open.set(Some(Open::Diagnostics)) />
            <Guarded label="Reactivate" menu_item=in_menu needs=modify at=At::Subscription on_click=move |_| open.set(Some(Open::Reactivate)) />
            <Guarded label="Recover sensor password" menu_item=in_menu needs=needs(Permission::RecoverConsolePasswords) at=At::Subscription blocked=ot_only on_click=move |_| open.set(Some(Open::RecoverPassword)) />
            <Guarded label="Delete" class="danger" menu_item=in_menu needs=modify at=At::Subscription on_click=move |_| open.set(Some(Open::Delete)) />
        }
    };
    let name = sensor.with_value(|s| s.name.to_string());
    let close = Callback::new(move |()| open.set(None));
    view! {
        {if in_menu {
            view! { <Menu label="Actions">{buttons()}</Menu> }.into_any()
        } else {
            view! { <div class="toolbar" role="toolbar" aria-label="Sensor actions">{buttons()}</div> }.into_any()
        }}
        {move || open.get().map(|which| match which {
            Open::EditZone => view! { <EditZoneDialog sensor=sensor.get_value() on_close=close on_changed /> }.into_any(),
            Open::RecoverPassword => view! { <RecoverPasswordDialog sensor=Some(sensor.get_value()) on_close=close /> }.into_any(),
            Open::ActivationCommand => view! { <ActivationCommandDialog sensor=sensor.get_value() on_close=close /> }.into_any(),
            Open::Settings => {
                let initial = sensor.with_value(|s| s.settings.as_ref().map(|d| d.settings.clone()).unwrap_or_default());
                view! { <SettingsDialog title=format!("Settings of {name}") initial on_save=save_settings on_close=close /> }.into_any()
            }
            Open::Diagnostics => view! { <DiagnosticsDialog sensor=sensor.get_value() on_close=close on_changed /> }.into_any(),
            Open::Reactivate => view! {
                <Confirm
                    title=format!("Reactivate {name}")
                    message="A new activation file is issued and downloaded; the current one stops working at once. Upload the new file to the sensor."
                    confirm="Reactivate"
                    on_confirm=move |_| renew(NewActivation::Reactivate)
                    on_close=close
                    busy=busy
                />
            }
                .into_any(),
            Open::PrepareUpdate => view! {
                <Confirm
                    title=format!("Prepare {name} for the 22.x update")
                    message="A new activation file is issued and downloaded; the current one stops working at once, so the sensor stays disconnected until it runs 22.x and has the new file uploaded."
                    confirm="Prepare"
                    on_confirm=move |_| renew(NewActivation::PrepareLegacyUpdate)
                    on_close=close
                    busy=busy
                />
            }
                .into_any(),
            Open::Delete => view! {
                <Confirm
                    title=format!("Delete {name}")
                    message="The sensor is removed and its activation file stops working. Its alerts and devices stay as history."
                    confirm="Delete"
                    on_confirm=move |_| delete()
                    on_close=close
                    busy=busy
                />
            }
                .into_any(),
        })}
    }
}

#[component]
fn EditZoneDialog(
    sensor: Sensor,
    #[prop(into)] on_close: Callback<()>,
    #[prop(into)] on_changed: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let site = sensor.site_id.clone();
    let zones = {
        let sub = sub.clone();
        Load::new(move || {
            let (sub, site) = (sub.clone(), site.clone());
            async move { sites::zones(api, &sub, &site).await }
        })
    };
    let chosen = RwSignal::new(
        sensor
            .zone_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<String>);
    let id = sensor.id.clone();
    let save = move |_| {
        let Ok(zone) = ZoneId::parse(chosen.get_untracked()) else {
            error.set(Some("Choose a zone.".into()));
            return;
        };
        let (sub, id) = (sub.clone(), id.clone());
        leptos::task::spawn_local(async move {
            let request = UpdateSensor {
                zone_id: Some(zone),
                ..Default::default()
            };
            match sensors::update(api, &sub, &id, &request).await {
                Ok(_) => {
                    toasts.info("Zone changed");
                    on_changed.run(());
                    on_close.run(());
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <Dialog title=format!("Edit zone of {}", sensor.name) on_close>
            {move || match zones.get() {
                None => view! { <p class="state loading">"Loading zones…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{format!("Could not load zones: {e}")}</p> }.into_any(),
                Some(Ok(zones)) if zones.is_empty() => view! {
                    <p class="state empty">"This site has no zones yet: add one in the Edit site pane."</p>
                }
                    .into_any(),
                Some(Ok(zones)) => view! {
                    <label for="zone-choice">"Zone"</label>
                    <select id="zone-choice" on:change=move |e| chosen.set(event_target_value(&e))>
                        <option value="">"Choose a zone"</option>
                        {zones.into_iter().map(|z| {
                            let value = z.id.to_string();
                            let selected = value == chosen.get_untracked();
                            view! { <option value=value selected=selected>{z.name.to_string()}</option> }
                        }).collect_view()}
                    </select>
                }
                    .into_any(),
            }}
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <div class="buttons">
                <button type="button" on:click=save>"Save"</button>
                <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
        </Dialog>
    }
}

/// Recovers the password of the on-premises management console, or of one sensor's
/// console: the user types the secret identifier the console shows.
#[component]
pub fn RecoverPasswordDialog(
    sensor: Option<Sensor>,
    #[prop(into)] on_close: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let secret = RwSignal::new(String::new());
    let result = RwSignal::new(None::<Result<String, String>>);
    let title = match &sensor {
        Some(sensor) => format!("Recover the password of {}", sensor.name),
        None => "Recover console password".to_owned(),
    };
    let sensor_id = sensor.map(|s| s.id);
    let submit = move |_| {
        let identifier = match SecretIdentifier::parse(secret.get_untracked().trim()) {
            Ok(identifier) => identifier,
            Err(problem) => {
                result.set(Some(Err(format!("Secret identifier {problem}."))));
                return;
            }
        };
        let request = RecoverConsolePassword {
            secret_identifier: identifier,
            sensor_id: sensor_id.clone(),
        };
        let sub = tenant.with_untracked(|t| t.id.clone());
        leptos::task::spawn_local(async move {
            let answer = sensors::recover_console_password(api, &sub, &request).await;
            result.set(Some(
                answer
                    .map(|code| code.recovery_code)
                    .map_err(|e: ApiError| e.to_string()),
            ));
        });
    };
    view! {
        <Dialog title on_close>
            <label for="secret-identifier">"Secret identifier"</label>
            <input id="secret-identifier" type="text" prop:value=secret on:input=move |e| secret.set(event_target_value(&e)) />
            <p class="hint">"Shown on the console's sign-in screen after \"Password recovery\"."</p>
            {move || result.get().map(|r| match r {
                Ok(code) => view! { <p class="success" role="status">"Recovery code: "<code id="recovery-code">{code}</code></p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            })}
            <div class="buttons">
                <button type="button" on:click=submit>"Recover"</button>
                <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Close"</button>
            </div>
        </Dialog>
    }
}

/// An Enterprise IoT sensor's activation command, to paste on its machine, with Copy.
#[component]
fn ActivationCommandDialog(sensor: Sensor, #[prop(into)] on_close: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let id = sensor.id.clone();
    let command = Load::new(move || {
        let (sub, id) = (sub.clone(), id.clone());
        async move { sensors::activation_command(api, &sub, &id).await }
    });
    let copy = move || {
        if let Some(Ok(text)) = command.get_untracked() {
            // A refusal (no clipboard permission) leaves the command on screen to copy.
            let _ = window().navigator().clipboard().write_text(&text);
            toasts.info("Command copied");
        }
    };
    view! {
        <Dialog title=format!("Activation command for {}", sensor.name) on_close>
            <p class="hint">"Run it on the machine that becomes the sensor, with the Enterprise IoT sensor software installed. It carries the sensor's token: treat it as a secret."</p>
            {move || loaded(command.get(), "the activation command", move || command.refetch(), |text| view! {
                <code class="secret" id="activation-command">{text}</code>
            }.into_any())}
            <div class="buttons">
                <button type="button" on:click=move |_| copy()>"Copy"</button>
                <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Close"</button>
            </div>
        </Dialog>
    }
}

/// The settings form, for one sensor or the selected ones: a bandwidth cap, subnets and
/// VLAN names; `on_save` gets the request once the form is valid.
#[component]
pub fn SettingsDialog(
    #[prop(into)] title: String,
    initial: SensorSettings,
    #[prop(into)] on_save: Callback<SensorSettings>,
    #[prop(into)] on_close: Callback<()>,
) -> impl IntoView {
    let start = SettingsDraft::from_settings(&initial);
    let draft = RwSignal::new(start.clone());
    let error = RwSignal::new(None::<String>);
    let save = move |_| match draft.with_untracked(SettingsDraft::to_settings) {
        Ok(settings) => on_save.run(settings),
        Err(problem) => error.set(Some(problem)),
    };
    view! {
        <Dialog title on_close>
            <p class="hint">"Sent to the sensor with its next heartbeat; its details show when it applied them, or why it could not."</p>
            <label for="settings-cap">"Bandwidth cap (Kbps)"</label>
            <input id="settings-cap" type="text" inputmode="numeric" placeholder="No cap" prop:value=start.cap on:input=move |e| draft.update(|d| d.cap = event_target_value(&e)) />
            <label for="settings-subnets">"Subnets (one per line, e.g. 10.1.0.0/16)"</label>
            <textarea id="settings-subnets" rows="4" prop:value=start.subnets on:input=move |e| draft.update(|d| d.subnets = event_target_value(&e))></textarea>
            <label for="settings-vlans">"VLAN names (one per line: id, then name)"</label>
            <textarea id="settings-vlans" rows="4" prop:value=start.vlans on:input=move |e| draft.update(|d| d.vlans = event_target_value(&e))></textarea>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <div class="buttons">
                <button type="button" on:click=save>"Save settings"</button>
                <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
        </Dialog>
    }
}

/// Sends a locally managed sensor's diagnostics archive (saved from the sensor's own
/// console) for support, and downloads the one sent last.
#[component]
fn DiagnosticsDialog(
    sensor: Sensor,
    #[prop(into)] on_close: Callback<()>,
    #[prop(into)] on_changed: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let sub = StoredValue::new(tenant.with_untracked(|t| t.id.clone()));
    let (id, name) = (StoredValue::new(sensor.id.clone()), sensor.name.to_string());
    let file_input = NodeRef::<leptos::html::Input>::new();
    // What the form shows of the picked file, and why it cannot be sent.
    let picked = RwSignal::new(None::<(String, Option<String>)>);
    let sending = RwSignal::new(false);
    let chosen = move || {
        file_input
            .get_untracked()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
    };
    let on_pick = move |_| {
        picked.set(chosen().map(|file| picked_file(&file.name(), file.size() as u64)));
    };
    let sender = name.clone();
    let send = move |_| {
        let Some(file) = chosen() else {
            picked.set(Some((
                String::new(),
                Some("Choose the archive first".into()),
            )));
            return;
        };
        if picked.with_untracked(|p| p.as_ref().is_some_and(|(_, problem)| problem.is_some())) {
            return;
        }
        let name = sender.clone();
        sending.set(true);
        leptos::task::spawn_local(async move {
            let (sub, id) = (sub.get_value(), id.get_value());
            match sensors::send_diagnostics(api, &sub, &id, file).await {
                Ok(()) => {
                    toasts.info(format!("Diagnostics of {name} sent for support"));
                    on_changed.run(());
                    on_close.run(());
                }
                Err(error) => {
                    toasts.error(format!("Could not send the diagnostics of {name}: {error}"))
                }
            }
            sending.set(false);
        });
    };
    let last = sensor.diagnostics.clone();
    let download = {
        let name = name.clone();
        move |_| {
            let name = name.clone();
            leptos::task::spawn_local(async move {
                let (sub, id) = (sub.get_value(), id.get_value());
                if let Err(error) = sensors::download_diagnostics(api, &sub, &id, &name).await {
                    toasts.error(format!("Could not download the diagnostics: {error}"));
                }
            });
        }
    };
    view! {
        <Dialog title=format!("Send diagnostics of {name}") on_close>
            <p class="hint">"Choose the diagnostics archive saved from the sensor's console (at most 1 MiB). It is kept with the sensor for support; a new one replaces it."</p>
            <label for="diagnostics-file">"Diagnostics archive"</label>
            <input id="diagnostics-file" type="file" node_ref=file_input on:change=on_pick />
            {move || picked.get().map(|(shown, problem)| match problem {
                Some(problem) => view! { <p class="error" role="alert">{problem}</p> }.into_any(),
                None => view! { <p class="hint">{shown}</p> }.into_any(),
            })}
            <p class="diagnostics-last">"Last sent: "{archive_summary(last.as_ref())}</p>
            <div class="buttons">
                <button type="button" on:click=send disabled=move || sending.get()>
                    {move || if sending.get() { "Sending…" } else { "Send" }}
                </button>
                {last.is_some().then(|| view! { <button type="button" class="secondary" on:click=download.clone()>"Download last archive"</button> })}
                <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Close"</button>
            </div>
        </Dialog>
    }
}
