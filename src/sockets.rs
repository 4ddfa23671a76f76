//! `Sockets`: a policy bound to the operations that open sockets.
//!
//! JavaScript holds one per class set (`withPolicy`); every open goes through its methods,
//! so no socket can be opened without the policy having been asked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::PromiseRaw;
use napi::{Env, Result};
use napi_derive::napi;

use crate::error::SocketError;
use crate::policy::{Policy, PolicyConfig};
use crate::server::TcpListenerHandle;
use crate::sockopt::TcpOptions;
use crate::tcp::{self, CoreId};
use crate::udp::UdpHandle;

#[napi]
pub struct Sockets {
  pub(crate) policy: Arc<Policy>,
  pub(crate) parked_udp: Arc<Parking<UdpHandle>>,
  pub(crate) parked_listeners: Arc<Parking<TcpListenerHandle>>,
}

/// Native objects that async work made, kept under a number until JavaScript takes them.
/// Async opens resolve with that number, not the object: a promise resolved with an object
/// looks up its `then`, and a getter user code put on `Object.prototype` would be handed
/// the native socket (and every method it has, policy checks aside).
pub(crate) struct Parking<T> {
  next: AtomicU32,
  slots: Mutex<HashMap<u32, T>>,
}

impl<T> Parking<T> {
  fn new() -> Self {
    Parking {
      next: AtomicU32::new(1),
      slots: Mutex::new(HashMap::new()),
    }
  }

  fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<u32, T>> {
    self.slots.lock().unwrap_or_else(|p| p.into_inner())
  }

  /// Keeps `value`; the number to take it back with.
  pub(crate) fn park(&self, value: T) -> u32 {
    let key = self.next.fetch_add(1, Ordering::Relaxed);
    self.slots().insert(key, value);
    key
  }

  /// The value parked under `key`, once.
  pub(crate) fn take(&self, key: u32) -> Result<T> {
    self
      .slots()
      .remove(&key)
      .ok_or_else(|| SocketError::invalid_state("No socket is waiting under that key.").into())
  }
}

/// A port number from JavaScript (already range-checked by the WebIDL layer; checked again).
pub(crate) fn port(value: u32) -> std::result::Result<u16, SocketError> {
  u16::try_from(value).map_err(|_| SocketError::type_error(format!("{value} is not a port.")))
}

#[napi]
impl Sockets {
  /// Builds the native side of a policy; malformed values throw an encoded `TypeError`.
  #[napi(constructor)]
  pub fn new(config: Option<PolicyConfig>) -> Result<Self> {
    let policy = Policy::from_config(config.unwrap_or_default())?;
    Ok(Sockets {
      policy: Arc::new(policy),
      parked_udp: Arc::new(Parking::new()),
      parked_listeners: Arc::new(Parking::new()),
    })
  }

  /// The UDP socket a `connectUdp` / `bindUdp` promise resolved the key of.
  #[napi]
  pub fn take_udp(&self, key: u32) -> Result<UdpHandle> {
    self.parked_udp.take(key)
  }

  /// The listener a `listenTcp` promise resolved the key of.
  #[napi]
  pub fn take_listener(&self, key: u32) -> Result<TcpListenerHandle> {
    self.parked_listeners.take(key)
  }

  /// Throws an encoded `NotAllowedError` unless constructors are allowed.
  #[napi]
  pub fn check_constructor(&self) -> Result<()> {
    Ok(self.policy.check_constructor()?)
  }

  /// Whether `checkConstructor` passes (a policy never changes: JavaScript asks once and
  /// calls `checkConstructor` only for the error).
  #[napi(getter)]
  pub fn constructors_allowed(&self) -> bool {
    self.policy.check_constructor().is_ok()
  }

  /// Throws an encoded `NotAllowedError` unless multicast is allowed.
  #[napi]
  pub fn check_multicast(&self) -> Result<()> {
    Ok(self.policy.check_multicast()?)
  }

  #[napi(getter)]
  pub fn multicast_allowed(&self) -> bool {
    self.policy.multicast
  }

  /// Starts a TCP connection to an IP literal on the calling thread (see
  /// `tcp::connect_start`); `null` for a host name, which `connectTcp` resolves.
  #[napi]
  pub fn connect_tcp_start(
    &self,
    host: String,
    port_number: u32,
    options: TcpOptions,
  ) -> Result<Option<CoreId>> {
    let port = port(port_number)?;
    match tcp::connect_start(&self.policy, &host, port, &options)? {
      Some(core) => Ok(Some(tcp::adopt(core)?)),
      None => Ok(None),
    }
  }

  /// Opens a TCP connection (`TCPSocket`).
  ///
  /// Not an `async fn`: the future of an `async fn(&self)` reads `self` when tokio first
  /// polls it, and a worker thread that exits right after calling frees `self` (its
  /// environment finalizes every wrapped object) before that poll: a use after free, seen
  /// as crashes in the worker_threads tests. The policy is taken here, on the JS thread,
  /// and the future owns everything it uses.
  /// The connected socket is put in the JS thread's table as the promise resolves.
  #[napi(ts_return_type = "Promise<number>")]
  pub fn connect_tcp<'env>(
    &self,
    env: &'env Env,
    host: String,
    port_number: u32,
    options: TcpOptions,
  ) -> Result<PromiseRaw<'env, CoreId>> {
    let policy = Arc::clone(&self.policy);
    env.spawn_future_with_callback(
      async move {
        let port = port(port_number)?;
        Ok(tcp::connect(&policy, &host, port, &options).await?)
      },
      |_env, core| Ok(tcp::adopt(core)?),
    )
  }
}
