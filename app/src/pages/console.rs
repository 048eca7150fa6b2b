//! The signed-in console: who you are, your subscriptions, and creating one.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use shared::api::CreateSubscription;
use shared::model::DisplayName;

use crate::{Session, api};

#[component]
pub fn Console(token: String) -> impl IntoView {
    let session = expect_context::<Session>();
    let me = {
        let token = token.clone();
        LocalResource::new(move || {
            let token = token.clone();
            async move { api::me(&token).await }
        })
    };
    let subscriptions = {
        let token = token.clone();
        LocalResource::new(move || {
            let token = token.clone();
            async move { api::subscriptions(&token).await }
        })
    };
    // A token the server no longer accepts (expired, key changed) ends the session.
    Effect::new(move || {
        if let Some(Err(error)) = me.get()
            && error.is_unauthenticated()
        {
            session.sign_out();
        }
    });
    let who = move || match me.get() {
        Some(Ok(me)) => me.email.to_string(),
        _ => String::new(),
    };
    view! {
        <header class="top">
            <h1>"VIGIL"</h1>
            <div>
                <span id="who" class="who">{who}</span>
                <button id="sign-out" class="quiet" on:click=move |_| session.sign_out()>
                    "Sign out"
                </button>
            </div>
        </header>
        <main>
            <CreateSubscriptionForm token on_created=move || subscriptions.refetch() />
            <section class="card">
                <h2>"Subscriptions"</h2>
                {move || match subscriptions.get() {
                    None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                    Some(Err(error)) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                    Some(Ok(page)) if page.items.is_empty() => {
                        view! { <p id="no-subscriptions" class="hint">"No subscriptions yet."</p> }
                            .into_any()
                    }
                    Some(Ok(page)) => {
                        view! {
                            <table id="subscriptions">
                                <thead>
                                    <tr>
                                        <th>"Name"</th>
                                        <th>"Id"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {page
                                        .items
                                        .into_iter()
                                        .map(|subscription| {
                                            view! {
                                                <tr class="subscription">
                                                    <td class="name">{subscription.name.to_string()}</td>
                                                    <td>
                                                        <code>{subscription.id.to_string()}</code>
                                                    </td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        }
                            .into_any()
                    }
                }}
            </section>
        </main>
    }
}

#[component]
fn CreateSubscriptionForm(token: String, on_created: impl Fn() + 'static) -> impl IntoView {
    let (name, set_name) = signal(String::new());
    let (error, set_error) = signal(None::<String>);
    let create = Action::new_local(move |request: &CreateSubscription| {
        let request = request.clone();
        let token = token.clone();
        async move { api::create_subscription(&token, &request).await }
    });
    Effect::new(move || match create.value().get() {
        Some(Ok(_)) => {
            set_name.set(String::new());
            on_created();
        }
        Some(Err(refused)) => set_error.set(Some(refused.to_string())),
        None => {}
    });
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        match DisplayName::parse(&name.get_untracked()) {
            Ok(name) => {
                set_error.set(None);
                create.dispatch(CreateSubscription { name });
            }
            Err(problem) => set_error.set(Some(format!("Name {problem}."))),
        }
    };
    view! {
        <section class="card">
            <h2>"New subscription"</h2>
            <form class="inline" on:submit=submit>
                <input
                    id="subscription-name"
                    type="text"
                    placeholder="e.g. Plant North"
                    prop:value=name
                    on:input=move |event| set_name.set(event_target_value(&event))
                />
                <button id="create-subscription" type="submit" disabled=move || create.pending().get()>
                    "Create"
                </button>
            </form>
            {move || error.get().map(|message| view! { <p class="error">{message}</p> })}
        </section>
    }
}
