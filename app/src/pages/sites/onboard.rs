//! The onboarding wizard: the sensor, then its site and zone (picked or created), then
//! onboarding and the activation file's download.

use leptos::prelude::*;

use crate::components::load::Load;
use shared::api::{ActivationFile, CreateSensor, CreateSite, CreateZone};
use shared::model::{DisplayName, SensorType, SiteId, SitePlacement, ZoneId};

use super::{SENSOR_TYPES, type_name};
use crate::api::{ApiError, sensors, sites};
use crate::components::dialog::Pane;
use crate::components::download;
use crate::components::toast::use_toasts;
use crate::logic::query::parse_enum;
use crate::tenant::{use_tenant, use_tenant_context};
use crate::use_api;

/// A choice of existing item, a new one by name, or (zones only) none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick<Id> {
    None,
    Existing(Id),
    New(String),
}

/// The wizard's answers, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardForm {
    pub name: String,
    pub sensor_type: SensorType,
    pub site: Pick<SiteId>,
    pub zone: Pick<ZoneId>,
}

impl Default for OnboardForm {
    fn default() -> Self {
        OnboardForm {
            name: String::new(),
            sensor_type: SensorType::OtCloudConnected,
            site: Pick::None,
            zone: Pick::None,
        }
    }
}

impl OnboardForm {
    /// Step 1's answer, checked by `shared`'s rule.
    pub fn sensor_name(&self) -> Result<DisplayName, String> {
        DisplayName::parse(self.name.trim()).map_err(|e| format!("Sensor name {e}."))
    }

