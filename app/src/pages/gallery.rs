//! The gallery: every image the person made, newest first, with search and
//! filters (a GET form, so the URL is shareable and it works without
//! JavaScript), a plain "More" link to the next page, favourites and
//! deletion; and a page per image with all its settings.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::auth::encode_component;
use crate::collections::{list_collections, ChangeCollection, CollectionDto, CreateCollection};
use crate::error::AppError;
use crate::gallery::{
    get_gallery, get_image_details, DeleteImages, GalleryItemDto, GalleryPageDto, ImageDetailsDto,
    SetFavorite,
};
use crate::pages::share::ShareLinksBox;

/// The filters as they are in the URL.
#[derive(Debug, Clone, Default, PartialEq)]
struct Filters {
    q: String,
    model: String,
    aspect_ratio: String,
    from: String,
    to: String,
    favorites: bool,
    cursor: String,
}

impl Filters {
    /// The query string for these filters, on the page after `cursor`.
    fn href(&self, cursor: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("q", self.q.as_str()),
            ("model", self.model.as_str()),
            ("aspect_ratio", self.aspect_ratio.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
        ] {
            if !value.is_empty() {
                parts.push(format!("{name}={}", encode_component(value)));
            }
        }
        if self.favorites {
            parts.push("favorites=1".into());
        }
        if let Some(c) = cursor {
            parts.push(format!("cursor={}", encode_component(c)));
        }
        if parts.is_empty() {
            "/gallery".into()
        } else {
            format!("/gallery?{}", parts.join("&"))
        }
    }

    fn is_filtered(&self) -> bool {
        !(self.q.is_empty()
            && self.model.is_empty()
            && self.aspect_ratio.is_empty()
            && self.from.is_empty()
            && self.to.is_empty()
            && !self.favorites)
    }
}

pub(crate) fn signed_out(next: String) -> AnyView {
    view! {
        <p class="card">"Please "
            <A href=format!("/sign-in?next={next}") attr:class="underline">"sign in"</A>
            " to see your images."</p>
    }
    .into_any()
}

#[component]
pub fn GalleryPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default().trim().to_owned();
        Filters {
            q: get("q"),
            model: get("model"),
            aspect_ratio: get("aspect_ratio"),
            from: get("from"),
            to: get("to"),
            favorites: crate::params::flag(&get("favorites")),
            cursor: get("cursor"),
        }
    };
    let page = Resource::new_blocking(filters, |f| {
        get_gallery(
            f.q,
            f.model,
            f.aspect_ratio,
            f.from,
            f.to,
            if f.favorites {
                "1".into()
            } else {
                String::new()
            },
            f.cursor,
        )
    });
    view! {
        <Title text="Gallery" />
        <Meta name="robots" content="noindex" />
        <section class="space-y-6">
            <div class="flex flex-wrap items-baseline justify-between gap-3">
                <h1 class="text-3xl font-bold">"Gallery"</h1>
                <p class="flex gap-4 text-sm">
                    <a href="/collections" class="underline">"Collections"</a>
                    <a href="/explore" class="underline">"Explore"</a>
                </p>
            </div>
            {move || notice(&query.read().get("notice").unwrap_or_default()).map(|n| view! {
                <p class="card text-sm" role="status" data-testid="gallery-notice">{n}</p>
            })}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let f = filters();
                    match page.await {
                        Ok(p) => view! { <GalleryBody page=p filters=f /> }.into_any(),
                        Err(AppError::Unauthenticated) => signed_out("/gallery".into()),
                        Err(e) => view! {
                            <div class="card space-y-2">
                                <p class="text-danger" role="alert" data-testid="gallery-error">{e.to_string()}</p>
                                <p><a href="/gallery" class="underline">"Back to the newest images"</a></p>
                            </div>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The message for a `notice` the selection form redirected with.
fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "too-many" => "Choose at most 100 images at a time.",
        "none-selected" => "Tick at least one image first.",
        "choose-collection" => "Choose one of your collections to add the images to.",
        "none-downloadable" => "None of the ticked images can be downloaded any more.",
        _ => return None,
    })
}

