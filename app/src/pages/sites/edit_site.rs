//! The Edit site pane: display name, tags, owners (saved with `If-Match`, a `412`
//! explained), and the site's zones.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::components::load::Load;
use shared::api::{CreateZone, Site, UpdateSite};
use shared::authz::Permission;
use shared::model::{DisplayName, Email, SiteId, SiteOwners, TagKey, TagValue, Tags};

use crate::api::sites;
use crate::components::action::Guarded;
use crate::components::dialog::Pane;
use crate::components::states::{Failed, Loading};
use crate::components::toast::use_toasts;
use crate::logic::denial::{At, needs};
use crate::tenant::{use_tenant, use_tenant_context};
use crate::use_api;

/// What the form holds, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteForm {
    pub display_name: String,
    pub tags: Vec<(String, String)>,
    /// One email per line or comma-separated.
    pub owners: String,
}

impl SiteForm {
    pub fn of(site: &Site) -> Self {
        SiteForm {
            display_name: site.display_name.to_string(),
            tags: site
                .tags
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
                .collect(),
            owners: site
                .owners
                .iter()
                .map(Email::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The PATCH body, or what is wrong, naming the field — by `shared`'s rules.
    pub fn to_update(&self) -> Result<UpdateSite, String> {
        let display_name = DisplayName::parse(self.display_name.trim())
            .map_err(|e| format!("Display name {e}."))?;
        let mut tags = BTreeMap::new();
        for (key, value) in &self.tags {
            if key.trim().is_empty() && value.trim().is_empty() {
                continue;
            }
            let key = TagKey::parse(key.trim()).map_err(|e| format!("Tag key {e}."))?;
            let value = TagValue::parse(value.trim()).map_err(|e| format!("Tag value {e}."))?;
            tags.insert(key, value);
        }
        let tags = Tags::new(tags).map_err(|e| format!("Tags {e}."))?;
        let owners = self
            .owners
            .split([',', '\n', ' ', ';'])
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| Email::parse(raw.trim()).map_err(|e| format!("Owner {raw}: email {e}.")))
            .collect::<Result<Vec<_>, _>>()?;
        let owners = SiteOwners::new(owners).map_err(|e| format!("Owners: {e}."))?;
        Ok(UpdateSite {
            display_name: Some(display_name),
            tags: Some(tags),
            owners: Some(owners),
        })
    }
}

#[component]
pub fn EditSitePane(site: SiteId, #[prop(into)] on_close: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let context = use_tenant_context();
    let toasts = use_toasts();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let loaded = {
        let (sub, site) = (sub.clone(), site.clone());
        Load::new(move || {
            let (sub, site) = (sub.clone(), site.clone());
            async move { sites::get(api, &sub, &site).await }
        })
    };
    let form = RwSignal::new(SiteForm::default());
    let etag = RwSignal::new(None::<String>);
    let problem = RwSignal::new(None::<String>);
    let stale = RwSignal::new(false);
    let saving = RwSignal::new(false);
    Effect::new(move || {
        if let Some(Ok(versioned)) = loaded.get() {
            form.set(SiteForm::of(&versioned.value));
            etag.set(versioned.etag);
            stale.set(false);
            problem.set(None);
        }
    });
    let save = {
        let (sub, site) = (sub.clone(), site.clone());
        move || {
            let update = match form.with_untracked(SiteForm::to_update) {
                Ok(update) => update,
                Err(message) => {
                    problem.set(Some(message));
                    return;
                }
            };
            let (sub, site) = (sub.clone(), site.clone());
            saving.set(true);
            leptos::task::spawn_local(async move {
                let if_match = etag.get_untracked();
                match sites::update(api, &sub, &site, &update, if_match.as_deref()).await {
                    Ok(_) => {
                        toasts.info("Site saved");
                        context.reload_sites();
                        loaded.refetch();
                    }
                    Err(error) if error.is_stale() => stale.set(true),
                    Err(error) => problem.set(Some(error.to_string())),
                }
                saving.set(false);
            });
        }
    };
    let modify = needs(Permission::ModifySitesAndSensors);
    let busy = Signal::derive(move || saving.get().then(|| "Saving…".to_owned()));
    view! {
        <Pane title="Edit site" on_close>
            {move || match loaded.get() {
                None => view! { <Loading what="the site" /> }.into_any(),
                Some(Err(error)) => view! { <Failed what="the site" error retry=move |_| loaded.refetch() /> }.into_any(),
                Some(Ok(_)) => view! { <SiteFields form /> }.into_any(),
            }}
            {move || stale.get().then(|| view! {
                <div class="warning" role="alert" id="stale-site">
                    <p>"This site was changed elsewhere since you opened it; your edit was not saved."</p>
                    <button type="button" on:click=move |_| loaded.refetch()>"Reload"</button>
                </div>
            })}
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <div class="buttons">
                <Guarded label="Save" needs=modify at=At::Subscription blocked=busy on_click={
                    let save = save.clone();
                    move |_| save()
                } />
                <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
            <Zones site=site.clone() />
        </Pane>
    }
}

#[component]
fn SiteFields(form: RwSignal<SiteForm>) -> impl IntoView {
    view! {
        <div class="stack">
            <label for="site-display-name">"Display name"</label>
            <input
                id="site-display-name"
                type="text"
                prop:value=move || form.with(|f| f.display_name.clone())
                on:input=move |e| form.update(|f| f.display_name = event_target_value(&e))
            />
            <fieldset>
                <legend>"Tags"</legend>
                {move || {
                    let count = form.with(|f| f.tags.len());
                    (0..count)
                        .map(|index| {
                            view! {
                                <div class="tag-row">
                                    <label>
                                        "Key"
                                        <input
                                            type="text"
                                            prop:value=move || form.with(|f| f.tags.get(index).map(|t| t.0.clone()).unwrap_or_default())
                                            on:input=move |e| form.update(|f| if let Some(t) = f.tags.get_mut(index) { t.0 = event_target_value(&e) })
                                        />
                                    </label>
                                    <label>
                                        "Value"
                                        <input
                                            type="text"
                                            prop:value=move || form.with(|f| f.tags.get(index).map(|t| t.1.clone()).unwrap_or_default())
                                            on:input=move |e| form.update(|f| if let Some(t) = f.tags.get_mut(index) { t.1 = event_target_value(&e) })
                                        />
                                    </label>
                                    <button type="button" class="secondary" on:click=move |_| form.update(|f| { f.tags.remove(index); })>
                                        "Remove tag"
                                    </button>
                                </div>
                            }
                        })
                        .collect_view()
                }}
                <button type="button" class="secondary" on:click=move |_| form.update(|f| f.tags.push(Default::default()))>
                    "+ Add"
                </button>
            </fieldset>
            <label for="site-owners">"Owners"</label>
            <textarea
                id="site-owners"
                rows="2"
                prop:value=move || form.with(|f| f.owners.clone())
                on:input=move |e| form.update(|f| f.owners = event_target_value(&e))
            ></textarea>
            <p class="hint">"Emails of the people who own the devices at this site, separated by commas."</p>
        </div>
    }
}

#[component]
fn Zones(site: SiteId) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let sub = tenant.with_untracked(|t| t.id.clone());
    let zones = {
        let (sub, site) = (sub.clone(), site.clone());
        Load::new(move || {
            let (sub, site) = (sub.clone(), site.clone());
            async move { sites::zones(api, &sub, &site).await }
        })
    };
    let name = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let add = move || {
        let zone_name = match DisplayName::parse(name.get_untracked().trim()) {
            Ok(name) => name,
            Err(e) => {
                problem.set(Some(format!("Zone name {e}.")));
                return;
            }
        };
        let (sub, site) = (sub.clone(), site.clone());
        leptos::task::spawn_local(async move {
            match sites::create_zone(api, &sub, &site, &CreateZone { name: zone_name }).await {
                Ok(zone) => {
                    toasts.info(format!("Zone {} added", zone.name));
                    name.set(String::new());
                    problem.set(None);
                    zones.refetch();
                }
                Err(e) => problem.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <section class="zones" aria-label="Zones">
            <h3>"Zones"</h3>
            {move || match zones.get() {
                None => view! { <Loading what="zones" /> }.into_any(),
                Some(Err(error)) => view! { <Failed what="zones" error=error retry=move |_| zones.refetch() /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p class="state empty">"No zones yet."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="zone-list">{list.into_iter().map(|z| view! { <li>{z.name.to_string()}</li> }).collect_view()}</ul>
                }
                    .into_any(),
            }}
            <label for="new-zone-name">"New zone"</label>
            <input id="new-zone-name" type="text" prop:value=name on:input=move |e| name.set(event_target_value(&e)) />
            <Guarded label="Add zone" needs=needs(Permission::ModifySitesAndSensors) at=At::Subscription on_click={
                let add = add.clone();
                move |_| add()
            } />
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, tags: &[(&str, &str)], owners: &str) -> SiteForm {
        SiteForm {
            display_name: name.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            owners: owners.into(),
        }
    }

    #[test]
    fn a_valid_form_becomes_a_whole_replacement_of_each_field() {
        let update = form("Plant North", &[("line", "3"), ("", "")], "a@b.co, c@d.co")
            .to_update()
            .unwrap();
        assert_eq!(update.display_name.unwrap().as_str(), "Plant North");
        assert_eq!(update.tags.unwrap().len(), 1);
        assert_eq!(update.owners.unwrap().iter().count(), 2);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(
            form("", &[], "")
                .to_update()
                .unwrap_err()
                .starts_with("Display name")
        );
        assert!(
            form("A", &[("", "x")], "")
                .to_update()
                .unwrap_err()
                .starts_with("Tag key")
        );
        assert!(
            form("A", &[], "not-an-email")
                .to_update()
                .unwrap_err()
                .starts_with("Owner not-an-email")
        );
    }
}
