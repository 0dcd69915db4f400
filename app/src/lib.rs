//! uni1's pages, components and server functions.
//!
//! Compiled twice: with `ssr` into the server (rendering and server function
//! bodies) and with `hydrate` into the browser's WASM. Server-only code sits
//! behind `#[cfg(feature = "ssr")]`; server functions stay thin: take
//! [`state::AppState`] from context, call `uni1-domain`, map errors to
//! [`error::AppError`].

// The studio's view types nest deeply; the default limit (128) is too low
// for the hydrate build.
#![recursion_limit = "256"]

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

pub mod auth;
pub mod collections;
pub mod components;
pub mod contact;
pub mod dates;
pub mod error;
pub mod gallery;
pub mod layout;
pub mod pages;
pub mod params;
pub mod publishing;
#[cfg(feature = "hydrate")]
pub mod scroll;
pub mod security;
#[cfg(feature = "ssr")]
pub mod session;
pub mod sharing;
pub mod site;
#[cfg(feature = "ssr")]
pub mod state;
pub mod studio;
pub mod underage;

use auth::{
    get_current_user, CompleteSignUp, ResetPassword, SignIn, SignOut, UserSummary,
    VerifySecondFactor,
};
use error::AppError;
use layout::Layout;
use pages::{
    about::{Billing, Settings},
    auth::{
        CompleteSignUpPage, ConfirmEmailChangePage, ConfirmEmailPage, ResetPasswordPage,
        ResetRequestPage, SecondFactorPage, SignInPage, SignUpPage,
    },
    collections::{CollectionPage, CollectionsPage},
    contact::ContactPage,
    explore::{ExplorePage, PublicImagePage},
    gallery::{DeleteImagesPage, GalleryImagePage, GalleryPage},
    landing::Landing,
    legal::{Cookies, Privacy, Terms},
    not_found::NotFound,
    security::SecurityPage,
    share::{ShareLinksPage, SharePage},
    studio::Studio,
    underage::ReportUnderagePage,
};

/// The actions that change who is signed in. They live at the top so the
/// header's user menu can refresh when any of them completes.
#[derive(Clone, Copy)]
pub struct AuthActions {
    pub sign_in: ServerAction<SignIn>,
    pub sign_out: ServerAction<SignOut>,
    pub reset: ServerAction<ResetPassword>,
    pub complete_sign_up: ServerAction<CompleteSignUp>,
    pub second_factor: ServerAction<VerifySecondFactor>,
}

/// The signed-in person (or `None`), resolved before the page is sent.
#[derive(Clone, Copy)]
pub struct UserResource(pub Resource<Result<Option<UserSummary>, AppError>>);

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
///
/// Every route renders in order: the HTML is sent as it is ready, top to
/// bottom, never with a fallback that only JavaScript would replace. Pages
/// must be complete without JavaScript, and out-of-order streaming sent
/// "Loading…" placeholders to no-JS browsers whenever a resource resolved
/// after the first chunk.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let actions = AuthActions {
        sign_in: ServerAction::new(),
        sign_out: ServerAction::new(),
        reset: ServerAction::new(),
        complete_sign_up: ServerAction::new(),
        second_factor: ServerAction::new(),
    };
    provide_context(actions);
    // Marks the document once the WASM has taken over (effects run only in
    // the browser, after hydration); browser tests wait for it.
    Effect::new(|_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "");
        }
    });
    provide_context(UserResource(Resource::new_blocking(
        move || {
            (
                actions.sign_in.version().get(),
                actions.sign_out.version().get(),
                actions.reset.version().get(),
                actions.complete_sign_up.version().get(),
                actions.second_factor.version().get(),
            )
        },
        |_| get_current_user(),
    )));
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
                    <Route path=path!("/") view=Landing ssr=SsrMode::InOrder />
                    <Route path=path!("/studio") view=Studio ssr=SsrMode::InOrder />
                    <Route path=path!("/s/:token") view=SharePage ssr=SsrMode::Async />
                    <Route path=path!("/gallery") view=GalleryPage ssr=SsrMode::InOrder />
                    <Route path=path!("/gallery/:id") view=GalleryImagePage ssr=SsrMode::InOrder />
                    <Route path=path!("/delete-images") view=DeleteImagesPage ssr=SsrMode::InOrder />
                    <Route path=path!("/collections") view=CollectionsPage ssr=SsrMode::InOrder />
                    <Route path=path!("/collections/:id") view=CollectionPage ssr=SsrMode::InOrder />
                    <Route path=path!("/explore") view=ExplorePage ssr=SsrMode::Async />
                    <Route path=path!("/p/:id") view=PublicImagePage ssr=SsrMode::Async />
                    <Route path=path!("/billing") view=Billing ssr=SsrMode::InOrder />
                    <Route path=path!("/settings") view=Settings ssr=SsrMode::InOrder />
                    <Route path=path!("/privacy") view=Privacy ssr=SsrMode::InOrder />
                    <Route path=path!("/terms") view=Terms ssr=SsrMode::InOrder />
                    <Route path=path!("/cookies") view=Cookies ssr=SsrMode::InOrder />
                    <Route path=path!("/contact") view=ContactPage ssr=SsrMode::InOrder />
                    <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::InOrder />
                    <Route path=path!("/sign-in/two-factor") view=SecondFactorPage ssr=SsrMode::InOrder />
                    <Route path=path!("/sign-up") view=SignUpPage ssr=SsrMode::InOrder />
                    <Route path=path!("/sign-up/complete") view=CompleteSignUpPage ssr=SsrMode::InOrder />
                    <Route path=path!("/confirm-email") view=ConfirmEmailPage ssr=SsrMode::InOrder />
                    <Route path=path!("/confirm-email-change") view=ConfirmEmailChangePage ssr=SsrMode::InOrder />
                    <Route path=path!("/reset-password") view=ResetRequestPage ssr=SsrMode::InOrder />
                    <Route path=path!("/reset-password/new") view=ResetPasswordPage ssr=SsrMode::InOrder />
                    <Route path=path!("/settings/security") view=SecurityPage ssr=SsrMode::InOrder />
                    <Route path=path!("/settings/sharing") view=ShareLinksPage ssr=SsrMode::InOrder />
                    <Route path=path!("/report-underage") view=ReportUnderagePage ssr=SsrMode::InOrder />
                </Routes>
            </Layout>
        </Router>
    }
}
