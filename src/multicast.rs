//! Multicast group membership of a bound `UdpHandle` (`MulticastController`).
//!
//! Any-source multicast (ASM) uses `IP_ADD_MEMBERSHIP` / `IPV6_JOIN_GROUP`;
//! source-specific multicast (SSM) uses `IP_ADD_SOURCE_MEMBERSHIP` for IPv4. socket2
//! offers no IPv6 SSM (`MCAST_JOIN_SOURCE_GROUP`) and this crate has no `unsafe`, so an
//! IPv6 SSM join fails with a `NetworkError` (`ENOTSUP`).
//!
//! The spec's argument checks (valid, multicast group; unicast source of the same
//! family) are made in `lib/multicast.js` and again here; the membership bookkeeping
//! (duplicates, joins in progress) lives in JavaScript, beside `joinedGroups`.

use std::net::{IpAddr, Ipv4Addr};

use napi::Result;
use napi_derive::napi;
use socket2::SockRef;

use crate::error::SocketError;
use crate::resolve::parse_ip_literal;
use crate::udp::UdpHandle;

/// One membership: a group, and for SSM the one source to receive from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
  pub group: IpAddr,
  pub source: Option<IpAddr>,
}

fn ip(text: &str, what: &str) -> std::result::Result<IpAddr, SocketError> {
  parse_ip_literal(text)
    .ok_or_else(|| SocketError::type_error(format!("{what} '{text}' is not a valid IP address.")))
}

fn is_unspecified_or_loopback(ip: IpAddr) -> bool {
  match ip {
    IpAddr::V4(v4) => v4.is_unspecified() || v4.is_loopback(),
    IpAddr::V6(v6) => {
      v6.is_unspecified()
        || v6.is_loopback()
        || v6
          .to_ipv4_mapped()
          .is_some_and(|v4| v4.is_unspecified() || v4.is_loopback())
    }
  }
}

impl Membership {
  /// Parses and checks a membership as spec 3.3 does (every failure a `TypeError`).
  pub fn parse(group: &str, source: Option<&str>) -> std::result::Result<Self, SocketError> {
    let group = ip(group, "groupAddress")?;
    if !group.is_multicast() {
      return Err(SocketError::type_error(format!(
        "groupAddress '{group}' is not a multicast address (224.0.0.0/4 or ff00::/8)."
      )));
    }
    let source = source.map(|s| ip(s, "sourceAddress")).transpose()?;
    if let Some(src) = source {
      if src.is_multicast() || is_unspecified_or_loopback(src) {
        return Err(SocketError::type_error(format!(
          "sourceAddress '{src}' must be a unicast address that is neither loopback nor unspecified."
        )));
      }
      if src.is_ipv4() != group.is_ipv4() {
        return Err(SocketError::type_error(format!(
          "sourceAddress '{src}' and groupAddress '{group}' are not of the same IP version."
        )));
      }
    }
    Ok(Membership { group, source })
  }

