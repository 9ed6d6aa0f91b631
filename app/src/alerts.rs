//! The viewer's price alerts as the page knows them: the rules (from
//! `GET /api/alerts`, then kept current by the server's `alert_*`
//! messages), a log of recent firings, the toasts on screen, where the
//! create form is open, and whether firings make a sound.
//!
//! Rules live on the server, so every open page shows the same ones; what
//! reaches the page is folded in here ([`Alerts::apply`]), and the browser
//! side (toasts' timers, notifications, sound, requests) acts on what it
//! returns.

use leptos::prelude::*;

use crate::format;
use crate::protocol::{Alert, AlertCondition, AlertRepeat, ServerMsg};

/// Firings the log keeps.
pub const LOG_SIZE: usize = 50;
/// Toasts on screen at once (older ones go first).
pub const MAX_TOASTS: usize = 4;
/// How long a toast stays (ms).
pub const TOAST_MS: u32 = 8_000;
/// Where the sound choice is kept.
pub const SOUND_KEY: &str = "tickertape.alert-sound";

/// One firing, as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fired {
    pub id: u64,
    pub symbol: String,
    pub condition: AlertCondition,
    pub value: f64,
    pub price: f64,
    pub ts: i64,
}

impl Fired {
    /// `AAPL above 230.50`.
    pub fn title(&self) -> String {
        format!("{} {}", self.symbol, rule_text(self.condition, self.value))
    }
}

/// What the server said about alerts.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertNews {
    Fired(Fired),
    Created(Alert),
    Deleted(u64),
    Updated(Alert),
}

impl AlertNews {
    /// The news a server message carries, if it is about alerts.
    pub fn from_msg(msg: ServerMsg) -> Option<AlertNews> {
        Some(match msg {
            ServerMsg::Alert {
                id,
                symbol,
                condition,
                value,
                price,
                ts,
            } => AlertNews::Fired(Fired {
                id,
                symbol,
                condition,
                value,
                price,
                ts,
            }),
            ServerMsg::AlertCreated { alert } => AlertNews::Created(alert),
            ServerMsg::AlertDeleted { id } => AlertNews::Deleted(id),
            ServerMsg::AlertUpdated { alert } => AlertNews::Updated(alert),
            _ => return None,
        })
    }
}

/// A toast on screen: a firing, with a key to remove it by.
#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub key: u64,
    pub fired: Fired,
}

/// The page's alerts, shared as context.
#[derive(Clone, Copy)]
pub struct Alerts {
    /// Every rule, by id.
    pub rules: RwSignal<Vec<Alert>>,
    /// Recent firings, newest first.
    pub log: RwSignal<Vec<Fired>>,
    pub toasts: RwSignal<Vec<Toast>>,
    /// The symbol the create form is open for.
    pub form: RwSignal<Option<String>>,
    /// Whether the alerts panel is open.
    pub open: RwSignal<bool>,
    /// Whether a firing plays a sound (the viewer's choice; off by default).
    pub sound: RwSignal<bool>,
    next_toast: StoredValue<u64>,
}

impl Default for Alerts {
    fn default() -> Alerts {
        Alerts::new()
    }
}

impl Alerts {
    pub fn new() -> Alerts {
        Alerts {
            rules: RwSignal::new(Vec::new()),
            log: RwSignal::new(Vec::new()),
            toasts: RwSignal::new(Vec::new()),
            form: RwSignal::new(None),
            open: RwSignal::new(false),
            sound: RwSignal::new(false),
            next_toast: StoredValue::new(0),
        }
    }

    /// The rules as the server lists them now; their histories fill the
    /// log (firings already in it are kept once).
    pub fn load(&self, rules: Vec<Alert>) {
        let mut seen: Vec<Fired> = rules
            .iter()
            .flat_map(|a| {
                a.history.iter().map(|f| Fired {
                    id: a.id,
                    symbol: a.symbol.clone(),
                    condition: a.condition,
                    value: a.value,
                    price: f.price,
                    ts: f.ts,
                })
            })
            .collect();
        self.log.update(|log| {
            seen.retain(|f| !log.iter().any(|l| l.id == f.id && l.ts == f.ts));
            log.append(&mut seen);
            log.sort_by(|a, b| b.ts.cmp(&a.ts).then(b.id.cmp(&a.id)));
            log.truncate(LOG_SIZE);
        });
        let mut rules = rules;
        rules.sort_by_key(|a| a.id);
        self.rules.set(rules);
    }

