//! The page behind a share link: rendered on the server, complete without
//! JavaScript, with OpenGraph and Twitter card tags so it previews well in
//! chats. Never indexed: publishing to a public gallery is not built yet.

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;

use leptos::form::ActionForm;

use crate::error::AppError;
use crate::sharing::{get_shared, list_share_links, RevokeShareLink};

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

/// Settings -> Share links: every link the person made, and turning them off.
#[component]
pub fn ShareLinksPage() -> impl IntoView {
    let revoke = ServerAction::<RevokeShareLink>::new();
    let links = Resource::new_blocking(
        move || revoke.version().get(),
        |_| list_share_links(String::new()),
    );
    view! {
        <Title text="Share links" />
        <Meta name="robots" content="noindex" />
        <section class="mx-auto max-w-2xl space-y-4">
            <h1 class="text-3xl font-bold">"Share links"</h1>
            <p class="text-ink-muted">"Anyone with one of these links can see that image until the link expires or you turn it off. Make new links from an image's page in your gallery."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match links.await {
                        Ok(ls) if ls.is_empty() => view! { <p class="card">"You have not shared any image yet."</p> }.into_any(),
                        Ok(ls) => view! {
                            <ul class="space-y-2" data-testid="all-share-links">
                                {ls.into_iter().map(|l| view! {
                                    <li class="card flex flex-wrap items-center justify-between gap-3 p-3">
                                        <a href=format!("/gallery/{}", l.image_id) class="flex items-center gap-3">
                                            <img src=format!("/media/{}/thumb", l.image_id) width="64" height="64" alt="" loading="lazy"
                                                class="h-16 w-16 rounded object-cover" />
                                            <span class="text-sm">{format!("Made {} · expires {} · {}", l.created_at, l.expires,
                                                if l.revoked { "turned off" } else if l.active { "active" } else { "expired" })}</span>
                                        </a>
                                        {l.active.then(|| view! {
                                            <ActionForm action=revoke>
                                                <input type="hidden" name="id" value=l.id.clone() />
                                                <button type="submit" class="btn-secondary text-sm">"Turn off"</button>
                                            </ActionForm>
                                        })}
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(AppError::Unauthenticated) => view! {
                            <p class="card">"Please " <a href="/sign-in?next=/settings/sharing" class="underline">"sign in"</a> " to see your share links."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
