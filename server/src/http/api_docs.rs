//! `/docs/api`: the developer API's guide, rendered on the server as plain
//! HTML with the site's stylesheet, so it adds nothing to the browser's
//! WASM. It is made once, when the router is built, from what the server
//! knows: the public origin (in every example), the catalogue (the models
//! section) and the OpenAPI document (the list of every `/v1` route, so a
//! new route shows here by itself).

use std::hash::{Hash, Hasher};

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use uni1_domain::generation::Catalog;
use uni1_domain::mail::templates::escape;

/// The page, made once, and its entity tag.
#[derive(Clone)]
pub struct ApiDocsPage {
    html: axum::body::Bytes,
    etag: HeaderValue,
}

impl ApiDocsPage {
    /// `stylesheet`: the site's CSS (`/pkg/…css`); `origin`: the public
    /// origin, e.g. `https://images.example.com`.
    pub fn new(stylesheet: &str, origin: &str, catalog: &Catalog) -> Self {
        let html = render(stylesheet, origin, catalog);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        html.hash(&mut hasher);
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
            .unwrap_or_else(|_| HeaderValue::from_static("\"api-docs\""));
        Self {
            html: axum::body::Bytes::from(html),
            etag,
        }
    }
}

/// `GET /docs/api`. Revalidated on every use (`no-cache` with an ETag):
/// the page names the site's content-hashed stylesheet, which a deploy
/// replaces, so a kept copy must not outlive it; a revalidation costs a
/// 304 without a body.
pub async fn page(State(page): State<ApiDocsPage>, headers: HeaderMap) -> Response {
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim() == page.etag.to_str().unwrap_or_default())
        });
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, Html(page.html.clone())).into_response()
    };
    let h = r.headers_mut();
    h.insert(header::ETAG, page.etag.clone());
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    // The same for everyone: nothing personal on it.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, no-cache"),
    );
    r
}

/// A labelled code block: a figure whose caption names it, its `pre`
/// focusable so a keyboard can scroll it.
fn code(id: &str, caption: &str, text: &str) -> String {
    format!(
        "<figure class=\"space-y-1\" aria-labelledby=\"{id}\">\
         <figcaption id=\"{id}\" class=\"text-sm font-semibold text-ink-muted\">{}</figcaption>\
         <pre tabindex=\"0\" class=\"overflow-x-auto rounded-md border border-line bg-surface-sunken p-4 text-sm text-ink\"><code>{}</code></pre>\
         </figure>",
        escape(caption),
        escape(text),
    )
}

fn section(id: &str, title: &str, body: &str) -> String {
    format!(
        "<section class=\"space-y-4\" aria-labelledby=\"{id}\">\
         <h2 id=\"{id}\" class=\"text-2xl font-bold\">{}</h2>{body}</section>",
        escape(title)
    )
}

/// Every `/v1` route of the OpenAPI document: method, path, summary.
fn routes() -> Vec<(String, String, String)> {
    let doc: Value = serde_json::from_str(super::api::openapi::json()).unwrap_or(Value::Null);
    let mut rows = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            let Some(ops) = item.as_object() else {
                continue;
            };
            for (method, op) in ops {
                if let Some(summary) = op.get("summary").and_then(Value::as_str) {
                    rows.push((method.to_uppercase(), path.clone(), summary.to_owned()));
                }
            }
        }
    }
    rows
}

