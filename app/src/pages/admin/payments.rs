//! `/admin/payments`: orders, plans and webhook events with filters (a GET
//! form); events uni1 refused come first, they need a person.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::users::Table;
use super::StaffPage;
use crate::admin::payments::admin_payments;

#[component]
pub fn AdminPaymentsPage() -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &'static str| query.with(|q| q.get(name).unwrap_or_default());
    let payments = Resource::new_blocking(
        move || (field("status"), field("provider"), field("email")),
        |(status, provider, email)| admin_payments(status, provider, email),
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
                            <Table caption="Orders" heads=&["Made", "Buyer", "Item", "Amount", "Status", "Refunds", "Provider"] lines=p.orders />
                            <Table caption="Plans" heads=&["Buyer", "Plan", "Status", "Period ends", "Renewal", "Provider"] lines=p.subscriptions />
                            <Table caption="Webhook events (refused first)" heads=&["Received", "Provider", "Event", "Outcome"] lines=p.events />
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </StaffPage>
    }
}
