//! Pages of the console that are not built yet say so, in the shell.

use leptos::prelude::*;

use crate::routes::Page;

#[component]
pub fn Coming(page: Page) -> impl IntoView {
    view! {
        <section class="card coming">
            <h1>{page.title()}</h1>
            <p class="hint">"This page is coming in the next release of the console. The API already serves it."</p>
        </section>
    }
}