    /// Step 2's answers: an OT sensor needs a site; a new site or zone needs a name.
    pub fn check_placement(&self) -> Result<(), String> {
        if !self.sensor_type.is_ot() {
            return Ok(());
        }
        match &self.site {
            Pick::None => return Err("Choose a site or create one.".into()),
            Pick::New(name) => {
                DisplayName::parse(name.trim()).map_err(|e| format!("Site name {e}."))?;
            }
            Pick::Existing(_) => {}
        }
        if let Pick::New(name) = &self.zone {
            DisplayName::parse(name.trim()).map_err(|e| format!("Zone name {e}."))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Sensor,
    Placement,
    Activate,
}

#[component]
pub fn OnboardPane(
    #[prop(into)] on_close: Callback<()>,
    #[prop(into)] on_onboarded: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let context = use_tenant_context();
    let toasts = use_toasts();
    let form = RwSignal::new(OnboardForm::default());
    let step = RwSignal::new(Step::Sensor);
    let problem = RwSignal::new(None::<String>);
    let working = RwSignal::new(false);
    let done = RwSignal::new(None::<(String, ActivationFile)>);

    let next = move |_| {
        let checked = match step.get_untracked() {
            Step::Sensor => form.with_untracked(OnboardForm::sensor_name).map(|_| ()),
            Step::Placement => form.with_untracked(OnboardForm::check_placement),
            Step::Activate => Ok(()),
        };
        match checked {
            Err(message) => problem.set(Some(message)),
            Ok(()) => {
                problem.set(None);
                step.update(|s| {
                    *s = match *s {
                        Step::Sensor if form.with_untracked(|f| !f.sensor_type.is_ot()) => {
                            Step::Activate
                        }
                        Step::Sensor => Step::Placement,
                        _ => Step::Activate,
                    }
                });
            }
        }
    };
    let onboard = move |_| {
        let answers = form.get_untracked();
        let sub = tenant.with_untracked(|t| t.id.clone());
        working.set(true);
        problem.set(None);
        leptos::task::spawn_local(async move {
            let outcome: Result<_, ApiError> = async {
                let name = answers.sensor_name().map_err(ApiError::Network)?;
                let (placement, zone_id) = if answers.sensor_type.is_ot() {
                    let site = match &answers.site {
                        Pick::Existing(site) => site.clone(),
                        Pick::New(site_name) => {
                            let display_name = DisplayName::parse(site_name.trim())
                                .map_err(|e| ApiError::Network(e.to_string()))?;
                            let created = sites::create(
                                api,
                                &sub,
                                &CreateSite {
                                    display_name,
                                    tags: Default::default(),
                                    owners: Default::default(),
                                },
                            )
                            .await?;
                            context.reload_sites();
                            created.id
                        }
                        Pick::None => return Err(ApiError::Network("no site chosen".into())),
                    };
                    let zone = match &answers.zone {
                        Pick::Existing(zone) => Some(zone.clone()),
                        Pick::New(zone_name) => {
                            let name = DisplayName::parse(zone_name.trim())
                                .map_err(|e| ApiError::Network(e.to_string()))?;
                            Some(
                                sites::create_zone(api, &sub, &site, &CreateZone { name })
                                    .await?
                                    .id,
                            )
                        }
                        Pick::None => None,
                    };
                    (SitePlacement::Site(site), zone)
                } else {
                    (SitePlacement::EnterpriseNetwork, None)
                };
                let request = CreateSensor {
                    name,
                    sensor_type: answers.sensor_type,
                    placement,
                    zone_id,
                };
                sensors::onboard(api, &sub, &request).await
            }
            .await;
            match outcome {
                Ok(onboarded) => {
                    toasts.info(format!("{} onboarded", onboarded.sensor.name));
                    if !answers.sensor_type.is_ot() {
                        context.reload_sites();
                    }
                    done.set(Some((
                        onboarded.sensor.name.to_string(),
                        onboarded.activation_file,
                    )));
                    on_onboarded.run(());
                }
                Err(error) => problem.set(Some(error.to_string())),
            }
            working.set(false);
        });
    };
    let save_file = move |_| {
        if let Some((name, file)) = done.get_untracked() {
            let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
            if let Err(error) = download::save(
                &bytes,
                "application/json",
                &format!("{}-activation.json", name.replace(' ', "-")),
            ) {
                toasts.error(error);
            }
        }
    };

    view! {
        <Pane title="Onboard sensor" on_close>
            <ol class="steps">
                <li aria-current=move || (step.get() == Step::Sensor).then_some("step")>"Sensor"</li>
                <li aria-current=move || (step.get() == Step::Placement).then_some("step")>"Site and zone"</li>
                <li aria-current=move || (step.get() == Step::Activate).then_some("step")>"Activate"</li>
            </ol>
            {move || match (done.get(), step.get()) {
                (Some((name, _)), _) => view! {
                    <div class="success" role="status">
                        <p>{format!("{name} is onboarded. Download its activation file and upload it to the sensor.")}</p>
                        <button type="button" on:click=save_file>"Download activation file"</button>
                    </div>
                }
                    .into_any(),
                (None, Step::Sensor) => view! { <SensorStep form /> }.into_any(),
                (None, Step::Placement) => view! { <PlacementStep form /> }.into_any(),
                (None, Step::Activate) => view! { <Review form /> }.into_any(),
            }}
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <div class="buttons">
                {move || match (done.get().is_some(), step.get()) {
                    (true, _) => view! { <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Close"</button> }.into_any(),
                    (false, Step::Activate) => view! {
                        <button type="button" disabled=move || working.get() on:click=onboard>
                            {move || if working.get() { "Onboarding…" } else { "Onboard" }}
                        </button>
                    }
                        .into_any(),
                    (false, _) => view! { <button type="button" on:click=next>"Next"</button> }.into_any(),
                }}
            </div>
        </Pane>
    }
}

#[component]
fn SensorStep(form: RwSignal<OnboardForm>) -> impl IntoView {
    view! {
        <div class="stack">
            <label for="onboard-name">"Sensor name"</label>
            <input id="onboard-name" type="text" prop:value=move || form.with(|f| f.name.clone()) on:input=move |e| form.update(|f| f.name = event_target_value(&e)) />
            <label for="onboard-type">"Sensor type"</label>
            <select id="onboard-type" on:change=move |e| {
                if let Some(kind) = parse_enum::<SensorType>(&event_target_value(&e)) {
                    form.update(|f| f.sensor_type = kind);
                }
            }>
                {SENSOR_TYPES.into_iter().map(|kind| {
                    let selected = form.with_untracked(|f| f.sensor_type == kind);
                    view! { <option value=kind.as_str() selected=selected>{type_name(kind)}</option> }
                }).collect_view()}
            </select>
            <p class="hint">"Enterprise IoT sensors all join the site named \"Enterprise network\"."</p>
        </div>
    }
}

#[component]
fn PlacementStep(form: RwSignal<OnboardForm>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let site_choice = move || match form.with(|f| f.site.clone()) {
        Pick::Existing(site) => site.to_string(),
        Pick::New(_) => "new".to_owned(),
        Pick::None => String::new(),
    };
    let zones = Load::new(move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let site = match form.with(|f| f.site.clone()) {
            Pick::Existing(site) => Some(site),
            _ => None,
        };
        async move {
            match site {
                Some(site) => sites::zones(api, &sub, &site).await,
                None => Ok(Vec::new()),
            }
        }
    });
    view! {
        <div class="stack">
            <label for="onboard-site">"Site"</label>
            <select id="onboard-site" prop:value=site_choice on:change=move |e| {
                let value = event_target_value(&e);
                form.update(|f| {
                    f.zone = Pick::None;
                    f.site = match value.as_str() {
                        "" => Pick::None,
                        "new" => Pick::New(String::new()),
                        id => SiteId::parse(id).map(Pick::Existing).unwrap_or(Pick::None),
                    };
                });
            }>
                <option value="">"Choose a site"</option>
                {move || tenant.with(|t| t.sites.iter().map(|s| view! { <option value=s.id.to_string()>{s.display_name.to_string()}</option> }).collect_view())}
                <option value="new">"Create a new site"</option>
            </select>
            {move || matches!(form.with(|f| f.site.clone()), Pick::New(_)).then(|| view! {
                <label for="onboard-new-site">"New site name"</label>
                <input id="onboard-new-site" type="text" on:input=move |e| form.update(|f| f.site = Pick::New(event_target_value(&e))) />
            })}
            <label for="onboard-zone">"Zone"</label>
            <select id="onboard-zone" on:change=move |e| {
                let value = event_target_value(&e);
                form.update(|f| {
                    f.zone = match value.as_str() {
                        "" => Pick::None,
                        "new" => Pick::New(String::new()),
                        id => ZoneId::parse(id).map(Pick::Existing).unwrap_or(Pick::None),
                    };
                });
            }>
                <option value="">"No zone"</option>
                {move || zones.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|z| view! { <option value=z.id.to_string()>{z.name.to_string()}</option> }).collect_view()}
                <option value="new">"Create a new zone"</option>
            </select>
            {move || matches!(form.with(|f| f.zone.clone()), Pick::New(_)).then(|| view! {
                <label for="onboard-new-zone">"New zone name"</label>
                <input id="onboard-new-zone" type="text" on:input=move |e| form.update(|f| f.zone = Pick::New(event_target_value(&e))) />
            })}
        </div>
    }
}

#[component]
fn Review(form: RwSignal<OnboardForm>) -> impl IntoView {
    let tenant = use_tenant();
    let answers = form.get_untracked();
    let site = match &answers.site {
        _ if !answers.sensor_type.is_ot() => "Enterprise network".to_owned(),
        Pick::Existing(site) => tenant.with_untracked(|t| t.site_name(site)),
        Pick::New(name) => format!("{name} (new)"),
        Pick::None => String::new(),
    };
    let zone = match &answers.zone {
        Pick::None => "None".to_owned(),
        Pick::Existing(_) => "Existing zone".to_owned(),
        Pick::New(name) => format!("{name} (new)"),
    };
    view! {
        <dl class="facts">
            <dt>"Sensor name"</dt><dd>{answers.name.clone()}</dd>
            <dt>"Sensor type"</dt><dd>{type_name(answers.sensor_type)}</dd>
            <dt>"Site"</dt><dd>{site}</dd>
            <dt>"Zone"</dt><dd>{zone}</dd>
        </dl>
        <p class="hint">"Onboarding needs no live plan. The activation file holds the sensor's credential: keep it safe."</p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ot_sensor_needs_a_site_and_names_for_new_things() {
        let mut form = OnboardForm {
            name: "pump-1".into(),
            ..Default::default()
        };
        assert!(form.sensor_name().is_ok());
        assert_eq!(
            form.check_placement(),
            Err("Choose a site or create one.".into())
        );
        form.site = Pick::New(" ".into());
        assert!(form.check_placement().unwrap_err().starts_with("Site name"));
        form.site = Pick::New("Plant West".into());
        form.zone = Pick::New(String::new());
        assert!(form.check_placement().unwrap_err().starts_with("Zone name"));
        form.zone = Pick::None;
        assert_eq!(form.check_placement(), Ok(()));
    }

    #[test]
    fn an_enterprise_iot_sensor_needs_no_site() {
        let form = OnboardForm {
            name: "eiot".into(),
            sensor_type: SensorType::EnterpriseIot,
            ..Default::default()
        };
        assert_eq!(form.check_placement(), Ok(()));
        assert!(OnboardForm::default().sensor_name().is_err());
    }
}
