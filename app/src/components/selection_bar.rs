//! What a grid's selection covers, with "Select all that match the filter" and
//! "Clear selection".

use leptos::prelude::*;

use crate::logic::selection::Selection;

#[component]
pub fn SelectionBar<Id>(
    selection: RwSignal<Selection<Id>>,
    /// How many rows are loaded, and whether more pages follow; `None` while loading.
    #[prop(into)]
    loaded: Signal<Option<(usize, bool)>>,
    #[prop(into)] filtered: Signal<bool>,
    /// The rows, plural: "sensors", "alerts".
    noun: &'static str,
) -> impl IntoView
where
    Id: Ord + Clone + Send + Sync + 'static,
{
    move || {
        let (loaded, more) = loaded.get()?;
        let text = selection.with(|s| match s {
            Selection::AllMatching { except } if except.is_empty() => {
                format!("All {noun} that match the filter are selected")
            }
            Selection::AllMatching { except } => format!(
                "All {noun} that match the filter are selected, except {}",
                except.len()
            ),
            Selection::Chosen(chosen) => format!("{} selected", chosen.len()),
        });
        let select_all = if more || filtered.get() {
            "Select all that match the filter".to_owned()
        } else {
            format!("Select all {loaded}")
        };
        Some(view! {
            <div class="selection" aria-live="polite">
                <span id="selection-count">{text}</span>
                {(!selection.with(Selection::is_all_matching)).then(|| view! {
                    <button type="button" class="link" on:click=move |_| selection.update(Selection::select_all_matching)>
                        {select_all}
                    </button>
                })}
                {(!selection.with(Selection::is_empty)).then(|| view! {
                    <button type="button" class="link" on:click=move |_| selection.update(Selection::clear)>"Clear selection"</button>
                })}
            </div>
        })
    }
}
