//! Harness shared by the cross-crate tests: processes they start and stop themselves,
//! and the fixtures and checks the area tests share.

pub mod browser;
pub mod contract;
pub mod embedded;
pub mod fleet;
pub mod load;
pub mod moto;
pub mod oidc;
pub mod race;
pub mod receiver;
pub mod vigil;
