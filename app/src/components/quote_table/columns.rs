//! The table's column headers; a sortable one is a button that sorts by it.

use leptos::either::Either;
use leptos::prelude::*;

use super::state::TableState;
use crate::table::{Sort, SortKey};

/// The table's columns: header text, CSS class, sort key (none: not sortable).
const COLUMNS: [(&str, &str, Option<SortKey>); 12] = [
    ("Symbol", "sym", Some(SortKey::Symbol)),
    ("Name", "name", Some(SortKey::Name)),
    ("Last", "num", Some(SortKey::Last)),
    ("Chg", "num", Some(SortKey::Change)),
    ("Chg %", "num", Some(SortKey::ChangePct)),
    ("30 min", "spark", None),
    ("Bid", "num", Some(SortKey::Bid)),
    ("Ask", "num", Some(SortKey::Ask)),
    ("High", "num", Some(SortKey::High)),
    ("Low", "num", Some(SortKey::Low)),
    ("Volume", "num", Some(SortKey::Volume)),
    ("Time", "num time", Some(SortKey::Time)),
];

/// The header row's cells.
#[component]
pub fn ColumnHeaders() -> impl IntoView {
    COLUMNS
        .into_iter()
        .map(|(label, class, key)| match key {
            Some(key) => Either::Left(view! { <SortableHeader label class key /> }),
            None => Either::Right(view! { <th scope="col" class=class>{label}</th> }),
        })
        .collect_view()
}

#[component]
fn SortableHeader(label: &'static str, class: &'static str, key: SortKey) -> impl IntoView {
    let state = expect_context::<TableState>();
    let dir = move || Sort::dir_of(state.sort.get(), key);
    view! {
        <th scope="col" class=class aria-sort=move || dir().map_or("none", |d| d.aria())>
            <button type="button" class="sort" on:click=move |_| {
                state.sort.update(|s| *s = Some(Sort::clicked(*s, key)));
            }>
                {label}
                <span class="sort-mark" aria-hidden="true">
                    {move || dir().map_or("", |d| d.mark())}
                </span>
            </button>
        </th>
    }
}
