//! Every socket option we set, in one place (the way socket2 keeps OS calls together).

use std::io;
use std::time::Duration;

use napi_derive::napi;
use socket2::{SockRef, Socket, TcpKeepalive};
use tokio::net::{TcpSocket, TcpStream};

/// `TCPSocketOptions`, already converted by the WebIDL layer in JavaScript.
#[napi(object)]
#[derive(Clone, Debug, Default)]
pub struct TcpOptions {
  pub no_delay: Option<bool>,
  /// Milliseconds; applied in whole seconds (at least one).
  pub keep_alive_delay: Option<u32>,
  pub send_buffer_size: Option<u32>,
  pub receive_buffer_size: Option<u32>,
  pub dns_query_type: Option<String>,
}

/// `SO_SNDBUF` / `SO_RCVBUF` go on before `connect`, so that the receive window scale
/// the kernel advertises in the SYN matches the buffer.
pub fn set_buffer_sizes(sock: &TcpSocket, opts: &TcpOptions) -> io::Result<()> {
  // The kernel takes an `int` and doubles it; clamp so huge requests mean "the maximum".
  const MAX: u32 = (i32::MAX / 2) as u32;
  if let Some(size) = opts.send_buffer_size {
    sock.set_send_buffer_size(size.min(MAX))?;
  }
  if let Some(size) = opts.receive_buffer_size {
    sock.set_recv_buffer_size(size.min(MAX))?;
  }
  Ok(())
}

/// `TCP_NODELAY` and keep-alive (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`).
pub fn set_stream_options(stream: &TcpStream, opts: &TcpOptions) -> io::Result<()> {
  if opts.no_delay.unwrap_or(false) {
    stream.set_nodelay(true)?;
  }
  if let Some(ms) = opts.keep_alive_delay {
    let secs = Duration::from_secs(u64::from(ms / 1000).max(1));
    let keepalive = TcpKeepalive::new().with_time(secs);
    #[cfg(not(any(target_os = "openbsd", target_os = "haiku")))]
    let keepalive = keepalive.with_interval(secs);
    SockRef::from(stream).set_tcp_keepalive(&keepalive)?;
  }
  Ok(())
}

/// Half-closes the write side (sends FIN).
pub fn shutdown_write(stream: &TcpStream) -> io::Result<()> {
  SockRef::from(stream).shutdown(std::net::Shutdown::Write)
}

/// Stops reading: pending readiness waits wake up and later reads see end of stream.
pub fn shutdown_read(stream: &TcpStream) -> io::Result<()> {
  SockRef::from(stream).shutdown(std::net::Shutdown::Read)
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

/// Options that must be on a UDP socket before it is bound or connected:
/// buffer sizes, `IPV6_V6ONLY`, and `SO_REUSEADDR` + `SO_REUSEPORT` for multicast
/// address sharing.
pub fn set_udp_options_before_bind(sock: &Socket, opts: &UdpOptions) -> io::Result<()> {
  const MAX: u32 = (i32::MAX / 2) as u32;
  if let Some(size) = opts.send_buffer_size {
    sock.set_send_buffer_size(size.min(MAX) as usize)?;
  }
  if let Some(size) = opts.receive_buffer_size {
    sock.set_recv_buffer_size(size.min(MAX) as usize)?;
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
