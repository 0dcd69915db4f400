//! Privacy, terms and cookies pages. They describe what this software does
//! today, for the operator named in the configuration; when a feature that
//! touches personal data lands, its paragraph here changes in the same commit.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::site::{WithSiteInfo, PRODUCT};

/// When the privacy text below last changed.
pub const POLICY_UPDATED: &str = "2026-11-24";

#[component]
fn Prose(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=title />
        <article class="prose mx-auto max-w-2xl space-y-4">
            <h1 class="text-3xl font-bold">{title}</h1>
            {children()}
        </article>
    }
}

#[component]
pub fn Privacy() -> impl IntoView {
    view! {
        <Prose title="Privacy">
            <p class="text-sm text-ink-muted" data-testid="policy-updated">"Last updated: " {POLICY_UPDATED}</p>
            <WithSiteInfo children=|info| view! {
                <p>
                    "This site runs " {PRODUCT} ", open-source software for generating images. It is operated by "
                    <strong>{info.operator_name}</strong> ", who decides what happens to the data described here. Reach them at "
                    <a class="underline" href=format!("mailto:{}", info.operator_email)>{info.operator_email.clone()}</a> "."
                </p>
            } />
            <h2 class="text-xl font-semibold">"What this version stores"</h2>
            <ul class="list-disc space-y-2 pl-6">
                <li>"Messages you send through the contact form: your name, e-mail address and message, so the operator can answer you."</li>
                <li>"Server logs of each request (time, method, path, status, duration and a request id) to keep the service running. They do not contain what you type into forms."</li>
            </ul>
            <p>"Accounts, image generation, payments and analytics are not part of this version, so no data for them is collected."</p>
            <h2 class="text-xl font-semibold">"Cookies"</h2>
            <p>"This version sets no cookies. See the cookies page for what will change when sign-in arrives."</p>
            <h2 class="text-xl font-semibold">"Your rights"</h2>
            <p>"You can ask the operator to see, correct or delete the messages you sent, using the contact details above. Your data is not sold."</p>
        </Prose>
    }
}

#[component]
pub fn Terms() -> impl IntoView {
    view! {
        <Prose title="Terms">
            <p>"By using this site you agree to use it lawfully and not to attempt to disrupt it or reach data that is not yours."</p>
            <p>"The software is provided as is, under its open-source licence. The operator of this installation sets any further terms and can be reached through the contact page."</p>
        </Prose>
    }
}

#[component]
pub fn Cookies() -> impl IntoView {
    view! {
        <Prose title="Cookies">
            <p>"This version of " {PRODUCT} " sets no cookies."</p>
            <p>"When sign-in is available, one essential cookie will keep you signed in. Analytics and preference cookies will be set only if you allow them, and you will be able to change that choice at any time."</p>
        </Prose>
    }
}
