//! XRootD trace identifiers (tidents), shared by the XRootD and EOS parsers.
//!
//! Grammar (`XrdLinkXeq::setID`): `USER "." PID ":" FD "@" HOST`, e.g.
//! `cms0042.5821:31@wn042.example.org` or `atlprd.3190:44@[2001:db8:42::77]`. HOST is the
//! reverse-DNS name or the address, IPv6 in brackets (`[::ffff:192.0.2.42]`, `[::192.0.2.42]`).
//! USER is client-asserted and never verified, so it is not an identity.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::event::Event;

/// A parsed tident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tident<'a> {
    /// The whole tident as printed.
    pub text: &'a str,
    pub user: &'a str,
    pub pid: &'a str,
    pub fd: &'a str,
    pub host: &'a str,
}

/// Parses `user.pid:fd@host`; `None` when the text is not a tident.
pub fn parse(text: &str) -> Option<Tident<'_>> {
    let (left, host) = text.split_once('@')?;
    let (user_pid, fd) = left.rsplit_once(':')?;
    let (user, pid) = user_pid.rsplit_once('.')?;
    let valid_host = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        });
    if pid.is_empty() || fd.is_empty() || !fd.bytes().all(|b| b.is_ascii_digit()) || !valid_host {
        return None;
    }
    Some(Tident {
        text,
        user,
        pid,
        fd,
        host,
    })
}

/// The address a host text stands for: brackets removed, IPv4-mapped (`::ffff:a.b.c.d`) and
/// IPv4-compatible (`::a.b.c.d`, XRootD's own form) IPv6 addresses given as IPv4 so that they
/// join with logs that print the plain IPv4 address.
pub fn address(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    let address: IpAddr = bare.parse().ok()?;
    Some(match address {
        IpAddr::V6(v6) => match embedded_ipv4(&v6, bare) {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    })
}

fn embedded_ipv4(v6: &Ipv6Addr, text: &str) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = v6.segments();
    // `::192.0.2.42` (deprecated IPv4-compatible form) — only when printed with dots, so that
    // a genuine IPv6 address such as `::1` stays IPv6.
    if text.contains('.') && segments[..6].iter().all(|s| *s == 0) {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

/// Fills `client_ip` (when the host is an address) or `client_host` (when it is a name).
pub fn fill_client(event: &mut Event, host: &str) {
    if host.is_empty() {
        return;
    }
    match address(host) {
        Some(ip) => event.client_ip = ip.to_string(),
        None => event.client_host = host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tident_with_name_host() {
        let tident = parse("cms0042.5821:31@wn042.example.org").unwrap();
        assert_eq!(tident.user, "cms0042");
        assert_eq!(tident.pid, "5821");
        assert_eq!(tident.fd, "31");
        assert_eq!(tident.host, "wn042.example.org");
    }

    #[test]
    fn parses_tident_with_ipv6_host_and_dotted_user() {
        let tident = parse("unknown.1034:58@[2001:db8::5]").unwrap();
        assert_eq!(tident.user, "unknown");
        assert_eq!(tident.host, "[2001:db8::5]");
        assert_eq!(address(tident.host).unwrap().to_string(), "2001:db8::5");
    }

    #[test]
    fn mapped_and_compatible_ipv4_become_plain_ipv4() {
        assert_eq!(
            address("[::ffff:192.0.2.42]").unwrap().to_string(),
            "192.0.2.42"
        );
        assert_eq!(address("[::192.0.2.42]").unwrap().to_string(), "192.0.2.42");
        assert_eq!(address("[::1]").unwrap().to_string(), "::1");
        assert!(address("wn042.example.org").is_none());
    }

    #[test]
    fn rejects_non_tidents() {
        for text in [
            "",
            "@",
            "a@b",
            "a.b@c",
            "a.1:x@h",
            "a.1:2@",
            "user@host",
            "a.1:2@h st",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
