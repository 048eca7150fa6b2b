//! `/s/{sub}/access`: Users and roles — who holds which role where (grant, remove, the
//! last owner explained before the click), API tokens (the secret shown once), the
//! built-in roles as the seed's table, custom roles as a permission checklist, and
//! device groups.

use leptos::prelude::*;
use shared::api::{ApiToken, CreateDeviceGroup, CreateRole, CreateRoleAssignment, Role};
use shared::authz::{
    BuiltInRole, GrantScope, Permission, PermissionSet, PrincipalRef, RoleAssignment, RoleRef,
    Scope, SiteFilter, last_owner_refusal,
};
use shared::model::{DeviceGroup, DisplayName, SiteSelector};

use crate::api::{ApiError, access};
use crate::components::action::Guarded;
use crate::components::load::Load;
use crate::components::secret::ShownOnce;
use crate::components::states::{Denied, Empty, loaded};
use crate::components::toast::{Toasts, use_toasts};
use crate::logic::api_tokens::{ApiTokenForm, DEFAULT_DAYS, token_state};
use crate::logic::denial::{At, role_name};
use crate::logic::format::utc;
use crate::pages::sites::now;
use crate::tenant::use_tenant;
use crate::use_api;

const GRANT: PermissionSet = PermissionSet::from_slice(&[Permission::GrantPermissions]);

#[component]
pub fn Access() -> impl IntoView {
    let tenant = use_tenant();
    match tenant.with_untracked(|t| t.denial(GRANT, &At::AnySite)) {
        Some(reason) => view! { <h1>"Users and roles"</h1><Denied reason /> }.into_any(),
        None => view! { <UsersAndRoles /> }.into_any(),
    }
}

/// What the user may see here: everything with `grant_permissions` at subscription
/// scope, else the assignments at their sites only.
#[component]
fn UsersAndRoles() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let whole = tenant.with_untracked(|t| t.denial(GRANT, &At::Subscription).is_none());
    let assignments = Load::new(move || {
        let (sub, sites) = managed_scope(tenant, whole);
        managed(sites, move |site| {
            let sub = sub.clone();
            async move { access::assignments(api, &sub, site.as_ref()).await }
        })
    });
    let roles = Load::new(move || {
        let sub = tenant.with(|t| t.id.clone());
        async move {
            if whole {
                access::roles(api, &sub).await
            } else {
                Ok(BuiltInRole::ALL.into_iter().map(Role::from).collect())
            }
        }
    });
    let groups = Load::new(move || {
        let sub = tenant.with(|t| t.id.clone());
        async move {
            if whole {
                access::device_groups(api, &sub).await
            } else {
                Ok(Vec::new())
            }
        }
    });
    let tokens = Load::new(move || {
        let (sub, sites) = managed_scope(tenant, whole);
        managed(sites, move |site| {
            let sub = sub.clone();
            async move { access::api_tokens(api, &sub, site.as_ref()).await }
        })
    });
    // Above the list, which reloads once the token exists: the secret must outlive that.
    let secret = RwSignal::new(None::<String>);
    let changed = Callback::new(move |()| {
        assignments.refetch();
        roles.refetch();
        groups.refetch();
        tokens.refetch();
    });
    view! {
        <h1>"Users and roles"</h1>
        <section class="card" aria-label="Role assignments">
            <h2>"Role assignments"</h2>
            {move || loaded(assignments.get(), "the role assignments", move || assignments.refetch(), |list| {
                let roles = roles.get().and_then(Result::ok).unwrap_or_default();
                let groups = groups.get().and_then(Result::ok).unwrap_or_default();
                view! {
                    <Assignments list=list.clone() groups=groups.clone() changed />
                    <AddAssignment roles groups changed />
                }.into_any()
            })}
        </section>
        <section class="card" aria-label="API tokens">
            <h2>"API tokens"</h2>
            <p class="hint">"For scripts and SIEMs: a token holds one role at one scope, acts as its own principal in the audit log, and is never valid on sensor ingest."</p>
            <ShownOnce secret label="New API token secret" usage="Send it as Authorization: Bearer <secret>." />
            {move || loaded(tokens.get(), "the API tokens", move || tokens.refetch(), |list| {
                let roles = roles.get().and_then(Result::ok).unwrap_or_default();
                view! {
                    <ApiTokens list changed />
                    <NewApiToken roles secret changed />
                }.into_any()
            })}
        </section>
        <section class="card" aria-label="Built-in roles">
            <h2>"Built-in roles"</h2>
            <BuiltInRoles />
        </section>
        {whole.then(|| view! {
            <section class="card" aria-label="Custom roles">
                <h2>"Custom roles"</h2>
                {move || loaded(roles.get(), "the roles", move || roles.refetch(), |all| view! {
                    <CustomRoles roles=all.into_iter().filter(|r| !r.built_in).collect() changed />
                }.into_any())}
            </section>
            <section class="card" aria-label="Device groups">
                <h2>"Device groups"</h2>
                {move || loaded(groups.get(), "the device groups", move || groups.refetch(), |all| view! {
                    <DeviceGroups groups=all changed />
                }.into_any())}
            </section>
        })}
    }
}

