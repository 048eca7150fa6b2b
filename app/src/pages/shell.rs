//! The frame of every page of a subscription: top bar (subscription switcher, user
//! menu), side navigation, breadcrumbs; it loads the tenant the pages work in.

use leptos::prelude::*;

use crate::components::load::Load;
use leptos_router::components::{A, Outlet};
use leptos_router::hooks::{use_location, use_navigate, use_params_map};
use shared::api::MySubscription;
use shared::authz::Permission;
use shared::model::SubscriptionId;

use crate::api::{ApiError, sites};
use crate::components::dialog::Menu;
use crate::components::states::{Denied, Failed, Loading};
use crate::logic::denial::roles_held;
use crate::pages::require_session;
use crate::routes::{Page, SUBSCRIPTIONS};
use crate::tenant::{Tenant, TenantContext, access_of};
use crate::{MeResource, use_api, use_session};

/// The user's subscription of the route, once `/me` has answered.
#[derive(Debug, Clone, PartialEq)]
enum Membership {
    Loading,
    Member(MySubscription),
    NotMember,
    Failed(ApiError),
}

#[component]
pub fn Shell() -> impl IntoView {
    require_session();
    let api = use_api();
    let me = expect_context::<MeResource>().0;
    let params = use_params_map();
    let sub = Memo::new(move |_| {
        params.with(|p| {
            p.get("sub")
                .and_then(|raw| SubscriptionId::parse(&raw).ok())
        })
    });
    let membership = Memo::new(move |_| match (me.get(), sub.get()) {
        (None, _) => Membership::Loading,
        (Some(Err(error)), _) => Membership::Failed(error),
        (Some(Ok(me)), Some(sub)) => me
            .subscriptions
            .into_iter()
            .find(|mine| mine.id == sub)
            .map_or(Membership::NotMember, Membership::Member),
        (Some(Ok(_)), None) => Membership::NotMember,
    });
    let context = TenantContext {
        tenant: RwSignal::new(None),
        sites_version: RwSignal::new(0),
    };
    provide_context(context);
    // The sites, for users who may view them; site-scoped users work without names.
    let loaded_sites = Load::new(move || {
        context.sites_version.track();
        let mine = match membership.get() {
            Membership::Member(mine) => Some(mine),
            _ => None,
        };
        async move {
            let Some(mine) = mine else {
                return Ok(None);
            };
            let may_view = access_of(&mine)
                .decide(
                    Permission::ViewSitesAndSensors,
                    shared::authz::Target::Subscription,
                )
                .is_allowed();
            let sites = if may_view {
                sites::list_all(api, &mine.id).await?
            } else {
                Vec::new()
            };
            Ok(Some((mine, sites)))
        }
    });
    let sites_error = RwSignal::new(None::<ApiError>);
    Effect::new(move || match loaded_sites.get() {
        Some(Ok(Some((mine, sites)))) => {
            sites_error.set(None);
            context.tenant.set(Some(Tenant::new(&mine, sites)));
        }
        Some(Err(error)) => sites_error.set(Some(error)),
        _ => {}
    });
    let ready = Memo::new(move |_| {
        let current = sub.get();
        context
            .tenant
            .with(|tenant| tenant.as_ref().map(|t| Some(&t.id) == current.as_ref()))
            .unwrap_or(false)
    });
    view! {
        <TopBar />
        <div class="frame">
            <SideNav sub=sub />
            <main id="content">
                <Breadcrumbs />
                {move || {
                    if ready.get() {
                        return view! { <Outlet /> }.into_any();
                    }
                    if let Some(error) = sites_error.get() {
                        return view! { <Failed what="the subscription's sites" error retry=move |_| context.reload_sites() /> }
                            .into_any();
                    }
                    membership.with(|membership| match membership {
                        Membership::Loading | Membership::Member(_) => view! { <Loading what="the subscription" /> }.into_any(),
                        Membership::NotMember => view! {
                            <Denied reason="You hold no role in this subscription, or it does not exist." />
                        }
                            .into_any(),
                        Membership::Failed(error) => {
                            let error = error.clone();
                            view! { <Failed what="your account" error retry=move |_| me.refetch() /> }.into_any()
                        }
                    })
                }}
            </main>
        </div>
    }
}

