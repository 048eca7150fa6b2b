//! The rules of `shared`, tested from outside the crate as the server and the SPA
//! use them. One binary, a module per area.

mod access;
mod permission_matrix;
mod validation;
