//! Host name resolution with hickory-resolver.
//!
//! IP literals never reach DNS. Names are resolved once; the caller checks every address
//! against the policy and connects to the checked address itself, so there is no second
//! lookup for a rebinding attacker to answer differently.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use hickory_resolver::config::{
  LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, TokioResolver};

use crate::error::SocketError;

/// `SocketDnsQueryType`: which records to ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueryType {
  /// A and AAAA.
  #[default]
  Any,
  Ipv4,
  Ipv6,
}

impl QueryType {
  /// Parses the WebIDL enum value (already validated in JS; checked again here).
  pub fn parse(value: Option<&str>) -> Result<Self, SocketError> {
    match value {
      None => Ok(QueryType::Any),
      Some("ipv4") => Ok(QueryType::Ipv4),
      Some("ipv6") => Ok(QueryType::Ipv6),
      Some(other) => Err(SocketError::type_error(format!(
        "The provided value '{other}' is not a valid enum value of type SocketDnsQueryType."
      ))),
    }
  }

  fn strategy(self) -> LookupIpStrategy {
    match self {
      QueryType::Any => LookupIpStrategy::Ipv4AndIpv6,
      QueryType::Ipv4 => LookupIpStrategy::Ipv4Only,
      QueryType::Ipv6 => LookupIpStrategy::Ipv6Only,
    }
  }
}

/// Which name servers to ask: the system's, or exactly the listed ones.
#[derive(Clone, Debug, Default)]
pub struct DnsConfig {
  pub servers: Option<Vec<SocketAddr>>,
  pub timeout: Option<Duration>,
}

/// A resolver per query type, built on first use.
#[derive(Debug, Default)]
pub struct Resolver {
  config: DnsConfig,
  built: [OnceLock<Result<TokioResolver, String>>; 3],
}

impl Resolver {
  pub fn new(config: DnsConfig) -> Self {
    Resolver {
      config,
      built: Default::default(),
    }
  }

  fn build(&self, query: QueryType) -> Result<TokioResolver, String> {
    let provider = TokioConnectionProvider::default();
    let mut builder = match &self.config.servers {
      Some(servers) => {
        let mut config = ResolverConfig::new();
        for addr in servers {
          // UDP first; hickory retries over TCP when an answer comes back truncated.
          config.add_name_server(NameServerConfig::new(*addr, Protocol::Udp));
          config.add_name_server(NameServerConfig::new(*addr, Protocol::Tcp));
        }
        let mut b = TokioResolver::builder_with_config(config, provider);
        // Only the listed servers decide, not the hosts file.
        b.options_mut().use_hosts_file = ResolveHosts::Never;
        b
      }
      None => match TokioResolver::builder(provider.clone()) {
        Ok(b) => b,
        // No usable system configuration: keep the hosts file and the special names.
        Err(_) => TokioResolver::builder_with_config(ResolverConfig::new(), provider),
      },
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.ip_strategy = query.strategy();
    if let Some(timeout) = self.config.timeout {
      opts.timeout = timeout;
      opts.attempts = 1;
    }
    Ok(builder.build())
  }

  fn get(&self, query: QueryType) -> Result<&TokioResolver, SocketError> {
    let slot = match query {
      QueryType::Any => &self.built[0],
      QueryType::Ipv4 => &self.built[1],
      QueryType::Ipv6 => &self.built[2],
    };
    slot
      .get_or_init(|| self.build(query))
      .as_ref()
      .map_err(|e| SocketError::network_code("EAI_FAIL", "getaddrinfo", e.clone()))
  }

  /// Resolves `host` to candidate addresses, in the order they should be tried.
  /// IP literals are returned as they are.
  pub async fn resolve(&self, host: &str, query: QueryType) -> Result<Vec<IpAddr>, SocketError> {
    if let Some(ip) = parse_ip_literal(host) {
      return Ok(vec![ip]);
    }
    if !could_be_host_name(host) {
      // Not a name DNS could answer for (empty, too long, a bad label or character, a zone
      // ID on a non-literal): no such host, without asking, as getaddrinfo says.
      return Err(SocketError::network_code("ENOTFOUND", "getaddrinfo", host));
    }
    let resolver = self.get(query)?;
    let lookup = async {
      resolver
        .lookup_ip(host)
        .await
        .map_err(|e| map_resolve_error(&e, host))
    };
    let ips: Vec<IpAddr> = match self.config.timeout {
      // Bound the whole lookup, not just each query.
      Some(t) => tokio::time::timeout(t, lookup)
        .await
        .map_err(|_| SocketError::network_code("ETIMEOUT", "queryA", host))??
        .iter()
        .collect(),
      None => lookup.await?.iter().collect(),
    };
    if ips.is_empty() {
      return Err(SocketError::network_code("ENOTFOUND", "getaddrinfo", host));
    }
    Ok(order_candidates(ips))
  }
}

/// A name DNS could hold: labels of ASCII letters, digits, `-` and `_` (and non-ASCII
/// characters, left to the resolver's IDNA), none empty; an ASCII label at most 63
/// characters and an ASCII name at most 253 (one trailing dot aside). A name or label with
/// non-ASCII characters is measured by the resolver after IDNA, where it is shorter.
fn could_be_host_name(host: &str) -> bool {
  let name = host.strip_suffix('.').unwrap_or(host);
  !name.is_empty()
    && (!name.is_ascii() || name.len() <= 253)
    && name.split('.').all(|label| {
      !label.is_empty()
        && (!label.is_ascii() || label.len() <= 63)
        && label
          .chars()
          .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii())
    })
}

