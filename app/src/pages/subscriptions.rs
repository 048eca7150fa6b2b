//! `/subscriptions`: the subscriptions the user holds a role in, and creating one.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::components::load::Load;
use shared::api::CreateSubscription;
use shared::model::DisplayName;

use crate::api::identity;
use crate::components::states::{Empty, loaded};
use crate::components::toast::use_toasts;
use crate::pages::require_session;
use crate::pages::shell::TopBar;
use crate::routes::Page;
use crate::{MeResource, use_api};

#[component]
pub fn Subscriptions() -> impl IntoView {
    require_session();
    let api = use_api();
    let me = expect_context::<MeResource>().0;
    let subscriptions = Load::new(move || async move { identity::subscriptions(api).await });
    let on_created = move || {
        subscriptions.refetch();
        me.refetch();
    };
    view! {
        <TopBar />
        <main class="narrow">
            <h1>"Subscriptions"</h1>
            <CreateSubscriptionForm on_created />
            <section class="card" aria-label="Your subscriptions">
                {move || {
                    loaded(
                        subscriptions.get(),
                        "subscriptions",
                        move || subscriptions.refetch(),
                        |page| {
                            if page.items.is_empty() {
                                return view! { <Empty message="No subscriptions yet: create one above." /> }.into_any();
                            }
                            view! {
                                <table id="subscriptions">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Name"</th>
                                            <th scope="col">"Id"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {page
                                            .items
                                            .into_iter()
                                            .map(|subscription| {
                                                view! {
                                                    <tr class="subscription">
                                                        <td class="name">
                                                            <a href=Page::Overview.href(&subscription.id)>{subscription.name.to_string()}</a>
                                                        </td>
                                                        <td><code>{subscription.id.to_string()}</code></td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        },
                    )
                }}
            </section>
        </main>
    }
}

#[component]
fn CreateSubscriptionForm(on_created: impl Fn() + 'static) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let (name, set_name) = signal(String::new());
    let (error, set_error) = signal(None::<String>);
    let create = Action::new_local(move |request: &CreateSubscription| {
        let request = request.clone();
        async move { identity::create_subscription(api, &request).await }
    });
    Effect::new(move || match create.value().get() {
        Some(Ok(created)) => {
            set_name.set(String::new());
            toasts.info(format!("Subscription {} created", created.name));
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
                <label for="subscription-name">"Name"</label>
                <input
                    id="subscription-name"
                    type="text"
                    placeholder="e.g. Contoso Manufacturing"
                    prop:value=name
                    on:input=move |event| set_name.set(event_target_value(&event))
                />
                <button id="create-subscription" type="submit" disabled=move || create.pending().get()>
                    "Create"
                </button>
            </form>
            {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
        </section>
    }
}
