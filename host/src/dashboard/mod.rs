//! The provincial dashboard: a single-page app over `/api/v1`, every asset compiled into the
//! binary so it works on an intranet with no outside network. Pages carry a Content Security
//! Policy that allows this server only, so a page cannot load or send anything elsewhere.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Embedded assets: (path, content type, bytes).
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboard/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../dashboard/app.css"),
    ),
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../dashboard/index.html"),
    ),
];

/// Only this server, for everything; no inline scripts or styles, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, body)) => {
            let mut r = (*body).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// `/` (the app) and `/assets/{name}`; merge it with the API's router.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route(
            "/assets/{name}",
            get(|axum::extract::Path(name): axum::extract::Path<String>| async move {
                asset(&name)
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_asset_names_another_host() {
        for (name, _, body) in ASSETS {
            for needle in ["http://", "https://", "//cdn", "@import"] {
                assert!(!body.contains(needle), "{name} mentions {needle}");
            }
        }
    }
}
