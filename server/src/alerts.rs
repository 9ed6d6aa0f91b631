//! Price alerts: rules checked on every trade, on the trade's own price.
//!
//! A rule fires on a crossing: the figure it watches (the price, or the
//! change in percent from the previous close) was on the other side of its
//! value, or equal to it, at the previous trade, and is beyond it at this
//! one. So a cross that reverses before the next flush still fires, and a
//! price that stays beyond the level does not fire again. A `once` rule is
//! then disarmed; an `every` rule is re-armed once the figure has moved back
//! past the value by a margin (the hysteresis) and a cool-down has passed.
//! A rule past its expiry is disarmed.
//!
//! [`AlertBook`] holds the rules for the hub (which checks them on every
//! trade) and the HTTP API (which makes, lists and deletes them), and tells
//! every connected page when one fires. On a history store, rules and
//! their state (armed, last fired) are stored as they change, off the
//! hub's task, and come back at start. In a cluster only the ingest node's
//! book holds rules; an edge's passes on the ingest node's events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use app::protocol::{
    ALERT_HISTORY, Alert, AlertCondition, AlertRepeat, Delivery, DeliveryState, Firing, ServerMsg,
    pct_change,
};
use tokio::sync::broadcast;

use crate::metrics::SharedMetrics;
use crate::store::SharedStore;
use crate::webhook::{Job, WebhookConfig, Webhooks};

/// How `every` rules are re-armed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rearm {
    /// How far back past a price level the price must go, as a fraction of
    /// the level (0.001: 0.1 %).
    pub price_fraction: f64,
    /// How far back past a change-% value the change must go, in points.
    pub pct_points: f64,
    /// The least time between two firings of one rule (ms).
    pub cooldown_ms: i64,
}

impl Default for Rearm {
    fn default() -> Rearm {
        Rearm {
            price_fraction: 0.001,
            pct_points: 0.1,
            cooldown_ms: 60_000,
        }
    }
}

/// A rule that fired, on which trade.
#[derive(Clone, Debug, PartialEq)]
pub struct Fired {
    pub id: u64,
    pub symbol: String,
    pub condition: AlertCondition,
    pub value: f64,
    /// The trade's price and time.
    pub price: f64,
    pub ts: i64,
    /// Where the firing is POSTed, if anywhere.
    pub webhook: Option<String>,
}

/// One rule and what it saw last.
#[derive(Clone, Debug)]
struct Rule {
    alert: Alert,
    /// The watched figure at the previous trade (none before the first).
    previous: Option<f64>,
    /// Its state changed since it was last stored.
    changed: bool,
}

impl Rule {
    fn figure(&self, price: f64, prev_close: f64) -> f64 {
        match self.alert.condition {
            AlertCondition::Above | AlertCondition::Below => price,
            AlertCondition::ChangePctAbove | AlertCondition::ChangePctBelow => {
                pct_change(price, prev_close)
            }
        }
    }

    /// Whether going from `before` to `now` crosses the value in the rule's direction.
    fn crosses(&self, before: f64, now: f64) -> bool {
        let v = self.alert.value;
        match self.alert.condition {
            AlertCondition::Above | AlertCondition::ChangePctAbove => before <= v && now > v,
            AlertCondition::Below | AlertCondition::ChangePctBelow => before >= v && now < v,
        }
    }

    /// Whether `now` is back past the value by the re-arming margin.
    fn back(&self, now: f64, rearm: &Rearm) -> bool {
        let v = self.alert.value;
        let margin = match self.alert.condition {
            AlertCondition::Above | AlertCondition::Below => v.abs() * rearm.price_fraction,
            AlertCondition::ChangePctAbove | AlertCondition::ChangePctBelow => rearm.pct_points,
        };
        match self.alert.condition {
            AlertCondition::Above | AlertCondition::ChangePctAbove => now <= v - margin,
            AlertCondition::Below | AlertCondition::ChangePctBelow => now >= v + margin,
        }
    }
}

/// Every rule, by symbol.
#[derive(Debug, Default)]
pub struct Rules {
    by_symbol: HashMap<String, Vec<Rule>>,
    rearm: Rearm,
}

