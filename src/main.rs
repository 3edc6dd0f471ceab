//! The `tokenledger` binary: parse the command line, start logging, run the subcommand.

use clap::Parser;

fn main() -> std::process::ExitCode {
    tokenledger::telemetry::init_tracing();
    let cli = tokenledger::cli::Cli::parse();
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tokenledger: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