    /// Folds in what the server said; a firing is returned (and toasted)
    /// for the browser to notify and sound.
    pub fn apply(&self, news: AlertNews) -> Option<Toast> {
        match news {
            AlertNews::Created(alert) | AlertNews::Updated(alert) => {
                self.put(alert);
                None
            }
            AlertNews::Deleted(id) => {
                self.rules.update(|rules| rules.retain(|a| a.id != id));
                None
            }
            AlertNews::Fired(fired) => {
                self.log.update(|log| {
                    log.insert(0, fired.clone());
                    log.truncate(LOG_SIZE);
                });
                let key = self.next_toast.get_value();
                self.next_toast.set_value(key + 1);
                let toast = Toast { key, fired };
                self.toasts.update(|toasts| {
                    toasts.push(toast.clone());
                    if toasts.len() > MAX_TOASTS {
                        toasts.remove(0);
                    }
                });
                Some(toast)
            }
        }
    }

    /// Adds or replaces a rule (a page's own creation arrives twice: its
    /// answer and the server's message).
    pub fn put(&self, alert: Alert) {
        self.rules
            .update(|rules| match rules.iter_mut().find(|a| a.id == alert.id) {
                Some(held) => *held = alert,
                None => {
                    rules.push(alert);
                    rules.sort_by_key(|a| a.id);
                }
            });
    }

    pub fn dismiss(&self, key: u64) {
        self.toasts.update(|toasts| toasts.retain(|t| t.key != key));
    }

    /// Whether `symbol` has an armed rule (its bell shows it).
    pub fn watches(&self, symbol: &str) -> bool {
        self.rules
            .with(|rules| rules.iter().any(|a| a.armed && a.symbol == symbol))
    }
}

/// `above 230.50`, `change below −2.00%`.
pub fn rule_text(condition: AlertCondition, value: f64) -> String {
    match condition {
        AlertCondition::Above => format!("above {}", format::price(value)),
        AlertCondition::Below => format!("below {}", format::price(value)),
        AlertCondition::ChangePctAbove => format!("change above {}", format::change_pct(value)),
        AlertCondition::ChangePctBelow => format!("change below {}", format::change_pct(value)),
    }
}

/// Where a rule stands: `Armed`, `Fired 14:32:05` (a `once` rule spent), or
/// `Cooling down` (an `every` rule waiting to be re-armed), `Expired`.
pub fn state_text(alert: &Alert, now_ms: f64, offset_min: i32) -> String {
    if alert.expires.is_some_and(|at| (at as f64) <= now_ms) {
        return "Expired".into();
    }
    if alert.armed {
        return "Armed".into();
    }
    match (alert.repeat, alert.last_fired) {
        (AlertRepeat::Every, _) => "Re-arming".into(),
        (AlertRepeat::Once, Some(at)) => format!("Fired {}", format::clock_time(at, offset_min)),
        (AlertRepeat::Once, None) => "Off".into(),
    }
}

