//! `UdpHandle`: one UDP socket, connected or bound.
//!
//! The data path runs on the JS thread. `tryRecvBatch` drains every datagram that is
//! ready into one buffer JavaScript owns, with a metadata record per datagram (offset,
//! length, source port and address), in a single crossing; `trySend` / `trySendTo` send
//! one datagram straight from the caller's bytes. Only when the socket would block does
//! JavaScript arm it (`armReadable` / `armWritable`, see `notify.rs`) and wait.
//!
//! Every bound-mode send passes the policy (`check_destination`) for the exact address
//! it goes to; host names are resolved by `resolveDestination` first.
//!
//! The socket is a plain non-blocking `std::net::UdpSocket`, registered with tokio's
//! reactor when JavaScript waits, and left again when datagrams come without a wait or
//! fill a whole batch (see `Watch::data_arrived`). A socket that stays registered (as
//! `tokio::net::UdpSocket` is) makes the kernel wake the reactor thread for every datagram
//! received: a cross-thread wake-up per datagram, which halved throughput on a 2-core
//! machine. Read waits also wake for a socket error (an ICMP port unreachable on a
//! connected socket).
//!
//! Closing takes the socket out of its slot and ends both registrations, which closes the
//! descriptor; dropping the handle (the GC collected it) does the same.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::{External, PromiseRaw};
use napi::{Env, Result};
use napi_derive::napi;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::Interest;

use crate::error::SocketError;
use crate::gso::{self, Sent};
use crate::notify::{Notifier, Watch};
use crate::policy::{Policy, Purpose};
use crate::resolve::{parse_ip_literal, QueryType};
use crate::sockets::{port, Sockets};
use crate::sockopt::{self, UdpOptions};
use crate::spin::Spin;

/// Addresses of an open UDP socket; the remote pair only in connected mode (`""` and 0 in
/// bound mode). No optional fields: napi-rs defines a struct's always-present fields on
/// the object it makes, but assigns optional ones, which a setter of that name on
/// `Object.prototype` would take.
#[napi(object)]
#[derive(Clone, Debug)]
pub struct UdpInfo {
  pub local_address: String,
  pub local_port: u32,
  pub remote_address: String,
  pub remote_port: u32,
}

/// A `Uint8Array` JavaScript lends for one call (named so the macro converts it as a value).
type BytesMut<'a> = &'a mut [u8];
/// A `Uint32Array` JavaScript lends for one call.
type WordsMut<'a> = &'a mut [u32];

/// Result of the `try*` calls when the socket would block.
const WOULD_BLOCK: i64 = -1;
/// Result of `trySendTo` when the destination is a host name to resolve first.
const NEEDS_RESOLUTION: i64 = -2;
/// Result of `trySendSegments` when the run cannot go out segmented (see `gso.rs`): send
/// its datagrams one by one. Nothing was sent.
const SEGMENTS_UNAVAILABLE: i64 = -3;

/// `u32`s per datagram in the metadata array of `tryRecvBatch`:
/// `[offset, length, port, family (0, 4 or 6), address words 0..4]`. An IPv4 address is
/// word 0 (big-endian value); an IPv6 address is four big-endian words.
pub const META_STRIDE: usize = 8;
/// Room a receive needs so that no datagram can be truncated (the largest UDP payload
/// over IPv6 without jumbograms is 65,527 bytes).
pub const MAX_DATAGRAM: usize = 65_536;

/// One UDP socket, shared by the `UdpHandle` class and the `External` its data-path
/// functions take (`udpTrySend`, `udpTrySendTo`, `udpTryRecvBatch`: plain functions cost
/// about 1 µs less a call than a class method's borrow bookkeeping). Dropping the last of
/// them (the GC collected both) closes the descriptor.
pub struct UdpCore {
  socket: Mutex<Option<Arc<UdpSocket>>>,
  closed: AtomicBool,
  read_watch: Watch,
  write_watch: Watch,
  policy: Arc<Policy>,
  /// The peer in connected mode (named in send errors); None in bound mode.
  remote: Option<SocketAddr>,
  ipv6: bool,
  /// The destination families this socket can send to (see `Reach::of`).
  reach: Reach,
  info: UdpInfo,
  /// Primed by a receive that got datagrams and by a send (a reply may follow).
  spin: Spin,
  /// The kernel refused to segment a run (`gso.rs`): this socket sends one by one.
  segments_refused: AtomicBool,
}

