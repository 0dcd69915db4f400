//! The page behind a share link: rendered on the server, complete without
//! JavaScript, with OpenGraph and Twitter card tags so it previews well in
//! chats. Never indexed: publishing to a public gallery is not built yet.

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;

use crate::error::AppError;
use crate::sharing::get_shared;

#[component]
pub fn SharePage() -> impl IntoView {
    let params = use_params_map();
    let shared = Resource::new_blocking(
        move || params.read().get("token").unwrap_or_default(),
        get_shared,
    );
    view! {
        <Meta name="robots" content="noindex" />
        <section class="mx-auto max-w-3xl space-y-4">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match shared.await {
                        Ok(s) => view! {
                            <Title text="Shared image" />
                            <Meta property="og:type" content="website" />
                            <Meta property="og:title" content=s.prompt.clone() />
                            <Meta property="og:url" content=s.page_url.clone() />
                            <Meta property="og:image" content=s.image_url.clone() />
                            <Meta property="og:image:width" content=s.width.to_string() />
                            <Meta property="og:image:height" content=s.height.to_string() />
                            <Meta name="twitter:card" content="summary_large_image" />
                            <Meta name="twitter:image" content=s.image_url.clone() />
                            <figure class="space-y-2" data-testid="shared-image">
                                <img src=s.image_path.clone() width=s.width height=s.height alt=s.prompt.clone()
                                    class="h-auto w-full rounded-md border border-line" />
                                <figcaption class="break-words text-ink-muted">{s.prompt.clone()}</figcaption>
                            </figure>
                        }.into_any(),
                        Err(AppError::NotFound) => view! {
                            <Title text="Link not available" />
                            <p class="card" data-testid="share-gone">
                                "This link does not exist, has expired, or was turned off by the person who shared it."
                            </p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