/// Whether a condition watches a price (else the change in percent).
pub fn is_price(condition: AlertCondition) -> bool {
    matches!(condition, AlertCondition::Above | AlertCondition::Below)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Firing;

    fn alert(id: u64, history: &[(i64, f64)]) -> Alert {
        Alert {
            id,
            symbol: "AAPL".into(),
            condition: AlertCondition::Above,
            value: 230.5,
            repeat: AlertRepeat::Once,
            note: None,
            webhook: None,
            expires: None,
            armed: history.is_empty(),
            created: 0,
            last_fired: history.last().map(|h| h.0),
            history: history
                .iter()
                .map(|&(ts, price)| Firing {
                    ts,
                    price,
                    webhook: None,
                })
                .collect(),
        }
    }

    fn fired(id: u64, ts: i64) -> Fired {
        Fired {
            id,
            symbol: "AAPL".into(),
            condition: AlertCondition::Above,
            value: 230.5,
            price: 231.0,
            ts,
        }
    }

    #[test]
    fn news_keeps_the_rules_and_the_log_as_the_server_has_them() {
        let owner = Owner::new();
        owner.set();
        let alerts = Alerts::new();
        alerts.load(vec![alert(2, &[(1_000, 231.0)]), alert(1, &[])]);
        assert_eq!(
            alerts
                .rules
                .with(|r| r.iter().map(|a| a.id).collect::<Vec<_>>()),
            [1, 2]
        );
        assert_eq!(alerts.log.get(), [fired(2, 1_000)]);
        assert!(alerts.watches("AAPL") && !alerts.watches("MSFT"));

        assert_eq!(alerts.apply(AlertNews::Created(alert(3, &[]))), None);
        assert_eq!(alerts.apply(AlertNews::Created(alert(3, &[]))), None);
        assert_eq!(alerts.rules.with(Vec::len), 3, "a rule is held once");
        let toast = alerts.apply(AlertNews::Fired(fired(3, 2_000))).unwrap();
        assert_eq!(toast.fired.title(), "AAPL above 230.50");
        alerts.apply(AlertNews::Updated(alert(3, &[(2_000, 231.0)])));
        assert!(!alerts.rules.with(|r| r[2].armed));
        // Loading again (after a reconnect) does not log a firing twice.
        alerts.load(alerts.rules.get_untracked());
        assert_eq!(alerts.log.get(), [fired(3, 2_000), fired(2, 1_000)]);
        alerts.apply(AlertNews::Deleted(1));
        alerts.apply(AlertNews::Deleted(3));
        assert!(!alerts.watches("AAPL"), "2 has fired, 1 and 3 are gone");
        alerts.dismiss(toast.key);
        assert!(alerts.toasts.get().is_empty());
    }

    #[test]
    fn toasts_are_capped_oldest_first_and_the_log_is_bounded() {
        let owner = Owner::new();
        owner.set();
        let alerts = Alerts::new();
        for ts in 0..(LOG_SIZE as i64 + 5) {
            alerts.apply(AlertNews::Fired(fired(1, ts)));
        }
        let toasts = alerts.toasts.get();
        assert_eq!(toasts.len(), MAX_TOASTS);
        assert_eq!(toasts[0].fired.ts, LOG_SIZE as i64 + 1);
        let log = alerts.log.get();
        assert_eq!(log.len(), LOG_SIZE);
        assert_eq!(log[0].ts, LOG_SIZE as i64 + 4, "newest first");
    }

    #[test]
    fn rules_and_states_read_plainly() {
        assert_eq!(rule_text(AlertCondition::Below, 99.5), "below 99.50");
        assert_eq!(
            rule_text(AlertCondition::ChangePctBelow, -2.0),
            "change below −2.00%"
        );
        let mut a = alert(1, &[(3_600_000, 231.0)]);
        assert_eq!(state_text(&a, 0.0, 0), "Fired 01:00:00");
        a.repeat = AlertRepeat::Every;
        assert_eq!(state_text(&a, 0.0, 0), "Re-arming");
        a.armed = true;
        assert_eq!(state_text(&a, 20.0, 0), "Armed");
        a.expires = Some(10);
        assert_eq!(state_text(&a, 20.0, 0), "Expired");
    }
}

/// What `POST /api/alerts` is sent from the form.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NewAlert {
    pub symbol: String,
    pub condition: AlertCondition,
    pub value: f64,
    pub repeat: AlertRepeat,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The browser's part: requests, the toasts' timers, notifications, sound.
#[cfg(feature = "hydrate")]
pub mod browser {
    use std::cell::RefCell;
    use std::time::Duration;

    use leptos::prelude::*;
    use web_sys::{AudioContext, Notification, NotificationOptions, NotificationPermission};

    use super::{Alerts, NewAlert, SOUND_KEY, TOAST_MS, Toast};
    use crate::protocol::Alert;

    thread_local! {
        /// Made on the viewer's click that turned sound on (browsers start
        /// audio only from a gesture), then reused.
        static AUDIO: RefCell<Option<AudioContext>> = const { RefCell::new(None) };
    }

    /// Reads the viewer's sound choice and keeps it.
    pub fn start(alerts: Alerts) {
        let storage = || window().local_storage().ok().flatten();
        if let Some(stored) = storage().and_then(|s| s.get_item(SOUND_KEY).ok().flatten()) {
            alerts.sound.set(stored == "on");
        }
        Effect::new(move |_| {
            let on = alerts.sound.get();
            if let Some(s) = storage() {
                let _ = s.set_item(SOUND_KEY, if on { "on" } else { "off" });
            }
        });
    }

