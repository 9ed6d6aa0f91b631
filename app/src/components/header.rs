//! The top bar: brand, market breadth, latency, connection badge, clock and
//! theme switch.

use leptos::prelude::*;

use super::alerts::AlertsButton;
use crate::connection::{Link, LinkState, Polling};
use crate::format::{self, Direction};
use crate::protocol::FeedState;
use crate::store::QuoteStore;
use crate::theme::ThemeToggle;

#[component]
pub fn Header() -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/" aria-label="tickertape home">
                <Logo />
                <span class="brand-name">"tickertape"</span>
            </a>
            <Breadth />
            <MarketStatus />
            <div class="topbar-right">
                <AlertsButton />
                <Latency />
                <FeedsDown />
                <ConnectionBadge />
                <Clock />
                <ThemeToggle />
            </div>
        </header>
    }
}

#[component]
fn Logo() -> impl IntoView {
    view! {
        <svg class="logo" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <rect x="1" y="1" width="22" height="22" rx="6" fill="currentColor" opacity="0.14" />
            <polyline
                points="4,15 8,11 11,13 15,7 20,10"
                fill="none"
                stroke="currentColor"
                stroke-width="2.2"
                stroke-linecap="round"
                stroke-linejoin="round"
            />
        </svg>
    }
}

/// How many symbols are up, down and unchanged on the day.
#[component]
fn Breadth() -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let counts = Memo::new(move |_| {
        store.rows.with(|rows| {
            rows.iter().fold((0, 0, 0), |(up, down, flat), r| {
                match format::direction(r.last.get() - r.prev_close.get()) {
                    Direction::Up => (up + 1, down, flat),
                    Direction::Down => (up, down + 1, flat),
                    Direction::Flat => (up, down, flat + 1),
                }
            })
        })
    });
    view! {
        <div class="breadth" aria-label="Market breadth">
            <span class="up" title="Advancing">"▲ " {move || counts.get().0}</span>
            <span class="down" title="Declining">"▼ " {move || counts.get().1}</span>
            <span class="flat" title="Unchanged">"■ " {move || counts.get().2}</span>
        </div>
    }
}

/// Live / Resyncing / Reconnecting in Ns / Offline, or Degraded while
/// quotes come from polling.
#[component]
fn ConnectionBadge() -> impl IntoView {
    let link = expect_context::<Link>();
    let degraded =
        move || link.state.get() != LinkState::Live && link.polling.get() != Polling::Off;
    let class = move || match link.state.get() {
        _ if degraded() => "badge degraded",
        LinkState::Live => "badge live",
        LinkState::Resyncing => "badge resyncing",
        LinkState::Connecting => "badge connecting",
        LinkState::Reconnecting { .. } => "badge reconnecting",
        LinkState::Offline => "badge offline",
    };
    let text = move || match link.state.get() {
        _ if degraded() => match link.poll_age_s() {
            Some(age) => format!("Degraded · {age}s old"),
            None => "Degraded · polling".to_string(),
        },
        LinkState::Live => "Live".to_string(),
        LinkState::Resyncing => "Resyncing…".to_string(),
        LinkState::Connecting => "Connecting…".to_string(),
        LinkState::Reconnecting { .. } => match link.countdown_s() {
            Some(s) if s > 0 => format!("Reconnecting in {s}s"),
            _ => "Reconnecting…".to_string(),
        },
        LinkState::Offline => "Offline".to_string(),
    };
    view! {
        <span class=class role="status" aria-live="polite" data-testid="connection">
            <span class="dot" aria-hidden="true"></span>
            <span class="badge-text">{text}</span>
        </span>
    }
}

/// While the page is live but a feed is not, says which: their prices may
/// be old (the footer says the same, out of sight on a small screen).
#[component]
fn FeedsDown() -> impl IntoView {
    let link = expect_context::<Link>();
    let down = move || {
        if link.state.get() != LinkState::Live {
            return Vec::new();
        }
        link.feeds.with(|feeds| {
            feeds
                .iter()
                .filter(|(_, state)| *state != FeedState::Live)
                .map(|(name, _)| name.clone())
                .collect::<Vec<_>>()
        })
    };
    move || {
        let names = down();
        (!names.is_empty()).then(|| {
            let text = match names.as_slice() {
                [one] => format!("{one} stale"),
                many => format!("{} feeds stale", many.len()),
            };
            let title = format!(
                "No fresh data from {}: its prices may be old",
                names.join(", ")
            );
            view! {
                <span class="badge feeds-down" role="status" title=title data-testid="feeds-down">
                    <span class="dot" aria-hidden="true"></span>
                    <span class="badge-text">{text}</span>
                </span>
            }
        })
    }
}

/// Round-trip time of the last ping.
#[component]
fn Latency() -> impl IntoView {
    let link = expect_context::<Link>();
    let text = move || match (link.state.get(), link.latency_ms.get()) {
        (LinkState::Live, Some(ms)) => format!("{ms:.0} ms"),
        _ => "— ms".to_string(),
    };
    view! {
        <span class="latency" title="Round trip to the server" data-testid="latency">
            <span class="label">"RTT "</span>
            {text}
        </span>
    }
}

/// Whether the US equities market is open, and until when (only where the
/// server quotes US equities; empty until the page hydrates, as the clock).
#[component]
fn MarketStatus() -> impl IntoView {
    let link = expect_context::<Link>();
    let store = expect_context::<QuoteStore>();
    move || {
        let now = link.now_ms.get();
        (store.us_market.get() && now > 0.0).then(|| {
            let text = format::market_status(now as i64 + store.market_offset.get());
            let open = text.starts_with("US market open");
            view! {
                <span class="market-status" class:open=open data-testid="market-status">
                    <span class="dot" aria-hidden="true"></span>
                    {text}
                </span>
            }
        })
    }
}

/// The viewer's local time (empty until the page hydrates).
#[component]
fn Clock() -> impl IntoView {
    let link = expect_context::<Link>();
    let text = move || {
        let now = link.now_ms.get();
        if now > 0.0 {
            format::clock_time(now as i64, link.tz_offset_min.get())
        } else {
            String::new()
        }
    };
    view! { <time class="clock">{text}</time> }
}
