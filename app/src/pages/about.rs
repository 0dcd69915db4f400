//! The settings hub: links to each settings page, and a plain word on what
//! is not built yet, so the navigation never leads to a pretend feature.

use leptos::prelude::*;
use leptos_meta::Title;

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
            <a href="/settings/notifications" class="card block hover:bg-surface-sunken">
                <span class="block font-semibold">"Notifications"</span>
                <span class="text-ink-muted">"Which mails you get: generations that finish while you are away, expiry reminders, service updates, news."</span>
            </a>
            <a href="/settings/api-keys" class="card block hover:bg-surface-sunken">
                <span class="block font-semibold">"API keys"</span>
                <span class="text-ink-muted">"Keys for programs that generate images with your credits through the OpenAI-compatible API."</span>
            </a>
            <a href="/settings/webhooks" class="card block hover:bg-surface-sunken">
                <span class="block font-semibold">"Webhooks"</span>
                <span class="text-ink-muted">"Signed requests to your own server when a generation ends, and their delivery log."</span>
            </a>
            <a href="/settings/privacy" class="card block hover:bg-surface-sunken">
                <span class="block font-semibold">"Privacy"</span>
                <span class="text-ink-muted">"Your name and picture, what we store about you, a copy of it, how it may be used, and deleting your account."</span>
            </a>
        </section>
    }
}
