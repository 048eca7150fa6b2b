//! Tabs whose choice lives in the URL (`?tab=`).

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use crate::logic::query::QueryPairs;

#[component]
pub fn Tabs(
    tabs: Vec<(&'static str, &'static str)>,
    #[prop(into)] current: Signal<String>,
) -> impl IntoView {
    let navigate = use_navigate();
    let location = use_location();
    view! {
        <div class="tabs" role="tablist">
            {tabs
                .into_iter()
                .map(|(key, label)| {
                    let navigate = navigate.clone();
                    view! {
                        <button
                            type="button"
                            role="tab"
                            aria-selected=move || (current.get() == key).to_string()
                            on:click=move |_| {
                                let search = QueryPairs::parse(&location.search.get_untracked())
                                    .with("tab", key)
                                    .to_search();
                                navigate(
                                    &format!("{}{search}", location.pathname.get_untracked()),
                                    NavigateOptions { replace: true, ..Default::default() },
                                );
                            }
                        >
                            {label}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}
