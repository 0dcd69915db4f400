//! Staff pages (ADM-1): the overview, incidents with their 72-hour clock
//! (SEC-3), the staff audit log (SEC-2) and the service's health (ANA-2). Lazy routes: their code is a
//! chunk of its own, and the server answers `/admin…` with a 404 to anyone
//! who is not staff, so nobody else downloads it.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::admin::{
    admin_audit, admin_frame, admin_health, admin_incidents, AuditDto, CloseIncident, HealthDto,
    IncidentDto, ModelHealthDto, NotifyIncident, ProbeDto, RecordIncident, StaffFrame,
};
use crate::components::form::{error_for, general_error, Field, FormError};

pub mod payments;
pub mod privacy_queue;
pub mod users;

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
                <A href="/admin/users" attr:class="underline-offset-4 hover:underline">"People"</A>
                <A href="/admin/payments" attr:class="underline-offset-4 hover:underline">"Payments"</A>
                <A href="/admin/privacy" attr:class="underline-offset-4 hover:underline">"Privacy requests"</A>
                <A href="/admin/incidents" attr:class="underline-offset-4 hover:underline">"Incidents"</A>
                <A href="/admin/moderation" attr:class="underline-offset-4 hover:underline">"Moderation"</A>
                <A href="/admin/audit" attr:class="underline-offset-4 hover:underline">"Audit log"</A>
                <A href="/admin/health" attr:class="underline-offset-4 hover:underline">"Health"</A>
                <A href="/admin/announcements" attr:class="underline-offset-4 hover:underline">"Announcements"</A>
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
            <super::admin_dashboard::Dashboard />
            <ul class="grid gap-4 sm:grid-cols-2">
                <li class="card space-y-1">
                    <A href="/admin/incidents" attr:class="text-lg font-semibold underline">"Incidents"</A>
                    <p class="text-sm text-ink-muted">"Record a personal-data breach, tell the people it affects within 72 hours, and keep the record for the authority."</p>
                </li>
                <li class="card space-y-1">
                    <A href="/admin/audit" attr:class="text-lg font-semibold underline">"Audit log"</A>
                    <p class="text-sm text-ink-muted">"Every action staff took: who, to whom, why, in which request. Filter it and download it as CSV."</p>
                </li>
                <li class="card space-y-1">
                    <A href="/admin/health" attr:class="text-lg font-semibold underline">"Health"</A>
                    <p class="text-sm text-ink-muted">"The job queue, workers, generation times and errors, mail and webhook backlogs, database and storage."</p>
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
        <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Audit log entries">
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

