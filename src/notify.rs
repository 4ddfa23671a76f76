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

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use napi::threadsafe_function::{
  ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::Result;
use napi_derive::napi;

use crate::error::SocketError;

/// Weak (it never keeps the event loop alive by itself; JavaScript holds a timer while
/// waits are pending), not callee-handled: the callback gets the token alone.
type Callback = ThreadsafeFunction<u32, UnknownReturnValue, u32, napi::Status, false, true>;

/// The JS thread's end of readiness notifications: one per module instance (per thread).
#[napi]
pub struct Notifier {
  callback: Arc<Callback>,
}

#[napi]
impl Notifier {
  /// `callback(token)` runs on the JS thread when an armed socket becomes ready.
  #[napi(constructor)]
  pub fn new(#[napi(ts_arg_type = "(token: number) => void")] callback: Callback) -> Self {
    Notifier {
      callback: Arc::new(callback),
    }
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
