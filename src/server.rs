//! `TcpListenerHandle`: a listening TCP socket (`TCPServerSocket`).
//!
//! Accepting follows the TCP data path: `tryAcceptBatch` accepts, synchronously on the
//! JS thread, every pending connection up to a limit (one crossing, many sockets); only
//! when none is pending does JavaScript arm the listener and wait (see `notify.rs`).
//! Unaccepted connections wait in the kernel's backlog, not in JavaScript.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream as StdTcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::PromiseRaw;
use napi::{Env, Result};
use napi_derive::napi;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;

use crate::error::SocketError;
use crate::notify::{Notifier, Watch};
use crate::policy::Policy;
use crate::sockets::{port, Sockets};
use crate::tcp::{self, CoreId, TcpCore};

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

#[napi]
pub struct TcpListenerHandle {
  /// A plain non-blocking listening socket; accepted streams never enter tokio's reactor
  /// unless JavaScript waits on them.
  slot: Mutex<Option<Arc<Socket>>>,
  watch: Watch,
  info: ListenerInfo,
  /// Every accepted connection's local address, when the listener is bound to a specific
  /// one (`None` for a wildcard, where each connection asks `getsockname`).
  accepted_local: Option<SocketAddr>,
}

/// Errors that concern one connection (it died before we accepted it), not the listener.
fn transient(e: &io::Error) -> bool {
  matches!(
    e.kind(),
    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
  )
}

/// One `accept`, the new socket already non-blocking (one syscall where `accept4` exists).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn accept(listener: &Socket) -> io::Result<(Socket, socket2::SockAddr)> {
  listener.accept4(Type::from(0).nonblocking().cloexec().into())
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn accept(listener: &Socket) -> io::Result<(Socket, socket2::SockAddr)> {
  let (socket, addr) = listener.accept()?;
  socket.set_nonblocking(true)?;
  Ok((socket, addr))
}

/// Accepts one connection, skipping connections that died in the backlog.
fn accept_one(listener: &Socket) -> io::Result<(StdTcpStream, SocketAddr)> {
  loop {
    match accept(listener) {
      Err(e) if transient(&e) => continue,
      Err(e) => return Err(e),
      Ok((socket, addr)) => match addr.as_socket() {
        Some(peer) => return Ok((socket.into(), peer)),
        None => continue,
      },
    }
  }
}

impl TcpListenerHandle {
  fn lock(&self) -> MutexGuard<'_, Option<Arc<Socket>>> {
    self.slot.lock().unwrap_or_else(|p| p.into_inner())
  }

  fn listener(&self) -> std::result::Result<Arc<Socket>, SocketError> {
    self.lock().clone().ok_or_else(SocketError::closed)
  }
}

#[napi]
impl TcpListenerHandle {
  /// Accepts up to `max` pending connections without blocking; an empty array when none
  /// is pending.
  #[napi]
  pub fn try_accept_batch(&self, max: u32) -> Result<Vec<CoreId>> {
    let listener = self.listener()?;
    let mut out = Vec::new();
    while out.len() < max.max(1) as usize {
      match accept_one(&listener) {
        Ok((stream, peer)) => {
          match TcpCore::accepted(stream, peer, self.accepted_local) {
            Ok(core) => match tcp::adopt(core) {
              Ok(id) => out.push(id),
              Err(e) if out.is_empty() => return Err(e.into()),
              // The table is full: that connection is closed (dropped); hand out what was
              // accepted first (the next call fails if the table is still full).
              Err(_) => break,
            },
            // The peer left between accept and getsockname: skip that connection.
            Err(_) => continue,
          }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
        Err(e) if out.is_empty() => return Err(SocketError::io("accept", &e, "").into()),
        // Report the error on the next call; hand out what was accepted first.
        Err(_) => break,
      }
    }
    // Connections came without a wait (or a full batch: more are coming): the listener
    // leaves tokio's reactor, as a read's socket does (`Watch::data_arrived`); registered
    // and not waited on, every incoming connection woke tokio's driver thread for nothing.
    // JavaScript calls this only while no wait of its own is armed (lib/server.js), and
    // the next wait registers again (registration reports a connection already pending).
    if !out.is_empty() {
      self.watch.data_arrived(out.len() >= max.max(1) as usize);
    }
    Ok(out)
  }

  /// `true` when a connection may be pending now; otherwise arms the listener so that
  /// `notifier` reports `token` once one is.
  #[napi]
  pub fn arm_readable(&self, notifier: &Notifier, token: u32) -> Result<bool> {
    let listener = self.listener()?;
    let fd = || Ok(listener.clone() as Arc<dyn AsRawFd + Send + Sync>);
    self.watch.arm(fd, notifier, token, "accept")
  }

  /// Stops listening and closes the descriptor now (the port can be bound again at once).
  #[napi]
  pub fn close(&self) {
    let listener = self.lock().take();
    self.watch.clear();
    drop(listener);
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
) -> io::Result<Socket> {
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
  Ok(socket)
}

#[napi]
impl Sockets {
  /// Opens a listening socket (`TCPServerSocket`). `localPort` 0 lets the OS choose.
  /// Resolves with the key `takeListener` gives the listener for (see `Parking`).
  #[napi(ts_return_type = "Promise<number>")]
  pub fn listen_tcp<'env>(
    &self,
    env: &'env Env,
    local_address: String,
    local_port: u32,
    backlog: Option<u32>,
    ipv6_only: Option<bool>,
  ) -> Result<PromiseRaw<'env, u32>> {
    // The future owns what it uses (see `Sockets::connect_tcp`).
    let policy = Arc::clone(&self.policy);
    let parked = Arc::clone(&self.parked_listeners);
    env.spawn_future(async move {
      let listener = listen(&policy, &local_address, local_port, backlog, ipv6_only)?;
      Ok(parked.park(listener))
    })
  }
}

/// Binds and listens; runs within the tokio runtime.
fn listen(
  policy: &Policy,
  local_address: &str,
  local_port: u32,
  backlog: Option<u32>,
  ipv6_only: Option<bool>,
) -> Result<TcpListenerHandle> {
  policy.check_constructor()?;
  let ip: IpAddr = local_address.parse().map_err(|_| {
    SocketError::type_error(format!("'{local_address}' is not a valid IP address."))
  })?;
  let port = port(local_port)?;
  policy.check_server_port(port)?;
  let detail = SocketAddr::new(ip, port).to_string();
  let listener = bind_listener(ip, port, backlog, ipv6_only)
    .map_err(|e| SocketError::io("listen", &e, detail))?;
  let local = listener
    .local_addr()
    .ok()
    .and_then(|a| a.as_socket())
    .ok_or_else(|| SocketError::network_code("EINVAL", "getsockname", ""))?;
  Ok(TcpListenerHandle {
    slot: Mutex::new(Some(Arc::new(listener))),
    watch: Watch::new(Interest::READABLE),
    info: ListenerInfo {
      local_address: local.ip().to_string(),
      local_port: local.port().into(),
    },
    accepted_local: (!local.ip().is_unspecified()).then_some(local),
  })
}
