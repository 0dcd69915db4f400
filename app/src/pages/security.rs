//! Settings -> Security: where the person sees every device signed in to
//! their account, signs any of them out, and reads their sign-in history.

use chrono::{DateTime, Utc};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::components::A;

use leptos_router::hooks::use_query_map;

use crate::auth::{provider_error_text, RequestEmailChange, SignInOptions};
use crate::components::form::{error_for, general_error, Field, FormError};
use crate::error::AppError;
use crate::security::{
    security_overview, BeginTwoFactor, ConfirmTwoFactor, DisableTwoFactor, EndOtherSessions,
    EndSession, HistoryItem, LinkedInfo, SessionInfo, UnlinkProvider,
};

fn when(t: DateTime<Utc>) -> String {
    crate::dates::minute(t)
}

fn action_label(action: &str) -> &'static str {
    match action {
        "sign_in" => "Signed in",
        "sign_in_failed" => "Failed sign-in",
        "sign_out" => "Signed out",
        "sign_up" => "Account created",
        "sign_up_existing_email" => "Someone tried to sign up with your address",
        "email_confirmed" => "Address confirmed",
        "email_change_requested" => "Address change requested",
        "email_changed" => "Address changed",
        "session_ended" => "Signed out a device",
        "other_sessions_ended" => "Signed out everywhere else",
        "password_reset_requested" => "Password reset requested",
        "password_reset" => "Password changed",
        "provider_linked" => "Sign-in provider linked",
        "provider_unlinked" => "Sign-in provider unlinked",
        "two_factor_enabled" => "Two-factor authentication turned on",
        "two_factor_disabled" => "Two-factor authentication turned off",
        "two_factor_failed" => "Wrong two-factor code",
        "two_factor_paused" => "Two-factor codes paused after many wrong ones",
        "api_key_created" => "API key created",
        "api_key_revoked" => "API key revoked",
        "api_keys_revoked" => "All API keys revoked",
        _ => "Other",
    }
}

