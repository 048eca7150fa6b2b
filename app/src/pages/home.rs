//! `/`: the only subscription's overview, or the subscription picker.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use crate::MeResource;
use crate::components::states::{Failed, Loading};
use crate::pages::require_session;
use crate::routes::{Page, SUBSCRIPTIONS};

#[component]
pub fn Home() -> impl IntoView {
    require_session();
    let me = expect_context::<MeResource>().0;
    let navigate = use_navigate();
    Effect::new(move || {
        if let Some(Ok(me)) = me.get() {
            let target = match me.subscriptions.as_slice() {
                [only] => Page::Overview.href(&only.id),
                _ => SUBSCRIPTIONS.to_owned(),
            };
            navigate(
                &target,
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
    view! {
        <main class="narrow">
            {move || match me.get() {
                Some(Err(error)) => view! { <Failed what="your account" error retry=move |_| me.refetch() /> }.into_any(),
                _ => view! { <Loading what="your subscriptions" /> }.into_any(),
            }}
        </main>
    }
}
