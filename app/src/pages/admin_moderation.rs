//! The moderation queue page (GEN-4, ACC-5, STO-3): open flags and
//! under-age reports, oldest first, each with its decision form. Looking
//! at a flagged image is a plain form posted to the server with a reason
//! (audited); the image opens in a new tab.

use leptos::form::ActionForm;
use leptos::prelude::*;

use super::admin::StaffPage;
use crate::admin::moderation::{
    admin_moderation, DecideFlag, FlagDto, ModerationQueueDto, ReviewUnderage, UnderageDto,
};
use crate::components::form::{error_for, general_error, FormError};

#[component]
pub fn AdminModerationPage() -> impl IntoView {
    let decide = ServerAction::<DecideFlag>::new();
    let review = ServerAction::<ReviewUnderage>::new();
    let queue = Resource::new_blocking(
        move || (decide.version().get(), review.version().get()),
        |_| admin_moderation(),
    );
    view! {
        <StaffPage title="Moderation">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match queue.await {
                        Ok(q) => view! { <QueueView q decide review /> }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </StaffPage>
    }
}

#[component]
fn QueueView(
    q: ModerationQueueDto,
    decide: ServerAction<DecideFlag>,
    review: ServerAction<ReviewUnderage>,
) -> impl IntoView {
    let counts = if q.counts.is_empty() {
        "none".to_owned()
    } else {
        q.counts
            .iter()
            .map(|(label, n)| format!("{label}: {n}"))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    view! {
        <p class="text-sm" data-testid="moderation-counts">
            {format!("Open flags: {} ({counts}). Open under-age reports: {}.", q.open_flags, q.open_underage)}
        </p>
        <FormError error=general_error(decide.value()) />
        <FormError error=error_for(decide.value(), "reason") />
        <FormError error=error_for(decide.value(), "decision") />
        <section class="space-y-3" aria-labelledby="flags-heading">
            <h2 id="flags-heading" class="text-xl font-semibold">"Flags, oldest first"</h2>
            {if q.flags.is_empty() {
                view! { <p class="text-ink-muted" data-testid="no-flags">"No open flags."</p> }.into_any()
            } else {
                view! {
                    <ul class="space-y-4" data-testid="flags">
                        {q.flags.into_iter().map(|f| view! { <Flag flag=f decide /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="space-y-3" aria-labelledby="underage-heading">
            <h2 id="underage-heading" class="text-xl font-semibold">"Under-age reports, oldest first"</h2>
            <FormError error=general_error(review.value()) />
            <FormError error=error_for(review.value(), "outcome") />
            {if q.underage.is_empty() {
                view! { <p class="text-ink-muted" data-testid="no-underage">"No open reports."</p> }.into_any()
            } else {
                view! {
                    <ul class="space-y-4" data-testid="underage-reports">
                        {q.underage.into_iter().map(|r| view! { <Underage report=r review /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Flag(flag: FlagDto, decide: ServerAction<DecideFlag>) -> impl IntoView {
    let id = flag.id.clone();
    let user_href = format!("/admin/users/{}", flag.owner_id);
    let view_action = format!("/admin/moderation/flags/{id}/image");
    let (view_reason, decide_reason, decision_id) = (
        format!("view-reason-{id}"),
        format!("reason-{id}"),
        format!("decision-{id}"),
    );
    view! {
        <li class="card space-y-2" data-testid="flag" data-source=flag.source.clone()>
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h3 class="font-semibold">{flag.source_label.clone()}</h3>
                <span class="text-sm text-ink-muted">{flag.created.clone()}</span>
            </div>
            <dl class="grid gap-1 text-sm">
                <div><dt class="inline font-medium">"Account: "</dt><dd class="inline">
                    <a href=user_href class="underline" rel="external">{flag.owner_email.clone()}</a>
                    " (disable or enable it on the person's page)"
                </dd></div>
                <div><dt class="inline font-medium">"Prompt: "</dt><dd class="inline break-words" data-testid="flag-prompt">{flag.prompt.clone()}</dd></div>
                <div><dt class="inline font-medium">"Why: "</dt><dd class="inline break-words">{flag.reason.clone()}</dd></div>
            </dl>
            {flag.viewable.then(|| view! {
                <form method="post" action=view_action target="_blank" class="flex flex-wrap items-end gap-2" data-testid="view-image">
                    <label for=view_reason.clone() class="text-sm">
                        <span class="block font-medium">"Reason to look at the image (recorded)"</span>
                        <input id=view_reason.clone() type="text" name="reason" class="input" required minlength="3" maxlength="500" />
                    </label>
                    <button type="submit" class="btn-secondary px-3 py-2 text-sm">"View the image"</button>
                </form>
            })}
            <ActionForm action=decide attr:class="flex flex-wrap items-end gap-2" attr:data-testid="decide">
                <input type="hidden" name="id" value=id.clone() />
                <label for=decision_id.clone() class="text-sm">
                    <span class="block font-medium">"Decision"</span>
                    <select id=decision_id.clone() name="decision" class="input">
                        <option value="dismiss">"Dismiss (reviewed, no action)"</option>
                        {flag.has_image.then(|| view! {
                            <option value="hide">"Hide from the public gallery"</option>
                            <option value="take_down">"Take down (hide from everyone, close its share links)"</option>
                        })}
                    </select>
                </label>
                <label for=decide_reason.clone() class="text-sm">
                    <span class="block font-medium">"Reason (recorded)"</span>
                    <input id=decide_reason.clone() type="text" name="reason" class="input" required minlength="3" maxlength="500" />
                </label>
                <button type="submit" class="btn-primary px-3 py-2 text-sm">"Decide"</button>
            </ActionForm>
        </li>
    }
}

#[component]
fn Underage(report: UnderageDto, review: ServerAction<ReviewUnderage>) -> impl IntoView {
    let outcome_id = format!("outcome-{}", report.id);
    view! {
        <li class="card space-y-2" data-testid="underage-report">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h3 class="font-semibold break-words">{report.reported_account.clone()}</h3>
                <span class="text-sm text-ink-muted">{report.created.clone()}</span>
            </div>
            <p class="text-sm break-words">{report.details.clone()}</p>
            <p class="text-sm text-ink-muted">
                {match report.reporter_email.clone() {
                    Some(e) => format!("Reported by {e}"),
                    None => "Reported anonymously".to_owned(),
                }}
            </p>
            <ActionForm action=review attr:class="flex flex-wrap items-end gap-2" attr:data-testid="review-underage">
                <input type="hidden" name="id" value=report.id.clone() />
                <label for=outcome_id.clone() class="text-sm">
                    <span class="block font-medium">"Outcome (recorded)"</span>
                    <input id=outcome_id.clone() type="text" name="outcome" class="input" required minlength="3" maxlength="500" />
                </label>
                <button type="submit" class="btn-primary px-3 py-2 text-sm">"Mark reviewed"</button>
            </ActionForm>
        </li>
    }
}
