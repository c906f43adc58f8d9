//! Reverse proxies the server trusts to name the client (`--trusted-proxy`, `--forwarded-header`): parsed
//! here with the rest of the configuration, used by `admission` to find a client's address.

use std::net::IpAddr;

/// The header a trusted proxy appends the client's address to. Only that one is read: a client can send
/// the other itself, and a proxy that writes one passes the other through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, ...` (nginx `$proxy_add_x_forwarded_for`, HAProxy, most LBs).
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    #[value(name = "forwarded")]
    Forwarded,
}

/// An address or CIDR network of a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    /// `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`; `None` if malformed.
    pub fn parse(text: &str) -> Option<ProxyNet> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(ProxyNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn proxy_networks_parse_and_match() {
        assert!(
            ProxyNet::parse("10.0.0.0/8")
                .unwrap()
                .contains(ip("10.200.1.1"))
        );
        assert!(
            !ProxyNet::parse("10.0.0.0/8")
                .unwrap()
                .contains(ip("11.0.0.1"))
        );
        assert!(
            ProxyNet::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(ProxyNet::parse("::ffff:0:0/96").is_some());
        assert!(
            ProxyNet::parse("127.0.0.1")
                .unwrap()
                .contains(ip("::ffff:127.0.0.1"))
        );
        assert!(ProxyNet::parse("10.0.0.0/33").is_none());
        assert!(ProxyNet::parse("example.org").is_none());
    }
}
