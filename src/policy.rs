//! What may be opened.
//!
//! The policy stands in for the browser's Permissions Policy features `direct-sockets`,
//! `direct-sockets-private` and `direct-sockets-multicast`, and goes further: allow and
//! deny lists, port floors and the resolver. Every open path asks this module, after DNS
//! resolution, about the exact address it is about to use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use napi_derive::napi;

use crate::error::SocketError;
use crate::resolve::{DnsConfig, Resolver};

/// The policy as JavaScript hands it over (keys and types are checked in `lib/policy.js`;
/// values are parsed and checked again here).
#[napi(object)]
#[derive(Clone, Debug, Default)]
pub struct PolicyConfig {
  pub direct_sockets: Option<bool>,
  pub private_network_access: Option<bool>,
  pub multicast: Option<bool>,
  pub allow: Option<Vec<String>>,
  pub deny: Option<Vec<String>>,
  pub min_server_port: Option<u32>,
  pub min_udp_bind_port: Option<u32>,
  pub dns_servers: Option<Vec<String>>,
  pub dns_timeout: Option<u32>,
}

/// Which open path is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
  TcpConnect,
  UdpConnect,
  UdpSend,
}

#[derive(Debug)]
pub struct Policy {
  pub direct_sockets: bool,
  pub private_network_access: bool,
  pub multicast: bool,
  allow: Option<Vec<IpNet>>,
  deny: Vec<IpNet>,
  pub min_server_port: u16,
  pub min_udp_bind_port: u16,
  resolver: Option<Resolver>,
}

impl Default for Policy {
  fn default() -> Self {
    Policy {
      direct_sockets: true,
      private_network_access: true,
      multicast: true,
      allow: None,
      deny: Vec::new(),
      min_server_port: 0,
      min_udp_bind_port: 0,
      resolver: None,
    }
  }
}

/// CIDR ranges (or single addresses). A range written in IPv4-mapped or IPv4-compatible
/// form (`::ffff:10.0.0.0/104`) also covers the plain IPv4 addresses it stands for.
fn parse_nets(key: &str, values: &[String]) -> Result<Vec<IpNet>, SocketError> {
  let mut nets = Vec::with_capacity(values.len());
  for v in values {
    let net = v
      .parse::<IpNet>()
      .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
      .map_err(|_| {
        SocketError::type_error(format!(
          "policy.{key}: '{v}' is not an IP address or CIDR range."
        ))
      })?
      .trunc();
    nets.push(net);
    if let IpNet::V6(v6) = net {
      let s = v6.network().segments();
      // Mapped ranges of any length; compatible forms as single addresses only (a
      // compatible range would start at `::` and `::1`, which are not IPv4 at all).
      let mapped = s[..6] == [0, 0, 0, 0, 0, 0xffff] && v6.prefix_len() >= 96;
      let compatible = v6.prefix_len() == 128 && canonical_v4(IpAddr::V6(v6.addr())).is_some();
      if mapped || compatible {
        let o = v6.network().octets();
        let v4 = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
        if let Ok(v4net) = IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96) {
          nets.push(v4net);
        }
      }
    }
  }
  Ok(nets)
}

fn parse_port(key: &str, value: Option<u32>) -> Result<u16, SocketError> {
  match value {
    None => Ok(0),
    Some(v) => u16::try_from(v)
      .map_err(|_| SocketError::type_error(format!("policy.{key}: {v} is not a port (0-65535)."))),
  }
}

impl Policy {
  pub fn from_config(c: PolicyConfig) -> Result<Self, SocketError> {
    let allow = c
      .allow
      .as_deref()
      .map(|v| parse_nets("allow", v))
      .transpose()?;
    let deny = parse_nets("deny", c.deny.as_deref().unwrap_or_default())?;
    let servers = c
      .dns_servers
      .as_ref()
      .map(|list| {
        list
          .iter()
          .map(|s| match s.parse::<SocketAddr>() {
            Ok(addr) if addr.port() != 0 => Ok(addr),
            _ => Err(SocketError::type_error(format!(
              "policy.dns.servers: '{s}' is not an \"ip:port\" address (port 1-65535)."
            ))),
          })
          .collect::<Result<Vec<_>, _>>()
      })
      .transpose()?;
    let timeout = c.dns_timeout.map(|ms| Duration::from_millis(ms.into()));
    let resolver = (servers.is_some() || timeout.is_some())
      .then(|| Resolver::new(DnsConfig { servers, timeout }));
    Ok(Policy {
      direct_sockets: c.direct_sockets.unwrap_or(true),
      private_network_access: c.private_network_access.unwrap_or(true),
      multicast: c.multicast.unwrap_or(true),
      allow,
      deny,
      min_server_port: parse_port("minServerPort", c.min_server_port)?,
      min_udp_bind_port: parse_port("minUdpBindPort", c.min_udp_bind_port)?,
      resolver,
    })
  }

