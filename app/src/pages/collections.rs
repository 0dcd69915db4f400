//! Collections: the list (with a form to make one) and one collection's
//! page (its images, renaming, deleting, sharing). Plain forms throughout,
//! so everything works without JavaScript.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::collections::{
    get_collection, list_collections, ChangeCollection, CollectionPageDto, CreateCollection,
    DeleteCollection, RenameCollection,
};
use crate::error::AppError;
use crate::pages::gallery::{expiry_text, signed_out};
use crate::pages::share::ShareLinksBox;

fn action_error<T, S>(v: S) -> impl Fn() -> Option<AnyView>
where
    S: Get<Value = Option<Result<T, AppError>>> + 'static,
{
    move || match v.get() {
        Some(Err(e)) => Some(
            view! { <p class="text-sm text-danger" role="alert">{e.to_string()}</p> }.into_any(),
        ),
        _ => None,
    }
}

#[component]
pub fn CollectionsPage() -> impl IntoView {
    let create = ServerAction::<CreateCollection>::new();
    let list = Resource::new_blocking(
        move || create.version().get(),
        |_| list_collections(String::new()),
    );
    view! {
        <Title text="Collections" />
        <Meta name="robots" content="noindex" />
        <section class="mx-auto max-w-3xl space-y-6">
            <p><a href="/gallery" class="underline">"← Gallery"</a></p>
            <h1 class="text-3xl font-bold">"Collections"</h1>
            <ActionForm action=create attr:class="card flex flex-wrap items-end gap-2">
                <div class="flex-1 space-y-1">
                    <label for="collection-name" class="block text-sm font-medium">"New collection"</label>
                    <input id="collection-name" name="name" class="input" required maxlength="80" placeholder="Lighthouses" />
                </div>
                <button type="submit" class="btn-primary" data-testid="collection-create">"Create"</button>
            </ActionForm>
            {action_error(create.value())}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(cs) if cs.is_empty() => view! {
                            <p class="text-ink-muted">"No collections yet. Make one here, then add images from your gallery."</p>
                        }.into_any(),
                        Ok(cs) => view! {
                            <ul class="space-y-2" data-testid="collections">
                                {cs.into_iter().map(|c| view! {
                                    <li class="card flex items-center justify-between gap-3 p-3">
                                        <a href=format!("/collections/{}", c.id) class="font-semibold underline">{c.name.clone()}</a>
                                        <span class="text-sm text-ink-muted">{format!("{} images · changed {}", c.image_count, c.updated_at)}</span>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(AppError::Unauthenticated) => signed_out("/collections".into()),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn CollectionPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let cursor = move || query.read().get("cursor").unwrap_or_default();
    let rename = ServerAction::<RenameCollection>::new();
    let change = ServerAction::<ChangeCollection>::new();
    let delete = ServerAction::<DeleteCollection>::new();
    let page = Resource::new_blocking(
        move || {
            (
                id(),
                cursor(),
                rename.version().get(),
                change.version().get(),
            )
        },
        |(id, cursor, _, _)| get_collection(id, cursor),
    );
    view! {
        <Title text="Collection" />
        <Meta name="robots" content="noindex" />
        <section class="space-y-6">
            <p><a href="/collections" class="underline">"← Collections"</a></p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(p) => view! { <CollectionBody p rename change delete /> }.into_any(),
                        Err(AppError::Unauthenticated) => signed_out(format!("/collections/{}", id())),
                        Err(AppError::NotFound) => view! {
                            <p class="card" data-testid="collection-missing">"There is no such collection. It may have been deleted."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn CollectionBody(
    p: CollectionPageDto,
    rename: ServerAction<RenameCollection>,
    change: ServerAction<ChangeCollection>,
    delete: ServerAction<DeleteCollection>,
) -> impl IntoView {
    let c = p.collection.clone();
    let more = p.next_cursor.clone().map(|cur| {
        format!(
            "/collections/{}?cursor={}",
            c.id,
            crate::auth::encode_component(&cur)
        )
    });
    let empty = p.items.is_empty();
    let (rename_id, share_id, delete_id) = (c.id.clone(), c.id.clone(), c.id.clone());
    let collection_id = c.id.clone();
    view! {
        <h1 class="text-3xl font-bold break-words" data-testid="collection-name">{c.name.clone()}</h1>
        <p class="text-ink-muted">{format!("{} images", c.image_count)}</p>
        <div class="grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem]">
            <div class="space-y-4">
                {empty.then(|| view! {
                    <p class="text-ink-muted" data-testid="collection-empty">"No images here yet. Tick images in your gallery and choose \"Add to collection\", or add one from its page."</p>
                })}
                <ul class="grid grid-cols-2 gap-3 sm:grid-cols-3" data-testid="collection-grid">
                    {p.items.into_iter().map(|item| {
                        let expiry = expiry_text(&item);
                        let (cid, iid) = (collection_id.clone(), item.id.clone());
                        view! {
                            <li class="card space-y-2 p-2" data-testid="collection-item" data-id=item.id.clone()>
                                <a href=format!("/gallery/{}", item.id) class="block">
                                    {match item.expired_on {
                                        None => view! {
                                            <img src=format!("/media/{}/thumb", item.id) width=item.width height=item.height
                                                alt=item.prompt.clone() loading="lazy" decoding="async"
                                                class="h-auto w-full rounded-md border border-line" />
                                        }.into_any(),
                                        Some(_) => view! {
                                            <div class="flex aspect-square w-full items-center justify-center rounded-md border border-line bg-surface-sunken text-sm text-ink-muted">"Expired"</div>
                                        }.into_any(),
                                    }}
                                </a>
                                <p class="line-clamp-2 text-sm break-words">{item.prompt.clone()}</p>
                                <p class="text-xs text-ink-muted">{expiry}</p>
                                <ActionForm action=change>
                                    <input type="hidden" name="id" value=cid />
                                    <input type="hidden" name="ids" value=iid />
                                    <input type="hidden" name="remove" value="1" />
                                    <button type="submit" class="btn-secondary text-xs" data-testid="collection-remove">"Remove from collection"</button>
                                </ActionForm>
                            </li>
                        }
                    }).collect_view()}
                </ul>
                {more.map(|href| view! { <a href=href class="btn-secondary inline-block" rel="next">"More"</a> })}
            </div>
            <div class="space-y-4">
                <ActionForm action=rename attr:class="space-y-2">
                    <input type="hidden" name="id" value=rename_id />
                    <label for="rename" class="block text-sm font-medium">"Name"</label>
                    <input id="rename" name="name" class="input" required maxlength="80" value=c.name.clone() />
                    <button type="submit" class="btn-secondary">"Rename"</button>
                </ActionForm>
                {action_error(rename.value())}
                {action_error(change.value())}
                <ShareLinksBox collection=share_id />
                <details class="text-sm">
                    <summary class="cursor-pointer underline">"Delete collection"</summary>
                    <ActionForm action=delete attr:class="mt-2 space-y-2">
                        <input type="hidden" name="id" value=delete_id />
                        <p>"The collection and its share links go; the images stay in your gallery."</p>
                        <button type="submit" class="btn-secondary text-danger" data-testid="collection-delete">"Delete collection"</button>
                    </ActionForm>
                </details>
                {action_error(delete.value())}
            </div>
        </div>
    }
}
