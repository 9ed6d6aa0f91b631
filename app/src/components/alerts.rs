//! Price alerts on screen: the bell that opens the create form (on each row
//! and in the detail panel), the form itself, the panel that lists every
//! rule and the recent firings, and the toasts a firing shows on every open
//! page.

use std::sync::Arc;

use leptos::either::Either;
use leptos::html::{Input, Select};
use leptos::prelude::*;

use crate::alerts::{Alerts, Fired, NewAlert, is_price, rule_text, state_text};
use crate::connection::Link;
use crate::format;
use crate::protocol::{Alert, AlertCondition, AlertRepeat, DeliveryState, pct_change};
use crate::selection::Selection;
use crate::store::QuoteStore;

/// Opens the alert form for `symbol` (and charts it, so the detail panel
/// that holds the form shows it). Filled while the symbol has an armed rule.
#[component]
pub fn AlertBell(symbol: Arc<str>) -> impl IntoView {
    let alerts = expect_context::<Alerts>();
    let selection = expect_context::<Selection>();
    let watched = {
        let symbol = symbol.clone();
        move || alerts.watches(&symbol)
    };
    let label = {
        let (symbol, watched) = (symbol.clone(), watched.clone());
        move || {
            if watched() {
                format!("Add an alert for {symbol} (it has alerts set)")
            } else {
                format!("Set an alert for {symbol}")
            }
        }
    };
    let open = move |e: leptos::ev::MouseEvent| {
        e.stop_propagation();
        selection.select(&symbol);
        alerts.form.set(Some(symbol.to_string()));
        // The form is in the detail panel, which the alerts panel may cover.
        alerts.open.set(false);
    };
    view! {
        <button type="button" class="bell" class:on=watched aria-label=label title="Set an alert" on:click=open>
            <BellIcon />
        </button>
    }
}

#[component]
fn BellIcon() -> impl IntoView {
    view! {
        <svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true">
            <path
                d="M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15zM10 20.5a2 2 0 0 0 4 0"
                fill="currentColor"
                stroke="currentColor"
                stroke-width="1.4"
                stroke-linejoin="round"
            />
        </svg>
    }
}

/// The create form for `symbol`, its value prefilled with the last trade's
/// price (or change in percent). Its fields hold their own values (read
/// when it is sent), which keeps the page's code small.
#[component]
pub fn AlertForm(symbol: Arc<str>) -> impl IntoView {
    let alerts = expect_context::<Alerts>();
    let store = expect_context::<QuoteStore>();
    let (value, note) = (NodeRef::<Input>::new(), NodeRef::<Input>::new());
    let (condition, repeat) = (NodeRef::<Select>::new(), NodeRef::<Select>::new());
    let price_kind = RwSignal::new(true);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let prefill = {
        let symbol = symbol.clone();
        move |price: bool| {
            let (last, close) = store.row(&symbol).map_or((0.0, 0.0), |r| {
                (r.last.get_untracked(), r.prev_close.get_untracked())
            });
            if price {
                format::price(last).replace(',', "")
            } else {
                format!("{:.2}", pct_change(last, close))
            }
        }
    };
    let initial = prefill(true);
    value.on_load(|el| {
        let _ = el.focus();
        el.select();
    });
    let chosen = move || {
        let text = condition.get().map(|el| el.value()).unwrap_or_default();
        match text.as_str() {
            "below" => AlertCondition::Below,
            "change_pct_above" => AlertCondition::ChangePctAbove,
            "change_pct_below" => AlertCondition::ChangePctBelow,
            _ => AlertCondition::Above,
        }
    };
    let on_condition = move |_| {
        let price = is_price(chosen());
        if price != price_kind.get_untracked() {
            price_kind.set(price);
            if let Some(el) = value.get() {
                el.set_value(&prefill(price));
            }
        }
    };
    let submit = {
        let symbol = symbol.clone();
        move |e: leptos::ev::SubmitEvent| {
            e.prevent_default();
            let read = |field: NodeRef<Input>| field.get().map(|el| el.value()).unwrap_or_default();
            let Some(number) = number(&read(value)) else {
                error.set(Some("Enter a number".into()));
                return;
            };
            let note = read(note);
            let every = repeat.get().is_some_and(|el| el.value() == "every");
            let new = NewAlert {
                symbol: symbol.to_string(),
                condition: chosen(),
                value: number,
                repeat: if every {
                    AlertRepeat::Every
                } else {
                    AlertRepeat::Once
                },
                note: (!note.trim().is_empty()).then(|| note.trim().to_owned()),
            };
            busy.set(true);
            error.set(None);
            send(alerts, new, error, busy);
        }
    };
    view! {
        <form class="alert-form" aria-label=format!("New alert for {symbol}") on:submit=submit data-testid="alert-form">
            <label>
                <span class="muted">"When"</span>
                <select name="condition" node_ref=condition on:change=on_condition>
                    <option value="above">"Price rises above"</option>
                    <option value="below">"Price falls below"</option>
                    <option value="change_pct_above">"Change % rises above"</option>
                    <option value="change_pct_below">"Change % falls below"</option>
                </select>
            </label>
            <div class="alert-form-row">
                <label>
                    <span class="muted">{move || if price_kind.get() { "Price" } else { "Change %" }}</span>
                    <input node_ref=value name="value" type="text" inputmode="decimal" autocomplete="off" value=initial />
                </label>
                <label>
                    <span class="muted">"Repeat"</span>
                    <select name="repeat" node_ref=repeat>
                        <option value="once">"Once"</option>
                        <option value="every">"Every time"</option>
                    </select>
                </label>
            </div>
            <label>
                <span class="muted">"Note"</span>
                <input node_ref=note name="note" type="text" maxlength="500" placeholder="Optional" />
            </label>
            <p class="alert-error" role="alert">{move || error.get()}</p>
            <div class="alert-form-buttons">
                <button type="button" class="button" on:click=move |_| alerts.form.set(None)>"Cancel"</button>
                <button type="submit" class="button primary" disabled=busy>"Create alert"</button>
            </div>
        </form>
    }
}

