//! Top gainers and losers by change %, refreshed live (once a second, so
//! the chips do not shuffle on every tick).

use std::sync::Arc;

use leptos::prelude::*;

use crate::format;
use crate::protocol::pct_change;
use crate::selection::Selection;
use crate::store::QuoteStore;

/// Symbols shown on each side.
const MOVERS: usize = 5;

/// A symbol and its day change in percent.
pub type Move = (Arc<str>, f64);

/// The biggest gainers (best first) and losers (worst first) among
/// `(symbol, change %)`; symbols that did not move are neither.
pub fn movers(mut moves: Vec<Move>, n: usize) -> (Vec<Move>, Vec<Move>) {
    moves.retain(|(_, pct)| pct.is_finite() && *pct != 0.0);
    moves.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let gainers = moves
        .iter()
        .filter(|m| m.1 > 0.0)
        .take(n)
        .cloned()
        .collect();
    let losers = moves
        .iter()
        .rev()
        .filter(|m| m.1 < 0.0)
        .take(n)
        .cloned()
        .collect();
    (gainers, losers)
}

#[component]
pub fn Movers() -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let link = expect_context::<crate::connection::Link>();
    // Whole seconds of the page clock: the lists refresh with it, in a frame
    // the page draws anyway (the clock ticks with the diffs; it stands still
    // in a hidden tab, whose quotes are held meanwhile).
    let second = Memo::new(move |_| (link.now_ms.get() / 1000.0).floor() as i64);
    let lists = Memo::new(move |_| {
        second.track();
        let moves = store.rows.with(|rows| {
            rows.iter()
                .map(|r| {
                    let pct = pct_change(r.last.get_untracked(), r.prev_close.get_untracked());
                    (r.symbol.clone(), pct)
                })
                .collect()
        });
        movers(moves, MOVERS)
    });
    view! {
        <section class="panel movers" aria-labelledby="movers-title">
            <h2 id="movers-title" class="movers-title">"Movers"</h2>
            <MoverList label="Top gainers" class="up" items=Signal::derive(move || lists.get().0) />
            <MoverList label="Top losers" class="down" items=Signal::derive(move || lists.get().1) />
        </section>
    }
}

#[component]
fn MoverList(label: &'static str, class: &'static str, items: Signal<Vec<Move>>) -> impl IntoView {
    let selection = expect_context::<Selection>();
    view! {
        <div class=format!("mover-list {class}") role="group" aria-label=label>
            <span class="mover-label">{label}</span>
            <ol>
                <For each=move || items.get() key=|(symbol, pct)| (symbol.clone(), pct.to_bits()) let:item>
                    {
                        let (symbol, pct) = item;
                        let pick = symbol.clone();
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="mover"
                                    data-symbol=symbol.to_string()
                                    on:click=move |_| selection.select(&pick)
                                >
                                    <span class="mover-sym">{symbol.to_string()}</span>
                                    <span class="mover-pct">{format::change_pct(pct)}</span>
                                </button>
                            </li>
                        }
                    }
                </For>
            </ol>
            <Show when=move || items.with(Vec::is_empty)>
                <span class="muted">"None yet"</span>
            </Show>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gainers_and_losers_are_the_extremes_in_order() {
        let moves = [
            ("A", 2.0),
            ("B", -1.0),
            ("C", 5.0),
            ("D", 0.0),
            ("E", -3.0),
            ("F", 1.0),
        ]
        .map(|(s, p)| (Arc::from(s), p))
        .to_vec();
        let (up, down) = movers(moves, 2);
        let names =
            |v: Vec<(Arc<str>, f64)>| v.into_iter().map(|m| m.0.to_string()).collect::<Vec<_>>();
        assert_eq!(names(up), ["C", "A"]);
        assert_eq!(names(down), ["E", "B"]);
        let (up, down) = movers(vec![(Arc::from("X"), -1.0)], 5);
        assert!(up.is_empty(), "a loser is never a gainer");
        assert_eq!(down.len(), 1);
    }
}
