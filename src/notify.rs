//! Readiness notifications without a thread hop on the way in.
//!
//! When a synchronous read or write would block, JavaScript "arms" the socket: we poll
//! tokio's readiness on the JS thread itself with a waker of our own. If the socket is
//! already ready, the answer is immediate and nothing crosses a thread. Otherwise tokio's
//! I/O driver keeps the waker and, when the socket becomes ready, wakes it from the driver
//! thread; the waker then calls one `ThreadsafeFunction` per JS thread with the token
//! JavaScript chose, and JavaScript resolves whatever waited on that token.
//!
//! Compared with an `async fn` per wait this saves spawning a task (and waking a worker
//! to poll it) on every would-block, which measured ~90 us a wait on this kind of machine.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use napi::threadsafe_function::{
  ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::Result;
use napi_derive::napi;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::SocketError;

/// Weak (it never keeps the event loop alive by itself; JavaScript holds a timer while
/// waits are pending), not callee-handled: the callback gets the token alone.
type Callback = ThreadsafeFunction<u32, UnknownReturnValue, u32, napi::Status, false, true>;

/// The JS thread's end of readiness notifications: one per module instance (per thread).
#[napi]
pub struct Notifier {
  callback: Arc<Callback>,
  /// The runtime whose I/O driver watches the sockets armed through this notifier (one
  /// per process: lib.rs). Kept here, so that a socket need not hold a handle of its own.
  runtime: tokio::runtime::Handle,
}

#[napi]
impl Notifier {
  /// `callback(token)` runs on the JS thread when an armed socket becomes ready.
  #[napi(constructor)]
  pub fn new(#[napi(ts_arg_type = "(token: number) => void")] callback: Callback) -> Result<Self> {
    let runtime =
      napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::try_current)
        .map_err(|e| SocketError::network_code("EIO", "tokio", e.to_string()))?;
    Ok(Notifier {
      callback: Arc::new(callback),
      runtime,
    })
  }
}

struct TokenWaker {
  token: u32,
  callback: Arc<Callback>,
}

impl Wake for TokenWaker {
  fn wake(self: Arc<Self>) {
    self.wake_by_ref();
  }

  fn wake_by_ref(self: &Arc<Self>) {
    self
      .callback
      .call(self.token, ThreadsafeFunctionCallMode::NonBlocking);
  }
}

