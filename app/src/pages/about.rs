//! Pages whose features are not built yet. Each says plainly what will be
//! here, so the navigation never leads to a dead end or a pretend feature.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
fn NotYet(title: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <Title text=title />
        <section class="mx-auto max-w-2xl space-y-4">
            <h1 class="text-3xl font-bold">{title}</h1>
            <p class="text-lg text-ink-muted">{what}</p>
            <p class="rounded-md border border-line bg-surface-sunken p-4 text-sm" role="status">
                "This part of uni1 is not available in this version yet."
            </p>
        </section>
    }
}

#[component]
pub fn Billing() -> impl IntoView {
    view! { <NotYet title="Billing" what="Your credit balance, credit packs and subscriptions, and the history of every purchase and charge." /> }
}

#[component]
pub fn Settings() -> impl IntoView {
    view! {
        <Title text="Settings" />
        <section class="mx-auto max-w-2xl space-y-4">
            <h1 class="text-3xl font-bold">"Settings"</h1>
            <a href="/settings/security" class="card block hover:bg-surface-sunken">
                <span class="block font-semibold">"Security"</span>
                <span class="text-ink-muted">"Where you are signed in, signing out other devices, and your sign-in history."</span>
            </a>
            <a href="/settings/sharing" class="card block hover:bg-surface-sunken">
                <span class="block font-semibold">"Share links"</span>
                <span class="text-ink-muted">"Every link you made to your images: when they expire, and turning them off."</span>
            </a>
            <crate::pages::gallery::ReminderSetting />
            <p class="rounded-md border border-line bg-surface-sunken p-4 text-sm" role="status">
                "Editing your profile, privacy choices and data export are not available in this version yet."
            </p>
        </section>
    }
}