#[component]
pub fn SecurityPage() -> impl IntoView {
    let end = ServerAction::<EndSession>::new();
    let end_others = ServerAction::<EndOtherSessions>::new();
    let unlink = ServerAction::<UnlinkProvider>::new();
    let confirm_2fa = ServerAction::<ConfirmTwoFactor>::new();
    let disable_2fa = ServerAction::<DisableTwoFactor>::new();
    let overview = Resource::new_blocking(
        move || {
            (
                end.version().get(),
                end_others.version().get(),
                unlink.version().get(),
                confirm_2fa.version().get(),
                disable_2fa.version().get(),
            )
        },
        |_| security_overview(),
    );
    let query = use_query_map();
    let notice = move || {
        let q = query.read();
        if let Some(code) = q.get("error") {
            return Some((
                true,
                provider_error_text(&code, &q.get("provider").unwrap_or_default()).to_owned(),
            ));
        }
        q.get("linked").map(|p| {
            (
                false,
                format!(
                    "{} is linked: you can now sign in with it.",
                    if p == "google" { "Google" } else { "GitHub" }
                ),
            )
        })
    };
    view! {
        <Title text="Security" />
        <Meta name="robots" content="noindex" />
        <section class="space-y-8">
            <h1 class="text-3xl font-bold">"Security"</h1>
            {move || notice().map(|(bad, text)| view! {
                <p class="card" class:text-danger=bad role="status" data-testid="security-notice">{text}</p>
            })}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(o) => view! {
                            <SignInMethods has_password=o.has_password two_factor=o.two_factor linked=o.linked available=o.available unlink />
                            <EmailChange has_password=o.has_password two_factor=o.two_factor />
                            <TwoFactor enabled=o.two_factor has_password=o.has_password confirm=confirm_2fa disable=disable_2fa />
                            <Overview sessions=o.sessions history=o.history end end_others />
                        }.into_any(),
                        Err(AppError::Unauthenticated) => view! {
                            <p class="card">"Please "
                                <A href="/sign-in?next=/settings/security" attr:class="underline">"sign in"</A>
                                " to see your sessions."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn SignInMethods(
    has_password: bool,
    two_factor: bool,
    linked: Vec<LinkedInfo>,
    available: SignInOptions,
    unlink: ServerAction<UnlinkProvider>,
) -> impl IntoView {
    let offered: Vec<(&str, &str)> = [
        ("google", "Google", available.google),
        ("github", "GitHub", available.github),
    ]
    .into_iter()
    .filter(|(id, _, on)| *on && !linked.iter().any(|l| l.provider == *id))
    .map(|(id, label, _)| (id, label))
    .collect();
    view! {
        <div class="space-y-3">
            <h2 class="text-xl font-semibold">"Sign-in methods"</h2>
            <ul class="space-y-2" data-testid="sign-in-methods">
                <li class="card p-4">{if has_password { "Password: set" } else { "Password: not set (use \"Forgot your password?\" to choose one)" }}</li>
                {linked.into_iter().map(|l| view! {
                    <li class="card flex flex-wrap items-center justify-between gap-3 p-4">
                        <span>{format!("{}{}", l.label, l.email.map(|e| format!(" ({e})")).unwrap_or_default())}</span>
                        <ActionForm action=unlink attr:class="flex flex-wrap items-end gap-2">
                            <input type="hidden" name="provider" value=l.provider.clone() />
                            <Reauth has_password two_factor />
                            <button type="submit" class="btn-secondary">{format!("Unlink {}", l.label)}</button>
                        </ActionForm>
                    </li>
                }).collect_view()}
            </ul>
            <p class="text-sm text-danger" role="alert">{move || match unlink.value().get() { Some(Err(e)) => Some(e.to_string()), _ => None }}</p>
            <p class="text-sm text-ink-muted" role="status">{move || matches!(unlink.value().get(), Some(Ok(()))).then_some("Unlinked. Your other devices were signed out.")}</p>
            {offered.into_iter().map(|(id, label)| view! {
                <a rel="external" href=format!("/auth/{id}/start?link=1") class="btn-secondary mr-2">{format!("Link {label}")}</a>
            }).collect_view()}
        </div>
    }
}

/// The optional re-authentication fields of a sensitive change: not needed
/// within ten minutes of signing in (see `accounts::reauth`).
#[component]
fn Reauth(has_password: bool, two_factor: bool) -> impl IntoView {
    view! {
        {if has_password {
            view! {
                <label class="text-sm">"Your password (if you signed in more than 10 minutes ago)"
                    <input type="password" name="password" autocomplete="current-password" class="input mt-1 block" />
                </label>
            }.into_any()
        } else if two_factor {
            view! {
                <label class="text-sm">"A code from your authenticator app (if you signed in more than 10 minutes ago)"
                    <input type="text" name="code" autocomplete="one-time-code" inputmode="numeric" class="input mt-1 block" />
                </label>
            }.into_any()
        } else {
            view! {
                <p class="text-sm text-ink-muted">"If you signed in more than 10 minutes ago, sign out and in again first."</p>
            }.into_any()
        }}
    }
}

#[component]
fn EmailChange(has_password: bool, two_factor: bool) -> impl IntoView {
    let action = ServerAction::<RequestEmailChange>::new();
    let v = action.value();
    view! {
        <div class="space-y-3">
            <h2 class="text-xl font-semibold">"E-mail address"</h2>
            <Show
                when=crate::components::form::succeeded(v)
                fallback=move || view! {
                    <ActionForm action=action attr:class="card space-y-3">
                        <Field label="New e-mail address" name="email" kind="email" autocomplete="email" error=error_for(v, "email") />
                        {if has_password {
                            view! {
                                <Field label="Your password" name="password" kind="password" autocomplete="current-password" error=error_for(v, "password") />
                            }.into_any()
                        } else {
                            view! { <Reauth has_password two_factor /> }.into_any()
                        }}
                        <FormError error=general_error(v) />
                        <button type="submit" class="btn-secondary">"Change my address"</button>
                    </ActionForm>
                }
            >
                <p class="card" role="status" data-testid="email-change-sent">
                    "Check the new inbox: the change happens when you open the link we sent there. Your current address was told about it."
                </p>
            </Show>
        </div>
    }
}

#[component]
fn TwoFactor(
    enabled: bool,
    has_password: bool,
    confirm: ServerAction<ConfirmTwoFactor>,
    disable: ServerAction<DisableTwoFactor>,
) -> impl IntoView {
    let begin = ServerAction::<BeginTwoFactor>::new();
    let codes = move || match confirm.value().get() {
        Some(Ok(codes)) => Some(codes),
        _ => None,
    };
    view! {
        <div class="space-y-3" data-testid="two-factor">
            <h2 class="text-xl font-semibold">"Two-factor authentication"</h2>
            {move || codes().map(|codes| view! {
                <div class="card space-y-2" role="status" data-testid="recovery-codes">
                    <p class="font-semibold">"Two-factor authentication is on. Save these recovery codes now: each works once, and they are not shown again."</p>
                    <p class="text-sm">"Your other devices were signed out: sign in there again with a code."</p>
                    <ul class="grid grid-cols-2 gap-1 font-mono">{codes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul>
                </div>
            })}
            {if enabled {
                let dv = disable.value();
                view! {
                    <ActionForm action=disable attr:class="card space-y-3">
                        <p>"On: every sign-in asks for a code from your authenticator app."</p>
                        {if has_password {
                            view! { <Field label="Your password" name="password" kind="password" autocomplete="current-password" error=error_for(dv, "password") /> }.into_any()
                        } else {
                            view! { <Field label="A current code or a recovery code" name="code" autocomplete="one-time-code" error=error_for(dv, "code") /> }.into_any()
                        }}
                        <FormError error=general_error(dv) />
                        <button type="submit" class="btn-secondary">"Turn off two-factor authentication"</button>
                    </ActionForm>
                }.into_any()
            } else {
                let bv = begin.value();
                let cv = confirm.value();
                view! {
                    <div class="card space-y-3">
                        <p>"Add a second step to signing in: a code from an authenticator app on your phone."</p>
                        {move || match bv.get() {
                            Some(Ok(setup)) => view! {
                                <div class="space-y-3">
                                    <img src=setup.qr_data_url alt="QR code to scan with your authenticator app" width="200" height="200" />
                                    <p class="text-sm">"Or type this key: " <code class="break-all" data-testid="totp-secret">{setup.secret}</code></p>
                                    <ActionForm action=confirm attr:class="space-y-3">
                                        <Field label="The 6-digit code your app shows" name="code" autocomplete="one-time-code" error=error_for(cv, "code") />
                                        <FormError error=general_error(cv) />
                                        <button type="submit" class="btn-primary">"Turn on"</button>
                                    </ActionForm>
                                </div>
                            }.into_any(),
                            Some(Err(e)) => view! {
                                <p class="text-danger" role="alert">{e.to_string()}</p>
                                <ActionForm action=begin attr:class="space-y-3">
                                    <Reauth has_password two_factor=false />
                                    <button type="submit" class="btn-primary">"Set up two-factor authentication"</button>
                                </ActionForm>
                            }.into_any(),
                            None => view! {
                                <ActionForm action=begin attr:class="space-y-3">
                                    <Reauth has_password two_factor=false />
                                    <button type="submit" class="btn-primary">"Set up two-factor authentication"</button>
                                </ActionForm>
                            }.into_any(),
                        }}
                    </div>
                }.into_any()
            }}
        </div>
    }
}

#[component]
fn Overview(
    sessions: Vec<SessionInfo>,
    history: Vec<HistoryItem>,
    end: ServerAction<EndSession>,
    end_others: ServerAction<EndOtherSessions>,
) -> impl IntoView {
    let (active, ended): (Vec<_>, Vec<_>) =
        sessions.into_iter().partition(|s| s.ended_at.is_none());
    view! {
        <div class="space-y-3">
            <div class="flex flex-wrap items-center justify-between gap-3">
                <h2 class="text-xl font-semibold">"Signed-in devices"</h2>
                // Enabled with no other device too: it also revokes every
                // API key (a leaked key is the usual reason to press it).
                <ActionForm action=end_others>
                    <button type="submit" class="btn-secondary" data-testid="end-others">
                        "Sign out everywhere else"
                    </button>
                </ActionForm>
            </div>
            <p class="text-sm text-ink-muted">
                "Signing out everywhere else also revokes every API key of yours."
            </p>
            <ul class="space-y-3" data-testid="active-sessions">
                {active.into_iter().map(|s| view! { <SessionRow session=s end /> }).collect_view()}
            </ul>
        </div>
        <div class="space-y-3">
            <h2 class="text-xl font-semibold">"Sign-in history"</h2>
            <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Sign-in history table">
                <table class="w-full text-left text-sm">
                    <thead class="text-ink-muted"><tr><th class="py-2 pr-4">"When"</th><th class="pr-4">"What"</th><th class="pr-4">"Browser"</th><th>"IP address"</th></tr></thead>
                    <tbody data-testid="history">
                        {history.into_iter().map(|h| view! {
                            <tr class="border-t border-line">
                                <td class="py-2 pr-4 whitespace-nowrap">{when(h.at)}</td>
                                <td class="pr-4">{action_label(&h.action)}</td>
                                <td class="pr-4">{h.browser}</td>
                                <td>{h.ip}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {(!ended.is_empty()).then(|| view! {
                <details class="text-sm">
                    <summary class="cursor-pointer">"Ended sessions"</summary>
                    <ul class="mt-2 space-y-1">
                        {ended.into_iter().map(|s| view! {
                            <li>{format!("{} on {} ({}), {} to {}", s.browser, s.os, s.ip, when(s.started_at),
                                s.ended_at.map(when).unwrap_or_default())}</li>
                        }).collect_view()}
                    </ul>
                </details>
            })}
        </div>
    }
}

#[component]
fn SessionRow(session: SessionInfo, end: ServerAction<EndSession>) -> impl IntoView {
    let duration = session.last_seen_at - session.started_at;
    let hours = duration.num_hours();
    let minutes = duration.num_minutes() % 60;
    view! {
        <li class="card flex flex-wrap items-center justify-between gap-3 p-4">
            <div>
                <p class="font-medium">
                    {format!("{} on {}", session.browser, session.os)}
                    <span class="ml-2 text-sm text-ink-muted">{session.device.clone()}</span>
                    {session.current.then(|| view! {
                        <span class="ml-2 rounded bg-brand-100 px-2 py-0.5 text-xs font-semibold text-brand-800">"This device"</span>
                    })}
                </p>
                <p class="text-sm text-ink-muted">
                    {format!("IP {} · signed in {} · last seen {} · {}h {}m",
                        session.ip, when(session.started_at), when(session.last_seen_at), hours, minutes)}
                </p>
            </div>
            {(!session.current).then(|| view! {
                <ActionForm action=end>
                    <input type="hidden" name="id" value=session.id.clone() />
                    <button type="submit" class="btn-secondary">"Sign out"</button>
                </ActionForm>
            })}
        </li>
    }
}
