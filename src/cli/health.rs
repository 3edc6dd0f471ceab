//! `tokenledger health`: asks a running relay's admin listener whether it is alive (/healthz) or ready
//! (/readyz); exit 0 when it answers 200. The relay's image has no curl, so compose's healthcheck runs this.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::Config;

/// How long the whole check may take; a healthcheck must not hang.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Why a relay is not healthy.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// Nothing answered at the address.
    #[error("no answer from {addr}: {source}")]
    Unreachable {
        /// Where the check connected.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The relay answered, but not 200.
    #[error("{path} at {addr} answered {status_line}: {body}")]
    Unhealthy {
        /// Where the check connected.
        addr: SocketAddr,
        /// /healthz or /readyz.
        path: &'static str,
        /// The HTTP status line.
        status_line: String,
        /// What the relay said (for /readyz: what it waits for).
        body: String,
    },
}

/// Checks the relay configured by `config` (its `admin.addr`; an unspecified address means this host), or `addr`.
pub fn check(config: &Config, addr: Option<SocketAddr>, ready: bool) -> Result<(), HealthError> {
    let addr = addr.unwrap_or_else(|| loopback_if_unspecified(config.admin.addr));
    let path = if ready { "/readyz" } else { "/healthz" };
    let unreachable = |source| HealthError::Unreachable { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(unreachable)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(unreachable)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(unreachable)?;
    // HTTP/1.0 with Connection: close: the answer ends when the relay closes, no chunking to read.
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(unreachable)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(unreachable)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer.as_str(), ""));
    let status_line = head.lines().next().unwrap_or_default().to_string();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(HealthError::Unhealthy { addr, path, status_line, body: body.trim().to_string() })
    }
}

fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

/// Runs the check and prints what the relay said.
pub fn run(config: &Config, addr: Option<SocketAddr>, ready: bool) -> anyhow::Result<()> {
    check(config, addr, ready)?;
    println!("{}", if ready { "ready" } else { "ok" });
    Ok(())
}
