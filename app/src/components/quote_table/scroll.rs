//! The table's virtual scrolling: only the rows in view (plus an overscan)
//! exist in the DOM; the others still update their signals, unseen.

#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// Height of one table row in CSS pixels (`.quotes tbody tr` in the CSS).
pub const ROW_HEIGHT: f64 = 35.0;
/// Rows rendered beyond each edge of the view, so scrolling shows no gaps.
const OVERSCAN: usize = 12;
/// Rows rendered before the page can measure its table (server-side and
/// the first client render, which must match it).
const INITIAL_ROWS: usize = 40;

/// The rows to render, `start..end`, of `len`: those in view plus the
/// overscan (`viewport`: the box's height, once measured).
pub fn visible_range(len: usize, scroll_top: f64, viewport: Option<f64>) -> (usize, usize) {
    let Some(height) = viewport else {
        return (0, len.min(INITIAL_ROWS));
    };
    let first = (scroll_top.max(0.0) / ROW_HEIGHT) as usize;
    let shown = (height.max(0.0) / ROW_HEIGHT).ceil() as usize;
    let end = (first + shown + OVERSCAN).min(len);
    (first.saturating_sub(OVERSCAN).min(end), end)
}

/// The style of the spacer standing in for `rows` rows not rendered.
pub fn spacer_style(rows: usize) -> String {
    format!("height: {}px", rows as f64 * ROW_HEIGHT)
}

/// Keeps `viewport` at the table box's height, from mount on.
#[cfg(feature = "hydrate")]
pub fn measure(scroller: NodeRef<leptos::html::Div>, viewport: RwSignal<Option<f64>>) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    Effect::new(move |observed: Option<bool>| {
        if observed == Some(true) {
            return true;
        }
        let Some(el) = scroller.get() else {
            return false;
        };
        viewport.set(Some(f64::from(el.client_height())));
        let target = el.clone();
        let on_resize = Closure::<dyn FnMut()>::new(move || {
            viewport.set(Some(f64::from(target.client_height())))
        });
        if let Ok(observer) = web_sys::ResizeObserver::new(on_resize.as_ref().unchecked_ref()) {
            observer.observe(&el);
        }
        // The observer lives as long as the page.
        on_resize.forget();
        true
    });
}

/// Scrolls the table box so row `index` is in view.
#[cfg(feature = "hydrate")]
pub fn reveal(scroller: NodeRef<leptos::html::Div>, index: usize) {
    let Some(el) = scroller.get_untracked() else {
        return;
    };
    let top = index as f64 * ROW_HEIGHT;
    let (scroll, height) = (f64::from(el.scroll_top()), f64::from(el.client_height()));
    // The sticky header covers the first row's height of the box.
    let room = (height - ROW_HEIGHT).max(ROW_HEIGHT);
    if top < scroll {
        el.set_scroll_top(top as i32);
    } else if top + ROW_HEIGHT > scroll + room {
        el.set_scroll_top((top + ROW_HEIGHT - room) as i32);
    }
    // Once rendered, bring the row into the page's view too (the table box
    // itself may be partly below the fold).
    request_animation_frame(move || {
        let Some(row) = el
            .query_selector("tbody tr[aria-selected=true]")
            .ok()
            .flatten()
        else {
            return;
        };
        let options = web_sys::ScrollIntoViewOptions::new();
        options.set_block(web_sys::ScrollLogicalPosition::Nearest);
        row.scroll_into_view_with_scroll_into_view_options(&options);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_covers_the_view_plus_overscan() {
        assert_eq!(
            visible_range(500, 0.0, None),
            (0, INITIAL_ROWS),
            "before measuring: what the server rendered"
        );
        assert_eq!(visible_range(10, 0.0, None), (0, 10));
        assert_eq!(visible_range(500, 0.0, Some(700.0)), (0, 20 + OVERSCAN));
        let (start, end) = visible_range(500, 35.0 * 100.0, Some(700.0));
        assert_eq!((start, end), (100 - OVERSCAN, 120 + OVERSCAN));
        assert_eq!(
            visible_range(500, 35.0 * 495.0, Some(700.0)),
            (495 - OVERSCAN, 500),
            "clamped at the end"
        );
        assert_eq!(visible_range(0, 100.0, Some(700.0)), (0, 0));
    }
}