/// The number `text` says, if it is one (in the browser read by its own
/// parser, which keeps Rust's out of the page's code).
fn number(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    #[cfg(feature = "hydrate")]
    let n = text
        .parse::<js_sys::Number>()
        .map_or(f64::NAN, |n| n.value_of());
    #[cfg(not(feature = "hydrate"))]
    let n = text.parse().unwrap_or(f64::NAN);
    n.is_finite().then_some(n)
}

/// POSTs the rule; closes the form when made, shows the server's reason when not.
fn send(alerts: Alerts, new: NewAlert, error: RwSignal<Option<String>>, busy: RwSignal<bool>) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        match crate::alerts::browser::create(alerts, new).await {
            Ok(_) => alerts.form.set(None),
            Err(why) => error.set(Some(why)),
        }
        busy.set(false);
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (alerts, new, error, busy);
}

/// The top bar's button that opens the alerts panel, with how many are armed.
#[component]
pub fn AlertsButton() -> impl IntoView {
    let alerts = expect_context::<Alerts>();
    let armed = move || alerts.rules.with(|r| r.iter().filter(|a| a.armed).count());
    view! {
        <button
            type="button"
            id="alerts-button"
            class=move || { if armed() > 0 { "alerts-button on" } else { "alerts-button" } }
            aria-label=move || format!("Alerts, {} armed", armed())
            aria-expanded=move || alerts.open.get().to_string()
            aria-controls="alerts-panel"
            on:click=move |_| alerts.open.update(|open| *open = !*open)
            data-testid="alerts-button"
        >
            <BellIcon />
            <span class="alerts-button-label">"Alerts"</span>
            <span class="alerts-count" aria-hidden="true">{armed}</span>
        </button>
    }
}

/// Every rule with its state, and the latest firings: a panel under the
/// top bar's button, closed with its button or Escape (focus goes back).
#[component]
pub fn AlertsPanel() -> impl IntoView {
    let alerts = expect_context::<Alerts>();
    let armed = move || alerts.rules.with(|r| r.iter().filter(|a| a.armed).count());
    let panel = NodeRef::<leptos::html::Section>::new();
    Effect::new(move |was_open: Option<bool>| {
        let open = alerts.open.get();
        if open
            && was_open == Some(false)
            && let Some(el) = panel.get()
        {
            let _ = el.focus();
        }
        open
    });
    let close = move || {
        alerts.open.set(false);
        focus_alerts_button();
    };
    let on_key = move |e: leptos::ev::KeyboardEvent| {
        if e.key() == "Escape" {
            e.stop_propagation();
            close();
        }
    };
    let sound_changed = move |e: leptos::ev::Event| {
        let on = event_target_checked(&e);
        #[cfg(feature = "hydrate")]
        crate::alerts::browser::set_sound(alerts, on);
        #[cfg(not(feature = "hydrate"))]
        alerts.sound.set(on);
    };
    view! {
        <section
            id="alerts-panel"
            class="panel alerts-panel"
            aria-labelledby="alerts-title"
            tabindex="-1"
            hidden=move || !alerts.open.get()
            node_ref=panel
            on:keydown=on_key
            data-testid="alerts"
        >
            <div class="panel-head">
                <h2 id="alerts-title">"Alerts"</h2>
                <span class="muted" data-testid="alerts-armed">{move || format!("{} armed", armed())}</span>
                <label class="sound-toggle">
                    <input type="checkbox" prop:checked=move || alerts.sound.get() on:change=sound_changed />
                    "Sound"
                </label>
                <button type="button" class="toast-close" aria-label="Close alerts" on:click=move |_| close()>
                    "×"
                </button>
            </div>
            // Rules change rarely (a person makes or deletes one, or one
            // fires): the list is drawn again whole.
            {move || {
                let rules = alerts.rules.get();
                if rules.is_empty() {
                    Either::Left(view! { <p class="alerts-empty muted">"No alerts yet. Use a bell to set one."</p> })
                } else {
                    Either::Right(view! {
                        <ul class="alert-list" aria-label="Alert rules">
                            {rules.into_iter().map(|alert| view! { <AlertItem alert /> }).collect_view()}
                        </ul>
                    })
                }
            }}
            <FiringLog />
        </section>
    }
}

