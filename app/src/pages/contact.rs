//! Write to the operator. Works as a plain form without JavaScript; with it,
//! errors and the confirmation appear in place.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::form::{error_for, general_error, succeeded, Field, FormError};
use crate::contact::SubmitContact;
use crate::site::WithSiteInfo;

#[component]
pub fn ContactPage() -> impl IntoView {
    let submit = ServerAction::<SubmitContact>::new();
    let v = submit.value();
    view! {
        <Title text="Contact" />
        <section class="mx-auto max-w-xl space-y-6">
            <h1 class="text-3xl font-bold">"Contact"</h1>
            <WithSiteInfo children=|info| view! {
                <p class="text-ink-muted">
                    "This installation of uni1 is run by " <strong>{info.operator_name}</strong>
                    ". Write below, or e-mail "
                    <a class="underline" href=format!("mailto:{}", info.operator_email)>{info.operator_email.clone()}</a> "."
                </p>
            } />
            <Show
                when=succeeded(v)
                fallback=move || view! {
                    <ActionForm action=submit attr:class="card space-y-4" attr:novalidate=true>
                        <Field label="Your name" name="name" autocomplete="name" error=error_for(v, "name") />
                        <Field label="Your e-mail" name="email" kind="email" autocomplete="email" error=error_for(v, "email") />
                        <div class="space-y-1">
                            <label for="field-message" class="block text-sm font-medium">"Message"</label>
                            <textarea id="field-message" name="message" rows="6" required minlength="10" maxlength="5000"
                                class="input" aria-describedby="field-message-error"></textarea>
                            <p id="field-message-error" class="text-sm text-danger" role="alert">{error_for(v, "message")}</p>
                        </div>
                        <FormError error=general_error(v) />
                        <button type="submit" class="btn-primary" disabled=move || submit.pending().get()>
                            {move || if submit.pending().get() { "Sending…" } else { "Send message" }}
                        </button>
                    </ActionForm>
                }
            >
                <p class="card" role="status" data-testid="contact-sent">
                    "Thank you. Your message was sent to the operator."
                </p>
            </Show>
        </section>
    }
}
