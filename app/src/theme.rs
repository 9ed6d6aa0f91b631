//! Dark and light themes. The choice lives in a cookie, so the server renders
//! `<html data-theme>` right and a reload never flashes the wrong theme;
//! without a choice the page follows the system (`prefers-color-scheme`),
//! in CSS before any script runs and as `data-theme` once hydrated.

use leptos::prelude::*;

/// The cookie holding the viewer's choice.
pub const COOKIE: &str = "tickertape_theme";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Dark,
    Light,
}

impl Theme {
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
        }
    }

    pub fn parse(text: &str) -> Option<Theme> {
        match text.trim() {
            "dark" => Some(Theme::Dark),
            "light" => Some(Theme::Light),
            _ => None,
        }
    }

    pub fn other(self) -> Theme {
        match self {
            Theme::Dark => Theme::Light,
            Theme::Light => Theme::Dark,
        }
    }

    /// The theme a `Cookie` request header chose, if any.
    pub fn from_cookie_header(header: &str) -> Option<Theme> {
        header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .and_then(|(_, value)| Theme::parse(value))
    }
}

/// The theme the request's cookie chose (server side; `None`: the system's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestedTheme(pub Option<Theme>);

/// The theme switch in the top bar.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    // Server: the cookie's choice. Browser: what the server rendered, so
    // hydration matches; then the system's theme if there was no choice.
    #[cfg(not(feature = "hydrate"))]
    let initial = use_context::<RequestedTheme>().and_then(|t| t.0);
    #[cfg(feature = "hydrate")]
    let initial = dom::rendered();
    let theme = RwSignal::new(initial);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if theme.get_untracked().is_none() {
            let system = dom::system();
            dom::apply(system);
            theme.set(Some(system));
        }
    });
    let label = move || match theme.get() {
        Some(Theme::Dark) => "Switch to light theme",
        Some(Theme::Light) => "Switch to dark theme",
        None => "Switch colour theme",
    };
    let on_click = move |_| {
        let next = theme.get_untracked().unwrap_or(Theme::Dark).other();
        theme.set(Some(next));
        #[cfg(feature = "hydrate")]
        {
            dom::apply(next);
            dom::remember(next);
        }
    };
    view! {
        <button type="button" class="icon-button theme-toggle" aria-label=label title=label on:click=on_click>
            // A sun in the dark theme (go light), a moon in the light one.
            <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
                <circle class="sun" cx="12" cy="12" r="4.5" />
                <path
                    class="sun"
                    d="M12 2v2.5M12 19.5V22M2 12h2.5M19.5 12H22M4.9 4.9l1.8 1.8M17.3 17.3l1.8 1.8M4.9 19.1l1.8-1.8M17.3 6.7l1.8-1.8"
                />
                <path class="moon" d="M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z" />
            </svg>
        </button>
    }
}

#[cfg(feature = "hydrate")]
mod dom {
    use wasm_bindgen::JsCast;

    use super::{COOKIE, Theme};

    fn html() -> Option<web_sys::Element> {
        web_sys::window()?.document()?.document_element()
    }

    /// The `data-theme` the server rendered.
    pub fn rendered() -> Option<Theme> {
        Theme::parse(&html()?.get_attribute("data-theme")?)
    }

    /// The system's preference.
    pub fn system() -> Theme {
        let light = web_sys::window()
            .and_then(|w| {
                w.match_media("(prefers-color-scheme: light)")
                    .ok()
                    .flatten()
            })
            .is_some_and(|m| m.matches());
        if light { Theme::Light } else { Theme::Dark }
    }

    pub fn apply(theme: Theme) {
        if let Some(html) = html() {
            let _ = html.set_attribute("data-theme", theme.as_str());
        }
    }

    /// For a year, for every page of this site.
    pub fn remember(theme: Theme) {
        let document = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok());
        if let Some(document) = document {
            let cookie = format!(
                "{COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                theme.as_str()
            );
            let _ = document.set_cookie(&cookie);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_header_names_the_theme() {
        let pick = Theme::from_cookie_header;
        assert_eq!(pick("tickertape_theme=light"), Some(Theme::Light));
        assert_eq!(pick("a=1; tickertape_theme=dark; b=2"), Some(Theme::Dark));
        assert_eq!(pick("tickertape_theme=purple"), None);
        assert_eq!(pick("other_theme=light"), None);
        assert_eq!(pick(""), None);
        assert_eq!(Theme::Light.other(), Theme::Dark);
    }
}
