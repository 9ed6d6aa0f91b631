//! The chart's buttons: interval, chart type, clock and indicators.

use leptos::prelude::*;

use super::view::{ChartMode, ChartView};
use crate::indicators::{MAX_STUDIES, PRESETS, Spec};
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

/// Which clock the chart's times are in: the exchange's (New York's for US
/// equities, UTC around the clock) or the viewer's; remembered in the browser.
#[component]
pub fn ClockButton() -> impl IntoView {
    let view = expect_context::<ChartView>();
    #[cfg(feature = "hydrate")]
    remember(view);
    let label = move || {
        if view.exchange_time.get() {
            view.calendar.get().clock_name()
        } else {
            "Local"
        }
    };
    let title = move || {
        if view.exchange_time.get() {
            "Times in the exchange's clock (click for yours)"
        } else {
            "Times in your clock (click for the exchange's)"
        }
    };
    view! {
        <button
            class="clock-toggle"
            data-testid="clock-toggle"
            aria-pressed=move || view.exchange_time.get().to_string()
            title=title
            on:click=move |_| view.exchange_time.update(|e| *e = !*e)
        >
            {label}
        </button>
    }
}

/// The chart's indicators: a menu of the usual ones (and any other the URL
/// named), each a checkbox; the choice lives in the URL.
#[component]
pub fn IndicatorMenu() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let choices = move || {
        let chosen = selection.indicators.get();
        let mut all: Vec<Spec> = PRESETS.to_vec();
        all.extend(chosen.iter().filter(|s| !PRESETS.contains(s)));
        all.into_iter()
            .map(|spec| (spec, chosen.contains(&spec)))
            .collect::<Vec<_>>()
    };
    let toggle = move |spec: Spec| {
        let mut chosen = selection.indicators.get_untracked();
        match chosen.iter().position(|s| *s == spec) {
            Some(i) => drop(chosen.remove(i)),
            None if chosen.len() < MAX_STUDIES => chosen.push(spec),
            None => return,
        }
        selection.set_indicators(&chosen);
    };
    let count = move || selection.indicators.with(Vec::len);
    view! {
        <details class="indicator-menu" data-testid="indicators">
            <summary>
                "Indicators"
                <span class="indicator-count">{move || (count() > 0).then(|| count().to_string())}</span>
            </summary>
            <div class="indicator-list">
                {move || {
                    choices()
                        .into_iter()
                        .map(|(spec, on)| {
                            view! {
                                <label>
                                    <input type="checkbox" prop:checked=on on:change=move |_| toggle(spec) />
                                    {spec.label()}
                                </label>
                            }
                        })
                        .collect_view()
                }}
            </div>
        </details>
    }
}

/// The localStorage key of the chart's clock.
#[cfg(feature = "hydrate")]
const CLOCK_KEY: &str = "tickertape.chart-clock";

/// Reads the remembered clock once hydrated, then keeps it.
#[cfg(feature = "hydrate")]
fn remember(view: ChartView) {
    let storage = || web_sys::window()?.local_storage().ok().flatten();
    Effect::new(move |loaded: Option<bool>| {
        let exchange = view.exchange_time.get();
        if loaded.is_none() {
            let saved = storage().and_then(|s| s.get_item(CLOCK_KEY).ok().flatten());
            if saved.as_deref() == Some("exchange") {
                view.exchange_time.set(true);
            }
            return true;
        }
        if let Some(s) = storage() {
            let _ = s.set_item(CLOCK_KEY, if exchange { "exchange" } else { "viewer" });
        }
        true
    });
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
