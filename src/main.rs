//! The `tokenledger` binary: parse the command line, start logging, run the subcommand.

use clap::Parser;

// The relay allocates a string per attribute value on its hot path; mimalloc does that markedly faster than the
// system allocator, and keeps more memory resident (BENCHMARKS.md has both figures).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
