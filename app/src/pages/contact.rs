//! Write to the operator. Works as a plain form without JavaScript; with it,
//! errors and the confirmation appear in place.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::contact::SubmitContact;
use crate::site::WithSiteInfo;

#[component]
pub fn ContactPage() -> impl IntoView {
    let submit = ServerAction::<SubmitContact>::new();
    let error_for = move |field: &'static str| {
        move || match submit.value().get() {
            Some(Err(e)) if e.field() == Some(field) => Some(e.to_string()),
            _ => None,
        }
    };
    let general_error = move || match submit.value().get() {
        Some(Err(e)) if e.field().is_none() => Some(e.to_string()),
        _ => None,
    };
    let sent = move || matches!(submit.value().get(), Some(Ok(())));

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
                when=sent
                fallback=move || view! {
                    <ActionForm action=submit attr:class="card space-y-4" attr:novalidate=true>
                        <Field label="Your name" name="name" kind="text" autocomplete="name" error=error_for("name") />
                        <Field label="Your e-mail" name="email" kind="email" autocomplete="email" error=error_for("email") />
                        <div class="space-y-1">
                            <label for="contact-message" class="block text-sm font-medium">"Message"</label>
                            <textarea id="contact-message" name="message" rows="6" required minlength="10" maxlength="5000"
                                class="input" aria-describedby="contact-message-error"></textarea>
                            <p id="contact-message-error" class="text-sm text-danger" role="alert">{error_for("message")}</p>
                        </div>
                        <p class="text-sm text-danger" role="alert">{general_error}</p>
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

#[component]
fn Field<E>(
    label: &'static str,
    name: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    error: E,
) -> impl IntoView
where
    E: Fn() -> Option<String> + Send + Sync + 'static,
{
    let id = format!("contact-{name}");
    let error_id = format!("{id}-error");
    view! {
        <div class="space-y-1">
            <label for=id.clone() class="block text-sm font-medium">{label}</label>
            <input id=id type=kind name=name autocomplete=autocomplete required class="input"
                aria-describedby=error_id.clone() />
            <p id=error_id class="text-sm text-danger" role="alert">{error}</p>
        </div>
    }
}