/// Polls `poll_ready` with a waker that will report `token` to `notifier`.
/// `Ok(true)`: ready now. `Ok(false)`: armed; the callback will run once ready.
pub fn arm(
  notifier: &Notifier,
  token: u32,
  syscall: &'static str,
  poll_ready: impl FnOnce(&mut Context<'_>) -> Poll<std::io::Result<()>>,
) -> Result<bool> {
  let waker = Waker::from(Arc::new(TokenWaker {
    token,
    callback: Arc::clone(&notifier.callback),
  }));
  match poll_ready(&mut Context::from_waker(&waker)) {
    Poll::Ready(Ok(())) => Ok(true),
    Poll::Ready(Err(e)) => Err(SocketError::io(syscall, &e, "").into()),
    Poll::Pending => Ok(false),
  }
}

/// A descriptor tokio can watch: the `Arc` keeps the socket open for as long as the
/// registration lives.
struct Watched(Arc<dyn AsRawFd + Send + Sync>);

impl AsRawFd for Watched {
  fn as_raw_fd(&self) -> RawFd {
    self.0.as_raw_fd()
  }
}

type Readiness = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

struct Registration {
  fd: Arc<AsyncFd<Watched>>,
  /// A wait that also watches for socket errors, kept alive while it is pending (tokio
  /// only reports error readiness to a `ready(interest)` future, not to `poll_*_ready`).
  /// Boxed once more, so that the field is one pointer: every socket holds two `Watch`es.
  pending: Option<Box<Readiness>>,
}

/// tokio's registration of one socket for one interest, made when JavaScript first waits
/// and kept until `clear` (or the socket closes).
///
/// Read and write waits use separate `Watch`es: the write one registers a duplicate
/// descriptor, because epoll takes a descriptor once and both waits can be pending.
pub struct Watch {
  interest: Interest,
  slot: Mutex<Option<Registration>>,
  /// An arm since the last `data_arrived` found the socket not ready (a real wait).
  waited: AtomicBool,
}

impl Watch {
  /// `interest`: `READABLE` or `WRITABLE`, optionally with `ERROR`.
  pub fn new(interest: Interest) -> Self {
    Watch {
      interest,
      slot: Mutex::new(None),
      waited: AtomicBool::new(false),
    }
  }

  fn lock(&self) -> MutexGuard<'_, Option<Registration>> {
    self
      .slot
      .lock()
      .unwrap_or_else(|poisoned| poisoned.into_inner())
  }

  /// Ends the registration (a no-op when there is none).
  pub fn clear(&self) {
    drop(self.lock().take());
  }

  /// A read got data. The registration stays only when that data needed a wait and the
  /// buffer was not filled (request/response that waits every time: registering again for
  /// each wait would cost two `epoll_ctl` calls). Otherwise the socket leaves the reactor:
  /// while registered and not waited on, every segment that arrives wakes tokio's driver
  /// thread for nothing, a context switch per message on a busy CPU.
  pub fn data_arrived(&self, filled: bool) {
    if !self.waited.swap(false, Ordering::Relaxed) || filled {
      self.clear();
    }
  }

  /// Registers the socket (`fd()` gives the descriptor to watch, the first time) and polls
  /// its readiness with a waker that reports `token` to `notifier`. Registration reports
  /// readiness that is already there, so nothing is missed between the failed syscall and
  /// the wait. `Ok(true)`: try the syscall again now.
  ///
  /// `AsyncFd::with_interest` is deprecated because a caller could close the descriptor
  /// while it is registered; `Watched` owns an `Arc` of the socket, so that cannot happen
  /// here, and the replacement (`register_with_interest`) is `unsafe`, which this crate
  /// does not use.
  #[allow(deprecated)]
  pub fn arm(
    &self,
    fd: impl FnOnce() -> io::Result<Arc<dyn AsRawFd + Send + Sync>>,
    notifier: &Notifier,
    token: u32,
    syscall: &'static str,
  ) -> Result<bool> {
    let _runtime = notifier.runtime.enter();
    let mut slot = self.lock();
    if slot.is_none() {
      let fd = fd().map_err(|e| SocketError::io("dup", &e, ""))?;
      let registered = AsyncFd::with_interest(Watched(fd), self.interest)
        .map_err(|e| SocketError::io("epoll_ctl", &e, ""))?;
      *slot = Some(Registration {
        fd: Arc::new(registered),
        pending: None,
      });
    }
    let Some(reg) = slot.as_mut() else {
      return Err(SocketError::closed().into());
    };
    let interest = self.interest;
    // Ready may be what tokio cached from an earlier event: clear it, and let JavaScript
    // try the syscall again (any event after that sets it anew), so a stale "ready" cannot
    // make JavaScript spin.
    let ready = if interest.is_error() {
      let fd = Arc::clone(&reg.fd);
      let mut wait: Readiness = Box::pin(async move {
        let mut guard = fd.ready(interest).await?;
        guard.clear_ready();
        Ok(())
      });
      let ready = arm(notifier, token, syscall, |cx| wait.as_mut().poll(cx))?;
      reg.pending = if ready { None } else { Some(Box::new(wait)) };
      ready
    } else {
      let fd = &reg.fd;
      arm(notifier, token, syscall, |cx| {
        if interest.is_readable() {
          fd.poll_read_ready(cx)
            .map_ok(|mut guard| guard.clear_ready())
        } else {
          fd.poll_write_ready(cx)
            .map_ok(|mut guard| guard.clear_ready())
        }
      })?
    };
    // A real wait: the data that ends it keeps the registration (see `data_arrived`).
    self.waited.fetch_or(!ready, Ordering::Relaxed);
    Ok(ready)
  }
}
