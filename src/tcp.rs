//! `TcpCore`: one connected TCP stream, which JavaScript holds as a number (a `CoreId`, an
//! index into this thread's table of sockets) and drives with plain functions
//! (`tcpTryRead`, `tcpArm`, `tcpRelease`, ...).
//!
//! The data path runs on the JS thread: `tcpTryRead` and `tcpTryWrite` are synchronous,
//! non-blocking calls on memory JavaScript owns (no copy, no external buffer). Only when
//! the socket would block does JavaScript arm the socket (`tcpArm`, see `notify.rs`) and
//! wait for the notifier to report it ready.
//!
//! Why a number in a table rather than a class or an `External`: napi-rs's borrow
//! bookkeeping for a class method costs about 1 µs a call, and a class instance
//! (`napi_wrap`) a few µs to make and to finalize. An `External` is cheap to call, but
//! each held about 0.4 KiB outside the heap besides the socket (napi-rs's box and its
//! size-hint box and registry entry, napi's reference with a finalizer, two V8 global
//! handles), as much as the rest of an idle connection's native memory; and every call
//! looked it up in a process-wide registry under a lock. The table is this thread's only
//! (each JS thread has its own): a lookup is an index, without a lock. JavaScript frees an
//! entry with `tcpRelease` once nothing can use its number any more (a FinalizationRegistry
//! when the connection object is collected, or at once where it knows), so a number is
//! never reused while anything could still call with it. Entries a thread leaves behind
//! are dropped when it ends (a worker's sockets close with it).
//!
//! Releasing the entry drops the socket: its tokio registrations end and the descriptor
//! closes at once.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::net::TcpStream as StdTcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use napi::Result;
use napi_derive::napi;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::{TcpSocket, TcpStream};

use crate::error::SocketError;
use crate::notify::{Notifier, Watch};
use crate::policy::{Policy, Purpose};
use crate::resolve::QueryType;
use crate::sockopt::{self, TcpOptions};
use crate::spin::Spin;

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

/// A connected (or connecting) TCP stream. JavaScript holds it as a `CoreId`; releasing
/// that entry (or the thread's end) drops it, which closes the descriptor.
pub struct TcpCore {
  stream: Arc<StdTcpStream>,
  /// What is known of its addresses (see `Peer`).
  peer: Mutex<Peer>,
  /// tokio's registration of the socket for reading, made when JavaScript waits and
  /// dropped when data comes without a wait (see `Watch::data_arrived`): a socket that
  /// stayed registered would wake tokio's driver thread on every segment that arrives
  /// while the JS thread reads with syscalls of its own; on a 2-core machine that thread
  /// competes with the JS thread and the peer for the CPU.
  read_watch: Watch,
  /// Waits for writability (a duplicate descriptor; see `Watch`).
  write_watch: Watch,
  spin: Spin,
  /// Nagle's algorithm as `nagle_for` left it (`NAGLE_*`, `USER_NO_DELAY`).
  nagle: AtomicU8,
}

/// `TcpCore::nagle`: no large chunk written yet (Nagle's algorithm as the user set it).
const NAGLE_UNTOUCHED: u8 = 0;
/// The user left Nagle's algorithm on; it is on (a small chunk came after a large one).
const NAGLE_ON: u8 = 1;
/// The user left Nagle's algorithm on; it is off for large chunks.
const NAGLE_OFF: u8 = 2;
/// The user turned Nagle's algorithm off (`noDelay`): left alone.
const USER_NO_DELAY: u8 = 3;
/// A chunk of at least this many bytes is large (see `TcpCore::nagle_for`).
const LARGE_WRITE: usize = 32 * 1024;

/// What a connection keeps of its addresses: only what JavaScript has not had yet (it asks
/// once, when the socket opens). Boxed, so that a connection holds 16 bytes here, not the
/// two addresses (64 bytes) and a target string for as long as it is open.
enum Peer {
  /// Connecting from the JS thread to this address (for `finishConnect`'s errors).
  Connecting(Box<str>),
  /// Connected: the (local, remote) addresses, until JavaScript has them.
  Known(Box<(SocketAddr, SocketAddr)>),
  /// JavaScript has them; asked again, the OS is asked.
  Given,
}

/// How JavaScript holds a `TcpCore`: the index of its entry in this thread's `CORES` (low
/// `INDEX_BITS`) and the entry's generation (the rest). A number stays below 2^30, so V8
/// keeps it as a small integer, also where it compresses pointers (Electron).
pub type CoreId = u32;

