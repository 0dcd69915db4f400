//! The public gallery (`/explore`) and the page of one published image
//! (`/p/:id`): open to everyone, indexable, with a report form that feeds
//! moderation.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::error::AppError;
use crate::publishing::{get_public_gallery, get_public_image, PublicImageDto, ReportImage};

#[component]
pub fn ExplorePage() -> impl IntoView {
    let query = use_query_map();
    let page = Resource::new_blocking(
        move || query.read().get("cursor").unwrap_or_default(),
        get_public_gallery,
    );
    view! {
        <Title text="Explore" />
        <section class="space-y-6">
            <h1 class="text-3xl font-bold">"Explore"</h1>
            <p class="text-ink-muted">"Images their makers chose to publish. Publish your own from an image's page in your gallery; you can take it back at any time."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(p) => {
                            let more = p.next_cursor.as_deref()
                                .map(|c| format!("/explore?cursor={}", crate::auth::encode_component(c)));
                            let empty = p.items.is_empty();
                            view! {
                                {empty.then(|| view! { <p class="card" data-testid="explore-empty">"Nothing has been published yet."</p> })}
                                <ul class="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-4" data-testid="explore-grid">
                                    {p.items.into_iter().enumerate().map(|(n, i)| view! {
                                        <li class="card space-y-2 p-2" data-testid="explore-item">
                                            <a href=format!("/p/{}", i.id) class="block">
                                                // The first row is what paints first: not lazy.
                                                <img src=format!("/p/{}/thumb", i.id) width=i.width height=i.height
                                                    alt=i.prompt.clone() loading=if n < 4 { "eager" } else { "lazy" } decoding="async"
                                                    class="h-auto w-full rounded-md border border-line" />
                                            </a>
                                            <p class="line-clamp-2 text-sm break-words">{i.prompt.clone()}</p>
                                        </li>
                                    }).collect_view()}
                                </ul>
                                {more.map(|href| view! { <a href=href class="btn-secondary inline-block" rel="next">"More"</a> })}
                            }.into_any()
                        }
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn PublicImagePage() -> impl IntoView {
    let params = use_params_map();
    let image = Resource::new_blocking(
        move || params.read().get("id").unwrap_or_default(),
        get_public_image,
    );
    view! {
        <section class="mx-auto max-w-4xl space-y-4">
            <p><a href="/explore" class="underline">"← Explore"</a></p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match image.await {
                        Ok(i) => view! { <PublicImage i /> }.into_any(),
                        Err(AppError::NotFound) => view! {
                            <Title text="Image not available" />
                            <Meta name="robots" content="noindex" />
                            <p class="card" data-testid="public-gone">"This image is not published (any more)."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn PublicImage(i: PublicImageDto) -> impl IntoView {
    let report = ServerAction::<ReportImage>::new();
    let id = i.id.clone();
    let reported = move || matches!(report.value().get(), Some(Ok(())));
    let error = move || match report.value().get() {
        Some(Err(e)) => {
            Some(view! { <p class="text-sm text-danger" role="alert">{e.to_string()}</p> })
        }
        _ => None,
    };
    view! {
        <Title text=i.prompt.clone() />
        <Meta property="og:type" content="website" />
        <Meta property="og:title" content=i.prompt.clone() />
        <Meta property="og:url" content=i.page_url.clone() />
        <Meta property="og:image" content=i.image_url.clone() />
        <Meta name="twitter:card" content="summary_large_image" />
        <Meta name="twitter:image" content=i.image_url.clone() />
        <figure class="space-y-2" data-testid="public-image">
            // The largest paint of the page: fetched first.
            <img src=format!("/p/{}/preview", i.id) width=i.width height=i.height alt=i.prompt.clone()
                fetchpriority="high" class="h-auto w-full rounded-md border border-line" />
            <figcaption class="break-words">{i.prompt.clone()}</figcaption>
        </figure>
        <p class="text-sm text-ink-muted">{format!("Model {} · published {}", i.model_id, i.published_on)}</p>
        <details class="text-sm">
            <summary class="cursor-pointer underline">"Report this image"</summary>
            <Show when=reported fallback=move || {
                let id = id.clone();
                view! {
                    <ActionForm action=report attr:class="mt-2 space-y-2">
                        <input type="hidden" name="id" value=id />
                        <label for="report-reason" class="block font-medium">"What is wrong with it?"</label>
                        <textarea id="report-reason" name="reason" class="input" required maxlength="1000" rows="3"></textarea>
                        <button type="submit" class="btn-secondary" data-testid="report-send">"Send report"</button>
                    </ActionForm>
                }
            }>
                <p role="status" data-testid="report-sent">"Thank you. The moderators will look at it."</p>
            </Show>
            {error}
        </details>
    }
}
