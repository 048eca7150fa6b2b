//! A modal dialog and a side pane: titled regions with a close button; Escape closes.

use leptos::prelude::*;

#[component]
pub fn Dialog(
    #[prop(into)] title: String,
    #[prop(into)] on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let label = title.clone();
    view! {
        <div class="overlay" on:keydown=move |event| close_on_escape(&event, on_close)>
            <div class="dialog" role="dialog" aria-modal="true" aria-label=label>
                <TitleBar title on_close />
                {children()}
            </div>
        </div>
    }
}

#[component]
pub fn Pane(
    #[prop(into)] title: String,
    #[prop(into)] on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let label = title.clone();
    view! {
        <aside
            class="pane"
            role="complementary"
            aria-label=label
            on:keydown=move |event| close_on_escape(&event, on_close)
        >
            <TitleBar title on_close />
            {children()}
        </aside>
    }
}

fn close_on_escape(event: &leptos::ev::KeyboardEvent, on_close: Callback<()>) {
    if event.key() == "Escape" {
        on_close.run(());
    }
}

#[component]
fn TitleBar(title: String, on_close: Callback<()>) -> impl IntoView {
    view! {
        <header>
            <h2>{title}</h2>
            <button type="button" class="icon" aria-label="Close" on:click=move |_| on_close.run(())>
                "×"
            </button>
        </header>
    }
}

/// "Are you sure?" before something that cannot be undone.
#[component]
pub fn Confirm(
    #[prop(into)] title: String,
    #[prop(into)] message: String,
    #[prop(into)] confirm: String,
    #[prop(into)] on_confirm: Callback<()>,
    #[prop(into)] on_close: Callback<()>,
    #[prop(optional, into)] busy: Signal<bool>,
) -> impl IntoView {
    view! {
        <Dialog title on_close>
            <p>{message}</p>
            <div class="buttons">
                <button type="button" class="danger" disabled=move || busy.get() on:click=move |_| on_confirm.run(())>
                    {confirm}
                </button>
                <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
        </Dialog>
    }
}

/// A drop-down of actions; native `<details>` keeps it keyboard-reachable.
/// Choosing an item closes it.
#[component]
pub fn Menu(#[prop(into)] label: String, children: Children) -> impl IntoView {
    let details = NodeRef::<leptos::html::Details>::new();
    let close = move |_| {
        if let Some(details) = details.get() {
            details.set_open(false);
        }
    };
    view! {
        <details class="menu" node_ref=details>
            <summary role="button" aria-haspopup="menu">{label}</summary>
            <div class="menu-items" role="menu" on:click=close>{children()}</div>
        </details>
    }
}
