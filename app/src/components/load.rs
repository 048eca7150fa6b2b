//! A value loaded from the API: `None` until the first answer, then the latest one,
//! kept while a reload runs (a live refresh never flashes "Loading").
//!
//! Used instead of `LocalResource`: one signal and one task per load measured
//! smaller in the wasm than the async-derived machinery each resource instantiates,
//! and the console's size is budgeted (BENCHMARKS.md).

use std::future::Future;
use std::pin::Pin;

use leptos::prelude::*;

use crate::api::ApiError;

pub struct Load<T: Send + Sync + 'static> {
    value: RwSignal<Option<Result<T, ApiError>>>,
    version: RwSignal<u64>,
}

impl<T: Send + Sync + 'static> Clone for Load<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Load<T> {}

/// Applies a finished request's answer.
type Commit = Box<dyn FnOnce()>;
/// Starts a request; its future ends with what to apply.
type Start = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Commit>>>>;

impl<T: Clone + Send + Sync + 'static> Load<T> {
    /// Runs `fetch` now and again whenever a signal it reads before its first
    /// `.await` changes, or on [`Load::refetch`]. Only the newest request's answer is
    /// kept, so a slow stale answer never overwrites a fresh one.
    pub fn new<Fut>(fetch: impl Fn() -> Fut + 'static) -> Self
    where
        Fut: Future<Output = Result<T, ApiError>> + 'static,
    {
        let value = RwSignal::new(None);
        let version = RwSignal::new(0_u64);
        drive(
            version,
            Box::new(move || {
                let request = fetch();
                Box::pin(async move {
                    let answer = request.await;
                    Box::new(move || {
                        value.try_set(Some(answer));
                    }) as Commit
                })
            }),
        );
        Load { value, version }
    }

    pub fn get(&self) -> Option<Result<T, ApiError>> {
        self.value.get()
    }

    pub fn get_untracked(&self) -> Option<Result<T, ApiError>> {
        self.value.get_untracked()
    }

    pub fn refetch(&self) {
        self.version.update(|v| *v += 1);
    }
}

/// The part of every load that does not depend on what it loads, compiled once
/// rather than once per loaded type (the console's size is budgeted).
fn drive(version: RwSignal<u64>, start: Start) {
    let newest = StoredValue::new(0_u64);
    Effect::new(move || {
        version.track();
        let request = start();
        let id = newest.get_value() + 1;
        newest.set_value(id);
        leptos::task::spawn_local(async move {
            let commit = request.await;
            if newest.try_get_value() == Some(id) {
                commit();
            }
        });
    });
}
