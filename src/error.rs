//! The one place that names errors crossing into JavaScript.
//!
//! Rust reports a spec error name, an OS cause (errno or a Node-style code such as
//! `ENOTFOUND`), the syscall and a detail; `lib/errors.js` turns that into a
//! `DOMException` (or `TypeError`) whose `cause` is a Node-style system error.

use std::fmt;
use std::io;

/// The error names of the Direct Sockets spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorName {
  Network,
  NotAllowed,
  InvalidState,
  Type,
}

impl ErrorName {
  pub fn as_str(self) -> &'static str {
    match self {
      ErrorName::Network => "NetworkError",
      ErrorName::NotAllowed => "NotAllowedError",
      ErrorName::InvalidState => "InvalidStateError",
      ErrorName::Type => "TypeError",
    }
  }
}

/// An error on its way to JavaScript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketError {
  pub name: ErrorName,
  /// A Node-style code (`ENOTFOUND`) when there is no errno to name it.
  pub code: &'static str,
  /// The OS error number, 0 when there is none.
  pub errno: i32,
  /// The operation that failed (`connect`, `read`, `getaddrinfo`, ...).
  pub syscall: &'static str,
  /// What it was applied to, or a sentence when there is no OS cause.
  pub detail: String,
}

/// Field separator of the encoded reason; it cannot appear in addresses or our messages.
const SEP: char = '\u{1f}';

impl SocketError {
  fn new(name: ErrorName, detail: impl Into<String>) -> Self {
    SocketError {
      name,
      code: "",
      errno: 0,
      syscall: "",
      detail: detail.into(),
    }
  }

  /// An OS error from `syscall`, reported as a `NetworkError`.
  pub fn io(syscall: &'static str, err: &io::Error, detail: impl Into<String>) -> Self {
    let mut e = Self::new(ErrorName::Network, detail);
    e.syscall = syscall;
    match err.raw_os_error() {
      Some(errno) => e.errno = errno,
      None => {
        e.code = match err.kind() {
          io::ErrorKind::TimedOut => "ETIMEDOUT",
          io::ErrorKind::ConnectionRefused => "ECONNREFUSED",
          io::ErrorKind::ConnectionReset => "ECONNRESET",
          io::ErrorKind::InvalidInput => "EINVAL",
          _ => "EIO",
        };
        if e.detail.is_empty() {
          e.detail = err.to_string();
        }
      }
    }
    e
  }

  /// A network failure with a Node-style code and no errno (DNS failures).
  pub fn network_code(
    code: &'static str,
    syscall: &'static str,
    detail: impl Into<String>,
  ) -> Self {
    let mut e = Self::new(ErrorName::Network, detail);
    e.code = code;
    e.syscall = syscall;
    e
  }

  pub fn not_allowed(detail: impl Into<String>) -> Self {
    Self::new(ErrorName::NotAllowed, detail)
  }

  pub fn invalid_state(detail: impl Into<String>) -> Self {
    Self::new(ErrorName::InvalidState, detail)
  }

  pub fn type_error(detail: impl Into<String>) -> Self {
    Self::new(ErrorName::Type, detail)
  }

  /// The socket was closed while an operation waited on it.
  pub fn closed() -> Self {
    Self::invalid_state("The socket is closed.")
  }

  /// The reason string `lib/errors.js` decodes.
  pub fn encode(&self) -> String {
    format!(
      "{}{SEP}{}{SEP}{}{SEP}{}{SEP}{}",
      self.name.as_str(),
      self.code,
      self.errno,
      self.syscall,
      self.detail
    )
  }
}

impl fmt::Display for SocketError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(
      f,
      "{}: {} {}",
      self.name.as_str(),
      self.syscall,
      self.detail
    )
  }
}

impl std::error::Error for SocketError {}

impl From<SocketError> for napi::Error {
  fn from(e: SocketError) -> Self {
    napi::Error::new(napi::Status::GenericFailure, e.encode())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn encodes_five_fields() {
    let err = io::Error::from_raw_os_error(111);
    let e = SocketError::io("connect", &err, "127.0.0.1:1");
    assert_eq!(
      e.encode(),
      "NetworkError\u{1f}\u{1f}111\u{1f}connect\u{1f}127.0.0.1:1"
    );
  }

  #[test]
  fn io_error_without_errno_gets_a_code() {
    let err = io::Error::new(io::ErrorKind::TimedOut, "late");
    let e = SocketError::io("connect", &err, "");
    assert_eq!(e.code, "ETIMEDOUT");
    assert_eq!(e.detail, "late");
  }
}
