//! The footer: each feed's state, the freshness of the data, and whether
//! the prices are simulated.

use leptos::prelude::*;

use crate::connection::Link;
use crate::format;
use crate::protocol::FeedState;
use crate::store::QuoteStore;

#[component]
pub fn StatusBar() -> impl IntoView {
    let link = expect_context::<Link>();
    let store = expect_context::<QuoteStore>();
    let feeds = move || {
        link.feeds
            .get()
            .into_iter()
            .map(|(name, state)| {
                let (class, label) = match state {
                    FeedState::Live => ("feed live", "live"),
                    FeedState::Stale => ("feed stale", "stale"),
                    FeedState::Reconnecting => ("feed reconnecting", "reconnecting"),
                };
                view! {
                    <span class=class data-feed=name.clone()>
                        <span class="dot" aria-hidden="true"></span>
                        {format!("{name}: {label}")}
                    </span>
                }
            })
            .collect_view()
    };
    let simulated = move || link.feeds.with(|f| f.iter().any(|(name, _)| name == "sim"));
    let updated = move || format::clock_time(store.updated_at.get(), link.tz_offset_min.get());
    view! {
        <footer class="statusbar">
            <div class="feeds" aria-label="Feeds">{feeds}</div>
            <span class="muted">"Updated " <time data-testid="updated">{updated}</time></span>
            <Show when=simulated>
                <span class="muted disclaimer">"Simulated prices, not market data"</span>
            </Show>
        </footer>
    }
}