/// The top bar: brand, subscription switcher, user menu. Outside a subscription
/// (the picker) the switcher offers every subscription too.
#[component]
pub fn TopBar() -> impl IntoView {
    let me = expect_context::<MeResource>().0;
    let session = use_session();
    let navigate = use_navigate();
    let params = use_params_map();
    let current = move || params.with(|p| p.get("sub")).unwrap_or_default();
    // Inside a subscription the shell knows its sites' names; the picker does not.
    let tenant = use_context::<TenantContext>();
    let email = move || {
        me.get()
            .and_then(Result::ok)
            .map(|me| me.email.to_string())
            .unwrap_or_default()
    };
    let roles = move || {
        let current = current();
        me.get().and_then(Result::ok).and_then(|me| {
            me.subscriptions
                .into_iter()
                .find(|mine| mine.id.as_str() == current)
                .map(|mine| {
                    let site_name = |site: &shared::model::SiteId| {
                        tenant
                            .and_then(|context| {
                                context
                                    .tenant
                                    .with(|t| t.as_ref().map(|t| t.site_name(site)))
                            })
                            .unwrap_or_else(|| format!("site {site}"))
                    };
                    roles_held(&mine.assignments, &site_name)
                })
        })
    };
    view! {
        <header class="top">
            <a class="brand" href="/">"VIGIL"</a>
            <label class="switcher" for="subscription-switcher">
                <span class="visually-hidden">"Subscription"</span>
                <select
                    id="subscription-switcher"
                    on:change=move |event| {
                        let value = event_target_value(&event);
                        let target = if value.is_empty() { SUBSCRIPTIONS.to_owned() } else { format!("/s/{value}") };
                        navigate(&target, Default::default());
                    }
                >
                    <option value="" selected=move || current().is_empty()>"All subscriptions"</option>
                    {move || {
                        me.get()
                            .and_then(Result::ok)
                            .map(|me| {
                                me.subscriptions
                                    .into_iter()
                                    .map(|mine| {
                                        let id = mine.id.to_string();
                                        let selected = id == current();
                                        view! { <option value=id selected=selected>{mine.name.to_string()}</option> }
                                    })
                                    .collect_view()
                            })
                    }}
                </select>
            </label>
            <div class="user">
                <Menu label="Account">
                    <p id="who" class="who">{email}</p>
                    {move || roles().map(|roles| view! { <p class="roles" id="my-roles">{format!("Roles here: {roles}")}</p> })}
                    <button id="sign-out" type="button" role="menuitem" on:click=move |_| session.sign_out()>
                        "Sign out"
                    </button>
                </Menu>
            </div>
        </header>
    }
}

#[component]
fn SideNav(sub: Memo<Option<SubscriptionId>>) -> impl IntoView {
    move || {
        sub.get().map(|sub| {
            view! {
                <nav class="side" aria-label="Console">
                    <ul>
                        {Page::ALL
                            .into_iter()
                            .map(|page| {
                                view! {
                                    <li>
                                        <A href=page.href(&sub) exact=matches!(page, Page::Overview)>{page.title()}</A>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </nav>
            }
        })
    }
}

/// Subscription › page, from the route.
#[component]
fn Breadcrumbs() -> impl IntoView {
    let location = use_location();
    let context = expect_context::<TenantContext>();
    move || {
        let path = location.pathname.get();
        let mut segments = path.trim_start_matches('/').split('/');
        let (_, sub, section) = (segments.next(), segments.next()?, segments.next());
        let sub = SubscriptionId::parse(sub).ok()?;
        let page = Page::from_segment(section.unwrap_or_default())?;
        let name = context
            .tenant
            .with(|tenant| tenant.as_ref().map(|t| t.name.clone()))
            .unwrap_or_default();
        Some(view! {
            <nav class="breadcrumbs" aria-label="Breadcrumb">
                <ol>
                    <li><a href=Page::Overview.href(&sub)>{name}</a></li>
                    <li><a href=page.href(&sub) aria-current="page">{page.title()}</a></li>
                </ol>
            </nav>
        })
    }
}
