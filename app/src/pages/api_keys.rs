//! Settings → API keys: make a key (shown once), see the keys, revoke one.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

use crate::api_keys::{list_api_keys, ApiKeyDto, CreateApiKey, RevokeApiKey};
use crate::error::AppError;

fn key_line(k: &ApiKeyDto) -> String {
    let spending = match k.monthly_credit_cap {
        Some(cap) => format!("{} of {cap} credits this month", k.spent_this_month),
        None => format!("{} credits this month, no cap", k.spent_this_month),
    };
    format!(
        "{}… · {} · made {} · last used {} · expires {} · {} · {}",
        k.prefix,
        k.scopes.join(", "),
        k.created_at,
        k.last_used,
        k.expires,
        spending,
        k.state
    )
}

/// Settings → API keys.
#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new_blocking(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let created = create.value();
    view! {
        <Title text="API keys" />
        <Meta name="robots" content="noindex" />
        <section class="mx-auto max-w-2xl space-y-4">
            <h1 class="text-3xl font-bold">"API keys"</h1>
            <p class="text-ink-muted">"A key lets a program generate images as you, with your credits, through uni1's OpenAI-compatible API (POST /v1/images/generations). Send it as \"Authorization: Bearer …\". Anyone with a key can spend your credits: keep it secret, and revoke it when you stop using it."</p>
            <p class="text-sm"><a href="/docs/api" rel="external" class="underline">"How to use the API"</a>" (examples for curl, Python and JavaScript) and its "<a href="/v1/openapi.json" rel="external" class="underline">"OpenAPI description"</a>"."</p>
            <ActionForm action=create attr:class="card space-y-3" attr:data-testid="api-key-create">
                <label class="block text-sm">"Name"
                    <input name="name" required maxlength="100" class="input" placeholder="e.g. my script" />
                </label>
                <fieldset class="space-y-1 text-sm">
                    <legend class="font-semibold">"What it may do"</legend>
                    <label class="block"><input type="checkbox" name="scope_generate" value="on" checked />" generate images"</label>
                    <label class="block"><input type="checkbox" name="scope_read" value="on" />" read generations and images"</label>
                    <label class="block"><input type="checkbox" name="scope_webhooks" value="on" />" manage webhooks"</label>
                </fieldset>
                <label class="block text-sm">"Expires "
                    <select name="expires_in_days" class="input w-auto">
                        <option value="">"never"</option>
                        <option value="7">"in 7 days"</option>
                        <option value="30">"in 30 days"</option>
                        <option value="90" selected>"in 90 days"</option>
                        <option value="365">"in a year"</option>
                    </select>
                </label>
                <label class="block text-sm">"Monthly credit cap (optional)"
                    <input type="number" name="monthly_credit_cap" min="1" step="1" inputmode="numeric" class="input w-40" placeholder="no cap" />
                    <span class="block text-ink-muted">"The most credits this key may spend in a calendar month (UTC). Requests over it are refused."</span>
                </label>
                <p class="text-sm text-ink-muted">"A key lasts beyond this session, so if you signed in more than 10 minutes ago, confirm it is you with one of these:"</p>
                <label class="block text-sm">"Your password"
                    <input type="password" name="password" autocomplete="current-password" class="input" />
                </label>
                <label class="block text-sm">"Or a code from your authenticator app"
                    <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" class="input w-32" />
                </label>
                <button type="submit" class="btn-primary">"Create key"</button>
            </ActionForm>
            {move || match created.get() {
                Some(Ok(new)) => Some(view! {
                    <div class="card space-y-1" role="status">
                        <p class="text-sm font-semibold">"Your new key (copy it now: it is shown once and we keep only a hash of it):"</p>
                        <code class="block break-all text-sm" data-testid="api-key-secret">{new.secret.clone()}</code>
                    </div>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="text-sm text-danger" role="alert">{e.to_string()}</p> }.into_any()),
                None => None,
            }}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(ks) if ks.is_empty() => view! { <p class="card">"You have no API keys."</p> }.into_any(),
                        Ok(ks) => view! {
                            <ul class="space-y-2" data-testid="api-keys">
                                {ks.into_iter().map(|k| {
                                    let active = k.state == "active";
                                    view! {
                                        <li class="card flex flex-wrap items-center justify-between gap-3 p-3">
                                            <span class="text-sm"><span class="font-semibold">{k.name.clone()}</span>" · "{key_line(&k)}</span>
                                            {active.then(|| view! {
                                                <ActionForm action=revoke>
                                                    <input type="hidden" name="id" value=k.id.clone() />
                                                    <button type="submit" class="btn-secondary text-xs">"Revoke"</button>
                                                </ActionForm>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(AppError::Unauthenticated) => view! {
                            <p class="card">"Please " <a href="/sign-in?next=/settings/api-keys" class="underline">"sign in"</a> " to manage your API keys."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
