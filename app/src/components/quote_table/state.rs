//! The table's own state, shared by its parts through context.

use std::sync::Arc;

use leptos::prelude::*;

use crate::table::Sort;

/// The table's search, sort, keyboard cursor and drag.
#[derive(Clone, Copy)]
pub struct TableState {
    pub query: RwSignal<String>,
    pub sort: RwSignal<Option<Sort>>,
    /// The row the arrow keys are on (the charted row until they move).
    pub cursor: RwSignal<Option<Arc<str>>>,
    /// Bumped to re-sort by live values.
    pub refresh: RwSignal<u64>,
    /// The pointer is over the table (live sorts wait: rows must not move
    /// under it).
    pub hovering: RwSignal<bool>,
    /// The `?` overlay is open.
    pub help: RwSignal<bool>,
    /// The row being dragged to a new place in the open list.
    pub dragging: RwSignal<Option<Arc<str>>>,
}

impl TableState {
    pub fn new() -> TableState {
        TableState {
            query: RwSignal::new(String::new()),
            sort: RwSignal::new(None),
            cursor: RwSignal::new(None),
            refresh: RwSignal::new(0),
            hovering: RwSignal::new(false),
            help: RwSignal::new(false),
            dragging: RwSignal::new(None),
        }
    }
}
