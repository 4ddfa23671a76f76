//! Bounded busy-polling for traffic that is about to arrive (see `Spin::read`).
//!
//! When a receive would block right after this socket sent something (TCP: a request, so
//! the reply is often a few tens of microseconds away) or right after it received (UDP:
//! datagrams streaming in), waiting through tokio costs two thread wake-ups (tokio's
//! driver, then the JS thread), and the sender pays for waking a sleeping receiver too.
//! Instead the receive is retried for a short, bounded time, yielding the CPU between
//! tries (so a peer on the same CPU runs). It only happens when primed and while it pays:
//! after `GIVE_UP_AFTER` spins in a row that found nothing, the socket stops spinning for
//! `COOL_DOWN` would-blocks, then tries again. JavaScript allows it only while no other
//! socket of its thread is waiting, so a busy server never spins, and only for a socket
//! whose read follows its own last read on the thread (lib/wait.js `maySpin`: several
//! conversations at once poll only in the end-of-turn retry of their reads).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Spin {
  primed: AtomicBool,
  misses: AtomicU32,
  cool_down: AtomicU32,
}

const SPIN_BUDGET: Duration = Duration::from_micros(100);
const GIVE_UP_AFTER: u32 = 3;
const COOL_DOWN: u32 = 64;

impl Spin {
  /// Something may arrive soon: the next receive that would block may spin.
  pub fn prime(&self) {
    self.primed.store(true, Ordering::Relaxed);
  }

  /// Called after `receive` would block: retries it for up to `SPIN_BUDGET` when primed.
  /// Returns the last result (`WouldBlock` when nothing came).
  pub fn read<T>(&self, mut receive: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let nothing = || Err(io::ErrorKind::WouldBlock.into());
    if !self.primed.swap(false, Ordering::Relaxed) {
      return nothing();
    }
    let cool = self.cool_down.load(Ordering::Relaxed);
    if cool > 0 {
      self.cool_down.store(cool - 1, Ordering::Relaxed);
      return nothing();
    }
    let start = Instant::now();
    loop {
      std::thread::yield_now();
      match receive() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
          if start.elapsed() >= SPIN_BUDGET {
            let misses = self.misses.load(Ordering::Relaxed) + 1;
            if misses >= GIVE_UP_AFTER {
              self.misses.store(0, Ordering::Relaxed);
              self.cool_down.store(COOL_DOWN, Ordering::Relaxed);
            } else {
              self.misses.store(misses, Ordering::Relaxed);
            }
            return Err(e);
          }
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        r => {
          self.misses.store(0, Ordering::Relaxed);
          return r;
        }
      }
    }
  }
}