/// The subscription, and the sites whose lists the user manages: `None` (one list, the
/// whole subscription's) with `grant_permissions` there, else each site where they
/// hold it.
fn managed_scope(
    tenant: Signal<crate::tenant::Tenant>,
    whole: bool,
) -> (
    shared::model::SubscriptionId,
    Vec<Option<shared::model::SiteId>>,
) {
    tenant.with(|t| {
        let sites = match t.access.sites_with(Permission::GrantPermissions) {
            _ if whole => vec![None],
            SiteFilter::Only(sites) => sites.into_iter().cloned().map(Some).collect(),
            SiteFilter::All | SiteFilter::None => Vec::new(),
        };
        (t.id.clone(), sites)
    })
}

/// One list read per scope of [`managed_scope`], concatenated.
async fn managed<T, Fut>(
    scopes: Vec<Option<shared::model::SiteId>>,
    fetch: impl Fn(Option<shared::model::SiteId>) -> Fut,
) -> Result<Vec<T>, ApiError>
where
    Fut: std::future::Future<Output = Result<Vec<T>, ApiError>>,
{
    let mut all = Vec::new();
    for scope in scopes {
        all.extend(fetch(scope).await?);
    }
    Ok(all)
}

/// Sends a change of the policy: on success says `done` and reloads the page's
/// data, otherwise shows why in `error`.
fn submit<T: 'static>(
    request: impl std::future::Future<Output = Result<T, ApiError>> + 'static,
    done: &'static str,
    error: RwSignal<Option<String>>,
    changed: Callback<()>,
    toasts: Toasts,
) {
    error.set(None);
    leptos::task::spawn_local(async move {
        match request.await {
            Ok(_) => {
                toasts.info(done);
                changed.run(());
            }
            Err(e) => error.set(Some(e.to_string())),
        }
    });
}

/// Removes something from the policy, then reloads the page's data; a refusal is
/// a toast naming `what`.
fn remove(
    request: impl std::future::Future<Output = Result<(), ApiError>> + 'static,
    what: &'static str,
    changed: Callback<()>,
    toasts: Toasts,
) {
    leptos::task::spawn_local(async move {
        match request.await {
            Ok(()) => changed.run(()),
            Err(e) => toasts.error(format!("Could not remove the {what}: {e}")),
        }
    });
}

/// Where an assignment applies, as a person reads it.
fn scope_name(
    scope: &Scope,
    groups: &[DeviceGroup],
    site_name: &dyn Fn(&shared::model::SiteId) -> String,
) -> String {
    match scope {
        Scope::Subscription => "Subscription".to_owned(),
        Scope::Site(site) => site_name(site),
        Scope::DeviceGroup(id) => groups
            .iter()
            .find(|g| &g.id == id)
            .map(|g| format!("Device group {}", g.name))
            .unwrap_or_else(|| format!("Device group {id}")),
    }
}

fn at_scope(scope: &Scope) -> At {
    match scope {
        Scope::Site(site) => At::Site(site.clone()),
        Scope::Subscription | Scope::DeviceGroup(_) => At::Subscription,
    }
}

