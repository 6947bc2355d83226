//! User lookups for the page: search by id prefix, and one user's attributes and latest
//! interactions with item names.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as HttpResponse};
use polyrec_data::{Column, Dataset};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::field_error;
use crate::serve::{Service, blocking};

/// The most users a search or interactions a user lookup returns.
pub const MAX_LIMIT: usize = 100;
/// How many of either when the request does not say.
pub const DEFAULT_LIMIT: usize = 20;
/// The longest id prefix, in bytes.
const MAX_PREFIX: usize = 256;

/// Users sorted by id, and each user's interactions newest first, built once per service.
#[derive(Debug, Default)]
pub struct UserIndex {
    /// User ids in byte order (a prefix is a contiguous range).
    sorted_ids: Vec<String>,
    /// Per user: interaction rows, newest first.
    history: Vec<Vec<u32>>,
}

impl UserIndex {
    /// Indexes `ds`'s users and interactions.
    pub fn new(ds: &Dataset) -> Self {
        let names = ds.users.ids.names();
        let mut sorted_ids = names.to_vec();
        sorted_ids.sort_unstable();
        let it = &ds.interactions;
        let mut history: Vec<Vec<u32>> = vec![Vec::new(); names.len()];
        for r in 0..it.len() {
            if let Some(h) = history.get_mut(it.user[r] as usize) {
                h.push(r as u32);
            }
        }
        for h in &mut history {
            h.sort_by(|&a, &b| {
                it.timestamp[b as usize]
                    .cmp(&it.timestamp[a as usize])
                    .then(b.cmp(&a))
            });
        }
        Self {
            sorted_ids,
            history,
        }
    }

    /// Up to `limit` user ids starting with `prefix`, in byte order, and whether there are
    /// more.
    pub fn search(&self, prefix: &str, limit: usize) -> (Vec<&str>, bool) {
        let start = self.sorted_ids.partition_point(|id| id.as_str() < prefix);
        let mut out: Vec<&str> = self.sorted_ids[start..]
            .iter()
            .take_while(|id| id.starts_with(prefix))
            .take(limit + 1)
            .map(String::as_str)
            .collect();
        let more = out.len() > limit;
        out.truncate(limit);
        (out, more)
    }

    /// A user's interaction rows, newest first.
    pub fn history(&self, user: u32) -> &[u32] {
        self.history.get(user as usize).map_or(&[], Vec::as_slice)
    }

    /// Number of indexed users.
    pub fn len(&self) -> usize {
        self.sorted_ids.len()
    }

    /// Whether no user is indexed.
    pub fn is_empty(&self) -> bool {
        self.sorted_ids.is_empty()
    }
}

/// An attribute's value for one row: a category name, a number, or null when missing.
fn attribute_value(column: &Column, row: usize) -> Value {
    match column {
        Column::Categorical { vocab, codes } => match codes.get(row) {
            Some(&c) if c != 0 => Value::String(vocab.name(c).to_string()),
            _ => Value::Null,
        },
        Column::Numeric(values) => values
            .get(row)
            .filter(|v| v.is_finite())
            .map_or(Value::Null, |&v| json!(v)),
    }
}

/// `{"user", "text", "attributes": [{"name", "value"}], "interactions", "history": [...]}`
/// for a known user, with at most `limit` interactions, newest first; `None` when the
/// dataset has no such user.
pub fn detail(ds: &Dataset, index: &UserIndex, id: &str, limit: usize) -> Option<Value> {
    let u = ds.users.ids.get(id)?;
    let row = u as usize;
    let attributes: Vec<Value> = ds
        .users
        .attributes
        .iter()
        .map(|a| json!({ "name": a.name, "value": attribute_value(&a.column, row) }))
        .collect();
    let it = &ds.interactions;
    let rows = index.history(u);
    let history: Vec<Value> = rows
        .iter()
        .take(limit)
        .map(|&r| {
            let r = r as usize;
            let item = it.item[r] as usize;
            let item_id = ds.items.ids.name(it.item[r]);
            let labels: Map<String, Value> = ds
                .tasks
                .iter()
                .zip(&it.labels)
                .filter_map(|(t, col)| {
                    col.get(r)
                        .filter(|v| v.is_finite())
                        .map(|&v| (t.name.clone(), json!(v)))
                })
                .collect();
            json!({
                "item": item_id,
                "name": ds.items.names.get(item).cloned().flatten().unwrap_or_else(|| item_id.to_string()),
                "scenario": ds.scenarios.get(usize::from(it.scenario[r])),
                "timestamp": it.timestamp[r],
                "labels": labels,
            })
        })
        .collect();
    Some(json!({
        "user": id,
        "text": ds.users.texts.get(row).cloned().flatten(),
        "attributes": attributes,
        "interactions": rows.len(),
        "history": history,
    }))
}

