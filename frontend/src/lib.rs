//! The browser entry point: hydrates the HTML the server rendered.

// The lazily hydrated app's view type nests deeply (see uni1-app).
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes (see `uni1_app::lazy_pages`) need the asynchronous hydration:
    // it waits for the current page's chunk before it takes over the HTML.
    leptos::mount::hydrate_lazy(uni1_app::App);
}
