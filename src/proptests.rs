//! Property tests (proptest) over the pure parts: address parsing, policy classification
//! and checks, option and membership validation, the error encoding. Every generated
//! input must either be accepted or refused with the right error kind, never panic.
//! `PROPTEST_CASES` sets the number of cases per property (proptest's default: 256).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use proptest::prelude::*;

use crate::error::{ErrorName, SocketError};
use crate::multicast::Membership;
use crate::policy::{canonical_v4, is_private, reached, Policy, PolicyConfig, Purpose};
use crate::resolve::{parse_ip_literal, QueryType};
use crate::sockets::port;

fn any_ip() -> impl Strategy<Value = IpAddr> {
  prop_oneof![
    any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
    any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    // Mapped and compatible forms, which must be judged by the IPv4 address inside.
    any::<u32>().prop_map(|v| IpAddr::V6(Ipv4Addr::from(v).to_ipv6_mapped())),
    any::<u32>().prop_map(|v| IpAddr::V6(Ipv4Addr::from(v).to_ipv6_compatible())),
    // NAT64 and 6to4 forms, judged by the IPv4 address inside too.
    any::<u32>().prop_map(|v| IpAddr::V6(Ipv6Addr::from((0x64_ff9b_u128 << 96) | v as u128))),
    (any::<u32>(), any::<u64>()).prop_map(|(v, low)| {
      IpAddr::V6(Ipv6Addr::from(
        (0x2002_u128 << 112) | ((v as u128) << 80) | low as u128,
      ))
    }),
    Just(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    Just(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
  ]
}

/// Text that looks like an address often, and like anything else sometimes.
fn address_text() -> impl Strategy<Value = String> {
  prop_oneof![
    any_ip().prop_map(|ip| ip.to_string()),
    any_ip().prop_map(|ip| format!("[{ip}]")),
    "[0-9a-fA-F:.\\[\\]%/ ]{0,48}",
    ".{0,64}",
  ]
}

/// The private ranges of DESIGN.md, written out independently of `policy.rs`.
fn private_model(ip: IpAddr) -> bool {
  const V4: [&str; 7] = [
    "0.0.0.0/8",
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
  ];
  const V6: [&str; 6] = [
    "::1/128",
    "::/128",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "64:ff9b:1::/48",
  ];
  let in_any = |ip: IpAddr, list: &[&str]| {
    list
      .iter()
      .any(|n| n.parse::<IpNet>().unwrap().contains(&ip))
  };
  let v4 = match ip {
    IpAddr::V4(v4) => Some(v4),
    IpAddr::V6(v6) => v6.to_ipv4_mapped().or_else(|| {
      let s = v6.segments();
      (s[..6].iter().all(|&x| x == 0) && (s[6] != 0 || s[7] > 1)).then(|| {
        let o = v6.octets();
        Ipv4Addr::new(o[12], o[13], o[14], o[15])
      })
    }),
  };
  match v4 {
    Some(v4) => in_any(IpAddr::V4(v4), &V4),
    None => in_any(ip, &V6),
  }
}

fn config(f: impl FnOnce(&mut PolicyConfig)) -> PolicyConfig {
  let mut c = PolicyConfig::default();
  f(&mut c);
  c
}

proptest! {
  #[test]
  fn literal_parsing_never_panics_and_round_trips(text in address_text(), ip in any_ip()) {
    let _ = parse_ip_literal(&text);
    prop_assert_eq!(parse_ip_literal(&ip.to_string()), Some(ip));
    // Brackets belong to IPv6 literals only, as in a URL's host.
    let bracketed = parse_ip_literal(&format!("[{ip}]"));
    prop_assert_eq!(bracketed, if ip.is_ipv6() { Some(ip) } else { None });
    // Surrounding junk is never an address.
    prop_assert_eq!(parse_ip_literal(&format!(" {ip}")), None);
  }

  #[test]
  fn private_classification_matches_the_ranges(ip in any_ip()) {
    prop_assert_eq!(is_private(ip), private_model(ip), "{}", ip);
  }

  #[test]
  fn mapped_and_compatible_forms_are_judged_by_their_ipv4_address(v in any::<u32>()) {
    let v4 = Ipv4Addr::from(v);
    let mapped = IpAddr::V6(v4.to_ipv6_mapped());
    prop_assert_eq!(canonical_v4(mapped), Some(v4));
    prop_assert_eq!(is_private(mapped), is_private(IpAddr::V4(v4)));
    let compatible = IpAddr::V6(v4.to_ipv6_compatible());
    if v > 1 {
      prop_assert_eq!(canonical_v4(compatible), Some(v4));
      prop_assert_eq!(is_private(compatible), is_private(IpAddr::V4(v4)));
    }
  }

  #[test]
  fn deny_always_wins_and_allow_admits_only_its_ranges(ip in any_ip(), prefix in 0u8..=32, other in any_ip()) {
    // A range around `ip` (in its IPv4 form when it has one).
    let base = canonical_v4(ip).map_or(ip, IpAddr::V4);
    let len = if base.is_ipv4() { prefix } else { prefix * 4 };
    let net = IpNet::new(base, len).unwrap().trunc();
    let denied = Policy::from_config(config(|c| {
      c.allow = Some(vec!["0.0.0.0/0".into(), "::/0".into()]);
      c.deny = Some(vec![net.to_string()]);
    })).unwrap();
    let e = denied.check_destination(ip, Purpose::TcpConnect).unwrap_err();
    prop_assert_eq!(e.name, ErrorName::NotAllowed);
    let allowed = Policy::from_config(config(|c| c.allow = Some(vec![net.to_string()]))).unwrap();
    prop_assert!(allowed.check_destination(ip, Purpose::UdpSend).is_ok());
    let verdict = allowed.check_destination(other, Purpose::TcpConnect);
    // Admitted by an address it reaches; an IPv4-mapped or -compatible spelling counts
    // as its IPv4 address only.
    let spelled_v4 = other.is_ipv6() && canonical_v4(other).is_some();
    let inside = reached(other).iter().any(|f| !(spelled_v4 && *f == other) && net.contains(f));
    prop_assert_eq!(verdict.is_ok(), inside, "{} in {}", other, net);
  }

  #[test]
  fn private_access_off_refuses_exactly_the_private_space(ip in any_ip()) {
    let p = Policy::from_config(config(|c| c.private_network_access = Some(false))).unwrap();
    let r = p.check_destination(ip, Purpose::TcpConnect);
    prop_assert_eq!(r.is_err(), reached(ip).iter().any(|&f| is_private(f)));
    if let Err(e) = r {
      prop_assert_eq!(e.name, ErrorName::NotAllowed);
    }
  }

  #[test]
  fn policy_values_are_accepted_or_refused_with_type_errors(
    allow in proptest::collection::vec(address_text(), 0..4),
    deny in proptest::collection::vec(".{0,24}", 0..4),
    servers in proptest::collection::vec(".{0,24}", 0..3),
    min_server in any::<u32>(),
    min_udp in any::<u32>(),
    timeout in any::<u32>(),
  ) {
    let c = PolicyConfig {
      allow: Some(allow.clone()),
      deny: Some(deny.clone()),
      dns_servers: Some(servers.clone()),
      min_server_port: Some(min_server),
      min_udp_bind_port: Some(min_udp),
      dns_timeout: Some(timeout),
      ..Default::default()
    };
    let valid_net = |s: &String| s.parse::<IpNet>().is_ok() || s.parse::<IpAddr>().is_ok();
    let expect_ok = allow.iter().all(valid_net)
      && deny.iter().all(valid_net)
      && servers.iter().all(|s| s.parse::<std::net::SocketAddr>().is_ok())
      && min_server <= 65535
      && min_udp <= 65535;
    match Policy::from_config(c) {
      Ok(p) => {
        prop_assert!(expect_ok);
        prop_assert_eq!(u32::from(p.min_server_port), min_server);
        prop_assert_eq!(p.check_server_port(0).is_ok(), true);
      }
      Err(e) => {
        prop_assert!(!expect_ok);
        prop_assert_eq!(e.name, ErrorName::Type);
      }
    }
  }

  #[test]
  fn ports_are_checked(value in any::<u32>(), floor in any::<u16>(), asked in any::<u16>()) {
    prop_assert_eq!(port(value).is_ok(), value <= 65535);
    let p = Policy::from_config(config(|c| {
      c.min_server_port = Some(floor.into());
      c.min_udp_bind_port = Some(floor.into());
    })).unwrap();
    let expect = asked == 0 || asked >= floor;
    prop_assert_eq!(p.check_server_port(asked).is_ok(), expect);
    prop_assert_eq!(p.check_udp_bind(IpAddr::from([127, 0, 0, 1]), asked).is_ok(), expect);
  }

  #[test]
  fn query_type_accepts_only_the_enum(text in prop_oneof![Just("ipv4".to_string()), Just("ipv6".to_string()), ".{0,8}"]) {
    let r = QueryType::parse(Some(&text));
    prop_assert_eq!(r.is_ok(), text == "ipv4" || text == "ipv6");
    if let Err(e) = r {
      prop_assert_eq!(e.name, ErrorName::Type);
    }
  }

  #[test]
  fn memberships_are_accepted_only_as_spec_3_3_says(group in address_text(), source in proptest::option::of(address_text())) {
    match Membership::parse(&group, source.as_deref()) {
      Ok(m) => {
        prop_assert!(m.group.is_multicast());
        if let Some(s) = m.source {
          prop_assert!(!s.is_multicast() && !s.is_unspecified() && !s.is_loopback());
          prop_assert_eq!(s.is_ipv4(), m.group.is_ipv4());
        }
      }
      Err(e) => prop_assert_eq!(e.name, ErrorName::Type),
    }
  }

  #[test]
  fn encoded_errors_keep_their_fields_whatever_the_detail(detail in ".{0,64}", errno in any::<i32>()) {
    let e = SocketError::io("connect", &std::io::Error::from_raw_os_error(errno), detail.clone());
    let encoded = e.encode();
    // lib/errors.js splits off four fields and joins the rest: the detail survives even
    // when it holds the separator itself.
    let mut fields = encoded.splitn(5, '\u{1f}');
    prop_assert_eq!(fields.next(), Some("NetworkError"));
    let _code = fields.next();
    prop_assert_eq!(fields.next().map(str::to_string), Some(errno.to_string()));
    prop_assert_eq!(fields.next(), Some("connect"));
    prop_assert_eq!(fields.next(), Some(detail.as_str()));
  }
}
