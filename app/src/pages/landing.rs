//! The front page: what uni1 does, for someone who has never seen it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::site::TAGLINE;

/// Prompts to show what a good prompt looks like; the button cycles them.
const IDEAS: [&str; 6] = [
    "A lighthouse on a basalt cliff at dusk, long exposure, teal and amber",
    "Isometric cutaway of a tiny bakery, warm morning light, clay render",
    "Portrait of a red fox in a knitted scarf, studio lighting, 85mm",
    "Botanical illustration of an imaginary blue fern, ink and watercolour",
    "Rainy neon street market seen from above, cinematic, shallow depth of field",
    "A paper-cut diorama of a mountain village in winter, soft shadows",
];

struct Feature {
    title: &'static str,
    text: &'static str,
}

const FEATURES: [Feature; 4] = [
    Feature {
        title: "A studio that shows its work",
        text: "Pick a model, set the aspect ratio and seed, and follow each job live from queue to finished image.",
    },
    Feature {
        title: "A private gallery",
        text: "Images are encrypted before they are stored and only you can open them, unless you share a link you can revoke.",
    },
    Feature {
        title: "Pay for what you use",
        text: "Credits are reserved when a job starts and returned if it fails or is refused. Nothing is charged twice.",
    },
    Feature {
        title: "Your data, your call",
        text: "Export everything, delete what you like, and choose which cookies and mail you accept.",
    },
];

#[component]
pub fn Landing() -> impl IntoView {
    let (idea, set_idea) = signal(0usize);
    view! {
        <Title text="" />
        <section class="grid gap-10 py-6 md:grid-cols-2 md:items-center">
            <div class="space-y-6">
                <h1 class="text-4xl font-extrabold tracking-tight sm:text-5xl">
                    "Turn words into images you own."
                </h1>
                <p class="text-lg text-ink-muted">{TAGLINE}</p>
                <div class="flex flex-wrap gap-3">
                    <A href="/studio" attr:class="btn-primary">"Open the studio"</A>
                    <A href="/privacy" attr:class="btn-secondary">"How we treat your data"</A>
                </div>
            </div>
            <figure class="card space-y-4" aria-labelledby="idea-caption">
                <figcaption id="idea-caption" class="text-sm font-semibold uppercase tracking-wide text-ink-muted">
                    "Need an idea?"
                </figcaption>
                <blockquote class="min-h-20 text-lg" data-testid="prompt-idea" aria-live="polite">
                    {move || IDEAS[idea.get() % IDEAS.len()]}
                </blockquote>
                <button
                    type="button"
                    class="btn-secondary"
                    data-testid="next-idea"
                    on:click=move |_| set_idea.update(|i| *i += 1)
                >
                    "Show another prompt"
                </button>
            </figure>
        </section>
        <section aria-labelledby="features-title" class="py-10">
            <h2 id="features-title" class="mb-6 text-2xl font-bold">"What you get"</h2>
            <ul class="grid gap-4 sm:grid-cols-2">
                {FEATURES
                    .iter()
                    .map(|f| view! {
                        <li class="card">
                            <h3 class="mb-2 font-semibold">{f.title}</h3>
                            <p class="text-ink-muted">{f.text}</p>
                        </li>
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
