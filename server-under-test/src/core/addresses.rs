//! Validate IP Address (IP-1..4, LIM-5): which source addresses may log a
//! device in or out when the service parameter is on.
//!
//! A request passes when its source is in the Trusted List of IPs (exact
//! addresses, or host names the io layer resolved when the list was set,
//! [`crate::io::dns`]; no ranges or
//! patterns, IP-2), or is the address the device registered from, or is in
//! the device cache *for that device*: the (device, address) pairs of the
//! last `cache_size` registrations (LIM-5). Seed A checks the source
//! "against the cache for the device that will log in or log out", so an
//! address that registered one phone never vouches for another. Through a proxy it passes only with Allow Proxy (IP-3). IPv4
//! and IPv6 are compared as addresses, so `::1` and `127.0.0.1` differ and
//! an IPv4-mapped IPv6 source counts as its IPv4 address (IP-4).

use crate::core::directory::DeviceIdx;
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
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
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
}
