//! The chart's buttons: interval, chart type, clock and indicators.

use leptos::prelude::*;

use super::view::{ChartMode, ChartView, Links};
use crate::indicators::{MAX_STUDIES, PRESETS, Spec};
use crate::protocol::Interval;
use crate::selection::{MAX_COMPARE, Selection};
use crate::store::QuoteStore;

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

/// How many charts the page shows (1, 2 or 4), and, with more than one,
/// whether their crosshairs and visible time ranges move together.
#[component]
pub fn LayoutButtons() -> impl IntoView {
    let layout = expect_context::<Selection>().layout;
    let options = [(1, "1", "1"), (2, "2", "2"), (4, "4", "4")];
    let current = Signal::derive(move || layout.count.get());
    let links = expect_context::<Links>();
    let several = move || layout.count.get() > 1;
    let toggle = |signal: RwSignal<bool>, testid: &'static str, text: &'static str| {
        view! {
            <button
                class="link-toggle"
                data-testid=testid
                aria-pressed=move || signal.get().to_string()
                on:click=move |_| signal.update(|on| *on = !*on)
            >
                {text}
            </button>
        }
    };
    view! {
        <Segmented label="Charts" options current pick=move |n| layout.set_count(n) />
        <Show when=several>
            <div class="link-toggles" role="group" aria-label="Link the charts'">
                {toggle(links.crosshair, "link-crosshair", "Crosshair")}
                {toggle(links.range, "link-range", "Time")}
            </div>
        </Show>
    }
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
    let store = expect_context::<QuoteStore>();
    let (adding, refused) = (RwSignal::new(String::new()), RwSignal::new(None::<String>));
    let add = move |e: leptos::ev::SubmitEvent| {
        e.prevent_default();
        let wanted = adding.get_untracked().trim().to_ascii_uppercase();
        let mut compare = selection.compare.get_untracked();
        match store.row(&wanted) {
            None => refused.set(Some(format!("No symbol {wanted}"))),
            Some(_) if compare.len() >= MAX_COMPARE => {
                refused.set(Some(format!("At most {MAX_COMPARE}")))
            }
            Some(row) => {
                compare.push(row.symbol);
                selection.set_compare(&compare);
                adding.set(String::new());
                refused.set(None);
            }
        }
    };
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
                <form class="compare-add" on:submit=add>
                    <input
                        type="text"
                        aria-label="Compare with a symbol"
                        placeholder="Compare with…"
                        autocomplete="off"
                        prop:value=adding
                        on:input=move |e| adding.set(event_target_value(&e))
                    />
                    <button type="submit">"Add"</button>
                </form>
                <p class="compare-refused" role="alert">{move || refused.get()}</p>
            </div>
        </details>
    }
}

/// Colours of the compared symbols' lines, in order.
pub const COMPARE_COLOURS: [&str; 3] = ["#e8a33d", "#b48cff", "#ff7ab6"];

/// The compared symbols, each in its line's colour, each removable.
#[component]
pub fn CompareLegend() -> impl IntoView {
    let selection = expect_context::<Selection>();
    move || {
        let compare = selection.compare.get();
        (!compare.is_empty()).then(|| {
            let chips = compare
                .iter()
                .enumerate()
                .map(|(i, symbol)| {
                    let colour = format!("--chip: {}", COMPARE_COLOURS[i % COMPARE_COLOURS.len()]);
                    let label = format!("Stop comparing {symbol}");
                    let gone = symbol.clone();
                    let remove = move |_| {
                        let rest: Vec<_> = selection
                            .compare
                            .get_untracked()
                            .into_iter()
                            .filter(|s| *s != gone)
                            .collect();
                        selection.set_compare(&rest);
                    };
                    view! {
                        <span class="compare-chip" style=colour data-symbol=symbol.to_string()>
                            {symbol.to_string()}
                            <button type="button" aria-label=label on:click=remove>"×"</button>
                        </span>
                    }
                })
                .collect_view();
            view! { <div class="compare-legend" data-testid="compare">"% change vs " {chips}</div> }
        })
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
