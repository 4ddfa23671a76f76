//! `TcpHandle`: one connected TCP stream.
//!
//! The data path runs on the JS thread: `tryRead` and `tryWrite` are synchronous,
//! non-blocking calls on memory JavaScript owns (no copy, no external buffer). Only when
//! the socket would block does JavaScript wait for readiness.
//!
//! When a call would block, JavaScript arms the socket (`armReadable` / `armWritable`,
//! see `notify.rs`) and waits for the notifier to report it ready.
//!
//! Closing takes the stream out of its slot, which closes the descriptor at once;
//! dropping the handle (the GC collected it) does the same.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use napi::Result;
use napi_derive::napi;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::{TcpSocket, TcpStream};

use crate::error::SocketError;
use crate::notify::{self, Notifier};
use crate::policy::{Policy, Purpose};
use crate::resolve::QueryType;
use crate::sockopt::{self, TcpOptions};

/// Addresses of a connected socket, as the OS reports them.
#[napi(object)]
#[derive(Clone, Debug)]
pub struct SocketInfo {
  pub local_address: String,
  pub local_port: u32,
  pub remote_address: String,
  pub remote_port: u32,
}

/// A `Uint8Array` JavaScript lends for one call; napi-rs hands it over without a copy.
/// (Named so the macro converts it as a value rather than as a class reference.)
type BytesMut<'a> = &'a mut [u8];

/// Result of `tryRead` when nothing is ready.
const WOULD_BLOCK: i64 = -1;

#[napi]
pub struct TcpHandle {
  stream: Mutex<Option<TcpStream>>,
  info: SocketInfo,
}

fn would_block(e: &io::Error) -> bool {
  e.kind() == io::ErrorKind::WouldBlock
}

/// One non-blocking syscall, even when tokio believes the socket is not ready: tokio
/// learns of new data only once its driver thread has processed the event, and asking it
/// alone would report "would block" for bytes that are already there.
///
/// When tokio does believe the socket ready, the syscall runs inside `try_io`, so that a
/// would-block clears tokio's cached readiness with tokio's own race-free bookkeeping
/// (clearing it by hand could swallow an event that arrived meanwhile, and a later wait
/// would never end). Otherwise the syscall runs directly and readiness is left alone.
fn direct_io<T>(
  stream: &TcpStream,
  interest: Interest,
  mut op: impl FnMut(&mut &socket2::Socket) -> io::Result<T>,
) -> io::Result<T> {
  let sock = SockRef::from(stream);
  let mut once = || loop {
    match op(&mut &*sock) {
      Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
      r => return r,
    }
  };
  let mut ran = false;
  match stream.try_io(interest, || {
    ran = true;
    once()
  }) {
    Err(e) if would_block(&e) && !ran => once(),
    r => r,
  }
}

impl TcpHandle {
  /// Wraps a connected (or accepted) stream.
  pub fn from_stream(stream: TcpStream) -> std::result::Result<Self, SocketError> {
    let local = stream
      .local_addr()
      .map_err(|e| SocketError::io("getsockname", &e, ""))?;
    let remote = stream
      .peer_addr()
      .map_err(|e| SocketError::io("getpeername", &e, ""))?;
    Ok(TcpHandle {
      stream: Mutex::new(Some(stream)),
      info: SocketInfo {
        local_address: local.ip().to_string(),
        local_port: local.port().into(),
        remote_address: remote.ip().to_string(),
        remote_port: remote.port().into(),
      },
    })
  }

  fn slot(&self) -> MutexGuard<'_, Option<TcpStream>> {
    self
      .stream
      .lock()
      .unwrap_or_else(|poisoned| poisoned.into_inner())
  }

  fn with_stream<T>(&self, f: impl FnOnce(&TcpStream) -> Result<T>) -> Result<T> {
    match self.slot().as_ref() {
      Some(stream) => f(stream),
      None => Err(SocketError::closed().into()),
    }
  }
}

