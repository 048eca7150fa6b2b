//! Vigil's console: a Leptos single-page app over the HTTP API.
//!
//! Rules (what a valid email is, who may do what) come from `shared`; the app never
//! writes one of its own. Logic that renders nothing lives in [`logic`] and is tested
//! natively.

pub mod api;
mod components;
pub mod logic;
mod pages;
pub mod routes;
mod session;
mod tenant;

use leptos::prelude::*;

use crate::components::load::Load;
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

use crate::api::{Api, ApiError};
use crate::components::toast::{ToastRegion, Toasts};
use crate::pages::{
    access::Access, alerts::Alerts, alerts::details::AlertDetails, alerts::rules::SuppressionRules,
    audit::Audit, coming::Coming, devices::Devices, devices::edit::DeviceDetails, home::Home,
    notifications::Notifications, overview::Overview, plans::Plans, shell::Shell, sign_in::SignIn,
    sign_in::SignInCallback, sites::Sites, sites::details::SensorDetails,
    subscriptions::Subscriptions,
};
use crate::session::Session;

/// `GET /me`, loaded once per sign-in and shared by every page.
#[derive(Clone, Copy)]
pub struct MeResource(pub Load<shared::api::Me>);

pub fn use_api() -> Api {
    expect_context::<Api>()
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

#[component]
pub fn App() -> impl IntoView {
    let session = Session::load();
    let api = Api::new(session);
    provide_context(session);
    provide_context(api);
    provide_context(Toasts::new());
    let me = Load::new(move || {
        let signed_in = session.is_signed_in();
        async move {
            if signed_in {
                api::identity::me(api).await
            } else {
                Err(ApiError::Network("signed out".to_owned()))
            }
        }
    });
    provide_context(MeResource(me));
    view! {
        <Router>
            <Routes fallback=|| view! { <main class="narrow"><h1>"Not found"</h1><p>"No page here."</p></main> }>
                <Route path=path!("/sign-in") view=SignIn />
                <Route path=path!("/sign-in/callback") view=SignInCallback />
                <Route path=path!("/") view=Home />
                <Route path=path!("/subscriptions") view=Subscriptions />
                <ParentRoute path=path!("/s/:sub") view=Shell>
                    <Route path=path!("") view=Overview />
                    <Route path=path!("sites") view=Sites />
                    <Route path=path!("sensors/:id") view=SensorDetails />
                    <Route path=path!("plans") view=Plans />
                    <Route path=path!("alerts") view=Alerts />
                    <Route path=path!("alerts/:id") view=AlertDetails />
                    <Route path=path!("suppression-rules") view=SuppressionRules />
                    <Route path=path!("audit") view=Audit />
                    <Route path=path!("access") view=Access />
                    <Route path=path!("notifications") view=Notifications />
                    <Route path=path!("devices") view=Devices />
                    <Route path=path!("devices/:id") view=DeviceDetails />
                    // The pages still to come (alerts, devices, workbooks, access, audit),
                    // matched after every built page.
                    <Route path=path!(":page") view=Coming />
                    <Route path=path!(":page/:id") view=Coming />
                </ParentRoute>
            </Routes>
        </Router>
        <ToastRegion />
    }
}
