//! `/admin/payments`: orders, plans and webhook events with filters (a GET
//! form); events uni1 refused come first, they need a person.
//! `/admin/payments/orders/{id}`: one order, its events, and a refund
//! through the provider (admins).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::users::{Outcome, Table};
use super::StaffPage;
use crate::admin::payments::{
    admin_order, admin_payments, AdminApplyEventAgain, AdminRefundOrder, FailedDto, OrderDto,
};

#[component]
pub fn AdminPaymentsPage() -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &'static str| query.with(|q| q.get(name).unwrap_or_default());
    let again = ServerAction::<AdminApplyEventAgain>::new();
    let payments = Resource::new_blocking(
        move || {
            (
                field("status"),
                field("provider"),
                field("email"),
                again.version().get(),
            )
        },
        |(status, provider, email, _)| admin_payments(status, provider, email),
    );
    view! {
        <StaffPage title="Payments">
            <form method="get" action="/admin/payments" class="flex flex-wrap items-end gap-3 text-sm" data-testid="payments-filter">
                <label><span class="block font-medium">"Buyer (e-mail)"</span><input type="email" name="email" class="input" value=move || field("email") /></label>
                <label><span class="block font-medium">"Status"</span><input name="status" class="input" placeholder="paid" value=move || field("status") /></label>
                <label>
                    <span class="block font-medium">"Provider"</span>
                    <select name="provider" class="input">
                        {[("", "Any"), ("stripe", "Stripe"), ("creem", "Creem")].into_iter().map(|(v, t)| {
                            let selected = field("provider") == v;
                            view! { <option value=v selected=selected>{t}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <button type="submit" class="btn-secondary px-3 py-2">"Filter"</button>
            </form>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match payments.await {
                        Ok(p) => view! {
                            {(p.refused > 0).then(|| view! {
                                <p class="card text-danger" role="status" data-testid="refused-events">
                                    {format!("{} webhook event(s) were refused (amount, currency or order mismatch) and need a person: see the events below.", p.refused)}
                                </p>
                            })}
                            <Failed failed=p.failed again />
                            <Table caption="Orders" heads=&["Made", "Buyer", "Item", "Amount", "Status", "Refunds", "Provider"] lines=p.orders />
                            <Table caption="Plans" heads=&["Buyer", "Plan", "Status", "Period ends", "Renewal", "Provider"] lines=p.subscriptions />
                            <Table caption="Webhook events (refused first)" heads=&["Received", "Provider", "Event", "Outcome"] lines=p.events />
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <Outcome show=move || again.value().get().map(|r| match r {
                Ok(text) => (true, text),
                Err(e) => (false, e.to_string()),
            }) />
        </StaffPage>
    }
}

/// Verified events that failed to apply, each with "Apply again".
#[component]
fn Failed(failed: Vec<FailedDto>, again: ServerAction<AdminApplyEventAgain>) -> impl IntoView {
    (!failed.is_empty()).then(|| view! {
        <section class="card space-y-2" data-testid="failed-events">
            <h2 class="text-xl font-semibold">"Events that failed to apply"</h2>
            <p class="text-sm">"Nothing of these was applied. The provider sends each again for up to three days; once the cause is fixed, an admin can apply one now. Applying is idempotent: an event the provider's retry applied meanwhile changes nothing."</p>
            <ul class="space-y-3">
                {failed.into_iter().map(|f| view! {
                    <li class="border-t border-line pt-2 text-sm">
                        <p class="break-all font-medium">{f.event}</p>
                        <p>{f.error}</p>
                        <p class="text-ink-muted">{f.attempts}</p>
                        <ActionForm action=again attr:class="mt-1 flex flex-wrap items-end gap-2">
                            <input type="hidden" name="id" value=f.id />
                            <label>
                                <span class="block font-medium">"Reason (goes into the audit log)"</span>
                                <input type="text" name="reason" class="input" required minlength="3" maxlength="500" />
                            </label>
                            <button type="submit" class="btn-secondary px-3 py-2">"Apply again"</button>
                        </ActionForm>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    })
}

#[component]
pub fn AdminOrderPage() -> impl IntoView {
    let params = use_params_map();
    let refund = ServerAction::<AdminRefundOrder>::new();
    let order = Resource::new_blocking(
        move || {
            (
                params.with(|p| p.get("id").unwrap_or_default()),
                refund.version().get(),
            )
        },
        |(id, _)| admin_order(id),
    );
    view! {
        <StaffPage title="Order">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match order.await {
                        Ok(o) => view! { <Order o refund /> }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <Outcome show=move || refund.value().get().map(|r| match r {
                Ok(text) => (true, text),
                Err(e) => (false, e.to_string()),
            }) />
        </StaffPage>
    }
}

#[component]
fn Order(o: OrderDto, refund: ServerAction<AdminRefundOrder>) -> impl IntoView {
    view! {
        <div class="card" data-testid="order">
            <dl class="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
                {o.facts.into_iter().map(|(k, v)| view! { <dt class="font-medium">{k}</dt><dd class="break-all">{v}</dd> }).collect_view()}
            </dl>
        </div>
        <Table caption="The provider's events about it" heads=&["Received", "Event", "Outcome"] lines=o.events />
        <div class="card space-y-2">
            <h2 class="text-xl font-semibold">"Refund"</h2>
            {match (o.refundable, o.viewer_admin) {
                (Some(left), true) => view! {
                    <p class="text-sm">{format!("Up to {left} can be refunded. The money goes back through the provider; the credits it bought are taken back in proportion (what was spent becomes a debt).")}</p>
                    <ActionForm action=refund attr:class="flex flex-wrap items-end gap-2" attr:data-testid="refund-form">
                        <input type="hidden" name="id" value=o.id.clone() />
                        <input type="hidden" name="form_key" value=o.form_key.clone() />
                        <label class="text-sm">
                            <span class="block font-medium">"Amount (empty: all that is left)"</span>
                            <input type="text" name="amount" inputmode="decimal" class="input w-28" placeholder=left.clone() />
                        </label>
                        <label class="text-sm">
                            <span class="block font-medium">"Reason (goes into the audit log)"</span>
                            <input type="text" name="reason" class="input" required minlength="3" maxlength="500" />
                        </label>
                        <button type="submit" class="btn-secondary px-3 py-2 text-sm">"Refund"</button>
                    </ActionForm>
                }.into_any(),
                (Some(_), false) => view! { <p class="text-sm">"Only admins can refund."</p> }.into_any(),
                (None, _) => view! { <p class="text-sm">{o.not_refundable.unwrap_or_default()}</p> }.into_any(),
            }}
        </div>
    }
}
