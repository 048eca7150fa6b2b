//! Pages of the console that are not built yet say so, in the shell.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::routes::Page;

#[component]
pub fn Coming() -> impl IntoView {
    let params = use_params_map();
    move || {
        match params.with(|p| p.get("page")).as_deref().and_then(Page::from_segment) {
        Some(page) => view! {
            <section class="card coming">
                <h1>{page.title()}</h1>
                <p class="hint">"This page is coming in the next release of the console. The API already serves it."</p>
            </section>
        }
        .into_any(),
        None => view! {
            <section class="card">
                <h1>"Not found"</h1>
                <p>"No page here."</p>
            </section>
        }
        .into_any(),
    }
    }
}
