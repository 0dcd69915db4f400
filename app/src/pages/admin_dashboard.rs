//! The staff dashboard (ADM-1), at the top of `/admin`: today's and the
//! last 30 days' figures, and a chart per figure drawn as inline SVG by
//! `components::chart` (no chart JavaScript), each followed by the same
//! numbers as a table for people who cannot see the chart.

use leptos::prelude::*;

use crate::admin_dashboard::{admin_dashboard, DashboardDto, DayDto, FiguresDto};
use crate::components::chart::{bars, Series, PALETTE};

/// The figures and charts; rendered inside `StaffPage`.
#[component]
pub fn Dashboard() -> impl IntoView {
    let data = Resource::new_blocking(|| (), |_| admin_dashboard());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <Figures d /> }.into_any(),
                    Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn money(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

#[component]
fn Summary(
    title: &'static str,
    f: FiguresDto,
    active_label: &'static str,
    testid: &'static str,
) -> impl IntoView {
    let row = |label: &'static str, value: String| {
        view! {
            <div class="flex justify-between gap-4 border-t border-line py-1">
                <dt>{label}</dt><dd class="font-semibold tabular-nums">{value}</dd>
            </div>
        }
    };
    view! {
        <section class="card space-y-2" data-testid=testid>
            <h2 class="text-lg font-semibold">{title}</h2>
            <dl class="text-sm">
                {row("Sign-ups", f.signups.to_string())}
                {row(active_label, f.active_people.to_string())}
                {row("Generations succeeded", f.succeeded.to_string())}
                {row("Generations failed", f.failed.to_string())}
                {row("Generations refused", f.refused.to_string())}
                {row("Generations cancelled", f.cancelled.to_string())}
                {row("Credits sold", f.credits_sold.to_string())}
                {row("Credits spent", f.credits_spent.to_string())}
                {row("Revenue", money(&f.revenue))}
                {row("Refunds", format!("{} ({} credits; {})", f.refunds, f.credits_refunded, money(&f.refunded)))}
            </dl>
        </section>
    }
}

/// A chart and, below it, its numbers as a table.
#[component]
fn Chart(
    #[prop(into)] id: String,
    title: String,
    desc: String,
    days: Vec<DayDto>,
    series: Vec<Series>,
    /// Values are minor units of this currency.
    #[prop(optional)]
    currency: Option<String>,
) -> impl IntoView {
    let labels: Vec<String> = days
        .iter()
        .map(|d| d.day.get(5..).unwrap_or(&d.day).to_owned())
        .collect();
    let format = move |v: i64| match &currency {
        Some(c) => format!("{}.{:02} {}", v / 100, (v % 100).abs(), c.to_uppercase()),
        None => v.to_string(),
    };
    let svg = bars(&id, &title, &desc, &labels, &series, &format);
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    let rows: Vec<(String, Vec<String>)> = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            (
                d.day.clone(),
                series
                    .iter()
                    .map(|s| format(s.values.get(i).copied().unwrap_or(0)))
                    .collect(),
            )
        })
        .collect();
    view! {
        <figure class="card space-y-2">
            <figcaption class="font-semibold">{title.clone()}</figcaption>
            <div inner_html=svg></div>
            <details class="text-sm">
                <summary class="cursor-pointer underline">{format!("{title}: the figures")}</summary>
                <table class="mt-2 w-full text-left">
                    <thead><tr>
                        <th scope="col" class="pr-3">"Day"</th>
                        {names.into_iter().map(|n| view! { <th scope="col" class="pr-3">{n}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {rows.into_iter().map(|(day, values)| view! {
                            <tr class="border-t border-line">
                                <th scope="row" class="pr-3 font-normal">{day}</th>
                                {values.into_iter().map(|v| view! { <td class="pr-3 tabular-nums">{v}</td> }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </details>
        </figure>
    }
}

fn one(name: &str, days: &[DayDto], value: impl Fn(&DayDto) -> i64) -> Vec<Series> {
    vec![Series {
        name: name.to_owned(),
        colour: PALETTE[0],
        values: days.iter().map(value).collect(),
    }]
}

#[component]
fn Figures(d: DashboardDto) -> impl IntoView {
    let days = d.days.clone();
    let n = days.len();
    let outcomes = vec![
        Series {
            name: "succeeded".into(),
            colour: PALETTE[0],
            values: days.iter().map(|x| x.succeeded).collect(),
        },
        Series {
            name: "failed".into(),
            colour: PALETTE[1],
            values: days.iter().map(|x| x.failed).collect(),
        },
        Series {
            name: "refused".into(),
            colour: PALETTE[2],
            values: days.iter().map(|x| x.refused).collect(),
        },
        Series {
            name: "cancelled".into(),
            colour: PALETTE[3],
            values: days.iter().map(|x| x.cancelled).collect(),
        },
    ];
    let revenue_charts = d
        .currencies
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let series = one(&format!("revenue ({})", c.to_uppercase()), &days, |x| {
                x.revenue.get(i).copied().unwrap_or(0)
            });
            let id = format!("chart-revenue-{i}");
            view! {
                <Chart id title=format!("Revenue in {}", c.to_uppercase())
                    desc=format!("Revenue in {} per day over the last {n} days.", c.to_uppercase())
                    days=days.clone() series currency=c.clone() />
            }
        })
        .collect_view();
    view! {
        <div class="space-y-6" data-testid="dashboard">
            <p class="text-sm text-ink-muted">{format!("Days before today as of {}; today counted now. Times in UTC.", d.computed_at)}</p>
            <div class="grid gap-4 md:grid-cols-2">
                <Summary title="Today" f=d.today.clone() active_label="Active people" testid="today" />
                <Summary title="Last 30 days" f=d.month.clone() active_label="Active people (average per day)" testid="month" />
            </div>
            <div class="grid gap-4 lg:grid-cols-2">
                <Chart id="chart-signups" title="Sign-ups per day".to_owned()
                    desc=format!("New accounts per day over the last {n} days.")
                    days=days.clone() series=one("sign-ups", &days, |x| x.signups) />
                <Chart id="chart-active" title="Active people per day".to_owned()
                    desc=format!("People who signed in, were seen or generated, per day over the last {n} days.")
                    days=days.clone() series=one("active people", &days, |x| x.active_people) />
                <Chart id="chart-generations" title="Generations by outcome".to_owned()
                    desc=format!("Generations that ended per day over the last {n} days: succeeded, failed, refused and cancelled, stacked.")
                    days=days.clone() series=outcomes />
                <Chart id="chart-credits-sold" title="Credits sold per day".to_owned()
                    desc=format!("Credits in orders paid per day over the last {n} days.")
                    days=days.clone() series=one("credits sold", &days, |x| x.credits_sold) />
                <Chart id="chart-credits-spent" title="Credits spent per day".to_owned()
                    desc=format!("Credits spent on generations per day over the last {n} days.")
                    days=days.clone() series=one("credits spent", &days, |x| x.credits_spent) />
                <Chart id="chart-refunds" title="Refunds per day".to_owned()
                    desc=format!("Refunds per day over the last {n} days.")
                    days=days.clone() series=one("refunds", &days, |x| x.refunds) />
                {revenue_charts}
            </div>
        </div>
    }
}
