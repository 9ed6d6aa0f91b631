//! The table's keys, anywhere on the page (browser only; the overlay in
//! `help` lists them).

use std::sync::Arc;

use leptos::ev::KeyboardEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::scroll::reveal;
use super::state::TableState;
use crate::selection::Selection;
use crate::table;
use crate::watchlist::Watchlists;

/// Where a key was pressed, as far as the table's keys care.
#[derive(Clone, Copy, PartialEq)]
enum Focus {
    /// Nowhere in particular.
    Page,
    /// An `<input>` of the table's panel (the search, or a list's name).
    Input,
    /// A `<textarea>`, a `<select>` or an input elsewhere (an alert's
    /// form, the chart's menu): their keys are their own.
    OtherField,
    /// A table row (it charts itself on Enter).
    Row,
}

impl Focus {
    fn of(e: &KeyboardEvent) -> Focus {
        let target = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
        let tag = target
            .as_ref()
            .map(|el| el.tag_name().to_ascii_lowercase())
            .unwrap_or_default();
        let in_table = || {
            target
                .as_ref()
                .is_some_and(|el| el.closest(".watchlist").ok().flatten().is_some())
        };
        match tag.as_str() {
            "input" if in_table() => Focus::Input,
            "input" => Focus::OtherField,
            "textarea" | "select" => Focus::OtherField,
            "tr" => Focus::Row,
            _ => Focus::Page,
        }
    }

    fn typing(self) -> bool {
        matches!(self, Focus::Input | Focus::OtherField)
    }
}

/// What the keys act on.
#[derive(Clone, Copy)]
pub struct Keys {
    pub state: TableState,
    pub shown: RwSignal<Vec<Arc<str>>>,
    pub selection: Selection,
    pub watchlists: Watchlists,
    pub scroller: NodeRef<leptos::html::Div>,
    pub search: NodeRef<leptos::html::Input>,
}

/// Answers the table's keys for the page's lifetime.
pub fn listen(keys: Keys) {
    let handle = window_event_listener(leptos::ev::keydown, move |e| keys.on_key(&e));
    // Lives as long as the page.
    std::mem::forget(handle);
}

impl Keys {
    fn on_key(&self, e: &KeyboardEvent) {
        let arrow = match e.key().as_str() {
            "ArrowUp" => -1,
            "ArrowDown" => 1,
            _ => 0,
        };
        if e.alt_key() && arrow != 0 {
            return self.shift_row(e, arrow);
        }
        if !(e.ctrl_key() || e.meta_key() || e.alt_key()) {
            self.on_plain_key(e, Focus::of(e), arrow);
        }
    }

    fn on_plain_key(&self, e: &KeyboardEvent, focus: Focus, arrow: isize) {
        let state = self.state;
        match e.key().as_str() {
            "Escape" if state.help.get_untracked() => state.help.set(false),
            "Escape" => self.clear_search(),
            "/" if !focus.typing() => {
                e.prevent_default();
                if let Some(input) = self.search.get_untracked() {
                    let _ = input.focus();
                }
            }
            "?" if !focus.typing() => state.help.update(|h| *h = !*h),
            "ArrowDown" | "ArrowUp" if focus != Focus::OtherField => {
                e.prevent_default();
                self.move_cursor(arrow);
            }
            "j" if !focus.typing() => self.move_cursor(1),
            "k" if !focus.typing() => self.move_cursor(-1),
            "Enter" if matches!(focus, Focus::Page | Focus::Input) => self.chart_cursor(),
            _ => {}
        }
    }

    /// Alt+↑/↓: moves the cursor's row within the open list.
    fn shift_row(&self, e: &KeyboardEvent, by: isize) {
        if let Some(symbol) = self.state.cursor.get_untracked() {
            e.prevent_default();
            self.watchlists.0.update(|l| l.shift(&symbol, by));
        }
    }

    fn clear_search(&self) {
        self.state.query.set(String::new());
        if let Some(input) = self.search.get_untracked() {
            let _ = input.blur();
        }
    }

    fn move_cursor(&self, by: isize) {
        let current = self
            .state
            .cursor
            .get_untracked()
            .or_else(|| self.selection.symbol.get_untracked());
        let next = self
            .shown
            .with_untracked(|s| table::step(s, current.as_deref(), by).map(|i| (i, s[i].clone())));
        if let Some((index, symbol)) = next {
            self.state.cursor.set(Some(symbol));
            reveal(self.scroller, index);
        }
    }

    /// Charts the cursor's row, or the first one shown.
    fn chart_cursor(&self) {
        let shown = self.shown;
        let pick = self
            .state
            .cursor
            .get_untracked()
            .filter(|c| shown.with_untracked(|s| s.contains(c)))
            .or_else(|| shown.with_untracked(|s| s.first().cloned()));
        if let Some(symbol) = pick {
            self.state.cursor.set(Some(symbol.clone()));
            self.selection.select(&symbol);
        }
    }
}