#[component]
fn FilterForm(page: GalleryPageDto, filters: Filters) -> impl IntoView {
    let f = filters;
    view! {
        <form method="get" action="/gallery" role="search" class="card grid gap-3 sm:grid-cols-2 lg:grid-cols-6" data-testid="gallery-filters">
            <div class="space-y-1 lg:col-span-2">
                <label for="filter-q" class="block text-sm font-medium">"Search prompts"</label>
                <input id="filter-q" name="q" type="search" class="input" value=f.q.clone() maxlength="200" placeholder="lighthouse" />
            </div>
            <div class="space-y-1">
                <label for="filter-model" class="block text-sm font-medium">"Model"</label>
                <select id="filter-model" name="model" class="input">
                    <option value="">"Any"</option>
                    {page.models.iter().map(|m| view! {
                        <option value=m.value.clone() selected=m.value == f.model>{m.label.clone()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="space-y-1">
                <label for="filter-aspect" class="block text-sm font-medium">"Aspect ratio"</label>
                <select id="filter-aspect" name="aspect_ratio" class="input">
                    <option value="">"Any"</option>
                    {page.aspect_ratios.iter().map(|a| view! {
                        <option value=a.clone() selected=*a == f.aspect_ratio>{a.clone()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="space-y-1">
                <label for="filter-from" class="block text-sm font-medium">"From"</label>
                <input id="filter-from" name="from" type="date" class="input" value=f.from.clone() />
            </div>
            <div class="space-y-1">
                <label for="filter-to" class="block text-sm font-medium">"To"</label>
                <input id="filter-to" name="to" type="date" class="input" value=f.to.clone() />
            </div>
            <div class="flex flex-wrap items-center gap-4 sm:col-span-2 lg:col-span-6">
                <label class="flex items-center gap-2 text-sm">
                    <input type="checkbox" name="favorites" value="1" checked=f.favorites />
                    "Favourites only"
                </label>
                <button type="submit" class="btn-primary">"Search"</button>
                {f.is_filtered().then(|| view! { <a href="/gallery" class="underline text-sm">"Clear filters"</a> })}
            </div>
        </form>
    }
}

#[component]
fn GalleryBody(page: GalleryPageDto, filters: Filters) -> impl IntoView {
    let paged = !filters.cursor.is_empty();
    let empty = page.items.is_empty();
    let filtered = filters.is_filtered();
    let items = page.items.clone();
    let collections = page.collections.clone();
    // Infinite scroll: with JavaScript, later pages are appended here as the
    // end of the grid comes into view (or "More" is clicked); without it,
    // "More" is a plain link to the next page.
    let extra = RwSignal::new(Vec::<GalleryItemDto>::new());
    let next = RwSignal::new(page.next_cursor.clone());
    let loading = RwSignal::new(false);
    let load_error = RwSignal::new(None::<String>);
    let load_more = {
        let f = filters.clone();
        move || {
            if loading.get_untracked() {
                return;
            }
            let Some(cursor) = next.get_untracked() else {
                return;
            };
            loading.set(true);
            let f = f.clone();
            leptos::task::spawn_local(async move {
                let favorites = if f.favorites {
                    "1".to_owned()
                } else {
                    String::new()
                };
                match get_gallery(
                    f.q,
                    f.model,
                    f.aspect_ratio,
                    f.from,
                    f.to,
                    favorites,
                    cursor,
                )
                .await
                {
                    Ok(p) => {
                        extra.update(|v| v.extend(p.items));
                        next.set(p.next_cursor);
                        load_error.set(None);
                    }
                    Err(e) => load_error.set(Some(e.to_string())),
                }
                loading.set(false);
            });
        }
    };
    let sentinel = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    {
        let load_more = load_more.clone();
        // Dropped (observer disconnected) when this list is replaced, e.g.
        // by other filters.
        let watch = StoredValue::new_local(None::<crate::scroll::Watch>);
        Effect::new(move |done: Option<bool>| {
            if done == Some(true) {
                return true;
            }
            match sentinel.get() {
                Some(el) => {
                    watch.set_value(crate::scroll::when_visible(el.into(), load_more.clone()));
                    true
                }
                None => false,
            }
        });
        on_cleanup(move || {
            watch.try_update_value(|w| *w = None);
        });
    }
    let more_href = {
        let f = filters.clone();
        move |c: &str| f.href(Some(c))
    };
    view! {
        <FilterForm page=page filters=filters.clone() />
        {empty.then(|| view! {
            <p class="text-ink-muted" data-testid="gallery-empty">
                {if filtered { "No images match these filters." } else { "No images yet: make your first one in the studio." }}
            </p>
        })}
        {(!empty).then(|| view! { <SelectionForm collections /> })}
        <ul class="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-4" data-testid="gallery-grid">
            // The first row is what paints first: not lazy.
            {items.into_iter().enumerate().map(|(n, item)| view! { <GalleryCard item eager={n < 4} /> }).collect_view()}
            <For each=move || extra.get() key=|i| i.id.clone() let:item>
                <GalleryCard item eager=false />
            </For>
        </ul>
        <div node_ref=sentinel aria-hidden="true"></div>
        {move || load_error.get().map(|e| view! { <p class="text-danger" role="alert">{e}</p> })}
        <nav class="flex gap-4" aria-label="Pages">
            {paged.then(|| view! { <a href=filters.href(None) class="underline">"Newest"</a> })}
            {move || {
                let load_more = load_more.clone();
                next.get().map(|c| view! {
                    <a href=more_href(&c) class="btn-secondary" rel="next" data-testid="gallery-more"
                        aria-busy=move || if loading.get() { "true" } else { "false" }
                        on:click=move |ev| {
                            ev.prevent_default();
                            load_more();
                        }>
                        {move || if loading.get() { "Loading…" } else { "More" }}
                    </a>
                })
            }}
        </nav>
    }
}

/// What to do with the ticked images: a plain form that the cards'
/// checkboxes belong to (`form="selection"`), posted to
/// `/gallery/selection`.
#[component]
fn SelectionForm(collections: Vec<crate::gallery::FilterOption>) -> impl IntoView {
    let has_collections = !collections.is_empty();
    view! {
        <form id="selection" method="post" action="/gallery/selection"
            class="card flex flex-wrap items-center gap-2 text-sm" data-testid="selection">
            <span class="text-ink-muted">"With the ticked images:"</span>
            <button type="submit" name="action" value="download" class="btn-secondary" data-testid="selection-download">"Download ZIP"</button>
            {has_collections.then(|| view! {
                <label class="sr-only" for="selection-collection">"Collection"</label>
                <select id="selection-collection" name="collection" class="input w-auto">
                    {collections.iter().map(|c| view! { <option value=c.value.clone()>{c.label.clone()}</option> }).collect_view()}
                </select>
                <button type="submit" name="action" value="add" class="btn-secondary" data-testid="selection-add">"Add to collection"</button>
            })}
            <button type="submit" name="action" value="delete" class="btn-secondary text-danger" data-testid="selection-delete">"Delete…"</button>
        </form>
    }
}

pub(crate) fn expiry_text(item: &GalleryItemDto) -> String {
    match &item.expired_on {
        Some(day) => format!("Expired on {day}"),
        None if item.days_left == 1 => "1 day left".into(),
        None => format!("{} days left", item.days_left),
    }
}

#[component]
fn FavoriteForm(
    id: String,
    #[prop(into)] on: Signal<bool>,
    action: ServerAction<SetFavorite>,
) -> impl IntoView {
    view! {
        <ActionForm action>
            <input type="hidden" name="id" value=id />
            <input type="hidden" name="favorite" value=move || if on.get() { "false" } else { "true" } />
            <button type="submit" class="btn-secondary text-sm" aria-pressed=move || if on.get() { "true" } else { "false" }
                data-testid="favorite-toggle">
                {move || if on.get() { "★ Favourite" } else { "☆ Favourite" }}
            </button>
        </ActionForm>
    }
}

#[component]
fn DeleteForm(
    id: String,
    action: ServerAction<DeleteImages>,
    /// Where to go afterwards ("gallery"), when the current page shows only
    /// this image.
    #[prop(optional)]
    after: Option<&'static str>,
) -> impl IntoView {
    view! {
        <details class="text-sm">
            <summary class="cursor-pointer underline">"Delete"</summary>
            <ActionForm action attr:class="mt-2 space-y-2">
                <input type="hidden" name="ids" value=id />
                {after.map(|a| view! { <input type="hidden" name="after" value=a /> })}
                <p>"This deletes the image and its files for good. It cannot be undone."</p>
                <button type="submit" class="btn-secondary text-sm text-danger" data-testid="delete-confirm">"Delete for good"</button>
            </ActionForm>
        </details>
    }
}

#[component]
fn GalleryCard(item: GalleryItemDto, eager: bool) -> impl IntoView {
    // Each card has its own actions: favouriting or deleting one changes that
    // card only, so the pages infinite scroll appended stay where they are.
    // Without JavaScript the forms post and the page reloads.
    let favorite = ServerAction::<SetFavorite>::new();
    let delete = ServerAction::<DeleteImages>::new();
    let initially = item.favorite;
    let on = Signal::derive(move || match favorite.value().get() {
        Some(Ok(v)) => v,
        _ => initially,
    });
    let gone = move || matches!(delete.value().get(), Some(Ok(_)));
    let error = move || match (favorite.value().get(), delete.value().get()) {
        (Some(Err(e)), _) | (_, Some(Err(e))) => Some(e.to_string()),
        _ => None,
    };
    let id = item.id.clone();
    let href = format!("/gallery/{id}");
    let thumb = format!("/media/{id}/thumb");
    let expiry = expiry_text(&item);
    let (fav_id, delete_id) = (id.clone(), id.clone());
    view! {
        <li class="card relative space-y-2 p-2" class:hidden=gone data-testid="gallery-item" data-id=id.clone()>
            <label class="absolute left-3 top-3 rounded bg-surface/90 px-1.5 py-0.5 text-xs shadow">
                // 24 px: a touch target (WCAG 2.2 target size).
                <input type="checkbox" name="id" value=id.clone() form="selection" data-testid="select" class="h-6 w-6" />
                <span class="sr-only">"Select "</span>
            </label>
            <a href=href.clone() class="block">
                {match item.expired_on {
                    _ if item.taken_down => view! {
                        <div class="flex aspect-square w-full items-center justify-center rounded-md border border-line bg-surface-sunken p-2 text-center text-sm text-ink-muted" data-testid="taken-down">
                            "Taken down by moderation"
                        </div>
                    }.into_any(),
                    None => view! {
                        <img src=thumb width=item.width height=item.height
                            alt=item.prompt.clone() loading=if eager { "eager" } else { "lazy" } decoding="async"
                            class="h-auto w-full rounded-md border border-line" />
                    }.into_any(),
                    Some(_) => view! {
                        <div class="flex aspect-square w-full items-center justify-center rounded-md border border-line bg-surface-sunken text-sm text-ink-muted">
                            "Expired"
                        </div>
                    }.into_any(),
                }}
            </a>
            <p class="line-clamp-2 text-sm break-words">
                <a href=href class="hover:underline">{item.prompt.clone()}</a>
            </p>
            <p class="text-xs text-ink-muted">{format!("{} · {} · {}", item.created_at, item.aspect_ratio, expiry)}</p>
            <div class="flex flex-wrap items-start gap-2">
                <FavoriteForm id=fav_id on action=favorite />
                <DeleteForm id=delete_id action=delete />
            </div>
            {move || error().map(|e| view! { <p class="text-xs text-danger" role="alert">{e}</p> })}
        </li>
    }
}

#[component]
pub fn GalleryImagePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let favorite = ServerAction::<SetFavorite>::new();
    let delete = ServerAction::<DeleteImages>::new();
    let details = Resource::new_blocking(
        move || (id(), favorite.version().get(), delete.version().get()),
        |(id, _, _)| get_image_details(id),
    );
    // The collections box's data is loaded here, beside the details, and
    // rendered without a Suspense of its own: a resource created inside
    // the details' Suspend failed to hydrate when the page was loaded
    // directly (not reached by a link).
    let change = ServerAction::<ChangeCollection>::new();
    let create = ServerAction::<CreateCollection>::new();
    let lists = Resource::new_blocking(
        move || (id(), change.version().get(), create.version().get()),
        |(image, _, _)| async move {
            let all = list_collections(String::new()).await?;
            let holding = list_collections(image).await?;
            Ok::<_, AppError>((all, holding))
        },
    );
    let collections = CollectionsState { change, create };
    let deleted = move || matches!(delete.value().get(), Some(Ok(_)));
    view! {
        <Title text="Image" />
        <Meta name="robots" content="noindex" />
        <section class="space-y-6">
            <p><a href="/gallery" class="underline">"← Gallery"</a></p>
            <Show when=deleted>
                <p class="card" role="status">"The image was deleted. " <a href="/gallery" class="underline">"Back to the gallery"</a></p>
            </Show>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match details.await {
                        Ok(d) => {
                            let lists = lists.await.ok();
                            view! { <ImageDetails d favorite delete lists collections /> }.into_any()
                        }
                        Err(AppError::Unauthenticated) => signed_out(format!("/gallery/{}", encode_component(&id()))),
                        Err(AppError::NotFound) => view! {
                            <p class="card" data-testid="gallery-error">"There is no such image in your gallery. It may have been deleted."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ImageDetails(
    d: ImageDetailsDto,
    favorite: ServerAction<SetFavorite>,
    delete: ServerAction<DeleteImages>,
    lists: Option<(Vec<CollectionDto>, Vec<CollectionDto>)>,
    collections: CollectionsState,
) -> impl IntoView {
    let item = d.item.clone();
    let id = item.id.clone();
    let row = |label: &'static str, value: String| {
        view! {
            <div class="grid grid-cols-[10rem_1fr] gap-2 border-b border-line py-1">
                <dt class="text-ink-muted">{label}</dt>
                <dd class="break-words">{value}</dd>
            </div>
        }
    };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    view! {
        <h1 class="text-2xl font-bold break-words">{item.prompt.clone()}</h1>
        <div class="grid gap-6 lg:grid-cols-[minmax(0,1fr)_22rem]">
            <div class="space-y-3">
                {match item.expired_on.clone() {
                    _ if item.taken_down => view! {
                        <p class="card text-sm" data-testid="taken-down">"Moderation took this image down: it is no longer shown or downloadable, and its share links are closed. Questions: see Contact."</p>
                    }.into_any(),
                    None => view! {
                        <a href=format!("/media/{id}/original") target="_blank" rel="noopener">
                            <img src=format!("/media/{id}/preview") width=item.width height=item.height
                                alt=item.prompt.clone() fetchpriority="high"
                                class="h-auto w-full rounded-md border border-line" />
                        </a>
                        <p class="flex flex-wrap gap-4 text-sm">
                            <a class="underline" href=format!("/media/{id}/original?download=1") download data-testid="download-png">"Download PNG"</a>
                            <a class="underline" href=format!("/media/{id}/preview?download=1") download data-testid="download-webp">"Download WebP"</a>
                            <span class="text-ink-muted" data-testid="expiry">{expiry_text(&item)}</span>
                        </p>
                    }.into_any(),
                    Some(day) => view! {
                        <p class="card text-ink-muted" data-testid="expiry">
                            {format!("Expired on {day}: the download period ended and the files were deleted. The settings below are kept.")}
                        </p>
                    }.into_any(),
                }}
            </div>
            <div class="space-y-4">
                <dl class="text-sm" data-testid="image-settings">
                    {row("Model", format!("{} ({})", d.model_name, item.model_id))}
                    {row("Prompt", item.prompt.clone())}
                    {row("Negative prompt", opt(d.negative_prompt.clone()))}
                    {row("Aspect ratio", item.aspect_ratio.clone())}
                    {row("Size", format!("{} × {}", item.width, item.height))}
                    {row("Seed", opt(d.seed_used.or(d.seed_requested).map(|s| s.to_string())))}
                    {row("Style", opt(d.style.clone()))}
                    {row("Reference strength", opt(d.reference_strength.clone()))}
                    {row("Image", d.position.clone())}
                    {row("Credits", d.credits.to_string())}
                    {row("Status", d.status.clone())}
                    {row("Requested", d.queued_at.clone())}
                    {row("Finished", opt(d.finished_at.clone()))}
                    {row("Took", opt(d.seconds.map(|s| format!("{s:.1} s"))))}
                </dl>
                <div class="flex flex-wrap gap-2">
                    <a href=d.reuse_href.clone() class="btn-primary inline-block" data-testid="reuse">"Reuse these settings"</a>
                    <a href=d.variation_href.clone() class="btn-secondary inline-block" data-testid="variation">"Make a variation"</a>
                </div>
                {d.parent_href.clone().map(|href| view! {
                    <p class="text-sm"><a href=href class="underline" data-testid="parent-link">"Variation of an earlier image"</a></p>
                })}
                <div class="flex flex-wrap items-start gap-3">
                    <FavoriteForm id=id.clone() on=item.favorite action=favorite />
                    <DeleteForm id=id.clone() action=delete after="gallery" />
                </div>
                {item.expired_on.is_none().then(|| view! { <PublishBox id=id.clone() published=item.published hidden=item.hidden /> })}
                <CollectionsBox image=id.clone() lists actions=collections />
                {item.expired_on.is_none().then(|| view! { <ShareLinksBox image=id.clone() /> })}
            </div>
        </div>
    }
}

/// Publish to or take back from the public gallery.
#[component]
fn PublishBox(id: String, published: bool, hidden: bool) -> impl IntoView {
    use crate::publishing::SetPublished;
    if hidden {
        return view! {
            <div class="space-y-2 border-t border-line pt-3" data-testid="publish">
                <h2 class="font-semibold">"Public gallery"</h2>
                <p class="text-sm" data-testid="publish-hidden">"Moderation took this image out of the public gallery; it cannot be published again, and its share links no longer show it. Questions: see Contact."</p>
            </div>
        }
        .into_any();
    }
    let action = ServerAction::<SetPublished>::new();
    let state = move || match action.value().get() {
        Some(Ok(on)) => on,
        _ => published,
    };
    let public_href = format!("/p/{id}");
    view! {
        <div class="space-y-2 border-t border-line pt-3" data-testid="publish">
            <h2 class="font-semibold">"Public gallery"</h2>
            {move || if state() {
                view! {
                    <p class="text-sm">"Published: anyone can see it in "
                        <a href=public_href.clone() class="underline" data-testid="public-link">"Explore"</a>
                        ", and its share pages may appear in search engines."</p>
                }.into_any()
            } else {
                view! { <p class="text-xs text-ink-muted">"Private: only you, and people you give a link to, can see it."</p> }.into_any()
            }}
            <ActionForm action>
                <input type="hidden" name="id" value=id.clone() />
                <input type="hidden" name="published" value=move || if state() { "false" } else { "true" } />
                <button type="submit" class="btn-secondary text-sm" data-testid="publish-toggle">
                    {move || if state() { "Take out of the public gallery" } else { "Publish to the public gallery" }}
                </button>
            </ActionForm>
            {move || match action.value().get() {
                Some(Err(e)) => Some(view! { <p class="text-sm text-danger" role="alert">{e.to_string()}</p> }),
                _ => None,
            }}
        </div>
    }
    .into_any()
}

/// The collection actions of an image's page.
#[derive(Clone, Copy)]
struct CollectionsState {
    change: ServerAction<ChangeCollection>,
    create: ServerAction<CreateCollection>,
}

/// The collections this image is in (`lists`: all of the person's, and
/// those holding it), and adding it to another (or a new) one.
#[component]
fn CollectionsBox(
    image: String,
    lists: Option<(Vec<CollectionDto>, Vec<CollectionDto>)>,
    actions: CollectionsState,
) -> impl IntoView {
    let CollectionsState { change, create } = actions;
    let error = move || match (change.value().get(), create.value().get()) {
        (Some(Err(e)), _) => Some(e.to_string()),
        (_, Some(Err(e))) => Some(e.to_string()),
        _ => None,
    };
    let body = lists.map(|(all, holding)| {
        let others: Vec<_> = all.into_iter().filter(|c| !holding.iter().any(|h| h.id == c.id)).collect();
        let (for_add, for_new) = (image.clone(), image.clone());
        view! {
            <ul class="space-y-1 text-sm">
                {holding.into_iter().map(|c| {
                    let image = image.clone();
                    view! {
                    <li class="flex items-center justify-between gap-2" data-testid="in-collection">
                        <a href=format!("/collections/{}", c.id) class="underline">{c.name.clone()}</a>
                        <ActionForm action=change>
                            <input type="hidden" name="id" value=c.id.clone() />
                            <input type="hidden" name="ids" value=image.clone() />
                            <input type="hidden" name="remove" value="1" />
                            <button type="submit" class="btn-secondary text-xs">"Remove"</button>
                        </ActionForm>
                    </li>
                }}).collect_view()}
            </ul>
            {(!others.is_empty()).then(|| view! {
                <ActionForm action=change attr:class="flex flex-wrap items-end gap-2">
                    <input type="hidden" name="ids" value=for_add />
                    <label class="text-sm" for="add-to">"Add to"</label>
                    <select id="add-to" name="id" class="input w-auto text-sm">
                        {others.iter().map(|c| view! { <option value=c.id.clone()>{c.name.clone()}</option> }).collect_view()}
                    </select>
                    <button type="submit" class="btn-secondary text-sm" data-testid="add-to-collection">"Add"</button>
                </ActionForm>
            })}
            <ActionForm action=create attr:class="flex flex-wrap items-end gap-2">
                <input type="hidden" name="image" value=for_new />
                <label class="sr-only" for="new-collection">"New collection"</label>
                <input id="new-collection" name="name" class="input w-auto flex-1 text-sm" required maxlength="80" placeholder="New collection" />
                <button type="submit" class="btn-secondary text-sm" data-testid="new-collection">"Create and add"</button>
            </ActionForm>
        }
    });
    view! {
        <div class="space-y-2 border-t border-line pt-3" data-testid="image-collections">
            <h2 class="font-semibold">"Collections"</h2>
            {body}
            {move || error().map(|e| view! { <p class="text-sm text-danger" role="alert">{e}</p> })}
        </div>
    }
}

/// `/delete-images?ids=a,b,…`: confirm deleting the images ticked in the
/// gallery (the selection form sends people here).
#[component]
pub fn DeleteImagesPage() -> impl IntoView {
    let query = use_query_map();
    let delete = ServerAction::<DeleteImages>::new();
    // Only UUIDs: anything else in a crafted link never reaches an image URL.
    let ids = move || crate::params::id_texts(&query.read().get("ids").unwrap_or_default(), 100);
    view! {
        <Title text="Delete images" />
        <Meta name="robots" content="noindex" />
        <section class="mx-auto max-w-3xl space-y-4">
            <p><a href="/gallery" class="underline">"← Gallery"</a></p>
            <h1 class="text-2xl font-bold">"Delete images"</h1>
            {move || {
                let ids = ids();
                if ids.is_empty() {
                    return view! { <p class="card">"No images were chosen. " <a href="/gallery" class="underline">"Back to the gallery"</a></p> }.into_any();
                }
                let n = ids.len();
                view! {
                    <p>{if n == 1 { "This deletes 1 image and its files for good. It cannot be undone.".to_owned() } else { format!("This deletes {n} images and their files for good. It cannot be undone.") }}</p>
                    <ul class="grid grid-cols-4 gap-2 sm:grid-cols-6">
                        {ids.iter().map(|id| view! {
                            <li><img src=format!("/media/{id}/thumb") alt="" width="128" height="128" loading="lazy" class="h-auto w-full rounded border border-line" /></li>
                        }).collect_view()}
                    </ul>
                    <ActionForm action=delete attr:class="flex gap-3">
                        <input type="hidden" name="ids" value=ids.join(",") />
                        <input type="hidden" name="after" value="gallery" />
                        <button type="submit" class="btn-primary bg-danger" data-testid="delete-selected">"Delete for good"</button>
                        <a href="/gallery" class="btn-secondary">"Keep them"</a>
                    </ActionForm>
                }.into_any()
            }}
            {move || match delete.value().get() {
                Some(Err(e)) => Some(view! { <p class="text-danger" role="alert">{e.to_string()}</p> }),
                _ => None,
            }}
        </section>
    }
}
