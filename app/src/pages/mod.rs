//! One module per page; `shell` frames every page of a subscription.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod coming;
pub mod devices;
pub mod home;
pub mod names;
pub mod overview;
pub mod plans;
pub mod shell;
pub mod sign_in;
pub mod sites;
pub mod subscriptions;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use crate::use_session;

/// Sends a signed-out visitor to `/sign-in?next=<this route>`, now and whenever the
/// session ends (sign-out, or a `401`).
pub fn require_session() {
    let session = use_session();
    let location = use_location();
    let navigate = use_navigate();
    Effect::new(move || {
        if !session.is_signed_in() {
            let here = format!(
                "{}{}",
                location.pathname.get_untracked(),
                location.search.get_untracked()
            );
            navigate(
                &crate::routes::sign_in(&here),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
}
