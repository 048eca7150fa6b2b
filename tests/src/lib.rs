//! Harness shared by the cross-crate tests: processes they start and stop themselves.

pub mod browser;
pub mod contract;
pub mod fleet;
pub mod moto;
pub mod owner;
pub mod vigil;
