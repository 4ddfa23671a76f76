//! Every socket option we set, in one place (the way socket2 keeps OS calls together).

use std::io;
use std::time::Duration;

use napi_derive::napi;
use socket2::{SockRef, Socket, TcpKeepalive};

/// `TCPSocketOptions`, already converted by the WebIDL layer in JavaScript.
#[napi(object)]
#[derive(Clone, Debug, Default)]
pub struct TcpOptions {
  pub no_delay: Option<bool>,
  /// Milliseconds; applied in whole seconds (at least one, at most `MAX_KEEPALIVE_SECS`).
  pub keep_alive_delay: Option<u32>,
  pub send_buffer_size: Option<u32>,
  pub receive_buffer_size: Option<u32>,
  pub dns_query_type: Option<String>,
}

/// `SO_SNDBUF` / `SO_RCVBUF` go on before `connect`, so that the receive window scale
/// the kernel advertises in the SYN matches the buffer.
pub fn set_buffer_sizes(sock: SockRef<'_>, opts: &TcpOptions) -> io::Result<()> {
  // The kernel takes an `int` and doubles it; clamp so huge requests mean "the maximum".
  const MAX: u32 = (i32::MAX / 2) as u32;
  if let Some(size) = opts.send_buffer_size {
    sock.set_send_buffer_size(size.min(MAX) as usize)?;
  }
  if let Some(size) = opts.receive_buffer_size {
    sock.set_recv_buffer_size(size.min(MAX) as usize)?;
  }
  Ok(())
}

/// The longest keep-alive idle time and interval the OS takes (Linux: `MAX_TCP_KEEPIDLE`
/// and `MAX_TCP_KEEPINTVL`, 32767 s; longer ones fail with EINVAL). Any `keepAliveDelay` the
/// IDL allows (up to 2^32-1 ms, about 49 days) is valid, so longer delays mean the longest.
const MAX_KEEPALIVE_SECS: u64 = 32_767;

/// `TCP_NODELAY` and keep-alive (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`).
pub fn set_stream_options(sock: SockRef<'_>, opts: &TcpOptions) -> io::Result<()> {
  if opts.no_delay.unwrap_or(false) {
    sock.set_tcp_nodelay(true)?;
  }
  if let Some(ms) = opts.keep_alive_delay {
    let secs = Duration::from_secs(u64::from(ms / 1000).clamp(1, MAX_KEEPALIVE_SECS));
    let keepalive = TcpKeepalive::new().with_time(secs);
    #[cfg(not(any(target_os = "openbsd", target_os = "haiku")))]
    let keepalive = keepalive.with_interval(secs);
    sock.set_tcp_keepalive(&keepalive)?;
  }
  Ok(())
}

/// Every `TCPSocketOptions` member on a socket that is not connected yet.
pub fn set_socket_options(sock: &Socket, opts: &TcpOptions) -> io::Result<()> {
  set_buffer_sizes(SockRef::from(sock), opts)?;
  set_stream_options(SockRef::from(sock), opts)
}

#[cfg(test)]
mod tests {
  use super::*;
  use tokio::net::{TcpSocket, TcpStream};

  #[tokio::test]
  async fn options_reach_the_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let opts = TcpOptions {
      no_delay: Some(true),
      keep_alive_delay: Some(7_500),
      send_buffer_size: Some(64 * 1024),
      receive_buffer_size: Some(96 * 1024),
      dns_query_type: None,
    };
    let sock = TcpSocket::new_v4().unwrap();
    set_buffer_sizes(SockRef::from(&sock), &opts).unwrap();
    let stream = sock.connect(addr).await.unwrap();
    set_stream_options(SockRef::from(&stream), &opts).unwrap();

    let s = SockRef::from(&stream);
    assert!(s.tcp_nodelay().unwrap());
    assert!(s.keepalive().unwrap());
    // keepAliveDelay is applied in whole seconds to both the idle time and the interval.
    assert_eq!(s.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
    assert_eq!(s.tcp_keepalive_interval().unwrap(), Duration::from_secs(7));
    // Linux doubles the requested size for its own bookkeeping.
    assert!(s.send_buffer_size().unwrap() >= 64 * 1024);
    assert!(s.recv_buffer_size().unwrap() >= 96 * 1024);
  }

  #[test]
  fn udp_sockets_ask_for_a_larger_receive_buffer_unless_given_one() {
    let fresh = || Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let system = fresh().recv_buffer_size().unwrap();
    let s = fresh();
    set_udp_options_before_bind(&s, &UdpOptions::default()).unwrap();
    let got = s.recv_buffer_size().unwrap();
    if system < DEFAULT_UDP_RECEIVE_BUFFER {
      assert!(got > system, "{got} <= the system default {system}");
    } else {
      assert_eq!(got, system);
    }
    // receiveBufferSize wins, smaller or not.
    let s = fresh();
    let small = UdpOptions {
      receive_buffer_size: Some(8192),
      ..Default::default()
    };
    set_udp_options_before_bind(&s, &small).unwrap();
    assert!(s.recv_buffer_size().unwrap() <= 2 * 8192);
  }

