//! `/admin/privacy`: the privacy-request queue (PRV-7). Open requests by
//! due date, overdue first; notes; closing with an outcome; recording a
//! request that came by mail.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use super::StaffPage;
use crate::admin::privacy_queue::{
    admin_privacy_queue, AdminCloseRequest, AdminNoteRequest, AdminRecordRequest, QueuedDto,
};
use crate::components::form::{error_for, general_error, FormError};

#[component]
pub fn AdminPrivacyPage() -> impl IntoView {
    let query = use_query_map();
    let note = ServerAction::<AdminNoteRequest>::new();
    let close = ServerAction::<AdminCloseRequest>::new();
    let record = ServerAction::<AdminRecordRequest>::new();
    let all = move || query.with(|q| q.get("all").unwrap_or_default());
    let queue = Resource::new_blocking(
        move || {
            (
                all(),
                note.version().get() + close.version().get() + record.version().get(),
            )
        },
        |(all, _)| admin_privacy_queue(all),
    );
    view! {
        <StaffPage title="Privacy requests">
            <p class="text-sm text-ink-muted">
                "Every right people exercised, due one month after it was made. Exports and deletions end by themselves; corrections and other requests need you. "
                {move || if all() == "on" {
                    view! { <A href="/admin/privacy" attr:class="underline">"Show open requests only"</A> }.into_any()
                } else {
                    view! { <A href="/admin/privacy?all=on" attr:class="underline">"Show closed requests too"</A> }.into_any()
                }}
            </p>
            <FormError error=general_error(note.value()) />
            <FormError error=error_for(note.value(), "note") />
            <FormError error=general_error(close.value()) />
            <FormError error=error_for(close.value(), "outcome") />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match queue.await {
                        Ok(list) if list.is_empty() => view! { <p class="text-ink-muted" data-testid="no-requests">"No open request."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="space-y-3" data-testid="privacy-queue">
                                {list.into_iter().map(|r| view! { <Request r note close /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <RecordRequest record />
        </StaffPage>
    }
}

#[component]
fn Request(
    r: QueuedDto,
    note: ServerAction<AdminNoteRequest>,
    close: ServerAction<AdminCloseRequest>,
) -> impl IntoView {
    let id = StoredValue::new(r.id.clone());
    let person = match r.person_id.clone() {
        Some(pid) => view! { <A href=format!("/admin/users/{pid}") attr:class="underline">{r.person.clone()}</A> }.into_any(),
        None => view! { <span>{r.person.clone()}</span> }.into_any(),
    };
    view! {
        <li class="card space-y-2" data-testid="privacy-request" data-kind=r.kind.clone() data-status=r.status.clone()>
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 class="font-semibold">{r.label.clone()}</h2>
                <span class="text-sm" class:text-danger=r.overdue data-testid="due">
                    {if r.overdue { format!("Overdue since {}", r.due) } else { format!("Due {}", r.due) }}
                </span>
            </div>
            <p class="text-sm">{person} " · made " {r.created.clone()} " · " <strong>{r.status.clone()}</strong>
                {r.completed.clone().map(|c| format!(" on {c}"))}</p>
            {(!r.detail.is_empty()).then(|| view! { <p class="text-sm">{r.detail.clone()}</p> })}
            {(!r.notes.is_empty()).then(|| view! {
                <ul class="list-disc pl-5 text-sm text-ink-muted" data-testid="notes">
                    {r.notes.clone().into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
                </ul>
            })}
            {r.outcome.clone().map(|o| view! { <p class="text-sm" data-testid="outcome">"Outcome: " {o}</p> })}
            <ActionForm action=note attr:class="flex flex-wrap items-end gap-2">
                <input type="hidden" name="id" value=id.get_value() />
                <label class="text-sm">
                    <span class="block font-medium">"Note (no personal data)"</span>
                    <input type="text" name="note" class="input" required maxlength="500" />
                </label>
                <button type="submit" class="btn-secondary px-3 py-2 text-sm">"Add the note"</button>
            </ActionForm>
            {r.closable.then(|| view! {
                <ActionForm action=close attr:class="flex flex-wrap items-end gap-2" attr:data-testid="close-request">
                    <input type="hidden" name="id" value=id.get_value() />
                    <label class="text-sm">
                        <span class="block font-medium">"Outcome"</span>
                        <input type="text" name="outcome" class="input" required maxlength="500" />
                    </label>
                    <label class="text-sm">
                        <span class="block font-medium">"Result"</span>
                        <select name="done" class="input">
                            <option value="done">"Done"</option>
                            <option value="refused">"Refused"</option>
                        </select>
                    </label>
                    <button type="submit" class="btn-primary px-3 py-2 text-sm">"Close the request"</button>
                </ActionForm>
            })}
        </li>
    }
}

#[component]
fn RecordRequest(record: ServerAction<AdminRecordRequest>) -> impl IntoView {
    let v = record.value();
    view! {
        <div class="card space-y-3">
            <h2 class="text-xl font-semibold">"Record a request made by mail"</h2>
            <ActionForm action=record attr:class="flex flex-wrap items-end gap-3" attr:data-testid="record-request">
                <label class="text-sm">
                    <span class="block font-medium">"Their account's e-mail"</span>
                    <input type="email" name="email" class="input" required />
                </label>
                <label class="text-sm">
                    <span class="block font-medium">"Kind"</span>
                    <select name="kind" class="input">
                        <option value="correction">"Correction of data"</option>
                        <option value="other">"Other request"</option>
                    </select>
                </label>
                <label class="text-sm">
                    <span class="block font-medium">"What they asked (no personal data)"</span>
                    <input type="text" name="detail" class="input" required maxlength="200" />
                </label>
                <button type="submit" class="btn-primary px-3 py-2 text-sm">"Record it"</button>
            </ActionForm>
            <p class="text-sm text-danger" role="alert">{error_for(v, "email")}{error_for(v, "detail")}{error_for(v, "kind")}</p>
            <FormError error=general_error(v) />
        </div>
    }
}
