//! Report an account that may belong to someone under 18.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::form::{error_for, general_error, succeeded, Field, FormError};
use crate::underage::ReportUnderage;

#[component]
pub fn ReportUnderagePage() -> impl IntoView {
    let action = ServerAction::<ReportUnderage>::new();
    let v = action.value();
    let query = use_query_map();
    let sent = move || succeeded(v)() || query.read().get("sent").is_some();
    view! {
        <Title text="Report an underage account" />
        <section class="mx-auto max-w-xl space-y-6">
            <h1 class="text-3xl font-bold">"Report an underage account"</h1>
            <p class="text-ink-muted">
                "uni1 is only for adults. If you think an account belongs to someone under 18, tell us here. "
                "An administrator reviews every report; you do not need an account to send one."
            </p>
            <Show
                when=sent
                fallback=move || view! {
                    <ActionForm action=action attr:class="card space-y-4">
                        <Field label="Which account?" name="reported_account"
                            hint="Its e-mail address, display name or a link to something it shared."
                            error=error_for(v, "reported_account") />
                        <div class="space-y-1">
                            <label for="field-details" class="block text-sm font-medium">"Why do you think so?"</label>
                            <textarea id="field-details" name="details" rows="5" required minlength="10" maxlength="2000"
                                class="input" aria-describedby="field-details-error"></textarea>
                            <p id="field-details-error" class="text-sm text-danger" role="alert">{error_for(v, "details")}</p>
                        </div>
                        <div class="space-y-1">
                            <label for="field-reporter_email" class="block text-sm font-medium">"Your e-mail (optional)"</label>
                            <input id="field-reporter_email" name="reporter_email" type="email" autocomplete="email" class="input"
                                aria-describedby="field-reporter_email-error" />
                            <p id="field-reporter_email-error" class="text-sm text-danger" role="alert">{error_for(v, "reporter_email")}</p>
                        </div>
                        <FormError error=general_error(v) />
                        <button type="submit" class="btn-primary">"Send the report"</button>
                    </ActionForm>
                }
            >
                <p class="card" role="status" data-testid="report-sent">"Thank you. An administrator will review your report."</p>
            </Show>
        </section>
    }
}