impl Rules {
    pub fn new(rearm: Rearm) -> Rules {
        Rules {
            by_symbol: HashMap::new(),
            rearm,
        }
    }

    /// Adds a rule; `now` is the symbol's current price and previous close,
    /// if it has traded: the first crossing is measured from there (a rule
    /// made while the price is already beyond its level fires only once the
    /// price has come back and crossed).
    pub fn add(&mut self, alert: Alert, now: Option<(f64, f64)>) {
        let mut rule = Rule {
            alert,
            previous: None,
            changed: false,
        };
        rule.previous = now.map(|(price, prev_close)| rule.figure(price, prev_close));
        self.by_symbol
            .entry(rule.alert.symbol.clone())
            .or_default()
            .push(rule);
    }

    /// Removes the rule `id`; whether there was one.
    pub fn remove(&mut self, id: u64) -> bool {
        let mut found = false;
        for rules in self.by_symbol.values_mut() {
            let before = rules.len();
            rules.retain(|r| r.alert.id != id);
            found |= rules.len() != before;
        }
        self.by_symbol.retain(|_, rules| !rules.is_empty());
        found
    }

    /// Every rule, by id.
    pub fn list(&self) -> Vec<Alert> {
        let mut all: Vec<Alert> = self
            .by_symbol
            .values()
            .flatten()
            .map(|r| r.alert.clone())
            .collect();
        all.sort_by_key(|a| a.id);
        all
    }

    /// Rules whose state (armed, last fired) changed since the last call.
    pub fn take_changed(&mut self) -> Vec<Alert> {
        let mut changed = Vec::new();
        for rule in self.by_symbol.values_mut().flatten() {
            if std::mem::take(&mut rule.changed) {
                changed.push(rule.alert.clone());
            }
        }
        changed
    }

    /// Records where the webhook delivery of rule `id`'s firing at `ts`
    /// stands; the rule as it is now, if it still has that firing.
    pub fn delivered(&mut self, id: u64, ts: i64, delivery: Delivery) -> Option<Alert> {
        let rule = self
            .by_symbol
            .values_mut()
            .flatten()
            .find(|r| r.alert.id == id)?;
        let firing = rule.alert.history.iter_mut().rev().find(|f| f.ts == ts)?;
        firing.webhook = Some(delivery);
        Some(rule.alert.clone())
    }

    /// Whether any rule watches `symbol` (the hub's fast path).
    pub fn watches(&self, symbol: &str) -> bool {
        self.by_symbol.contains_key(symbol)
    }

    /// Checks every rule of `symbol` against one trade, in the order trades
    /// arrive; returns the ones that fired.
    pub fn on_trade(&mut self, symbol: &str, price: f64, prev_close: f64, ts: i64) -> Vec<Fired> {
        let Some(rules) = self.by_symbol.get_mut(symbol) else {
            return Vec::new();
        };
        let rearm = self.rearm;
        let mut fired = Vec::new();
        for rule in rules {
            let now = rule.figure(price, prev_close);
            if !now.is_finite() {
                continue;
            }
            let a = &rule.alert;
            let armed = a.armed;
            if a.expires.is_some_and(|at| ts >= at) {
                rule.alert.armed = false;
            } else if !a.armed
                && a.repeat == AlertRepeat::Every
                && a.last_fired.is_some_and(|at| ts - at >= rearm.cooldown_ms)
                && rule.back(now, &rearm)
            {
                rule.alert.armed = true;
            }
            if rule.alert.armed
                && let Some(before) = rule.previous
                && rule.crosses(before, now)
            {
                rule.alert.armed = false;
                rule.alert.last_fired = Some(ts);
                let history = &mut rule.alert.history;
                history.push(Firing {
                    ts,
                    price,
                    webhook: rule.alert.webhook.as_ref().map(|_| Delivery {
                        state: DeliveryState::Pending,
                        attempts: 0,
                        status: None,
                        error: None,
                    }),
                });
                if history.len() > ALERT_HISTORY {
                    history.drain(..history.len() - ALERT_HISTORY);
                }
                fired.push(Fired {
                    id: rule.alert.id,
                    symbol: symbol.to_string(),
                    condition: rule.alert.condition,
                    value: rule.alert.value,
                    price,
                    ts,
                    webhook: rule.alert.webhook.clone(),
                });
            }
            rule.changed |= rule.alert.armed != armed || rule.alert.last_fired == Some(ts);
            rule.previous = Some(now);
        }
        fired
    }
}

