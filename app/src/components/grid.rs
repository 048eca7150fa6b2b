//! Pieces of the data grids: sortable headers, a select-all checkbox, and cursor
//! paging ("Load more").

use leptos::prelude::*;

use crate::logic::grouping::Sort;

/// A `<th>` that sorts its column when clicked, with `aria-sort`.
#[component]
pub fn SortHeader(
    #[prop(into)] name: String,
    column: usize,
    sort: RwSignal<Option<Sort>>,
) -> impl IntoView {
    view! {
        <th scope="col" aria-sort=move || Sort::aria(sort.get(), column)>
            <button type="button" class="sort" on:click=move |_| sort.update(|s| *s = Some(Sort::clicked(*s, column)))>
                {name}
            </button>
        </th>
    }
}

/// The next page of a cursor-paged list.
#[component]
pub fn LoadMore(
    #[prop(into)] more: Signal<bool>,
    #[prop(into)] loading: Signal<bool>,
    #[prop(into)] on_load: Callback<()>,
) -> impl IntoView {
    move || {
        more.get().then(|| {
            view! {
                <div class="pager">
                    <button type="button" class="secondary" disabled=move || loading.get() on:click=move |_| on_load.run(())>
                        {move || if loading.get() { "Loading…" } else { "Load more" }}
                    </button>
                </div>
            }
        })
    }
}
