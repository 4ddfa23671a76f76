//! `TcpListenerHandle`: a listening TCP socket (`TCPServerSocket`).
//!
//! Accepting follows the TCP data path: `tryAcceptBatch` accepts, synchronously on the
//! JS thread, every pending connection up to a limit (one crossing, many sockets); only
//! when none is pending does JavaScript arm the listener and wait (see `notify.rs`).
//! Unaccepted connections wait in the kernel's backlog, not in JavaScript.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use napi::Result;
use napi_derive::napi;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use crate::error::SocketError;
use crate::notify::{self, Notifier};
use crate::sockets::{port, Sockets};
use crate::tcp::TcpHandle;

/// `listen()` backlog when none is asked for: the kernel caps it at `net.core.somaxconn`,
/// so this means "the OS default".
const DEFAULT_BACKLOG: i32 = 4096;

/// Address and port a listener is bound to.
#[napi(object)]
#[derive(Clone, Debug)]
pub struct ListenerInfo {
  pub local_address: String,
  pub local_port: u32,
}

struct Listening {
  listener: TcpListener,
  /// A connection `poll_accept` took while arming; handed out by the next batch.
  stash: Option<TcpStream>,
}

#[napi]
pub struct TcpListenerHandle {
  slot: Mutex<Option<Listening>>,
  info: ListenerInfo,
  /// Accepted streams register with tokio's reactor, which needs its runtime entered;
  /// accepting runs on the JS thread, outside it.
  runtime: tokio::runtime::Handle,
}

/// Errors that concern one connection (it died before we accepted it), not the listener.
fn transient(e: &io::Error) -> bool {
  matches!(
    e.kind(),
    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
  )
}

impl TcpListenerHandle {
  fn lock(&self) -> MutexGuard<'_, Option<Listening>> {
    self.slot.lock().unwrap_or_else(|p| p.into_inner())
  }

  /// Polls for one connection, skipping connections that died in the backlog.
  fn poll_one(l: &Listening, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
    loop {
      match l.listener.poll_accept(cx) {
        Poll::Ready(Err(e)) if transient(&e) => continue,
        Poll::Ready(r) => return Poll::Ready(r.map(|(stream, _)| stream)),
        Poll::Pending => return Poll::Pending,
      }
    }
  }
}

#[napi]
impl TcpListenerHandle {
  /// Accepts up to `max` pending connections without blocking; an empty array when none
  /// is pending.
  #[napi]
  pub fn try_accept_batch(&self, max: u32) -> Result<Vec<TcpHandle>> {
    let _runtime = self.runtime.enter();
    let mut guard = self.lock();
    let Some(l) = guard.as_mut() else {
      return Err(SocketError::closed().into());
    };
    let mut out = Vec::new();
    if let Some(stream) = l.stash.take() {
      out.push(TcpHandle::from_stream(stream)?);
    }
    // Readiness is reported through `armReadable`; this poll only takes what is there.
    let mut cx = Context::from_waker(Waker::noop());
    while out.len() < max.max(1) as usize {
      match Self::poll_one(l, &mut cx) {
        Poll::Ready(Ok(stream)) => match TcpHandle::from_stream(stream) {
          Ok(h) => out.push(h),
          // The peer left between accept and getpeername: skip that connection.
          Err(_) => continue,
        },
        Poll::Ready(Err(e)) if out.is_empty() => {
          return Err(SocketError::io("accept", &e, "").into())
        }
        // Report the error on the next call; hand out what was accepted first.
        Poll::Ready(Err(_)) | Poll::Pending => break,
      }
    }
    Ok(out)
  }

  /// `true` when a connection is pending now; otherwise arms the listener so that
  /// `notifier` reports `token` once one is.
  #[napi]
  pub fn arm_readable(&self, notifier: &Notifier, token: u32) -> Result<bool> {
    let _runtime = self.runtime.enter();
    let mut guard = self.lock();
    let Some(l) = guard.as_mut() else {
      return Err(SocketError::closed().into());
    };
    if l.stash.is_some() {
      return Ok(true);
    }
    let mut accepted = None;
    let ready = notify::arm(notifier, token, "accept", |cx| {
      match Self::poll_one(l, cx) {
        Poll::Ready(Ok(stream)) => {
          accepted = Some(stream);
          Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
      }
    })?;
    l.stash = accepted;
    Ok(ready)
  }

  /// Stops listening and closes the descriptor now (the port can be bound again at once).
  #[napi]
  pub fn close(&self) {
    drop(self.lock().take());
  }

  #[napi]
  pub fn info(&self) -> ListenerInfo {
    self.info.clone()
  }
}

fn bind_listener(
  ip: IpAddr,
  port: u16,
  backlog: Option<u32>,
  ipv6_only: Option<bool>,
) -> io::Result<std::net::TcpListener> {
  let addr = SocketAddr::new(ip, port);
  let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
  // As `net` does on POSIX: a port left in TIME_WAIT can be listened on again at once.
  #[cfg(unix)]
  socket.set_reuse_address(true)?;
  if let (IpAddr::V6(_), Some(only)) = (ip, ipv6_only) {
    socket.set_only_v6(only)?;
  }
  socket.bind(&addr.into())?;
  let backlog = backlog.map_or(DEFAULT_BACKLOG, |b| b.min(DEFAULT_BACKLOG as u32) as i32);
  socket.listen(backlog)?;
  socket.set_nonblocking(true)?;
  Ok(socket.into())
}

#[napi]
impl Sockets {
  /// Opens a listening socket (`TCPServerSocket`). `localPort` 0 lets the OS choose.
  #[napi]
  pub async fn listen_tcp(
    &self,
    local_address: String,
    local_port: u32,
    backlog: Option<u32>,
    ipv6_only: Option<bool>,
  ) -> Result<TcpListenerHandle> {
    let policy = Arc::clone(&self.policy);
    let ip: IpAddr = local_address.parse().map_err(|_| {
      SocketError::type_error(format!("'{local_address}' is not a valid IP address."))
    })?;
    let port = port(local_port)?;
    policy.check_server_port(port)?;
    let detail = SocketAddr::new(ip, port).to_string();
    let std_listener = bind_listener(ip, port, backlog, ipv6_only)
      .map_err(|e| SocketError::io("listen", &e, detail.clone()))?;
    let listener =
      TcpListener::from_std(std_listener).map_err(|e| SocketError::io("listen", &e, detail))?;
    let local = listener
      .local_addr()
      .map_err(|e| SocketError::io("getsockname", &e, ""))?;
    Ok(TcpListenerHandle {
      slot: Mutex::new(Some(Listening {
        listener,
        stash: None,
      })),
      info: ListenerInfo {
        local_address: local.ip().to_string(),
        local_port: local.port().into(),
      },
      runtime: tokio::runtime::Handle::current(),
    })
  }
}
