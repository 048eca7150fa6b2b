//! Sign-in — with the OpenID provider the server names (authorization code with PKCE),
//! or with an email (the local binary's dev-login), whichever `GET /auth/config` offers —
//! then back to where the user was going (`?next=`).

use gloo_storage::{SessionStorage, Storage};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use shared::api::{AuthConfig, DevLoginRequest, OidcSignIn};
use shared::model::Email;

use crate::api::identity;
use crate::components::load::Load;
use crate::components::states::{Loading, loaded};
use crate::logic::oidc::{Callback, CallbackRefused, PendingSignIn, provider_name};
use crate::routes::safe_next;
use crate::{MeResource, use_session};

/// Where the sign-in in progress waits while the user is at the provider: this tab only.
const PENDING_KEY: &str = "vigil.sign-in";

#[component]
pub fn SignIn() -> impl IntoView {
    let session = use_session();
    let me = expect_context::<MeResource>().0;
    let query = use_query_map();
    let navigate = use_navigate();
    let next = Signal::derive(move || safe_next(query.with(|q| q.get("next")).as_deref()));
    let config = Load::new(identity::auth_config);
    // Signed in (just now, or already): go where the user was going.
    Effect::new(move || {
        if session.is_signed_in() {
            me.refetch();
            navigate(
                &next.get(),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
    view! {
        <SignInCard title="Sign in">
            {move || loaded(config.get(), "the ways to sign in", move || config.refetch(), move |config| {
                sign_in_options(config, next).into_any()
            })}
        </SignInCard>
    }
}

/// The signed-out layout: the brand, and one card.
#[component]
fn SignInCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <header class="top">
            <span class="brand">"VIGIL"</span>
        </header>
        <main class="narrow">
            <section class="card">
                <h1>{title}</h1>
                {children()}
            </section>
        </main>
    }
}

fn sign_in_options(config: AuthConfig, next: Signal<String>) -> impl IntoView {
    let nothing = !config.dev_login && config.oidc.is_none();
    view! {
        {config.oidc.map(|provider| view! { <ProviderSignIn provider next /> })}
        {config.dev_login.then(|| view! { <DevLoginForm /> })}
        {nothing.then(|| view! {
            <p class="state empty" role="alert">
                "This server offers no way to sign in: start it with an OpenID provider "
                "(--oidc-issuer and --oidc-client-id), or with dev-login on a loopback address."
            </p>
        })}
    }
}

/// "Sign in with <provider>": off to the provider with a fresh PKCE verifier and state.
#[component]
fn ProviderSignIn(provider: OidcSignIn, next: Signal<String>) -> impl IntoView {
    let (error, set_error) = signal(None::<String>);
    let name = provider_name(&provider);
    let start = move |_| {
        if let Err(problem) = leave_for(&provider, next.get_untracked()) {
            set_error.set(Some(format!("Could not start the sign-in: {problem}")));
        }
    };
    view! {
        <button id="sign-in-provider" class="primary" type="button" on:click=start>
            {format!("Sign in with {name}")}
        </button>
        {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
    }
}

/// Keeps a new sign-in in this tab's storage and sends the browser to the provider.
fn leave_for(provider: &OidcSignIn, next: String) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let mut random = [0_u8; 64];
    window
        .crypto()
        .and_then(|crypto| crypto.get_random_values_with_u8_array(&mut random))
        .map_err(|_| "this browser has no secure random numbers")?;
    let origin = window.location().origin().map_err(|_| "no origin")?;
    let pending = PendingSignIn::new(&random, &origin, next);
    SessionStorage::set(PENDING_KEY, &pending).map_err(|e| e.to_string())?;
    window
        .location()
        .set_href(&pending.authorization_url(provider))
        .map_err(|_| "the browser refused to leave".to_owned())
}

/// `/sign-in/callback`: the provider sent the user back; trade the code for the ID token.
#[component]
pub fn SignInCallback() -> impl IntoView {
    let session = use_session();
    let me = expect_context::<MeResource>().0;
    let navigate = use_navigate();
    let callback = use_query_map().with_untracked(|q| Callback {
        code: q.get("code"),
        state: q.get("state"),
        error: q.get("error"),
        error_description: q.get("error_description"),
    });
    // One use: a reload or a replayed link cannot trade the same verifier twice.
    let pending = SessionStorage::get::<PendingSignIn>(PENDING_KEY).ok();
    SessionStorage::delete(PENDING_KEY);
    let (failure, set_failure) = signal(None::<String>);
    leptos::task::spawn_local(async move {
        match finish(pending, callback).await {
            Ok((token, next)) => {
                session.sign_in(token);
                me.refetch();
                navigate(
                    &next,
                    NavigateOptions {
                        replace: true,
                        ..Default::default()
                    },
                );
            }
            Err(problem) => set_failure.set(Some(problem)),
        }
    });
    view! {
        <SignInCard title="Signing in">
            {move || match failure.get() {
                None => view! { <Loading what="your session" /> }.into_any(),
                Some(problem) => view! {
                    <div class="state error" role="alert">
                        <p>{problem}</p>
                        <a href="/sign-in">"Start again"</a>
                    </div>
                }
                .into_any(),
            }}
        </SignInCard>
    }
}

async fn finish(
    pending: Option<PendingSignIn>,
    callback: Callback,
) -> Result<(String, String), String> {
    let pending = pending.ok_or(CallbackRefused::NotStarted.to_string())?;
    let code = pending.code_from(&callback).map_err(|e| e.to_string())?;
    let config = identity::auth_config().await.map_err(|e| e.to_string())?;
    let provider = config
        .oidc
        .ok_or("this server no longer offers that sign-in provider")?;
    let answer = identity::exchange_code(&provider, pending.token_request(&provider, &code))
        .await
        .map_err(|e| e.to_string())?;
    Ok((answer.id_token, pending.next))
}

/// The local binary's password-less sign-in.
#[component]
fn DevLoginForm() -> impl IntoView {
    let session = use_session();
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
    }
}
