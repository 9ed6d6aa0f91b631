//! The page title: the selected symbol's price and day change.

use leptos::prelude::*;

use crate::connection::Link;
use crate::format;
use crate::protocol::pct_change;
use crate::selection::Selection;
use crate::store::QuoteStore;

/// The title, refreshed with the page clock (twice a second; once a
/// second in a hidden tab) rather than on every trade: each new title is
/// work for the browser's own process, and a tab strip cannot show ten
/// prices a second anyway.
#[component]
pub fn PriceTitle() -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let selection = expect_context::<Selection>();
    let link = expect_context::<Link>();
    let text = Memo::new(move |_| {
        link.now_ms.track();
        let Some(row) = selection.symbol.get().and_then(|s| store.row(&s)) else {
            return "tickertape — live market dashboard".to_string();
        };
        let (last, prev_close) = (row.last.get_untracked(), row.prev_close.get_untracked());
        format!(
            "{} {} {} · tickertape",
            row.symbol,
            format::price(last),
            format::change_pct(pct_change(last, prev_close))
        )
    });
    view! { <leptos_meta::Title text=move || text.get() /> }
}
