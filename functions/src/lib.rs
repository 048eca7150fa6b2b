//! Vigil's HTTP functions: thin handlers over `shared`'s rules and the store.
//!
//! Each area is an axum router; the lambda binaries serve one each, and the local
//! `vigil` binary mounts them all in one process.

// Handlers allocate many small, short-lived values (JSON in and out); glibc's allocator
// spent a fifth of a list request's CPU time on them (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod access;
pub mod alert_counts;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod cloud;
pub mod contention;
pub mod demo;
pub mod devices;
pub mod http;
pub mod identity;
pub mod ids;
pub mod ingest;
pub mod keys;
pub mod local;
pub mod merged;
pub mod notifications;
pub mod openapi;
pub mod plans;
pub mod rbac;
pub mod records;
pub mod retention;
pub mod sensors;
pub mod sim;
pub mod sites;
pub mod store;
