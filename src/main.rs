//! The `tokenledger` binary: parse the command line, start logging, run the subcommand.

use clap::Parser;

// The relay allocates a string per attribute value on its hot path; mimalloc does that markedly faster than the
// system allocator (BENCHMARKS.md has both figures; src/allocator.rs its settings).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = tokenledger::cli::Cli::parse();
    // Only the relay: `run` would hand the MIMALLOC_* settings on to its child, and short commands gain nothing.
    #[cfg(feature = "mimalloc")]
    if cli.command.is_relay() {
        tokenledger::allocator::tune();
    }
    tokenledger::telemetry::init_tracing();
    match cli.run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tokenledger: {error:#}");
            tokenledger::cli::exit::code_for(&error)
        }
    }
}
