//! Exit codes: the one place where the errors commands return become the status a script sees.
//!
//! The codes follow sysexits.h, so scripts can tell "fix your config" from "try again later". A command that runs
//! a child (`tokenledger run`) returns the child's status as its own instead of an error.

use std::process::ExitCode;

use super::health::HealthError;
use super::weekly::PeriodError;
use crate::beads::BeadsError;
use crate::config::ConfigError;

/// Anything not listed below.
pub const FAILURE: u8 = 1;
/// A flag's value makes no sense (EX_USAGE).
pub const USAGE: u8 = 64;
/// Input data could not be read, in part or in whole (EX_DATAERR): lines of a Beads JSONL file.
pub const DATAERR: u8 = 65;
/// The service asked is not there or not healthy (EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// The configuration could not be read or makes no sense (EX_CONFIG).
pub const CONFIG: u8 = 78;

/// The exit code for an error that reached the top.
pub fn code_for(error: &anyhow::Error) -> ExitCode {
    for cause in error.chain() {
        if cause.downcast_ref::<ConfigError>().is_some() {
            return ExitCode::from(CONFIG);
        }
        if cause.downcast_ref::<HealthError>().is_some() {
            return ExitCode::from(UNAVAILABLE);
        }
        if cause.downcast_ref::<PeriodError>().is_some() {
            return ExitCode::from(USAGE);
        }
        match cause.downcast_ref::<BeadsError>() {
            Some(BeadsError::BadLines { .. }) => return ExitCode::from(DATAERR),
            Some(BeadsError::Spawn { .. }) => return ExitCode::from(UNAVAILABLE),
            _ => {}
        }
    }
    ExitCode::from(FAILURE)
}