fn render(stylesheet: &str, origin: &str, catalog: &Catalog) -> String {
    let model = catalog
        .all()
        .first()
        .map_or_else(|| "builtin".to_owned(), |m| m.id.clone());
    let mut main = String::new();
    main.push_str(
        "<h1 class=\"text-3xl font-bold\">The uni1 API</h1>\
         <p class=\"text-lg text-ink-muted\">Generate images from your own code with the clients you already use: \
         uni1 speaks OpenAI's Images API and Replicate's predictions API, so the official <code>openai</code> and \
         <code>replicate</code> libraries work with only their base URL changed.</p>",
    );
    main.push_str(&format!(
        "<p>Every request is a normal job of your account, charged the same credits as in the studio: \
         credits are held when it is queued, taken when it succeeds and given back when it fails or is canceled. \
         The job and its images appear in your history and gallery. The machine-readable description is \
         <a class=\"underline\" href=\"/v1/openapi.json\">/v1/openapi.json</a> (OpenAPI 3.1).</p>\
         <nav aria-label=\"On this page\" class=\"card\"><h2 class=\"text-sm font-semibold\">On this page</h2>\
         <ul class=\"mt-2 flex flex-wrap gap-x-4 gap-y-1 text-sm\">{}</ul></nav>",
        [
            ("keys", "Keys"),
            ("openai", "OpenAI Images"),
            ("replicate", "Replicate predictions"),
            ("javascript", "JavaScript"),
            ("models", "Models"),
            ("rules", "Idempotency, waiting, errors"),
            ("routes", "Every route"),
        ]
        .iter()
        .map(|(id, label)| format!("<li><a class=\"underline\" href=\"#{id}\">{label}</a></li>"))
        .collect::<String>()
    ));

    main.push_str(&section(
        "keys",
        "Keys",
        "<p>Make a key under <a class=\"underline\" href=\"/settings/api-keys\">Settings → API keys</a>. \
         It is shown once; keep it secret (it spends your credits) and out of web pages. Send it as \
         <code>Authorization: Bearer uni1_sk_…</code>. Its scopes say what it may do: <code>generate</code> \
         (create and cancel) and <code>read</code> (get and list predictions). A revoked or expired key, or the key \
         of an account that may not generate now, is refused. The examples read the key from the environment \
         variable <code>UNI1_API_KEY</code>.</p>",
    ));

    let curl_openai = format!(
        "curl {origin}/v1/images/generations \\\n  \
         -H \"Authorization: Bearer $UNI1_API_KEY\" \\\n  \
         -H \"Content-Type: application/json\" \\\n  \
         -H \"Idempotency-Key: $(uuidgen)\" \\\n  \
         -d '{{\"model\": \"{model}\", \"prompt\": \"a red kite over a grey sea\", \"size\": \"1024x1024\", \"response_format\": \"url\"}}'"
    );
    let python_openai = format!(
        "import base64, os\n\
         from openai import OpenAI\n\n\
         client = OpenAI(base_url=\"{origin}/v1\", api_key=os.environ[\"UNI1_API_KEY\"])\n\n\
         # Waits until the images are made (up to 25 s), then answers with them.\n\
         result = client.images.generate(model=\"{model}\", prompt=\"a red kite over a grey sea\", size=\"1024x1024\")\n\
         with open(\"kite.png\", \"wb\") as f:\n    \
         f.write(base64.b64decode(result.data[0].b64_json))\n\n\
         # From an image of your own (PNG, JPEG or WebP, up to 10 MiB).\n\
         with open(\"kite.png\", \"rb\") as image:\n    \
         edited = client.images.edit(model=\"{model}\", image=image, prompt=\"the same kite at night\", response_format=\"url\")\n\
         print(edited.data[0].url)  # signed, valid for an hour, needs no key"
    );
    main.push_str(&section(
        "openai",
        "OpenAI Images",
        &format!(
            "<p><code>POST /v1/images/generations</code> (JSON) and <code>POST /v1/images/edits</code> \
             (multipart, one <code>image</code>) take <code>model</code>, <code>prompt</code>, <code>n</code>, \
             <code>size</code> (any width×height with one of the model's aspect ratios, or <code>auto</code>), \
             <code>response_format</code> (<code>b64_json</code>, the default, or <code>url</code>) and \
             <code>output_format</code> (<code>png</code>). The answer waits for the job; after 25 seconds it is a 504 \
             naming the job, which keeps going: send the request again with the same <code>Idempotency-Key</code> \
             to wait for the same job.</p>{}{}",
            code("ex-curl-openai", "curl: generate an image", &curl_openai),
            code(
                "ex-python-openai",
                "Python, with the openai library",
                &python_openai
            ),
        ),
    ));

    let curl_replicate = format!(
        "curl {origin}/v1/models/uni1/{model}/predictions \\\n  \
         -H \"Authorization: Bearer $UNI1_API_KEY\" \\\n  \
         -H \"Content-Type: application/json\" \\\n  \
         -H \"Prefer: wait=20\" \\\n  \
         -d '{{\"input\": {{\"prompt\": \"a red kite\", \"aspect_ratio\": \"16:9\"}}}}'\n\n\
         # Still \"starting\" or \"processing\"? Poll its urls.get:\n\
         curl {origin}/v1/predictions/PREDICTION_ID -H \"Authorization: Bearer $UNI1_API_KEY\""
    );
    let python_replicate = format!(
        "import os\n\
         import replicate\n\n\
         client = replicate.Client(api_token=os.environ[\"UNI1_API_KEY\"], base_url=\"{origin}\")\n\n\
         # Waits, polling if needed, and gives the output URLs.\n\
         for image in client.run(\"uni1/{model}\", input={{\"prompt\": \"a red kite\", \"num_outputs\": 2}}):\n    \
         print(str(image))\n\n\
         # What the model takes.\n\
         model = client.models.get(\"uni1/{model}\")\n\
         print(model.latest_version.openapi_schema[\"components\"][\"schemas\"][\"Input\"])\n\n\
         # Create now, wait later; or cancel.\n\
         prediction = client.predictions.create(version=\"{model}\", input={{\"prompt\": \"a blue kite\"}})\n\
         prediction.wait()\n\
         print(prediction.status, prediction.output)\n\
         for p in client.predictions.list().results:\n    \
         print(p.id, p.status)"
    );
    main.push_str(&section(
        "replicate",
        "Replicate predictions",
        &format!(
            "<p>A model is <code>uni1/&lt;model id&gt;</code> with one version whose id is the model id. \
             <code>POST /v1/models/uni1/&lt;id&gt;/predictions</code> (or <code>POST /v1/predictions</code> with \
             <code>\"version\"</code>) queues a job and answers at once with <code>starting</code>; \
             <code>Prefer: wait=n</code> holds the answer up to n seconds (at most 25). The input takes \
             <code>prompt</code>, <code>negative_prompt</code>, <code>aspect_ratio</code> (<code>1:1</code>, \
             <code>16:9</code>, …), <code>num_outputs</code>, <code>seed</code> and <code>style</code>. Outputs are \
             signed URLs on this site, valid for an hour. A prediction's <code>webhook</code> (a public https URL) \
             receives the prediction object on the events of <code>webhook_events_filter</code> \
             (<code>start</code>, <code>output</code>, <code>completed</code>; default all), signed per Standard \
             Webhooks with the secret of <code>GET /v1/webhooks/default/secret</code>. To hear of every \
             prediction, register an endpoint under \
             <a class=\"underline\" href=\"/settings/webhooks\">Settings → Webhooks</a>.</p>{}{}",
            code(
                "ex-curl-replicate",
                "curl: create a prediction and wait",
                &curl_replicate
            ),
            code(
                "ex-python-replicate",
                "Python, with the replicate library",
                &python_replicate
            ),
        ),
    ));

    let javascript = format!(
        "// On a server (Node 18+, Deno, Bun): never put a key in a web page.\n\
         const origin = \"{origin}\";\n\
         const headers = {{\n  \
         Authorization: `Bearer ${{process.env.UNI1_API_KEY}}`,\n  \
         \"Content-Type\": \"application/json\",\n\
         }};\n\n\
         // OpenAI-style: the answer waits for the images.\n\
         const res = await fetch(`${{origin}}/v1/images/generations`, {{\n  \
         method: \"POST\",\n  \
         headers: {{ ...headers, \"Idempotency-Key\": crypto.randomUUID() }},\n  \
         body: JSON.stringify({{ model: \"{model}\", prompt: \"a red kite over a grey sea\", response_format: \"url\" }}),\n\
         }});\n\
         const body = await res.json();\n\
         if (!res.ok) throw new Error(body.error.message);\n\
         console.log(body.data[0].url);\n\n\
         // Replicate-style: create, then poll until it ends.\n\
         let p = await (await fetch(`${{origin}}/v1/predictions`, {{\n  \
         method: \"POST\",\n  \
         headers: {{ ...headers, Prefer: \"wait=20\" }},\n  \
         body: JSON.stringify({{ version: \"{model}\", input: {{ prompt: \"a blue kite\" }} }}),\n\
         }})).json();\n\
         while (p.status === \"starting\" || p.status === \"processing\") {{\n  \
         await new Promise((r) => setTimeout(r, 1000));\n  \
         p = await (await fetch(p.urls.get, {{ headers }})).json();\n\
         }}\n\
         console.log(p.status, p.output ?? p.error);"
    );
    main.push_str(&section(
        "javascript",
        "JavaScript",
        &format!(
            "<p>Plain <code>fetch</code>, no library needed.</p>{}",
            code(
                "ex-javascript",
                "JavaScript (an ES module, e.g. example.mjs on Node 18+), with fetch",
                &javascript
            )
        ),
    ));

    let models: String = catalog
        .all()
        .iter()
        .map(|m| {
            let caps = m.capabilities();
            let ratios: Vec<&str> = caps.aspect_ratios.iter().map(|a| a.label()).collect();
            format!(
                "<li class=\"card space-y-1\"><h3 class=\"font-semibold\"><code>{}</code> ({})</h3>\
                 <p class=\"text-sm text-ink-muted\">{}</p>\
                 <p class=\"text-sm\">Aspect ratios {}; up to {} images a request; {} credit{} an image{}{}.</p></li>",
                escape(&m.id),
                escape(&m.name),
                escape(&m.description),
                escape(&ratios.join(", ")),
                caps.max_images,
                m.credits_per_image,
                if m.credits_per_image == 1 { "" } else { "s" },
                if caps.seed { "; takes a seed" } else { "" },
                if caps.style_presets.is_empty() {
                    String::new()
                } else {
                    format!("; styles {}", escape(&caps.style_presets.join(", ")))
                },
            )
        })
        .collect();
    main.push_str(&section(
        "models",
        "Models",
        &format!(
            "<p>The <code>model</code> of an OpenAI request, and <code>uni1/&lt;id&gt;</code> for Replicate \
             (<code>GET /v1/models/uni1/&lt;id&gt;</code> describes its input).</p>\
             <ul class=\"grid gap-3 sm:grid-cols-2\">{models}</ul>"
        ),
    ));

    main.push_str(&section(
        "rules",
        "Idempotency, waiting, errors",
        "<ul class=\"list-disc space-y-2 pl-6\">\
         <li><strong>Idempotency-Key</strong> on every POST that makes a job (kept 24 hours; a cancel is idempotent by itself): the same key and body answers the \
         first answer again, with <code>idempotent-replayed: true</code>; the same key with another body is refused \
         (422); the same key while the first request still runs answers 409 (try again shortly). The official \
         clients retry failed requests, so send a key when a repeat must not make a second job.</li>\
         <li><strong>Errors</strong> come in OpenAI's envelope <code>{\"error\": {\"message\", \"type\", \"param\", \
         \"code\"}}</code> on the OpenAI routes and as problem details (<code>application/problem+json</code>: \
         <code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, and <code>invalid_fields</code> \
         on a 422) on the Replicate routes, so each library raises its own error class.</li>\
         <li>A 429 or 503 says <code>retry-after</code> (at most 60 seconds). An answer that a retry cannot change \
         (out of credits, a refused prompt) says <code>x-should-retry: false</code>.</li>\
         <li>Every answer carries <code>x-request-id</code>; quote it when you write to us.</li>\
         </ul>",
    ));

    let rows: String = routes()
        .iter()
        .map(|(method, path, summary)| {
            format!(
                "<tr class=\"border-t border-line\"><td class=\"py-1 pr-4 font-mono\">{}</td>\
                 <td class=\"py-1 pr-4 font-mono\">{}</td><td class=\"py-1\">{}</td></tr>",
                escape(method),
                escape(path),
                escape(summary)
            )
        })
        .collect();
    main.push_str(&section(
        "routes",
        "Every route",
        &format!(
            "<div class=\"overflow-x-auto\" tabindex=\"0\" role=\"region\" aria-label=\"Routes\">\
             <table class=\"w-full text-left text-sm\"><caption class=\"sr-only\">The routes of the API</caption>\
             <thead><tr><th scope=\"col\" class=\"py-1 pr-4\">Method</th><th scope=\"col\" class=\"py-1 pr-4\">Path</th>\
             <th scope=\"col\" class=\"py-1\">What it does</th></tr></thead><tbody>{rows}</tbody></table></div>\
             <p>Their request and answer shapes: <a class=\"underline\" href=\"/v1/openapi.json\">/v1/openapi.json</a>.</p>"
        ),
    ));

    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>API documentation · uni1</title>\
         <meta name=\"description\" content=\"Generate images with uni1 from code: OpenAI- and Replicate-compatible endpoints, keys, idempotency, and examples for curl, Python and JavaScript.\">\
         <link rel=\"canonical\" href=\"{origin_attr}/docs/api\">\
         <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"{css}\"></head>\
         <body class=\"min-h-screen bg-surface text-ink antialiased\">\
         <a href=\"#main\" class=\"sr-only focus:not-sr-only focus:absolute focus:p-3 focus:bg-brand-600 focus:text-white\">Skip to content</a>\
         <header class=\"border-b border-line bg-surface-raised\">\
         <nav aria-label=\"Main\" class=\"mx-auto flex max-w-4xl items-center justify-between gap-4 px-4 py-3 sm:px-6\">\
         <a href=\"/\" class=\"flex items-center gap-2 text-lg font-bold tracking-tight\">\
         <img src=\"/favicon.svg\" alt=\"\" width=\"28\" height=\"28\">uni1</a>\
         <a href=\"/settings/api-keys\" class=\"text-sm font-medium underline-offset-4 hover:underline\">API keys</a>\
         </nav></header>\
         <main id=\"main\" class=\"mx-auto w-full max-w-4xl space-y-10 px-4 py-8 sm:px-6\" data-testid=\"api-docs\">{main}</main>\
         <footer class=\"border-t border-line bg-surface-raised\">\
         <div class=\"mx-auto max-w-4xl px-4 py-6 text-sm text-ink-muted sm:px-6\">\
         <a class=\"underline\" href=\"/terms\">Terms</a> · <a class=\"underline\" href=\"/privacy\">Privacy</a> · \
         <a class=\"underline\" href=\"/pricing\">Pricing</a> · <a class=\"underline\" href=\"/contact\">Contact</a>\
         </div></footer></body></html>",
        origin_attr = escape(origin),
        css = escape(stylesheet),
    )
}