/// The longest note an alert may carry.
pub const MAX_NOTE: usize = 500;
/// Rules at most (a bound on what one client can make the hub check).
pub const MAX_RULES: usize = 10_000;
/// Alert messages a slow page may fall behind by before it misses some.
const FANOUT: usize = 1_024;

/// What `POST /api/alerts` asks for (its schema is the request body's in
/// `/api/openapi.json`; [`NewAlert::parse`] reads it).
#[derive(Clone, Debug, utoipa::ToSchema)]
pub struct NewAlert {
    pub symbol: String,
    pub condition: AlertCondition,
    pub value: f64,
    /// Default `once`.
    #[schema(required = false)]
    pub repeat: AlertRepeat,
    pub note: Option<String>,
    /// Where to POST each firing (allowed by `--webhook-allow`).
    pub webhook: Option<String>,
    /// Unix ms after which it no longer fires.
    pub expires: Option<i64>,
}

impl NewAlert {
    /// Reads a request body, naming the field that is wrong.
    pub fn parse(body: &[u8]) -> Result<NewAlert, Refused> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| refused("body", format!("not JSON: {e}")))?;
        let serde_json::Value::Object(fields) = value else {
            return Err(refused("body", "must be a JSON object"));
        };
        const KNOWN: [&str; 7] = [
            "symbol",
            "condition",
            "value",
            "repeat",
            "note",
            "webhook",
            "expires",
        ];
        if let Some(unknown) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(Refused {
                field: "body",
                reason: format!("unknown field {unknown:?}"),
            });
        }
        fn field<T: serde::de::DeserializeOwned>(
            fields: &serde_json::Map<String, serde_json::Value>,
            name: &'static str,
            what: &str,
        ) -> Result<Option<T>, Refused> {
            match fields.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => serde_json::from_value(v.clone())
                    .map(Some)
                    .map_err(|_| refused(name, format!("must be {what}"))),
            }
        }
        let required = |name: &'static str| refused(name, "is required");
        Ok(NewAlert {
            symbol: field(&fields, "symbol", "a symbol")?.ok_or_else(|| required("symbol"))?,
            condition: field(
                &fields,
                "condition",
                "above, below, change_pct_above or change_pct_below",
            )?
            .ok_or_else(|| required("condition"))?,
            value: field(&fields, "value", "a number")?.ok_or_else(|| required("value"))?,
            repeat: field(&fields, "repeat", "once or every")?.unwrap_or_default(),
            note: field(&fields, "note", "a string")?,
            webhook: field(&fields, "webhook", "a URL")?,
            expires: field(&fields, "expires", "a time in Unix milliseconds")?,
        })
    }
}

/// Why a rule was not made: the field and what is wrong with it.
#[derive(Debug, PartialEq)]
pub struct Refused {
    pub field: &'static str,
    pub reason: String,
}

/// The rules, shared by the hub and the API, and the channel firings and
/// changes reach every session through (as encoded `ServerMsg`s).
pub struct AlertBook {
    rules: Mutex<Rules>,
    /// How many rules there are: the hub skips the lock while there are none.
    count: AtomicUsize,
    next_id: AtomicU64,
    events: broadcast::Sender<Arc<str>>,
    /// Where rules are kept, if anywhere.
    store: OnceLock<SharedStore>,
    /// Where firings are POSTed (none: webhooks are refused).
    webhooks: OnceLock<Webhooks>,
}

impl Default for AlertBook {
    fn default() -> AlertBook {
        AlertBook {
            rules: Mutex::new(Rules::default()),
            count: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            events: broadcast::channel(FANOUT).0,
            store: OnceLock::new(),
            webhooks: OnceLock::new(),
        }
    }
}

