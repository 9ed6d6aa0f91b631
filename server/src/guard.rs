//! What every request passes through: the access token, security headers.
//!
//! With `--auth-token`, every route but `/healthz` needs the token, as
//! `Authorization: Bearer …`, `?token=…`, or the HttpOnly cookie
//! `tickertape_token`. Opening the page once with a valid `?token=` sets the
//! cookie (and redirects to the same URL without it, so the token does not
//! stay in the address bar or history). The WebSocket upgrade is checked
//! before it is accepted: a wrong token gets HTTP 401, never a socket.
//!
//! Every request's `Host` (or HTTP/2 `:authority`) must be a plain host: a
//! value with anything else is refused with 400 before it can reach a header
//! (the page's Content-Security-Policy names the host). With
//! `--allowed-host` or `--public-origin`, it must also be one of those hosts
//! (DNS rebinding: a hostile name resolved to this server gets 421).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::api::json_error;

pub const COOKIE: &str = "tickertape_token";

/// What the checks every request passes through go by, from the
/// configuration (and whether this node ended up speaking TLS).
#[derive(Clone)]
pub struct Policy {
    /// The access token every route but `/healthz` needs, if any.
    pub auth_token: Option<Token>,
    /// Whether the server speaks TLS (cookies are then `Secure`).
    pub tls: bool,
    /// Whether `X-Forwarded-Proto` is believed (`--trust-proxy`).
    pub trust_proxy: bool,
    /// The hosts requests may be addressed to; empty: any (see [`check_host`]).
    pub served_hosts: Arc<[String]>,
    /// Whether the page and `/ws` are served (not on a plain ingest node).
    pub serves_browsers: bool,
}

/// `router` behind every check, outermost first: security headers, the
/// `Host`, the token, and whether this node serves browsers.
pub fn guarded<S: Clone + Send + Sync + 'static>(router: Router<S>, policy: Policy) -> Router<S> {
    router
        .layer(middleware::from_fn_with_state(
            policy.clone(),
            browsers_only_where_served,
        ))
        .layer(middleware::from_fn_with_state(
            policy.clone(),
            require_token,
        ))
        .layer(middleware::from_fn_with_state(policy, check_host))
        .layer(middleware::from_fn(security_headers))
}

/// Where a request's token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Header,
    Query,
    Cookie,
}

/// The access token, compared in constant time.
#[derive(Clone)]
pub struct Token(Arc<[u8]>);

impl Token {
    pub fn new(secret: &str) -> Token {
        Token(secret.as_bytes().into())
    }

    /// Constant time in the presented token's content (its length may show).
    pub(crate) fn matches(&self, presented: &str) -> bool {
        self.0.as_ref().ct_eq(presented.as_bytes()).into()
    }
}

/// Middleware: a node that does not serve browsers (an ingest node without
/// `--serve-browsers`) answers only the API, the probes and the metrics.
pub async fn browsers_only_where_served(
    State(state): State<Policy>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let machine_route =
        path.starts_with("/api/") || matches!(path, "/healthz" | "/readyz" | "/metrics");
    if state.serves_browsers || machine_route {
        return next.run(request).await;
    }
    json_error(
        StatusCode::NOT_FOUND,
        "this is an ingest node: browsers connect to an edge node (or start it with --serve-browsers)",
    )
}

/// The longest `Host` value accepted (a DNS name is at most 253 characters).
const MAX_HOST_LEN: usize = 255;

/// Whether `host` is made of what a host and port may be written with:
/// ASCII letters, digits, `-`, `.`, `:` and the brackets of an IPv6 address,
/// at most 255 of them. Nothing else (spaces, `;`, quotes, `*`, `/`) can be
/// echoed into a header or a policy from it.
pub fn is_host_syntax(host: &str) -> bool {
    host.len() <= MAX_HOST_LEN
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']'))
}

/// The name part of `host[:port]` (brackets kept for IPv6) and the port, if any.
fn split_port(host: &str) -> (&str, Option<&str>) {
    let colon = match host.rfind(']') {
        Some(end) => host[end..].find(':').map(|i| end + i),
        None => host.rfind(':'),
    };
    match colon {
        Some(i) => (&host[..i], Some(&host[i + 1..])),
        None => (host, None),
    }
}

