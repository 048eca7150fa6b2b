//! The local binary: `vigil serve` runs every function and the SPA in one process.

use clap::{Parser, Subcommand};
use functions::local::{ServeArgs, serve};

#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "Vigil: a security console for OT/IoT sensor fleets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the SPA.
    Serve(ServeArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let Cli { command } = Cli::parse();
    let outcome = match command {
        Command::Serve(args) => serve(args).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vigil: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