impl AlertBook {
    fn rules(&self) -> MutexGuard<'_, Rules> {
        self.rules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps rules in `store` from now on, starting with the ones it has;
    /// `current` gives a symbol's last price and previous close.
    pub fn keep_in(&self, store: SharedStore, current: impl Fn(&str) -> Option<(f64, f64)>) {
        match store.alerts() {
            Ok((alerts, next)) => {
                self.next_id.fetch_max(next, Ordering::Relaxed);
                let mut rules = self.rules();
                for alert in alerts {
                    self.next_id.fetch_max(alert.id + 1, Ordering::Relaxed);
                    let now = current(&alert.symbol);
                    rules.add(alert, now);
                    self.count.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::error!(error = %e, "stored alerts could not be read"),
        }
        let _ = self.store.set(store);
    }

    /// POSTs firings of rules with a webhook from now on (one allowed by
    /// `config`), on the current runtime.
    pub fn deliver_webhooks(self: &Arc<Self>, config: WebhookConfig, metrics: SharedMetrics) {
        let book = Arc::downgrade(self);
        let report = Arc::new(move |id: u64, ts: i64, delivery: Delivery| {
            let Some(book) = book.upgrade() else { return };
            let alert = book.rules().delivered(id, ts, delivery);
            if let Some(alert) = alert {
                book.changed(alert);
            }
        });
        let _ = self.webhooks.set(Webhooks::start(config, metrics, report));
    }

    /// Re-arms `every` rules with `rearm` from now on.
    pub fn rearm_with(&self, rearm: Rearm) {
        self.rules().rearm = rearm;
    }

    /// Stores a rule whose state changed and tells every page.
    fn changed(&self, alert: Alert) {
        self.save(alert.clone());
        self.tell(&ServerMsg::AlertUpdated { alert });
    }

    /// Stores `alert` as it is now, off the caller's task.
    fn save(&self, alert: Alert) {
        if let Some(store) = self.store.get().cloned() {
            tokio::task::spawn_blocking(move || {
                if let Err(e) = store.put_alert(&alert) {
                    tracing::warn!(error = %e, id = alert.id, "an alert could not be stored");
                }
            });
        }
    }

    /// Firings and rule changes, as encoded messages, for one session.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.events.subscribe()
    }

    /// Tells every session an event another node's book told its own (an
    /// edge passing on the ingest node's), as it was encoded there.
    pub fn relay(&self, event: Arc<str>) {
        // No session listening is fine.
        let _ = self.events.send(event);
    }

    pub fn list(&self) -> Vec<Alert> {
        self.rules().list()
    }

    /// Makes a rule from `new` at `now` (Unix ms); `current` is the symbol's
    /// price and previous close, if it has traded.
    pub fn create(
        &self,
        new: NewAlert,
        now: i64,
        current: Option<(f64, f64)>,
    ) -> Result<Alert, Refused> {
        if !new.value.is_finite() {
            return Err(refused("value", "must be a finite number"));
        }
        if matches!(new.condition, AlertCondition::Above | AlertCondition::Below)
            && new.value <= 0.0
        {
            return Err(refused("value", "a price level must be above 0"));
        }
        if new
            .note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE)
        {
            return Err(refused("note", format!("at most {MAX_NOTE} characters")));
        }
        let webhook = match (&new.webhook, self.webhooks.get()) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(refused(
                    "webhook",
                    "this server sends no webhooks (it is started without --webhook-allow)",
                ));
            }
            (Some(raw), Some(webhooks)) => Some(
                webhooks
                    .config()
                    .check(raw)
                    .map_err(|reason| refused("webhook", reason))?
                    .to_string(),
            ),
        };
        if new.expires.is_some_and(|at| at <= now) {
            return Err(refused("expires", "must be in the future (Unix ms)"));
        }
        let mut rules = self.rules();
        if self.count.load(Ordering::Relaxed) >= MAX_RULES {
            return Err(refused("symbol", format!("at most {MAX_RULES} alerts")));
        }
        let alert = Alert {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            symbol: new.symbol,
            condition: new.condition,
            value: new.value,
            repeat: new.repeat,
            note: new.note,
            webhook,
            expires: new.expires,
            armed: true,
            created: now,
            last_fired: None,
            history: Vec::new(),
        };
        rules.add(alert.clone(), current);
        self.count.fetch_add(1, Ordering::Relaxed);
        drop(rules);
        self.save(alert.clone());
        self.tell(&ServerMsg::AlertCreated {
            alert: alert.clone(),
        });
        Ok(alert)
    }

    /// Deletes rule `id`; whether there was one.
    pub fn delete(&self, id: u64) -> bool {
        let found = self.rules().remove(id);
        if found {
            self.count.fetch_sub(1, Ordering::Relaxed);
            if let Some(store) = self.store.get().cloned() {
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = store.delete_alert(id) {
                        tracing::warn!(error = %e, id, "a deleted alert could not be removed from the store");
                    }
                });
            }
            self.tell(&ServerMsg::AlertDeleted { id });
        }
        found
    }

    /// Checks one trade (the hub calls this for every trade it folds).
    pub fn on_trade(&self, symbol: &str, price: f64, prev_close: f64, ts: i64) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let (fired, changed) = {
            let mut rules = self.rules();
            let fired = rules.on_trade(symbol, price, prev_close, ts);
            (fired, rules.take_changed())
        };
        for f in fired {
            tracing::info!(id = f.id, symbol = %f.symbol, price = f.price, ts = f.ts, "alert fired");
            let body = self.tell(&ServerMsg::Alert {
                id: f.id,
                symbol: f.symbol,
                condition: f.condition,
                value: f.value,
                price: f.price,
                ts: f.ts,
            });
            if let (Some(webhooks), Some(url)) = (self.webhooks.get(), f.webhook) {
                // Checked again: the allowed targets may have changed since it was made.
                match webhooks.config().check(&url) {
                    Ok(url) => {
                        webhooks.send(Job {
                            alert: f.id,
                            ts: f.ts,
                            url,
                            body,
                        });
                    }
                    Err(reason) => {
                        tracing::warn!(id = f.id, %reason, "a firing's webhook is no longer allowed; not sent")
                    }
                }
            }
        }
        for alert in changed {
            self.changed(alert);
        }
    }

    /// Sends `msg` to every session; the encoded message.
    fn tell(&self, msg: &ServerMsg) -> Arc<str> {
        let text: Arc<str> = crate::wire::encode(msg).into();
        // No session listening is fine.
        let _ = self.events.send(text.clone());
        text
    }
}

