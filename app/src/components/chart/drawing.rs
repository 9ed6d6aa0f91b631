//! The chart's drawing (browser only): TradingView Lightweight Charts,
//! mounted after hydration on a `NodeRef` through a thin wasm-bindgen shim
//! (`app/js/chart.js`) and removed on cleanup. Bars reach it through the
//! page's [`ChartFeed`]; it is never rebuilt per bar.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::html::Div;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use super::controls::COMPARE_COLOURS;
use super::studies::Studies;
use super::view::{ChartView, Charted, Links};
use crate::alerts::{Alerts, is_price};
use crate::chart_feed::{ChartFeed, Drawing, Series, SharedChartFeed};
use crate::protocol::{Candle, Interval, MarketSession, TradingDay};

#[wasm_bindgen(module = "/js/chart.js")]
extern "C" {
    type PriceChart;

    #[wasm_bindgen(constructor)]
    fn new(
        el: &web_sys::HtmlElement,
        on_hover: &JsValue,
        on_scroll: &JsValue,
        on_older: &JsValue,
    ) -> PriceChart;
    #[wasm_bindgen(method, js_name = setData)]
    fn set_data(this: &PriceChart, json: &str, seconds_visible: bool, daily: bool);
    #[wasm_bindgen(method)]
    fn update(this: &PriceChart, json: &str) -> bool;
    #[wasm_bindgen(method, js_name = setMode)]
    fn set_mode(this: &PriceChart, mode: &str);
    #[wasm_bindgen(method, js_name = setClock)]
    fn set_clock(this: &PriceChart, offset_of: &JsValue, session_of: &JsValue);
    #[wasm_bindgen(method, js_name = setStudies)]
    fn set_studies(this: &PriceChart, json: &str);
    #[wasm_bindgen(method, js_name = updateStudies)]
    fn update_studies(this: &PriceChart, json: &str);
    #[wasm_bindgen(method, js_name = setCompare)]
    fn set_compare(this: &PriceChart, json: &str);
    #[wasm_bindgen(method, js_name = updateCompare)]
    fn update_compare(this: &PriceChart, index: usize, t: f64, value: f64);
    #[wasm_bindgen(method, js_name = setLevels)]
    fn set_levels(this: &PriceChart, json: &str);
    #[wasm_bindgen(method, js_name = scrollToLive)]
    fn scroll_to_live(this: &PriceChart);
    #[wasm_bindgen(method)]
    fn remove(this: &PriceChart);

    /// Links (or unlinks) the crosshair and the visible time range of
    /// every chart on the page.
    #[wasm_bindgen(js_name = setLinked)]
    fn set_linked(crosshair: bool, range: bool);
}

type HoverCallback = Closure<dyn FnMut(Option<String>)>;
type ScrollCallback = Closure<dyn FnMut(bool)>;
type OlderCallback = Closure<dyn FnMut(f64) -> js_sys::Promise>;
/// A number for a time (Unix ms): the clock's offset, or a session code.
type TimeCallback = Closure<dyn FnMut(f64) -> f64>;

/// Bars asked for at a time when the chart is scrolled back to its oldest.
const OLDER_BARS: usize = 500;

/// The drawn chart as the feed sees it.
struct LightweightChart {
    chart: Rc<PriceChart>,
    view: ChartView,
    studies: SharedStudies,
}

/// The indicators, shared by the drawing, the older-bars callback and the
/// menu's effect.
type SharedStudies = Rc<RefCell<Studies>>;

impl Drawing for LightweightChart {
    fn history(&mut self, interval: Interval, candles: &[Candle]) {
        let daily = interval == Interval::D1;
        self.chart
            .set_data(&json(candles), interval.ms() < 60_000, daily);
        let drawn = self
            .studies
            .borrow_mut()
            .history(candles, self.view.calendar.get_untracked());
        self.chart.set_studies(&drawn);
        self.view.show_history(candles);
        show_values(self.view, &self.studies);
    }

