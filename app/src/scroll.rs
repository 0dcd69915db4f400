//! Browser-only helper for infinite scroll: run a callback whenever an
//! element comes within 600 px of the viewport.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};

/// An element being watched; dropping it stops the watching and frees the
/// callback.
pub struct Watch {
    observer: web_sys::IntersectionObserver,
    _callback: Closure<dyn Fn(JsValue)>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Calls `on_visible` each time `el` starts to intersect the viewport
/// (grown by 600 px, so the next page loads before the end is reached),
/// until the returned [`Watch`] is dropped.
pub fn when_visible(el: web_sys::Element, on_visible: impl Fn() + 'static) -> Option<Watch> {
    let callback = Closure::<dyn Fn(JsValue)>::new(move |entries: JsValue| {
        let entries: js_sys::Array = entries.unchecked_into();
        if entries.iter().any(|e| {
            e.unchecked_into::<web_sys::IntersectionObserverEntry>()
                .is_intersecting()
        }) {
            on_visible();
        }
    });
    let init = web_sys::IntersectionObserverInit::new();
    init.set_root_margin("600px");
    match web_sys::IntersectionObserver::new_with_options(callback.as_ref().unchecked_ref(), &init)
    {
        Ok(observer) => {
            observer.observe(&el);
            Some(Watch {
                observer,
                _callback: callback,
            })
        }
        Err(e) => {
            leptos::logging::warn!("no IntersectionObserver: {e:?}");
            None
        }
    }
}
