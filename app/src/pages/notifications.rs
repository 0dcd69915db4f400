//! Settings -> Notifications: the mails that always come, and the ones a
//! person chooses (all off until turned on, except service updates).
//! Every chosen mail also has a one-click unsubscribe link.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::form::{general_error, FormError};
use crate::error::AppError;
use crate::notifications::{mail_preferences, NotificationsDto, SetMailPreference};

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let set = ServerAction::<SetMailPreference>::new();
    let current = Resource::new_blocking(move || set.version().get(), |_| mail_preferences());
    view! {
        <Title text="Notifications" />
        <section class="mx-auto max-w-3xl space-y-8">
            <div class="space-y-2">
                <h1 class="text-3xl font-bold">"Notifications"</h1>
                <p class="text-ink-muted">"Which mails uni1 sends you."</p>
            </div>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match current.await {
                        Ok(data) => view! { <Choices data set /> }.into_any(),
                        Err(AppError::Unauthenticated) => view! {
                            <p class="card">"Please "
                                <A href="/sign-in?next=/settings/notifications" attr:class="underline">"sign in"</A>
                                " to choose your mails."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Choices(data: NotificationsDto, set: ServerAction<SetMailPreference>) -> impl IntoView {
    let NotificationsDto {
        generation_done,
        expiry_reminders,
        service_updates,
        marketing_since,
        retention_days,
    } = data;
    let marketing_text = match &marketing_since {
        Some(since) => format!("On since {since}: news about uni1 and offers, a few times a year at most. Turning it off withdraws your consent."),
        None => "Off (the default): no news or offers. Turning it on records your consent, with the time, here.".to_owned(),
    };
    view! {
        <div class="card space-y-2" data-testid="transactional">
            <h2 class="text-xl font-semibold">"Always sent"</h2>
            <p class="text-ink-muted">"Mails about your account itself cannot be turned off: address confirmations, password resets, receipts, security notices (a new sign-in method, a changed password or address), a data export that is ready, and your account's deletion. Changes to our terms or privacy policy are sent to every account too."</p>
        </div>
        <div class="space-y-3">
            <h2 class="text-xl font-semibold">"You choose"</h2>
            <FormError error=general_error(set.value()) />
            <Toggle set key="generation_done" title="When a generation finishes while I am away"
                text=if generation_done {
                    "On: a mail when a generation ends and no window of yours is following it.".to_owned()
                } else {
                    "Off (the default): no mail when a generation ends; the studio shows it.".to_owned()
                }
                on=generation_done />
            <Toggle set key="expiry_reminders" title="Expiry reminders"
                text=if expiry_reminders {
                    format!("On: a mail 7 days before images stop being downloadable ({retention_days} days after they were made).")
                } else {
                    format!("Off (the default): images stop being downloadable {retention_days} days after they were made, without a mail.")
                }
                on=expiry_reminders />
            <Toggle set key="service_updates" title="Service updates"
                text=if service_updates {
                    "On: rare mails about the service itself, such as planned maintenance or a feature that goes away.".to_owned()
                } else {
                    "Off: no service updates.".to_owned()
                }
                on=service_updates />
            <Toggle set key="marketing" title="Product news and offers" text=marketing_text on=marketing_since.is_some() />
        </div>
    }
}

#[component]
fn Toggle(
    set: ServerAction<SetMailPreference>,
    key: &'static str,
    title: &'static str,
    text: String,
    on: bool,
) -> impl IntoView {
    view! {
        <div class="card space-y-2" data-mail=key data-on=on.to_string()>
            <span class="block font-semibold">{title}</span>
            <p class="text-ink-muted">{text}</p>
            <ActionForm action=set>
                <input type="hidden" name="category" value=key />
                <input type="hidden" name="on" value=if on { "off" } else { "on" } />
                <button type="submit" class="btn-secondary text-sm" data-testid=format!("toggle-{key}")>
                    {if on { "Turn off" } else { "Turn on" }}
                </button>
            </ActionForm>
        </div>
    }
}
