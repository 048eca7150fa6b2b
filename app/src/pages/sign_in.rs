//! Sign-in with an email (the local binary's dev-login), then back to where the user
//! was going (`?next=`).

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use shared::api::DevLoginRequest;
use shared::model::Email;

use crate::api::identity;
use crate::routes::safe_next;
use crate::{MeResource, use_session};

#[component]
pub fn SignIn() -> impl IntoView {
    let session = use_session();
    let me = expect_context::<MeResource>().0;
    let query = use_query_map();
    let navigate = use_navigate();
    let next = move || safe_next(query.with(|q| q.get("next")).as_deref());
    let (email, set_email) = signal(String::new());
    let (error, set_error) = signal(None::<String>);
    let sign_in = Action::new_local(|request: &DevLoginRequest| {
        let request = request.clone();
        async move { identity::dev_login(&request).await }
    });
    Effect::new(move || match sign_in.value().get() {
        Some(Ok(response)) => session.sign_in(response.token),
        Some(Err(refused)) => set_error.set(Some(refused.to_string())),
        None => {}
    });
    // Signed in (just now, or already): go where the user was going.
    Effect::new(move || {
        if session.is_signed_in() {
            me.refetch();
            navigate(
                &next(),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        match Email::parse(&email.get_untracked()) {
            Ok(email) => {
                set_error.set(None);
                sign_in.dispatch(DevLoginRequest {
                    email,
                    groups: Default::default(),
                });
            }
            Err(problem) => set_error.set(Some(format!("Email {problem}."))),
        }
    };
    view! {
        <header class="top">
            <span class="brand">"VIGIL"</span>
        </header>
        <main class="narrow">
            <section class="card">
                <h1>"Sign in"</h1>
                <p class="hint">"Local sign-in: enter the email of the account to use."</p>
                <form class="stack" on:submit=submit>
                    <label for="email">"Email"</label>
                    <input
                        id="email"
                        type="text"
                        inputmode="email"
                        autocomplete="email"
                        placeholder="you@example.com"
                        prop:value=email
                        on:input=move |event| set_email.set(event_target_value(&event))
                    />
                    <button id="sign-in" type="submit" disabled=move || sign_in.pending().get()>
                        "Sign in"
                    </button>
                </form>
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
            </section>
        </main>
    }
}
