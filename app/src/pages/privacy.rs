//! Settings -> Privacy: one place for every right of the privacy policy's
//! section 8: what is stored, a copy of it, the choices about processing,
//! deleting the account, and the requests with their state.
//! `/privacy-choices` (CCPA, PRV-6) is [`PrivacyChoicesPage`].

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::form::{error_for, general_error, Checkbox, FormError};
use crate::error::AppError;
use crate::privacy::{
    privacy_overview, CancelDeletion, DeleteUnusedUploads, ExportDto, PrivacyData, RemovePicture,
    RequestDto, RequestExport, ScheduleDeletion, SetDisplayName, SetPrivacyChoice, StoredDto,
    UseProviderPicture,
};

#[component]
pub fn PrivacySettingsPage() -> impl IntoView {
    let export = ServerAction::<RequestExport>::new();
    let choice = ServerAction::<SetPrivacyChoice>::new();
    let delete = ServerAction::<ScheduleDeletion>::new();
    let cancel = ServerAction::<CancelDeletion>::new();
    let rename = ServerAction::<SetDisplayName>::new();
    let uploads = ServerAction::<DeleteUnusedUploads>::new();
    let remove_picture = ServerAction::<RemovePicture>::new();
    let provider_picture = ServerAction::<UseProviderPicture>::new();
    // Bumped when a new picture is uploaded (a plain fetch, not an action).
    let picture_changed = RwSignal::new(0usize);
    // The header shows the picture too: fetch the person again after a change.
    let user = use_context::<crate::UserResource>();
    Effect::new(move |prev: Option<(usize, usize)>| {
        let now = (
            picture_changed.get() + provider_picture.version().get(),
            remove_picture.version().get(),
        );
        if prev.is_some_and(|p| p != now) {
            if let Some(user) = user {
                user.0.refetch();
            }
        }
        now
    });
    let overview = Resource::new_blocking(
        move || {
            (
                (
                    picture_changed.get() + provider_picture.version().get(),
                    remove_picture.version().get(),
                ),
                uploads.version().get(),
                rename.version().get(),
                export.version().get(),
                choice.version().get(),
                delete.version().get(),
                cancel.version().get(),
            )
        },
        |_| privacy_overview(),
    );
    view! {
        <Title text="Privacy settings" />
        <section class="mx-auto max-w-3xl space-y-8">
            <div class="space-y-2">
                <h1 class="text-3xl font-bold">"Privacy"</h1>
                <p class="text-ink-muted">
                    "See what we store about you, take a copy, choose how it may be used, or delete your account. What each right means is in the "
                    <A href="/privacy" attr:class="underline">"privacy policy"</A>"; the categories, purposes and the companies that process data for us are under "
                    <A href="/privacy-choices" attr:class="underline">"Your privacy choices"</A>"."
                </p>
            </div>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(data) => view! {
                            <Sections data export choice delete cancel rename uploads remove_picture provider_picture picture_changed />
                        }.into_any(),
                        Err(AppError::Unauthenticated) => view! {
                            <p class="card">"Please "
                                <A href="/sign-in?next=/settings/privacy" attr:class="underline">"sign in"</A>
                                " to manage your privacy."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Sections(
    data: PrivacyData,
    export: ServerAction<RequestExport>,
    choice: ServerAction<SetPrivacyChoice>,
    delete: ServerAction<ScheduleDeletion>,
    cancel: ServerAction<CancelDeletion>,
    rename: ServerAction<SetDisplayName>,
    uploads: ServerAction<DeleteUnusedUploads>,
    remove_picture: ServerAction<RemovePicture>,
    provider_picture: ServerAction<UseProviderPicture>,
    picture_changed: RwSignal<usize>,
) -> impl IntoView {
    let PrivacyData {
        display_name,
        picture,
        provider_picture: has_provider_picture,
        stored,
        exports,
        requests,
        objected,
        restricted,
        training,
        deletion_due,
        grace_days,
        has_password,
        two_factor,
    } = data;
    view! {
        <Deletion due=deletion_due grace_days has_password two_factor delete cancel />
        <Stored stored uploads />
        <Profile display_name rename />
        <Picture picture remove=remove_picture provider=provider_picture has_provider_picture changed=picture_changed />
        <Exports exports export />
        <div class="space-y-3">
            <h2 class="text-xl font-semibold">"How your data may be used"</h2>
            <FormError error=general_error(choice.value()) />
            <Switch choice key="objection" title="Do not use my data to improve uni1"
                on_text="On: your prompts and images are left out of every dataset used to improve the service, and out of any analytics."
                off_text="Off: visits are counted, without identifying you, only if you allow analytics in your cookie choices; no models are trained on your data without your consent below."
                since=objected />
            <Switch choice key="restriction" title="Restrict processing"
                on_text="On: your account is read-only. You can view, download, export and delete, but not generate, share, publish or buy."
                off_text="Off: your account works normally. Turn this on while a question about your data is being settled."
                since=restricted />
            <Switch choice key="training_consent" title="Allow training on my images"
                on_text="On: images you keep may be included in datasets used to train image models, with their prompts. You can withdraw at any time; images already used cannot be taken out of a trained model."
                off_text="Off (the default): your images and prompts are never used to train models."
                since=training />
        </div>
        <Requests requests />
    }
}

#[component]
fn Stored(stored: Vec<StoredDto>, uploads: ServerAction<DeleteUnusedUploads>) -> impl IntoView {
    let has_uploads = stored.iter().any(|s| s.key == "uploads" && s.count > 0);
    view! {
        <div class="space-y-3">
            <h2 class="text-xl font-semibold">"Your data"</h2>
            <p class="text-ink-muted">"What we store about you right now. The export below holds all of it. To correct your address or password, use "
                <A href="/settings/security" attr:class="underline">"Security"</A>"; for anything else, "
                <A href="/contact" attr:class="underline">"write to us"</A>"."</p>
            <dl class="grid gap-2 sm:grid-cols-2" data-testid="stored">
                {stored.into_iter().map(|s| view! {
                    <div class="card p-3" data-category=s.key>
                        <dt class="flex justify-between font-medium"><span>{s.label}</span><span data-testid="count">{s.count}</span></dt>
                        <dd class="text-sm text-ink-muted">{s.what}</dd>
                    </div>
                }).collect_view()}
            </dl>
            {has_uploads.then(|| view! {
                <ActionForm action=uploads>
                    <button type="submit" class="btn-secondary text-sm" data-testid="delete-uploads">"Delete my uploaded reference images now"</button>
                </ActionForm>
            })}
            <FormError error=general_error(uploads.value()) />
        </div>
    }
}

#[component]
fn Profile(display_name: String, rename: ServerAction<SetDisplayName>) -> impl IntoView {
    let value = rename.value();
    view! {
        <div class="card space-y-2">
            <h2 class="text-xl font-semibold">"Your name"</h2>
            <ActionForm action=rename attr:class="flex flex-wrap items-end gap-2">
                <div class="space-y-1">
                    <label for="field-display_name" class="block text-sm font-medium">"Display name"</label>
                    <input id="field-display_name" type="text" name="display_name" autocomplete="name" required
                        class="input" value=display_name aria-describedby="field-display_name-error" />
                </div>
                <button type="submit" class="btn-secondary" data-testid="save-name">"Save"</button>
            </ActionForm>
            <p id="field-display_name-error" class="text-sm text-danger" role="alert">{error_for(value, "display_name")}</p>
        </div>
    }
}

/// The profile picture: upload (the same checks as reference images),
/// replace or remove (PRV-1). Uploading needs JavaScript, like the studio's.
#[component]
fn Picture(
    picture: Option<String>,
    remove: ServerAction<RemovePicture>,
    provider: ServerAction<UseProviderPicture>,
    has_provider_picture: bool,
    changed: RwSignal<usize>,
) -> impl IntoView {
    let note = RwSignal::new(String::new());
    let has_picture = picture.is_some();
    view! {
        <div class="card space-y-3">
            <h2 class="text-xl font-semibold">"Your picture"</h2>
            <div class="flex flex-wrap items-center gap-4">
                {match picture {
                    Some(src) => view! {
                        <img src=src alt="Your profile picture" width="96" height="96"
                            class="h-24 w-24 rounded-full object-cover" data-testid="picture" />
                    }.into_any(),
                    None => view! {
                        <p class="text-sm text-ink-muted" data-testid="no-picture">"No picture. Only you see it, next to your name."</p>
                    }.into_any(),
                }}
                <div class="space-y-1">
                    <label for="field-picture" class="block text-sm font-medium">
                        {if has_picture { "Replace it" } else { "Upload a picture" }}
                    </label>
                    <input id="field-picture" type="file" accept="image/png,image/jpeg,image/webp" class="input"
                        aria-describedby="field-picture-note"
                        on:change=move |ev| {
                            #[cfg(feature = "hydrate")]
                            if let Some(file) = crate::upload::picked_file(&ev) {
                                note.set("Uploading…".into());
                                leptos::task::spawn_local(async move {
                                    match crate::upload::post_file("/api/profile/picture", file).await {
                                        Ok(_) => {
                                            note.set("Saved.".into());
                                            changed.update(|n| *n += 1);
                                        }
                                        Err(message) => note.set(message),
                                    }
                                });
                            }
                            #[cfg(not(feature = "hydrate"))]
                            let _ = (ev, note, changed);
                        } />
                    <p id="field-picture-note" class="text-xs text-ink-muted" role="status" data-testid="picture-note">
                        {move || note.get()}
                        " PNG, JPEG or WebP, up to 10 MB; cropped to a square, without its metadata."
                    </p>
                    <noscript><p class="text-xs text-ink-muted">"Uploading a picture needs JavaScript."</p></noscript>
                </div>
                {has_provider_picture.then(|| view! {
                    <ActionForm action=provider>
                        <button type="submit" class="btn-secondary text-sm" data-testid="provider-picture">"Use the picture from my sign-in provider"</button>
                    </ActionForm>
                })}
                {has_picture.then(|| view! {
                    <ActionForm action=remove>
                        <button type="submit" class="btn-secondary text-sm" data-testid="remove-picture">"Remove picture"</button>
                    </ActionForm>
                })}
            </div>
            <FormError error=general_error(remove.value()) />
            <FormError error=general_error(provider.value()) />
        </div>
    }
}

fn export_status(s: &str) -> &'static str {
    match s {
        "queued" => "Waiting to be prepared",
        "building" => "Being prepared",
        "ready" => "Ready",
        "failed" => "Could not be prepared",
        "expired" => "Deleted after 7 days",
        _ => "Unknown",
    }
}

#[component]
fn Exports(exports: Vec<ExportDto>, export: ServerAction<RequestExport>) -> impl IntoView {
    let running = exports
        .iter()
        .any(|e| e.status == "queued" || e.status == "building");
    view! {
        <div class="space-y-3">
            <h2 class="text-xl font-semibold">"Copy of your data"</h2>
            <p class="text-ink-muted">"A ZIP with one JSON file per category above, the originals of your images still in their download window, and your uploads. We e-mail you when it is ready; you can download it here for 7 days."</p>
            <ActionForm action=export>
                <button type="submit" class="btn-primary" disabled=running data-testid="request-export">
                    {if running { "Export being prepared…" } else { "Export my data" }}
                </button>
            </ActionForm>
            <FormError error=general_error(export.value()) />
            <ul class="space-y-2" data-testid="exports">
                {exports.into_iter().map(|e| {
                    let href = format!("/settings/privacy/exports/{}.zip", e.id);
                    view! {
                        <li class="card flex flex-wrap items-center justify-between gap-2 p-3" data-status=e.status.clone()>
                            <span>{format!("Asked {}: {}", e.created_at, export_status(&e.status))}
                                {e.size.map(|s| format!(" ({s})"))}
                                {e.expires_at.filter(|_| e.status == "ready").map(|t| format!(", until {t}"))}</span>
                            {(e.status == "ready").then(|| view! {
                                <a href=href class="btn-secondary text-sm" rel="external" download="" data-testid="download-export">"Download"</a>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
}

#[component]
fn Switch(
    choice: ServerAction<SetPrivacyChoice>,
    key: &'static str,
    title: &'static str,
    on_text: &'static str,
    off_text: &'static str,
    since: Option<String>,
) -> impl IntoView {
    let on = since.is_some();
    view! {
        <div class="card space-y-2" data-choice=key data-on=on.to_string()>
            <span class="block font-semibold">{title}</span>
            <p class="text-ink-muted">{if on { on_text } else { off_text }}</p>
            {since.map(|s| view! { <p class="text-sm text-ink-muted">{format!("Since {s}.")}</p> })}
            <ActionForm action=choice>
                <input type="hidden" name="choice" value=key />
                <input type="hidden" name="on" value=if on { "off" } else { "on" } />
                <button type="submit" class="btn-secondary text-sm" data-testid=format!("toggle-{key}")>
                    {if on { "Turn off" } else { "Turn on" }}
                </button>
            </ActionForm>
        </div>
    }
}

#[component]
fn Deletion(
    due: Option<String>,
    grace_days: i64,
    has_password: bool,
    two_factor: bool,
    delete: ServerAction<ScheduleDeletion>,
    cancel: ServerAction<CancelDeletion>,
) -> impl IntoView {
    if let Some(due) = due {
        return view! {
            <div class="card space-y-2 border-danger" role="status" data-testid="deletion-scheduled">
                <h2 class="text-xl font-semibold">"Your account will be deleted on " {due}</h2>
                <p>"Until then it is read-only. After that date everything is deleted and cannot be restored."</p>
                <ActionForm action=cancel>
                    <button type="submit" class="btn-primary" data-testid="cancel-deletion">"Keep my account"</button>
                </ActionForm>
                <FormError error=general_error(cancel.value()) />
            </div>
        }
        .into_any();
    }
    let value = delete.value();
    view! {
        <details class="card space-y-3" data-testid="deletion">
            <summary class="cursor-pointer text-xl font-semibold">"Delete my account"</summary>
            <p>{format!("Your account is deleted {grace_days} days after you confirm; until then you can cancel by signing in. Then your images, prompts, uploads, collections, links, sessions and settings are deleted, and any plan is canceled. Records of purchases the law requires us to keep stay, without your name or address.")}</p>
            <p class="text-ink-muted">"Take a copy of your data first if you want one."</p>
            <ActionForm action=delete attr:class="space-y-3">
                <Checkbox name="confirm" error=error_for(value, "confirm")>
                    "I understand that my account and everything in it will be deleted."
                </Checkbox>
                {has_password.then(|| view! {
                    <div class="space-y-1">
                        <label for="field-delete-password" class="block text-sm font-medium">"Your password"</label>
                        <input id="field-delete-password" type="password" name="password" autocomplete="current-password" class="input" />
                    </div>
                })}
                {two_factor.then(|| view! {
                    <div class="space-y-1">
                        <label for="field-delete-code" class="block text-sm font-medium">"Or a code from your authenticator app"</label>
                        <input id="field-delete-code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" class="input" />
                    </div>
                })}
                {(!has_password && !two_factor).then(|| view! {
                    <p class="text-sm text-ink-muted">"You sign in with a provider: if you signed in more than 10 minutes ago, sign out and in again first."</p>
                })}
                <FormError error=general_error(value) />
                <button type="submit" class="btn-danger" data-testid="delete-account">"Delete my account"</button>
            </ActionForm>
        </details>
    }
    .into_any()
}

fn request_status(s: &str) -> &'static str {
    match s {
        "open" => "In progress",
        "done" => "Done",
        "canceled" => "Canceled",
        "failed" => "Failed",
        _ => "Unknown",
    }
}

#[component]
fn Requests(requests: Vec<RequestDto>) -> impl IntoView {
    view! {
        <div class="space-y-3">
            <h2 class="text-xl font-semibold">"Your requests"</h2>
            {requests.is_empty().then(|| view! { <p class="text-ink-muted">"None yet."</p> })}
            <ul class="space-y-2" data-testid="requests">
                {requests.into_iter().map(|r| view! {
                    <li class="card p-3">
                        <span class="font-medium">{r.label}</span>
                        {r.detail.map(|d| format!(" ({d})"))}
                        <span class="block text-sm text-ink-muted">{format!(
                            "Asked {}; {}{}",
                            r.created_at,
                            request_status(&r.status),
                            match r.completed_at {
                                Some(t) => format!(" on {t}"),
                                None => format!(", due by {}", r.due_at),
                            }
                        )}</span>
                    </li>
                }).collect_view()}
            </ul>
        </div>
    }
}

/// `/privacy-choices`: the categories collected, why, for how long, who
/// processes them, and that nothing is sold or shared (CCPA, PRV-6).
#[component]
pub fn PrivacyChoicesPage() -> impl IntoView {
    let processors = Resource::new_blocking(|| (), |_| crate::privacy::processors());
    view! {
        <Title text="Your privacy choices" />
        <article class="prose mx-auto max-w-3xl space-y-4">
            <h1 class="text-3xl font-bold">"Your privacy choices"</h1>
            <p class="card font-medium" data-testid="no-sale">"We do not sell your personal information, and we do not share it for cross-context behavioural advertising. There is nothing to opt out of; we have no advertising partners."</p>
            <h2 class="text-xl font-semibold">"What we collect, why, and for how long"</h2>
            <table class="w-full text-left text-sm">
                <thead><tr><th scope="col">"Category"</th><th scope="col">"Why"</th><th scope="col">"How long"</th></tr></thead>
                <tbody>
                    <tr><td>"Identifiers: e-mail address, account id, IP address"</td><td>"Your account, signing in, security"</td><td>"While your account exists; IP addresses in the security log without you after deletion"</td></tr>
                    <tr><td>"Internet activity: sessions, browser and device, sign-in history"</td><td>"Security: seeing and ending sessions"</td><td>"Sessions up to 30 days; the history while your account exists"</td></tr>
                    <tr><td>"Content you create: prompts, settings, images, uploads, collections, share links"</td><td>"Making and keeping your images"</td><td>"Images until the end of their download window; the rest until you delete it or your account"</td></tr>
                    <tr><td>"Commercial information: credits, orders, plans"</td><td>"Selling credits and plans, tax records"</td><td>"Orders as long as tax law requires, without your name or address after deletion"</td></tr>
                    <tr><td>"Your choices and requests"</td><td>"Honouring them and showing we did"</td><td>"While your account exists; requests without you afterwards"</td></tr>
                </tbody>
            </table>
            <p>"No sensitive personal information is collected, and nothing is used to infer characteristics about you."</p>
            <h2 class="text-xl font-semibold">"Who processes data for us"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    processors.await.map(|list| view! {
                        <ul class="list-disc pl-6" data-testid="processors">
                            {list.into_iter().map(|p| view! { <li><strong>{p.name}</strong>": "{p.role}</li> }).collect_view()}
                        </ul>
                    }).ok()
                })}
            </Suspense>
            <h2 class="text-xl font-semibold">"Your rights"</h2>
            <p>"To know, correct, copy or delete your data, to object, restrict processing, or to give or withdraw consent to training, use "
                <A href="/settings/privacy" attr:class="underline">"Settings → Privacy"</A>
                " (signed in) or "<A href="/contact" attr:class="underline">"write to us"</A>
                ". We answer within one month and never treat you differently for using these rights."</p>
        </article>
    }
}
