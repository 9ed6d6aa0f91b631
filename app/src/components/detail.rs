//! The side panel: the selected symbol's quote at a glance.

use leptos::either::Either;
use leptos::prelude::*;

use super::alerts::{AlertBell, AlertForm};
use super::quote_table::SessionBadge;
use crate::alerts::Alerts;
use crate::connection::Link;
use crate::format;
use crate::protocol::MarketSession;
use crate::selection::Selection;
use crate::store::{QuoteStore, Row};

#[component]
pub fn Detail() -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let selection = expect_context::<Selection>();
    let row = move || selection.symbol.get().and_then(|s| store.row(&s));
    view! {
        <aside class="panel detail" aria-label="Selected symbol" data-testid="detail">
            {move || match row() {
                Some(row) => Either::Left(view! { <DetailBody row /> }),
                None => Either::Right(view! { <p class="notice">"Select a symbol"</p> }),
            }}
        </aside>
    }
}

#[component]
fn DetailBody(row: Row) -> impl IntoView {
    let link = expect_context::<Link>();
    let alerts = expect_context::<Alerts>();
    let (change, pct) = row.day_change();
    let (price, extended) = (row.price(), row.extended());
    let Row {
        symbol,
        name,
        last,
        bid,
        ask,
        open,
        high,
        low,
        prev_close,
        volume,
        ts,
        session,
        ..
    } = row;
    let move_class = move || format!("detail-move {}", format::direction(change()).class());
    let spread = move || format::change(ask.get() - bid.get(), ask.get()).replace('+', "");
    // Where the last price sits in the day's range, for the range bar.
    let range_pos = move || {
        let (lo, hi) = (low.get(), high.get());
        let pos = if hi > lo {
            (last.get() - lo) / (hi - lo) * 100.0
        } else {
            50.0
        };
        format!("transform: translateX({pos:.1}%)")
    };
    view! {
        <div class="detail-head">
            <h2 class="detail-symbol">
                {symbol.to_string()}
                <SessionBadge session=session />
                <AlertBell symbol=symbol.clone() />
            </h2>
            <span class="detail-name">{move || name.get().to_string()}</span>
        </div>
        <div class="detail-price" data-testid="detail-price">{move || format::price(price())}</div>
        <div class=move_class>
            {move || format::change(change(), prev_close.get())}
            " ("
            {move || format::change_pct(pct())}
            ")"
            // A halt is not a close: the badge says halted.
            {move || {
                let closed = !matches!(session.get(), MarketSession::Regular | MarketSession::Halted);
                (closed && extended().is_none()).then_some(" At close")
            }}
        </div>
        {
            let symbol = symbol.clone();
            move || {
                (alerts.form.get().as_deref() == Some(&*symbol))
                    .then(|| view! { <AlertForm symbol=symbol.clone() /> })
            }
        }
        {move || {
            extended()
                .map(|(session, last, pct)| {
                    let label = format::extended_label(session);
                    view! {
                        <div class=format!("detail-extended {}", format::direction(pct).class()) data-testid="detail-extended">
                            <span class="muted">{label}</span>
                            " "
                            <span class="ext-price">{format::price(last)}</span>
                            " "
                            {format::change_pct(pct)}
                        </div>
                    }
                })
        }}
        <div class="range" aria-label="Day range">
            <div class="range-track">
                <span class="range-pos" style=range_pos>
                    <span class="range-marker"></span>
                </span>
            </div>
            <div class="range-ends">
                <span>{move || format::price(low.get())}</span>
                <span class="muted">"Day range"</span>
                <span>{move || format::price(high.get())}</span>
            </div>
        </div>
        <dl class="stats">
            <dt>"Bid"</dt>
            <dd>{move || format::price(bid.get())}</dd>
            <dt>"Ask"</dt>
            <dd>{move || format::price(ask.get())}</dd>
            <dt>"Spread"</dt>
            <dd>{spread}</dd>
            <dt>"Open"</dt>
            <dd>{move || format::price(open.get())}</dd>
            <dt>"Prev close"</dt>
            <dd>{move || format::price(prev_close.get())}</dd>
            <dt>"Volume"</dt>
            <dd>{move || format::volume(volume.get())}</dd>
            <dt>"Last trade"</dt>
            <dd>{move || format::clock_time(ts.get(), link.tz_offset_min.get())}</dd>
        </dl>
    }
}