  #[tokio::test]
  async fn the_longest_keepalive_delay_is_the_longest_the_os_takes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let opts = TcpOptions {
      keep_alive_delay: Some(u32::MAX),
      ..Default::default()
    };
    set_stream_options(SockRef::from(&stream), &opts).unwrap();
    let s = SockRef::from(&stream);
    assert_eq!(
      s.tcp_keepalive_time().unwrap(),
      Duration::from_secs(MAX_KEEPALIVE_SECS)
    );
  }

  #[tokio::test]
  async fn defaults_leave_nagle_and_keepalive_alone() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap())
      .await
      .unwrap();
    set_stream_options(SockRef::from(&stream), &TcpOptions::default()).unwrap();
    let s = SockRef::from(&stream);
    assert!(!s.tcp_nodelay().unwrap());
    assert!(!s.keepalive().unwrap());
  }
}

/// `UDPSocketOptions` (less the addresses), already converted by the WebIDL layer in
/// JavaScript.
#[napi(object)]
#[derive(Clone, Debug, Default)]
pub struct UdpOptions {
  pub send_buffer_size: Option<u32>,
  pub receive_buffer_size: Option<u32>,
  pub dns_query_type: Option<String>,
  pub ipv6_only: Option<bool>,
  pub multicast_time_to_live: Option<u32>,
  pub multicast_loopback: Option<bool>,
  pub multicast_allow_address_sharing: Option<bool>,
}

impl UdpOptions {
  /// Any of the multicast options (the multicast policy feature's) is given.
  pub fn asks_for_multicast(&self) -> bool {
    self.multicast_time_to_live.is_some()
      || self.multicast_loopback.is_some()
      || self.multicast_allow_address_sharing.is_some()
  }
}

/// The receive buffer a UDP socket asks for when `receiveBufferSize` is not given (the
/// spec leaves the default to the implementation). Datagrams that come while JavaScript
/// is busy wait there, and are dropped once it is full: the system default (208 KiB on
/// Linux) holds about 90 datagrams of 1,200 bytes, a few hundred microseconds of a
/// blast. The kernel caps the request at `net.core.rmem_max` (and Linux doubles what it
/// grants for its bookkeeping, so even a stock 208 KiB cap doubles the default); a larger
/// system default is kept. Memory is used only by datagrams actually queued.
pub const DEFAULT_UDP_RECEIVE_BUFFER: usize = 1024 * 1024;

/// Options that must be on a UDP socket before it is bound or connected:
/// buffer sizes, `IPV6_V6ONLY`, and `SO_REUSEADDR` + `SO_REUSEPORT` for multicast
/// address sharing.
pub fn set_udp_options_before_bind(sock: &Socket, opts: &UdpOptions) -> io::Result<()> {
  const MAX: u32 = (i32::MAX / 2) as u32;
  if let Some(size) = opts.send_buffer_size {
    sock.set_send_buffer_size(size.min(MAX) as usize)?;
  }
  match opts.receive_buffer_size {
    Some(size) => sock.set_recv_buffer_size(size.min(MAX) as usize)?,
    // Best effort: a smaller buffer than asked for is no reason to fail the open.
    None => {
      if sock
        .recv_buffer_size()
        .is_ok_and(|size| size < DEFAULT_UDP_RECEIVE_BUFFER)
      {
        let _ = sock.set_recv_buffer_size(DEFAULT_UDP_RECEIVE_BUFFER);
      }
    }
  }
  if let Some(only) = opts.ipv6_only {
    sock.set_only_v6(only)?;
  }
  if opts.multicast_allow_address_sharing.unwrap_or(false) {
    sock.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    sock.set_reuse_port(true)?;
  }
  Ok(())
}

/// `IP_MULTICAST_ALL` (and `IPV6_MULTICAST_ALL`) off: the socket receives the datagrams
/// of groups it joined itself only. Linux's default delivers a group's datagrams to every
/// socket bound to the wildcard address and the group's port once any socket of the host
/// has joined the group, so a socket whose policy forbids multicast (it can join none)
/// would still receive, say, the SSDP or mDNS traffic another program joined for.
#[cfg(target_os = "linux")]
pub fn receive_own_groups_only(sock: &Socket, ipv6: bool) -> io::Result<()> {
  if ipv6 {
    sock.set_multicast_all_v6(false)?;
    // A dual-stack socket's IPv4 side.
    let _ = sock.set_multicast_all_v4(false);
    Ok(())
  } else {
    sock.set_multicast_all_v4(false)
  }
}

/// Elsewhere a socket receives the groups it joined only.
#[cfg(not(target_os = "linux"))]
pub fn receive_own_groups_only(_sock: &Socket, _ipv6: bool) -> io::Result<()> {
  Ok(())
}

/// `IP_MULTICAST_TTL` / `IPV6_MULTICAST_HOPS` and `IP_MULTICAST_LOOP` /
/// `IPV6_MULTICAST_LOOP`. An IPv6 socket gets both families' options, since a dual-stack
/// socket may send IPv4 multicast too; Linux accepts the IPv4 ones there, others may not,
/// so those are best effort.
pub fn set_multicast_options(sock: &Socket, ipv6: bool, opts: &UdpOptions) -> io::Result<()> {
  if let Some(ttl) = opts.multicast_time_to_live {
    if ipv6 {
      sock.set_multicast_hops_v6(ttl)?;
      let _ = sock.set_multicast_ttl_v4(ttl);
    } else {
      sock.set_multicast_ttl_v4(ttl)?;
    }
  }
  if let Some(on) = opts.multicast_loopback {
    if ipv6 {
      sock.set_multicast_loop_v6(on)?;
      let _ = sock.set_multicast_loop_v4(on);
    } else {
      sock.set_multicast_loop_v4(on)?;
    }
  }
  Ok(())
}
