//! Exit codes: the one place where the errors commands return become the status a script sees.
//!
//! The codes follow sysexits.h, so scripts can tell "fix your config" from "try again later". A command that runs
//! a child (`tokenledger run`) returns the child's status as its own instead of an error.

use std::process::ExitCode;

use super::demo::DemoError;
use super::health::HealthError;
use super::weekly::PeriodError;
use crate::beads::BeadsError;
use crate::config::ConfigError;
use crate::demo::send::SendError;
use crate::launch::{AttributeError, LaunchError};
use crate::ledger::LedgerError;

/// Anything not listed below.
pub const FAILURE: u8 = 1;
/// A flag's value makes no sense, or a workflow attribute given to `run` / `env` cannot be sent (EX_USAGE);
/// nothing was run.
pub const USAGE: u8 = 64;
/// Input data could not be read, in part or in whole (EX_DATAERR): lines of a Beads JSONL file; demo records a
/// receiver rejected.
pub const DATAERR: u8 = 65;
/// The workflow asked for has no records (EX_NOINPUT).
pub const NO_INPUT: u8 = 66;
/// The service asked is not there or not healthy; ClickHouse, `bd` or the demo's OTLP receiver cannot be reached
/// (EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// ClickHouse answered a query with an error, e.g. a table is missing (EX_SOFTWARE).
pub const QUERY_FAILED: u8 = 70;
/// The configuration could not be read or makes no sense (EX_CONFIG).
pub const CONFIG: u8 = 78;
/// `run`: the command exists but cannot be executed (as shells report it).
pub const NOT_EXECUTABLE: u8 = 126;
/// `run`: the command was not found (as shells report it).
pub const NOT_FOUND: u8 = 127;

/// The exit code for an error that reached the top.
pub fn code_for(error: &anyhow::Error) -> ExitCode {
    for cause in error.chain() {
        if cause.downcast_ref::<ConfigError>().is_some() {
            return ExitCode::from(CONFIG);
        }
        if cause.downcast_ref::<AttributeError>().is_some() {
            return ExitCode::from(USAGE);
        }
        match cause.downcast_ref::<LaunchError>() {
            Some(LaunchError::NotFound { .. }) => return ExitCode::from(NOT_FOUND),
            Some(LaunchError::NotExecutable { .. }) => return ExitCode::from(NOT_EXECUTABLE),
            _ => {}
        }
        if cause.downcast_ref::<HealthError>().is_some() {
            return ExitCode::from(UNAVAILABLE);
        }
        if cause.downcast_ref::<DemoError>().is_some() {
            return ExitCode::from(USAGE);
        }
        match cause.downcast_ref::<SendError>() {
            Some(SendError::Rejected { .. } | SendError::Refused { .. }) => return ExitCode::from(DATAERR),
            Some(SendError::Unreachable { .. } | SendError::Unavailable { .. }) => return ExitCode::from(UNAVAILABLE),
            None => {}
        }
        if cause.downcast_ref::<PeriodError>().is_some() {
            return ExitCode::from(USAGE);
        }
        match cause.downcast_ref::<BeadsError>() {
            Some(BeadsError::BadLines { .. }) => return ExitCode::from(DATAERR),
            Some(BeadsError::Spawn { .. }) => return ExitCode::from(UNAVAILABLE),
            _ => {}
        }
        if let Some(ledger) = cause.downcast_ref::<LedgerError>() {
            return ExitCode::from(match ledger {
                LedgerError::UnknownWorkflow { .. } => NO_INPUT,
                LedgerError::Unreachable { .. } => UNAVAILABLE,
                LedgerError::QueryFailed { .. } => QUERY_FAILED,
            });
        }
    }
    ExitCode::from(FAILURE)
}
