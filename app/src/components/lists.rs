//! The watchlist bar above the quote table: open a list (or all symbols),
//! make or delete one, and add symbols to the open list from a search over
//! every symbol the server serves.

use std::sync::Arc;

use leptos::prelude::*;

use crate::store::QuoteStore;
use crate::table::match_score;
use crate::watchlists::Lists;

/// Suggestions shown under the search while a list is open.
const SUGGESTIONS: usize = 6;

/// The viewer's lists, shared by the bar, the table and the subscription.
#[derive(Clone, Copy)]
pub struct Watchlists(pub RwSignal<Lists>);

impl Watchlists {
    /// Empty on the server and at hydration (which must match it); the
    /// saved lists arrive right after.
    pub fn new() -> Watchlists {
        let lists = RwSignal::new(Lists::default());
        #[cfg(feature = "hydrate")]
        storage::follow(lists);
        Watchlists(lists)
    }

    /// The open list's symbols, or `None` when all symbols show.
    pub fn open_symbols(&self) -> Option<Vec<String>> {
        self.0
            .with(|l| l.active_list().map(|list| list.symbols.clone()))
    }

    pub fn open_name(&self) -> Option<String> {
        self.0
            .with(|l| l.active_list().map(|list| list.name.clone()))
    }
}

impl Default for Watchlists {
    fn default() -> Self {
        Watchlists::new()
    }
}

#[cfg(feature = "hydrate")]
mod storage {
    use leptos::prelude::*;

    use crate::watchlists::{Lists, STORAGE_KEY};

    fn local() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok().flatten()
    }

    /// Loads the saved lists once hydrated, then saves every change.
    pub fn follow(lists: RwSignal<Lists>) {
        Effect::new(move |_| {
            let saved = local().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
            if let Some(text) = saved {
                lists.set(Lists::from_json(&text));
            }
        });
        // Not on its first run: that is the empty state before the load.
        Effect::new(move |first: Option<()>| {
            let json = lists.with(Lists::to_json);
            if first.is_some()
                && let Some(storage) = local()
            {
                let _ = storage.set_item(STORAGE_KEY, &json);
            }
        });
    }
}

/// The list switcher and list actions.
#[component]
pub fn ListBar() -> impl IntoView {
    let Watchlists(lists) = expect_context::<Watchlists>();
    let naming = RwSignal::new(false);
    let name_input = NodeRef::<leptos::html::Input>::new();
    let tabs = move || {
        lists.with(|l| {
            l.lists
                .iter()
                .enumerate()
                .map(|(i, list)| (i, list.name.clone(), l.active == Some(i)))
                .collect::<Vec<_>>()
        })
    };
    let create = move || {
        let name = name_input
            .get_untracked()
            .map(|input| input.value())
            .unwrap_or_default();
        lists.update(|l| {
            l.create(&name);
        });
        naming.set(false);
    };
    view! {
        <div class="list-bar" role="group" aria-label="Watchlists">
            <button
                type="button"
                class="list-tab"
                aria-pressed=move || lists.with(|l| l.active.is_none()).to_string()
                on:click=move |_| lists.update(|l| l.active = None)
            >
                "All symbols"
            </button>
            <For each=tabs key=|tab| tab.clone() let:tab>
                {
                    let (index, name, open) = tab;
                    view! {
                        <button
                            type="button"
                            class="list-tab"
                            aria-pressed=open.to_string()
                            on:click=move |_| lists.update(|l| l.active = Some(index))
                        >
                            {name}
                        </button>
                    }
                }
            </For>
            <Show
                when=move || naming.get()
                fallback=move || view! {
                    <button type="button" class="list-action" on:click=move |_| naming.set(true)>
                        "+ New list"
                    </button>
                }
            >
                <form class="list-name" on:submit=move |e| {
                    e.prevent_default();
                    create();
                }>
                    <input
                        type="text"
                        node_ref=name_input
                        aria-label="New list name"
                        placeholder="List name"
                        autofocus=true
                        maxlength="40"
                        on:keydown=move |e| if e.key() == "Escape" { naming.set(false) }
                    />
                    <button type="submit" class="list-action">"Create"</button>
                </form>
            </Show>
            <Show when=move || lists.with(|l| l.active.is_some())>
                <button
                    type="button"
                    class="list-action danger"
                    on:click=move |_| lists.update(Lists::delete_active)
                >
                    "Delete list"
                </button>
            </Show>
        </div>
    }
}

/// While a list is open and the search has text: symbols (from all the
/// server serves) that match and are not in the list yet, to add.
#[component]
pub fn AddSuggestions(query: RwSignal<String>) -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let watchlists = expect_context::<Watchlists>();
    let suggestions = move || {
        let Some(members) = watchlists.open_symbols() else {
            return Vec::new();
        };
        let query = query.get();
        if query.trim().is_empty() {
            return Vec::new();
        }
        let mut found: Vec<(u32, usize, Arc<str>, Arc<str>)> = store
            .universe()
            .into_iter()
            .enumerate()
            .filter(|(_, (symbol, _))| !members.iter().any(|m| **m == **symbol))
            .filter_map(|(i, (symbol, name))| {
                Some((match_score(&query, &symbol, &name)?, i, symbol, name))
            })
            .collect();
        found.sort_by_key(|(score, i, _, _)| (*score, *i));
        found.truncate(SUGGESTIONS);
        found
    };
    view! {
        <Show when=move || !suggestions().is_empty()>
            <ul class="suggestions" aria-label="Add to the list">
                <For each=suggestions key=|s| s.2.clone() let:found>
                    {
                        let (_, _, symbol, name) = found;
                        let list = watchlists.open_name().unwrap_or_default();
                        let label = format!("Add {symbol} to {list}");
                        let add = symbol.clone();
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="suggestion"
                                    aria-label=label
                                    on:click=move |_| watchlists.0.update(|l| l.add(&add))
                                >
                                    <span class="plus" aria-hidden="true">"+"</span>
                                    <b>{symbol.to_string()}</b>
                                    <span class="muted">{name.to_string()}</span>
                                </button>
                            </li>
                        }
                    }
                </For>
            </ul>
        </Show>
    }
}