const INDEX_BITS: u32 = 20;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// Generations count modulo this (10 bits).
const GENERATIONS: u32 = 1 << (30 - INDEX_BITS);

/// One entry of the table. Its generation changes at each release, so that a number kept
/// past its release (which JavaScript never does on purpose: a defence in depth, e.g.
/// against a built-in replaced after load) finds no socket rather than the next one put
/// there, unless the entry was reused a multiple of 1,024 times since.
#[derive(Default)]
struct Entry {
  generation: u32,
  core: Option<Box<TcpCore>>,
}

/// The sockets of this thread (a JS thread), by `CoreId`; freed entries are reused.
#[derive(Default)]
struct Cores {
  entries: Vec<Entry>,
  free: Vec<u32>,
}

impl Cores {
  /// The socket `id` names, if its entry holds one and its generation is current.
  fn get(&self, id: CoreId) -> Option<&TcpCore> {
    self
      .entries
      .get((id & INDEX_MASK) as usize)
      .filter(|e| e.generation == id >> INDEX_BITS)
      .and_then(|e| e.core.as_deref())
  }

  /// Puts `core` in a free entry (or a new one): its number.
  fn insert(&mut self, core: TcpCore) -> std::result::Result<CoreId, SocketError> {
    let index = match self.free.pop() {
      Some(index) => index,
      None if self.entries.len() <= INDEX_MASK as usize => {
        self.entries.push(Entry::default());
        (self.entries.len() - 1) as u32
      }
      None => {
        return Err(SocketError::network_code(
          "EMFILE",
          "socket",
          "too many TCP sockets open on this thread",
        ))
      }
    };
    let entry = &mut self.entries[index as usize];
    entry.core = Some(Box::new(core));
    Ok(entry.generation << INDEX_BITS | index)
  }

  /// Takes the socket `id` names out of its entry, which gets a new generation and is
  /// free again; `None` if the number names no socket.
  fn remove(&mut self, id: CoreId) -> Option<Box<TcpCore>> {
    let index = id & INDEX_MASK;
    let entry = self
      .entries
      .get_mut(index as usize)
      .filter(|e| e.generation == id >> INDEX_BITS)?;
    let core = entry.core.take()?;
    entry.generation = (entry.generation + 1) % GENERATIONS;
    self.free.push(index);
    Some(core)
  }
}

thread_local! {
  static CORES: RefCell<Cores> = RefCell::new(Cores::default());
}

/// Puts `core` in this thread's table: the number JavaScript will hold. Call on the JS
/// thread that will use it. Fails (EMFILE) past 2^20 sockets open at once on one thread.
pub fn adopt(core: TcpCore) -> std::result::Result<CoreId, SocketError> {
  CORES.with(|cores| cores.borrow_mut().insert(core))
}

/// Calls `f` with the socket `id` of this thread (a closed socket's error if there is
/// none). `f` must not call back into JavaScript (none of the functions here do).
fn with_core<T>(id: CoreId, f: impl FnOnce(&TcpCore) -> Result<T>) -> Result<T> {
  CORES.with(|cores| match cores.borrow().get(id) {
    Some(core) => f(core),
    None => Err(SocketError::closed().into()),
  })
}

fn would_block(e: &io::Error) -> bool {
  e.kind() == io::ErrorKind::WouldBlock
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
  m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One non-blocking syscall, retried on EINTR.
fn syscall<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
  loop {
    match op() {
      Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
      r => return r,
    }
  }
}

impl TcpCore {
  /// Wraps a stream tokio connected (it leaves tokio's reactor here).
  pub fn from_stream(stream: TcpStream) -> std::result::Result<Self, SocketError> {
    // Leave tokio's reactor: the socket is registered again only while a wait is pending.
    let stream = stream
      .into_std()
      .map_err(|e| SocketError::io("epoll_ctl", &e, ""))?;
    let addresses = connected_addresses(&stream)?;
    Ok(Self::new(stream, Peer::Known(Box::new(addresses))))
  }

  /// Wraps a stream a listener accepted (already non-blocking). `local`: the listener's
  /// own address when it is bound to a specific one (then it is every connection's local
  /// address, and `getsockname` is not needed).
  pub fn accepted(
    stream: StdTcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
  ) -> std::result::Result<Self, SocketError> {
    let local = match local {
      Some(local) => local,
      None => stream
        .local_addr()
        .map_err(|e| SocketError::io("getsockname", &e, ""))?,
    };
    Ok(Self::new(stream, Peer::Known(Box::new((local, peer)))))
  }