#[napi]
impl TcpHandle {
  /// Reads into `buf`: the byte count, 0 at end of stream, -1 when it would block.
  #[napi]
  pub fn try_read(&self, #[napi(ts_arg_type = "Uint8Array")] buf: BytesMut<'_>) -> Result<i64> {
    self.with_stream(
      |s| match direct_io(s, Interest::READABLE, |sock| sock.read(buf)) {
        Ok(n) => Ok(n as i64),
        Err(e) if would_block(&e) => Ok(WOULD_BLOCK),
        Err(e) => Err(SocketError::io("read", &e, "").into()),
      },
    )
  }

  /// Writes from `buf`: the byte count written (maybe fewer than asked), -1 when the
  /// send buffer is full.
  #[napi]
  pub fn try_write(&self, buf: &[u8]) -> Result<i64> {
    self.with_stream(
      |s| match direct_io(s, Interest::WRITABLE, |sock| sock.write(buf)) {
        Ok(n) => Ok(n as i64),
        Err(e) if would_block(&e) => Ok(WOULD_BLOCK),
        Err(e) => Err(SocketError::io("write", &e, "").into()),
      },
    )
  }

  /// `true` if the socket may be readable now; otherwise arms it so that `notifier`
  /// reports `token` once it is (see `notify.rs`).
  #[napi]
  pub fn arm_readable(&self, notifier: &Notifier, token: u32) -> Result<bool> {
    self.with_stream(|s| notify::arm(notifier, token, "read", |cx| s.poll_read_ready(cx)))
  }

  /// `true` if the socket may be writable now; otherwise arms it like `armReadable`.
  #[napi]
  pub fn arm_writable(&self, notifier: &Notifier, token: u32) -> Result<bool> {
    self.with_stream(|s| notify::arm(notifier, token, "write", |cx| s.poll_write_ready(cx)))
  }

  /// Half-closes: sends FIN; reading goes on.
  #[napi]
  pub fn shutdown_write(&self) -> Result<()> {
    self.with_stream(|s| match sockopt::shutdown_write(s) {
      // The peer may already be gone; the write side is shut either way.
      Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
      r => r.map_err(|e| SocketError::io("shutdown", &e, "").into()),
    })
  }

  /// Closes the socket (the descriptor is closed now); idempotent.
  #[napi]
  pub fn close(&self) {
    drop(self.slot().take());
  }

  /// Local and remote address and port.
  #[napi]
  pub fn info(&self) -> SocketInfo {
    self.info.clone()
  }
}

async fn connect_one(addr: SocketAddr, opts: &TcpOptions) -> io::Result<TcpStream> {
  let sock = if addr.is_ipv4() {
    TcpSocket::new_v4()?
  } else {
    TcpSocket::new_v6()?
  };
  sockopt::set_buffer_sizes(&sock, opts)?;
  let stream = sock.connect(addr).await?;
  sockopt::set_stream_options(&stream, opts)?;
  Ok(stream)
}

/// Resolves `host`, checks every candidate with the policy and connects to the first
/// checked address that answers.
pub async fn connect(
  policy: &Policy,
  host: &str,
  port: u16,
  opts: &TcpOptions,
) -> std::result::Result<TcpHandle, SocketError> {
  policy.check_host(host, Purpose::TcpConnect)?;
  let query = QueryType::parse(opts.dns_query_type.as_deref())?;
  let candidates = policy.resolver().resolve(host, query).await?;
  let mut refused = None;
  let mut failed = None;
  for ip in candidates {
    if let Err(e) = policy.check_destination(ip, Purpose::TcpConnect) {
      refused.get_or_insert(e);
      continue;
    }
    let addr = SocketAddr::new(ip, port);
    match connect_one(addr, opts).await {
      Ok(stream) => return TcpHandle::from_stream(stream),
      Err(e) => failed = Some(SocketError::io("connect", &e, addr.to_string())),
    }
  }
  Err(
    failed
      .or(refused)
      .unwrap_or_else(|| SocketError::network_code("ENOTFOUND", "getaddrinfo", host)),
  )
}
