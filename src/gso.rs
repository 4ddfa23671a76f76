//! UDP generic segmentation offload (GSO): one `sendmsg` carries a run of datagrams.
//!
//! With a `UDP_SEGMENT` control message (Linux 4.18 and later), the kernel takes a buffer
//! of several datagrams laid end to end, all `segment` bytes long but the last (which may
//! be shorter), routes it once and splits it into datagrams at the device (or in software
//! where the device cannot). On loopback this cost 1.25 µs of kernel time a datagram,
//! against 4.3-5.3 µs for one `send` each (README, "Why it is fast"). The receiver gets
//! the same datagrams, each on its own.
//!
//! The control message is written out as bytes (no `unsafe`, no libc): a `cmsghdr`
//! (`cmsg_len` as a native word, `cmsg_level`, `cmsg_type`), then the `u16` segment size,
//! padded to a word as `CMSG_SPACE` pads it.
//!
//! The kernel refuses a run it cannot segment, before sending any of it: `EMSGSIZE` or
//! `EINVAL` (a segment larger than the path's MTU: Linux 6.18 answered `EMSGSIZE`; too
//! many segments), `EIO` (no checksum offload, an IPsec path). `send_segments` reports
//! these as `Refused`, and the caller then sends each datagram on its own (and stops
//! asking for this socket).

use std::io::{self, IoSlice};
use std::net::SocketAddr;

use socket2::{MsgHdr, SockAddr, SockRef};

/// The most datagrams one run may carry (the kernel's `UDP_MAX_SEGMENTS`: 64 before Linux
/// 6.2, 128 since).
pub const MAX_SEGMENTS: usize = 64;
/// The most bytes one run may carry: its payload must fit one IP datagram (65,535 bytes
/// with the IP and UDP headers; IPv6's payload length counts the UDP header).
pub const MAX_BYTES: usize = 63 * 1024;

const SOL_UDP: i32 = 17;
const UDP_SEGMENT: i32 = 103;

const WORD: usize = std::mem::size_of::<usize>();
const fn align(n: usize) -> usize {
  (n + WORD - 1) & !(WORD - 1)
}
/// `CMSG_LEN(0)`: the header, padded to a word.
const HEADER: usize = align(WORD + 8);
/// `CMSG_SPACE(2)`: the header and the `u16` segment size, padded to a word.
const SPACE: usize = HEADER + align(2);

/// The `UDP_SEGMENT` control message for `segment`-byte datagrams.
fn control(segment: u16) -> [u8; SPACE] {
  let mut c = [0u8; SPACE];
  c[..WORD].copy_from_slice(&(HEADER + 2).to_ne_bytes());
  c[WORD..WORD + 4].copy_from_slice(&SOL_UDP.to_ne_bytes());
  c[WORD + 4..WORD + 8].copy_from_slice(&UDP_SEGMENT.to_ne_bytes());
  c[HEADER..HEADER + 2].copy_from_slice(&segment.to_ne_bytes());
  c
}

/// What `send_segments` did.
pub enum Sent {
  /// The whole run went out (its byte count).
  All(usize),
  /// Nothing was sent: the run breaks a limit above (or has an empty segment); send each
  /// datagram.
  Unfit,
  /// Nothing was sent: the kernel cannot segment for this socket (or at all); send each
  /// datagram, and no more runs.
  Refused,
}

/// Whether the kernel handles `UDP_SEGMENT` (4.18 or later). An older kernel ignores a
/// control message of an unknown level and would send the run as one datagram, so an
/// unknown version counts as too old. Only on architectures with Linux's generic error
/// numbers (`refused` names them; MIPS, SPARC, Alpha and PA-RISC number them otherwise).
fn kernel_supports() -> bool {
  static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
  *SUPPORTED.get_or_init(|| {
    let generic_errno = cfg!(any(
      target_arch = "x86_64",
      target_arch = "x86",
      target_arch = "aarch64",
      target_arch = "arm",
      target_arch = "riscv64",
      target_arch = "s390x",
      target_arch = "loongarch64",
      target_arch = "powerpc64"
    ));
    if !cfg!(target_os = "linux") || !generic_errno {
      return false;
    }
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
      return false;
    };
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (4, 18)
  })
}

