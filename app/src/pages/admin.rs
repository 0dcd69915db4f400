//! Staff pages (ADM-1): the overview, incidents with their 72-hour clock
//! (SEC-3) and the staff audit log (SEC-2). Lazy routes: their code is a
//! chunk of its own, and the server answers `/admin…` with a 404 to anyone
//! who is not staff, so nobody else downloads it.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::admin::{
    admin_audit, admin_frame, admin_incidents, AuditDto, CloseIncident, IncidentDto,
    NotifyIncident, RecordIncident, StaffFrame,
};
use crate::components::form::{error_for, general_error, Field, FormError};

/// The frame of every staff page: navigation and the running clocks.
#[component]
pub(crate) fn StaffPage(
    title: &'static str,
    /// Changes when the page did something that may stop a clock.
    #[prop(optional, into)]
    refresh: Option<Signal<usize>>,
    children: ChildrenFn,
) -> impl IntoView {
    let frame = Resource::new_blocking(move || refresh.map(|r| r.get()), |_| admin_frame());
    let children = StoredValue::new(children);
    view! {
        <Title text=title />
        <section class="space-y-6">
            <nav aria-label="Staff" class="flex flex-wrap gap-4 border-b border-line pb-3 text-sm font-medium">
                <A href="/admin" attr:class="underline-offset-4 hover:underline">"Overview"</A>
                <A href="/admin/incidents" attr:class="underline-offset-4 hover:underline">"Incidents"</A>
                <A href="/admin/moderation" attr:class="underline-offset-4 hover:underline">"Moderation"</A>
                <A href="/admin/audit" attr:class="underline-offset-4 hover:underline">"Audit log"</A>
            </nav>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match frame.await {
                        Ok(frame) => view! {
                            <Clocks frame=frame.clone() />
                            <h1 class="text-3xl font-bold">{title}</h1>
                            {children.with_value(|c| c())}
                        }.into_any(),
                        Err(e) => view! {
                            <h1 class="text-3xl font-bold">{title}</h1>
                            <p class="card text-danger" role="alert" data-testid="staff-refused">{e.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The 72-hour clock of every incident whose people are not all told yet.
#[component]
fn Clocks(frame: StaffFrame) -> impl IntoView {
    (!frame.clocks.is_empty()).then(|| view! {
        <div class="space-y-2 rounded-lg border-2 border-danger p-4" role="status" data-testid="incident-clock">
            <h2 class="font-semibold text-danger">"Open incident: notify within 72 hours of discovery"</h2>
            <ul class="space-y-1 text-sm">
                {frame.clocks.into_iter().map(|c| view! {
                    <li>
                        <A href="/admin/incidents" attr:class="font-medium underline">{c.title}</A>
                        " — deadline " {c.deadline} ": "
                        <strong class:text-danger=c.overdue data-testid="clock-remaining">{c.remaining}</strong>
                    </li>
                }).collect_view()}
            </ul>
        </div>
    })
}

#[component]
pub fn AdminHomePage() -> impl IntoView {
    view! {
        <StaffPage title="Staff">
            <ul class="grid gap-4 sm:grid-cols-2">
                <li class="card space-y-1">
                    <A href="/admin/incidents" attr:class="text-lg font-semibold underline">"Incidents"</A>
                    <p class="text-sm text-ink-muted">"Record a personal-data breach, tell the people it affects within 72 hours, and keep the record for the authority."</p>
                </li>
                <li class="card space-y-1">
                    <A href="/admin/audit" attr:class="text-lg font-semibold underline">"Audit log"</A>
                    <p class="text-sm text-ink-muted">"Every action staff took: who, to whom, why, in which request. Filter it and download it as CSV."</p>
                </li>
            </ul>
        </StaffPage>
    }
}

#[component]
pub fn AdminIncidentsPage() -> impl IntoView {
    let record = ServerAction::<RecordIncident>::new();
    let notify = ServerAction::<NotifyIncident>::new();
    let close = ServerAction::<CloseIncident>::new();
    let incidents = Resource::new_blocking(
        move || {
            (
                record.version().get(),
                notify.version().get(),
                close.version().get(),
            )
        },
        |_| admin_incidents(),
    );
    view! {
        <StaffPage title="Incidents" refresh=Signal::derive(move || {
            record.version().get() + notify.version().get() + close.version().get()
        })>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match incidents.await {
                        Ok(list) if list.is_empty() => view! { <p class="text-ink-muted" data-testid="no-incidents">"No incident has been recorded."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="space-y-4" data-testid="incidents">
                                {list.into_iter().map(|i| view! { <Incident incident=i notify close /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <RecordForm record />
        </StaffPage>
    }
}

#[component]
fn Incident(
    incident: IncidentDto,
    notify: ServerAction<NotifyIncident>,
    close: ServerAction<CloseIncident>,
) -> impl IntoView {
    let id = incident.id.clone();
    let record_href = format!("/admin/incidents/{}/record.txt", incident.id);
    view! {
        <li class="card space-y-2" data-testid="incident">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 class="text-lg font-semibold">{incident.title.clone()}</h2>
                <span class="text-sm">{format!("Severity: {}", incident.severity)}</span>
            </div>
            <dl class="grid gap-1 text-sm sm:grid-cols-2">
                <div><dt class="inline font-medium">"Discovered: "</dt><dd class="inline">{incident.discovered.clone()}</dd></div>
                <div><dt class="inline font-medium">"Deadline: "</dt><dd class="inline">{incident.deadline.clone()}</dd></div>
                <div><dt class="inline font-medium">"Data: "</dt><dd class="inline">{incident.categories.clone()}</dd></div>
                <div><dt class="inline font-medium">"Affected: "</dt><dd class="inline" data-testid="affected">{format!("{} ({})", incident.affected, incident.selection)}</dd></div>
                <div><dt class="inline font-medium">"Notification: "</dt><dd class="inline" data-testid="notification">{format!("{}; {} told", incident.notification, incident.notices)}</dd></div>
                <div><dt class="inline font-medium">"Closed: "</dt><dd class="inline">{incident.closed.clone().unwrap_or_else(|| "open".into())}</dd></div>
            </dl>
            <a href=record_href class="text-sm underline" rel="external" download>"Download the record for the authority"</a>
            {incident.closed.is_none().then(|| {
                let id2 = id.clone();
                view! {
                    <div class="flex flex-wrap items-end gap-4">
                        <ActionForm action=notify>
                            <input type="hidden" name="id" value=id.clone() />
                            <button type="submit" class="btn-primary px-3 py-2 text-sm" data-testid="notify">
                                {if incident.notices == 0 { "Notify the affected people by mail" } else { "Continue notifying" }}
                            </button>
                        </ActionForm>
                        <ActionForm action=close attr:class="flex flex-wrap items-end gap-2">
                            <input type="hidden" name="id" value=id2 />
                            <label class="text-sm">
                                <span class="block font-medium">"Measures taken"</span>
                                <input type="text" name="measures" class="input" required />
                            </label>
                            <button type="submit" class="btn-secondary px-3 py-2 text-sm">"Close the incident"</button>
                        </ActionForm>
                    </div>
                }
            })}
            {incident.measures.map(|m| view! { <p class="text-sm">"Measures: " {m}</p> })}
            <FormError error=general_error(notify.value()) />
            <FormError error=error_for(close.value(), "measures") />
        </li>
    }
}

#[component]
fn RecordForm(record: ServerAction<RecordIncident>) -> impl IntoView {
    let v = record.value();
    let area = move |name: &'static str, label: &'static str| {
        view! {
            <div class="space-y-1">
                <label for=format!("field-{name}") class="block text-sm font-medium">{label}</label>
                <textarea id=format!("field-{name}") name=name rows="3" required class="input"></textarea>
                <p class="text-sm text-danger" role="alert">{error_for(v, name)}</p>
            </div>
        }
    };
    view! {
        <div class="card space-y-4">
            <h2 class="text-xl font-semibold">"Record an incident"</h2>
            <p class="text-sm text-ink-muted">"The three texts go into the mail to the affected people. The 72-hour clock starts at the discovery."</p>
            <ActionForm action=record attr:class="space-y-4" attr:data-testid="record-incident">
                <Field label="Title" name="title" error=error_for(v, "title") />
                {area("what_happened", "What happened")}
                {area("what_we_do", "What we are doing")}
                {area("what_to_do", "What people should do")}
                <div class="space-y-1">
                    <label for="field-severity" class="block text-sm font-medium">"Severity"</label>
                    <select id="field-severity" name="severity" class="input">
                        <option value="low">"Low"</option>
                        <option value="medium" selected>"Medium"</option>
                        <option value="high">"High"</option>
                    </select>
                </div>
                <Field label="Categories of personal data" name="categories" hint="e.g. e-mail addresses, prompts" error=error_for(v, "categories") />
                <Field label="Discovered at (UTC)" name="discovered_at" kind="datetime-local" error=error_for(v, "discovered_at") />
                <fieldset class="space-y-2">
                    <legend class="text-sm font-medium">"Who is affected"</legend>
                    <label class="flex items-center gap-2 text-sm"><input type="radio" name="selection" value="everyone" checked />"Every account"</label>
                    <label class="flex items-center gap-2 text-sm"><input type="radio" name="selection" value="active_between" />"Accounts active between (UTC):"</label>
                    <div class="flex flex-wrap gap-2 pl-6">
                        <input type="datetime-local" name="active_from" aria-label="Active from" class="input w-auto" />
                        <input type="datetime-local" name="active_to" aria-label="Active until" class="input w-auto" />
                    </div>
                    <label class="flex items-center gap-2 text-sm"><input type="radio" name="selection" value="accounts" />"These addresses, one per line:"</label>
                    <textarea name="accounts" rows="3" aria-label="Affected addresses" class="input"></textarea>
                    <p class="text-sm text-danger" role="alert">{error_for(v, "active_from")}{error_for(v, "active_to")}{error_for(v, "accounts")}{error_for(v, "selection")}</p>
                </fieldset>
                <FormError error=general_error(v) />
                <button type="submit" class="btn-primary px-4 py-2">"Record the incident"</button>
            </ActionForm>
        </div>
    }
}

#[component]
pub fn AdminAuditPage() -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &'static str| query.with(|q| q.get(name).unwrap_or_default());
    let entries = Resource::new_blocking(
        move || {
            (
                field("actor"),
                field("target"),
                field("action"),
                field("from"),
                field("until"),
            )
        },
        |(actor, target, action, from, until)| admin_audit(actor, target, action, from, until),
    );
    let csv_href = move || {
        let q = query.with(|q| q.to_query_string());
        format!("/admin/audit.csv{q}")
    };
    view! {
        <StaffPage title="Audit log">
            <form method="get" action="/admin/audit" class="flex flex-wrap items-end gap-3 text-sm" data-testid="audit-filter">
                <label><span class="block font-medium">"Staff (e-mail)"</span><input name="actor" class="input" value=move || field("actor") /></label>
                <label><span class="block font-medium">"Person (e-mail)"</span><input name="target" class="input" value=move || field("target") /></label>
                <label><span class="block font-medium">"Action"</span><input name="action" class="input" placeholder="incident." value=move || field("action") /></label>
                <label><span class="block font-medium">"From"</span><input type="date" name="from" class="input" value=move || field("from") /></label>
                <label><span class="block font-medium">"Until"</span><input type="date" name="until" class="input" value=move || field("until") /></label>
                <button type="submit" class="btn-secondary px-3 py-2">"Filter"</button>
                <a href=csv_href rel="external" class="underline" download>"Download as CSV"</a>
            </form>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Ok(rows) => view! { <AuditTable rows /> }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </StaffPage>
    }
}

#[component]
fn AuditTable(rows: Vec<AuditDto>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="text-ink-muted">"No entries."</p> }.into_any();
    }
    view! {
        <div class="overflow-x-auto">
            <table class="w-full text-left text-sm" data-testid="audit-log">
                <thead><tr>
                    <th scope="col" class="py-2 pr-3">"Time"</th><th scope="col" class="py-2 pr-3">"Staff"</th>
                    <th scope="col" class="py-2 pr-3">"Action"</th><th scope="col" class="py-2 pr-3">"Concerning"</th>
                    <th scope="col" class="py-2 pr-3">"Reason"</th><th scope="col" class="py-2">"Request"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| view! {
                        <tr class="border-t border-line align-top">
                            <td class="py-2 pr-3 whitespace-nowrap">{r.at}</td><td class="py-2 pr-3">{r.actor}</td>
                            <td class="py-2 pr-3"><code>{r.action}</code></td><td class="py-2 pr-3">{r.target}</td>
                            <td class="py-2 pr-3">{r.reason}</td><td class="py-2"><code class="text-xs">{r.request_id}</code></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}
