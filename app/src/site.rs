//! Facts about the running site that pages show: product name, and the
//! operator's name and contact, which come from the server's configuration.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The product's name, as shown in titles and the header.
pub const PRODUCT: &str = "uni1";
/// One sentence on what the product does.
pub const TAGLINE: &str =
    "Type a prompt, watch it render, keep your images private, and stay in control of your data.";

/// Who runs this installation and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInfo {
    pub operator_name: String,
    pub operator_email: String,
}

/// The operator's details, from the server's configuration.
#[server(prefix = "/api", endpoint = "site_info")]
pub async fn get_site_info() -> Result<SiteInfo, AppError> {
    Ok(crate::state::app_state()?.site.clone())
}

/// Renders `children` with the site's details once they are loaded; the
/// server resolves them before sending, so the page is complete without JS.
#[component]
pub fn WithSiteInfo<F, IV>(children: F) -> impl IntoView
where
    F: Fn(SiteInfo) -> IV + Send + Sync + 'static,
    IV: IntoView + 'static,
{
    let info = OnceResource::new_blocking(get_site_info());
    let children = std::sync::Arc::new(children);
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match info.await {
                        Ok(info) => children(info).into_any(),
                        Err(e) => view! { <p class="text-danger">{e.to_string()}</p> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}
