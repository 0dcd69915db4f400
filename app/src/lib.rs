//! uni1's pages, components and server functions.
//!
//! Compiled twice: with `ssr` into the server (rendering and server function
//! bodies) and with `hydrate` into the browser's WASM. Server-only code sits
//! behind `#[cfg(feature = "ssr")]`; server functions stay thin: take
//! [`state::AppState`] from context, call `uni1-domain`, map errors to
//! [`error::AppError`].

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

pub mod contact;
pub mod error;
pub mod layout;
pub mod pages;
pub mod site;
#[cfg(feature = "ssr")]
pub mod state;

use layout::Layout;
use pages::{
    about::{Billing, Gallery, Settings, Studio},
    contact::ContactPage,
    landing::Landing,
    legal::{Cookies, Privacy, Terms},
    not_found::NotFound,
};

/// The HTML document around every page (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    state::set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-surface text-ink antialiased">
                <App />
            </body>
        </html>
    }
}

/// The application: routes inside the shared layout.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/uni1.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Meta name="description" content=site::TAGLINE />
        <Meta name="theme-color" content="#5b3df5" />
        <Title formatter=|title: String| {
            if title.is_empty() { site::PRODUCT.to_string() } else { format!("{title} · {}", site::PRODUCT) }
        } />
        <Router>
            <Layout>
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view=Landing />
                    <Route path=path!("/studio") view=Studio />
                    <Route path=path!("/gallery") view=Gallery />
                    <Route path=path!("/billing") view=Billing />
                    <Route path=path!("/settings") view=Settings />
                    <Route path=path!("/privacy") view=Privacy />
                    <Route path=path!("/terms") view=Terms />
                    <Route path=path!("/cookies") view=Cookies />
                    <Route path=path!("/contact") view=ContactPage />
                </Routes>
            </Layout>
        </Router>
    }
}
