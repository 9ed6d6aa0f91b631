//! The chart's buttons: interval and chart type.

use leptos::prelude::*;

use super::view::{ChartMode, ChartView};
use crate::protocol::Interval;
use crate::selection::Selection;

#[component]
pub fn IntervalButtons() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let options = Interval::ALL.map(|i| (i, i.as_str(), i.as_str()));
    let current = Signal::derive(move || selection.interval.get());
    view! { <Segmented label="Interval" options current pick=move |i| selection.set_interval(i) /> }
}

#[component]
pub fn ModeButtons() -> impl IntoView {
    let view = expect_context::<ChartView>();
    let options = ChartMode::ALL.map(|m| (m, m.as_str(), m.label()));
    let current = Signal::derive(move || view.mode.get());
    view! { <Segmented label="Chart type" options current pick=move |m| view.mode.set(m) /> }
}

/// A row of toggle buttons, one pressed: `options` are (value, `data-value`, label).
#[component]
fn Segmented<T, const N: usize>(
    label: &'static str,
    options: [(T, &'static str, &'static str); N],
    current: Signal<T>,
    pick: impl Fn(T) + Copy + Send + Sync + 'static,
) -> impl IntoView
where
    T: Copy + PartialEq + Send + Sync + 'static,
{
    let buttons = options.map(|(value, key, text)| {
        let pressed = move || current.get() == value;
        view! {
            <button
                class:active=pressed
                aria-pressed=move || pressed().to_string()
                data-value=key
                on:click=move |_| pick(value)
            >
                {text}
            </button>
        }
    });
    view! {
        <div class="segmented" role="group" aria-label=label>
            {buttons.into_iter().collect_view()}
        </div>
    }
}
