//! Sign-in with an email (the local binary's dev-login).

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use shared::api::DevLoginRequest;
use shared::model::Email;

use crate::{Session, api};

#[component]
pub fn SignIn() -> impl IntoView {
    let session = expect_context::<Session>();
    let (email, set_email) = signal(String::new());
    let (error, set_error) = signal(None::<String>);
    let sign_in = Action::new_local(|request: &DevLoginRequest| {
        let request = request.clone();
        async move { api::dev_login(&request).await }
    });
    Effect::new(move || match sign_in.value().get() {
        Some(Ok(response)) => session.sign_in(response.token),
        Some(Err(refused)) => set_error.set(Some(refused.to_string())),
        None => {}
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
            <h1>"VIGIL"</h1>
        </header>
        <main>
            <section class="card">
                <h2>"Sign in"</h2>
                <p class="hint">"Local sign-in: enter the email of the account to use."</p>
                <form class="inline" on:submit=submit>
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
                {move || error.get().map(|message| view! { <p class="error">{message}</p> })}
            </section>
        </main>
    }
}
