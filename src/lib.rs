#![deny(clippy::all)]
//! Native half of `direct-sockets`: the WICG Direct Sockets API for Node.js.
//!
//! JavaScript (`index.js`, `lib/`) owns the public classes, WebIDL conversions and the
//! web streams; this crate owns everything that touches the operating system and every
//! security decision.
//!
//! # Organization
//! - [`error`]: the one place that names the errors handed to JavaScript.
//! - [`notify`]: readiness notifications from tokio's driver to the JS thread.
//! - [`policy`]: what may be opened; every open path passes through [`policy::Policy`].
//! - [`resolve`]: host name resolution with hickory-resolver.
//! - [`server`]: `TcpListenerHandle`, a listening socket accepting in batches.
//! - [`sockopt`]: every socket option we set, in one place.
//! - [`sockets`]: the `Sockets` class, a policy bound to the open operations.
//! - [`tcp`]: `TcpCore`, a connected TCP stream driven by synchronous non-blocking
//!   reads and writes from the JS thread, with a trip to tokio only when it would block.
//! - [`udp`]: `UdpHandle`, a connected or bound UDP socket; datagrams are received in
//!   batches (one crossing drains every ready datagram) and sent synchronously.
//! - [`multicast`]: group membership (ASM and IPv4 SSM) of a bound `UdpHandle`.

use napi_derive::napi;

pub mod error;
pub mod gso;
pub mod multicast;
pub mod notify;
pub mod policy;
pub mod resolve;
pub mod server;
pub mod sockets;
pub mod sockopt;
pub mod spin;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod proptests;

/// One small tokio runtime per process: the JS thread makes the data syscalls itself,
/// so the workers only wait for readiness, connect and resolve.
#[cfg(not(test))]
#[napi_derive::module_init]
fn init() {
  let workers = std::env::var("DIRECT_SOCKETS_WORKER_THREADS")
    .ok()
    .and_then(|v| v.parse::<usize>().ok())
    .filter(|n| (1..=64).contains(n))
    .unwrap_or(1);
  if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
    .worker_threads(workers)
    .thread_name("direct-sockets")
    .enable_all()
    .build()
  {
    napi::bindgen_prelude::create_custom_tokio_runtime(rt);
  }
}

/// Version of the native addon, for diagnostics.
#[napi]
pub fn native_version() -> &'static str {
  env!("CARGO_PKG_VERSION")
}
