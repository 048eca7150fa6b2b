//! Pieces of the data grids: sortable headers, row and page checkboxes, and cursor
//! paging ("Load more").

use leptos::prelude::*;

use crate::logic::grouping::Sort;
use crate::logic::selection::Selection;

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

/// The header cell that ticks (or unticks) every row of the page.
#[component]
pub fn PageCheckbox<Id>(
    /// The rows shown.
    ids: Vec<Id>,
    selection: RwSignal<Selection<Id>>,
    /// The rows, plural: "sensors", "alerts".
    noun: &'static str,
) -> impl IntoView
where
    Id: Ord + Clone + Send + Sync + 'static,
{
    let shown = ids.clone();
    let all_ticked =
        move || !shown.is_empty() && selection.with(|s| shown.iter().all(|id| s.is_selected(id)));
    view! {
        <th scope="col" class="check">
            <input
                type="checkbox"
                aria-label=format!("Select every {} on this page", noun.trim_end_matches('s'))
                prop:checked=all_ticked
                on:change=move |_| selection.update(|s| s.toggle_page(&ids))
            />
        </th>
    }
}

/// A row's cell that ticks the row; `label` names it ("pump-3").
#[component]
pub fn RowCheckbox<Id>(id: Id, selection: RwSignal<Selection<Id>>, label: String) -> impl IntoView
where
    Id: Ord + Clone + Send + Sync + 'static,
{
    let toggled = id.clone();
    view! {
        <td class="check">
            <input
                type="checkbox"
                aria-label=format!("Select {label}")
                prop:checked=move || selection.with(|s| s.is_selected(&id))
                on:change=move |_| selection.update(|s| s.toggle(&toggled))
            />
        </td>
    }
}
