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
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

pub mod admin;
pub mod admin_announcements;
pub mod admin_dashboard;
pub mod api_keys;
pub mod auth;
pub mod billing;
pub mod collections;
pub mod components;
pub mod consent;
pub mod contact;
pub mod dates;
pub mod error;
pub mod gallery;
pub mod layout;
pub mod notifications;
pub mod pages;
pub mod params;
pub mod privacy;
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
#[cfg(feature = "hydrate")]
pub mod upload;
pub mod webhooks;

use auth::{
    get_current_user, CompleteSignUp, ResetPassword, SignIn, SignOut, UserSummary,
    VerifySecondFactor,
};
use error::AppError;
use layout::Layout;
use pages::{
    about::Settings,
    admin::{
        payments::{AdminOrderPage, AdminPaymentsPage},
        privacy_queue::AdminPrivacyPage,
        users::{AdminPersonPage, AdminUsersPage},
        AdminAuditPage, AdminHealthPage, AdminHomePage, AdminIncidentsPage,
    },
    admin_announcements::AdminAnnouncementsPage,
    admin_moderation::AdminModerationPage,
    api_keys::ApiKeysPage,
    auth::{
        CompleteSignUpPage, ConfirmEmailChangePage, ConfirmEmailPage, ResetPasswordPage,
        ResetRequestPage, SecondFactorPage, SignInPage, SignUpPage,
    },
    billing::{BillingPage, CheckoutReturnPage, PricingPage},
    collections::{CollectionPage, CollectionsPage},
    contact::ContactPage,
    explore::{ExplorePage, PublicImagePage},
    gallery::{DeleteImagesPage, GalleryImagePage, GalleryPage},
    landing::Landing,
    legal::{Cookies, Privacy, Terms},
    not_found::NotFound,
    notifications::NotificationsPage,
    privacy::{PrivacyChoicesPage, PrivacySettingsPage},
    security::SecurityPage,
    share::{ShareLinksPage, SharePage},
    studio::Studio,
    underage::ReportUnderagePage,
    webhooks::WebhooksPage,
};

/// Marks the document once the WASM has taken over the current page
/// (effects run only in the browser, after hydration); browser tests wait
/// for `html[data-hydrated]`. Called by every page's route, since a lazy
/// page hydrates after the shell around it.
pub fn mark_hydrated() {
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute("data-hydrated", "");
    }
}

/// One lazily loaded route per page: `Route` + `Lazy::<…>` below.
///
/// Each page's code (its views, forms and the client side of the server
/// functions it calls) is split out of the main WASM into a chunk of its
/// own by `cargo leptos build --split`, so a visitor downloads the shared
/// runtime and the page they open, not the other pages. On a first load the
/// server names the chunk the page needs in a preload link; the page is
/// interactive once it arrives. A new page gets a line here and a `Route`
/// with `view={Lazy::<…>::new()}` (see ARCHITECTURE.md).
macro_rules! lazy_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        #[doc = concat!("The route of [`", stringify!($page), "`], loaded on demand.")]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                Effect::new(|_| mark_hydrated());
                $page().into_any()
            }
        }
    )*};
}

lazy_pages!(
    LandingRoute => Landing,
    StudioRoute => Studio,
    ShareRoute => SharePage,
    GalleryRoute => GalleryPage,
    GalleryImageRoute => GalleryImagePage,
    DeleteImagesRoute => DeleteImagesPage,
    CollectionsRoute => CollectionsPage,
    CollectionRoute => CollectionPage,
    ExploreRoute => ExplorePage,
    PublicImageRoute => PublicImagePage,
    BillingRoute => BillingPage,
    CheckoutReturnRoute => CheckoutReturnPage,
    PricingRoute => PricingPage,
    SettingsRoute => Settings,
    PrivacyRoute => Privacy,
    TermsRoute => Terms,
    CookiesRoute => Cookies,
    AdminHomeRoute => AdminHomePage,
    AdminIncidentsRoute => AdminIncidentsPage,
    AdminAuditRoute => AdminAuditPage,
    AdminUsersRoute => AdminUsersPage,
    AdminPersonRoute => AdminPersonPage,
    AdminPrivacyRoute => AdminPrivacyPage,
    AdminPaymentsRoute => AdminPaymentsPage,
    AdminOrderRoute => AdminOrderPage,
    AdminHealthRoute => AdminHealthPage,
    AdminAnnouncementsRoute => AdminAnnouncementsPage,
    AdminModerationRoute => AdminModerationPage,
    ContactRoute => ContactPage,
    SignInRoute => SignInPage,
    SecondFactorRoute => SecondFactorPage,
    SignUpRoute => SignUpPage,
    CompleteSignUpRoute => CompleteSignUpPage,
    ConfirmEmailRoute => ConfirmEmailPage,
    ConfirmEmailChangeRoute => ConfirmEmailChangePage,
    ResetRequestRoute => ResetRequestPage,
    ResetPasswordRoute => ResetPasswordPage,
    SecurityRoute => SecurityPage,
    ShareLinksRoute => ShareLinksPage,
    ReportUnderageRoute => ReportUnderagePage,
    PrivacySettingsRoute => PrivacySettingsPage,
    PrivacyChoicesRoute => PrivacyChoicesPage,
    NotificationsRoute => NotificationsPage,
    ApiKeysRoute => ApiKeysPage,
    WebhooksRoute => WebhooksPage,
);

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