#[napi]
pub struct UdpHandle {
  core: Arc<UdpCore>,
}

impl std::ops::Deref for UdpHandle {
  type Target = UdpCore;

  fn deref(&self) -> &UdpCore {
    &self.core
  }
}

/// Which address families a bound socket can send to: an IPv4 socket (or one bound to an
/// IPv4-mapped address) IPv4 only; an IPv6 socket bound to `::` both unless it is
/// IPv6-only; one bound to another IPv6 address (`::1`, a global address) IPv6 only. A
/// host name's candidates of the other family are passed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reach {
  v4: bool,
  v6: bool,
}

impl Reach {
  fn of(local: IpAddr, only_v6: bool) -> Reach {
    match local {
      IpAddr::V4(_) => Reach {
        v4: true,
        v6: false,
      },
      IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Reach {
        v4: true,
        v6: false,
      },
      IpAddr::V6(v6) if v6.is_unspecified() => Reach {
        v4: !only_v6,
        v6: true,
      },
      IpAddr::V6(_) => Reach {
        v4: false,
        v6: true,
      },
    }
  }

  fn allows(self, ip: IpAddr) -> bool {
    if ip.is_ipv4() {
      self.v4
    } else {
      self.v6
    }
  }
}

fn would_block(e: &io::Error) -> bool {
  e.kind() == io::ErrorKind::WouldBlock
}

fn write_address(meta: &mut [u32], addr: &SocketAddr) {
  meta[2] = addr.port().into();
  match addr.ip() {
    IpAddr::V4(v4) => {
      meta[3] = 4;
      meta[4] = u32::from(v4);
    }
    IpAddr::V6(v6) => {
      meta[3] = 6;
      let o = v6.octets();
      for (i, w) in o.chunks_exact(4).enumerate() {
        meta[4 + i] = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
      }
    }
  }
}

impl UdpHandle {
  fn new(
    socket: UdpSocket,
    policy: Arc<Policy>,
    connected: bool,
  ) -> std::result::Result<Self, SocketError> {
    let local = socket
      .local_addr()
      .map_err(|e| SocketError::io("getsockname", &e, ""))?;
    // IPV6_V6ONLY of an IPv6 socket (false if it cannot be read: dual-stack is Linux's default).
    let only_v6 = local.is_ipv6() && SockRef::from(&socket).only_v6().unwrap_or(false);
    let remote = if connected {
      Some(
        socket
          .peer_addr()
          .map_err(|e| SocketError::io("getpeername", &e, ""))?,
      )
    } else {
      None
    };
    Ok(UdpHandle {
      core: Arc::new(UdpCore {
        socket: Mutex::new(Some(Arc::new(socket))),
        closed: AtomicBool::new(false),
        read_watch: Watch::new(Interest::READABLE.add(Interest::ERROR)),
        write_watch: Watch::new(Interest::WRITABLE),
        policy,
        remote,
        ipv6: local.is_ipv6(),
        reach: Reach::of(local.ip(), only_v6),
        info: UdpInfo {
          local_address: local.ip().to_string(),
          local_port: local.port().into(),
          remote_address: remote.map(|r| r.ip().to_string()).unwrap_or_default(),
          remote_port: remote.map_or(0, |r| r.port().into()),
        },
        spin: Spin::default(),
        segments_refused: AtomicBool::new(false),
      }),
    })
  }
}

