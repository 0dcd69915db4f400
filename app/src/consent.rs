//! Cookie consent (CK-1): every cookie the site sets, the first-visit
//! banner, and the state the preference center (`/cookies`) shows.
//!
//! The choice is made with plain HTML forms posted to `/consent` (the
//! server's `http::consent`), so it works the same with and without
//! JavaScript; the banner is rendered by the server outside the hydrated
//! application and costs the browser bundle nothing.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What a cookie is for, as the consent categories name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieCategory {
    /// Needed for what the visitor asked for; no consent needed.
    Essential,
    /// Remembers choices to save the visitor steps; only with consent.
    Preferences,
}

impl CookieCategory {
    pub fn label(self) -> &'static str {
        match self {
            Self::Essential => "Essential",
            Self::Preferences => "Preferences",
        }
    }
}

/// One cookie the site sets.
#[derive(Debug, Clone, Copy)]
pub struct CookieInfo {
    /// Its name over http; over https it carries the `__Host-` prefix.
    pub name: &'static str,
    pub category: CookieCategory,
    pub purpose: &'static str,
    pub lifetime: &'static str,
}

/// Every cookie the site sets: the cookies page is this list, and a
/// browser test fails when a session ends up with a cookie not in it.
/// Analytics set no cookie at all (see `uni1_domain::analytics`).
pub const COOKIES: &[CookieInfo] = &[
    CookieInfo {
        name: "uni1_session",
        category: CookieCategory::Essential,
        purpose: "Keeps you signed in: a random token for your session, set only when you sign in.",
        lifetime: "Until you sign out, or the session ends (30 days at most)",
    },
    CookieInfo {
        name: "uni1_2fa",
        category: CookieCategory::Essential,
        purpose: "Remembers a sign-in that waits for your two-factor code.",
        lifetime: "10 minutes",
    },
    CookieInfo {
        name: "uni1_oauth",
        category: CookieCategory::Essential,
        purpose: "Ties a Google or GitHub sign-in to the browser that started it.",
        lifetime: "10 minutes",
    },
    CookieInfo {
        name: "uni1_consent",
        category: CookieCategory::Essential,
        purpose: "Remembers your cookie choices (which categories you allow) and a random id for this browser's choice.",
        lifetime: "180 days",
    },
    CookieInfo {
        name: "uni1_studio",
        category: CookieCategory::Preferences,
        purpose: "Remembers the model and aspect ratio you used last, so the studio starts with them.",
        lifetime: "180 days",
    },
];

/// The visitor's cookie choices, for the preference center.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    /// A choice has been made (in this browser, or by the signed-in person).
    pub decided: bool,
    pub preferences: bool,
    pub analytics: bool,
    /// The browser sends Global Privacy Control: analytics stay off.
    pub gpc: bool,
}

/// The choices of the browser asking.
#[server(prefix = "/api", endpoint = "cookie_consent")]
pub async fn get_cookie_consent() -> Result<ConsentState, AppError> {
    let visitor = crate::session::visitor();
    let choice = visitor.choice.unwrap_or_default();
    Ok(ConsentState {
        decided: visitor.choice.is_some(),
        preferences: choice.preferences,
        analytics: choice.analytics,
        gpc: visitor.gpc,
    })
}

/// Counts a page opened inside the app (a client-side navigation): only
/// for a visitor who allows analytics, as for page loads (ANA-1).
#[server(prefix = "/api", endpoint = "page_view")]
pub async fn count_page_view(path: String) -> Result<(), AppError> {
    if !path.starts_with('/') || path.starts_with("//") || path.len() > 2000 {
        return Err(AppError::invalid("path", "Not a page of this site.").respond());
    }
    crate::session::count_page_view(&path).await;
    Ok(())
}

/// In the browser: reports each client-side navigation as a page view,
/// when the server marked the page as counted (`<body data-analytics>`);
/// the first page was counted when the server sent it.
#[cfg(feature = "hydrate")]
pub fn count_navigations() {
    let counted = document()
        .body()
        .is_some_and(|b| b.has_attribute("data-analytics"));
    if !counted {
        return;
    }
    let location = leptos_router::hooks::use_location();
    Effect::new(move |previous: Option<String>| {
        let path = location.pathname.get();
        if previous.is_some_and(|p| p != path) {
            let path = path.clone();
            leptos::task::spawn_local(async move {
                let _ = count_page_view(path).await;
            });
        }
        path
    });
}

