//! A cursor-paged list bound to its page's filters: the first screen loads when the
//! filters change, a live refresh reloads as many rows as are shown (so the user's
//! place is kept), "Load more" appends the next page.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use leptos::prelude::*;
use shared::api::Page;

use crate::api::ApiError;
use crate::logic::query::QueryPairs;

/// Rows per page of every grid.
pub const PAGE_SIZE: u32 = 50;

/// Fetches a page for the filters: the first screen without a cursor, else the page
/// after it.
pub type FetchPage<T> = Rc<
    dyn Fn(
        QueryPairs,
        u32,
        Option<String>,
    ) -> Pin<Box<dyn Future<Output = Result<Page<T>, ApiError>>>>,
>;

/// A [`FetchPage`] from an async function of the filters, limit and cursor.
pub fn fetch_with<T, Fut>(
    fetch: impl Fn(QueryPairs, u32, Option<String>) -> Fut + 'static,
) -> FetchPage<T>
where
    Fut: Future<Output = Result<Page<T>, ApiError>> + 'static,
{
    Rc::new(move |filters, limit, cursor| Box::pin(fetch(filters, limit, cursor)))
}

pub struct Paged<T: Send + Sync + 'static> {
    /// `None` until the first answer for the current filters.
    pub rows: RwSignal<Option<Result<Page<T>, ApiError>>>,
    pub loading_more: RwSignal<bool>,
    filters: Memo<QueryPairs>,
    fetch: StoredValue<FetchPage<T>, LocalStorage>,
}

impl<T: Send + Sync + 'static> Clone for Paged<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Paged<T> {}

impl<T: Clone + Send + Sync + 'static> Paged<T> {
    pub fn new(filters: Memo<QueryPairs>, fetch: FetchPage<T>) -> Self {
        let paged = Paged {
            rows: RwSignal::new(None),
            loading_more: RwSignal::new(false),
            filters,
            fetch: StoredValue::new_local(fetch),
        };
        Effect::new(move || {
            filters.track();
            paged.rows.set(None);
            paged.reload(false);
        });
        paged
    }

    /// Loads the first screen again: as many rows as are shown when `keep_rows`.
    pub fn reload(&self, keep_rows: bool) {
        let Paged {
            rows,
            filters,
            fetch,
            ..
        } = *self;
        let shown = rows.with_untracked(|r| match r {
            Some(Ok(page)) if keep_rows => page.items.len() as u32,
            _ => 0,
        });
        let limit = shown.clamp(PAGE_SIZE, shared::api::MAX_PAGE_LIMIT);
        let asked = filters.get_untracked();
        let request = fetch.with_value(|fetch| fetch(asked.clone(), limit, None));
        leptos::task::spawn_local(async move {
            let answer = request.await;
            // An answer for filters since changed is dropped: the newer one follows.
            if filters.with_untracked(|now| *now == asked) {
                rows.set(Some(answer));
            }
        });
    }

    /// Appends the next page, if there is one.
    pub fn load_more(&self, on_error: impl Fn(ApiError) + 'static) {
        let Paged {
            rows,
            loading_more,
            filters,
            fetch,
        } = *self;
        let Some(cursor) = rows.with_untracked(|r| {
            r.as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|r| r.next_cursor.clone())
        }) else {
            return;
        };
        let request =
            fetch.with_value(|fetch| fetch(filters.get_untracked(), PAGE_SIZE, Some(cursor)));
        loading_more.set(true);
        leptos::task::spawn_local(async move {
            match request.await {
                Ok(page) => rows.update(|r| {
                    if let Some(Ok(shown)) = r {
                        shown.items.extend(page.items);
                        shown.next_cursor = page.next_cursor;
                    }
                }),
                Err(error) => on_error(error),
            }
            loading_more.set(false);
        });
    }

    /// How many rows are shown and whether more follow; `None` while loading.
    pub fn loaded(&self) -> Option<(usize, bool)> {
        self.rows.with(|r| {
            r.as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|r| (r.items.len(), r.next_cursor.is_some()))
        })
    }

    /// The rows shown, without subscribing.
    pub fn shown_untracked(&self) -> Vec<T> {
        self.rows.with_untracked(|r| {
            r.as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|r| r.items.clone())
                .unwrap_or_default()
        })
    }
}

/// The server's counts for a list's filters, kept beside its rows: cleared when the
/// filters change, reloaded with the rows; a late answer for filters no longer shown is
/// dropped, and a failed one leaves `None` (the page then says less, not something wrong).
pub struct Counts<T: Send + Sync + 'static> {
    pub value: RwSignal<Option<T>>,
    load: StoredValue<Rc<dyn Fn()>, LocalStorage>,
}

impl<T: Send + Sync + 'static> Clone for Counts<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Counts<T> {}

impl<T: Send + Sync + 'static> Counts<T> {
    pub fn new<Fut>(filters: Memo<QueryPairs>, fetch: impl Fn(QueryPairs) -> Fut + 'static) -> Self
    where
        Fut: Future<Output = Result<T, ApiError>> + 'static,
    {
        let value = RwSignal::new(None);
        let fetch = Rc::new(fetch);
        let load: Rc<dyn Fn()> = Rc::new(move || {
            let asked = filters.get_untracked();
            let answer = fetch(asked.clone());
            leptos::task::spawn_local(async move {
                let answer = answer.await.ok();
                if filters.try_get_untracked().as_ref() == Some(&asked) {
                    value.try_set(answer);
                }
            });
        });
        let load = StoredValue::new_local(load);
        Effect::new(move || {
            filters.track();
            value.set(None);
            load.with_value(|load| load());
        });
        Counts { value, load }
    }

    pub fn reload(&self) {
        self.load.with_value(|load| load());
    }
}
