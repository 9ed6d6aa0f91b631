//! The page's live connection and what the page shows about it.
//!
//! [`Link`] is the reactive state the page renders (on the server too, as
//! "connecting"). [`core`] decides everything about the connection: it
//! subscribes to what the page watches (every symbol, an open watchlist, or
//! a hidden tab's charted symbol), checks `seq` contiguity (a gap or a diff
//! before any snapshot sends `resync`, sent again with backoff until a
//! snapshot answers), reconnects with backoff and jitter whenever the
//! socket closes or goes silent, and polls `/api/quotes` while the socket
//! keeps failing. In the browser, [`start`] runs it: one WebSocket whose
//! events go to the core and whose actions reach the
//! [`QuoteStore`](crate::store::QuoteStore), the link and the chart.

#[cfg(feature = "hydrate")]
mod browser;
pub mod core;
mod held;

use leptos::prelude::*;

pub use self::core::{LinkState, Polling};
use crate::protocol::FeedState;
#[cfg(feature = "hydrate")]
pub use browser::start;

/// Reactive connection state, provided as context by the dashboard.
#[derive(Clone, Copy)]
pub struct Link {
    pub state: RwSignal<LinkState>,
    /// Round trip of the last `ping`, in milliseconds.
    pub latency_ms: RwSignal<Option<f64>>,
    /// Each feed's name and state, as `status` messages report them.
    pub feeds: RwSignal<Vec<(String, FeedState)>>,
    /// The browser clock, ticking twice a second (drives countdowns).
    pub now_ms: RwSignal<f64>,
    /// Minutes to add to UTC for the viewer's time zone; 0 on the server,
    /// set once the page hydrates.
    pub tz_offset_min: RwSignal<i32>,
    /// Whether quotes come from polling `/api/quotes` (the WebSocket keeps
    /// failing), and since when.
    pub polling: RwSignal<Polling>,
    /// The symbols the page wants quotes for; `None`: every symbol.
    pub watching: RwSignal<Option<Vec<String>>>,
}

impl Default for Link {
    fn default() -> Self {
        Link::new()
    }
}

impl Link {
    pub fn new() -> Link {
        Link {
            state: RwSignal::new(LinkState::Connecting),
            latency_ms: RwSignal::new(None),
            feeds: RwSignal::new(Vec::new()),
            now_ms: RwSignal::new(0.0),
            tz_offset_min: RwSignal::new(0),
            polling: RwSignal::new(Polling::Off),
            watching: RwSignal::new(None),
        }
    }

    /// Whole seconds since the last poll answered, while polling.
    pub fn poll_age_s(&self) -> Option<u32> {
        match self.polling.get() {
            Polling::Answered { at_ms } => {
                Some(((self.now_ms.get() - at_ms) / 1000.0).max(0.0).floor() as u32)
            }
            Polling::Off | Polling::Started => None,
        }
    }

    /// Whole seconds until the next reconnect attempt, if one is scheduled.
    pub fn countdown_s(&self) -> Option<u32> {
        match self.state.get() {
            LinkState::Reconnecting { at_ms } => {
                Some(((at_ms - self.now_ms.get()) / 1000.0).ceil().max(0.0) as u32)
            }
            _ => None,
        }
    }

    /// Records a feed's state, as a `status` message reports it.
    pub fn set_feed(&self, name: String, state: FeedState) {
        self.feeds
            .update(|feeds| match feeds.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = state,
                None => feeds.push((name, state)),
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_countdown_rounds_up_to_whole_seconds() {
        Owner::new().with(|| {
            let link = Link::new();
            assert_eq!(link.countdown_s(), None);
            link.now_ms.set(1_000.0);
            link.state.set(LinkState::Reconnecting { at_ms: 3_200.0 });
            assert_eq!(link.countdown_s(), Some(3));
        });
    }

    #[test]
    fn the_poll_age_counts_whole_seconds_once_a_poll_answered() {
        Owner::new().with(|| {
            let link = Link::new();
            link.now_ms.set(10_900.0);
            assert_eq!(link.poll_age_s(), None);
            link.polling.set(Polling::Started);
            assert_eq!(link.poll_age_s(), None);
            link.polling.set(Polling::Answered { at_ms: 8_000.0 });
            assert_eq!(link.poll_age_s(), Some(2));
        });
    }

    #[test]
    fn feed_states_update_in_place_and_new_feeds_are_added() {
        Owner::new().with(|| {
            let link = Link::new();
            link.set_feed("sim".into(), FeedState::Live);
            link.set_feed("coinbase".into(), FeedState::Reconnecting);
            link.set_feed("sim".into(), FeedState::Stale);
            assert_eq!(
                link.feeds.get_untracked(),
                [
                    ("sim".to_string(), FeedState::Stale),
                    ("coinbase".to_string(), FeedState::Reconnecting)
                ]
            );
        });
    }
}
