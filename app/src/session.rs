//! The signed-in user's token, kept in local storage so a reload keeps the session.

use gloo_storage::{LocalStorage, Storage};

const TOKEN_KEY: &str = "vigil.token";

pub fn load() -> Option<String> {
    LocalStorage::get(TOKEN_KEY).ok()
}

pub fn save(token: &str) {
    // A full or disabled storage only costs the user a sign-in after a reload.
    let _ = LocalStorage::set(TOKEN_KEY, token);
}

pub fn clear() {
    LocalStorage::delete(TOKEN_KEY);
}