/// `/pkg/<output name>.css`, with the content hash in the name when the
/// build wrote one (cargo-leptos `hash-files`: its `hash.txt` next to the
/// server binary, read once).
pub fn stylesheet_href(options: &LeptosOptions) -> String {
    static HASH: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| {
        if !options.hash_files {
            return None;
        }
        let file = std::env::current_exe()
            .ok()?
            .parent()?
            .join(options.hash_file.as_ref());
        std::fs::read_to_string(file)
            .ok()?
            .lines()
            .find_map(|line| {
                let (kind, hash) = line.split_once(':')?;
                (kind.trim() == "css").then(|| hash.trim().to_owned())
            })
    });
    let name = &options.output_name;
    let pkg = &options.site_pkg_dir;
    match hash {
        Some(hash) => format!("/{pkg}/{name}.{hash}.css"),
        None => format!("/{pkg}/{name}.css"),
    }
}

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
                <link rel="stylesheet" id="leptos" href=stylesheet_href(&options) />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-surface text-ink antialiased" data-analytics=consent::body_marker()>
                <App />
                {banner()}
            </body>
        </html>
    }
}

/// The cookie banner, outside the hydrated application (server only).
fn banner() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        view! { <consent::ConsentBanner /> }
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
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Meta name="description" content=site::TAGLINE />
        <Meta name="theme-color" content="#5b3df5" />
        <Title formatter=|title: String| {
            if title.is_empty() { site::PRODUCT.to_string() } else { format!("{title} · {}", site::PRODUCT) }
        } />
        <Router>
            <Layout>
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view={Lazy::<LandingRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/studio") view={Lazy::<StudioRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/s/:token") view={Lazy::<ShareRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/gallery") view={Lazy::<GalleryRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/gallery/:id") view={Lazy::<GalleryImageRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/delete-images") view={Lazy::<DeleteImagesRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/collections") view={Lazy::<CollectionsRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/collections/:id") view={Lazy::<CollectionRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/explore") view={Lazy::<ExploreRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/p/:id") view={Lazy::<PublicImageRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/billing") view={Lazy::<BillingRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/billing/return") view={Lazy::<CheckoutReturnRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/pricing") view={Lazy::<PricingRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/privacy") view={Lazy::<PrivacyRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/terms") view={Lazy::<TermsRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/cookies") view={Lazy::<CookiesRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/contact") view={Lazy::<ContactRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/sign-in") view={Lazy::<SignInRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/sign-in/two-factor") view={Lazy::<SecondFactorRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/sign-up") view={Lazy::<SignUpRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/sign-up/complete") view={Lazy::<CompleteSignUpRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/confirm-email") view={Lazy::<ConfirmEmailRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/confirm-email-change") view={Lazy::<ConfirmEmailChangeRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/reset-password") view={Lazy::<ResetRequestRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/reset-password/new") view={Lazy::<ResetPasswordRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/settings/security") view={Lazy::<SecurityRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/settings/sharing") view={Lazy::<ShareLinksRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/settings/privacy") view={Lazy::<PrivacySettingsRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/settings/notifications") view={Lazy::<NotificationsRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/settings/api-keys") view={Lazy::<ApiKeysRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/settings/webhooks") view={Lazy::<WebhooksRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/privacy-choices") view={Lazy::<PrivacyChoicesRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin") view={Lazy::<AdminHomeRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/incidents") view={Lazy::<AdminIncidentsRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/audit") view={Lazy::<AdminAuditRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/users") view={Lazy::<AdminUsersRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/users/:id") view={Lazy::<AdminPersonRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/privacy") view={Lazy::<AdminPrivacyRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/payments") view={Lazy::<AdminPaymentsRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/payments/orders/:id") view={Lazy::<AdminOrderRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/health") view={Lazy::<AdminHealthRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/announcements") view={Lazy::<AdminAnnouncementsRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/moderation") view={Lazy::<AdminModerationRoute>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/report-underage") view={Lazy::<ReportUnderageRoute>::new()} ssr=SsrMode::InOrder />
                </Routes>
            </Layout>
        </Router>
    }
}