  /// The resolver this policy resolves names with.
  pub fn resolver(&self) -> &Resolver {
    match &self.resolver {
      Some(r) => r,
      None => crate::resolve::system(),
    }
  }

  /// `direct-sockets`: may a socket be constructed at all?
  pub fn check_constructor(&self) -> Result<(), SocketError> {
    if self.direct_sockets {
      Ok(())
    } else {
      Err(SocketError::not_allowed(
        "Direct Sockets are not allowed by this policy (directSockets: false).",
      ))
    }
  }

  /// Before resolution: a literal address that the policy refuses is refused without
  /// asking DNS. Names pass here and are checked once resolved.
  pub fn check_host(&self, host: &str, purpose: Purpose) -> Result<(), SocketError> {
    match crate::resolve::parse_ip_literal(host) {
      Some(ip) => self.check_destination(ip, purpose),
      None => Ok(()),
    }
  }

  /// After resolution: may `ip` be reached? The one function every destination passes.
  /// Judged on every address a connection to `ip` reaches (see `reached`): the private
  /// check and the deny list refuse it if any of them is refused; the allow list lets it
  /// through if any of them is allowed.
  pub fn check_destination(&self, ip: IpAddr, purpose: Purpose) -> Result<(), SocketError> {
    let forms = reached(ip);
    if !self.private_network_access && forms.iter().any(|&f| is_private(f)) {
      return Err(SocketError::not_allowed(format!(
        "{ip} is in the private or local address space (privateNetworkAccess: false)."
      )));
    }
    if !self.multicast
      && matches!(purpose, Purpose::UdpSend | Purpose::UdpConnect)
      && forms.iter().any(|f| f.is_multicast())
    {
      return Err(SocketError::not_allowed(format!(
        "{ip} is a multicast group (multicast: false)."
      )));
    }
    if forms
      .iter()
      .any(|f| self.deny.iter().any(|n| n.contains(f)))
    {
      return Err(SocketError::not_allowed(format!(
        "{ip} is denied by policy.deny."
      )));
    }
    if let Some(allow) = &self.allow {
      // An IPv4-mapped (or -compatible) spelling is no address of its own: the packets
      // are IPv4's, so only the IPv4 address can admit it (`::/0` admits no IPv4 host;
      // a range written in mapped form covers the IPv4 one: `parse_nets`).
      let spelled_v4 = ip.is_ipv6() && canonical_v4(ip).is_some();
      let admits = |f: &IpAddr| !(spelled_v4 && *f == ip) && allow.iter().any(|n| n.contains(f));
      if !forms.iter().any(admits) {
        return Err(SocketError::not_allowed(format!(
          "{ip} is not in policy.allow."
        )));
      }
    }
    Ok(())
  }

  /// Every UDP socket: `direct-sockets`, and `direct-sockets-multicast` when a multicast
  /// option is given (JavaScript asks both first, synchronously; asked again here, on the
  /// open path itself).
  pub fn check_udp_open(&self, multicast_options: bool) -> Result<(), SocketError> {
    self.check_constructor()?;
    if multicast_options {
      self.check_multicast()?;
    }
    Ok(())
  }

  /// Bound UDP sockets: the spec refuses them all without `direct-sockets-private`; with
  /// multicast off, one bound to a group's address (which would receive the group's
  /// datagrams) is refused too.
  pub fn check_udp_bind(&self, ip: IpAddr, port: u16) -> Result<(), SocketError> {
    if !self.private_network_access {
      return Err(SocketError::not_allowed(
        "Bound UDP sockets need private network access (privateNetworkAccess: false).",
      ));
    }
    if !self.multicast && reached(ip).iter().any(|f| f.is_multicast()) {
      return Err(SocketError::not_allowed(format!(
        "{ip} is a multicast group (multicast: false)."
      )));
    }
    if port != 0 && port < self.min_udp_bind_port {
      return Err(SocketError::not_allowed(format!(
        "localPort {port} is below policy.minUdpBindPort ({}).",
        self.min_udp_bind_port
      )));
    }
    Ok(())
  }

  /// TCP servers: the port floor.
  pub fn check_server_port(&self, port: u16) -> Result<(), SocketError> {
    if port != 0 && port < self.min_server_port {
      return Err(SocketError::not_allowed(format!(
        "localPort {port} is below policy.minServerPort ({}).",
        self.min_server_port
      )));
    }
    Ok(())
  }

