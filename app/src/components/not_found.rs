//! The page for any path that is not the dashboard.

use leptos::prelude::*;

/// Any path that is not a page. The link back is an ordinary link: the page
/// has no client-side router, so following it loads the dashboard from the
/// server, with the quotes it embeds (see [`crate::board::page_board`]).
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <leptos_meta::Title text="Page not found · tickertape" />
        <main class="content not-found">
            <h1>"Page not found"</h1>
            <p>
                <a href="/">"Back to the dashboard"</a>
            </p>
        </main>
    }
}