#[component]
pub fn AdminHealthPage() -> impl IntoView {
    let health = Resource::new_blocking(|| (), |_| admin_health());
    view! {
        <StaffPage title="Health">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match health.await {
                        Ok(h) => view! { <Health h /> }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </StaffPage>
    }
}

fn probe_text(p: &ProbeDto) -> String {
    if p.ok {
        format!("reachable ({})", p.took)
    } else {
        format!("NOT reachable (gave up after {})", p.took)
    }
}

#[component]
fn Health(h: HealthDto) -> impl IntoView {
    let th = "py-2 pr-3";
    let td = "py-2 pr-3";
    let models: Vec<ModelHealthDto> = std::iter::once(h.overall.clone())
        .chain(h.models.clone())
        .collect();
    view! {
        <p class="text-sm text-ink-muted">"As of " {h.at.clone()} ". Reload the page for fresh figures."</p>
        <section class="card space-y-2" aria-labelledby="health-reach">
            <h2 id="health-reach" class="text-xl font-semibold">"Reachability"</h2>
            <dl class="grid gap-1 text-sm sm:grid-cols-2" data-testid="health-reachability">
                <div><dt class="inline font-medium">"Database: "</dt><dd class="inline" class:text-danger=!h.database.ok>{probe_text(&h.database)}</dd></div>
                <div><dt class="inline font-medium">"Object storage: "</dt><dd class="inline" class:text-danger=!h.storage.ok>{probe_text(&h.storage)}</dd></div>
            </dl>
        </section>
        <section class="card space-y-2" aria-labelledby="health-queue">
            <h2 id="health-queue" class="text-xl font-semibold">"Job queue"</h2>
            <table class="w-full text-left text-sm" data-testid="health-queue">
                <thead><tr><th scope="col" class=th>"State"</th><th scope="col" class=th>"Jobs"</th><th scope="col" class=th>"Oldest"</th></tr></thead>
                <tbody>
                    {h.queue.into_iter().map(|q| view! {
                        <tr class="border-t border-line"><td class=td>{q.status}</td><td class=td>{q.jobs}</td><td class=td>{q.oldest}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            <h3 class="font-semibold">"Workers"</h3>
            <p class="text-sm text-ink-muted">"Workers are seen through the leases of the jobs they run (there is no separate heartbeat): an idle worker does not show here. A lease that ran out means its worker stopped renewing; the reaper gives the job to another."</p>
            {if h.workers.is_empty() {
                view! { <p class="text-sm" data-testid="health-no-workers">"No worker holds a job right now."</p> }.into_any()
            } else {
                view! {
                    <table class="w-full text-left text-sm" data-testid="health-workers">
                        <thead><tr><th scope="col" class=th>"Worker"</th><th scope="col" class=th>"Jobs running"</th><th scope="col" class=th>"Lease until"</th><th scope="col" class=th>"Alive"</th></tr></thead>
                        <tbody>
                            {h.workers.into_iter().map(|w| view! {
                                <tr class="border-t border-line">
                                    <td class=td><code class="text-xs">{w.worker}</code></td><td class=td>{w.running}</td><td class=td>{w.lease_until}</td>
                                    <td class=td class:text-danger=!w.alive>{if w.alive { "yes" } else { "lease ran out" }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <section class="card space-y-2" aria-labelledby="health-times">
            <h2 id="health-times" class="text-xl font-semibold">"Generations"</h2>
            <p class="text-sm text-ink-muted">"Jobs that ended in the last hour and day. Times run from a job's first start to its end (succeeded jobs); the error rate is failed out of succeeded and failed (refusals and cancellations are not service errors)."</p>
            {h.sampled.then(|| view! { <p class="text-sm">"More jobs ended in the last day than are read at once: the day's figures are of the latest ones."</p> })}
            <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Generation times per model">
                <table class="w-full text-left text-sm" data-testid="health-models">
                    <thead>
                        <tr>
                            <th scope="col" class=th>"Model"</th><th scope="col" class=th>"Window"</th>
                            <th scope="col" class=th>"Succeeded"</th><th scope="col" class=th>"Failed"</th>
                            <th scope="col" class=th>"Refused"</th><th scope="col" class=th>"Cancelled"</th>
                            <th scope="col" class=th>"Error rate"</th><th scope="col" class=th>"p50"</th><th scope="col" class=th>"p95"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {models.into_iter().flat_map(|m| {
                            [("last hour", m.hour), ("last day", m.day)].into_iter().map(move |(label, w)| view! {
                                <tr class="border-t border-line" data-model=m.model.clone()>
                                    <th scope="row" class="py-2 pr-3 font-medium">{m.model.clone()}</th><td class=td>{label}</td>
                                    <td class=td>{w.succeeded}</td><td class=td>{w.failed}</td><td class=td>{w.refused}</td><td class=td>{w.cancelled}</td>
                                    <td class=td>{w.error_rate}</td><td class=td>{w.p50}</td><td class=td>{w.p95}</td>
                                </tr>
                            })
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <h3 class="font-semibold">"Recent errors"</h3>
            {if h.errors.is_empty() {
                view! { <p class="text-sm">"No failed job."</p> }.into_any()
            } else {
                view! {
                    <ul class="space-y-2 text-sm" data-testid="health-errors">
                        {h.errors.into_iter().map(|e| view! {
                            <li class="border-t border-line pt-2">
                                <span class="font-medium">{e.at}</span> " · " {e.model} " · " {format!("attempt {}", e.attempts)}
                                <pre class="mt-1 whitespace-pre-wrap break-words text-xs">{e.detail}</pre>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="card space-y-2" aria-labelledby="health-backlogs">
            <h2 id="health-backlogs" class="text-xl font-semibold">"Mail and webhooks"</h2>
            <dl class="grid gap-1 text-sm sm:grid-cols-2" data-testid="health-backlogs">
                <div><dt class="inline font-medium">"Mails waiting: "</dt><dd class="inline">{format!("{} ({} due now)", h.mail_pending, h.mail_due)}</dd></div>
                <div><dt class="inline font-medium">"Oldest due mail: "</dt><dd class="inline">{h.mail_oldest_due}</dd></div>
                <div><dt class="inline font-medium">"Mails given up, last day: "</dt><dd class="inline">{h.mail_failed_day}</dd></div>
                <div><dt class="inline font-medium">"Payment events, last day: "</dt><dd class="inline">{format!("{} applied, {} ignored, {} refused", h.webhooks_applied, h.webhooks_ignored, h.webhooks_refused)}</dd></div>
                <div><dt class="inline font-medium">"Last payment event: "</dt><dd class="inline">{h.webhooks_last}</dd></div>
                <div><dt class="inline font-medium">"Payment events failing to apply: "</dt><dd class="inline" data-testid="webhooks-failing">{h.webhooks_failing}</dd></div>
                <div><dt class="inline font-medium">"Webhooks to people's endpoints: "</dt><dd class="inline" data-testid="outbound-webhooks">{format!("{} waiting ({} due now), {} given up in the last day", h.outbound_pending, h.outbound_due, h.outbound_failed_day)}</dd></div>
            </dl>
            <p class="text-sm text-ink-muted">"Payment events are applied as they arrive; one that fails is rolled back and sent again by the provider, so they have no queue of their own."</p>
        </section>
    }
}
