//! Sign in, create an account, confirm an address, reset a password.
//! Every form works without JavaScript (plain POST, then a redirect); with
//! it, errors appear in place.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::auth::{
    get_pending_sign_up, get_sign_in_options, provider_error_text, ConfirmEmail,
    ConfirmEmailChange, RequestPasswordReset, SignUp,
};
use crate::components::form::{error_for, general_error, succeeded, Checkbox, Field, FormError};
use crate::AuthActions;

/// The frame of the account pages. Pages reached through a one-time link
/// are `noindex`; sign-in and sign-up are public entry points (`indexed`).
#[component]
fn AuthCard(
    title: &'static str,
    #[prop(optional)] indexed: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <Title text=title />
        {(!indexed).then(|| view! { <Meta name="robots" content="noindex" /> })}
        <section class="mx-auto max-w-md space-y-6">
            <h1 class="text-3xl font-bold">{title}</h1>
            {children()}
        </section>
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = expect_context::<AuthActions>().sign_in;
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let reset_done = move || query.read().get("reset").as_deref() == Some("done");
    let provider_error = move || {
        let q = query.read();
        q.get("error")
            .map(|code| provider_error_text(&code, &q.get("provider").unwrap_or_default()))
    };
    let options = Resource::new_blocking(|| (), |_| get_sign_in_options());
    view! {
        <AuthCard title="Sign in" indexed=true>
            <Show when=reset_done>
                <p class="card" role="status">"Your new password is set and every session was signed out. Sign in with it now."</p>
            </Show>
            {move || provider_error().map(|text| view! { <p class="card text-danger" role="alert" data-testid="provider-error">{text}</p> })}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let options = options.await.unwrap_or_default();
                    let next = next();
                    let next = if next.is_empty() { "/studio".to_owned() } else { next };
                    let href = move |p: &str| format!("/auth/{p}/start?next={}", crate::auth::encode_component(&next));
                    (options.google || options.github).then(|| view! {
                        <div class="space-y-2">
                            {options.google.then(|| view! {
                                <a rel="external" href=href("google") class="btn-secondary w-full">"Continue with Google"</a>
                            })}
                            {options.github.then(|| view! {
                                <a rel="external" href=href("github") class="btn-secondary w-full">"Continue with GitHub"</a>
                            })}
                            <p class="text-center text-sm text-ink-muted">"or with your e-mail address"</p>
                        </div>
                    })
                })}
            </Suspense>
            <ActionForm action=action attr:class="card space-y-4">
                <input type="hidden" name="next" value=next />
                <Field label="E-mail" name="email" kind="email" autocomplete="email" error=error_for(action.value(), "email") />
                <Field label="Password" name="password" kind="password" autocomplete="current-password" error=error_for(action.value(), "password") />
                <FormError error=general_error(action.value()) />
                <button type="submit" class="btn-primary w-full" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
            <p class="text-sm text-ink-muted">
                <A href="/reset-password" attr:class="underline">"Forgot your password?"</A>
                " · New here? "
                <A href="/sign-up" attr:class="underline">"Create an account"</A>
            </p>
        </AuthCard>
    }
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let v = action.value();
    let query = use_query_map();
    let done = move || succeeded(v)() || query.read().get("done").is_some();
    view! {
        <AuthCard title="Create an account" indexed=true>
            <Show
                when=done
                fallback=move || view! {
                    <ActionForm action=action attr:class="card space-y-4">
                        <Field label="Your name" name="display_name" autocomplete="name" error=error_for(v, "display_name") />
                        <Field label="E-mail" name="email" kind="email" autocomplete="email" error=error_for(v, "email") />
                        <Field label="Password" name="password" kind="password" autocomplete="new-password"
                            hint="At least 8 characters. A few uncommon words make a strong password."
                            error=error_for(v, "password") />
                        <Checkbox name="adult" error=error_for(v, "adult")>"I am 18 years old or older."</Checkbox>
                        <Checkbox name="terms" error=error_for(v, "terms")>
                            "I accept the " <a href="/terms" class="underline">"terms"</a> " and the "
                            <a href="/privacy" class="underline">"privacy policy"</a> "."
                        </Checkbox>
                        <FormError error=general_error(v) />
                        <button type="submit" class="btn-primary w-full" disabled=move || action.pending().get()>"Create account"</button>
                    </ActionForm>
                    <p class="text-sm text-ink-muted">"Have an account? " <a href="/sign-in" class="underline">"Sign in"</a></p>
                }
            >
                <div class="card space-y-2" role="status" data-testid="sign-up-done">
                    <p class="font-semibold">"Check your inbox."</p>
                    <p>"We sent a mail to the address you entered. Open the link in it to confirm your address. You can sign in already; generating images needs a confirmed address."</p>
                    <a href="/sign-in" class="btn-primary inline-block">"Sign in"</a>
                </div>
            </Show>
        </AuthCard>
    }
}

