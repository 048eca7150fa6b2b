//! The console's building blocks, shared by every page.

pub mod action;
pub mod charts;
pub mod dialog;
pub mod download;
pub mod filter_bar;
pub mod grid;
pub mod live;
pub mod load;
pub mod paged;
pub mod progress;
pub mod secret;
pub mod selection_bar;
pub mod states;
pub mod tabs;
pub mod toast;
