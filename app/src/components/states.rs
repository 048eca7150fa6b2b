//! Loading, empty, error and access-denied states: every data region shows one of
//! them or its data, never a blank.

use leptos::prelude::*;

use crate::api::ApiError;

#[component]
pub fn Loading(#[prop(optional, into)] what: Option<String>) -> impl IntoView {
    let text = match what {
        Some(what) => format!("Loading {what}…"),
        None => "Loading…".to_owned(),
    };
    view! { <p class="state loading" role="status" aria-busy="true">{text}</p> }
}

#[component]
pub fn Empty(#[prop(into)] message: String) -> impl IntoView {
    view! { <p class="state empty">{message}</p> }
}

/// What failed, and a way to try again.
#[component]
pub fn Failed(
    #[prop(into)] what: String,
    error: ApiError,
    #[prop(into)] retry: Callback<()>,
) -> impl IntoView {
    view! {
        <div class="state error" role="alert">
            <p>{format!("Could not load {what}: {error}")}</p>
            <button type="button" on:click=move |_| retry.run(())>"Retry"</button>
        </div>
    }
}

/// A page or a region the user may not see, and which permission it needs.
#[component]
pub fn Denied(#[prop(into)] reason: String) -> impl IntoView {
    view! {
        <section class="state denied" role="alert" aria-label="Access denied">
            <h2>"Access denied"</h2>
            <p>{reason}</p>
        </section>
    }
}

/// Renders a loaded resource: loading, the error with a retry, or `ok`.
pub fn loaded<T: Clone + 'static>(
    value: Option<Result<T, ApiError>>,
    what: &'static str,
    retry: impl Fn() + Send + Sync + 'static,
    ok: impl FnOnce(T) -> AnyView,
) -> AnyView {
    match value {
        None => view! { <Loading what=what /> }.into_any(),
        Some(Err(error)) => view! { <Failed what=what error retry=move |_| retry() /> }.into_any(),
        Some(Ok(value)) => ok(value),
    }
}