  fn new(stream: StdTcpStream, peer: Peer) -> Self {
    TcpCore {
      stream: Arc::new(stream),
      peer: Mutex::new(peer),
      read_watch: Watch::new(Interest::READABLE),
      write_watch: Watch::new(Interest::WRITABLE),
      spin: Spin::default(),
      nagle: AtomicU8::new(NAGLE_UNTOUCHED),
    }
  }

  /// Reads into `buf`: the byte count, 0 at end of stream, -1 when it would block.
  /// `may_spin`: this thread waits on no other socket of ours, so a short busy-poll for a
  /// reply (see `Spin`) delays nobody else's data.
  pub fn try_read(&self, buf: &mut [u8], may_spin: bool) -> Result<i64> {
    let len = buf.len();
    let s = &*self.stream;
    match syscall(|| (&*s).read(buf)).or_else(|e| {
      if may_spin && would_block(&e) {
        self.spin.read(|| (&*s).read(buf))
      } else {
        Err(e)
      }
    }) {
      Ok(n) => {
        // A full buffer means data is streaming in (see `Watch::data_arrived`); and a
        // thread where other sockets wait or read just before (no spin allowed) reads
        // its sockets from JavaScript's turn-end retry (lib/wait.js), so registered
        // sockets would wake tokio's thread for data nobody waits on yet.
        self.read_watch.data_arrived(n == len || !may_spin);
        Ok(n as i64)
      }
      Err(e) if would_block(&e) => Ok(WOULD_BLOCK),
      Err(e) => Err(SocketError::io("read", &e, "").into()),
    }
  }

  /// Before the first write of a chunk of `len` bytes, on a socket whose user left Nagle's
  /// algorithm on (`noDelay` false, the default): Nagle's algorithm is off for a large
  /// chunk and back on for a small one. Nagle only ever holds back a segment smaller than
  /// the MSS (on Linux, while an earlier small segment is unacknowledged): small writes are
  /// still coalesced as the user asked, and a large chunk's last partial segment (on
  /// loopback, where the MSS is 64 KiB, most of a 64 KiB write) no longer waits for an ACK:
  /// bulk sends over loopback took 30-40 µs of system time a 64 KiB write with it on and
  /// 18-20 µs with it off. A setsockopt only when the kind of chunk changes; nothing
  /// before the first large chunk; never for a socket whose user asked for `noDelay`.
  fn nagle_for(&self, len: usize) {
    let want = if len >= LARGE_WRITE {
      NAGLE_OFF
    } else {
      NAGLE_ON
    };
    let now = self.nagle.load(Ordering::Relaxed);
    if now == want || now == USER_NO_DELAY || (now == NAGLE_UNTOUCHED && want == NAGLE_ON) {
      return;
    }
    let sock = SockRef::from(&*self.stream);
    // The first large chunk: whether the user turned Nagle's algorithm off is read once
    // (if it cannot be read, the socket is left as it is).
    if now == NAGLE_UNTOUCHED && sock.tcp_nodelay().unwrap_or(true) {
      self.nagle.store(USER_NO_DELAY, Ordering::Relaxed);
      return;
    }
    if sock.set_tcp_nodelay(want == NAGLE_OFF).is_ok() {
      self.nagle.store(want, Ordering::Relaxed);
    }
  }

  /// Writes from `buf`: the byte count written (maybe fewer than asked), -1 when the
  /// send buffer is full.
  /// `whole`: `buf` is a whole chunk (its first attempt), not the rest of one.
  pub fn try_write(&self, buf: &[u8], whole: bool) -> Result<i64> {
    match self.write_chunk(buf, whole) {
      // The write registration stays once made (measured: dropping it after each full
      // write made bulk sends ~20% slower, registering again at every full buffer).
      Ok(n) => Ok(n as i64),
      Err(e) if would_block(&e) => Ok(WOULD_BLOCK),
      Err(e) => Err(SocketError::io("write", &e, "").into()),
    }
  }

  /// `try_write`'s system call, after Nagle's algorithm is set for a whole chunk.
  fn write_chunk(&self, buf: &[u8], whole: bool) -> io::Result<usize> {
    if whole {
      self.nagle_for(buf.len());
    }
    let n = syscall(|| (&*self.stream).write(buf))?;
    self.spin.prime();
    Ok(n)
  }

