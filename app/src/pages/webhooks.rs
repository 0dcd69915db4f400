//! Settings -> Webhooks: endpoints that get a signed request (Standard
//! Webhooks) when a generation ends; their secrets (shown once), turning
//! them off and on, and each endpoint's delivery log with "send again".

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::components::form::{error_for, general_error, FormError};
use crate::error::AppError;
use crate::webhooks::{
    list_webhooks, webhook_log, AddWebhook, AttemptDto, DeleteWebhook, EndpointDto, ResendWebhook,
    RotateWebhookSecret, SecretDto, SetWebhookEnabled, EVENTS,
};

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let add = ServerAction::<AddWebhook>::new();
    let enable = ServerAction::<SetWebhookEnabled>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let rotate = ServerAction::<RotateWebhookSecret>::new();
    let endpoints = Resource::new_blocking(
        move || {
            (
                add.version().get(),
                enable.version().get(),
                delete.version().get(),
            )
        },
        |_| list_webhooks(),
    );
    let shown = move || -> Option<SecretDto> {
        match (add.value().get(), rotate.value().get()) {
            (_, Some(Ok(s))) if rotate.version().get() > 0 => Some(s),
            (Some(Ok(s)), _) => Some(s),
            _ => None,
        }
    };
    view! {
        <Title text="Webhooks" />
        <section class="mx-auto max-w-3xl space-y-8">
            <div class="space-y-2">
                <h1 class="text-3xl font-bold">"Webhooks"</h1>
                <p class="text-ink-muted">
                    "When one of your generations ends, uni1 can send a signed POST to an https address of yours (Standard Webhooks: "
                    <code>"webhook-id"</code>", "<code>"webhook-timestamp"</code>", "<code>"webhook-signature"</code>
                    "). The body holds the job's id, status, model, times and image ids, never your prompt. A request that does not get a 2xx answer is tried again over about three days; an answer of 410 Gone turns the endpoint off."
                </p>
            </div>
            <Show when=move || shown().is_some()>
                <div class="card space-y-2" role="status" data-testid="webhook-secret">
                    <h2 class="text-xl font-semibold">"Your signing secret"</h2>
                    <p class="text-ink-muted">"Copy it now: it is not shown again. Verify each request with it (any Standard Webhooks library does this)."</p>
                    <code class="block break-all">{move || shown().map(|s| s.secret)}</code>
                </div>
            </Show>
            <div class="card space-y-3">
                <h2 class="text-xl font-semibold">"Add an endpoint"</h2>
                <ActionForm action=add attr:class="space-y-3">
                    <div class="space-y-1">
                        <label for="webhook-url" class="block font-medium">"Address (https://…)"</label>
                        <input id="webhook-url" name="url" type="url" required class="input w-full"
                            placeholder="https://example.com/uni1-hook" autocomplete="off" />
                        <p class="text-sm text-danger" role="alert">{error_for(add.value(), "url")}</p>
                    </div>
                    <fieldset class="space-y-1">
                        <legend class="font-medium">"Events"</legend>
                        {EVENTS.iter().map(|&(event, label)| {
                            let name: &'static str = event.trim_start_matches("generation.");
                            view! {
                                <label class="flex items-center gap-2">
                                    <input type="checkbox" name=name value="on" checked=true class="size-4 accent-brand-600" />
                                    <span>{label}" ("<code>{event}</code>")"</span>
                                </label>
                            }
                        }).collect_view()}
                        <p class="text-sm text-danger" role="alert">{error_for(add.value(), "events")}</p>
                    </fieldset>
                    <FormError error=general_error(add.value()) />
                    <button type="submit" class="btn-primary">"Add endpoint"</button>
                </ActionForm>
            </div>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match endpoints.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="text-ink-muted">"No endpoints yet."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="space-y-3">
                                <FormError error=general_error(enable.value()) />
                                {list.into_iter().map(|e| view! { <Endpoint e enable delete rotate /> }).collect_view()}
                            </div>
                            <Log />
                        }.into_any(),
                        Err(AppError::Unauthenticated) => view! {
                            <p class="card">"Please "
                                <A href="/sign-in?next=/settings/webhooks" attr:class="underline">"sign in"</A>
                                " to manage your webhooks."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Endpoint(
    e: EndpointDto,
    enable: ServerAction<SetWebhookEnabled>,
    delete: ServerAction<DeleteWebhook>,
    rotate: ServerAction<RotateWebhookSecret>,
) -> impl IntoView {
    let log_href = format!("/settings/webhooks?log={}", e.id);
    let (id_enable, id_rotate, id_delete) = (e.id.clone(), e.id.clone(), e.id.clone());
    let state = match &e.disabled_because {
        None => "On".to_owned(),
        Some(why) => format!("Off: {why}"),
    };
    view! {
        <div class="card space-y-2" data-webhook=e.id.clone() data-on=e.enabled.to_string()>
            <span class="block break-all font-semibold">{e.url.clone()}</span>
            <p class="text-ink-muted">{e.events.join(", ")}</p>
            <p class="text-sm">{state}" · added "{e.created_at.clone()}</p>
            <div class="flex flex-wrap gap-2">
                <ActionForm action=enable>
                    <input type="hidden" name="id" value=id_enable.clone() />
                    <input type="hidden" name="on" value=if e.enabled { "off" } else { "on" } />
                    <button type="submit" class="btn-secondary text-sm">
                        {if e.enabled { "Turn off" } else { "Turn on" }}
                    </button>
                </ActionForm>
                <ActionForm action=rotate>
                    <input type="hidden" name="id" value=id_rotate.clone() />
                    <button type="submit" class="btn-secondary text-sm">"New secret"</button>
                </ActionForm>
                <ActionForm action=delete>
                    <input type="hidden" name="id" value=id_delete.clone() />
                    <button type="submit" class="btn-secondary text-sm">"Delete"</button>
                </ActionForm>
                <a href=log_href class="btn-secondary text-sm">"Delivery log"</a>
            </div>
        </div>
    }
}

/// The log of the endpoint named by `?log=<id>`.
#[component]
fn Log() -> impl IntoView {
    let query = use_query_map();
    let resend = ServerAction::<ResendWebhook>::new();
    let log = Resource::new(
        move || (query.read().get("log"), resend.version().get()),
        |(id, _)| async move {
            match id {
                Some(id) => webhook_log(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match log.await {
                    Ok(None) => ().into_any(),
                    Ok(Some(rows)) => view! {
                        <div class="card space-y-2" data-testid="webhook-log">
                            <h2 class="text-xl font-semibold">"Delivery log"</h2>
                            <FormError error=general_error(resend.value()) />
                            {if rows.is_empty() {
                                view! { <p class="text-ink-muted">"Nothing sent yet."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="space-y-2">
                                        {rows.into_iter().map(|a| {
                                            let AttemptDto { delivery_id, event_type, at, answer, error, state, can_resend } = a;
                                            view! {
                                                <li class="border-t pt-2">
                                                    <span class="block">{at}" · "<code>{event_type}</code>" · "{answer}" · now "{state}</span>
                                                    {error.map(|e| view! { <span class="block text-sm text-ink-muted">{e}</span> })}
                                                    {can_resend.then(|| view! {
                                                        <ActionForm action=resend>
                                                            <input type="hidden" name="delivery" value=delivery_id />
                                                            <button type="submit" class="btn-secondary text-sm">"Send again"</button>
                                                        </ActionForm>
                                                    })}
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                        </div>
                    }.into_any(),
                    Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
