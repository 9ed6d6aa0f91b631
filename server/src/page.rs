//! The server-rendered page: `/`, its assets, and "not found" for any other
//! path. Every page is rendered whole, prices included, from the hub's
//! current [`Board`], with a Content-Security-Policy for its script nonce.

use std::sync::Arc;

use app::protocol::Interval;
use app::selection::PageUrl;
use app::store::SPARK_MINUTES;
use app::theme::{RequestedTheme, Theme};
use app::{Board, BoardSource, Sparkline, shell};
use axum::Router;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use leptos::config::LeptosOptions;
use leptos::nonce::use_nonce;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{
    ResponseOptions, file_and_error_handler_with_context, render_app_async_with_context,
};

use crate::guard;
use crate::hub::Hub;
use crate::market::SymbolId;
use crate::subscription::Subscription;

/// What the page is rendered from. Cheap to clone.
#[derive(Clone)]
pub struct Page {
    pub hub: Hub,
    /// The feed each symbol comes from, by symbol id.
    pub symbol_feeds: Arc<[String]>,
    pub leptos: LeptosOptions,
}

/// `/` and, for every other path, a static file or the "not found" page.
pub fn router<S: Clone + Send + Sync + 'static>(page: Page) -> Router<S> {
    // Context for every server-rendered page: its quotes and address, and
    // the CSP header carrying this response's script nonce.
    let context = {
        let page = page.clone();
        move || {
            let page = page.clone();
            provide_context(BoardSource::new(move || page.board()));
            provide_context(requested_theme());
            provide_context(page_url());
            set_content_security_policy();
        }
    };
    // Rendering runs on tokio (an error only says it was set already).
    let _ = any_spawner::Executor::init_tokio();
    let render = render_app_async_with_context(context.clone(), {
        let options = page.leptos.clone();
        move || shell(options.clone())
    });
    Router::new()
        .route("/", get(render))
        .fallback(file_and_error_handler_with_context::<LeptosOptions, _>(
            context, shell,
        ))
        .with_state(page.leptos)
}

impl Page {
    /// The quotes the page is first rendered with.
    pub fn board(&self) -> Board {
        let (seq, quotes) = self.hub.published().snapshot(&Subscription::all());
        let feeds = self.hub.feeds().all();
        let symbols = self.hub.symbols();
        Board {
            seq,
            symbols: symbols.to_vec(),
            quotes,
            symbol_feeds: symbols
                .iter()
                .zip(self.symbol_feeds.iter())
                .map(|(s, f)| (s.symbol.clone(), f.clone()))
                .collect(),
            feeds: feeds.into_iter().map(|f| (f.name, f.state)).collect(),
            sparklines: (0..symbols.len()).map(|id| self.sparkline(id)).collect(),
        }
    }

    fn sparkline(&self, id: SymbolId) -> Sparkline {
        let bars = self.hub.charts().candles(id, Interval::M1, SPARK_MINUTES);
        Sparkline {
            symbol: self.hub.symbols()[id].symbol.clone(),
            minute: bars.last().map_or(0, |b| b.t),
            closes: bars.iter().map(|b| b.c).collect(),
        }
    }
}

/// The request's path and query, for the page to render its selection.
fn page_url() -> PageUrl {
    use_context::<Parts>()
        .map(|parts| PageUrl {
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
        })
        .unwrap_or_default()
}

/// The theme the request's cookie chose, for the server-rendered `<html>`.
fn requested_theme() -> RequestedTheme {
    let cookies = use_context::<Parts>().and_then(|parts| {
        let header = parts.headers.get(header::COOKIE)?;
        header.to_str().ok().map(str::to_owned)
    });
    RequestedTheme(cookies.as_deref().and_then(Theme::from_cookie_header))
}

/// Sets the page's Content-Security-Policy for the nonce Leptos gives its
/// hydration script (outside a page render there is neither: nothing to do).
fn set_content_security_policy() {
    let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>()) else {
        return;
    };
    let host = use_context::<Parts>().and_then(|parts| {
        parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    let policy = guard::content_security_policy(&nonce.to_string(), host.as_deref());
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}
