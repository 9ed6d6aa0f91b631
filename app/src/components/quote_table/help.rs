//! The `?` overlay: every key the table answers (see `keys`).

use leptos::prelude::*;

use super::state::TableState;

/// Every key the table answers, as the overlay lists them.
const KEYS: [(&str, &str); 7] = [
    ("/", "Search symbols"),
    ("↓  j", "Next row"),
    ("↑  k", "Previous row"),
    ("Enter", "Chart the row"),
    ("Alt ↑ ↓", "Move the row within a watchlist"),
    ("Esc", "Clear the search, close this"),
    ("?", "Show or hide these keys"),
];

/// The `?` overlay.
#[component]
pub fn KeyHelp() -> impl IntoView {
    let state = expect_context::<TableState>();
    let keys = KEYS.map(|(key, what)| {
        view! {
            <dt><kbd>{key}</kbd></dt>
            <dd>{what}</dd>
        }
    });
    view! {
        <Show when=move || state.help.get()>
            <div class="overlay" on:click=move |_| state.help.set(false)>
                <div
                    class="keys-dialog panel"
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby="keys-title"
                    on:click=|e| e.stop_propagation()
                >
                    <h2 id="keys-title">"Keyboard shortcuts"</h2>
                    <dl>{keys.clone().into_iter().collect_view()}</dl>
                    <button type="button" class="close" on:click=move |_| state.help.set(false)>
                        "Close"
                    </button>
                </div>
            </div>
        </Show>
    }
}
