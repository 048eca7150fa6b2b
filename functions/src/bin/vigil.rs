//! The local binary: `vigil serve` runs every function and the SPA in one process.

use clap::{Parser, Subcommand};
use functions::local::{ServeArgs, serve};
use functions::sim::{self, SimArgs};

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
    /// Simulate OT sensors against a Vigil (local or deployed): heartbeats, alerts,
    /// devices, and the TI and software updates it pushes.
    SensorSim(SimArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Cli { command } = Cli::parse();
    let logs = tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| "info,tower_http=warn".into()),
    );
    match command {
        // Its standard output is the summary alone.
        Command::SensorSim(_) => logs.with_writer(std::io::stderr).init(),
        Command::Serve(_) => logs.init(),
    }
    let outcome = match command {
        Command::Serve(args) => serve(args).await,
        Command::SensorSim(args) => sim::run(args).await.map(|_| ()).map_err(Into::into),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vigil: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
