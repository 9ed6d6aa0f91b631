//! The watchlist picker above the quote table: open a list (or all
//! symbols), make or delete one, and add symbols to the open list from a
//! search over every symbol the server serves. The lists themselves are
//! [`crate::watchlist`].

use std::sync::Arc;

use leptos::prelude::*;

use crate::store::QuoteStore;
use crate::table::match_score;
use crate::watchlist::{Lists, Watchlists};

/// Suggestions shown under the search while a list is open.
const SUGGESTIONS: usize = 6;

/// The list switcher and list actions.
#[component]
pub fn ListBar() -> impl IntoView {
    let Watchlists(lists) = expect_context::<Watchlists>();
    let naming = RwSignal::new(false);
    view! {
        <div class="list-bar" role="group" aria-label="Watchlists">
            <ListTabs />
            <Show
                when=move || naming.get()
                fallback=move || view! {
                    <button type="button" class="list-action" on:click=move |_| naming.set(true)>
                        "+ New list"
                    </button>
                }
            >
                <NewListForm naming />
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

/// "All symbols" and one tab per list; the open one is pressed.
#[component]
fn ListTabs() -> impl IntoView {
    let Watchlists(lists) = expect_context::<Watchlists>();
    let tabs = move || {
        lists.with(|l| {
            l.lists
                .iter()
                .enumerate()
                .map(|(i, list)| (i, list.name.clone(), l.active == Some(i)))
                .collect::<Vec<_>>()
        })
    };
    view! {
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
    }
}

/// Names a new list (and opens it); Escape gives up.
#[component]
fn NewListForm(naming: RwSignal<bool>) -> impl IntoView {
    let Watchlists(lists) = expect_context::<Watchlists>();
    let name_input = NodeRef::<leptos::html::Input>::new();
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
    }
}

/// While a list is open and the search has text: symbols (from all the
/// server serves) that match and are not in the list yet, to add.
#[component]
pub fn AddSuggestions(query: RwSignal<String>) -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let watchlists = expect_context::<Watchlists>();
    let suggestions = move || {
        let members = watchlists.open_symbols()?;
        let query = query.get();
        (!query.trim().is_empty()).then(|| suggest(store.universe(), &members, &query))
    };
    let suggestions = move || suggestions().unwrap_or_default();
    view! {
        <Show when=move || !suggestions().is_empty()>
            <ul class="suggestions" aria-label="Add to the list">
                <For each=suggestions key=|(symbol, _)| symbol.clone() let:found>
                    <Suggestion symbol=found.0 name=found.1 />
                </For>
            </ul>
        </Show>
    }
}

/// The best [`SUGGESTIONS`] symbols of `universe` matching `query` that
/// are not `members`, best first, then in the server's order.
fn suggest(
    universe: Vec<(Arc<str>, Arc<str>)>,
    members: &[String],
    query: &str,
) -> Vec<(Arc<str>, Arc<str>)> {
    let mut found: Vec<(u32, usize, Arc<str>, Arc<str>)> = universe
        .into_iter()
        .enumerate()
        .filter(|(_, (symbol, _))| !members.iter().any(|m| **m == **symbol))
        .filter_map(|(i, (symbol, name))| {
            Some((match_score(query, &symbol, &name)?, i, symbol, name))
        })
        .collect();
    found.sort_by_key(|(score, i, _, _)| (*score, *i));
    found.truncate(SUGGESTIONS);
    found.into_iter().map(|(_, _, s, n)| (s, n)).collect()
}

#[component]
fn Suggestion(symbol: Arc<str>, name: Arc<str>) -> impl IntoView {
    let watchlists = expect_context::<Watchlists>();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_the_best_matches_not_in_the_list_yet() {
        let universe = ["AAPL", "AMD", "AMZN", "MSFT"]
            .map(|s| (Arc::from(s), Arc::from(format!("{s} Inc."))))
            .to_vec();
        let found = suggest(universe.clone(), &["AMD".into()], "am");
        let symbols: Vec<&str> = found.iter().map(|(s, _)| &**s).collect();
        assert_eq!(symbols, ["AMZN"], "AMD is in the list already");
        let ranked = suggest(universe, &[], "m");
        let symbols: Vec<&str> = ranked.iter().map(|(s, _)| &**s).collect();
        assert_eq!(
            symbols,
            ["MSFT", "AMD", "AMZN"],
            "best first, then in order"
        );
    }
}