  fn apply(&self, sock: SockRef<'_>, join: bool) -> std::io::Result<()> {
    let any = Ipv4Addr::UNSPECIFIED;
    match (self.group, self.source) {
      (IpAddr::V4(g), None) if join => sock.join_multicast_v4(&g, &any),
      (IpAddr::V4(g), None) => sock.leave_multicast_v4(&g, &any),
      (IpAddr::V6(g), None) if join => sock.join_multicast_v6(&g, 0),
      (IpAddr::V6(g), None) => sock.leave_multicast_v6(&g, 0),
      (IpAddr::V4(g), Some(IpAddr::V4(s))) if join => sock.join_ssm_v4(&s, &g, &any),
      (IpAddr::V4(g), Some(IpAddr::V4(s))) => sock.leave_ssm_v4(&s, &g, &any),
      _ => Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "IPv6 source-specific multicast",
      )),
    }
  }

  /// The socket option a join or leave sets (named in errors).
  fn option_name(&self, join: bool) -> &'static str {
    match (join, self.group.is_ipv6(), self.source.is_some()) {
      (true, false, false) => "IP_ADD_MEMBERSHIP",
      (false, false, false) => "IP_DROP_MEMBERSHIP",
      (true, false, true) => "IP_ADD_SOURCE_MEMBERSHIP",
      (false, false, true) => "IP_DROP_SOURCE_MEMBERSHIP",
      (true, true, false) => "IPV6_ADD_MEMBERSHIP",
      (false, true, false) => "IPV6_DROP_MEMBERSHIP",
      (true, true, true) => "MCAST_JOIN_SOURCE_GROUP",
      (false, true, true) => "MCAST_LEAVE_SOURCE_GROUP",
    }
  }

  fn change(&self, handle: &UdpHandle, join: bool) -> std::result::Result<(), SocketError> {
    let syscall = self.option_name(join);
    let detail = match self.source {
      Some(s) => format!("{} from {s}", self.group),
      None => self.group.to_string(),
    };
    handle.with_socket(|socket| {
      self
        .apply(SockRef::from(socket), join)
        .map_err(|e| match e.kind() {
          // Refused here, before any system call: no setsockopt was made.
          std::io::ErrorKind::Unsupported => SocketError::network_code(
            "ENOTSUP",
            syscall,
            format!(
              "{detail}: IPv6 source-specific multicast is not supported by direct-sockets \
               (socket2 has no safe call for {syscall})"
            ),
          ),
          _ => SocketError::io(syscall, &e, detail.clone()),
        })
    })
  }
}

#[napi]
impl UdpHandle {
  /// Joins `group` (for SSM: from `source` only). Throws an encoded `TypeError` for bad
  /// addresses, `InvalidStateError` once closed, `NetworkError` when the OS refuses.
  #[napi]
  pub fn join_group(&self, group: String, source: Option<String>) -> Result<()> {
    // Checked here too, not only by the JavaScript that offers a MulticastController.
    self.policy().check_multicast()?;
    let m = Membership::parse(&group, source.as_deref())?;
    Ok(m.change(self, true)?)
  }

  /// Leaves a membership made by `joinGroup`.
  #[napi]
  pub fn leave_group(&self, group: String, source: Option<String>) -> Result<()> {
    let m = Membership::parse(&group, source.as_deref())?;
    Ok(m.change(self, false)?)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn accepts_asm_and_ssm_memberships() {
    assert!(Membership::parse("239.1.2.3", None).is_ok());
    assert!(Membership::parse("ff02::1", None).is_ok());
    assert!(Membership::parse("232.1.1.1", Some("192.0.2.100")).is_ok());
  }

  #[test]
  fn errors_name_the_option_of_the_group_family() {
    let name = |g, s, join| Membership::parse(g, s).unwrap().option_name(join);
    assert_eq!(name("239.1.2.3", None, true), "IP_ADD_MEMBERSHIP");
    assert_eq!(name("239.1.2.3", None, false), "IP_DROP_MEMBERSHIP");
    assert_eq!(
      name("232.1.1.1", Some("192.0.2.1"), true),
      "IP_ADD_SOURCE_MEMBERSHIP"
    );
    assert_eq!(
      name("232.1.1.1", Some("192.0.2.1"), false),
      "IP_DROP_SOURCE_MEMBERSHIP"
    );
    assert_eq!(name("ff1e::1", None, true), "IPV6_ADD_MEMBERSHIP");
    assert_eq!(name("ff1e::1", None, false), "IPV6_DROP_MEMBERSHIP");
  }

  #[test]
  fn refuses_what_spec_3_3_refuses() {
    let bad = [
      ("nope", None),
      ("10.0.0.1", None),
      ("239.1.2.3", Some("x")),
      ("239.1.2.3", Some("224.0.0.1")),
      ("239.1.2.3", Some("127.0.0.1")),
      ("239.1.2.3", Some("0.0.0.0")),
      ("239.1.2.3", Some("2001:db8::1")),
      ("ff02::1", Some("::1")),
    ];
    for (g, s) in bad {
      let e = Membership::parse(g, s).unwrap_err();
      assert_eq!(e.name, crate::error::ErrorName::Type, "{g} {s:?}");
    }
  }
}
