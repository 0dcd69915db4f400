//! The frame around every page: header with navigation, main, footer.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::auth::ResendConfirmation;
use crate::site::PRODUCT;
use crate::{AuthActions, UserResource};

/// Main navigation entries: (label, path).
const NAV: [(&str, &str); 5] = [
    ("Studio", "/studio"),
    ("Gallery", "/gallery"),
    ("Explore", "/explore"),
    ("Billing", "/billing"),
    ("Settings", "/settings"),
];

/// Footer links: (label, path).
const FOOTER: [(&str, &str); 6] = [
    ("Pricing", "/pricing"),
    ("Privacy", "/privacy"),
    ("Terms", "/terms"),
    ("Cookie settings", "/cookies"),
    ("Contact", "/contact"),
    ("Report underage use", "/report-underage"),
];

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    crate::consent::count_navigations();
    view! {
        <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:p-3 focus:bg-brand-600 focus:text-white">
            "Skip to content"
        </a>
        <div class="flex min-h-screen flex-col">
            <Header />
            <ConfirmBanner />
            <DeletionBanner />
            <PolicyNotice />
            <main id="main" class="mx-auto w-full max-w-6xl flex-1 px-4 py-8 sm:px-6">
                {children()}
            </main>
            <Footer />
        </div>
    }
}

#[component]
fn Header() -> impl IntoView {
    let (menu_open, set_menu_open) = signal(false);
    view! {
        <header class="border-b border-line bg-surface-raised">
            <nav aria-label="Main" class="mx-auto flex max-w-6xl items-center justify-between gap-4 px-4 py-3 sm:px-6">
                <A href="/" attr:class="flex items-center gap-2 text-lg font-bold tracking-tight">
                    <img src="/favicon.svg" alt="" width="28" height="28" />
                    {PRODUCT}
                </A>
                <ul class="hidden items-center gap-1 sm:flex">
                    {NAV.map(|(label, href)| view! { <li><NavLink href label /></li> })}
                </ul>
                <UserMenu />
                <button
                    type="button"
                    class="rounded-md border border-line px-3 py-2 text-sm font-medium sm:hidden"
                    aria-controls="mobile-menu"
                    aria-expanded=move || menu_open.get().to_string()
                    on:click=move |_| set_menu_open.update(|open| *open = !*open)
                >
                    {move || if menu_open.get() { "Close" } else { "Menu" }}
                </button>
            </nav>
            <ul
                id="mobile-menu"
                class="border-t border-line px-4 pb-3 sm:hidden"
                class:hidden=move || !menu_open.get()
                on:click=move |_| set_menu_open.set(false)
            >
                {NAV.map(|(label, href)| view! { <li><NavLink href label /></li> })}
            </ul>
        </header>
    }
}

/// "Sign in", or the person's name and "Sign out".
#[component]
fn UserMenu() -> impl IntoView {
    let user = expect_context::<UserResource>().0;
    let sign_out = expect_context::<AuthActions>().sign_out;
    view! {
        <div class="ml-auto flex items-center gap-2 sm:ml-0" data-testid="user-menu">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(u)) => view! {
                            {u.staff.then(|| view! { <A href="/admin" attr:class="text-sm font-medium underline" attr:data-testid="staff-link">"Staff"</A> })}
                            <A href="/settings/security" attr:class="flex max-w-40 items-center gap-2 text-sm font-medium" attr:data-testid="signed-in-as">
                                {u.picture.map(|src| view! {
                                    <img src=src alt="" width="28" height="28" class="h-7 w-7 shrink-0 rounded-full object-cover" data-testid="menu-picture" />
                                })}
                                <span class="truncate">{u.display_name}</span>
                            </A>
                            <ActionForm action=sign_out>
                                <button type="submit" class="btn-secondary px-3 py-1.5 text-sm">"Sign out"</button>
                            </ActionForm>
                        }.into_any(),
                        _ => view! { <A href="/sign-in" attr:class="btn-primary px-3 py-1.5 text-sm">"Sign in"</A> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}

/// Reminds a signed-in person to confirm their address, with a resend button.
#[component]
fn ConfirmBanner() -> impl IntoView {
    let user = expect_context::<UserResource>().0;
    let resend = ServerAction::<ResendConfirmation>::new();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let unconfirmed = matches!(user.await, Ok(Some(u)) if !u.email_confirmed);
                unconfirmed.then(|| view! {
                    <div class="border-b border-line bg-brand-50 text-brand-800 dark:bg-surface-sunken dark:text-brand-300" role="status">
                        <div class="mx-auto flex max-w-6xl flex-wrap items-center gap-3 px-4 py-2 text-sm sm:px-6">
                            <span>"Confirm your e-mail address with the link we sent you."</span>
                            <ActionForm action=resend>
                                <button type="submit" class="underline">
                                    {move || match resend.value().get() {
                                        Some(Ok(())) => "Sent again".to_string(),
                                        Some(Err(e)) => e.to_string(),
                                        None => "Send it again".to_string(),
                                    }}
                                </button>
                            </ActionForm>
                        </div>
                    </div>
                })
            })}
        </Suspense>
    }
}

