//! Filters bound to the query string: changing one replaces the history entry, so a
//! link can be shared and Back leaves the page rather than undoing a filter.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use crate::logic::query::QueryPairs;

/// Sets `key` in the current URL's query (empty removes it), replacing the entry.
pub fn use_set_param() -> impl Fn(&str, &str) + Clone + 'static {
    let navigate = use_navigate();
    let location = use_location();
    move |key: &str, value: &str| {
        let search = QueryPairs::parse(&location.search.get_untracked())
            .with(key, value)
            .to_search();
        navigate(
            &format!("{}{search}", location.pathname.get_untracked()),
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    }
}

/// The current query string, parsed.
pub fn use_query_pairs() -> Memo<QueryPairs> {
    let location = use_location();
    Memo::new(move |_| QueryPairs::parse(&location.search.get()))
}

/// A labelled `<select>` bound to `key`; the first option clears it.
#[component]
pub fn FilterSelect(
    #[prop(into)] label: String,
    key: &'static str,
    #[prop(into)] options: Signal<Vec<(String, String)>>,
    /// The first option, which sets nothing: "All" unless named.
    #[prop(optional)]
    unset: Option<&'static str>,
) -> impl IntoView {
    let query = use_query_pairs();
    let set = use_set_param();
    let id = format!("filter-{key}");
    let label_for = id.clone();
    view! {
        <label class="filter" for=label_for>
            <span>{label}</span>
            <select
                id=id
                on:change=move |event| set(key, &event_target_value(&event))
                prop:value=move || query.with(|q| q.get(key).unwrap_or_default().to_owned())
            >
                <option value="">{unset.unwrap_or("All")}</option>
                {move || {
                    let current = query.with(|q| q.get(key).unwrap_or_default().to_owned());
                    options
                        .get()
                        .into_iter()
                        .map(|(value, text)| {
                            let selected = value == current;
                            view! { <option value=value selected=selected>{text}</option> }
                        })
                        .collect_view()
                }}
            </select>
        </label>
    }
}

/// A labelled `<input>` bound to `key` (`kind`: its `type`), set when it changes.
#[component]
pub fn FilterInput(label: &'static str, key: &'static str, kind: &'static str) -> impl IntoView {
    let query = use_query_pairs();
    let set = use_set_param();
    let id = format!("filter-{key}");
    let label_for = id.clone();
    view! {
        <label class="filter" for=label_for>
            <span>{label}</span>
            <input
                id=id
                type=kind
                prop:value=move || query.with(|q| q.get(key).unwrap_or_default().to_owned())
                on:change=move |event| set(key, &event_target_value(&event))
            />
        </label>
    }
}

/// The page's search box, bound to `q`; `/` focuses it.
#[component]
pub fn SearchBox(#[prop(into)] label: String) -> impl IntoView {
    let query = use_query_pairs();
    let set = use_set_param();
    let input = NodeRef::<leptos::html::Input>::new();
    let handle = window_event_listener(leptos::ev::keydown, move |event| {
        let typing = event
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(t).ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
        if event.key() == "/" && !typing {
            event.prevent_default();
            if let Some(input) = input.get() {
                let _ = input.focus();
            }
        }
    });
    on_cleanup(move || handle.remove());
    view! {
        <label class="filter search" for="filter-q">
            <span>{label}</span>
            <input
                id="filter-q"
                type="search"
                node_ref=input
                placeholder="Press / to search"
                prop:value=move || query.with(|q| q.get("q").unwrap_or_default().to_owned())
                on:input=move |event| set("q", &event_target_value(&event))
            />
        </label>
    }
}
