//! Vigil's console: a Leptos single-page app over the HTTP API.
//!
//! Rules (what a valid email is, who may do what) come from `shared`; the app never
//! writes one of its own.

pub mod api;
mod pages;
mod session;

use leptos::prelude::*;

/// The signed-in user's token, shared by every page.
#[derive(Debug, Clone, Copy)]
pub struct Session(RwSignal<Option<String>>);

impl Session {
    pub fn token(&self) -> Option<String> {
        self.0.get()
    }

    pub fn sign_in(&self, token: String) {
        session::save(&token);
        self.0.set(Some(token));
    }

    pub fn sign_out(&self) {
        session::clear();
        self.0.set(None);
    }
}

#[component]
pub fn App() -> impl IntoView {
    let session = Session(RwSignal::new(session::load()));
    provide_context(session);
    move || match session.token() {
        Some(token) => view! { <pages::Console token /> }.into_any(),
        None => view! { <pages::SignIn /> }.into_any(),
    }
}
