//! What the page's model view shows: the model's scenarios and tasks, its test metrics
//! (`metrics.json`), its training configuration, and the SVG plots of its directory.

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as HttpResponse};
use polyrec_rank::heads::HeadKind;
use serde_json::{Value, json};

use super::{field_error, svg_headers};
use crate::Recommender;
use crate::serve::{Service, blocking, error};

/// The largest plot served, in bytes.
pub const MAX_PLOT: u64 = 8 * 1024 * 1024;

/// The SVG files directly in `dir` (regular files, not links), by name, sorted. Only
/// these can be served: a plot is looked up in this list, never joined onto the path.
pub fn plots(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".svg") && !n.starts_with('.'))
        .collect();
    out.sort();
    out
}

/// The model's metrics report, or why there is none.
fn metrics(dir: Option<&Path>) -> (Value, Option<String>) {
    let Some(dir) = dir else {
        return (
            Value::Null,
            Some("the service was started without a model directory".into()),
        );
    };
    let path = dir.join("metrics.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => (v, None),
            Err(e) => (Value::Null, Some(format!("{}: {e}", path.display()))),
        },
        Err(e) => (Value::Null, Some(format!("{}: {e}", path.display()))),
    }
}

fn kind_name(kind: &HeadKind) -> &'static str {
    match kind {
        HeadKind::Binary => "binary",
        HeadKind::Regression { .. } => "regression",
        HeadKind::Multiclass { .. } => "multiclass",
    }
}

/// `{"dataset", "model", "scenarios", "tasks": [{"name", "kind", "user_level"}], "types",
/// "config", "metrics", "metrics_error", "plots"}`; `types` lists the result types a
/// request can ask for (`items`, and `friends` / `topics` where their models are loaded).
pub fn summary(rec: &Recommender, dir: Option<&Path>) -> Value {
    let tasks: Vec<Value> = rec
        .ranker()
        .heads()
        .iter()
        .map(|h| json!({ "name": h.name, "kind": kind_name(&h.kind), "user_level": h.user_level }))
        .collect();
    let (metrics, metrics_error) = metrics(dir);
    let mut types = vec!["items"];
    if rec.social.is_some() {
        types.push("friends");
    }
    if rec.topics.is_some() {
        types.push("topics");
    }
    json!({
        "dataset": rec.dataset().name,
        "model": rec.ranker().config().name(),
        "scenarios": rec.dataset().scenarios,
        "tasks": tasks,
        "types": types,
        "config": rec.config().to_toml().ok(),
        "metrics": metrics,
        "metrics_error": metrics_error,
        "plots": dir.map(plots).unwrap_or_default(),
    })
}

/// `GET /model`.
pub(crate) async fn summary_route(State(service): State<Arc<Service>>) -> HttpResponse {
    blocking(&service, |s| {
        let v = s.with_replica(|r| summary(r, s.model_dir()));
        Json(v).into_response()
    })
    .await
}

/// `GET /model/plots/{name}`.
pub(crate) async fn plot_route(
    State(service): State<Arc<Service>>,
    name: Result<UrlPath<String>, PathRejection>,
) -> HttpResponse {
    let name = match name {
        Ok(UrlPath(n)) => n,
        Err(e) => {
            return field_error(
                StatusCode::BAD_REQUEST,
                "name",
                format!("invalid plot name: {}", e.body_text()),
            );
        }
    };
    blocking(&service, move |s| {
        let Some(dir) = s.model_dir() else {
            return field_error(
                StatusCode::NOT_FOUND,
                "name",
                "the service was started without a model directory".into(),
            );
        };
        let listed = plots(dir);
        let Some(file) = listed.iter().find(|p| **p == name) else {
            return field_error(
                StatusCode::NOT_FOUND,
                "name",
                format!("no plot `{name}`; the model has {listed:?}"),
            );
        };
        let path = dir.join(file);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_PLOT) {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}: larger than {MAX_PLOT} bytes", path.display()),
                None,
            );
        }
        match std::fs::read(&path) {
            Ok(bytes) => (svg_headers(), bytes).into_response(),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}: {e}", path.display()),
                None,
            ),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_svg_files_directly_in_the_directory_are_plots() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("curves.svg"), "<svg/>")?;
        std::fs::write(dir.path().join("scenarios.svg"), "<svg/>")?;
        std::fs::write(dir.path().join("metrics.json"), "{}")?;
        std::fs::write(dir.path().join(".hidden.svg"), "<svg/>")?;
        std::fs::create_dir(dir.path().join("sub.svg"))?;
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link.svg"))?;
        assert_eq!(plots(dir.path()), ["curves.svg", "scenarios.svg"]);
        assert!(plots(&dir.path().join("missing")).is_empty());
        Ok(())
    }
}
