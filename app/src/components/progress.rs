//! The progress of a bulk action: a bar, done / failed counts, cancel, and the
//! failures listed.

use leptos::prelude::*;

use crate::logic::bulk::BulkProgress;

#[component]
pub fn BulkProgressBar(
    #[prop(into)] title: Signal<String>,
    progress: RwSignal<Option<BulkProgress>>,
) -> impl IntoView {
    move || {
        progress.get().map(|state| {
            let title = title.get();
            let finished = state.is_finished();
            let failures = state.failed.clone();
            view! {
                <section class="bulk" aria-label=title.clone()>
                    <p>
                        <strong>{title.clone()}</strong>
                        " — "
                        <span class="bulk-summary">{state.summary()}</span>
                    </p>
                    <div
                        class="progress"
                        role="progressbar"
                        aria-valuemin="0"
                        aria-valuemax="100"
                        aria-valuenow=state.percent().to_string()
                        aria-valuetext=state.summary()
                    >
                        <div class="bar" style=format!("width: {}%", state.percent())></div>
                    </div>
                    {(!failures.is_empty())
                        .then(|| {
                            view! {
                                <ul class="failures">
                                    {failures
                                        .into_iter()
                                        .map(|(item, why)| view! { <li>{format!("{item}: {why}")}</li> })
                                        .collect_view()}
                                </ul>
                            }
                        })}
                    {if finished {
                        view! {
                            <button type="button" class="secondary" on:click=move |_| progress.set(None)>
                                "Dismiss"
                            </button>
                        }
                            .into_any()
                    } else {
                        view! {
                            <button
                                type="button"
                                class="secondary"
                                on:click=move |_| progress.update(|p| if let Some(p) = p { p.cancelled = true })
                            >
                                "Cancel"
                            </button>
                        }
                            .into_any()
                    }}
                </section>
            }
        })
    }
}
