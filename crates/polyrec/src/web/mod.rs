//! The web page of `polyrec serve`: one page at `/` that talks to the JSON API, and the
//! read-only routes it needs beside `POST /recommend`.
//!
//! A person picks a user (or writes a new user's profile), a scenario, K, the task blend
//! weights, the diversity weight and a free-text request, and reads the results with their
//! per-task scores and reasons; a second view shows the model's test metrics per scenario
//! x task, its plots and its training configuration.
//!
//! The page is three static files compiled into the binary (`include_str!`): plain HTML,
//! CSS and JavaScript, no CDN and no build step. Everything it shows from the data goes
//! through `textContent` and `createElement`, never `innerHTML`, so an item name such as
//! `<script>...` is shown as text; the page is also served with a Content-Security-Policy
//! that allows only its own script, style, images and API (no inline script), and the
//! model's SVG plots are served as `image/svg+xml` with a policy of their own and shown
//! through `<img>`, where an SVG cannot run script.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /assets/app.js`, `GET /assets/style.css` | its script and style |
//! | `GET /users?prefix=P&limit=N` | [`UserIndex::search`]: ids starting with `P` (at most [`users::MAX_LIMIT`]) |
//! | `GET /users/{id}?limit=N` | [`users::detail`]: attributes and the latest interactions, newest first |
//! | `GET /model` | [`model::summary`]: dataset, model, scenarios, tasks, metrics, config, plots |
//! | `GET /model/plots/{name}` | an SVG file of the model directory, by its listed name |
//!
//! Errors have the API's shape: a 4xx JSON `{"error": ..., "field": ...}` naming the field.

pub mod model;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::get;

pub use users::UserIndex;

use crate::serve::{Service, error};

/// The page's Content-Security-Policy: its own script, style, images and API only; no
/// inline script, no plugins, no framing, no form posts elsewhere.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The policy of a served SVG plot opened on its own: no script at all.
pub const PLOT_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// A static file with the headers every page file gets.
fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// A request error naming its field (a 4xx with the API's JSON shape).
pub(crate) fn field_error(status: StatusCode, field: &str, message: String) -> HttpResponse {
    error(status, message, Some(field.to_string()))
}

/// The headers of a served SVG plot.
pub(crate) fn svg_headers() -> [(HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PLOT_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ]
}

/// The page's routes (merged into [`crate::serve::router`]).
pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(app_js))
        .route("/assets/style.css", get(style_css))
        .route("/users", get(users::search_route))
        .route("/users/{id}", get(users::detail_route))
        .route("/model", get(model::summary_route))
        .route("/model/plots/{name}", get(model::plot_route))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_files() {
        // Every script and stylesheet the page names is one this module serves, and the
        // page has no inline script or handler attribute (the policy would block them).
        for src in ["/assets/app.js", "/assets/style.css"] {
            assert!(INDEX_HTML.contains(src), "{src}");
        }
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
        assert_eq!(INDEX_HTML.matches("<script").count(), 1);
        assert!(INDEX_HTML.contains("<script src=\"/assets/app.js\" defer></script>"));
        // No inline handler attribute (` onclick=`, ` onload=`, ...).
        for (i, _) in INDEX_HTML.match_indices(" on") {
            let rest = &INDEX_HTML[i + 3..];
            let name_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
            assert!(
                name_len == 0 || !rest[name_len..].starts_with('='),
                "inline handler at {}",
                &INDEX_HTML[i..(i + 20).min(INDEX_HTML.len())]
            );
        }
        // The script never writes markup from strings.
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(!APP_JS.contains(sink), "app.js uses {sink}");
        }
    }
}
