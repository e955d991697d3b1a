//! Validate IP Address (IP-1..4, LIM-5): which source addresses may log a
//! device in or out when the service parameter is on.
//!
//! A request passes when its source is in the Trusted List of IPs (exact
//! addresses, or host names resolved when the list is set; no ranges or
//! patterns, IP-2), or is the address the device registered from, or is in
//! the device cache *for that device*: the (device, address) pairs of the
//! last `cache_size` registrations (LIM-5). Seed A checks the source
//! "against the cache for the device that will log in or log out", so an
//! address that registered one phone never vouches for another. Through a proxy it passes only with Allow Proxy (IP-3). IPv4
//! and IPv6 are compared as addresses, so `::1` and `127.0.0.1` differ and
//! an IPv4-mapped IPv6 source counts as its IPv4 address (IP-4).

use crate::directory::DeviceIdx;
use emlab_protocol::ErrorCode;
use emlab_protocol::lab::ServiceParameters;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

/// Where a login or logout came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    pub ip: IpAddr,
    /// The request came through a web proxy (`Via`, or `isViaHeaderSet`).
    pub via_proxy: bool,
}

impl Source {
    pub fn new(ip: IpAddr, via_proxy: bool) -> Self {
        Source {
            ip: canonical(ip),
            via_proxy,
        }
    }
}

/// `::ffff:127.0.0.1` is `127.0.0.1`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

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

/// Registered devices' addresses and the bounded device cache.
#[derive(Default)]
pub struct AddressBook {
    registered: HashMap<DeviceIdx, IpAddr>,
    cache: VecDeque<(DeviceIdx, IpAddr)>,
    cached: HashMap<(DeviceIdx, IpAddr), usize>,
}

impl AddressBook {
    /// A device registered from `ip`; the cache keeps the last `cache_size`.
    pub fn registered(&mut self, device: DeviceIdx, ip: IpAddr, cache_size: usize) {
        let ip = canonical(ip);
        self.registered.insert(device, ip);
        self.cache.push_back((device, ip));
        *self.cached.entry((device, ip)).or_insert(0) += 1;
        while self.cache.len() > cache_size {
            if let Some(old) = self.cache.pop_front()
                && let Some(n) = self.cached.get_mut(&old)
            {
                *n -= 1;
                if *n == 0 {
                    self.cached.remove(&old);
                }
            }
        }
    }

    /// The address `device` registered from, if it did.
    pub fn address_of(&self, device: DeviceIdx) -> Option<IpAddr> {
        self.registered.get(&device).copied()
    }

    /// IP-1/IP-3: may `source` log `device` in or out?
    pub fn check(
        &self,
        parameters: &ServiceParameters,
        trusted: &HashSet<IpAddr>,
        device: Option<DeviceIdx>,
        source: Source,
    ) -> Result<(), ErrorCode> {
        if !parameters.validate_ip_address {
            return Ok(());
        }
        if source.via_proxy && !parameters.allow_proxy {
            return Err(ErrorCode::ProxyNotAllowed);
        }
        let own = device.and_then(|d| self.registered.get(&d)) == Some(&source.ip);
        let cached = device.is_some_and(|d| self.cached.contains_key(&(d, source.ip)));
        if trusted.contains(&source.ip) || own || cached {
            Ok(())
        } else {
            Err(ErrorCode::UntrustedIp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lim_5_the_device_cache_keeps_the_last_cache_size_addresses() {
        let mut book = AddressBook::default();
        let on = ServiceParameters {
            validate_ip_address: true,
            ..Default::default()
        };
        let none = HashSet::new();
        let from = |a: &str| Source::new(ip(a), false);
        book.registered(0, ip("127.0.0.10"), 2);
        // Device 0 moves: its old address stays good while it is cached.
        book.registered(0, ip("127.0.0.20"), 2);
        assert!(book.check(&on, &none, Some(0), from("127.0.0.10")).is_ok());
        book.registered(1, ip("127.0.0.11"), 2);
        assert_eq!(
            book.check(&on, &none, Some(0), from("127.0.0.10")),
            Err(ErrorCode::UntrustedIp),
            "fell out of a cache of 2"
        );
        // Its current address is its own whatever the cache holds.
        assert!(book.check(&on, &none, Some(0), from("127.0.0.20")).is_ok());
        // Off: no check at all (LIM-5 "effective only when Validate IP Address is True").
        assert!(
            book.check(
                &ServiceParameters::default(),
                &none,
                None,
                Source::new(ip("10.9.9.9"), true)
            )
            .is_ok()
        );
    }

    /// IP-1: the cache vouches for an address only for the device that
    /// registered from it; an unauthenticated Register of one phone gives
    /// no right over the others.
    #[test]
    fn ip_1_a_cached_address_validates_only_its_own_device() {
        let mut book = AddressBook::default();
        let on = ServiceParameters {
            validate_ip_address: true,
            ..Default::default()
        };
        let none = HashSet::new();
        book.registered(0, ip("127.0.0.10"), 100);
        let attacker = Source::new(ip("127.0.0.10"), false);
        assert!(book.check(&on, &none, Some(0), attacker).is_ok());
        assert_eq!(
            book.check(&on, &none, Some(7), attacker),
            Err(ErrorCode::UntrustedIp)
        );
        assert_eq!(
            book.check(&on, &none, None, attacker),
            Err(ErrorCode::UntrustedIp)
        );
    }

    #[tokio::test]
    async fn ip_2_trusted_list_takes_addresses_and_host_names_not_patterns() {
        let t = resolve_trusted("127.0.0.3; ::1 ;localhost;10.0.0.0/8;10.0.0.*").await;
        assert!(t.contains(&ip("127.0.0.3")) && t.contains(&ip("::1")));
        assert!(t.contains(&ip("127.0.0.1")), "localhost resolves");
        assert!(!t.contains(&ip("10.0.0.1")), "no ranges or patterns");
        assert_eq!(
            Source::new(ip("::ffff:127.0.0.3"), false).ip,
            ip("127.0.0.3")
        );
    }
}
