//! The page behind a share link: rendered on the server, complete without
//! JavaScript, with OpenGraph and Twitter card tags whose image is a signed,
//! expiring URL that link-preview crawlers can fetch. `noindex` unless the
//! owner published the image to the public gallery. Also the owner's views
//! of their links: per image or collection, and all of them in Settings.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::error::AppError;
use crate::sharing::{
    get_shared, list_share_links, CreateShareLink, RevokeShareLink, ShareLinkDto, SharedDto,
};

#[component]
pub fn SharePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let shared = Resource::new_blocking(
        move || (token(), query.read().get("cursor").unwrap_or_default()),
        |(token, cursor)| get_shared(token, cursor),
    );
    view! {
        <section class="mx-auto max-w-4xl space-y-4">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match shared.await {
                        Ok(s) => view! { <Shared s token=token() /> }.into_any(),
                        Err(AppError::NotFound) => view! {
                            <Title text="Link not available" />
                            <Meta name="robots" content="noindex" />
                            <p class="card" data-testid="share-gone">
                                "This link does not exist, has expired, or was turned off by the person who shared it."
                            </p>
                        }.into_any(),
                        Err(e) => view! {
                            <Meta name="robots" content="noindex" />
                            <p class="text-danger" role="alert">{e.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Shared(s: SharedDto, token: String) -> impl IntoView {
    let more = s
        .next_cursor
        .as_deref()
        .map(|c| format!("/s/{token}?cursor={}", crate::auth::encode_component(c)));
    view! {
        <Title text=if s.image.is_some() { "Shared image".to_owned() } else { s.title.clone() } />
        {(!s.indexable).then(|| view! { <Meta name="robots" content="noindex" /> })}
        <Meta property="og:type" content="website" />
        <Meta property="og:title" content=s.title.clone() />
        <Meta property="og:url" content=s.page_url.clone() />
        <Meta name="twitter:card" content="summary_large_image" />
        <Meta name="twitter:title" content=s.title.clone() />
        {s.preview_url.clone().map(|url| view! {
            <Meta property="og:image" content=url.clone() />
            <Meta property="og:image:type" content="image/webp" />
            <Meta property="og:image:width" content=s.preview_width.to_string() />
            <Meta property="og:image:height" content=s.preview_height.to_string() />
            <Meta name="twitter:image" content=url />
        })}
        {match s.image.clone() {
            Some(img) => view! {
                <figure class="space-y-2" data-testid="shared-image">
                    <img src=img.src.clone() width=img.width height=img.height alt=img.prompt.clone()
                        fetchpriority="high" class="h-auto w-full rounded-md border border-line" />
                    <figcaption class="break-words text-ink-muted">{img.prompt.clone()}</figcaption>
                </figure>
            }.into_any(),
            None => view! {
                <h1 class="text-2xl font-bold break-words" data-testid="shared-collection">{s.title.clone()}</h1>
                {s.items.is_empty().then(|| view! { <p class="text-ink-muted">"This collection has no images to show."</p> })}
                <ul class="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-4">
                    {s.items.iter().map(|i| view! {
                        <li data-testid="shared-item">
                            <a href=i.full.clone()>
                                <img src=i.src.clone() width=i.width height=i.height alt=i.prompt.clone()
                                    loading="lazy" decoding="async" class="h-auto w-full rounded-md border border-line" />
                            </a>
                        </li>
                    }).collect_view()}
                </ul>
                {more.map(|href| view! { <a href=href class="btn-secondary inline-block" rel="next">"More"</a> })}
            }.into_any(),
        }}
    }
}

fn link_line(l: &ShareLinkDto) -> String {
    format!(
        "Made {} · expires {} · {}",
        l.created_at,
        l.expires,
        l.state()
    )
}

/// Make, see and revoke the share links of one image or one collection.
#[component]
pub fn ShareLinksBox(
    #[prop(optional, into)] image: String,
    #[prop(optional, into)] collection: String,
) -> impl IntoView {
    let create = ServerAction::<CreateShareLink>::new();
    let revoke = ServerAction::<RevokeShareLink>::new();
    let (img, col) = (image.clone(), collection.clone());
    let links = Resource::new_blocking(
        move || (create.version().get(), revoke.version().get()),
        move |_| list_share_links(img.clone(), col.clone()),
    );
    let created = create.value();
    let what = if collection.is_empty() {
        "this image"
    } else {
        "the images in this collection"
    };
    view! {
        <div class="space-y-2 border-t border-line pt-3" data-testid="share-links">
            <h2 class="font-semibold">"Share"</h2>
            <p class="text-xs text-ink-muted">{format!("Anyone with the link can see {what} until it expires or you turn it off.")}</p>
            <ActionForm action=create attr:class="flex flex-wrap items-end gap-2">
                <input type="hidden" name="image" value=image.clone() />
                <input type="hidden" name="collection" value=collection.clone() />
                <label class="text-sm">"Expires "
                    <select name="expires_in_days" class="input w-auto">
                        <option value="">"never"</option>
                        <option value="1">"in 1 day"</option>
                        <option value="7" selected>"in 7 days"</option>
                        <option value="30">"in 30 days"</option>
                    </select>
                </label>
                <button type="submit" class="btn-secondary">"Create link"</button>
            </ActionForm>
            {move || match created.get() {
                Some(Ok(new)) => Some(view! {
                    <p class="card break-all text-sm" role="status">"Your link (copy it now, it is shown once): "
                        <a class="underline" href=new.url.clone() data-testid="share-url">{new.url.clone()}</a></p>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="text-sm text-danger" role="alert">{e.to_string()}</p> }.into_any()),
                None => None,
            }}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    links.await.map(|ls| view! {
                        <ul class="space-y-1 text-sm">
                            {ls.into_iter().map(|l| view! {
                                <li class="flex flex-wrap items-center justify-between gap-2" data-testid="share-link">
                                    <span>{link_line(&l)}</span>
                                    {l.active.then(|| view! { <RevokeForm id=l.id.clone() action=revoke /> })}
                                </li>
                            }).collect_view()}
                        </ul>
                    }).ok()
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn RevokeForm(id: String, action: ServerAction<RevokeShareLink>) -> impl IntoView {
    view! {
        <ActionForm action>
            <input type="hidden" name="id" value=id />
            <button type="submit" class="btn-secondary text-xs">"Turn off"</button>
        </ActionForm>
    }
}

/// Settings -> Share links: every link the person made, and turning them off.
#[component]
pub fn ShareLinksPage() -> impl IntoView {
    let revoke = ServerAction::<RevokeShareLink>::new();
    let links = Resource::new_blocking(
        move || revoke.version().get(),
        |_| list_share_links(String::new(), String::new()),
    );
    view! {
        <Title text="Share links" />
        <Meta name="robots" content="noindex" />
        <section class="mx-auto max-w-2xl space-y-4">
            <h1 class="text-3xl font-bold">"Share links"</h1>
            <p class="text-ink-muted">"Anyone with one of these links can see that image or collection until the link expires or you turn it off. Make new links from an image's or a collection's page."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match links.await {
                        Ok(ls) if ls.is_empty() => view! { <p class="card">"You have not shared anything yet."</p> }.into_any(),
                        Ok(ls) => view! {
                            <ul class="space-y-2" data-testid="all-share-links">
                                {ls.into_iter().map(|l| {
                                    let line = link_line(&l);
                                    let target = match (&l.image_id, &l.collection_id) {
                                        (Some(i), _) => view! {
                                            <a href=format!("/gallery/{i}") class="flex items-center gap-3">
                                                <img src=format!("/media/{i}/thumb") width="64" height="64" alt="" loading="lazy"
                                                    class="h-16 w-16 rounded object-cover" />
                                                <span class="text-sm">{line}</span>
                                            </a>
                                        }.into_any(),
                                        (None, Some(c)) => view! {
                                            <a href=format!("/collections/{c}") class="text-sm">
                                                <span class="font-semibold underline">"Collection"</span>" · "{line}
                                            </a>
                                        }.into_any(),
                                        (None, None) => view! { <span class="text-sm">{line}</span> }.into_any(),
                                    };
                                    view! {
                                        <li class="card flex flex-wrap items-center justify-between gap-3 p-3">
                                            {target}
                                            {l.active.then(|| view! { <RevokeForm id=l.id.clone() action=revoke /> })}
                                        </li>
                                    }
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
