//! The console's logic that renders nothing: plain Rust, tested natively with
//! ordinary `#[test]`s (`cargo test -p app --lib`).

pub mod api_tokens;
pub mod audit;
pub mod bulk;
pub mod denial;
pub mod diagnostics;
pub mod format;
pub mod grouping;
pub mod notifications;
pub mod oidc;
pub mod query;
pub mod rules;
pub mod selection;
pub mod sensor_settings;
pub mod timeline;