/// `data-analytics` on `<body>` when this visitor is counted.
pub fn body_marker() -> Option<&'static str> {
    #[cfg(feature = "ssr")]
    {
        crate::session::counted().then_some("on")
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// Where a consent form sends the visitor back to: the page it was on.
#[cfg(feature = "ssr")]
fn current_path() -> String {
    use_context::<http::request::Parts>()
        .and_then(|p| p.uri.path_and_query().map(|pq| pq.as_str().to_owned()))
        .unwrap_or_else(|| "/".to_owned())
}

/// The first-visit banner, until a choice is made: "Accept all", "Reject
/// all" and "Choose" with equal weight. Server-rendered after the
/// application (never hydrated), fixed to the bottom of the window so it
/// shifts nothing.
#[cfg(feature = "ssr")]
#[component]
pub fn ConsentBanner() -> impl IntoView {
    let visitor = crate::session::visitor();
    let here = current_path();
    (visitor.undecided() && !here.starts_with("/cookies")).then(|| {
        view! {
            <section
                aria-labelledby="consent-title"
                data-testid="consent-banner"
                class="fixed inset-x-0 bottom-0 z-50 border-t border-line bg-surface-raised shadow-lg"
            >
                <form method="post" action="/consent" class="mx-auto flex max-w-6xl flex-col gap-3 px-4 py-4 sm:flex-row sm:items-center sm:px-6">
                    <div class="flex-1 text-sm">
                        <h2 id="consent-title" class="font-semibold">"Cookies"</h2>
                        <p class="text-ink-muted">
                            "We use essential cookies to keep you signed in. With your consent we also remember your studio settings and count visits without identifying you. "
                            <a href="/cookies" class="underline">"Learn more"</a>
                        </p>
                    </div>
                    <input type="hidden" name="return_to" value=here />
                    <input type="hidden" name="from" value="banner" />
                    <div class="grid grid-cols-3 gap-2 sm:flex">
                        <button type="submit" name="choice" value="all" class="btn-secondary px-3 py-2 text-sm" data-testid="consent-accept">"Accept all"</button>
                        <button type="submit" name="choice" value="none" class="btn-secondary px-3 py-2 text-sm" data-testid="consent-reject">"Reject all"</button>
                        <a href="/cookies#choices" rel="external" class="btn-secondary px-3 py-2 text-center text-sm" data-testid="consent-choose">"Choose"</a>
                    </div>
                </form>
            </section>
        }
    })
}

/// The preference center: the categories as checkboxes, posted as a plain
/// form (works without JavaScript).
#[component]
pub fn ConsentForm(state: ConsentState) -> impl IntoView {
    view! {
        <form method="post" action="/consent" id="choices" class="not-prose space-y-4 rounded-lg border border-line bg-surface-raised p-4" data-testid="consent-form">
            <input type="hidden" name="return_to" value="/cookies" />
            <input type="hidden" name="from" value="settings" />
            <input type="hidden" name="choice" value="custom" />
            <fieldset class="space-y-3">
                <legend class="font-semibold">"Your cookie choices"</legend>
                <div class="flex items-start gap-3">
                    <input type="checkbox" id="consent-essential" checked disabled class="mt-1" />
                    <label for="consent-essential">
                        <span class="font-medium">"Essential"</span>
                        <span class="block text-sm text-ink-muted">"Always on: signing in, two-factor, and remembering these choices."</span>
                    </label>
                </div>
                <div class="flex items-start gap-3">
                    <input type="checkbox" id="consent-preferences" name="preferences" value="on" checked=state.preferences class="mt-1" />
                    <label for="consent-preferences">
                        <span class="font-medium">"Preferences"</span>
                        <span class="block text-sm text-ink-muted">"Remember the model and aspect ratio you used last in the studio."</span>
                    </label>
                </div>
                <div class="flex items-start gap-3">
                    <input type="checkbox" id="consent-analytics" name="analytics" value="on" checked=state.analytics class="mt-1" />
                    <label for="consent-analytics">
                        <span class="font-medium">"Analytics"</span>
                        <span class="block text-sm text-ink-muted">"Count page views and sign-ups, generations and purchases without a cookie and without storing your address or account: only daily totals."</span>
                    </label>
                </div>
            </fieldset>
            {state.gpc.then(|| view! {
                <p class="text-sm" role="note" data-testid="gpc-note">"Your browser sends Global Privacy Control, so analytics stay off whatever you choose here."</p>
            })}
            <p class="text-sm text-ink-muted" data-testid="consent-status">
                {if state.decided { "Your choices are saved. You can change them at any time." } else { "You have not made a choice yet: only essential cookies are set." }}
            </p>
            <div class="flex flex-wrap gap-2">
                <button type="submit" class="btn-primary px-4 py-2 text-sm" data-testid="consent-save">"Save my choices"</button>
            </div>
        </form>
    }
}
