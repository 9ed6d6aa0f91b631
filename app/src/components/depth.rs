//! The main chart's symbol's order book (a ladder and a depth chart) and
//! trades tape, in the side column under the detail panel.

use leptos::prelude::*;

use crate::depth::MarketDepth;

#[component]
pub fn DepthPanel() -> impl IntoView {
    let depth = expect_context::<MarketDepth>();
    view! {
        <section class="panel depth" aria-label="Order book and trades" data-testid="depth">
            <button on:click=move |_| depth.open.update(|o| *o = !*o)>"Book & trades"</button>
        </section>
    }
}