  /// `direct-sockets-multicast`.
  pub fn check_multicast(&self) -> Result<(), SocketError> {
    if self.multicast {
      Ok(())
    } else {
      Err(SocketError::not_allowed(
        "Multicast is not allowed by this policy (multicast: false).",
      ))
    }
  }
}

/// The IPv4 address an IPv6 address really reaches: IPv4-mapped (`::ffff:a.b.c.d`) and
/// IPv4-compatible (`::a.b.c.d`, other than `::` and `::1`) forms.
pub fn canonical_v4(ip: IpAddr) -> Option<Ipv4Addr> {
  match ip {
    IpAddr::V4(v4) => Some(v4),
    IpAddr::V6(v6) => {
      if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
      }
      let s = v6.segments();
      let compatible = s[..6].iter().all(|&x| x == 0) && (s[6] != 0 || s[7] > 1);
      compatible
        .then(|| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
    }
  }
}

/// The addresses a connection to `ip` reaches, `ip` first (repeated to fill the array):
/// - the unspecified address (`0.0.0.0`, `::`, `::ffff:0.0.0.0`) reaches this host's
///   loopback (`127.0.0.1` / `::1`), which is what the kernel connects to;
/// - IPv4-mapped and IPv4-compatible forms reach their IPv4 address (`canonical_v4`);
/// - NAT64 (`64:ff9b::/96`, RFC 6052) and 6to4 (`2002::/16`, RFC 3056) addresses reach
///   the IPv4 address embedded in them, through a translator or relay.
pub fn reached(ip: IpAddr) -> [IpAddr; 3] {
  let v4 = canonical_v4(ip).or_else(|| match ip {
    IpAddr::V6(v6) => embedded_v4(v6),
    IpAddr::V4(_) => None,
  });
  let loopback = match (ip, v4) {
    (_, Some(v4)) if v4.is_unspecified() => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    (IpAddr::V6(v6), None) if v6.is_unspecified() => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    _ => None,
  };
  let v4 = v4.map(IpAddr::V4);
  [ip, v4.unwrap_or(ip), loopback.unwrap_or(ip)]
}