fn refused(field: &'static str, reason: impl Into<String>) -> Refused {
    Refused {
        field,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: u64, condition: AlertCondition, value: f64, repeat: AlertRepeat) -> Alert {
        Alert {
            id,
            symbol: "AAPL".into(),
            condition,
            value,
            repeat,
            note: None,
            webhook: None,
            expires: None,
            armed: true,
            created: 0,
            last_fired: None,
            history: Vec::new(),
        }
    }

    /// The ids that fired on each trade of `prices` (one a second).
    fn run(rules: &mut Rules, prices: &[f64]) -> Vec<Vec<u64>> {
        prices
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let fired = rules.on_trade("AAPL", *p, 200.0, i as i64 * 1_000);
                fired.iter().map(|f| f.id).collect()
            })
            .collect()
    }

    #[test]
    fn a_cross_that_reverses_at_once_fires_once_and_staying_beyond_does_not_fire_again() {
        let mut rules = Rules::default();
        rules.add(
            alert(1, AlertCondition::Above, 230.5, AlertRepeat::Once),
            Some((229.0, 200.0)),
        );
        let fired = run(&mut rules, &[230.0, 230.5, 231.0, 229.9, 232.0, 233.0]);
        assert_eq!(
            fired,
            [vec![], vec![], vec![1], vec![], vec![], vec![]],
            "equal is not beyond; once"
        );
        assert!(!rules.list()[0].armed);
        assert_eq!(rules.list()[0].last_fired, Some(2_000));
    }

    #[test]
    fn a_rule_made_beyond_its_level_waits_for_a_real_crossing() {
        let mut rules = Rules::default();
        rules.add(
            alert(1, AlertCondition::Below, 100.0, AlertRepeat::Once),
            Some((99.0, 200.0)),
        );
        let fired = run(&mut rules, &[98.0, 101.0, 99.5]);
        assert_eq!(fired, [vec![], vec![], vec![1]]);
        // Without a price at creation, the first trade only sets where it was.
        let mut rules = Rules::default();
        rules.add(
            alert(2, AlertCondition::Below, 100.0, AlertRepeat::Once),
            None,
        );
        let none: [Vec<u64>; 2] = [vec![], vec![]];
        assert_eq!(run(&mut rules, &[99.0, 98.0]), none);
    }

    #[test]
    fn every_rearms_after_the_price_went_back_by_the_margin_and_the_cooldown() {
        let mut rules = Rules::new(Rearm {
            price_fraction: 0.01, // back 1.00 below 100
            pct_points: 0.1,
            cooldown_ms: 3_000,
        });
        rules.add(
            alert(7, AlertCondition::Above, 100.0, AlertRepeat::Every),
            Some((99.0, 200.0)),
        );
        let fired = run(
            &mut rules,
            // 1 s apart: fires at 1; back only 0.5 at 2 (not re-armed); back
            // 1.0 at 3 but within the cool-down; at 4 back and cooled: armed;
            // crosses at 5.
            &[99.0, 100.5, 99.5, 99.0, 98.9, 100.1],
        );
        assert_eq!(fired, [vec![], vec![7], vec![], vec![], vec![], vec![7]]);
    }

    #[test]
    fn change_percent_rules_watch_the_change_from_the_previous_close() {
        let mut rules = Rules::default();
        rules.add(
            alert(3, AlertCondition::ChangePctBelow, -2.0, AlertRepeat::Once),
            Some((199.0, 200.0)),
        );
        rules.add(
            alert(4, AlertCondition::ChangePctAbove, 1.0, AlertRepeat::Once),
            Some((199.0, 200.0)),
        );
        // -1.5 %, -2.0 % (equal), -2.5 %: fires; then +1.5 %.
        let fired = run(&mut rules, &[197.0, 196.0, 195.0, 203.0]);
        assert_eq!(fired, [vec![], vec![], vec![3], vec![4]]);
    }

    #[test]
    fn what_changed_is_handed_out_once_to_be_stored() {
        let mut rules = Rules::default();
        rules.add(
            alert(1, AlertCondition::Above, 100.0, AlertRepeat::Once),
            Some((99.0, 200.0)),
        );
        rules.add(
            alert(2, AlertCondition::Below, 50.0, AlertRepeat::Once),
            Some((99.0, 200.0)),
        );
        run(&mut rules, &[99.5]);
        assert!(rules.take_changed().is_empty(), "nothing fired");
        run(&mut rules, &[99.0, 101.0]);
        let changed = rules.take_changed();
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (changed[0].id, changed[0].armed, changed[0].last_fired),
            (1, false, Some(1_000))
        );
        assert!(rules.take_changed().is_empty(), "handed out once");
    }

    #[test]
    fn an_expired_rule_does_not_fire_and_removal_is_exact() {
        let mut rules = Rules::default();
        let mut a = alert(5, AlertCondition::Above, 100.0, AlertRepeat::Every);
        a.expires = Some(1_000);
        rules.add(a, Some((99.0, 200.0)));
        rules.add(
            alert(6, AlertCondition::Above, 100.0, AlertRepeat::Once),
            Some((99.0, 200.0)),
        );
        assert_eq!(
            run(&mut rules, &[99.0, 101.0]),
            [vec![], vec![6]],
            "5 expired at 1 s"
        );
        assert!(rules.watches("AAPL"));
        assert!(rules.remove(6));
        assert!(!rules.remove(6));
        assert!(rules.remove(5));
        assert!(!rules.watches("AAPL"));
        assert!(rules.on_trade("MSFT", 1.0, 1.0, 0).is_empty());
    }
}