/// Tells a person whose account is scheduled for deletion when it happens,
/// on every page, with the way back (PRV-3).
#[component]
fn DeletionBanner() -> impl IntoView {
    let user = expect_context::<UserResource>().0;
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let due = match user.await {
                    Ok(Some(u)) => u.deletion_due,
                    _ => None,
                };
                due.map(|due| view! {
                    <div class="border-b border-line bg-surface-sunken" role="status" data-testid="deletion-banner">
                        <div class="mx-auto flex max-w-6xl flex-wrap items-center gap-3 px-4 py-2 text-sm sm:px-6">
                            <span class="font-medium text-danger">{format!("Your account will be deleted on {due}.")}</span>
                            <a href="/settings/privacy" class="underline">"Keep my account"</a>
                        </div>
                    </div>
                })
            })}
        </Suspense>
    }
}

/// Tells a signed-in person that the privacy policy changed since they
/// last saw it, with the summary, until they dismiss it (POL-1).
#[component]
fn PolicyNotice() -> impl IntoView {
    let user = expect_context::<UserResource>().0;
    let dismiss = ServerAction::<crate::privacy::DismissPolicyNotice>::new();
    let (date, summary) = crate::pages::legal::POLICY_VERSIONS[0];
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let changed = matches!(user.await, Ok(Some(u)) if u.policy_changed);
                let dismissed = move || matches!(dismiss.value().get(), Some(Ok(())));
                changed.then(|| view! {
                    <Show when=move || !dismissed()>
                        <div class="border-b border-line bg-surface-sunken" role="status" data-testid="policy-notice">
                            <div class="mx-auto flex max-w-6xl flex-wrap items-center gap-3 px-4 py-2 text-sm sm:px-6">
                                <span>{format!("We updated our privacy policy on {date}: {summary}")}</span>
                                <a href="/privacy" class="underline">"Read it"</a>
                                <ActionForm action=dismiss>
                                    <button type="submit" class="underline" data-testid="dismiss-policy-notice">"Dismiss"</button>
                                </ActionForm>
                            </div>
                        </div>
                    </Show>
                })
            })}
        </Suspense>
    }
}

#[component]
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    view! {
        <A href=href attr:class="block rounded-md px-3 py-2 text-sm font-medium text-ink-muted hover:bg-surface-sunken hover:text-ink aria-[current=page]:text-brand-700 dark:aria-[current=page]:text-brand-300">
            {label}
        </A>
    }
}

#[component]
fn Footer() -> impl IntoView {
    view! {
        <footer class="border-t border-line bg-surface-raised">
            <div class="mx-auto flex max-w-6xl flex-col gap-3 px-4 py-6 text-sm text-ink-muted sm:flex-row sm:items-center sm:justify-between sm:px-6">
                <p>{PRODUCT} " — open-source image generation you can run yourself."</p>
                <nav aria-label="Legal">
                    <ul class="flex flex-wrap gap-4">
                        {FOOTER.map(|(label, href)| view! {
                            <li><A href=href attr:class="underline-offset-4 hover:underline">{label}</A></li>
                        })}
                        // A plain server page, not a route of the app: a full load.
                        <li><a href="/docs/api" rel="external" class="underline-offset-4 hover:underline">"API"</a></li>
                    </ul>
                </nav>
            </div>
        </footer>
    }
}
