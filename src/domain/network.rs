//! The source network of an address (its IPv4 /24 or IPv6 /64): what
//! failures are counted and logins locked by, so one host's many addresses
//! count as one, and a site behind one NAT as one.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

pub fn source_network(ip: IpAddr) -> IpNet {
    match ip.to_canonical() {
        IpAddr::V4(v4) => Ipv4Net::new(v4, 24).expect("24 is a valid prefix").trunc().into(),
        IpAddr::V6(v6) => Ipv6Net::new(v6, 64).expect("64 is a valid prefix").trunc().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_by_family() {
        let net = |ip: &str| source_network(ip.parse().unwrap()).to_string();
        assert_eq!(net("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(net("::ffff:192.0.2.77"), "192.0.2.0/24", "IPv4-mapped counts as IPv4");
        assert_eq!(net("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    }
}