/// The IPv4 address inside a NAT64 well-known-prefix or 6to4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
  let s = ip.segments();
  let word = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
  if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
    Some(word(s[6], s[7]))
  } else if s[0] == 0x2002 {
    Some(word(s[1], s[2]))
  } else {
    None
  }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
  let o = ip.octets();
  o[0] == 0 // 0.0.0.0/8, "this network", reaches this host
    || o[0] == 127 // loopback
    || o[0] == 10
    || (o[0] == 172 && (16..=31).contains(&o[1]))
    || (o[0] == 192 && o[1] == 168)
    || (o[0] == 169 && o[1] == 254) // link-local
    || (o[0] == 100 && (64..=127).contains(&o[1])) // CGNAT, 100.64/10
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
  let s = ip.segments();
  ip.is_loopback()
    || ip.is_unspecified()
    || (s[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
    || (s[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
    || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
    || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64, 64:ff9b:1::/48
}

/// Is `ip` itself in the private or local address space? (`check_destination` asks this
/// of every address in `reached(ip)`.)
pub fn is_private(ip: IpAddr) -> bool {
  match (ip, canonical_v4(ip)) {
    (_, Some(v4)) => is_private_v4(v4),
    (IpAddr::V6(v6), None) => is_private_v6(v6),
    (IpAddr::V4(_), None) => unreachable!("canonical_v4 returns every IPv4 address"),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

  fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
  }

  #[test]
  fn private_ranges_and_their_edges() {
    for s in [
      "0.0.0.0",
      "0.255.255.255",
      "127.0.0.1",
      "127.255.255.255",
      "10.0.0.0",
      "10.255.255.255",
      "172.16.0.0",
      "172.31.255.255",
      "192.168.0.0",
      "192.168.255.255",
      "169.254.0.0",
      "169.254.255.255",
      "100.64.0.0",
      "100.127.255.255",
      "::1",
      "::",
      "fc00::",
      "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "fe80::",
      "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "::ffff:127.0.0.1",
      "::ffff:10.1.2.3",
      "::ffff:0.0.0.0",
      "::127.0.0.1",
      "::192.168.1.1",
      "::2", // IPv4-compatible 0.0.0.2
    ] {
      assert!(is_private(ip(s)), "{s} should be private");
    }
  }

  #[test]
  fn public_addresses_just_outside_each_range() {
    for s in [
      "1.0.0.0",
      "9.255.255.255",
      "11.0.0.0",
      "126.255.255.255",
      "128.0.0.0",
      "172.15.255.255",
      "172.32.0.0",
      "192.167.255.255",
      "192.169.0.0",
      "169.253.255.255",
      "169.255.0.0",
      "100.63.255.255",
      "100.128.0.0",
      "8.8.8.8",
      "1::",
      "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "fe00::",
      "ff00::",
      "64:ff9b:2::1",
      "2001:db8::1",
      "::ffff:8.8.8.8",
      "::8.8.8.8",
    ] {
      assert!(!is_private(ip(s)), "{s} should be public");
    }
  }

  fn policy(c: PolicyConfig) -> Policy {
    Policy::from_config(c).unwrap()
  }

  #[test]
  fn destinations_are_judged_by_what_they_reach() {
    let reaches = |s: &str, to: &str| assert!(reached(ip(s)).contains(&ip(to)), "{s} reaches {to}");
    reaches("0.0.0.0", "127.0.0.1");
    reaches("::", "::1");
    reaches("::ffff:0.0.0.0", "127.0.0.1");
    reaches("64:ff9b::a01:203", "10.1.2.3");
    reaches("2002:a01:203::1", "10.1.2.3");
    reaches("::ffff:7f00:1", "127.0.0.1");
    assert!(is_private(ip("fec0::1")));
    assert!(is_private(ip("64:ff9b:1::a")));

    let deny_loopback = policy(PolicyConfig {
      deny: Some(vec!["127.0.0.0/8".into(), "::1".into()]),
      ..Default::default()
    });
    for s in [
      "0.0.0.0",
      "::",
      "::ffff:0.0.0.0",
      "64:ff9b::7f00:1",
      "2002:7f00:1::",
    ] {
      let e = deny_loopback
        .check_destination(ip(s), Purpose::TcpConnect)
        .unwrap_err();
      assert_eq!(e.name, crate::error::ErrorName::NotAllowed, "{s}");
    }
    assert!(deny_loopback
      .check_destination(ip("64:ff9b::808:808"), Purpose::TcpConnect)
      .is_ok());

    let no_private = policy(PolicyConfig {
      private_network_access: Some(false),
      ..Default::default()
    });
    for s in ["0.0.0.0", "::", "64:ff9b::a01:203", "2002:c0a8:101::1"] {
      assert!(
        no_private
          .check_destination(ip(s), Purpose::UdpSend)
          .is_err(),
        "{s}"
      );
    }

    let no_multicast = policy(PolicyConfig {
      multicast: Some(false),
      ..Default::default()
    });
    for s in [
      "224.0.0.251",
      "239.255.255.250",
      "ff02::fb",
      "::ffff:224.0.0.251",
    ] {
      assert!(
        no_multicast
          .check_destination(ip(s), Purpose::UdpSend)
          .is_err(),
        "{s}"
      );
      assert!(
        no_multicast
          .check_destination(ip(s), Purpose::UdpConnect)
          .is_err(),
        "{s}"
      );
    }
    assert!(no_multicast
      .check_destination(ip("192.0.2.1"), Purpose::UdpSend)
      .is_ok());
  }

  #[test]
  fn default_policy_allows_everything() {
    let p = Policy::default();
    assert!(p.check_constructor().is_ok());
    assert!(p
      .check_destination(ip("127.0.0.1"), Purpose::TcpConnect)
      .is_ok());
    assert!(p.check_udp_bind(LOCAL, 53).is_ok());
    assert!(p.check_server_port(80).is_ok());
    assert!(p.check_multicast().is_ok());
  }

  #[test]
  fn private_access_off_refuses_private_destinations_and_every_bind() {
    let p = policy(PolicyConfig {
      private_network_access: Some(false),
      ..Default::default()
    });
    let e = p
      .check_destination(ip("::ffff:127.0.0.1"), Purpose::TcpConnect)
      .unwrap_err();
    assert_eq!(e.name, crate::error::ErrorName::NotAllowed);
    assert!(p
      .check_destination(ip("8.8.8.8"), Purpose::UdpConnect)
      .is_ok());
    assert!(p.check_udp_bind(LOCAL, 40000).is_err());
  }

  #[test]
  fn deny_wins_over_allow_and_matches_mapped_forms() {
    let p = policy(PolicyConfig {
      allow: Some(vec!["10.0.0.0/8".into(), "2001:db8::/32".into()]),
      deny: Some(vec!["10.1.0.0/16".into(), "2001:db8::1".into()]),
      ..Default::default()
    });
    assert!(p
      .check_destination(ip("10.2.3.4"), Purpose::TcpConnect)
      .is_ok());
    assert!(p
      .check_destination(ip("::ffff:10.2.3.4"), Purpose::TcpConnect)
      .is_ok());
    assert!(p
      .check_destination(ip("10.1.3.4"), Purpose::TcpConnect)
      .is_err());
    assert!(p
      .check_destination(ip("::ffff:10.1.3.4"), Purpose::UdpSend)
      .is_err());
    assert!(p
      .check_destination(ip("11.0.0.1"), Purpose::TcpConnect)
      .is_err());
    assert!(p
      .check_destination(ip("2001:db8::2"), Purpose::TcpConnect)
      .is_ok());
    assert!(p
      .check_destination(ip("2001:db8::1"), Purpose::TcpConnect)
      .is_err());
  }

  #[test]
  fn literal_hosts_are_checked_before_resolution() {
    let p = policy(PolicyConfig {
      deny: Some(vec!["127.0.0.1".into()]),
      ..Default::default()
    });
    assert!(p.check_host("127.0.0.1", Purpose::TcpConnect).is_err());
    assert!(p.check_host("[::1]", Purpose::TcpConnect).is_ok());
    assert!(p.check_host("example.test", Purpose::TcpConnect).is_ok());
  }

  #[test]
  fn port_floors() {
    let p = policy(PolicyConfig {
      min_server_port: Some(32768),
      min_udp_bind_port: Some(1024),
      ..Default::default()
    });
    assert!(p.check_server_port(0).is_ok());
    assert!(p.check_server_port(32767).is_err());
    assert!(p.check_server_port(32768).is_ok());
    assert!(p.check_udp_bind(LOCAL, 0).is_ok());
    assert!(p.check_udp_bind(LOCAL, 1023).is_err());
    assert!(p.check_udp_bind(LOCAL, 1024).is_ok());
  }

  #[test]
  fn malformed_values_are_type_errors() {
    for c in [
      PolicyConfig {
        allow: Some(vec!["10.0.0.0/33".into()]),
        ..Default::default()
      },
      PolicyConfig {
        deny: Some(vec!["localhost".into()]),
        ..Default::default()
      },
      PolicyConfig {
        min_server_port: Some(70000),
        ..Default::default()
      },
      PolicyConfig {
        dns_servers: Some(vec!["127.0.0.1".into()]),
        ..Default::default()
      },
    ] {
      let e = Policy::from_config(c).unwrap_err();
      assert_eq!(e.name, crate::error::ErrorName::Type);
    }
  }

  #[test]
  fn multicast_and_constructor_switches() {
    let p = policy(PolicyConfig {
      direct_sockets: Some(false),
      multicast: Some(false),
      ..Default::default()
    });
    assert!(p.check_constructor().is_err());
    assert!(p.check_multicast().is_err());
    // The UDP open path asks both itself.
    assert!(p.check_udp_open(false).is_err());
    let p = policy(PolicyConfig {
      multicast: Some(false),
      ..Default::default()
    });
    assert!(p.check_udp_open(false).is_ok());
    assert!(p.check_udp_open(true).is_err());
    // Bound to a group's address: refused with multicast off, in any spelling.
    for group in ["239.1.2.3", "224.0.0.251", "::ffff:239.1.2.3", "ff02::fb"] {
      assert!(p.check_udp_bind(ip(group), 0).is_err(), "{group}");
      assert!(
        policy(PolicyConfig::default())
          .check_udp_bind(ip(group), 0)
          .is_ok(),
        "{group}"
      );
    }
    assert!(p.check_udp_bind(ip("0.0.0.0"), 0).is_ok());
  }

  #[test]
  fn an_ipv4_host_in_mapped_form_is_admitted_only_by_its_ipv4_address() {
    let any_v6 = policy(PolicyConfig {
      allow: Some(vec!["::/0".into()]),
      ..Default::default()
    });
    for dest in [
      "127.0.0.1",
      "::ffff:127.0.0.1",
      "::ffff:8.8.8.8",
      "::8.8.8.8",
    ] {
      assert!(
        any_v6
          .check_destination(ip(dest), Purpose::TcpConnect)
          .is_err(),
        "{dest}"
      );
    }
    assert!(any_v6
      .check_destination(ip("2001:db8::1"), Purpose::TcpConnect)
      .is_ok());
    for allow in ["127.0.0.0/8", "::ffff:127.0.0.0/104"] {
      let p = policy(PolicyConfig {
        allow: Some(vec![allow.into()]),
        ..Default::default()
      });
      for dest in ["127.0.0.1", "::ffff:127.0.0.1"] {
        assert!(
          p.check_destination(ip(dest), Purpose::UdpSend).is_ok(),
          "{allow} {dest}"
        );
      }
    }
  }
}