/// Whether a request addressed to `host` is served, given the allowed hosts
/// (`name` allows that name on any port, `name:port` that port only),
/// compared case-insensitively. No allowed hosts: every host is served.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let (name, port) = split_port(host);
    allowed.iter().any(|entry| match split_port(entry) {
        (entry_name, None) => entry_name.eq_ignore_ascii_case(name),
        (entry_name, entry_port) => entry_name.eq_ignore_ascii_case(name) && entry_port == port,
    })
}

/// Middleware: refuses a `Host` (or `:authority`) that is not a plain host
/// with 400, and one that is not served here (see [`host_allowed`]) with 421
/// Misdirected Request, except on `/healthz` (probes address nodes by IP).
pub async fn check_host(State(state): State<Policy>, request: Request, next: Next) -> Response {
    let header = match request.headers().get(header::HOST).map(HeaderValue::to_str) {
        Some(Ok(host)) => Some(host),
        Some(Err(_)) => return json_error(StatusCode::BAD_REQUEST, "bad Host header"),
        None => None,
    };
    let authority = request.uri().authority().map(|a| a.as_str());
    let hosts = [header, authority];
    let named = hosts.iter().flatten();
    if named.clone().any(|host| !is_host_syntax(host)) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad Host header: a host name or address and an optional port only",
        );
    }
    if request.uri().path() != "/healthz" && !state.served_hosts.is_empty() {
        let foreign = named
            .clone()
            .find(|h| !host_allowed(h, &state.served_hosts));
        let refused = match foreign {
            Some(host) => Some(format!("this server does not serve the host {host:?}")),
            None if header.is_none() && authority.is_none() => {
                Some("a request must name the host it is for (Host header)".to_string())
            }
            None => None,
        };
        if let Some(why) = refused {
            tracing::info!(%why, "refused a request for a host not served here");
            return json_error(StatusCode::MISDIRECTED_REQUEST, why);
        }
    }
    next.run(request).await
}

/// Whether a trusted proxy says the browser's connection is https: the
/// first (browser-facing) value of `X-Forwarded-Proto`.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The value of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Middleware: refuses requests without the token (when one is configured).
pub async fn require_token(State(state): State<Policy>, request: Request, next: Next) -> Response {
    let Some(token) = state.auth_token.clone() else {
        return next.run(request).await;
    };
    // Push feeds' and the control API's routes have tokens of their own
    // (`crate::push`, `crate::control`).
    let path = request.uri().path();
    if path == "/healthz" || path.starts_with("/api/feeds/") || path.starts_with("/api/control") {
        return next.run(request).await;
    }
    let presented = presented(request.headers(), request.uri().query());
    let source = match presented {
        Some((value, source)) if token.matches(&value) => source,
        _ => return unauthorized(request.uri().path()),
    };
    // The cookie is Secure when the browser's connection is https: TLS
    // here, or (with --trust-proxy) at the proxy in front.
    let secure = state.tls || (state.trust_proxy && forwarded_https(request.headers()));
    if source == Source::Query && request.method() == Method::GET && request.uri().path() == "/" {
        return redirect_with_cookie(&request, &value_of(&token), secure);
    }
    let mut response = next.run(request).await;
    if source == Source::Query {
        set_cookie(response.headers_mut(), &value_of(&token), secure);
    }
    response
}

fn value_of(token: &Token) -> String {
    String::from_utf8_lossy(&token.0).into_owned()
}

/// The token a request carries, and where.
fn presented(headers: &HeaderMap, query: Option<&str>) -> Option<(String, Source)> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| (t.trim().to_string(), Source::Header));
    let from_query = || query_param(query?, "token").map(|t| (t, Source::Query));
    let from_cookie = || cookie(headers, COOKIE).map(|t| (t, Source::Cookie));
    bearer.or_else(from_query).or_else(from_cookie)
}