  /// Arms the read or the write `Watch` (see `notify::Watch`); writes watch a duplicate
  /// descriptor.
  fn arm(&self, notifier: &Notifier, token: u32, write: bool) -> Result<bool> {
    let watch = if write {
      &self.write_watch
    } else {
      &self.read_watch
    };
    let stream = &self.stream;
    let fd = || -> io::Result<Arc<dyn AsRawFd + Send + Sync>> {
      Ok(if write {
        Arc::new(stream.try_clone()?)
      } else {
        Arc::clone(stream) as Arc<dyn AsRawFd + Send + Sync>
      })
    };
    let syscall = if write { "write" } else { "read" };
    watch.arm(fd, notifier, token, syscall)
  }
}

impl TcpCore {
  fn shutdown_write(&self) -> Result<()> {
    match self.stream.shutdown(std::net::Shutdown::Write) {
      // The peer may already be gone; the write side is shut either way.
      Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
      r => r.map_err(|e| SocketError::io("shutdown", &e, "").into()),
    }
  }

  /// The addresses of a connected stream: those kept for JavaScript (handed over now),
  /// or the OS's.
  fn info(&self) -> Result<SocketInfo> {
    let mut peer = lock(&self.peer);
    let addresses = match std::mem::replace(&mut *peer, Peer::Given) {
      Peer::Known(addresses) => *addresses,
      Peer::Given => connected_addresses(&self.stream)?,
      connecting @ Peer::Connecting(_) => {
        *peer = connecting;
        return Err(SocketError::invalid_state("The socket is not connected yet.").into());
      }
    };
    Ok(socket_info(&addresses))
  }

  fn finish_connect(&self) -> Result<Option<SocketInfo>> {
    let mut peer = lock(&self.peer);
    let s = &self.stream;
    let target = match &*peer {
      Peer::Connecting(target) => target,
      _ => {
        drop(peer);
        return self.info().map(Some);
      }
    };
    match connected_addresses(s) {
      Ok(addresses) => {
        *peer = Peer::Given;
        drop(peer);
        // A connect that waited registered a duplicate descriptor for writing (see
        // `notify::Watch`): let it go now, or every such socket holds two descriptors
        // while open. A write that blocks later registers again.
        self.write_watch.clear();
        Ok(Some(socket_info(&addresses)))
      }
      // Not connected (yet): a failed connect left its error in SO_ERROR; otherwise it is
      // still in progress (arm for writing and ask again).
      Err(_) => match s.take_error() {
        Ok(Some(e)) => Err(SocketError::io("connect", &e, &**target).into()),
        Ok(None) => Ok(None),
        Err(e) => Err(SocketError::io("getsockopt", &e, "").into()),
      },
    }
  }
}

/// `true` if the socket may be ready for reading (`writable` false) or writing now;
/// otherwise arms it so that `notifier` reports `token` once it is (see `notify.rs`).
#[napi]
pub fn tcp_arm(core: CoreId, notifier: &Notifier, token: u32, writable: bool) -> Result<bool> {
  with_core(core, |core| core.arm(notifier, token, writable))
}

/// Half-closes: sends FIN; reading goes on.
#[napi]
pub fn tcp_shutdown_write(core: CoreId) -> Result<()> {
  with_core(core, TcpCore::shutdown_write)
}

/// Frees the entry `core` (closing the socket if it is open): call once nothing can use
/// the number any more. Idempotent: a number already released (or never given) does
/// nothing.
#[napi]
pub fn tcp_release(core: CoreId) {
  let released = CORES.with(|cores| cores.borrow_mut().remove(core));
  // Dropped outside the table's borrow (dropping ends tokio registrations).
  drop(released);
}

/// Local and remote address and port. The addresses kept since the connect or accept are
/// handed over (JavaScript asks once, as the socket opens); asked again, the OS is asked
/// (`getsockname` / `getpeername`, which fail once the connection is reset or closed).
#[napi]
pub fn tcp_info(core: CoreId) -> Result<SocketInfo> {
  with_core(core, TcpCore::info)
}

