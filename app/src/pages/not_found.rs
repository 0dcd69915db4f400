//! The page for any path that is not a route; answers with status 404.

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    Effect::new(|_| crate::mark_hydrated());
    view! {
        <Title text="Page not found" />
        <Meta name="robots" content="noindex" />
        <section class="mx-auto max-w-xl space-y-4 py-16 text-center">
            <p class="text-sm font-semibold text-brand-700 dark:text-brand-300">"404"</p>
            <h1 class="text-3xl font-bold">"This page does not exist"</h1>
            <p class="text-ink-muted">"The link may be mistyped, or the page may have moved."</p>
            <A href="/" attr:class="btn-primary inline-block">"Back to the start"</A>
        </section>
    }
}