impl UdpCore {
  fn slot(&self) -> MutexGuard<'_, Option<Arc<UdpSocket>>> {
    self
      .socket
      .lock()
      .unwrap_or_else(|poisoned| poisoned.into_inner())
  }

  fn current(&self) -> Option<Arc<UdpSocket>> {
    self.slot().clone()
  }

  pub(crate) fn with_socket<T>(
    &self,
    f: impl FnOnce(&UdpSocket) -> std::result::Result<T, SocketError>,
  ) -> std::result::Result<T, SocketError> {
    match self.slot().as_deref() {
      Some(socket) => f(socket),
      None => Err(SocketError::closed()),
    }
  }

  /// The address a datagram to `ip` goes to from this socket: IPv4 destinations of a
  /// dual-stack IPv6 socket in their IPv4-mapped form.
  fn target(&self, ip: IpAddr, port: u16) -> SocketAddr {
    match ip {
      IpAddr::V4(v4) if self.ipv6 => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port),
      _ => SocketAddr::new(ip, port),
    }
  }

  /// Arms `watch` (see `notify::Watch`); writes watch a duplicate descriptor.
  fn arm(&self, watch: &Watch, notifier: &Notifier, token: u32, write: bool) -> Result<bool> {
    let socket = self.current().ok_or_else(SocketError::closed)?;
    let fd = || -> io::Result<Arc<dyn AsRawFd + Send + Sync>> {
      Ok(if write {
        Arc::new(socket.try_clone()?)
      } else {
        socket.clone() as Arc<dyn AsRawFd + Send + Sync>
      })
    };
    let syscall = if write { "send" } else { "recvfrom" };
    watch.arm(fd, notifier, token, syscall)
  }

  fn send_result(
    &self,
    r: io::Result<usize>,
    detail: impl FnOnce() -> String,
  ) -> std::result::Result<i64, SocketError> {
    match r {
      Ok(n) => {
        // A reply may follow (request/response over UDP).
        self.spin.prime();
        Ok(n as i64)
      }
      Err(e) if would_block(&e) => Ok(WOULD_BLOCK),
      Err(e) => Err(SocketError::io("send", &e, detail())),
    }
  }
  /// Receives every datagram that is ready, up to `max`, into `buf`, describing each in
  /// `meta` (`META_STRIDE` words each). Returns the count, or -1 when nothing was ready.
  /// An error after some datagrams were received is reported by the next call.
  /// `may_spin`: when nothing is ready, a short busy-poll (see `Spin`) may wait for the
  /// next datagram of a stream, or a reply to a send, without a thread wake-up.
  pub fn try_recv_batch(
    &self,
    buf: &mut [u8],
    meta: &mut [u32],
    max: u32,
    may_spin: bool,
  ) -> Result<i64> {
    let Some(socket) = self.current() else {
      return Err(SocketError::closed().into());
    };
    let max = (max as usize).min(meta.len() / META_STRIDE);
    let mut count = 0;
    let mut offset = 0;
    while count < max && buf.len() - offset >= MAX_DATAGRAM.min(buf.len()) {
      let received = match socket.recv_from(&mut buf[offset..]) {
        Err(e) if may_spin && count == 0 && would_block(&e) => {
          self.spin.read(|| socket.recv_from(&mut buf[offset..]))
        }
        r => r,
      };
      match received {
        Ok((n, from)) => {
          let m = &mut meta[count * META_STRIDE..(count + 1) * META_STRIDE];
          m[0] = offset as u32;
          m[1] = n as u32;
          if self.remote.is_some() {
            m[3] = 0;
          } else {
            write_address(m, &from);
          }
          count += 1;
          offset += n;
        }
        Err(e) if would_block(&e) => break,
        Err(_) if count > 0 => break,
        Err(e) => return Err(SocketError::io("recvfrom", &e, "").into()),
      }
    }
    if count > 0 {
      // A full batch means datagrams are streaming in (see `Watch::data_arrived`); a busy
      // thread (no spin) retries its receives itself (lib/wait.js, `deferRead`).
      self.read_watch.data_arrived(count == max || !may_spin);
      self.spin.prime();
    }
    Ok(if count == 0 {
      WOULD_BLOCK
    } else {
      count as i64
    })
  }

  /// Connected mode: sends one datagram. The byte count, or -1 when the send buffer is full.
  pub fn try_send(&self, buf: &[u8]) -> Result<i64> {
    Ok(self.with_socket(|socket| {
      self.send_result(socket.send(buf), || {
        self.remote.map(|r| r.to_string()).unwrap_or_default()
      })
    })?)
  }

  /// Bound mode: sends one datagram to `address` (an IP literal) and `port`, if the
  /// policy allows that destination. The byte count, -1 when the send buffer is full,
  /// -2 when `address` is a host name (resolve it with `resolveDestination` first).
  pub fn try_send_to(&self, buf: &[u8], address: String, port_number: u32) -> Result<i64> {
    let Some(target) = self.checked_destination(&address, port_number)? else {
      return Ok(NEEDS_RESOLUTION);
    };
    Ok(
      self.with_socket(|socket| {
        self.send_result(socket.send_to(buf, target), || target.to_string())
      })?,
    )
  }

  /// A bound-mode destination the policy allows, as this socket sends to it (`target`);
  /// None when `address` is a host name (to resolve first).
  fn checked_destination(&self, address: &str, port_number: u32) -> Result<Option<SocketAddr>> {
    let Some(ip) = parse_ip_literal(address) else {
      return Ok(None);
    };
    let port = port(port_number)?;
    self.policy.check_destination(ip, Purpose::UdpSend)?;
    Ok(Some(self.target(ip, port)))
  }

  /// Sends a run of datagrams of `segment` bytes laid end to end in `run` (the last may be
  /// shorter) in one system call (`gso.rs`), to the connected peer or, in bound mode, to
  /// `address` and `port` as `try_send_to` does. The byte count, -1 when the send buffer
  /// is full, -2 for a host name, -3 when the run cannot go out segmented (send each
  /// datagram on its own): in every case but the first, nothing was sent.
  pub fn try_send_segments(
    &self,
    run: &[u8],
    segment: u32,
    to: Option<(&str, u32)>,
  ) -> Result<i64> {
    if self.segments_refused.load(Ordering::Relaxed) {
      return Ok(SEGMENTS_UNAVAILABLE);
    }
    let target = match to {
      None => None,
      Some((address, port_number)) => match self.checked_destination(address, port_number)? {
        Some(target) => Some(target),
        None => return Ok(NEEDS_RESOLUTION),
      },
    };
    let sent = self.with_socket(|socket| {
      match gso::send_segments(SockRef::from(socket), run, segment as usize, target) {
        Ok(Sent::All(n)) => self.send_result(Ok(n), String::new),
        Ok(Sent::Unfit) => Ok(SEGMENTS_UNAVAILABLE),
        Ok(Sent::Refused) => {
          self.segments_refused.store(true, Ordering::Relaxed);
          Ok(SEGMENTS_UNAVAILABLE)
        }
        Err(e) => self.send_result(Err(e), || {
          target
            .or(self.remote)
            .map(|r| r.to_string())
            .unwrap_or_default()
        }),
      }
    })?;
    Ok(sent)
  }
}