/// For a connect started by `Sockets.connectTcpStart`: the addresses once the connection
/// is established, `null` while it is still in progress (arm it for writing and ask
/// again), or the connect error (`ECONNREFUSED`, ...).
#[napi]
pub fn tcp_finish_connect(core: CoreId) -> Result<Option<SocketInfo>> {
  with_core(core, TcpCore::finish_connect)
}

/// Reads into `buf`: the byte count, 0 at end of stream, -1 when it would block.
/// `may_spin`: this thread waits on no other socket of ours, so a short busy-poll for a
/// reply (see `Spin`) delays nobody else's data.
#[napi]
pub fn tcp_try_read(
  core: CoreId,
  #[napi(ts_arg_type = "Uint8Array")] buf: BytesMut<'_>,
  may_spin: bool,
) -> Result<i64> {
  with_core(core, |core| core.try_read(buf, may_spin))
}

/// Writes from `buf`: the byte count written (maybe fewer than asked), -1 when the send
/// buffer is full. `whole`: `buf` is a whole chunk, not the rest of one.
#[napi]
pub fn tcp_try_write(core: CoreId, buf: &[u8], whole: bool) -> Result<i64> {
  with_core(core, |core| core.try_write(buf, whole))
}

/// The (local, remote) addresses of a connected stream; `ENOTCONN` from `getpeername`
/// while connecting.
fn connected_addresses(
  stream: &StdTcpStream,
) -> std::result::Result<(SocketAddr, SocketAddr), SocketError> {
  let remote = stream
    .peer_addr()
    .map_err(|e| SocketError::io("getpeername", &e, ""))?;
  let local = stream
    .local_addr()
    .map_err(|e| SocketError::io("getsockname", &e, ""))?;
  Ok((local, remote))
}

/// What JavaScript gets of a connection's addresses.
fn socket_info((local, remote): &(SocketAddr, SocketAddr)) -> SocketInfo {
  SocketInfo {
    local_address: local.ip().to_string(),
    local_port: local.port().into(),
    remote_address: remote.ip().to_string(),
    remote_port: remote.port().into(),
  }
}

/// `connect` on a non-blocking socket that is still connecting (`io::ErrorKind::InProgress`
/// is not stable yet).
#[cfg(any(target_os = "linux", target_os = "android"))]
const EINPROGRESS: i32 = 115;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const EINPROGRESS: i32 = 36;

/// A non-blocking TCP socket for `addr`'s family (one syscall where `SOCK_NONBLOCK` exists).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn nonblocking_stream_socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
  socket2::Socket::new(
    socket2::Domain::for_address(addr),
    socket2::Type::STREAM.nonblocking(),
    Some(socket2::Protocol::TCP),
  )
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn nonblocking_stream_socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
  let socket = socket2::Socket::new(
    socket2::Domain::for_address(addr),
    socket2::Type::STREAM,
    Some(socket2::Protocol::TCP),
  )?;
  socket.set_nonblocking(true)?;
  Ok(socket)
}

/// Starts connecting to an IP literal from the JS thread, without a trip to tokio: the
/// policy is asked, the socket made with its options, and `connect` issued non-blocking.
/// On loopback the handshake is usually complete when `connect` returns. `Ok(None)`: the
/// host is a name, which the async path resolves.
pub fn connect_start(
  policy: &Policy,
  host: &str,
  port: u16,
  opts: &TcpOptions,
) -> std::result::Result<Option<TcpCore>, SocketError> {
  policy.check_constructor()?;
  let Some(ip) = crate::resolve::parse_ip_literal(host) else {
    return Ok(None);
  };
  QueryType::parse(opts.dns_query_type.as_deref())?;
  policy.check_destination(ip, Purpose::TcpConnect)?;
  let addr = SocketAddr::new(ip, port);
  let detail = addr.to_string();
  let socket =
    nonblocking_stream_socket(addr).map_err(|e| SocketError::io("socket", &e, detail.clone()))?;
  sockopt::set_socket_options(&socket, opts)
    .map_err(|e| SocketError::io("setsockopt", &e, detail.clone()))?;
  match socket.connect(&addr.into()) {
    Ok(()) => {}
    Err(e) if e.raw_os_error() == Some(EINPROGRESS) || would_block(&e) => {}
    Err(e) => return Err(SocketError::io("connect", &e, detail)),
  }
  Ok(Some(TcpCore::new(
    StdTcpStream::from(socket),
    Peer::Connecting(detail.into_boxed_str()),
  )))
}

