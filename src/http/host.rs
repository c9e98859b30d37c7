//! Which host names this server answers for: the `Host` header, checked
//! against an allow-list, before anything else is decided.
//!
//! Why: DNS rebinding. A page on `evil.example` can make its own name
//! resolve to your server's address (`127.0.0.1`, a LAN address), and then
//! its requests go to your server while the browser still sees them as
//! same-origin with `evil.example`: they carry `Origin: http://evil.example`
//! and `Host: evil.example`, so the same-origin check of
//! [`origin`](super::origin) lets them in, and the page may read the answers.
//! Only the `Host` header shows the name the browser was asked to reach;
//! when the names the server is reached by are listed, every other name is
//! refused. The list is empty by default: every host name is answered.

use super::{Request, Response};

/// The allow-list. Built with [`ServerBuilder::allow_host`](crate::ServerBuilder::allow_host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// Host names (no port), normalised with [`HostPolicy::normalise`].
    /// Empty: every host name is allowed.
    pub allowed: Vec<String>,
}

impl HostPolicy {
    /// A host name for comparison: lower case, without a port, without the
    /// brackets of an IPv6 address, without a trailing dot (`Example.COM.`
    /// and `example.com` are the same name).
    pub fn normalise(host: &str) -> String {
        let host = host.trim();
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
        };
        name.trim_end_matches('.').to_ascii_lowercase()
    }

    /// Checks the `Host` of a request. Every request with two `Host` headers
    /// is refused (400, RFC 9112 §3.2: which one would the check and the
    /// rest of the server look at?). When names are listed, a request
    /// without `Host` or naming another host is refused with
    /// `421 Misdirected Request` and the reason.
    // ANCHOR: check
    pub fn check(&self, req: &Request) -> Result<(), Response> {
        let mut hosts = req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("Host"));
        let host = hosts.next().map(|(_, v)| v.as_str());
        if hosts.next().is_some() {
            return Err(Response::refusal(400, "more than one Host header"));
        }
        if self.allowed.is_empty() {
            return Ok(());
        }
        let Some(host) = host else {
            return Err(Response::refusal(
                421,
                "no Host header: this server only answers the names given with allow_host",
            ));
        };
        let name = Self::normalise(host);
        if self.allowed.contains(&name) {
            return Ok(());
        }
        Err(Response::refusal(
            421,
            format!("host {name} is not served here; allow it with ServerBuilder::allow_host(\"{name}\")"),
        ))
    }
    // ANCHOR_END: check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn check(policy: &HostPolicy, headers: &str) -> Result<(), u16> {
        let raw = format!("GET / HTTP/1.1\r\n{headers}\r\n");
        let (req, _) = parse_head(raw.as_bytes(), 16).unwrap().unwrap();
        policy.check(&req).map_err(|r| r.status)
    }

    #[test]
    fn names_are_compared_without_port_case_or_trailing_dot() {
        assert_eq!(HostPolicy::normalise("Example.COM.:8080"), "example.com");
        assert_eq!(HostPolicy::normalise("[::1]:3000"), "::1");
        assert_eq!(HostPolicy::normalise("[::1]"), "::1");
        assert_eq!(HostPolicy::normalise("localhost"), "localhost");
    }

    #[test]
    fn an_empty_list_allows_every_host_but_not_two() {
        let any = HostPolicy::default();
        assert_eq!(check(&any, "Host: evil.example\r\n"), Ok(()));
        assert_eq!(check(&any, ""), Ok(()));
        assert_eq!(check(&any, "Host: a\r\nhost: b\r\n"), Err(400));
    }

    #[test]
    fn a_list_refuses_other_names_with_421() {
        let list = HostPolicy { allowed: vec!["localhost".into(), "::1".into()] };
        assert_eq!(check(&list, "Host: localhost:3000\r\n"), Ok(()));
        assert_eq!(check(&list, "Host: [::1]:3000\r\n"), Ok(()));
        assert_eq!(check(&list, "Host: evil.example:3000\r\n"), Err(421));
        assert_eq!(check(&list, "Host: localhost.evil.example\r\n"), Err(421));
        assert_eq!(check(&list, ""), Err(421));
    }
}
