//! Sending a file the person picked to one of the plain upload routes
//! (`/api/uploads/reference`, `/api/profile/picture`) as the request body,
//! from the browser. The routes answer JSON, or a sentence to show.

/// POSTs `file` to `url`; the JSON answer, or the message to show.
pub async fn post_file(url: &str, file: web_sys::File) -> Result<serde_json::Value, String> {
    use wasm_bindgen::JsCast as _;
    use wasm_bindgen_futures::JsFuture;

    let failed = || "The upload failed. Check your connection and try again.".to_owned();
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&file.into());
    let window = web_sys::window().ok_or_else(failed)?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| failed())?
        .dyn_into()
        .map_err(|_| failed())?;
    let text = JsFuture::from(response.text().map_err(|_| failed())?)
        .await
        .map_err(|_| failed())?
        .as_string()
        .unwrap_or_default();
    if !response.ok() {
        return Err(if text.is_empty() { failed() } else { text });
    }
    serde_json::from_str(&text).map_err(|_| failed())
}

/// The first file of the `<input type="file">` an event came from.
pub fn picked_file(ev: &web_sys::Event) -> Option<web_sys::File> {
    use wasm_bindgen::JsCast as _;
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .and_then(|input| input.files())
        .and_then(|files| files.get(0))
}
