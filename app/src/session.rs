//! The signed-in user's token, kept in local storage so a reload keeps the session.

use gloo_storage::{LocalStorage, Storage};
use leptos::prelude::*;

const TOKEN_KEY: &str = "vigil.token";

/// The session every page shares; `None` is signed out.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    token: RwSignal<Option<String>>,
}

impl Session {
    pub fn load() -> Self {
        Session {
            token: RwSignal::new(LocalStorage::get(TOKEN_KEY).ok()),
        }
    }

    pub fn is_signed_in(&self) -> bool {
        self.token.with(Option::is_some)
    }

    pub fn token_untracked(&self) -> Option<String> {
        self.token.get_untracked()
    }

    pub fn sign_in(&self, token: String) {
        // A full or disabled storage only costs the user a sign-in after a reload.
        let _ = LocalStorage::set(TOKEN_KEY, &token);
        self.token.set(Some(token));
    }

    /// Signing out, and what a `401` does: the protected routes then send the user to
    /// `/sign-in?next=<where they were>`.
    pub fn sign_out(&self) {
        LocalStorage::delete(TOKEN_KEY);
        if self.token.get_untracked().is_some() {
            self.token.set(None);
        }
    }

    pub fn expire(&self) {
        self.sign_out();
    }
}