#[component]
pub fn ConfirmEmailPage() -> impl IntoView {
    let action = ServerAction::<ConfirmEmail>::new();
    let v = action.value();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let done = move || succeeded(v)() || query.read().get("done").is_some();
    view! {
        <AuthCard title="Confirm your e-mail address">
            <Show
                when=done
                fallback=move || view! {
                    <ActionForm action=action attr:class="card space-y-4">
                        <input type="hidden" name="token" value=token />
                        <p>"Press the button to confirm that this address is yours."</p>
                        <FormError error=move || error_for(v, "token")().or_else(general_error(v)) />
                        <button type="submit" class="btn-primary w-full">"Confirm my address"</button>
                    </ActionForm>
                }
            >
                <div class="card space-y-2" role="status" data-testid="email-confirmed">
                    <p>"Thank you: your address is confirmed."</p>
                    <p class="text-sm">"For your safety, every other device signed in to this account was signed out. If this browser is not signed in, "
                        <a href="/sign-in" class="underline">"sign in"</a>" again."</p>
                </div>
            </Show>
        </AuthCard>
    }
}

#[component]
pub fn ResetRequestPage() -> impl IntoView {
    let action = ServerAction::<RequestPasswordReset>::new();
    let v = action.value();
    let query = use_query_map();
    let sent = move || succeeded(v)() || query.read().get("sent").is_some();
    view! {
        <AuthCard title="Choose a new password">
            <Show
                when=sent
                fallback=move || view! {
                    <ActionForm action=action attr:class="card space-y-4">
                        <p>"Enter the address of your account. We will mail you a link to choose a new password."</p>
                        <Field label="E-mail" name="email" kind="email" autocomplete="email" error=error_for(v, "email") />
                        <FormError error=general_error(v) />
                        <button type="submit" class="btn-primary w-full">"Send the link"</button>
                    </ActionForm>
                }
            >
                <p class="card" role="status" data-testid="reset-sent">
                    "If an account uses this address, a link is on its way. It works for one hour."
                </p>
            </Show>
        </AuthCard>
    }
}

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let action = expect_context::<AuthActions>().reset;
    let v = action.value();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    view! {
        <AuthCard title="Choose a new password">
            <ActionForm action=action attr:class="card space-y-4">
                <input type="hidden" name="token" value=token />
                <Field label="New password" name="password" kind="password" autocomplete="new-password"
                    hint="At least 8 characters. Choosing it signs you out everywhere."
                    error=error_for(v, "password") />
                <FormError error=move || error_for(v, "token")().or_else(general_error(v)) />
                <button type="submit" class="btn-primary w-full">"Set the new password"</button>
            </ActionForm>
        </AuthCard>
    }
}

#[component]
pub fn CompleteSignUpPage() -> impl IntoView {
    let action = expect_context::<AuthActions>().complete_sign_up;
    let v = action.value();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let pending = Resource::new_blocking(token, get_pending_sign_up);
    view! {
        <AuthCard title="Finish creating your account">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match pending.await {
                        Ok(p) => view! {
                            <ActionForm action=action attr:class="card space-y-4">
                                <input type="hidden" name="token" value=token />
                                <p>{format!("{} confirmed your address ", p.provider)}<strong>{p.email}</strong>
                                    ". You will appear as " <strong>{p.display_name}</strong> "."</p>
                                <Checkbox name="adult" error=error_for(v, "adult")>"I am 18 years old or older."</Checkbox>
                                <Checkbox name="terms" error=error_for(v, "terms")>
                                    "I accept the " <a href="/terms" class="underline">"terms"</a> " and the "
                                    <a href="/privacy" class="underline">"privacy policy"</a> "."
                                </Checkbox>
                                <FormError error=move || error_for(v, "token")().or_else(error_for(v, "provider")).or_else(general_error(v)) />
                                <button type="submit" class="btn-primary w-full">"Create my account"</button>
                            </ActionForm>
                        }.into_any(),
                        Err(_) => view! {
                            <p class="card" role="alert">"This link is not valid any more. "
                                <a href="/sign-in" class="underline">"Start again"</a> "."</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </AuthCard>
    }
}

#[component]
pub fn SecondFactorPage() -> impl IntoView {
    let action = expect_context::<AuthActions>().second_factor;
    let v = action.value();
    view! {
        <AuthCard title="Two-factor authentication">
            <ActionForm action=action attr:class="card space-y-4">
                <p>"Enter the 6-digit code from your authenticator app, or one of your recovery codes."</p>
                <Field label="Code" name="code" autocomplete="one-time-code" error=error_for(v, "code") />
                <FormError error=move || error_for(v, "token")().or_else(general_error(v)) />
                <button type="submit" class="btn-primary w-full">"Continue"</button>
            </ActionForm>
            <p class="text-sm text-ink-muted"><a href="/sign-in" class="underline">"Start again"</a></p>
        </AuthCard>
    }
}

#[component]
pub fn ConfirmEmailChangePage() -> impl IntoView {
    let action = ServerAction::<ConfirmEmailChange>::new();
    let v = action.value();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let done = move || succeeded(v)() || query.read().get("done").is_some();
    view! {
        <AuthCard title="Confirm your new e-mail address">
            <Show
                when=done
                fallback=move || view! {
                    <ActionForm action=action attr:class="card space-y-4">
                        <input type="hidden" name="token" value=token />
                        <p>"Press the button to use this address for your account."</p>
                        <FormError error=move || error_for(v, "token")().or_else(general_error(v)) />
                        <button type="submit" class="btn-primary w-full">"Use this address"</button>
                    </ActionForm>
                }
            >
                <p class="card" role="status" data-testid="email-changed">"Done: your account uses the new address now."</p>
            </Show>
        </AuthCard>
    }
}
