//! Staff pages about people (ADM-1): `/admin/users` (search with
//! filters, a GET form that works without JavaScript) and
//! `/admin/users/{id}` (one person, with the actions on their account).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::StaffPage;
use crate::admin::users::{
    admin_people, admin_person, AdminAdjustCredits, AdminChangeRole, AdminEndSessions,
    AdminResendConfirmation, AdminSetDisabled, Line, PersonDto,
};
use crate::components::form::ActionValue;

/// Any error of an action, or its success text.
fn outcome<T: Clone + Send + Sync + 'static>(
    value: impl ActionValue<T>,
    done: &'static str,
) -> impl Fn() -> Option<(bool, String)> + Send + Sync + Clone + 'static {
    move || match value.get() {
        Some(Ok(_)) => Some((true, done.to_owned())),
        Some(Err(e)) => Some((false, e.to_string())),
        None => None,
    }
}

#[component]
pub(super) fn Outcome(
    show: impl Fn() -> Option<(bool, String)> + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        show().map(|(ok, text)| {
            view! {
                <p class="text-sm" class:text-danger=!ok role=if ok { "status" } else { "alert" }>{text}</p>
            }
        })
    }
}

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &'static str| query.with(|q| q.get(name).unwrap_or_default());
    let people = Resource::new_blocking(
        move || {
            (
                field("q"),
                field("role"),
                field("status"),
                field("plan"),
                field("two_factor"),
                field("after"),
            )
        },
        |(q, role, status, plan, two_factor, after)| {
            admin_people(q, role, status, plan, two_factor, after)
        },
    );
    let select = move |name: &'static str,
                       label: &'static str,
                       options: &'static [(&'static str, &'static str)]| {
        view! {
            <label>
                <span class="block font-medium">{label}</span>
                <select name=name class="input">
                    {options.iter().map(|(value, text)| {
                        let selected = field(name) == *value;
                        view! { <option value=*value selected=selected>{*text}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    };
    view! {
        <StaffPage title="People">
            <form method="get" action="/admin/users" class="flex flex-wrap items-end gap-3 text-sm" data-testid="people-search">
                <label>
                    <span class="block font-medium">"E-mail or name"</span>
                    <input type="search" name="q" class="input" value=move || field("q") />
                </label>
                {select("role", "Role", &[("", "Any"), ("user", "User"), ("support", "Support"), ("admin", "Admin")])}
                {select("status", "Status", &[("", "Any"), ("active", "Active"), ("unconfirmed", "Unconfirmed"), ("disabled", "Disabled"), ("deleting", "Deletion scheduled")])}
                {select("plan", "Plan", &[("", "Any"), ("yes", "Has a plan"), ("no", "No plan")])}
                {select("two_factor", "Two-factor", &[("", "Any"), ("yes", "On"), ("no", "Off")])}
                <button type="submit" class="btn-secondary px-3 py-2">"Search"</button>
            </form>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match people.await {
                        Ok(page) if page.rows.is_empty() => view! { <p class="text-ink-muted" data-testid="no-people">"Nobody matches."</p> }.into_any(),
                        Ok(page) => {
                            let next = page.next.map(|cursor| {
                                let mut q = query.get_untracked();
                                q.replace("after", cursor);
                                format!("/admin/users{}", q.to_query_string())
                            });
                            view! {
                                <div class="overflow-x-auto" tabindex="0" role="region" aria-label="People found">
                                    <table class="w-full text-left text-sm" data-testid="people">
                                        <thead><tr>
                                            <th scope="col" class="py-2 pr-3">"E-mail"</th><th scope="col" class="py-2 pr-3">"Name"</th>
                                            <th scope="col" class="py-2 pr-3">"Role"</th><th scope="col" class="py-2 pr-3">"Status"</th>
                                            <th scope="col" class="py-2">"Joined"</th>
                                        </tr></thead>
                                        <tbody>
                                            {page.rows.into_iter().map(|p| view! {
                                                <tr class="border-t border-line" data-testid="person-row">
                                                    <td class="py-2 pr-3"><A href=format!("/admin/users/{}", p.id) attr:class="underline">{p.email}</A></td>
                                                    <td class="py-2 pr-3">{p.name}</td><td class="py-2 pr-3">{p.role}</td>
                                                    <td class="py-2 pr-3">{p.status}</td><td class="py-2">{p.joined}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {next.map(|href| view! { <A href=href attr:class="underline">"Next page"</A> })}
                            }.into_any()
                        }
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </StaffPage>
    }
}

#[component]
pub fn AdminPersonPage() -> impl IntoView {
    let params = use_params_map();
    let disable = ServerAction::<AdminSetDisabled>::new();
    let end = ServerAction::<AdminEndSessions>::new();
    let adjust = ServerAction::<AdminAdjustCredits>::new();
    let role = ServerAction::<AdminChangeRole>::new();
    let resend = ServerAction::<AdminResendConfirmation>::new();
    let person = Resource::new_blocking(
        move || {
            (
                params.with(|p| p.get("id").unwrap_or_default()),
                disable.version().get()
                    + end.version().get()
                    + adjust.version().get()
                    + role.version().get(),
            )
        },
        |(id, _)| admin_person(id),
    );
    view! {
        <StaffPage title="Person">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match person.await {
                        Ok(p) => view! { <Person p disable end adjust role resend /> }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </StaffPage>
    }
}

#[component]
pub(super) fn Table(
    caption: &'static str,
    heads: &'static [&'static str],
    lines: Vec<Line>,
) -> impl IntoView {
    // Focusable, so a keyboard can scroll a table wider than a phone.
    view! {
        <div class="overflow-x-auto" tabindex="0" role="region" aria-label=caption>
            <table class="w-full text-left text-sm">
                <caption class="py-1 text-left font-semibold">{caption}</caption>
                <thead><tr>
                    {heads.iter().map(|h| view! { <th scope="col" class="py-1 pr-3">{*h}</th> }).collect_view()}
                </tr></thead>
                <tbody>
                    {if lines.is_empty() {
                        view! { <tr><td class="py-1 text-ink-muted" colspan=heads.len().to_string()>"None."</td></tr> }.into_any()
                    } else {
                        lines.into_iter().map(|l| view! {
                            <tr class="border-t border-line align-top">
                                {l.cells.into_iter().enumerate().map(|(i, c)| match (i, l.href.clone()) {
                                    (0, Some(href)) => view! { <td class="py-1 pr-3"><A href=href attr:class="underline">{c}</A></td> }.into_any(),
                                    _ => view! { <td class="py-1 pr-3">{c}</td> }.into_any(),
                                }).collect_view()}
                            </tr>
                        }).collect_view().into_any()
                    }}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn Person(
    p: PersonDto,
    disable: ServerAction<AdminSetDisabled>,
    end: ServerAction<AdminEndSessions>,
    adjust: ServerAction<AdminAdjustCredits>,
    role: ServerAction<AdminChangeRole>,
    resend: ServerAction<AdminResendConfirmation>,
) -> impl IntoView {
    let reason = |id: &'static str| {
        view! {
            <label class="text-sm">
                <span class="block font-medium">"Reason (goes into the audit log)"</span>
                <input id=id type="text" name="reason" class="input" required minlength="3" maxlength="500" />
            </label>
        }
    };
    let id = StoredValue::new(p.id.clone());
    view! {
        <div class="card space-y-1" data-testid="person">
            <h2 class="text-xl font-semibold">{p.name.clone()}</h2>
            <p>{p.email.clone()}</p>
            <p class="text-sm">
                {format!("Role: {} · Status: {} · Joined {} · Two-factor {} · {} open flag(s)",
                    p.role, p.status, p.joined, if p.two_factor { "on" } else { "off" }, p.open_flags)}
            </p>
            {p.disabled_reason.clone().map(|r| view! { <p class="text-sm text-danger" data-testid="disabled-reason">"Disabled: " {r}</p> })}
            <p class="text-sm" data-testid="balance">"Credits: " {p.balance.clone()}</p>
        </div>

        <div class="card space-y-4">
            <h2 class="text-xl font-semibold">"Actions"</h2>
            <ActionForm action=disable attr:class="flex flex-wrap items-end gap-2" attr:data-testid="disable-form">
                <input type="hidden" name="id" value=id.get_value() />
                <input type="hidden" name="disabled" value=if p.disabled { "off" } else { "on" } />
                {reason("reason-disable")}
                <button type="submit" class="btn-secondary px-3 py-2 text-sm">
                    {if p.disabled { "Enable the account" } else { "Disable the account (ends its sessions)" }}
                </button>
            </ActionForm>
            <Outcome show=outcome(disable.value(), "Done.") />
            <ActionForm action=end attr:class="flex flex-wrap items-end gap-2">
                <input type="hidden" name="id" value=id.get_value() />
                {reason("reason-end")}
                <button type="submit" class="btn-secondary px-3 py-2 text-sm">"End all sessions"</button>
            </ActionForm>
            <Outcome show=outcome(end.value(), "Sessions ended.") />
            {(!p.confirmed).then(|| view! {
                <ActionForm action=resend>
                    <input type="hidden" name="id" value=id.get_value() />
                    <button type="submit" class="btn-secondary px-3 py-2 text-sm">"Resend the confirmation link"</button>
                </ActionForm>
                <Outcome show=outcome(resend.value(), "Sent.") />
            })}
            {p.viewer_admin.then(|| view! {
                <ActionForm action=adjust attr:class="flex flex-wrap items-end gap-2" attr:data-testid="adjust-form">
                    <input type="hidden" name="id" value=id.get_value() />
                    <input type="hidden" name="form_key" value=p.form_key.clone() />
                    <label class="text-sm">
                        <span class="block font-medium">"Credits (+ gives, − takes)"</span>
                        <input type="text" name="amount" inputmode="numeric" class="input w-28" required pattern="[+-]?[0-9]+" />
                    </label>
                    {reason("reason-adjust")}
                    <button type="submit" class="btn-secondary px-3 py-2 text-sm">"Adjust credits"</button>
                </ActionForm>
                <p class="text-sm" role="status" data-testid="adjust-outcome">
                    {move || match adjust.value().get() {
                        Some(Ok(text)) => text,
                        Some(Err(e)) => e.to_string(),
                        None => String::new(),
                    }}
                </p>
                <ActionForm action=role attr:class="flex flex-wrap items-end gap-2">
                    <input type="hidden" name="id" value=id.get_value() />
                    <label class="text-sm">
                        <span class="block font-medium">"Role"</span>
                        <select name="role" class="input">
                            {["user", "support", "admin"].into_iter().map(|r| view! {
                                <option value=r selected=p.role == r>{r}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    {reason("reason-role")}
                    <button type="submit" class="btn-secondary px-3 py-2 text-sm">"Change the role"</button>
                </ActionForm>
                <Outcome show=outcome(role.value(), "Role changed; their sessions ended.") />
            })}
        </div>

        <Table caption="Generations" heads=&["Status", "Count"] lines=p.generations />
        <Table caption="Sessions" heads=&["Started", "Last seen", "State", "IP", "Browser"] lines=p.sessions />
        <Table caption="Sign-in history" heads=&["Time", "Event", "IP", "Browser"] lines=p.history />
        <Table caption="Credit ledger (last 30)" heads=&["Time", "Kind", "Change", "Balance", "Note"] lines=p.ledger />
        <Table caption="Orders" heads=&["Time", "Item", "Amount", "Status", "Provider"] lines=p.orders />
        <Table caption="Plans" heads=&["Plan", "Status", "Period ends", "Provider"] lines=p.subscriptions />
        <Table caption="Privacy requests" heads=&["Request", "Status", "Made", "Due"] lines=p.requests />
    }
}
