//! Each feed's state and last error, as clients and `/readyz` see them.
//! Read through [`FeedBoard`]; written only through [`FeedReports`], which
//! the hub hands to its feeds' ports (folding hub) or to its mirror (edge).

use std::sync::Arc;

use app::protocol::FeedState;
use tokio::sync::watch;

use crate::market::{FeedId, FeedStatus};
use crate::metrics::SharedMetrics;

struct Shared {
    statuses: watch::Sender<Vec<FeedStatus>>,
    metrics: SharedMetrics,
}

/// The read side; changes of state wake watchers (errors alone do not).
#[derive(Clone)]
pub struct FeedBoard {
    shared: Arc<Shared>,
}

/// The write side.
#[derive(Clone)]
pub struct FeedReports {
    shared: Arc<Shared>,
}

/// Every named feed starts `reconnecting`.
pub(super) fn new(names: Vec<String>, metrics: SharedMetrics) -> (FeedBoard, FeedReports) {
    let statuses = names.into_iter().map(|name| FeedStatus {
        name,
        state: FeedState::Reconnecting,
        error: None,
    });
    let shared = Arc::new(Shared {
        statuses: watch::Sender::new(statuses.collect()),
        metrics,
    });
    let reports = FeedReports {
        shared: shared.clone(),
    };
    (FeedBoard { shared }, reports)
}

impl FeedBoard {
    /// Every feed's status.
    pub fn all(&self) -> Vec<FeedStatus> {
        self.shared.statuses.borrow().clone()
    }

    /// Feed states; changes wake the receiver.
    pub fn watch(&self) -> watch::Receiver<Vec<FeedStatus>> {
        self.shared.statuses.subscribe()
    }

    pub fn any_live(&self) -> bool {
        self.shared
            .statuses
            .borrow()
            .iter()
            .any(|f| f.state == FeedState::Live)
    }

    /// A feed's name (empty for an unknown id).
    pub fn name(&self, feed: FeedId) -> String {
        let statuses = self.shared.statuses.borrow();
        statuses
            .get(feed)
            .map(|f| f.name.clone())
            .unwrap_or_default()
    }
}

impl FeedReports {
    /// Sets a feed's state; live clears its error.
    pub fn set_state(&self, feed: FeedId, state: FeedState) {
        let metrics = &self.shared.metrics;
        self.shared
            .statuses
            .send_if_modified(|feeds| match feeds.get_mut(feed) {
                Some(f) if f.state != state => {
                    tracing::info!(feed = %f.name, ?state, "feed state");
                    metrics
                        .feed_state
                        .with_label_values(&[f.name.as_str()])
                        .set(gauge(state));
                    f.state = state;
                    if state == FeedState::Live {
                        f.error = None;
                    }
                    true
                }
                _ => false,
            });
    }

    /// Records why a feed failed (shown by `/readyz`; clients are not woken).
    pub fn set_error(&self, feed: FeedId, error: String) {
        self.shared.statuses.send_if_modified(|feeds| {
            if let Some(f) = feeds.get_mut(feed) {
                f.error = Some(error);
            }
            false
        });
    }

    /// Every feed stale, for one reason (an edge that lost its source).
    pub fn all_stale(&self, why: &str) {
        let feeds = self.shared.statuses.borrow().len();
        for id in 0..feeds {
            self.set_state(id, FeedState::Stale);
            self.set_error(id, why.to_owned());
        }
    }
}

/// The `tickertape_feed_state` gauge's value for a state.
fn gauge(state: FeedState) -> i64 {
    match state {
        FeedState::Live => 2,
        FeedState::Reconnecting => 1,
        FeedState::Stale => 0,
    }
}
