//! One module per page.

mod console;
mod sign_in;

pub use console::Console;
pub use sign_in::SignIn;