async fn connect_one(addr: SocketAddr, opts: &TcpOptions) -> io::Result<TcpStream> {
  let sock = if addr.is_ipv4() {
    TcpSocket::new_v4()?
  } else {
    TcpSocket::new_v6()?
  };
  sockopt::set_buffer_sizes(SockRef::from(&sock), opts)?;
  let stream = sock.connect(addr).await?;
  sockopt::set_stream_options(SockRef::from(&stream), opts)?;
  Ok(stream)
}

/// Resolves `host`, checks every candidate with the policy and connects to the first
/// checked address that answers.
pub async fn connect(
  policy: &Policy,
  host: &str,
  port: u16,
  opts: &TcpOptions,
) -> std::result::Result<TcpCore, SocketError> {
  policy.check_constructor()?;
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
      Ok(stream) => return TcpCore::from_stream(stream),
      Err(e) => failed = Some(SocketError::io("connect", &e, addr.to_string())),
    }
  }
  Err(
    failed
      .or(refused)
      .unwrap_or_else(|| SocketError::network_code("ENOTFOUND", "getaddrinfo", host)),
  )
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::net::TcpListener;

  fn core() -> TcpCore {
    pair(false).0
  }

  fn open(id: CoreId) -> bool {
    CORES.with(|cores| cores.borrow().get(id).is_some())
  }

  #[test]
  fn a_released_number_reaches_nothing_even_once_its_entry_is_reused() {
    let a = adopt(core()).unwrap();
    let b = adopt(core()).unwrap();
    assert_ne!(a, b);
    tcp_release(a);
    assert!(!open(a));
    // The next socket reuses a's entry, under another number.
    let c = adopt(core()).unwrap();
    assert_eq!(c & INDEX_MASK, a & INDEX_MASK);
    assert_ne!(c, a);
    assert!(open(c));
    // Releasing a again (a stale number) leaves c alone; so do numbers never given.
    tcp_release(a);
    tcp_release(u32::MAX);
    assert!(open(c) && open(b));
    assert!(!open(u32::MAX));
    tcp_release(b);
    tcp_release(c);
    assert!(!open(b) && !open(c));
  }

  /// A connection and its accepted peer, with `no_delay` set as the user would.
  fn pair(no_delay: bool) -> (TcpCore, StdTcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = StdTcpStream::connect(listener.local_addr().unwrap()).unwrap();
    stream.set_nodelay(no_delay).unwrap();
    stream.set_nonblocking(true).unwrap();
    let (peer, _) = listener.accept().unwrap();
    let addresses = connected_addresses(&stream).unwrap();
    (TcpCore::new(stream, Peer::Known(Box::new(addresses))), peer)
  }

  fn no_delay(core: &TcpCore) -> bool {
    core.stream.nodelay().unwrap()
  }

  #[test]
  fn nagle_is_off_for_large_chunks_and_back_on_for_small_ones() {
    let (core, _peer) = pair(false);
    core.nagle_for(100);
    assert!(
      !no_delay(&core),
      "a small chunk leaves Nagle's algorithm alone"
    );
    core.nagle_for(LARGE_WRITE);
    assert!(no_delay(&core), "a large chunk: Nagle's algorithm off");
    core.nagle_for(LARGE_WRITE - 1);
    assert!(
      !no_delay(&core),
      "a small chunk after a large one: Nagle's algorithm again"
    );
    core.nagle_for(1 << 20);
    assert!(no_delay(&core));
  }

  #[test]
  fn only_a_whole_chunk_sets_nagle() {
    let (core, _peer) = pair(false);
    let large = vec![7u8; LARGE_WRITE];
    core.write_chunk(&large, false).unwrap();
    assert!(
      !no_delay(&core),
      "the rest of a chunk leaves Nagle's algorithm as it is"
    );
    core.write_chunk(&large, true).unwrap();
    assert!(no_delay(&core), "a whole large chunk turns it off");
    core.write_chunk(&[1u8; 10], false).unwrap();
    assert!(
      no_delay(&core),
      "the rest of a chunk, however small, changes nothing"
    );
    core.write_chunk(&[1u8; 10], true).unwrap();
    assert!(!no_delay(&core), "a whole small chunk turns it back on");
  }

  #[test]
  fn nagle_stays_off_when_the_user_turned_it_off() {
    let (core, _peer) = pair(true);
    core.nagle_for(LARGE_WRITE);
    core.nagle_for(10);
    assert!(no_delay(&core));
  }
}