#[napi]
impl UdpHandle {
  /// Resolves a bound-mode destination host name to the first address the policy
  /// allows (of the socket's family), as an IP literal for `trySendTo`.
  #[napi(ts_return_type = "Promise<string>")]
  pub fn resolve_destination<'env>(
    &self,
    env: &'env Env,
    host: String,
    dns_query_type: Option<String>,
  ) -> Result<PromiseRaw<'env, String>> {
    // The future owns what it uses (see `Sockets::connect_tcp`).
    let policy = Arc::clone(&self.policy);
    let reach = self.reach;
    env
      .spawn_future(async move { resolve_destination(&policy, reach, &host, dns_query_type).await })
  }

  /// `true` if a datagram (or a socket error) may be ready now; otherwise arms the socket
  /// so that `notifier` reports `token` once it is (see `notify.rs`).
  #[napi]
  pub fn arm_readable(&self, notifier: &Notifier, token: u32) -> Result<bool> {
    self.arm(&self.read_watch, notifier, token, false)
  }

  /// `true` if the socket may be writable now; otherwise arms it like `armReadable`.
  #[napi]
  pub fn arm_writable(&self, notifier: &Notifier, token: u32) -> Result<bool> {
    self.arm(&self.write_watch, notifier, token, true)
  }

  /// Closes the socket (leaving every multicast group); idempotent.
  #[napi]
  pub fn close(&self) {
    self.core.close();
  }

  #[napi(getter)]
  pub fn closed(&self) -> bool {
    self.closed.load(Ordering::Relaxed)
  }

  /// The socket, for `udpTrySend`, `udpTrySendTo` and `udpTryRecvBatch`.
  #[napi(ts_return_type = "ExternalObject<'UdpCore'>")]
  pub fn core(&self) -> External<Arc<UdpCore>> {
    External::new(Arc::clone(&self.core))
  }

  /// Local address and port, and in connected mode the remote pair.
  #[napi]
  pub fn info(&self) -> UdpInfo {
    self.info.clone()
  }
}