/// Whether `e` is the kernel refusing to segment a run (see the module's comment). Linux's
/// generic error numbers (see `kernel_supports`).
fn refused(e: &io::Error) -> bool {
  const EIO: i32 = 5;
  const EINVAL: i32 = 22;
  const EMSGSIZE: i32 = 90;
  const ENOPROTOOPT: i32 = 92;
  const EOPNOTSUPP: i32 = 95;
  matches!(
    e.raw_os_error(),
    Some(EIO | EINVAL | EMSGSIZE | ENOPROTOOPT | EOPNOTSUPP)
  )
}

/// Sends `run` (datagrams of `segment` bytes laid end to end, the last possibly shorter) in
/// one `sendmsg`, to `to` or, without it, to the connected peer. Other errors (a full send
/// buffer, a refused connection) are the caller's, as for one `send`.
pub fn send_segments(
  socket: SockRef<'_>,
  run: &[u8],
  segment: usize,
  to: Option<SocketAddr>,
) -> io::Result<Sent> {
  let size = match u16::try_from(segment) {
    Ok(size)
      if size > 0 && run.len() <= MAX_BYTES && run.len().div_ceil(segment) <= MAX_SEGMENTS =>
    {
      size
    }
    _ => return Ok(Sent::Unfit),
  };
  if !kernel_supports() {
    return Ok(Sent::Refused);
  }
  let control = control(size);
  let bufs = [IoSlice::new(run)];
  let address = to.map(SockAddr::from);
  let mut msg = MsgHdr::new().with_buffers(&bufs).with_control(&control);
  if let Some(address) = &address {
    msg = msg.with_addr(address);
  }
  match socket.sendmsg(&msg, 0) {
    Ok(n) => Ok(Sent::All(n)),
    Err(e) if refused(&e) => Ok(Sent::Refused),
    Err(e) => Err(e),
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::net::UdpSocket;
  use std::time::Duration;

  #[test]
  fn control_message_layout() {
    let c = control(1200);
    assert_eq!(c.len(), if WORD == 8 { 24 } else { 16 });
    assert_eq!(
      usize::from_ne_bytes(c[..WORD].try_into().unwrap()),
      HEADER + 2
    );
    assert_eq!(u16::from_ne_bytes([c[HEADER], c[HEADER + 1]]), 1200);
  }

  /// A run of 10 datagrams of 100 bytes and a last of 40 arrives as 11 datagrams, each
  /// with its own bytes.
  #[test]
  fn a_run_arrives_as_separate_datagrams() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut run = Vec::new();
    for i in 0..10u8 {
      run.extend(std::iter::repeat_n(i, 100));
    }
    run.extend(std::iter::repeat_n(0xee, 40));
    let to = rx.local_addr().unwrap();
    match send_segments(SockRef::from(&tx), &run, 100, Some(to)).unwrap() {
      Sent::All(n) => assert_eq!(n, run.len()),
      Sent::Refused => return, // a kernel without GSO: nothing to check here
      Sent::Unfit => panic!("the run is within the limits"),
    }
    let mut buf = [0u8; 2048];
    for i in 0..10u8 {
      let n = rx.recv(&mut buf).unwrap();
      assert_eq!(n, 100);
      assert!(buf[..n].iter().all(|&b| b == i));
    }
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[0xee; 40][..]);
  }

  #[test]
  fn too_many_segments_is_unfit() {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let run = vec![0u8; MAX_SEGMENTS + 1];
    let to = "127.0.0.1:9".parse().unwrap();
    assert!(matches!(
      send_segments(SockRef::from(&tx), &run, 1, Some(to)).unwrap(),
      Sent::Unfit
    ));
  }
}
