//! One module per page; `shell` frames every page of a subscription.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod coming;
pub mod devices;
pub mod home;
pub mod names;
pub mod notifications;
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

/// The item a page or pane names by `id` (from its route or query), loaded and
/// reloadable; a malformed id reads as "no such <what>".
pub fn load_by_id<Id, T, Fut>(
    id: Signal<Option<Id>>,
    what: &'static str,
    fetch: impl Fn(crate::api::Api, shared::model::SubscriptionId, Id) -> Fut + 'static,
) -> crate::components::load::Load<T>
where
    Id: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, crate::api::ApiError>> + 'static,
{
    let api = crate::use_api();
    let tenant = crate::tenant::use_tenant();
    crate::components::load::Load::new(move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let request = id.get().map(|id| fetch(api, sub, id));
        async move {
            match request {
                Some(request) => request.await,
                None => Err(crate::api::ApiError::Network(format!("no such {what}"))),
            }
        }
    })
}
