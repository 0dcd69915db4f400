//! Announcements (MAIL-3), admins only: compose, preview the mail exactly
//! as it is sent, send a test to oneself, send (with a confirmation), and
//! the progress of each announcement. Sending works from the preview: the
//! test and send forms carry the previewed draft, so what goes out is what
//! was read.

use leptos::form::ActionForm;
use leptos::prelude::*;

use crate::admin_announcements::{
    admin_announcements, Announce, AnnouncementDto, AnnouncementPreview, AnnouncementTest,
    PreviewDto,
};
use crate::components::form::{error_for, general_error, FormError};
use crate::pages::admin::StaffPage;

#[component]
pub fn AdminAnnouncementsPage() -> impl IntoView {
    let preview = ServerAction::<AnnouncementPreview>::new();
    let test = ServerAction::<AnnouncementTest>::new();
    let send = ServerAction::<Announce>::new();
    // Support may open staff pages but not this one: the first answer
    // decides whether the forms are shown at all.
    let access = Resource::new_blocking(|| (), |_| admin_announcements());
    let list = Resource::new_blocking(move || send.version().get(), |_| admin_announcements());
    view! {
        <StaffPage title="Announcements">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match access.await {
                        Ok(_) => view! { <Workspace preview test send list /> }.into_any(),
                        Err(e) => view! {
                            <p class="card text-danger" role="alert" data-testid="staff-refused">{e.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </StaffPage>
    }
}

#[component]
fn Workspace(
    preview: ServerAction<AnnouncementPreview>,
    test: ServerAction<AnnouncementTest>,
    send: ServerAction<Announce>,
    list: Resource<Result<Vec<AnnouncementDto>, crate::error::AppError>>,
) -> impl IntoView {
    view! {
            <Compose preview />
            {move || preview.value().get().and_then(Result::ok).map(|p| view! { <Preview p test send /> })}
            <section class="space-y-3">
                <h2 class="text-xl font-semibold">"Sent announcements"</h2>
                <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Ok(rows) => view! { <Progress rows /> }.into_any(),
                            Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
    }
}

#[component]
fn Compose(preview: ServerAction<AnnouncementPreview>) -> impl IntoView {
    let v = preview.value();
    view! {
        <div class="card space-y-4">
            <h2 class="text-xl font-semibold">"Compose"</h2>
            <ActionForm action=preview attr:class="space-y-4" attr:data-testid="compose">
                <fieldset class="space-y-2">
                    <legend class="text-sm font-medium">"Kind"</legend>
                    <label class="flex items-center gap-2 text-sm"><input type="radio" name="kind" value="service" checked />"Service update: to everyone who did not unsubscribe from service updates"</label>
                    <label class="flex items-center gap-2 text-sm"><input type="radio" name="kind" value="policy" />"Policy change: a required notice to every account"</label>
                    <label class="flex items-center gap-2 text-sm"><input type="radio" name="kind" value="marketing" />"Marketing: only to people who agreed to product news"</label>
                    <p class="text-sm text-danger" role="alert">{error_for(v, "kind")}</p>
                </fieldset>
                <div class="space-y-1">
                    <label for="field-subject" class="block text-sm font-medium">"Subject"</label>
                    <input id="field-subject" name="subject" required maxlength="200" class="input" aria-describedby="field-subject-error" />
                    <p id="field-subject-error" class="text-sm text-danger" role="alert">{error_for(v, "subject")}</p>
                </div>
                <div class="space-y-1">
                    <label for="field-body" class="block text-sm font-medium">"Text"</label>
                    <textarea id="field-body" name="body" rows="8" required class="input" aria-describedby="field-body-hint field-body-error"></textarea>
                    <p id="field-body-hint" class="text-sm text-ink-muted">"Plain text; a blank line starts a new paragraph. The greeting and the footer are added."</p>
                    <p id="field-body-error" class="text-sm text-danger" role="alert">{error_for(v, "body")}</p>
                </div>
                <FormError error=general_error(v) />
                <button type="submit" class="btn-primary px-4 py-2">"Preview"</button>
            </ActionForm>
        </div>
    }
}

/// The previewed mail, and the forms that send exactly that draft.
#[component]
fn Preview(
    p: PreviewDto,
    test: ServerAction<AnnouncementTest>,
    send: ServerAction<Announce>,
) -> impl IntoView {
    let hidden = {
        let p = p.clone();
        move || {
            view! {
                <input type="hidden" name="kind" value=p.kind.clone() />
                <input type="hidden" name="subject" value=p.draft_subject.clone() />
                <input type="hidden" name="body" value=p.draft_body.clone() />
            }
        }
    };
    let hidden_test = hidden.clone();
    let tested = move || {
        test.value()
            .get()
            .and_then(Result::ok)
            .map(|to| format!("A test is queued to {to}."))
    };
    let sent = move || {
        send.value().get().and_then(Result::ok).map(|_| {
            "Sending: the mails are queued in the background, paced. Progress is below.".to_owned()
        })
    };
    view! {
        <section class="card space-y-3" data-testid="preview" aria-labelledby="preview-title">
            <h2 id="preview-title" class="text-xl font-semibold">"Preview"</h2>
            <p class="text-sm">"Goes to " {p.audience.clone()} "."</p>
            <p><span class="font-medium">"Subject: "</span><span data-testid="preview-subject">{p.subject.clone()}</span></p>
            <pre class="whitespace-pre-wrap break-all rounded border border-line p-3 text-sm" data-testid="preview-text">{p.text.clone()}</pre>
            <details class="text-sm">
                <summary class="cursor-pointer underline">"The HTML part, as sent"</summary>
                <pre class="mt-2 overflow-x-auto whitespace-pre-wrap break-all rounded border border-line p-3 text-xs"><code>{p.html.clone()}</code></pre>
            </details>
            <div class="flex flex-wrap items-end gap-6">
                <ActionForm action=test attr:data-testid="send-test">
                    {hidden_test}
                    <button type="submit" class="btn-secondary px-3 py-2 text-sm">"Send a test to myself"</button>
                </ActionForm>
                <ActionForm action=send attr:class="flex flex-wrap items-center gap-3" attr:data-testid="send">
                    {hidden}
                    <label class="flex items-center gap-2 text-sm">
                        <input type="checkbox" name="confirm" value="on" required />
                        "I have read the preview: send it to everyone it is for"
                    </label>
                    <button type="submit" class="btn-primary px-3 py-2 text-sm">"Send"</button>
                </ActionForm>
            </div>
            <p class="text-sm" role="status">{tested}{sent}</p>
            <FormError error=general_error(test.value()) />
            <FormError error=general_error(send.value()) />
            <p class="text-sm text-danger" role="alert">{error_for(send.value(), "confirm")}</p>
        </section>
    }
}

#[component]
fn Progress(rows: Vec<AnnouncementDto>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="text-ink-muted" data-testid="no-announcements">"No announcement has been sent."</p> }.into_any();
    }
    view! {
        <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Sent announcements">
            <table class="w-full text-left text-sm" data-testid="announcements">
                <thead><tr>
                    <th scope="col" class="py-2 pr-3">"Made"</th><th scope="col" class="py-2 pr-3">"Kind"</th>
                    <th scope="col" class="py-2 pr-3">"Subject"</th><th scope="col" class="py-2 pr-3">"Queued / recipients"</th>
                    <th scope="col" class="py-2">"State"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|a| view! {
                        <tr class="border-t border-line align-top" data-testid="announcement">
                            <td class="py-2 pr-3 whitespace-nowrap">{a.created}</td><td class="py-2 pr-3">{a.kind}</td>
                            <td class="py-2 pr-3">{a.subject}</td>
                            <td class="py-2 pr-3 tabular-nums">
                                <progress max=a.total.max(1).to_string() value=a.queued.to_string() aria-label="Queued so far" class="mr-2 align-middle"></progress>
                                {format!("{} / {}", a.queued, a.total)}
                            </td>
                            <td class="py-2">{a.state}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}
