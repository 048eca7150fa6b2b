//! A secret the server answers once (an API token, a webhook signing secret), shown
//! until dismissed, with a Copy button.

use leptos::prelude::*;

use crate::components::toast::use_toasts;

#[component]
pub fn ShownOnce(
    secret: RwSignal<Option<String>>,
    /// What the secret is, for the region's accessible name.
    label: &'static str,
    /// How it is used, after "Copy this secret now: it is shown only once."
    usage: &'static str,
) -> impl IntoView {
    let toasts = use_toasts();
    let copy = move || {
        if let Some(secret) = secret.get_untracked() {
            // The promise settles on its own; a refusal (no clipboard permission) leaves
            // the secret on screen to copy by hand.
            let _ = window().navigator().clipboard().write_text(&secret);
            toasts.info("Secret copied");
        }
    };
    move || {
        secret.get().map(|value| {
            view! {
                <div class="notice" role="status" aria-label=label>
                    <p><strong>"Copy this secret now: it is shown only once."</strong>" "{usage}</p>
                    <code class="secret">{value}</code>
                    <button type="button" on:click=move |_| copy()>"Copy"</button>
                    <button type="button" on:click=move |_| secret.set(None)>"Done"</button>
                </div>
            }
        })
    }
}