    fn candle(&mut self, candle: &Candle) {
        if self.chart.update(&json(candle)) {
            // No borrow is held across a call into the chart: its events
            // (a linked crosshair's hover) call back into the studies.
            let points = self.studies.borrow_mut().candle(candle);
            if let Some(points) = points {
                self.chart.update_studies(&points);
            }
            self.view.show_candle(*candle);
            show_values(self.view, &self.studies);
        }
    }
}

/// The readout's indicator values: at the bar under the crosshair, else the newest.
fn show_values(view: ChartView, studies: &SharedStudies) {
    let bar = view
        .hovered
        .get_untracked()
        .or_else(|| view.latest.get_untracked());
    let values = bar.map(|b| studies.borrow().at(b.t)).unwrap_or_default();
    view.studies.set(values);
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

/// The chart once mounted, and the callbacks it calls (alive as long as it).
struct Mounted {
    chart: Rc<PriceChart>,
    studies: SharedStudies,
    _callbacks: (HoverCallback, ScrollCallback, OlderCallback),
    clock: (TimeCallback, TimeCallback),
}

/// The chart panel's handle on its drawing, for the controls that act on it.
#[derive(Clone, Copy)]
pub struct Canvas(StoredValue<Option<Mounted>, LocalStorage>);

impl Canvas {
    pub fn scroll_to_live(&self) {
        self.with_chart(|chart| chart.scroll_to_live());
    }

    fn with_chart(&self, f: impl FnOnce(&PriceChart)) {
        self.0
            .with_value(|mounted| mounted.as_ref().map(|m| f(&m.chart)));
    }
}

/// Creates the chart once `container` is in the page, hands it to `feed`,
/// keeps its type in step with the view; removes it on cleanup.
pub fn mount(
    container: NodeRef<Div>,
    view: ChartView,
    feed: SharedChartFeed,
    selection: Charted,
) -> Canvas {
    let canvas = Canvas(StoredValue::new_local(None));
    let drawn = RwSignal::new(false);
    Effect::new(move |mounted: Option<bool>| {
        if mounted == Some(true) {
            return true;
        }
        let Some(el) = container.get() else {
            return false;
        };
        let showing = selection
            .symbol
            .get_untracked()
            .map(|s| Series::new(&s, selection.interval.get_untracked()));
        canvas
            .0
            .set_value(Some(create(&el, view, feed, showing, selection)));
        drawn.set(true);
        true
    });
    Effect::new(move |_| {
        let mode = view.mode.get();
        canvas.with_chart(|chart| chart.set_mode(mode.as_str()));
    });
    // The clock labels are drawn in, and the sessions shaded.
    Effect::new(move |_| {
        let (_, calendar) = (view.exchange_time.get(), view.calendar.get());
        canvas.0.with_value(|mounted| {
            if let Some(m) = mounted {
                m.set_clock(calendar);
            }
        });
    });
    // The indicators the URL names.
    Effect::new(move |_| {
        drawn.track();
        let specs = selection.indicators.get();
        canvas.0.with_value(|mounted| {
            if let Some(m) = mounted {
                let day = view.calendar.get_untracked();
                let drawn = m.studies.borrow_mut().choose(specs, day);
                m.chart.set_studies(&drawn);
                show_values(view, &m.studies);
            }
        });
    });
    follow_compare(canvas, drawn, selection);
    // The charted symbol's armed price alerts, as lines at their levels.
    if let Some(alerts) = use_context::<Alerts>() {
        Effect::new(move |_| {
            drawn.track();
            let symbol = selection.symbol.get();
            let levels = alerts
                .rules
                .with(|rules| alert_levels(rules, symbol.as_deref()));
            canvas.with_chart(|chart| chart.set_levels(&levels));
        });
    }
    on_cleanup(move || {
        feed.with(ChartFeed::detach);
        if let Some(mounted) = canvas.0.try_update_value(Option::take).flatten() {
            mounted.chart.remove();
        }
    });
    canvas
}

fn create(
    el: &web_sys::HtmlElement,
    view: ChartView,
    feed: SharedChartFeed,
    showing: Option<Series>,
    selection: Charted,
) -> Mounted {
    let studies = SharedStudies::default();
    // The chart, once made (the older-bars callback is made before it).
    let drawn_chart: Rc<RefCell<Option<Rc<PriceChart>>>> = Rc::default();
    let on_hover = {
        let studies = studies.clone();
        HoverCallback::new(move |bar: Option<String>| {
            view.hovered
                .set(bar.and_then(|b| serde_json::from_str(&b).ok()));
            show_values(view, &studies);
        })
    };
    let on_scroll = ScrollCallback::new(move |at_live: bool| view.at_live.set(at_live));
    // The charted series' bars before a time, from `GET /api/candles`
    // (the indicators are worked out again with them).
    let (older_studies, older_chart) = (studies.clone(), drawn_chart.clone());
    let on_older = OlderCallback::new(move |before: f64| {
        let (studies, chart) = (older_studies.clone(), older_chart.clone());
        let url = selection.symbol.get_untracked().map(|symbol| {
            let interval = selection.interval.get_untracked();
            let symbol = crate::selection::encode(&symbol);
            format!("/api/candles/{symbol}?interval={interval}&limit={OLDER_BARS}&before={before}")
        });
        wasm_bindgen_futures::future_to_promise(async move {
            let text = match url {
                Some(url) => crate::fetch::text(&url).await,
                None => None,
            };
            if let Some(older) = text
                .as_deref()
                .and_then(|t| serde_json::from_str::<Vec<Candle>>(t).ok())
                && let Some(chart) = chart.borrow().as_ref()
            {
                let drawn = studies.borrow_mut().older(&older);
                chart.set_studies(&drawn);
            }
            Ok(text.map_or(JsValue::NULL, |t| JsValue::from_str(&t)))
        })
    });
    let chart = Rc::new(PriceChart::new(
        el,
        on_hover.as_ref(),
        on_scroll.as_ref(),
        on_older.as_ref(),
    ));
    chart.set_mode(view.mode.get_untracked().as_str());
    *drawn_chart.borrow_mut() = Some(chart.clone());
    let drawing = LightweightChart {
        chart: chart.clone(),
        view,
        studies: studies.clone(),
    };
    feed.with(|feed| feed.attach(Box::new(drawing), showing.as_ref()));
    // Minutes east of UTC of the chosen clock (NaN: the viewer's own, which
    // the browser knows for every date), and the session of a bar.
    let offset_of = TimeCallback::new(move |ms: f64| {
        if view.exchange_time.get_untracked() {
            f64::from(view.calendar.get_untracked().utc_offset_minutes(ms as i64))
        } else {
            f64::NAN
        }
    });
    let session_of = TimeCallback::new(move |ms: f64| {
        match view.calendar.get_untracked().session_at(ms as i64) {
            MarketSession::Pre => 1.0,
            MarketSession::Post => 2.0,
            MarketSession::Closed => 3.0,
            MarketSession::Regular | MarketSession::Halted => 0.0,
        }
    });
    let mounted = Mounted {
        studies,
        chart,
        _callbacks: (on_hover, on_scroll, on_older),
        clock: (offset_of, session_of),
    };
    mounted.set_clock(view.calendar.get_untracked());
    mounted
}

impl Mounted {
    /// Hands the chart its clock and, for a market with sessions, how to shade them.
    fn set_clock(&self, calendar: TradingDay) {
        let sessions = if calendar == TradingDay::Utc {
            JsValue::NULL
        } else {
            self.clock.1.as_ref().clone()
        };
        self.chart.set_clock(self.clock.0.as_ref(), &sessions);
    }
}

/// The armed price-level rules of `symbol`, as the chart's lines (JSON).
fn alert_levels(rules: &[crate::protocol::Alert], symbol: Option<&str>) -> String {
    #[derive(serde::Serialize)]
    struct Level {
        price: f64,
        title: &'static str,
    }
    let levels: Vec<Level> = rules
        .iter()
        .filter(|a| a.armed && is_price(a.condition) && Some(a.symbol.as_str()) == symbol)
        .map(|a| Level {
            price: a.value,
            title: if a.condition == crate::protocol::AlertCondition::Above {
                "Alert ▲"
            } else {
                "Alert ▼"
            },
        })
        .collect();
    json(&levels)
}

/// Draws the symbols compared with the charted one: their bars at the
/// chart's interval from `GET /api/candles`, then their live price at the
/// newest bar's time (the quote table has it).
fn follow_compare(canvas: Canvas, drawn: RwSignal<bool>, selection: Charted) {
    #[derive(serde::Serialize)]
    struct CompareLine {
        colour: &'static str,
        data: Vec<(i64, f64)>,
    }
    let store = expect_context::<crate::store::QuoteStore>();
    let generation = StoredValue::new(0u64);
    Effect::new(move |_| {
        drawn.track();
        let (compare, interval) = (selection.compare.get(), selection.interval.get());
        selection.symbol.track();
        let ticket = generation.get_value() + 1;
        generation.set_value(ticket);
        leptos::task::spawn_local(async move {
            let mut lines = Vec::new();
            for (i, symbol) in compare.iter().enumerate() {
                let url = format!(
                    "/api/candles/{}?interval={interval}&limit=1000",
                    crate::selection::encode(symbol)
                );
                let text = crate::fetch::text(&url).await.unwrap_or_default();
                let bars: Vec<Candle> = serde_json::from_str(&text).unwrap_or_default();
                let data: Vec<(i64, f64)> = bars.iter().map(|b| (b.t, b.c)).collect();
                lines.push(CompareLine {
                    colour: COMPARE_COLOURS[i % COMPARE_COLOURS.len()],
                    data,
                });
            }
            // A newer choice meanwhile draws instead.
            if generation.get_value() == ticket {
                canvas.with_chart(|chart| chart.set_compare(&json(&lines)));
            }
        });
    });
    // Live: each compared symbol's last trade, at the bar it falls in.
    Effect::new(move |_| {
        let interval = selection.interval.get();
        for (i, symbol) in selection.compare.get().iter().enumerate() {
            let Some(row) = store.row(symbol) else {
                continue;
            };
            let (last, ts) = (row.last.get(), row.ts.get());
            if interval == Interval::D1 || ts <= 0 || last <= 0.0 {
                continue;
            }
            let t = ts - ts.rem_euclid(interval.ms());
            canvas.with_chart(|chart| chart.update_compare(i, t as f64, last));
        }
    });
}

/// Where the links are remembered: `crosshair,range`, either, or nothing.
const LINKS_KEY: &str = "tickertape.links";

/// Reads the viewer's remembered links once, then tells the charts and
/// remembers every change.
pub fn follow_links(links: Links) {
    let storage = || web_sys::window()?.local_storage().ok().flatten();
    // Effects run once the page is hydrated: what the server rendered
    // (both linked) changes then, not under hydration's feet.
    Effect::new(move |loaded: Option<()>| {
        links.crosshair.track();
        links.range.track();
        if loaded.is_none()
            && let Some(saved) = storage().and_then(|s| s.get_item(LINKS_KEY).ok().flatten())
        {
            links.crosshair.set(saved.contains("crosshair"));
            links.range.set(saved.contains("range"));
        }
        let (crosshair, range) = (links.crosshair.get_untracked(), links.range.get_untracked());
        set_linked(crosshair, range);
        if loaded.is_some()
            && let Some(s) = storage()
        {
            let saved = [(crosshair, "crosshair"), (range, "range")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, name)| *name)
                .collect::<Vec<_>>()
                .join(",");
            let _ = s.set_item(LINKS_KEY, &saved);
        }
    });
}
