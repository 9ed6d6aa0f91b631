//! OHLCV of the bar under the crosshair, else of the newest bar.

use leptos::prelude::*;

use super::view::ChartView;
use crate::connection::Link;
use crate::format::{self, Direction};
use crate::indicators::{Spec, Values};
use crate::protocol::{Candle, Interval};
use crate::selection::Selection;

#[component]
pub fn Readout() -> impl IntoView {
    let view = expect_context::<ChartView>();
    let link = expect_context::<Link>();
    let bar = move || view.hovered.get().or_else(|| view.latest.get());
    let field =
        move |f: fn(&Candle) -> String| move || bar().map(|b| f(&b)).unwrap_or_else(|| "—".into());
    let class = move || {
        let dir = bar().map_or(Direction::Flat, |b| format::direction(b.c - b.o));
        format!("readout {}", dir.class())
    };
    let selection = expect_context::<Selection>();
    let time = move || {
        let bar = bar()?;
        let interval = selection.interval.get();
        Some(if interval == Interval::D1 {
            format::day_date(bar.t)
        } else {
            // In the chosen clock: the exchange's or the viewer's.
            let offset = view.offset_min(bar.t, link.tz_offset_min.get());
            let time = format::clock_time(bar.t, offset);
            if interval >= Interval::M15 {
                // Bars far apart: which day, too.
                let local = bar.t + i64::from(offset) * 60_000;
                format!(
                    "{} {}",
                    format::day_date(local),
                    time.get(..5).unwrap_or(&time)
                )
            } else {
                time
            }
        })
    };
    view! {
        <div class=class data-testid="readout" aria-live="off">
            <span class="readout-time">{time}</span>
            <span>"O " <b data-field="o">{field(|b| format::price(b.o))}</b></span>
            <span>"H " <b data-field="h">{field(|b| format::price(b.h))}</b></span>
            <span>"L " <b data-field="l">{field(|b| format::price(b.l))}</b></span>
            <span>"C " <b data-field="c">{field(|b| format::price(b.c))}</b></span>
            <span>"V " <b data-field="v">{field(|b| format::volume(b.v))}</b></span>
            {move || {
                let close = bar().map_or(0.0, |b| b.c);
                view.studies
                    .get()
                    .into_iter()
                    .map(|(spec, values)| {
                        let text = study_text(spec, values, close);
                        view! {
                            <span class="readout-study" data-study=spec.key()>
                                {spec.label()} " " <b>{text}</b>
                            </span>
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}

/// An indicator's values as the readout shows them: prices as prices,
/// the RSI to two places, MACD lines signed at the price's precision.
fn study_text(spec: Spec, values: Values, close: f64) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(spec.lines())
        .map(|v| match (spec, v) {
            (_, None) => "—".into(),
            (Spec::Rsi(_), Some(v)) => format!("{v:.2}"),
            (Spec::Macd, Some(v)) => format::change(*v, close),
            (_, Some(v)) => format::price(*v),
        })
        .collect();
    shown.join(" ")
}
