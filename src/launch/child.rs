//! Runs a workflow step's command as a child with extra environment variables, standard streams inherited, and
//! returns its exit status the way a shell reports it (a child killed by signal N gives 128 + N).
//!
//! Signals: the child stays in tokenledger's process group, so the terminal's own signals (Ctrl-C's SIGINT,
//! Ctrl-\'s SIGQUIT, a hangup's SIGHUP) reach it directly and are not sent again. SIGINT, SIGTERM, SIGHUP and
//! SIGQUIT sent to tokenledger by another process (`kill`, a process manager, CI) are forwarded to the child.
//! tokenledger itself does not stop on them: it waits for the child and exits with the child's status.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::{Cause, Origin};

/// The signals passed on to the child.
pub const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Why the command could not be run.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No command after `--`.
    #[error("no command to run: give it after `--`, e.g. `tokenledger run --stage plan -- claude -p \"…\"`")]
    NoCommand,
    /// The program does not exist (shells exit 127).
    #[error("{program}: command not found")]
    NotFound {
        /// The program as given.
        program: String,
    },
    /// The program exists but cannot be executed (shells exit 126).
    #[error("{program}: cannot execute")]
    NotExecutable {
        /// The program as given.
        program: String,
        /// The OS error.
        source: io::Error,
    },
    /// Signal handling could not be set up.
    #[error("cannot set up signal forwarding: {0}")]
    Signals(io::Error),
    /// Waiting for the child failed.
    #[error("waiting for {program}")]
    Wait {
        /// The program as given.
        program: String,
        /// The OS error.
        source: io::Error,
    },
}

/// Runs `command` (program and arguments) with `vars` added to the inherited environment; returns its exit code.
pub fn run(command: &[OsString], vars: &[(String, String)]) -> Result<u8, LaunchError> {
    let (program, args) = command.split_first().ok_or(LaunchError::NoCommand)?;
    let name = program.to_string_lossy().into_owned();
    // Registered before the child exists, so a signal arriving meanwhile is queued and forwarded once it does.
    let mut signals = SignalsInfo::<WithOrigin>::new(FORWARDED).map_err(LaunchError::Signals)?;
    let handle = signals.handle();
    let mut child = match Command::new(program).args(args).envs(vars.iter().map(|(k, v)| (k, v))).spawn() {
        Ok(child) => child,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(LaunchError::NotFound { program: name }),
        Err(source) => return Err(LaunchError::NotExecutable { program: name, source }),
    };
    let pid = child.id() as libc::pid_t;
    let forwarder = std::thread::spawn(move || {
        for origin in signals.forever() {
            if should_forward(&origin) {
                // SAFETY: kill(2) with a pid we spawned and have not reaped yet (the handle is closed, ending this
                // loop, only after `wait` returned) and a signal number from the registered set.
                unsafe { libc::kill(pid, origin.signal) };
            }
        }
    });
    let status = child.wait();
    handle.close();
    let _ = forwarder.join();
    let status = status.map_err(|source| LaunchError::Wait { program: name, source })?;
    Ok(exit_code(status))
}

/// Whether a signal tokenledger received must be sent on: not when the kernel sent it to the whole foreground
/// process group (a terminal's Ctrl-C, Ctrl-\ or hangup), which the child is part of.
fn should_forward(origin: &Origin) -> bool {
    origin.cause != Cause::Kernel
}

/// The status as a shell reports it: the exit code, or 128 + the signal that killed the child.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_shells() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(SIGTERM)), 128 + 15);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
    }
}