impl UdpCore {
  fn close(&self) {
    let socket = self.slot().take();
    self.closed.store(true, Ordering::Relaxed);
    self.read_watch.clear();
    self.write_watch.clear();
    drop(socket);
  }
}

impl Drop for UdpCore {
  fn drop(&mut self) {
    self.close();
  }
}

/// Receives every datagram that is ready, up to `max`, into `buf`, describing each in
/// `meta` (`META_STRIDE` words each). Returns the count, or -1 when nothing was ready.
/// An error after some datagrams were received is reported by the next call.
#[napi]
pub fn udp_try_recv_batch(
  #[napi(ts_arg_type = "ExternalObject<'UdpCore'>")] core: &External<Arc<UdpCore>>,
  #[napi(ts_arg_type = "Uint8Array")] buf: BytesMut<'_>,
  #[napi(ts_arg_type = "Uint32Array")] meta: WordsMut<'_>,
  max: u32,
  may_spin: bool,
) -> Result<i64> {
  core.try_recv_batch(buf, meta, max, may_spin)
}

/// Connected mode: sends one datagram. The byte count, or -1 when the send buffer is full.
#[napi]
pub fn udp_try_send(
  #[napi(ts_arg_type = "ExternalObject<'UdpCore'>")] core: &External<Arc<UdpCore>>,
  buf: &[u8],
) -> Result<i64> {
  core.try_send(buf)
}

/// Bound mode: sends one datagram to `address` (an IP literal) and `port`, if the policy
/// allows that destination. The byte count, -1 when the send buffer is full, -2 when
/// `address` is a host name (resolve it with `resolveDestination` first).
#[napi]
pub fn udp_try_send_to(
  #[napi(ts_arg_type = "ExternalObject<'UdpCore'>")] core: &External<Arc<UdpCore>>,
  buf: &[u8],
  address: String,
  port_number: u32,
) -> Result<i64> {
  core.try_send_to(buf, address, port_number)
}

/// Sends a run of datagrams in one system call (see `UdpCore::try_send_segments`), the
/// first `length` bytes of `buf`: to the connected peer, or in bound mode to `address` and
/// `port`. The byte count, -1 when the send buffer is full, -2 for a host name, -3 when
/// the datagrams must go one by one.
#[napi]
pub fn udp_try_send_segments(
  #[napi(ts_arg_type = "ExternalObject<'UdpCore'>")] core: &External<Arc<UdpCore>>,
  buf: &[u8],
  length: u32,
  segment: u32,
  address: Option<String>,
  port_number: Option<u32>,
) -> Result<i64> {
  let Some(run) = buf.get(..length as usize) else {
    return Err(napi::Error::new(
      napi::Status::InvalidArg,
      "the run is longer than its buffer",
    ));
  };
  let to = address.as_deref().map(|a| (a, port_number.unwrap_or(0)));
  core.try_send_segments(run, segment, to)
}

