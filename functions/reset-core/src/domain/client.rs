//! Who is asking, for the per-client limits: an address reduced to what one client controls.

use std::net::IpAddr;

/// Where the client's address comes from: API Gateway's `sourceIp`, or, behind CloudFront, the
/// `CloudFront-Viewer-Address` header (API Gateway would see CloudFront's edge address, shared by
/// everyone behind that edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientIpSource {
    #[default]
    SourceIp,
    CloudFrontViewerAddress,
}

impl ClientIpSource {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "source-ip" => Some(Self::SourceIp),
            "cloudfront-viewer-address" => Some(Self::CloudFrontViewerAddress),
            _ => None,
        }
    }
}

/// The key a client's requests are counted under: an IPv4 address, or the /64 an IPv6
/// address belongs to (one subscriber gets a whole /64, so counting /128s counts nothing).
/// An IPv6 client also belongs to its /48, counted with a second, larger budget: a subscriber
/// may hold a whole /48, whose 65,536 /64s would otherwise each get the per-client budget.
/// Requests without a usable address share one key: they are limited together, never skipped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    key: String,
    network: Option<String>,
}

impl ClientKey {
    pub fn from_address(address: &str) -> Option<Self> {
        let v4 = |v4: std::net::Ipv4Addr| Self {
            key: v4.to_string(),
            network: None,
        };
        match address.trim().parse::<IpAddr>().ok()? {
            IpAddr::V4(address) => Some(v4(address)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(address) => Some(v4(address)),
                None => {
                    let s = v6.segments();
                    Some(Self {
                        key: format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]),
                        network: Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])),
                    })
                }
            },
        }
    }

    /// `CloudFront-Viewer-Address`: the address, a colon, the port (`198.51.100.7:46532`,
    /// `2001:db8::1:46532`).
    pub fn from_viewer_address(value: &str) -> Option<Self> {
        let (address, port) = value.trim().rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        Self::from_address(address.trim_start_matches('[').trim_end_matches(']'))
    }

    /// The one key of every request that comes without a usable address.
    pub fn unknown() -> Self {
        Self {
            key: "unknown".to_owned(),
            network: None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The /48 of an IPv6 client; `None` for IPv4 and unknown clients.
    pub fn network(&self) -> Option<&str> {
        self.network.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(address: &str) -> Option<String> {
        ClientKey::from_address(address).map(|k| k.key)
    }

    #[test]
    fn ipv6_is_counted_per_64() {
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), Some("2001:db8:1:2::/64".into()));
        assert_eq!(key("2001:db8:1:2:ffff::1"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:198.51.100.7"), Some("198.51.100.7".into()));
        assert_eq!(key("198.51.100.7"), Some("198.51.100.7".into()));
        assert_eq!(key("not an address"), None);
    }

    #[test]
    fn ipv6_clients_also_belong_to_their_48() {
        let network = |a: &str| ClientKey::from_address(a).and_then(|k| k.network().map(str::to_owned));
        assert_eq!(network("2001:db8:1:2::1"), Some("2001:db8:1::/48".into()));
        assert_eq!(network("2001:db8:1:ffff::9"), network("2001:db8:1:2::1"));
        assert_ne!(network("2001:db8:1::1"), network("2001:db8:2::1"));
        assert_eq!(network("198.51.100.7"), None);
        assert_eq!(network("::ffff:198.51.100.7"), None);
        assert_eq!(ClientKey::unknown().network(), None);
    }

    #[test]
    fn the_viewer_address_header_loses_its_port() {
        let viewer = |v: &str| ClientKey::from_viewer_address(v).map(|k| k.key);
        assert_eq!(viewer("198.51.100.7:46532"), Some("198.51.100.7".into()));
        assert_eq!(viewer("2001:db8:1:2::7:46532"), Some("2001:db8:1:2::/64".into()));
        assert_eq!(viewer("198.51.100.7"), None);
        assert_eq!(viewer(""), None);
    }

    #[test]
    fn sources_are_named_as_in_the_template() {
        assert_eq!(ClientIpSource::parse("source-ip"), Some(ClientIpSource::SourceIp));
        assert_eq!(
            ClientIpSource::parse("cloudfront-viewer-address"),
            Some(ClientIpSource::CloudFrontViewerAddress)
        );
        assert_eq!(ClientIpSource::parse("x-forwarded-for"), None);
    }
}
