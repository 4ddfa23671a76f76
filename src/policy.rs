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

fn parse_nets(key: &str, values: &[String]) -> Result<Vec<IpNet>, SocketError> {
  values
    .iter()
    .map(|v| {
      v.parse::<IpNet>()
        .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
          SocketError::type_error(format!(
            "policy.{key}: '{v}' is not an IP address or CIDR range."
          ))
        })
    })
    .collect()
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
          .map(|s| {
            s.parse::<SocketAddr>().map_err(|_| {
              SocketError::type_error(format!(
                "policy.dns.servers: '{s}' is not an \"ip:port\" address."
              ))
            })
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
  pub fn check_destination(&self, ip: IpAddr, _purpose: Purpose) -> Result<(), SocketError> {
    if !self.private_network_access && is_private(ip) {
      return Err(SocketError::not_allowed(format!(
        "{ip} is in the private or local address space (privateNetworkAccess: false)."
      )));
    }
    let forms = match canonical_v4(ip) {
      Some(v4) => [ip, IpAddr::V4(v4)],
      None => [ip, ip],
    };
    if forms
      .iter()
      .any(|f| self.deny.iter().any(|n| n.contains(f)))
    {
      return Err(SocketError::not_allowed(format!(
        "{ip} is denied by policy.deny."
      )));
    }
    if let Some(allow) = &self.allow {
      if !forms.iter().any(|f| allow.iter().any(|n| n.contains(f))) {
        return Err(SocketError::not_allowed(format!(
          "{ip} is not in policy.allow."
        )));
      }
    }
    Ok(())
  }

  /// Bound UDP sockets: the spec refuses them all without `direct-sockets-private`.
  pub fn check_udp_bind(&self, port: u16) -> Result<(), SocketError> {
    if !self.private_network_access {
      return Err(SocketError::not_allowed(
        "Bound UDP sockets need private network access (privateNetworkAccess: false).",
      ));
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
  let first = ip.segments()[0];
  ip.is_loopback()
    || ip.is_unspecified()
    || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
    || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
}

/// Is `ip` in the private or local address space, judged by what it really reaches?
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
      "fec0::",
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
  fn default_policy_allows_everything() {
    let p = Policy::default();
    assert!(p.check_constructor().is_ok());
    assert!(p
      .check_destination(ip("127.0.0.1"), Purpose::TcpConnect)
      .is_ok());
    assert!(p.check_udp_bind(53).is_ok());
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
    assert!(p.check_udp_bind(40000).is_err());
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
    assert!(p.check_udp_bind(0).is_ok());
    assert!(p.check_udp_bind(1023).is_err());
    assert!(p.check_udp_bind(1024).is_ok());
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
  }
}