/// A UDP socket of `ip`'s family with the options that go on before bind or connect.
fn new_socket(ip: IpAddr, opts: &UdpOptions) -> io::Result<Socket> {
  let domain = if ip.is_ipv4() {
    Domain::IPV4
  } else {
    Domain::IPV6
  };
  let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
  sock.set_nonblocking(true)?;
  sockopt::set_udp_options_before_bind(&sock, opts)?;
  sockopt::set_multicast_options(&sock, ip.is_ipv6(), opts)?;
  Ok(sock)
}

fn into_std(sock: Socket) -> UdpSocket {
  sock.into()
}

/// Resolves a bound-mode destination host to the first address the policy allows of those
/// the socket can send to (`reach`).
async fn resolve_destination(
  policy: &Policy,
  reach: Reach,
  host: &str,
  dns_query_type: Option<String>,
) -> Result<String> {
  policy.check_host(host, Purpose::UdpSend)?;
  let query = QueryType::parse(dns_query_type.as_deref())?;
  let candidates = policy.resolver().resolve(host, query).await?;
  let mut refused = None;
  for ip in candidates {
    if !reach.allows(ip) {
      continue;
    }
    match policy.check_destination(ip, Purpose::UdpSend) {
      Ok(()) => return Ok(ip.to_string()),
      Err(e) => {
        refused.get_or_insert(e);
      }
    }
  }
  Err(
    refused
      .unwrap_or_else(|| SocketError::network_code("ENOTFOUND", "getaddrinfo", host))
      .into(),
  )
}

/// Connected mode: resolves `host` and connects to the first candidate the policy allows
/// (that checked address itself), as TCP and bound-mode sends pick theirs.
pub async fn connect(
  policy: Arc<Policy>,
  host: &str,
  port: u16,
  opts: &UdpOptions,
) -> std::result::Result<UdpHandle, SocketError> {
  policy.check_udp_open(opts.asks_for_multicast())?;
  policy.check_host(host, Purpose::UdpConnect)?;
  if port == 0 {
    // The kernel takes a connect to port 0 and leaves the socket without a peer.
    let host = if host.contains(':') {
      format!("[{host}]")
    } else {
      host.to_string()
    };
    return Err(SocketError::io(
      "connect",
      &io::ErrorKind::InvalidInput.into(),
      format!("{host}:0"),
    ));
  }
  let query = QueryType::parse(opts.dns_query_type.as_deref())?;
  let candidates = policy.resolver().resolve(host, query).await?;
  let mut refused = None;
  let ip = candidates
    .into_iter()
    .find(
      |&ip| match policy.check_destination(ip, Purpose::UdpConnect) {
        Ok(()) => true,
        Err(e) => {
          refused.get_or_insert(e);
          false
        }
      },
    )
    .ok_or_else(|| {
      refused.unwrap_or_else(|| SocketError::network_code("ENOTFOUND", "getaddrinfo", host))
    })?;
  let addr = SocketAddr::new(ip, port);
  let io_err = |syscall, e: &io::Error| SocketError::io(syscall, e, addr.to_string());
  let sock = new_socket(ip, opts).map_err(|e| io_err("socket", &e))?;
  // A UDP connect only records the peer: it does not block.
  sock
    .connect(&addr.into())
    .map_err(|e| io_err("connect", &e))?;
  UdpHandle::new(into_std(sock), policy, true)
}

/// Bound mode: binds to `local_address` (an IP literal) and `local_port` (0: the OS
/// picks), once the policy allows bound sockets and the port.
pub async fn bind(
  policy: Arc<Policy>,
  local_address: &str,
  local_port: u16,
  opts: &UdpOptions,
) -> std::result::Result<UdpHandle, SocketError> {
  policy.check_udp_open(opts.asks_for_multicast())?;
  let ip = parse_ip_literal(local_address).ok_or_else(|| {
    SocketError::type_error(format!("'{local_address}' is not a valid IP address."))
  })?;
  policy.check_udp_bind(ip, local_port)?;
  let addr = SocketAddr::new(ip, local_port);
  let io_err = |syscall, e: &io::Error| SocketError::io(syscall, e, addr.to_string());
  let sock = new_socket(ip, opts).map_err(|e| io_err("socket", &e))?;
  if !policy.multicast {
    sockopt::receive_own_groups_only(&sock, ip.is_ipv6()).map_err(|e| io_err("setsockopt", &e))?;
  }
  sock.bind(&addr.into()).map_err(|e| io_err("bind", &e))?;
  UdpHandle::new(into_std(sock), policy, false)
}

