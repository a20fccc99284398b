//! The thresholds of the report and the anomaly rules, with the WLCG profile's defaults.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A network in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`); a bare address is a /32 or
/// /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `address` lies in this network (an IPv4 address never lies in an IPv6 network).
    pub fn contains(&self, address: &IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(*address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(*address) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not a network in CIDR notation"))?;
        let most = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= most)
                .ok_or_else(|| format!("{text:?} has a prefix length outside 0..={most}"))?,
            None => most,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Configuration of the report and the anomaly rules. Every field has a default, so a TOML or
/// JSON file only names what it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportConfig {
    /// The site's own networks. Empty: the "used from outside the site" rule is off.
    pub site_networks: Vec<Cidr>,
    /// Expired tokens accepted this long after `exp` are not flagged (WLCG profile: 60 s).
    pub grace_seconds: i64,
    /// Longest access-token lifetime the profile allows (6 h).
    pub max_access_lifetime_seconds: i64,
    /// A `jti` used from more than this many addresses (not counting the worker nodes its own
    /// jobs ran on) is an anomaly.
    pub max_addresses_per_jti: usize,
    /// A user identity with jobs on more than this many worker nodes at once is an anomaly.
    /// Client-credentials identities (pilots, services: `sub` = `client_id`) are exempt.
    pub max_concurrent_worker_nodes: usize,
    /// Issuance gaps shorter than this are never reported as outages.
    pub outage_min_gap_seconds: i64,
    /// A gap is an outage candidate when it is this many times the issuer's mean interval.
    pub outage_gap_factor: f64,
    /// At most this many rows in each list of the report (the counts stay exact).
    pub max_listed: usize,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            site_networks: Vec::new(),
            grace_seconds: 60,
            max_access_lifetime_seconds: 6 * 3600,
            max_addresses_per_jti: 3,
            max_concurrent_worker_nodes: 20,
            outage_min_gap_seconds: 1800,
            outage_gap_factor: 20.0,
            max_listed: 1000,
        }
    }
}

impl ReportConfig {
    /// Whether `address` is outside the configured site networks (false when none are
    /// configured or the address is not an IP address).
    pub fn is_outside(&self, address: &str) -> bool {
        if self.site_networks.is_empty() {
            return false;
        }
        match address.parse::<IpAddr>() {
            Ok(ip) => !self.site_networks.iter().any(|net| net.contains(&ip)),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains_v4_and_v6() {
        let net: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(net.contains(&"192.0.2.77".parse().unwrap()));
        assert!(!net.contains(&"192.0.3.1".parse().unwrap()));
        assert!(!net.contains(&"2001:db8::1".parse().unwrap()));
        let net6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(net6.contains(&"2001:db8:1::107".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(&"203.0.113.66".parse().unwrap()));
        let host: Cidr = "203.0.113.66".parse().unwrap();
        assert_eq!(host.to_string(), "203.0.113.66/32");
        assert!("192.0.2.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn outside_needs_configured_networks() {
        let mut config = ReportConfig::default();
        assert!(!config.is_outside("203.0.113.66"));
        config.site_networks = vec!["198.51.100.0/24".parse().unwrap()];
        assert!(config.is_outside("203.0.113.66"));
        assert!(!config.is_outside("198.51.100.7"));
        assert!(!config.is_outside("wn01.example.org"));
    }
}
