//! Privacy, terms and cookies pages. They describe what this software does
//! today, for the operator named in the configuration; when a feature that
//! touches personal data lands, its paragraph here changes in the same commit.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::site::{WithSiteInfo, PRODUCT};

/// Every version of the privacy text below, newest first: its date and
/// what changed. The first is in force; signed-in people who have not
/// seen it get a notice with its summary until they dismiss it. A change
/// to the text adds a line here (and moves
/// `uni1_domain::privacy::POLICY_VERSION`, which a test keeps equal).
pub const POLICY_VERSIONS: &[(&str, &str)] = &[
    (
        "2026-12-07",
        "Adds cookie choices and first-party analytics without identifiers, counted only if you allow them; lists every cookie on the cookies page.",
    ),
    (
        "2026-12-04",
        "Describes generation, images, payments and the privacy center: you can now see, export and delete your data, object, restrict processing and choose whether your images may train models, from Settings → Privacy.",
    ),
    ("2026-11-24", "First version: accounts, sessions and the contact form."),
];

/// When the privacy text below last changed.
pub const POLICY_UPDATED: &str = POLICY_VERSIONS[0].0;

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
            <h2 class="text-xl font-semibold">"What we store, and why"</h2>
            <ul class="list-disc space-y-2 pl-6">
                <li>"Your account: e-mail address, display name, a one-way hash of your password (never the password itself), when you confirmed you are 18 or older and accepted the terms, and your privacy choices with their times. To run your account."</li>
                <li>"If you sign in with Google or GitHub: the provider's id for you, the e-mail address, name and picture address it gives us. We ask only for your basic profile and e-mail address."</li>
                <li>"Your sessions: when you signed in and were last active, your IP address and your browser, operating system and device type, so you can see where you are signed in and sign out any device. Ended sessions stay listed as your sign-in history."</li>
                <li>"If you turn on two-factor authentication: its secret, encrypted with the site's key, and one-way hashes of your recovery codes."</li>
                <li>"A security log of sign-ins, failed sign-ins, sign-outs and account changes, with IP address and browser, to detect and investigate misuse."</li>
                <li>"What you create: prompts and settings of each generation, the images (encrypted, downloadable for a limited time, then their files are deleted), reference images you upload (deleted when their job ends or after an hour), collections and share links. To make and keep your images."</li>
                <li>"Credits and purchases: your balance and every change to it, what you bought, amounts and refunds. Payments are taken by the payment provider named on "<a class="underline" href="/privacy-choices">"Your privacy choices"</a>"; we never receive your card details. Records of sales are kept as long as tax law requires."</li>
                <li>"Mails we send you (confirmations, receipts, notices): kept in a queue until delivered; their text is deleted once sent."</li>
                <li>"Messages you send through the contact form, and reports about underage accounts: so the operator can answer and act."</li>
                <li>"Server logs of each request (time, method, path, status, duration and a request id) to keep the service running. They do not contain what you type into forms."</li>
            </ul>
            <p>"There is no advertising. Your images and prompts are not used to train models unless you opt in under Settings → Privacy, and you can withdraw at any time."</p>
            <h2 class="text-xl font-semibold">"Analytics"</h2>
            <p>"Only if you allow analytics in your cookie choices, and not if your browser sends Global Privacy Control or you objected under Settings → Privacy, we count the pages you open and when you sign up, start a generation or buy credits. We store the day, the kind of page (never an id or a link's token), the website that sent you (its name only) and whether you use a computer, a tablet or a phone. We store no cookie for it, no IP address and no account: to count unique visitors we keep a one-way hash of your address and browser under a random value of that day, which we delete when the day is over, so visits cannot be linked across days. The operator sees only totals. There are no third-party scripts."</p>
            <h2 class="text-xl font-semibold">"Cookies"</h2>
            <p>"Essential cookies keep you signed in and remember your cookie choices. With your consent, a preferences cookie remembers your studio settings. Every cookie is listed, with its purpose and lifetime, on "<a class="underline" href="/cookies">"the cookies page"</a>", where you can change your choices at any time."</p>
            <h2 class="text-xl font-semibold">"Your rights"</h2>
            <p>"Under "<a class="underline" href="/settings/privacy">"Settings → Privacy"</a>" you can see what we store about you, correct your name, download a copy of all of it, object to its use for improving the service, restrict its processing, give or withdraw consent to training, and delete your account (after a grace period in which you can change your mind). Each request is recorded with the date by which it must be answered: one month. Your address and password are under Settings → Security. For anything else, write to the operator above. Your data is not sold, and not shared for advertising: see "<a class="underline" href="/privacy-choices">"Your privacy choices"</a>"."</p>
            <h2 class="text-xl font-semibold">"Versions"</h2>
            <ul class="list-disc space-y-1 pl-6" data-testid="policy-versions">
                {POLICY_VERSIONS.iter().map(|(date, what)| view! { <li><strong>{*date}</strong>": "{*what}</li> }).collect_view()}
            </ul>
        </Prose>
    }
}

#[component]
pub fn Terms() -> impl IntoView {
    view! {
        <Prose title="Terms">
            <p>"uni1 is only for adults: you must be 18 or older to create an account. If you think an account belongs to someone younger, "
                <a href="/report-underage" class="underline">"report it"</a> "."</p>
            <p>"By using this site you agree to use it lawfully and not to attempt to disrupt it or reach data that is not yours."</p>
            <p>"The software is provided as is, under its open-source licence. The operator of this installation sets any further terms and can be reached through the contact page."</p>
        </Prose>
    }
}

#[component]
pub fn Cookies() -> impl IntoView {
    use crate::consent::{get_cookie_consent, ConsentForm, CookieCategory, COOKIES};
    let state = Resource::new_blocking(|| (), |_| get_cookie_consent());
    let row = |c: &crate::consent::CookieInfo| {
        view! {
            <tr class="border-t border-line align-top">
                <td class="py-2 pr-3"><code>{c.name}</code></td>
                <td class="py-2 pr-3">{c.category.label()}</td>
                <td class="py-2 pr-3">{c.purpose}</td>
                <td class="py-2">{c.lifetime}</td>
            </tr>
        }
    };
    view! {
        <Prose title="Cookies">
            <p>"Essential cookies are needed for what you ask for (signing in, remembering your choices) and are always on. Everything else is set only with your consent: until you choose, only essential cookies are set. Analytics use no cookie at all, and count you only if you allow them (see "<a class="underline" href="/privacy">"Privacy"</a>")."</p>
            <h2 class="text-xl font-semibold">"Every cookie this site sets"</h2>
            <p class="text-sm text-ink-muted">"On https sites each name starts with "<code>"__Host-"</code>": the cookie is then sent only to this site, over https. No cookie can be read by scripts."</p>
            <div class="not-prose overflow-x-auto">
                <table class="w-full text-left text-sm" data-testid="cookie-table">
                    <thead>
                        <tr><th scope="col" class="py-2 pr-3">"Name"</th><th scope="col" class="py-2 pr-3">"Category"</th><th scope="col" class="py-2 pr-3">"Purpose"</th><th scope="col" class="py-2">"Lifetime"</th></tr>
                    </thead>
                    <tbody>
                        {COOKIES.iter().filter(|c| c.category == CookieCategory::Essential).map(row).collect_view()}
                        {COOKIES.iter().filter(|c| c.category != CookieCategory::Essential).map(row).collect_view()}
                    </tbody>
                </table>
            </div>
            <h2 class="text-xl font-semibold">"Your choices"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match state.await {
                        Ok(state) => view! { <ConsentForm state /> }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </Prose>
    }
}