#[component]
fn AlertItem(alert: Alert) -> impl IntoView {
    let alerts = expect_context::<Alerts>();
    let selection = expect_context::<Selection>();
    let link = expect_context::<Link>();
    let rule = rule_text(alert.condition, alert.value);
    let symbol = alert.symbol.clone();
    let label = format!("Delete alert {symbol} {rule}");
    let id = alert.id;
    let state = {
        let alert = alert.clone();
        move || state_text(&alert, link.now_ms.get(), link.tz_offset_min.get())
    };
    let delete = move |_| remove(alerts, id);
    let every = (alert.repeat == AlertRepeat::Every).then_some(" · every time");
    view! {
        <li class="alert-item" class:armed=alert.armed data-alert-id=id>
            <button type="button" class="alert-symbol" on:click=move |_| selection.select(&symbol)>
                {alert.symbol.clone()}
            </button>
            <span class="alert-rule">{rule}{every}</span>
            <span class="alert-state" data-testid="alert-state">{state}</span>
            <button type="button" class="row-remove" aria-label=label on:click=delete>"×"</button>
            {alert.note.map(|n| view! { <span class="alert-note">{n}</span> })}
        </li>
    }
}

/// Gives focus back to the button that opened the panel.
fn focus_alerts_button() {
    #[cfg(feature = "hydrate")]
    if let Some(button) = document()
        .get_element_by_id("alerts-button")
        .and_then(|el| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el).ok())
    {
        let _ = button.focus();
    }
}

fn remove(alerts: Alerts, id: u64) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        if let Err(why) = crate::alerts::browser::delete(alerts, id).await {
            leptos::logging::warn!("the alert could not be deleted: {why}");
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (alerts, id);
}

/// The latest firings, newest first, with each webhook's outcome.
#[component]
fn FiringLog() -> impl IntoView {
    let alerts = expect_context::<Alerts>();
    let link = expect_context::<Link>();
    // Where a firing's webhook delivery stands (its rule's history has it).
    let delivery = move |rules: &[Alert], f: &Fired| {
        let rule = rules.iter().find(|a| a.id == f.id)?;
        let firing = rule.history.iter().find(|h| h.ts == f.ts)?;
        Some(match firing.webhook.as_ref()?.state {
            DeliveryState::Pending => " · webhook pending",
            DeliveryState::Delivered => " · webhook sent",
            DeliveryState::Failed => " · webhook failed",
        })
    };
    // Drawn again whole when a firing or a delivery's outcome arrives.
    move || {
        let log = alerts.log.get();
        let offset = link.tz_offset_min.get_untracked();
        (!log.is_empty()).then(|| {
            let items = alerts.rules.with(|rules| {
                log.iter()
                    .map(|f| {
                        view! {
                            <li>
                                <time>{format::clock_time(f.ts, offset)}</time>
                                " "
                                <span class="alert-log-what">{f.title()}</span>
                                " "
                                <span class="alert-log-price">
                                    {format!("at {}{}", format::price(f.price), delivery(rules, f).unwrap_or_default())}
                                </span>
                            </li>
                        }
                    })
                    .collect_view()
            });
            view! {
                <h3 class="alerts-sub">"Recent firings"</h3>
                <ol class="alert-log" aria-label="Recent firings" data-testid="alert-log">{items}</ol>
            }
        })
    }
}

/// Firings as toasts, announced to screen readers as they appear.
#[component]
pub fn Toasts() -> impl IntoView {
    let alerts = expect_context::<Alerts>();
    let link = expect_context::<Link>();
    view! {
        <div class="toasts" aria-live="assertive" data-testid="toasts">
            <For each=move || alerts.toasts.get() key=|t| t.key let:toast>
                <div class="toast" data-testid="toast">
                    <span class="toast-icon" aria-hidden="true"><BellIcon /></span>
                    <div class="toast-body">
                        <strong>{toast.fired.title()}</strong>
                        <span>
                            {format!(
                                "Traded at {} · {}",
                                format::price(toast.fired.price),
                                format::clock_time(toast.fired.ts, link.tz_offset_min.get_untracked()),
                            )}
                        </span>
                    </div>
                    <button type="button" class="toast-close" aria-label="Dismiss" on:click=move |_| alerts.dismiss(toast.key)>
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