impl UdpHandle {
  /// The policy this socket was opened under.
  pub(crate) fn policy(&self) -> &Policy {
    &self.policy
  }
}

#[napi]
impl Sockets {
  /// Opens a connected-mode UDP socket (`new UDPSocket({ remoteAddress, remotePort })`).
  /// Resolves with the key `takeUdp` gives the socket for (see `Parking`).
  #[napi(ts_return_type = "Promise<number>")]
  pub fn connect_udp<'env>(
    &self,
    env: &'env Env,
    host: String,
    port_number: u32,
    options: UdpOptions,
  ) -> Result<PromiseRaw<'env, u32>> {
    // The future owns what it uses (see `Sockets::connect_tcp`).
    let policy = Arc::clone(&self.policy);
    let parked = Arc::clone(&self.parked_udp);
    env.spawn_future(async move {
      let port = port(port_number)?;
      Ok(parked.park(connect(policy, &host, port, &options).await?))
    })
  }

  /// Opens a bound-mode UDP socket (`new UDPSocket({ localAddress, localPort })`);
  /// resolves with the key `takeUdp` gives it for.
  #[napi(ts_return_type = "Promise<number>")]
  pub fn bind_udp<'env>(
    &self,
    env: &'env Env,
    local_address: String,
    local_port: Option<u32>,
    options: UdpOptions,
  ) -> Result<PromiseRaw<'env, u32>> {
    let policy = Arc::clone(&self.policy);
    let parked = Arc::clone(&self.parked_udp);
    env.spawn_future(async move {
      let port = port(local_port.unwrap_or(0))?;
      Ok(parked.park(bind(policy, &local_address, port, &options).await?))
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::net::{Ipv4Addr, Ipv6Addr};

  #[test]
  fn reach_follows_the_bound_address_and_ipv6_only() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let both = Reach { v4: true, v6: true };
    let v4 = Reach {
      v4: true,
      v6: false,
    };
    let v6 = Reach {
      v4: false,
      v6: true,
    };
    assert_eq!(Reach::of(ip("127.0.0.1"), false), v4);
    assert_eq!(Reach::of(ip("0.0.0.0"), false), v4);
    assert_eq!(Reach::of(ip("::"), false), both);
    assert_eq!(Reach::of(ip("::"), true), v6);
    assert_eq!(Reach::of(ip("::1"), false), v6);
    assert_eq!(Reach::of(ip("::ffff:127.0.0.1"), false), v4);
    assert!(v6.allows(ip("::1")) && !v6.allows(ip("127.0.0.1")));
    assert!(v4.allows(ip("127.0.0.1")) && !v4.allows(ip("::1")));
  }

  #[test]
  fn writes_ipv4_source_in_one_word() {
    let mut m = [0u32; META_STRIDE];
    write_address(&mut m, &"192.0.2.1:53".parse().unwrap());
    assert_eq!(m[2], 53);
    assert_eq!(m[3], 4);
    assert_eq!(m[4], u32::from(Ipv4Addr::new(192, 0, 2, 1)));
  }

  #[test]
  fn writes_ipv6_source_in_four_words() {
    let mut m = [0u32; META_STRIDE];
    write_address(&mut m, &"[2001:db8::1]:9".parse().unwrap());
    assert_eq!(m[3], 6);
    assert_eq!(&m[4..], &[0x2001_0db8, 0, 0, 1]);
    let back: Vec<u8> = m[4..].iter().flat_map(|w| w.to_be_bytes()).collect();
    let octets: [u8; 16] = back.try_into().unwrap();
    assert_eq!(
      Ipv6Addr::from(octets),
      "2001:db8::1".parse::<Ipv6Addr>().unwrap()
    );
  }
}