    /// Fetches the rules as they are now.
    pub fn load(alerts: Alerts) {
        leptos::task::spawn_local(async move {
            let listed = crate::fetch::text("/api/alerts").await;
            if let Some(rules) = listed.and_then(|t| serde_json::from_str::<Vec<Alert>>(&t).ok()) {
                alerts.load(rules);
            }
        });
    }

    /// A firing: its toast goes after a while, a notification shows it if
    /// the viewer allowed them, and a tone sounds if they asked for one.
    pub fn announce(alerts: Alerts, toast: Toast, offset_min: i32) {
        let key = toast.key;
        set_timeout(
            move || alerts.dismiss(key),
            Duration::from_millis(u64::from(TOAST_MS)),
        );
        if Notification::permission() == NotificationPermission::Granted {
            let fired = &toast.fired;
            let options = NotificationOptions::new();
            options.set_body(&format!(
                "Traded at {} · {}",
                crate::format::price(fired.price),
                crate::format::clock_time(fired.ts, offset_min)
            ));
            options.set_tag(&format!("tickertape-alert-{}-{}", fired.id, fired.ts));
            let _ = Notification::new_with_options(&fired.title(), &options);
        }
        if alerts.sound.get_untracked() {
            beep();
        }
    }

    /// Turns sound on or off (from the viewer's click, so audio may start).
    pub fn set_sound(alerts: Alerts, on: bool) {
        if on {
            AUDIO.with(|audio| {
                let mut audio = audio.borrow_mut();
                if audio.is_none() {
                    *audio = AudioContext::new().ok();
                }
                if let Some(context) = audio.as_ref() {
                    let _ = context.resume();
                }
            });
            alerts.sound.set(true);
            beep();
        } else {
            alerts.sound.set(false);
        }
    }

    /// A short, soft two-tone chime.
    fn beep() {
        AUDIO.with(|audio| {
            let Some(context) = audio.borrow().clone() else {
                return;
            };
            let now = context.current_time();
            for (i, hz) in [880.0_f32, 1_320.0].into_iter().enumerate() {
                let (Ok(tone), Ok(gain)) = (context.create_oscillator(), context.create_gain())
                else {
                    return;
                };
                let at = now + i as f64 * 0.12;
                tone.frequency().set_value(hz);
                let _ = gain.gain().set_value_at_time(0.0001, at);
                let _ = gain
                    .gain()
                    .exponential_ramp_to_value_at_time(0.15, at + 0.02);
                let _ = gain
                    .gain()
                    .exponential_ramp_to_value_at_time(0.0001, at + 0.25);
                let _ = tone
                    .connect_with_audio_node(&gain)
                    .and_then(|_| gain.connect_with_audio_node(&context.destination()));
                let _ = tone.start_with_when(at);
                let _ = tone.stop_with_when(at + 0.3);
            }
        });
    }

    /// Makes a rule; the server's error when it refuses. The first rule a
    /// viewer makes asks whether the page may show notifications.
    pub async fn create(alerts: Alerts, new: NewAlert) -> Result<Alert, String> {
        let body = serde_json::to_string(&new).map_err(|e| e.to_string())?;
        let first = alerts.rules.with_untracked(Vec::is_empty);
        let (status, text) = crate::fetch::send("POST", "/api/alerts", Some(&body)).await?;
        if status != 201 {
            return Err(server_error(status, &text));
        }
        let alert: Alert = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        alerts.put(alert.clone());
        if first && Notification::permission() == NotificationPermission::Default {
            let _ = Notification::request_permission();
        }
        Ok(alert)
    }

    /// Deletes rule `id` (its message removes it from every page).
    pub async fn delete(alerts: Alerts, id: u64) -> Result<(), String> {
        let (status, text) =
            crate::fetch::send("DELETE", &format!("/api/alerts/{id}"), None).await?;
        match status {
            204 | 404 => {
                alerts.rules.update(|rules| rules.retain(|a| a.id != id));
                Ok(())
            }
            _ => Err(server_error(status, &text)),
        }
    }

    /// The `error` of a JSON error answer, else the status.
    fn server_error(status: u16, text: &str) -> String {
        serde_json::from_str::<crate::protocol::ApiError>(text)
            .map(|e| e.error)
            .unwrap_or_else(|_| format!("the server answered {status}"))
    }
}