#[component]
fn Assignments(
    list: Vec<RoleAssignment>,
    groups: Vec<DeviceGroup>,
    changed: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    if list.is_empty() {
        return view! { <Empty message="No role assignments you may manage" /> }.into_any();
    }
    let rows = list.iter().map(|assignment| {
        let id = assignment.id.clone();
        let principal = assignment.principal.to_string();
        let scope = tenant.with_untracked(|t| scope_name(&assignment.scope, &groups, &|s| t.site_name(s)));
        let is_token = assignment.principal.is_api_token();
        let last_owner = last_owner_refusal(&list, &id).map(|why| {
            let mut why = why.to_owned();
            if let Some(first) = why.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            why
        }).or_else(|| is_token.then(|| "This is an API token's role: revoke the token under API tokens".to_owned()));
        let remove = move || {
            let (sub, id) = (tenant.with_untracked(|t| t.id.clone()), id.clone());
            remove(async move { access::unassign(api, &sub, &id).await }, "assignment", changed, toasts);
        };
        view! {
            <tr class="assignment" data-principal=principal.clone()>
                <td>{principal.clone()}</td>
                <td>{role_name(&assignment.role)}</td>
                <td>{scope}</td>
                <td class="row-actions">
                    <Guarded label="Remove" needs=GRANT at=at_scope(&assignment.scope) blocked=Signal::derive(move || last_owner.clone()) on_click=move |_| remove() />
                </td>
            </tr>
        }
    }).collect_view();
    view! {
        <table class="grid" id="assignments">
            <thead><tr><th scope="col">"Principal"</th><th scope="col">"Role"</th><th scope="col">"Scope"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn AddAssignment(
    roles: Vec<Role>,
    groups: Vec<DeviceGroup>,
    changed: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let principal = RwSignal::new(String::new());
    let role = RwSignal::new(RoleRef::BuiltIn(BuiltInRole::SecurityReader));
    let scope = RwSignal::new(Scope::Subscription);
    let error = RwSignal::new(None::<String>);
    let sites = tenant.with_untracked(|t| t.sites.clone());
    // Scopes as `<option>` values: "" the subscription, "site:<id>", "group:<id>".
    let scope_options: Vec<(String, String, Scope)> = std::iter::once((
        "".to_owned(),
        "Subscription".to_owned(),
        Scope::Subscription,
    ))
    .chain(sites.iter().map(|s| {
        (
            format!("site:{}", s.id),
            s.display_name.to_string(),
            Scope::Site(s.id.clone()),
        )
    }))
    .chain(groups.iter().map(|g| {
        (
            format!("group:{}", g.id),
            format!("Device group {}", g.name),
            Scope::DeviceGroup(g.id.clone()),
        )
    }))
    .collect();
    let scope_values = StoredValue::new(
        scope_options
            .iter()
            .map(|(v, _, s)| (v.clone(), s.clone()))
            .collect::<Vec<_>>(),
    );
    let role_values = StoredValue::new(
        roles
            .iter()
            .map(|r| (String::from(r.id.clone()), r.id.clone()))
            .collect::<Vec<_>>(),
    );
    let add = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let parsed = PrincipalRef::parse(principal.get_untracked().trim());
        let request = match parsed {
            Ok(principal) => CreateRoleAssignment {
                principal,
                role: role.get_untracked(),
                scope: scope.get_untracked(),
            },
            Err(e) => {
                error.set(Some(format!("Principal: {e}")));
                return;
            }
        };
        submit(
            async move { access::assign(api, &sub, &request).await },
            "Assignment added",
            error,
            changed,
            toasts,
        );
    };
    view! {
        <form class="form inline" aria-label="Add assignment" on:submit=|e| e.prevent_default()>
            <label for="assign-principal">"User email or group:<id>"</label>
            <input id="assign-principal" type="text" prop:value=move || principal.get() on:input=move |e| principal.set(event_target_value(&e)) />
            <label for="assign-role">"Role"</label>
            <select id="assign-role" on:change=move |e| {
                let chosen = event_target_value(&e);
                if let Some(found) = role_values.with_value(|v| v.iter().find(|(k, _)| *k == chosen).map(|(_, r)| r.clone())) {
                    role.set(found);
                }
            }>
                {roles.iter().map(|r| {
                    let value = String::from(r.id.clone());
                    let selected = r.id == role.get_untracked();
                    view! { <option value=value selected=selected>{r.name.clone()}</option> }
                }).collect_view()}
            </select>
            <label for="assign-scope">"Scope"</label>
            <select id="assign-scope" on:change=move |e| {
                let chosen = event_target_value(&e);
                if let Some(found) = scope_values.with_value(|v| v.iter().find(|(k, _)| *k == chosen).map(|(_, s)| s.clone())) {
                    scope.set(found);
                }
            }>
                {scope_options.into_iter().map(|(value, name, _)| view! { <option value=value>{name}</option> }).collect_view()}
            </select>
            <Guarded label="Add assignment" needs=GRANT at=Signal::derive(move || at_scope(&scope.get())) on_click=move |_| add() />
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}

/// The seed's role table: each permission, the scope it can be granted at, and which
/// built-in role holds it.
#[component]
fn BuiltInRoles() -> impl IntoView {
    view! {
        <table class="grid" id="built-in-roles">
            <thead>
                <tr>
                    <th scope="col">"Permission"</th>
                    <th scope="col">"Granted at"</th>
                    {BuiltInRole::ALL.into_iter().map(|r| view! { <th scope="col">{r.display_name()}</th> }).collect_view()}
                </tr>
            </thead>
            <tbody>
                {Permission::ALL.into_iter().map(|p| view! {
                    <tr>
                        <th scope="row">{p.label()}</th>
                        <td>{grant_scope_name(p)}</td>
                        {BuiltInRole::ALL.into_iter().map(|r| {
                            let held = r.permissions().contains(p);
                            view! { <td class=if held { "yes" } else { "no" }>{if held { "✓ Yes" } else { "— No" }}</td> }
                        }).collect_view()}
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

fn grant_scope_name(permission: Permission) -> &'static str {
    match permission.grant_scope() {
        GrantScope::SubscriptionOnly => "Subscription",
        GrantScope::SubscriptionOrSite => "Subscription or site",
    }
}

#[component]
fn CustomRoles(roles: Vec<Role>, changed: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let name = RwSignal::new(String::new());
    let chosen = RwSignal::new(PermissionSet::EMPTY);
    let error = RwSignal::new(None::<String>);
    let create = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let request = match DisplayName::parse(name.get_untracked().trim()) {
            Ok(name) if !chosen.get_untracked().is_empty() => CreateRole {
                name,
                permissions: chosen.get_untracked(),
            },
            Ok(_) => {
                error.set(Some("Choose at least one permission".into()));
                return;
            }
            Err(e) => {
                error.set(Some(format!("Name: {e}")));
                return;
            }
        };
        submit(
            async move { access::create_role(api, &sub, &request).await },
            "Role created",
            error,
            changed,
            toasts,
        );
    };
    let existing = if roles.is_empty() {
        view! { <Empty message="No custom roles yet" /> }.into_any()
    } else {
        roles.into_iter().map(|role| {
            let id = role.id.clone();
            let remove = move || {
                let RoleRef::Custom(id) = id.clone() else { return };
                let sub = tenant.with_untracked(|t| t.id.clone());
                remove(async move { access::delete_role(api, &sub, &id).await }, "role", changed, toasts);
            };
            let granted: Vec<&str> = role.permissions.iter().map(|p| p.label()).collect();
            view! { <PolicyItem name=role.name.clone() detail=granted.join(", ") on_delete=move |_| remove() /> }
        }).collect_view().into_any()
    };
    view! {
        {existing}
        <form class="form" aria-label="New custom role" on:submit=|e| e.prevent_default()>
            <label for="role-name">"Role name"</label>
            <input id="role-name" type="text" prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e)) />
            <fieldset class="checklist">
                <legend>"Permissions"</legend>
                {Permission::ALL.into_iter().map(|p| view! {
                    <label class="check">
                        <input
                            type="checkbox"
                            data-permission=p.as_str()
                            prop:checked=move || chosen.get().contains(p)
                            on:change=move |e| chosen.update(|set| {
                                *set = if event_target_checked(&e) { set.with(p) } else { set.difference(PermissionSet::from_slice(&[p])) };
                            })
                        />
                        {p.label()}
                        <span class="hint">{format!(" ({})", grant_scope_name(p))}</span>
                    </label>
                }).collect_view()}
            </fieldset>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Guarded label="Create role" needs=GRANT at=At::Subscription on_click=move |_| create() />
        </form>
    }
}

#[component]
fn DeviceGroups(groups: Vec<DeviceGroup>, changed: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let name = RwSignal::new(String::new());
    let picked = RwSignal::new(std::collections::BTreeSet::new());
    let error = RwSignal::new(None::<String>);
    let sites = tenant.with_untracked(|t| t.sites.clone());
    let create = move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let selector = SiteSelector::Sites(picked.get_untracked());
        let request = match (
            DisplayName::parse(name.get_untracked().trim()),
            selector.check(),
        ) {
            (Ok(name), Ok(())) => CreateDeviceGroup {
                name,
                sites: selector,
            },
            (Err(e), _) => {
                error.set(Some(format!("Name: {e}")));
                return;
            }
            (_, Err(e)) => {
                error.set(Some(format!("Sites: {e}")));
                return;
            }
        };
        submit(
            async move { access::create_device_group(api, &sub, &request).await },
            "Device group created",
            error,
            changed,
            toasts,
        );
    };
    let existing = if groups.is_empty() {
        view! { <Empty message="No device groups yet" /> }.into_any()
    } else {
        groups.into_iter().map(|group| {
            let id = group.id.clone();
            let covers = match &group.sites {
                SiteSelector::Sites(ids) => tenant.with_untracked(|t| ids.iter().map(|s| t.site_name(s)).collect::<Vec<_>>().join(", ")),
                SiteSelector::Tags(filter) => format!("sites tagged {}", serde_json::to_string(filter).unwrap_or_default()),
            };
            let remove = move || {
                let (sub, id) = (tenant.with_untracked(|t| t.id.clone()), id.clone());
                remove(async move { access::delete_device_group(api, &sub, &id).await }, "device group", changed, toasts);
            };
            view! { <PolicyItem name=group.name.to_string() detail=covers on_delete=move |_| remove() /> }
        }).collect_view().into_any()
    };
    view! {
        {existing}
        <form class="form" aria-label="New device group" on:submit=|e| e.prevent_default()>
            <label for="group-name">"Group name"</label>
            <input id="group-name" type="text" prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e)) />
            <fieldset class="checklist">
                <legend>"Sites"</legend>
                {sites.into_iter().map(|site| {
                    let id = site.id.clone();
                    let id_for_change = id.clone();
                    view! {
                        <label class="check">
                            <input
                                type="checkbox"
                                prop:checked=move || picked.with(|p| p.contains(&id))
                                on:change=move |e| picked.update(|p| {
                                    if event_target_checked(&e) { p.insert(id_for_change.clone()); } else { p.remove(&id_for_change); }
                                })
                            />
                            {site.display_name.to_string()}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Guarded label="Create device group" needs=GRANT at=At::Subscription on_click=move |_| create() />
        </form>
    }
}

/// One custom role or device group: its name, what it holds, and Delete.
#[component]
fn PolicyItem(
    name: String,
    detail: String,
    #[prop(into)] on_delete: Callback<()>,
) -> impl IntoView {
    view! {
        <div class="policy-item">
            <strong>{name}</strong>
            <span class="hint">{format!(" · {detail}")}</span>
            <Guarded label="Delete" class="danger" needs=GRANT at=At::Subscription on_click=on_delete />
        </div>
    }
}

fn token_scope(site: &Option<shared::model::SiteId>) -> Scope {
    site.clone().map_or(Scope::Subscription, Scope::Site)
}

#[component]
fn ApiTokens(list: Vec<ApiToken>, changed: Callback<()>) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    if list.is_empty() {
        return view! { <Empty message="No API tokens you may manage" /> }.into_any();
    }
    let now = now();
    let rows = list.into_iter().map(|token| {
        let id = token.id.clone();
        let scope = token_scope(&token.site_id);
        let scope_label = tenant.with_untracked(|t| scope_name(&scope, &[], &|s| t.site_name(s)));
        let revoke = move || {
            let (sub, id) = (tenant.with_untracked(|t| t.id.clone()), id.clone());
            leptos::task::spawn_local(async move {
                match access::revoke_api_token(api, &sub, &id).await {
                    Ok(()) => {
                        toasts.info("API token revoked");
                        changed.run(());
                    }
                    Err(e) => toasts.error(format!("Could not revoke the API token: {e}")),
                }
            });
        };
        view! {
            <tr class="api-token" data-token=token.id.to_string()>
                <td>{token.name.to_string()}</td>
                <td>{role_name(&token.role)}</td>
                <td>{scope_label}</td>
                <td>{token.created_by.to_string()}</td>
                <td>{format!("{} ({})", utc(token.expires_at), token_state(&token, now))}</td>
                <td>{token.last_used_at.map_or_else(|| "Never".to_owned(), utc)}</td>
                <td class="row-actions">
                    <Guarded label="Revoke" class="danger" needs=GRANT at=at_scope(&scope) on_click=move |_| revoke() />
                </td>
            </tr>
        }
    }).collect_view();
    view! {
        <table class="grid" id="api-tokens">
            <thead><tr><th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Scope"</th><th scope="col">"Created by"</th><th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// Creates a token; its secret goes to the page's [`ShownOnce`].
#[component]
fn NewApiToken(
    roles: Vec<Role>,
    secret: RwSignal<Option<String>>,
    changed: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(RoleRef::BuiltIn(BuiltInRole::SecurityReader));
    let site = RwSignal::new(None::<shared::model::SiteId>);
    let days = RwSignal::new(DEFAULT_DAYS.to_owned());
    let error = RwSignal::new(None::<String>);
    let sites = tenant.with_untracked(|t| t.sites.clone());
    let site_values = StoredValue::new(sites.iter().map(|s| s.id.clone()).collect::<Vec<_>>());
    let role_values = StoredValue::new(roles.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    let create = move || {
        let form = ApiTokenForm {
            name: name.get_untracked(),
            role: role.get_untracked(),
            site: site.get_untracked(),
            days: days.get_untracked(),
        };
        let request = match form.request() {
            Ok(request) => request,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        error.set(None);
        let sub = tenant.with_untracked(|t| t.id.clone());
        leptos::task::spawn_local(async move {
            match access::create_api_token(api, &sub, &request).await {
                Ok(created) => {
                    secret.set(Some(created.secret));
                    name.set(String::new());
                    changed.run(());
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <form class="form inline" aria-label="New API token" on:submit=|e| e.prevent_default()>
            <label for="token-name">"Token name"</label>
            <input id="token-name" type="text" prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e)) />
            <label for="token-role">"Role"</label>
            <select id="token-role" on:change=move |e| {
                let chosen = event_target_value(&e);
                if let Some(found) = role_values.with_value(|v| v.iter().find(|r| String::from((*r).clone()) == chosen).cloned()) {
                    role.set(found);
                }
            }>
                {roles.iter().map(|r| {
                    let id = r.id.clone();
                    view! { <option value=String::from(r.id.clone()) selected=move || role.with(|chosen| *chosen == id)>{r.name.clone()}</option> }
                }).collect_view()}
            </select>
            <label for="token-scope">"Scope"</label>
            <select id="token-scope" on:change=move |e| {
                let chosen = event_target_value(&e);
                site.set(site_values.with_value(|v| v.iter().find(|s| s.as_str() == chosen).cloned()));
            }>
                <option value="" selected=move || site.with(Option::is_none)>"Subscription"</option>
                {sites.into_iter().map(|s| {
                    let id = s.id.clone();
                    view! { <option value=s.id.to_string() selected=move || site.with(|chosen| chosen.as_ref() == Some(&id))>{s.display_name.to_string()}</option> }
                }).collect_view()}
            </select>
            <label for="token-days">"Expires in (days)"</label>
            <input id="token-days" type="number" min="1" max="365" prop:value=move || days.get() on:input=move |e| days.set(event_target_value(&e)) />
            <Guarded label="Create token" needs=GRANT at=Signal::derive(move || at_scope(&token_scope(&site.get()))) on_click=move |_| create() />
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}