/// IPv4 before IPv6, each family in the order the resolver gave, no duplicates.
fn order_candidates(ips: Vec<IpAddr>) -> Vec<IpAddr> {
  let mut out: Vec<IpAddr> = Vec::with_capacity(ips.len());
  for ip in ips
    .iter()
    .filter(|ip| ip.is_ipv4())
    .chain(ips.iter().filter(|ip| ip.is_ipv6()))
  {
    if !out.contains(ip) {
      out.push(*ip);
    }
  }
  out
}

fn map_resolve_error(e: &ResolveError, host: &str) -> SocketError {
  if e.is_nx_domain() || e.is_no_records_found() {
    return SocketError::network_code("ENOTFOUND", "getaddrinfo", host);
  }
  if let Some(proto) = e.proto() {
    if matches!(proto.kind(), ProtoErrorKind::Timeout) {
      return SocketError::network_code("ETIMEOUT", "getaddrinfo", host);
    }
  }
  SocketError::network_code("EAI_AGAIN", "getaddrinfo", format!("{host} ({e})"))
}

/// An IPv4 or IPv6 address literal, IPv6 optionally in brackets (as in a URL's host;
/// `[127.0.0.1]` is not an address).
pub fn parse_ip_literal(text: &str) -> Option<IpAddr> {
  match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
    Some(inner) => inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
    None => text.parse().ok(),
  }
}

/// The process-wide resolver with the system's configuration.
pub fn system() -> &'static Resolver {
  static SYSTEM: OnceLock<Resolver> = OnceLock::new();
  SYSTEM.get_or_init(|| Resolver::new(DnsConfig::default()))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn names_dns_could_hold() {
    let long_idn = "б".repeat(34) + ".рф"; // 68 bytes of UTF-8, 49 characters after IDNA
    for ok in [
      &long_idn,
      "localhost",
      "a.test",
      "a.test.",
      "x_y-z.example",
      "bücher.example",
      &"a".repeat(63),
    ] {
      assert!(could_be_host_name(ok), "{ok}");
    }
    let long = ["a"; 127].join(".") + ".ab";
    let too_long_label = "a".repeat(64);
    for bad in [
      "",
      ".",
      "a..b",
      " 127.0.0.1",
      "fe80::1%lo",
      "a b",
      "a/b",
      &long,
      &too_long_label,
    ] {
      assert!(!could_be_host_name(bad), "{bad}");
    }
  }

  #[test]
  fn literals_parse_with_and_without_brackets() {
    assert_eq!(
      parse_ip_literal("127.0.0.1"),
      Some("127.0.0.1".parse().unwrap())
    );
    assert_eq!(parse_ip_literal("[::1]"), Some("::1".parse().unwrap()));
    assert_eq!(parse_ip_literal("::1"), Some("::1".parse().unwrap()));
    assert_eq!(parse_ip_literal("localhost"), None);
    assert_eq!(parse_ip_literal("1.2.3"), None);
    assert_eq!(parse_ip_literal("[127.0.0.1]"), None);
  }

  #[test]
  fn candidates_put_ipv4_first_without_duplicates() {
    let ips: Vec<IpAddr> = vec![
      "::1".parse().unwrap(),
      "127.0.0.1".parse().unwrap(),
      "::1".parse().unwrap(),
    ];
    let ordered = order_candidates(ips);
    assert_eq!(
      ordered,
      vec![
        "127.0.0.1".parse::<IpAddr>().unwrap(),
        "::1".parse().unwrap()
      ]
    );
  }

  #[test]
  fn query_type_parses_the_enum() {
    assert_eq!(QueryType::parse(None).unwrap(), QueryType::Any);
    assert_eq!(QueryType::parse(Some("ipv6")).unwrap(), QueryType::Ipv6);
    assert!(QueryType::parse(Some("IPv4")).is_err());
  }
}
