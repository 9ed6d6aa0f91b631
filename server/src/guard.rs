//! What every request passes through: the access token, security headers.
//!
//! With `--auth-token`, every route but `/healthz` needs the token, as
//! `Authorization: Bearer …`, `?token=…`, or the HttpOnly cookie
//! `tickertape_token`. Opening the page once with a valid `?token=` sets the
//! cookie (and redirects to the same URL without it, so the token does not
//! stay in the address bar or history). The WebSocket upgrade is checked
//! before it is accepted: a wrong token gets HTTP 401, never a socket.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::api::json_error;

pub const COOKIE: &str = "tickertape_token";

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
    fn matches(&self, presented: &str) -> bool {
        self.0.as_ref().ct_eq(presented.as_bytes()).into()
    }
}

/// Middleware: a node that does not serve browsers (an ingest node without
/// `--serve-browsers`) answers only the API, the probes and the metrics.
pub async fn browsers_only_where_served(
    State(state): State<AppState>,
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

/// Middleware: refuses requests without the token (when one is configured).
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.auth_token.clone() else {
        return next.run(request).await;
    };
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let presented = presented(request.headers(), request.uri().query());
    let source = match presented {
        Some((value, source)) if token.matches(&value) => source,
        _ => return unauthorized(request.uri().path()),
    };
    if source == Source::Query && request.method() == Method::GET && request.uri().path() == "/" {
        return redirect_with_cookie(&request, &value_of(&token), state.tls);
    }
    let mut response = next.run(request).await;
    if source == Source::Query {
        set_cookie(response.headers_mut(), &value_of(&token), state.tls);
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

fn set_cookie(headers: &mut HeaderMap, token: &str, tls: bool) {
    let secure = if tls { "; Secure" } else { "" };
    let value = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// 303 to the same page without `token`, setting the cookie.
fn redirect_with_cookie(request: &Request, token: &str, tls: bool) -> Response {
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
    set_cookie(response.headers_mut(), token, tls);
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
/// connections only back to the page's host, never framed.
pub fn content_security_policy(nonce: &str, host: Option<&str>) -> String {
    let sockets = host
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
    fn the_policy_allows_the_app_and_nothing_else() {
        let csp = content_security_policy("N0NCE", Some("127.0.0.1:3000"));
        assert!(csp.contains("script-src 'self' 'nonce-N0NCE' 'wasm-unsafe-eval'"));
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:3000 wss://127.0.0.1:3000"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}
