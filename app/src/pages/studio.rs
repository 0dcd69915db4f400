//! The studio: write a prompt, pick a model and its settings, and watch the
//! jobs run. The form works without JavaScript (the page reloads with the
//! job queued); with it, progress streams in live over server-sent events
//! and results appear in place.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::components::form::{error_for, general_error, FormError};
use crate::error::AppError;
use crate::studio::{
    get_studio, remove_reference, CancelGeneration, Generate, GenerationDto, ModelOption,
    StudioState,
};

#[component]
pub fn Studio() -> impl IntoView {
    let submit = ServerAction::<Generate>::new();
    let cancel = ServerAction::<CancelGeneration>::new();
    let state = Resource::new_blocking(
        move || (submit.version().get(), cancel.version().get()),
        |_| get_studio(),
    );
    view! {
        <Title text="Studio" />
        <Meta name="robots" content="noindex" />
        <section class="space-y-6">
            <h1 class="text-3xl font-bold">"Studio"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match state.await {
                        Ok(s) => view! { <StudioBody state=s submit cancel /> }.into_any(),
                        Err(AppError::Unauthenticated) => view! {
                            <p class="card">"Please "
                                <A href="/sign-in?next=/studio" attr:class="underline">"sign in"</A>
                                " to generate images."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="text-danger" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

fn merge(jobs: &mut Vec<GenerationDto>, incoming: Vec<GenerationDto>) {
    for job in incoming.into_iter().rev() {
        match jobs.iter_mut().find(|j| j.id == job.id) {
            Some(existing) => *existing = job,
            None => jobs.insert(0, job),
        }
    }
}

#[component]
fn StudioBody(
    state: StudioState,
    submit: ServerAction<Generate>,
    cancel: ServerAction<CancelGeneration>,
) -> impl IntoView {
    let v = submit.value();
    let mut prefill = Prefill::from_query();
    // No model in the URL: start from the one used last, if remembered
    // (the preferences cookie, CK-1).
    if prefill.model.is_none() {
        if let Some((model, aspect)) = state.remembered.clone() {
            prefill.model = Some(model);
            prefill.aspect_ratio = aspect;
        }
    }
    let models = StoredValue::new(state.models.clone());
    let model_id = RwSignal::new(
        state
            .models
            .iter()
            .find(|m| Some(&m.id) == prefill.model.as_ref())
            .or(state.models.first())
            .map(|m| m.id.clone())
            .unwrap_or_default(),
    );
    let initial_model = model_id.get_untracked();
    let current = move || -> Option<ModelOption> {
        models.with_value(|ms| ms.iter().find(|m| m.id == model_id.get()).cloned())
    };
    let count = RwSignal::new(1_i64);
    let prompt_len = RwSignal::new(prefill.prompt.chars().count());
    let available = RwSignal::new(state.available);
    let jobs = RwSignal::new(state.recent.clone());

    // A submission (with or without the stream) shows up at once.
    Effect::new(move |_| {
        if let Some(Ok(job)) = v.get() {
            jobs.update(|js| merge(js, vec![job]));
        }
    });
    // The stream is for confirmed addresses only (it answers 403 before):
    // an unconfirmed person cannot queue jobs, so there is nothing to follow.
    #[cfg(feature = "hydrate")]
    if state.email_confirmed {
        live_progress(jobs, available);
    }

    let cost = move || {
        current()
            .map(|m| m.credits_per_image * count.get())
            .unwrap_or(0)
    };
    view! {
        <div class="grid gap-6 lg:grid-cols-[minmax(0,22rem)_1fr]">
            <ActionForm action=submit attr:class="card space-y-4 self-start" attr:id="studio-form" attr:novalidate=true>
                {(!state.email_confirmed).then(|| view! {
                    <p class="rounded-md border border-line bg-surface-sunken p-3 text-sm" role="status">
                        "Confirm your e-mail address to start generating: the link is in your inbox."
                    </p>
                })}
                <input type="hidden" name="form_key" value=state.form_key.clone() />
                <input type="hidden" name="parent" value=prefill.parent.clone() />
                {(!prefill.parent.is_empty()).then(|| view! {
                    <p class="text-sm text-ink-muted" role="status" data-testid="variation-of">
                        "Making a variation: the new image remembers the one it came from."
                    </p>
                })}
                <p class="text-sm text-danger" role="alert">{error_for(v, "parent")}</p>
                <div class="space-y-1">
                    <label for="field-prompt" class="block text-sm font-medium">"Prompt"</label>
                    <textarea id="field-prompt" name="prompt" rows="5" required maxlength="2000" class="input"
                        aria-describedby="field-prompt-error field-prompt-count"
                        placeholder="A lighthouse on a cliff at dusk, warm light"
                        on:input=move |ev| prompt_len.set(event_target_value(&ev).chars().count())
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                            if (ev.ctrl_key() || ev.meta_key()) && ev.key() == "Enter" {
                                ev.prevent_default();
                                use leptos::wasm_bindgen::JsCast as _;
                                if let Some(button) = document()
                                    .get_element_by_id("generate-submit")
                                    .and_then(|b| b.dyn_into::<leptos::web_sys::HtmlElement>().ok())
                                {
                                    button.click();
                                }
                            }
                        }
                        inner_html=escape_text(&prefill.prompt)></textarea>
                    <p class="flex justify-between text-xs text-ink-muted">
                        <span>"Ctrl/⌘ + Enter to generate"</span>
                        <span id="field-prompt-count" data-testid="prompt-count">{move || format!("{} / 2000", prompt_len.get())}</span>
                    </p>
                    <p id="field-prompt-error" class="text-sm text-danger" role="alert">{error_for(v, "prompt")}</p>
                </div>
                <div class="space-y-1">
                    <label for="field-model" class="block text-sm font-medium">"Model"</label>
                    <select id="field-model" name="model" class="input"
                        on:change=move |ev| model_id.set(event_target_value(&ev))>
                        {state.models.iter().map(|m| view! {
                            <option value=m.id.clone() selected=m.id == initial_model>{format!("{} · {} credit{} per image", m.name, m.credits_per_image, if m.credits_per_image == 1 { "" } else { "s" })}</option>
                        }).collect_view()}
                    </select>
                    <p class="text-xs text-ink-muted" data-testid="model-description">{move || current().map(|m| m.description)}</p>
                    <p class="text-sm text-danger" role="alert">{error_for(v, "model")}</p>
                </div>
                {move || current().map(|m| view! { <ModelControls model=m count submit prefill=prefill.clone() /> })}
                <p class="text-sm" data-testid="cost">
                    {move || format!("Cost: {} credits · You have {}", cost(), available.get())}
                </p>
                <p class="text-sm text-danger" role="alert">{error_for(v, "credits")}</p>
                <FormError error=general_error(v) />
                <p class="text-sm text-danger" role="alert">{error_for(v, "form")}</p>
                <button id="generate-submit" type="submit" class="btn-primary w-full"
                    disabled=move || submit.pending().get() || !state.email_confirmed>
                    {move || if submit.pending().get() { "Queuing…" } else { "Generate" }}
                </button>
            </ActionForm>
            <div class="space-y-4">
                <h2 class="text-xl font-semibold">"Your generations"</h2>
                <p class="text-sm text-ink-muted">{format!("Images can be downloaded for {} days after they are made.", 90)}</p>
                <ul class="space-y-4" data-testid="jobs">
                    <For each=move || jobs.get() key=|j| (j.id.clone(), j.status.clone(), j.queue_position) let:job>
                        <JobCard job cancel />
                    </For>
                </ul>
                {move || jobs.with(|j| j.is_empty()).then(|| view! { <p class="text-ink-muted">"Nothing yet: your first image is one prompt away."</p> })}
            </div>
        </div>
    }
}

/// Settings to start from, from the URL (`/studio?prompt=…&model=…&
/// aspect_ratio=…&seed=…`, the gallery's "Reuse these settings"). Read once:
/// the form is the person's after that. Unknown values are ignored.
#[derive(Debug, Clone, Default, PartialEq)]
struct Prefill {
    prompt: String,
    model: Option<String>,
    aspect_ratio: String,
    /// Digits only, or empty.
    seed: String,
    /// The image this is a variation of (an id), or empty.
    parent: String,
}

/// `text` safe as HTML text. The prompt goes into the textarea as its inner
/// HTML, not as a child text node: an empty text child has no DOM node to
/// hydrate, and the inner HTML is only written by the server (or on
/// client-side navigation).
fn escape_text(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

impl Prefill {
    fn from_query() -> Self {
        let query = use_query_map();
        query.with_untracked(|q| {
            let seed = q.get("seed").unwrap_or_default();
            Self {
                prompt: q
                    .get("prompt")
                    .unwrap_or_default()
                    .chars()
                    .take(2000)
                    .collect(),
                model: q.get("model"),
                aspect_ratio: q.get("aspect_ratio").unwrap_or_default(),
                seed: if seed.parse::<u32>().is_ok() {
                    seed
                } else {
                    String::new()
                },
                parent: q
                    .get("parent")
                    .filter(|p| {
                        p.len() == 36 && p.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
                    })
                    .unwrap_or_default(),
            }
        })
    }
}

#[component]
fn ModelControls(
    model: ModelOption,
    count: RwSignal<i64>,
    submit: ServerAction<Generate>,
    prefill: Prefill,
) -> impl IntoView {
    let v = submit.value();
    let seed_given = !prefill.seed.is_empty();
    view! {
        <div class="grid grid-cols-2 gap-3">
            <div class="space-y-1">
                <label for="field-aspect" class="block text-sm font-medium">"Aspect ratio"</label>
                <select id="field-aspect" name="aspect_ratio" class="input">
                    {model.aspect_ratios.iter().map(|a| view! { <option value=a.clone() selected=*a == prefill.aspect_ratio>{a.clone()}</option> }).collect_view()}
                </select>
            </div>
            <div class="space-y-1">
                <label for="field-count" class="block text-sm font-medium">"Images"</label>
                <select id="field-count" name="count" class="input"
                    on:change=move |ev| count.set(event_target_value(&ev).parse().unwrap_or(1))>
                    {(1..=model.max_images).map(|n| view! { <option value=n.to_string()>{n.to_string()}</option> }).collect_view()}
                </select>
            </div>
        </div>
        <p class="text-sm text-danger" role="alert">{error_for(v, "count")}{error_for(v, "aspect_ratio")}</p>
        {(!model.style_presets.is_empty()).then(|| view! {
            <div class="space-y-1">
                <label for="field-style" class="block text-sm font-medium">"Style"</label>
                <select id="field-style" name="style" class="input">
                    <option value="">"None"</option>
                    {model.style_presets.iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view()}
                </select>
            </div>
        })}
        <details class="space-y-3" open=seed_given>
            <summary class="cursor-pointer text-sm font-medium">"More settings"</summary>
            {model.negative_prompt.then(|| view! {
                <div class="space-y-1">
                    <label for="field-negative" class="block text-sm font-medium">"Negative prompt"</label>
                    <textarea id="field-negative" name="negative_prompt" rows="2" maxlength="1000" class="input"
                        placeholder="What to leave out"></textarea>
                    <p class="text-sm text-danger" role="alert">{error_for(v, "negative_prompt")}</p>
                </div>
            })}
            {model.seed.then(|| view! {
                <div class="space-y-1">
                    <label for="field-seed" class="block text-sm font-medium">"Seed"</label>
                    <input id="field-seed" name="seed" type="number" min="0" max="4294967295" class="input"
                        placeholder="Random" inputmode="numeric" value=prefill.seed.clone() />
                    <p class="text-xs text-ink-muted">"The same seed and prompt make the same image."</p>
                    <p class="text-sm text-danger" role="alert">{error_for(v, "seed")}</p>
                </div>
            })}
            {model.reference_image.then(|| view! { <ReferenceImage submit /> })}
        </details>
    }
}

/// Uploads a reference image as soon as it is chosen (the upload route
/// checks and re-encodes it), and puts its id in the form. Needs JavaScript:
/// the form itself is sent as plain fields.
#[component]
fn ReferenceImage(submit: ServerAction<Generate>) -> impl IntoView {
    let v = submit.value();
    let reference = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let file_input = NodeRef::<leptos::html::Input>::new();
    let _ = (&reference, &note);
    view! {
        <div class="space-y-1">
            <label for="field-reference" class="block text-sm font-medium">"Reference image (optional)"</label>
            <input id="field-reference" type="file" accept="image/png,image/jpeg,image/webp" class="input"
                node_ref=file_input aria-describedby="field-reference-note"
                on:change=move |ev| {
                    #[cfg(feature = "hydrate")]
                    match crate::upload::picked_file(&ev) {
                        Some(file) => upload_reference(file, reference, note),
                        None => reference.set(String::new()),
                    }
                    #[cfg(not(feature = "hydrate"))]
                    let _ = ev;
                } />
            <input type="hidden" name="reference" prop:value=move || reference.get() />
            <Show when=move || !reference.get().is_empty()>
                <button type="button" class="btn-secondary px-3 py-1 text-sm" data-testid="remove-reference"
                    on:click=move |_| {
                        let id = reference.get_untracked();
                        reference.set(String::new());
                        if let Some(input) = file_input.get_untracked() {
                            input.set_value("");
                        }
                        note.set("Removing…".into());
                        leptos::task::spawn_local(async move {
                            match remove_reference(id).await {
                                Ok(true) => note.set("Removed: the image is deleted.".into()),
                                Ok(false) => note.set("Removed from this form.".into()),
                                Err(e) => note.set(e.to_string()),
                            }
                        });
                    }>
                    "Remove"
                </button>
            </Show>
            <label for="field-strength" class="block text-xs text-ink-muted">"How closely to follow it"</label>
            <input id="field-strength" name="reference_strength" type="range" min="0" max="1" step="0.05" value="0.5" class="w-full" />
            <p id="field-reference-note" class="text-xs text-ink-muted" role="status" data-testid="reference-note">{move || note.get()}</p>
            <noscript><p class="text-xs text-ink-muted">"Uploading a reference image needs JavaScript."</p></noscript>
            <p class="text-sm text-danger" role="alert">{error_for(v, "reference")}</p>
        </div>
    }
}

#[cfg(feature = "hydrate")]
fn upload_reference(file: web_sys::File, reference: RwSignal<String>, note: RwSignal<String>) {
    reference.set(String::new());
    note.set("Uploading…".into());
    leptos::task::spawn_local(async move {
        match crate::upload::post_file("/api/uploads/reference", file).await {
            Ok(json) => match json["id"].as_str() {
                Some(id) if !id.is_empty() => {
                    reference.set(id.to_owned());
                    note.set(format!(
                        "Reference image ready ({}×{}). It is deleted when the job ends.",
                        json["width"].as_i64().unwrap_or_default(),
                        json["height"].as_i64().unwrap_or_default()
                    ));
                }
                _ => note.set("The upload failed. Please try again.".into()),
            },
            Err(message) => note.set(message),
        }
    });
}

fn status_label(job: &GenerationDto) -> String {
    match job.status.as_str() {
        "queued" => match job.queue_position {
            Some(p) => format!("Queued · #{p} in line"),
            None => "Queued".into(),
        },
        "running" => "Generating…".into(),
        "succeeded" => match job.seconds {
            Some(s) => format!("Done in {s:.1} s"),
            None => "Done".into(),
        },
        "failed" => "Failed".into(),
        "refused" => "Refused".into(),
        "cancelled" => "Cancelled".into(),
        other => other.to_owned(),
    }
}

#[component]
fn JobCard(job: GenerationDto, cancel: ServerAction<CancelGeneration>) -> impl IntoView {
    let pending = job.is_pending();
    let job_id = job.id.clone();
    view! {
        <li class="card space-y-3" data-testid="job" data-status=job.status.clone() data-id=job.id.clone()>
            <div class="flex flex-wrap items-start justify-between gap-2">
                <p class="font-medium break-words">{job.prompt.clone()}</p>
                <span class="rounded-full bg-surface-sunken px-2 py-0.5 text-xs" data-testid="job-status" aria-live="polite">
                    {status_label(&job)}
                </span>
            </div>
            <p class="text-xs text-ink-muted">
                {format!("{} · {} · {} image{} · {} credits{}", job.queued_at, job.aspect_ratio, job.count,
                    if job.count == 1 { "" } else { "s" }, job.credits,
                    job.seed.map(|s| format!(" · seed {s}")).unwrap_or_default())}
            </p>
            {job.error.clone().map(|e| view! { <p class="text-sm text-danger" role="alert" data-testid="job-error">{e}</p> })}
            {pending.then(|| view! {
                <ActionForm action=cancel>
                    <input type="hidden" name="id" value=job_id.clone() />
                    <button type="submit" class="btn-secondary text-sm">"Cancel"</button>
                </ActionForm>
            })}
            {(!job.images.is_empty()).then(|| view! {
                <div class="grid grid-cols-2 gap-3 sm:grid-cols-2">
                    {job.images.iter().map(|img| {
                        let id = img.id.clone();
                        view! {
                            <figure class="space-y-1" data-testid="job-image">
                                <a href=format!("/media/{id}/original") target="_blank" rel="noopener">
                                    <img src=format!("/media/{id}/preview") width=img.width height=img.height
                                        alt="Generated image" loading="lazy" decoding="async"
                                        class="h-auto w-full rounded-md border border-line" />
                                </a>
                                <figcaption class="flex flex-wrap gap-3 text-xs">
                                    <a class="inline-flex min-h-6 items-center underline" href=format!("/media/{id}/original?download=1") download data-testid="download-png">"Download PNG"</a>
                                    <a class="inline-flex min-h-6 items-center underline" href=format!("/media/{id}/preview?download=1") download>"WebP"</a>
                                    <span class="text-ink-muted">{format!("{} days left", img.days_left)}</span>
                                </figcaption>
                            </figure>
                        }
                    }).collect_view()}
                </div>
            })}
        </li>
    }
    .into_any()
}

/// Follows `/api/generations/events` and merges what it sends. The browser
/// reconnects by itself when the server ends a stream.
#[cfg(feature = "hydrate")]
fn live_progress(jobs: RwSignal<Vec<GenerationDto>>, available: RwSignal<i64>) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast as _;

    let Ok(source) = web_sys::EventSource::new("/api/generations/events") else {
        return;
    };
    let on_jobs =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            if let Ok(update) = serde_json::from_str::<crate::studio::ProgressUpdate>(&text) {
                available.set(update.available);
                jobs.update(|js| merge(js, update.jobs));
            }
        });
    let _ = source.add_event_listener_with_callback("jobs", on_jobs.as_ref().unchecked_ref());
    on_jobs.forget();
    let source = StoredValue::new_local(source);
    on_cleanup(move || source.with_value(|s| s.close()));
}
