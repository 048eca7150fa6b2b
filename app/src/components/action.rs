//! One component for every action a permission guards: enabled when `shared::authz`
//! grants it, otherwise still in place, `aria-disabled`, inert, with the reason as
//! its title. The server refuses on its own; this only says so before the click.

use leptos::prelude::*;
use shared::authz::PermissionSet;

use crate::logic::denial::At;
use crate::tenant::use_tenant;

#[component]
pub fn Guarded(
    /// The visible name, as CONSOLE.md writes it.
    #[prop(into)]
    label: String,
    /// Every permission the action needs.
    needs: PermissionSet,
    /// Where it applies.
    #[prop(into)]
    at: Signal<At>,
    #[prop(into)] on_click: Callback<()>,
    /// A reason besides permissions (nothing selected, work in progress).
    #[prop(optional, into)]
    blocked: Option<Signal<Option<String>>>,
    #[prop(optional)] class: &'static str,
    #[prop(optional)] menu_item: bool,
) -> impl IntoView {
    let tenant = use_tenant();
    let reason = Memo::new(move |_| {
        let at = at.get();
        tenant
            .with(|tenant| tenant.denial(needs, &at))
            .or_else(|| blocked.and_then(|blocked| blocked.get()))
    });
    view! {
        <button
            type="button"
            class=class
            role=menu_item.then_some("menuitem")
            aria-disabled=move || reason.with(Option::is_some).then_some("true")
            title=move || reason.get()
            on:click=move |_| {
                if reason.with_untracked(Option::is_none) {
                    on_click.run(());
                }
            }
        >
            {label}
        </button>
    }
}
