//! Lists that sensors feed refresh on their own while the tab is visible.

use std::time::Duration;

use leptos::prelude::*;

/// How often a visible page refreshes.
pub const REFRESH_EVERY: Duration = Duration::from_secs(20);

/// Calls `refresh` every [`REFRESH_EVERY`] while the document is visible, until the
/// calling component is gone.
pub fn refresh_while_visible(refresh: impl Fn() + 'static) {
    let handle = set_interval_with_handle(
        move || {
            if document().visibility_state() == web_sys::VisibilityState::Visible {
                refresh();
            }
        },
        REFRESH_EVERY,
    );
    if let Ok(handle) = handle {
        on_cleanup(move || handle.clear());
    }
}
