//! Pricing (public), the billing page (balance, buying, orders, history)
//! and the page the payment provider sends people back to.

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_query_map;

use crate::billing::{
    billing_overview, order_status, pricing, OfferDto, OpenBillingPortal, OrderDto, PlanDto,
    PricingData, StartCheckout,
};
use crate::components::form::{error_for, general_error, FormError};
use crate::error::AppError;

/// The packs as cards, each with its buy button (or why it cannot be bought).
#[component]
fn Offers(data: PricingData, next: &'static str) -> impl IntoView {
    let buy = ServerAction::<StartCheckout>::new();
    let PricingData {
        offers,
        plans,
        payments_enabled,
        signed_in,
    } = data;
    if offers.is_empty() && plans.is_empty() {
        return view! { <p class="card">"Nothing is on sale on this site."</p> }.into_any();
    }
    let button = move |item: String, buyable: bool, label: String| {
        if !buyable {
            view! { <p class="text-sm text-ink-muted">"Not available for purchase here."</p> }
                .into_any()
        } else if !signed_in {
            view! { <a class="btn-primary" href=format!("/sign-in?next={next}")>"Sign in to buy"</a> }
                .into_any()
        } else {
            view! {
                <ActionForm action=buy>
                    <input type="hidden" name="pack" value=item />
                    <button type="submit" class="btn-primary" disabled=move || buy.pending().get()>
                        {label}
                    </button>
                </ActionForm>
            }
            .into_any()
        }
    };
    view! {
        <div class="space-y-3">
            {(!payments_enabled).then(|| view! {
                <p class="card" role="status" data-testid="payments-off">"Payments are not set up on this site, so credits cannot be bought here. New accounts still get their welcome credits."</p>
            })}
            <FormError error=error_for(buy.value(), "pack") />
            <FormError error=general_error(buy.value()) />
            {(!plans.is_empty()).then(|| view! {
                <h3 class="text-lg font-semibold">"Plans"</h3>
                <ul class="grid gap-3 sm:grid-cols-2">
                    {plans.into_iter().map(|p: PlanDto| {
                        let PlanDto { id, name, credits, price, interval, rollover, buyable } = p;
                        let action = button(id.clone(), buyable, format!("Subscribe for {price}"));
                        let keep = if rollover {
                            "Unused credits carry over."
                        } else {
                            "Unused credits expire at the end of each period."
                        };
                        view! {
                            <li class="card space-y-2" data-testid="plan" data-plan=id>
                                <h4 class="text-lg font-semibold">{name}</h4>
                                <p><span class="text-2xl font-bold">{credits}</span>{format!(" credits every {interval} · {price}")}</p>
                                <p class="text-sm text-ink-muted">{keep}" Cancel any time; it then ends at the end of the period you paid for."</p>
                                {action}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
            {(!offers.is_empty()).then(|| view! { <h3 class="text-lg font-semibold">"Credit packs"</h3> })}
            <ul class="grid gap-3 sm:grid-cols-2">
                {offers.into_iter().map(|o: OfferDto| {
                    let OfferDto { id, name, credits, price, buyable } = o;
                    let action = button(id.clone(), buyable, format!("Buy for {price}"));
                    view! {
                        <li class="card space-y-2" data-testid="offer" data-pack=id>
                            <h4 class="text-lg font-semibold">{name}</h4>
                            <p><span class="text-2xl font-bold">{credits}</span>" credits · "{price}</p>
                            {action}
                        </li>
                    }
                }).collect_view()}
            </ul>
            <p class="text-sm text-ink-muted">"You pay on the payment provider's page; uni1 never sees your card. Credits from packs do not expire. Plan credits are spent before pack credits. Each image costs the credits shown next to its model in the studio."</p>
        </div>
    }
    .into_any()
}

/// `/pricing`: the credit packs, for anyone (rendered on the server).
#[component]
pub fn PricingPage() -> impl IntoView {
    let query = use_query_map();
    let canceled = move || query.read().get("canceled").is_some();
    let data = Resource::new_blocking(|| (), |_| pricing());
    view! {
        <Title text="Pricing" />
        <Meta name="description" content="Credit packs and plans for generating images on uni1." />
        <section class="mx-auto max-w-3xl space-y-4">
            <h1 class="text-3xl font-bold">"Pricing"</h1>
            <p class="text-ink-muted">"Generating an image uses credits. Buy a pack when you need more, or take a plan that adds credits every period."</p>
            <Show when=canceled>
                <p class="card" role="status">"The checkout was canceled. Nothing was charged."</p>
            </Show>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(d) => view! { <Offers data=d next="/pricing" /> }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

fn status_text(o: &OrderDto) -> &'static str {
    match o.status.as_str() {
        "paid" if o.refunded.is_some() => "Partly refunded",
        "paid" => "Paid",
        "refunded" => "Refunded",
        "disputed" => "Disputed",
        "pending" => "Waiting for payment",
        "expired" => "Not completed",
        _ => "Unknown",
    }
}

/// `/billing`: balance, packs, orders and the credit history.
#[component]
pub fn BillingPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || query.read().get("before").unwrap_or_default();
    let data = Resource::new_blocking(before, billing_overview);
    let portal = ServerAction::<OpenBillingPortal>::new();
    view! {
        <Title text="Billing" />
        <Meta name="robots" content="noindex" />
        <section class="mx-auto max-w-3xl space-y-6">
            <h1 class="text-3xl font-bold">"Billing"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(d) => {
                            let can_manage = d.pricing.payments_enabled && !d.orders.is_empty();
                            let manage_label = if d.plan.as_ref().is_some_and(|p| p.live) {
                                "Manage subscription, payment methods and invoices"
                            } else {
                                "Payment methods and invoices"
                            };
                            view! {
                            <div class="card" data-testid="balance">
                                <p><span class="text-3xl font-bold" data-testid="available">{d.available}</span>" credits available"</p>
                                {(d.held > 0).then(|| view! { <p class="text-sm text-ink-muted">{format!("{} held by generations in progress", d.held)}</p> })}
                                {d.expiring_on.clone().map(|on| view! {
                                    <p class="text-sm text-ink-muted" data-testid="expiring">{format!("{} of them are plan credits that expire on {on}; they are spent first.", d.expiring)}</p>
                                })}
                                {(d.debt > 0).then(|| view! {
                                    <p class="text-sm text-danger" role="status" data-testid="debt">{format!("{} credits are owed from a refunded purchase: they were spent before the refund. The next credits you buy settle this first; until then no new generation can start.", d.debt)}</p>
                                })}
                            </div>
                            {d.plan.clone().map(|p| view! {
                                <div class="card" data-testid="plan-state" data-live=p.live.to_string()>
                                    <p><span class="font-semibold">{format!("Your plan: {}", p.name)}</span>{(!p.price.is_empty()).then(|| format!(" · {}", p.price))}</p>
                                    <p class="text-sm">{p.state}</p>
                                </div>
                            })}
                            <h2 class="text-xl font-semibold">"Buy credits"</h2>
                            <Offers data=d.pricing next="/billing" />
                            <h2 class="text-xl font-semibold">"Purchases"</h2>
                            {can_manage.then(|| view! {
                                <ActionForm action=portal>
                                    <button type="submit" class="btn-secondary" disabled=move || portal.pending().get()>{manage_label}</button>
                                </ActionForm>
                                <FormError error=error_for(portal.value(), "pack") />
                                <FormError error=general_error(portal.value()) />
                            })}
                            {if d.orders.is_empty() {
                                view! { <p class="text-ink-muted">"No purchases yet."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="space-y-2" data-testid="orders">
                                        {d.orders.into_iter().map(|o| view! {
                                            <li class="card flex flex-wrap justify-between gap-2 text-sm" data-status=o.status.clone()>
                                                <span>{format!("{} · {} credits · {}", o.item_name, o.credits, o.price)}</span>
                                                <span>
                                                    {format!("{} · {}", status_text(&o), o.paid_at.clone().unwrap_or(o.created_at.clone()))}
                                                    {o.receipt_url.clone().map(|u| view! { " · " <a class="underline" href=u rel="external noopener noreferrer">"Invoice"</a> })}
                                                </span>
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                            <div class="flex items-center justify-between">
                                <h2 class="text-xl font-semibold">"Credit history"</h2>
                                <a href="/billing/history.csv" rel="external" class="btn-secondary text-sm" download>"Download CSV"</a>
                            </div>
                            <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Credit history">
                                <table class="w-full text-left text-sm" data-testid="history">
                                    <thead><tr><th class="p-2">"When"</th><th class="p-2">"What"</th><th class="p-2 text-right">"Credits"</th><th class="p-2 text-right">"Balance"</th></tr></thead>
                                    <tbody>
                                        {d.history.into_iter().map(|h| view! {
                                            <tr class="border-t border-line">
                                                <td class="p-2 whitespace-nowrap">{h.at}</td>
                                                <td class="p-2">{h.what}</td>
                                                <td class="p-2 text-right">{h.change}</td>
                                                <td class="p-2 text-right">{h.balance_after}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {d.next.map(|n| view! { <a class="btn-secondary" href=format!("/billing?before={n}")>"Older entries"</a> })}
                        }.into_any()
                        }
                        Err(AppError::Unauthenticated) => view! {
                            <p class="card">"Please " <a href="/sign-in?next=/billing" class="underline">"sign in"</a> " to see your credits and purchases."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// `/billing/return?order=…`: where the checkout sends people back. It shows
/// the order's state and waits for the payment provider's confirmation (it
/// never grants anything itself): while the payment is not confirmed the
/// page reloads itself every three seconds (with or without JavaScript).
#[component]
pub fn CheckoutReturnPage() -> impl IntoView {
    let query = use_query_map();
    let order = move || query.read().get("order").unwrap_or_default();
    let data = Resource::new_blocking(order, order_status);
    view! {
        <Title text="Payment" />
        <Meta name="robots" content="noindex" />
        <section class="mx-auto max-w-2xl space-y-4">
            <h1 class="text-3xl font-bold">"Payment"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(o) if o.status == "paid" => view! {
                            <p class="card" role="status" data-testid="order-paid">{format!("Thank you. {} credits were added to your account. A receipt is on its way to your inbox.", o.credits)}</p>
                            <p class="flex gap-3"><a class="btn-primary" href="/studio">"Open the studio"</a><a class="btn-secondary" href="/billing">"Billing"</a></p>
                        }.into_any(),
                        Ok(o) if o.status == "pending" => view! {
                            <Meta http_equiv="refresh" content="3" />
                            <p class="card" role="status" aria-live="polite" data-testid="order-pending">{format!("Waiting for the payment provider to confirm your payment for {}… This usually takes a few seconds; the credits appear as soon as it does.", o.item_name)}</p>
                        }.into_any(),
                        Ok(o) => view! {
                            <p class="card" role="status">{format!("This purchase of {} was not completed. Nothing was charged.", o.item_name)}</p>
                            <a class="btn-secondary" href="/pricing">"Back to pricing"</a>
                        }.into_any(),
                        Err(AppError::Unauthenticated) => view! {
                            <p class="card">"Please " <a href="/sign-in?next=/billing" class="underline">"sign in"</a> " to see your purchase."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