/// One (percent-decoded) query parameter.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A cookie's value from the `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Sets the token cookie (`Secure` when the browser's connection is https).
fn set_cookie(headers: &mut HeaderMap, token: &str, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// 303 to the same page without `token`, setting the cookie.
fn redirect_with_cookie(request: &Request, token: &str, secure: bool) -> Response {
    let rest: Vec<&str> = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.starts_with("token=") && !p.is_empty())
        .collect();
    let location = if rest.is_empty() {
        "/".to_string()
    } else {
        format!("/?{}", rest.join("&"))
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    set_cookie(response.headers_mut(), token, secure);
    response
}

fn unauthorized(path: &str) -> Response {
    let mut response = if path == "/" {
        let page = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tickertape: access token required</title></head>\
                    <body><h1>Access token required</h1><p>Open this page with <code>?token=…</code> once; \
                    the browser then remembers it.</p></body></html>";
        (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response()
    } else {
        json_error(StatusCode::UNAUTHORIZED, "missing or wrong access token")
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tickertape\""),
    );
    response
}

/// Middleware: headers every response gets.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The Content-Security-Policy of the page: scripts only from this origin or
/// carrying this response's nonce (the hydration script), wasm allowed,
/// connections only back to the page's host, never framed. A host that is
/// not plain host syntax (see [`is_host_syntax`]) is left out.
pub fn content_security_policy(nonce: &str, host: Option<&str>) -> String {
    let sockets = host
        .filter(|h| !h.is_empty() && is_host_syntax(h))
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'{sockets}; frame-ancestors 'none'; base-uri 'none'; \
         object-src 'none'; form-action 'self'"
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header map from literal pairs (also used by the session's tests).
    pub(crate) fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn tokens_come_from_header_query_or_cookie() {
        let h = headers(&[(header::AUTHORIZATION, "Bearer abc")]);
        assert_eq!(
            presented(&h, Some("token=zzz")),
            Some(("abc".into(), Source::Header))
        );
        assert_eq!(
            presented(&HeaderMap::new(), Some("a=1&token=s%20t")),
            Some(("s t".into(), Source::Query))
        );
        let c = headers(&[(header::COOKIE, "theme=dark; tickertape_token=xyz")]);
        assert_eq!(presented(&c, None), Some(("xyz".into(), Source::Cookie)));
        assert_eq!(presented(&HeaderMap::new(), Some("tokens=1")), None);
    }

    #[test]
    fn comparison_needs_the_whole_token() {
        let token = Token::new("s3cret");
        assert!(token.matches("s3cret"));
        assert!(
            !token.matches("s3cre")
                && !token.matches("s3cret!")
                && !token.matches("")
                && !token.matches("S3CRET")
        );
    }

    #[test]
    fn percent_decoding_is_forgiving() {
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn hosts_are_plain_and_matched_with_their_port_when_given() {
        for good in ["127.0.0.1:3000", "Dash.Example.com", "[::1]:8443", "a-b.c"] {
            assert!(is_host_syntax(good), "{good}");
        }
        for bad in [
            "x; script-src *",
            "a b",
            "a/b",
            "a\"b",
            "é.example",
            &"a".repeat(256),
        ] {
            assert!(!is_host_syntax(bad), "{bad}");
        }
        let allowed = [
            "dash.example.com".to_string(),
            "10.0.0.5:3000".into(),
            "[::1]:8443".into(),
        ];
        assert!(host_allowed("DASH.example.com", &allowed));
        assert!(host_allowed("dash.example.com:443", &allowed));
        assert!(host_allowed("10.0.0.5:3000", &allowed));
        assert!(host_allowed("[::1]:8443", &allowed));
        assert!(!host_allowed("10.0.0.5:3001", &allowed));
        assert!(!host_allowed("10.0.0.5", &allowed));
        assert!(!host_allowed("[::1]", &allowed));
        assert!(!host_allowed("evil.example", &allowed));
        assert!(!host_allowed("127.0.0.1:3000", &allowed));
        assert!(host_allowed("anything", &[]));
    }

    #[test]
    fn only_a_forwarded_https_counts() {
        let https = headers(&[(
            header::HeaderName::from_static("x-forwarded-proto"),
            "HTTPS, http",
        )]);
        assert!(forwarded_https(&https));
        let http = headers(&[(header::HeaderName::from_static("x-forwarded-proto"), "http")]);
        assert!(!forwarded_https(&http) && !forwarded_https(&HeaderMap::new()));
    }

    #[test]
    fn the_policy_never_carries_a_host_that_is_not_one() {
        let csp = content_security_policy("N", Some("x; script-src *"));
        assert!(
            !csp.contains("script-src *") && csp.contains("connect-src 'self';"),
            "{csp}"
        );
    }

    #[test]
    fn the_policy_allows_the_app_and_nothing_else() {
        let csp = content_security_policy("N0NCE", Some("127.0.0.1:3000"));
        assert!(csp.contains("script-src 'self' 'nonce-N0NCE' 'wasm-unsafe-eval'"));
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:3000 wss://127.0.0.1:3000"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}
