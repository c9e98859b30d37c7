//! Which web pages may open a WebSocket to this server.
//!
//! Browsers do not apply CORS to WebSocket: any page on any site can open a
//! socket to any server, and the browser sends that page's cookies along. The
//! browser does send an `Origin` header saying which site the page came from,
//! and the server must check it. This module is that check, and the CORS
//! headers that socket.io's long-polling requests get from it.

use super::{Request, Response};

/// The allow-list. Built with [`ServerBuilder::allow_origin`](crate::ServerBuilder::allow_origin),
/// [`ServerBuilder::allow_any_origin`](crate::ServerBuilder::allow_any_origin) and
/// [`ServerBuilder::allow_credentials`](crate::ServerBuilder::allow_credentials).
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// Origins given with `allow_origin`, lower-cased, without a trailing `/`.
    pub allowed: Vec<String>,
    /// `allow_any_origin()` was called: every page may connect.
    pub any: bool,
    /// `allow_credentials()` was called: long-polling answers to allowed
    /// origins say `Access-Control-Allow-Credentials: true`, so that pages
    /// there may send cookies and read the answers. Off by default (as in
    /// Node socket.io's `cors` option): with `allow_any_origin()` it would
    /// let every site read what this server tells a logged-in user.
    pub credentials: bool,
}

/// Why an origin was let in, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin` header: not a browser (curl, a native app, a test).
    NoOrigin,
    /// The page came from this very server.
    SameOrigin,
    /// The origin is on the allow-list (or any origin is allowed).
    Listed,
}

impl OriginPolicy {
    /// Normalises an origin for comparison: lower case, no trailing slash.
    pub fn normalise(origin: &str) -> String {
        origin.trim().trim_end_matches('/').to_ascii_lowercase()
    }

    /// Decides whether a request with this `Origin` (if any) and this `Host`
    /// may open a WebSocket. `Err` carries the refused origin.
    // ANCHOR: check
    pub fn check(&self, origin: Option<&str>, host: Option<&str>) -> Result<Verdict, String> {
        let Some(origin) = origin else {
            return Ok(Verdict::NoOrigin);
        };
        let origin = Self::normalise(origin);
        if self.any || self.allowed.contains(&origin) {
            return Ok(Verdict::Listed);
        }
        if let Some(host) = host {
            if same_origin(&origin, host) {
                return Ok(Verdict::SameOrigin);
            }
        }
        Err(origin)
    }
    // ANCHOR_END: check

    /// The `403` for a refused origin, saying how to allow it.
    pub fn refusal(origin: &str) -> Response {
        Response::refusal(
            403,
            format!("origin {origin} is not allowed; allow it with ServerBuilder::allow_origin(\"{origin}\")"),
        )
    }

    /// The CORS headers of a long-polling answer: none without an `Origin`
    /// (Node, curl), `Access-Control-Allow-Origin` for an allowed one (and
    /// `Access-Control-Allow-Credentials` after `allow_credentials()`), or
    /// the `403` for an origin that is not allowed.
    pub fn cors_headers(&self, req: &Request) -> Result<Vec<(&'static str, String)>, Response> {
        let Some(origin) = req.header("Origin") else { return Ok(Vec::new()) };
        match self.check(Some(origin), req.header("Host")) {
            Ok(_) => {
                let mut headers = vec![("Access-Control-Allow-Origin", origin.to_string()), ("Vary", "Origin".into())];
                if self.credentials {
                    headers.push(("Access-Control-Allow-Credentials", "true".into()));
                }
                Ok(headers)
            }
            Err(origin) => Err(Self::refusal(&origin)),
        }
    }
}

/// True when `origin` (`scheme://host[:port]`) names the same host and port as
/// the request's `Host` header. The scheme's default port is filled in on
/// both sides, so `http://example.com` matches `Host: example.com:80`.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // "null" (a file:// page or a sandboxed frame) is never same-origin
    };
    let default_port = match scheme {
        "http" | "ws" => "80",
        "https" | "wss" => "443",
        _ => return false,
    };
    with_port(authority, default_port) == with_port(&host.trim().to_ascii_lowercase(), default_port)
}

/// `host` → `host:port`, leaving an explicit port alone (IPv6 `[::1]` aware).
fn with_port(authority: &str, default_port: &str) -> String {
    let has_port = match authority.rfind(':') {
        Some(colon) => !authority[colon..].contains(']'),
        None => false,
    };
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(list: &[&str]) -> OriginPolicy {
        OriginPolicy { allowed: list.iter().map(|o| OriginPolicy::normalise(o)).collect(), ..OriginPolicy::default() }
    }

    #[test]
    fn no_origin_is_allowed() {
        assert_eq!(policy(&[]).check(None, Some("a:1")), Ok(Verdict::NoOrigin));
    }

    #[test]
    fn same_origin_is_allowed_with_default_ports() {
        let p = policy(&[]);
        assert_eq!(p.check(Some("http://127.0.0.1:3000"), Some("127.0.0.1:3000")), Ok(Verdict::SameOrigin));
        assert_eq!(p.check(Some("http://Example.com"), Some("example.com:80")), Ok(Verdict::SameOrigin));
        assert_eq!(p.check(Some("https://example.com"), Some("example.com")), Ok(Verdict::SameOrigin));
        assert_eq!(p.check(Some("http://[::1]:3000"), Some("[::1]:3000")), Ok(Verdict::SameOrigin));
    }

    #[test]
    fn other_port_or_host_is_refused() {
        let p = policy(&[]);
        assert!(p.check(Some("http://127.0.0.1:3001"), Some("127.0.0.1:3000")).is_err());
        assert!(p.check(Some("https://example.com"), Some("example.com:80")).is_err());
        assert!(p.check(Some("null"), Some("example.com")).is_err());
        assert!(p.check(Some("http://evil.example"), None).is_err());
    }

    #[test]
    fn listed_and_any() {
        let p = policy(&["http://127.0.0.1:5500/"]);
        assert_eq!(p.check(Some("http://127.0.0.1:5500"), Some("x:1")), Ok(Verdict::Listed));
        let any = OriginPolicy { any: true, ..OriginPolicy::default() };
        assert_eq!(any.check(Some("http://evil.example"), Some("x:1")), Ok(Verdict::Listed));
    }

    #[test]
    fn cors_credentials_only_when_chosen() {
        let (req, _) =
            crate::http::parse_head(b"GET / HTTP/1.1\r\nOrigin: http://a.example\r\n\r\n", 8).unwrap().unwrap();
        let names = |p: &OriginPolicy| p.cors_headers(&req).unwrap().into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        let any = OriginPolicy { any: true, ..OriginPolicy::default() };
        assert!(!names(&any).contains(&"Access-Control-Allow-Credentials"));
        let with = OriginPolicy { credentials: true, ..any };
        assert!(names(&with).contains(&"Access-Control-Allow-Credentials"));
        assert_eq!(policy(&[]).cors_headers(&req).unwrap_err().status, 403);
    }
}
