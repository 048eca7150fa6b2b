//! Short notices ("Plan added") in a live region, gone after a few seconds.

use std::time::Duration;

use leptos::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    id: u64,
    text: String,
    is_error: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Toasts {
    shown: RwSignal<Vec<Toast>>,
    next: StoredValue<u64>,
}

impl Toasts {
    pub fn new() -> Self {
        Toasts {
            shown: RwSignal::new(Vec::new()),
            next: StoredValue::new(0),
        }
    }

    pub fn info(&self, text: impl Into<String>) {
        self.push(text.into(), false);
    }

    pub fn error(&self, text: impl Into<String>) {
        self.push(text.into(), true);
    }

    fn push(&self, text: String, is_error: bool) {
        let id = self.next.get_value();
        self.next.set_value(id + 1);
        self.shown
            .update(|shown| shown.push(Toast { id, text, is_error }));
        let shown = self.shown;
        set_timeout(
            move || shown.update(|shown| shown.retain(|toast| toast.id != id)),
            Duration::from_secs(if is_error { 12 } else { 6 }),
        );
    }
}

impl Default for Toasts {
    fn default() -> Self {
        Self::new()
    }
}

pub fn use_toasts() -> Toasts {
    expect_context::<Toasts>()
}

#[component]
pub fn ToastRegion() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || toasts.shown.get() key=|toast| toast.id let:toast>
                <p class=if toast.is_error { "toast error" } else { "toast" }>{toast.text}</p>
            </For>
        </div>
    }
}
