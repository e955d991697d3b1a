//! Host names of the Trusted List of IPs (IP-2), resolved without blocking
//! a request's task.

use crate::core::addresses::canonical;
use std::collections::HashSet;
use std::net::IpAddr;

/// How long one host name of the Trusted List may take to resolve.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The addresses of the Trusted List of IPs: `a;b;host`.
///
/// Host names resolve on tokio's blocking pool (`lookup_host`), never on a
/// request's task, and a name that takes longer than five seconds counts
/// as resolving to nothing: a slow DNS server must not stall the listener.
pub async fn resolve_trusted(list: &str) -> HashSet<IpAddr> {
    let mut out = HashSet::new();
    for entry in list.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.parse::<IpAddr>() {
            Ok(ip) => {
                out.insert(canonical(ip));
            }
            // A host name: what it resolves to now. A range or pattern
            // (`10.0.0.0/8`, `10.0.0.*`) resolves to nothing, as on CUCM.
            Err(_) => {
                if let Ok(Ok(addrs)) =
                    tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((entry, 0))).await
                {
                    out.extend(addrs.map(|a| canonical(a.ip())));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn ip_2_trusted_list_takes_addresses_and_host_names_not_patterns() {
        let t = resolve_trusted("127.0.0.3; ::1 ;localhost;10.0.0.0/8;10.0.0.*").await;
        assert!(t.contains(&ip("127.0.0.3")) && t.contains(&ip("::1")));
        assert!(t.contains(&ip("127.0.0.1")), "localhost resolves");
        assert!(!t.contains(&ip("10.0.0.1")), "no ranges or patterns");
        assert_eq!(
            crate::core::addresses::Source::new(ip("::ffff:127.0.0.3"), false).ip,
            ip("127.0.0.3")
        );
    }
}
