//! Vigil's domain: every rule written once, for the browser (wasm32) and the server.
//!
//! No tokio, no AWS, no I/O, no clock: this crate must compile to
//! `wasm32-unknown-unknown`, and every rule that depends on time takes `now`.
//!
//! - [`authz`]: permissions, roles, scopes and the one access decision.
//! - [`model`]: domain types and their rules, one file per concept.
//! - [`api`]: the request and response bodies of the HTTP contract.

pub mod api;
pub mod authz;
pub mod model;