/// The query of `GET /users`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchQuery {
    /// Id prefix (empty: every user, in id order).
    pub prefix: String,
    /// At most this many ids (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
}

/// The query of `GET /users/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetailQuery {
    /// At most this many interactions (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
}

fn check_limit(limit: Option<usize>) -> Result<usize, Box<HttpResponse>> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Box::new(field_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit",
            format!("request field `limit`: {limit} is not in 1..={MAX_LIMIT}"),
        )))
    }
}

fn query_error(e: &QueryRejection) -> HttpResponse {
    // serde_urlencoded names the field in its message ("unknown field `x`", "limit:
    // invalid digit"); the field is the part before a colon when there is one.
    let text = e.body_text();
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    let field = detail
        .split_once(':')
        .map(|(f, _)| f.trim().to_string())
        .filter(|f| !f.contains(' '))
        .or_else(|| {
            detail
                .split('`')
                .nth(1)
                .filter(|_| detail.contains("unknown field"))
                .map(str::to_string)
        });
    crate::serve::error(
        StatusCode::BAD_REQUEST,
        format!("invalid query string: {detail}"),
        field,
    )
}

/// `GET /users?prefix=P&limit=N`.
pub(crate) async fn search_route(
    State(service): State<Arc<Service>>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> HttpResponse {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return query_error(&e),
    };
    let limit = match check_limit(q.limit) {
        Ok(l) => l,
        Err(resp) => return *resp,
    };
    if q.prefix.len() > MAX_PREFIX {
        return field_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "prefix",
            format!("request field `prefix`: longer than {MAX_PREFIX} bytes"),
        );
    }
    let (users, more) = service.users().search(&q.prefix, limit);
    Json(json!({ "users": users, "more": more })).into_response()
}

/// `GET /users/{id}?limit=N`.
pub(crate) async fn detail_route(
    State(service): State<Arc<Service>>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<DetailQuery>, QueryRejection>,
) -> HttpResponse {
    let id = match id {
        Ok(Path(id)) => id,
        Err(e) => {
            return field_error(
                StatusCode::BAD_REQUEST,
                "id",
                format!("invalid user id: {}", e.body_text()),
            );
        }
    };
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return query_error(&e),
    };
    let limit = match check_limit(q.limit) {
        Ok(l) => l,
        Err(resp) => return *resp,
    };
    blocking(&service, move |s| {
        match s.with_replica(|r| detail(r.dataset(), s.users(), &id, limit)) {
            Some(v) => Json(v).into_response(),
            None => field_error(
                StatusCode::NOT_FOUND,
                "id",
                format!("no user `{id}` in the dataset"),
            ),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset() -> Dataset {
        let mut ds = Dataset::default();
        for id in ["196", "19", "2", "190", "1"] {
            ds.users.ids.insert(id);
            ds.users.texts.push(None);
        }
        for id in ["a", "b"] {
            ds.items.ids.insert(id);
            ds.items.names.push(Some(format!("Item <{id}>")));
            ds.items.texts.push(None);
        }
        let it = &mut ds.interactions;
        // user 0 ("196"): item a at t=5, item b at t=9; user 3 ("190"): item a.
        it.user = vec![0, 0, 3];
        it.item = vec![0, 1, 0];
        it.scenario = vec![0, 0, 0];
        it.timestamp = vec![5, 9, 1];
        ds
    }

    #[test]
    fn search_finds_ids_by_prefix_in_order_and_bounds_them() {
        let ds = dataset();
        let index = UserIndex::new(&ds);
        assert_eq!(index.len(), 5);
        assert_eq!(index.search("19", 10), (vec!["19", "190", "196"], false));
        assert_eq!(index.search("19", 2), (vec!["19", "190"], true));
        assert_eq!(index.search("", 2), (vec!["1", "19"], true));
        assert_eq!(index.search("3", 10), (vec![], false));
        assert_eq!(index.search("1960", 10), (vec![], false));
    }

    #[test]
    fn detail_lists_the_latest_interactions_first_with_names() {
        let ds = dataset();
        let index = UserIndex::new(&ds);
        let v = detail(&ds, &index, "196", 10).expect("user");
        assert_eq!(v["interactions"], 2);
        assert_eq!(v["history"][0]["item"], "b");
        assert_eq!(v["history"][0]["name"], "Item <b>");
        assert_eq!(v["history"][1]["item"], "a");
        let v = detail(&ds, &index, "196", 1).expect("user");
        assert_eq!(v["history"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["interactions"], 2);
        assert!(detail(&ds, &index, "nobody", 10).is_none());
    }
}
