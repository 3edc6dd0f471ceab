//! The global allocator's settings. The relay uses mimalloc (feature `mimalloc`, on by default): it is ~35 %
//! faster than the system allocator on the relay's allocation-heavy hot path, but by default it commits whole
//! arenas up front, which at 20k events/s held ~80-100 MiB resident instead of ~55 MiB (BENCHMARKS.md). Returning
//! freed memory at once as well (MIMALLOC_PURGE_DELAY=0) saves little more and costs ~25 % of the throughput, so
//! that one is left at mimalloc's default.
//!
//! mimalloc reads its options from MIMALLOC_* environment variables when the process loads, before `main`, and
//! arena commitment cannot be changed afterwards. So when they are unset, the relay sets them and re-executes
//! itself, once. Set them yourself to choose other values.

use std::ffi::OsStr;

/// Commit arena memory when it is used, not when the arena is reserved.
const ARENA_EAGER_COMMIT: (&str, &str) = ("MIMALLOC_ARENA_EAGER_COMMIT", "0");

/// The variables to add to the environment; empty when the user set them (or this is the re-executed process).
pub fn missing_settings(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<(&'static str, &'static str)> {
    [ARENA_EAGER_COMMIT].into_iter().filter(|(name, _)| get(name).is_none()).collect()
}

/// Re-executes the process with the settings it lacks. Call before anything else runs (`main` does, for `serve`
/// only: other commands are short, and `run` would hand the variables on to its child). Returns only when nothing is
/// missing or the re-execution failed (then mimalloc's defaults stay: more memory, same behaviour).
pub fn tune() {
    let missing = missing_settings(|name| std::env::var_os(name));
    if missing.is_empty() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else { return };
        let mut command = std::process::Command::new(exe);
        command.args(std::env::args_os().skip(1));
        for (name, value) in missing {
            command.env(name, OsStr::new(value));
        }
        // exec replaces this process (same pid, same arguments); it only returns on failure.
        let _error = command.exec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unset_variables_are_added_and_a_user_choice_stands() {
        assert_eq!(missing_settings(|_| None), [ARENA_EAGER_COMMIT]);
        let user_set = |name: &str| (name == "MIMALLOC_ARENA_EAGER_COMMIT").then(|| "1".into());
        assert!(missing_settings(user_set).is_empty());
    }
}
