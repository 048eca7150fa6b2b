//! Vigil's domain: every rule written once, for the browser (wasm32) and the server.
//!
//! No tokio, no AWS, no I/O, no clock: this crate must compile to
//! `wasm32-unknown-unknown`, and every rule that depends on time takes `now`.
//!
//! - [`authz`]: permissions, roles, scopes and the one access decision.
//! - [`model`]: domain types and their rules, one file per concept.
//! - [`api`]: the request and response bodies of the HTTP contract.
//!
//! The `openapi` feature derives the OpenAPI schemas of those bodies (`utoipa`), for
//! the functions' generated document; the browser app leaves it off.

#[macro_use]
mod schema;

pub mod api;
pub mod authz;
pub mod model;
