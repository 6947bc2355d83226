//! Predictions files, breakdowns per scenario x task, and JSON / Markdown reports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::input::quote;
use crate::pointwise::{auc, gauc, logloss, mae, rmse};
use crate::topk::TopK;
use crate::{Error, Result};

pub use crate::predictions::{MAX_CLASS, Predictions, ScoreScale, TaskType};

/// Metrics of one group of rows of one task (`None` values are undefined and left out).
pub fn group_metrics(
    ty: TaskType,
    users: &[&str],
    labels: &[f64],
    scores: &[f64],
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<f64>| {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    };
    match ty {
        TaskType::Binary => {
            put("auc", auc(labels, scores));
            put("gauc", gauc(users, labels, scores));
            put("logloss", logloss(labels, scores));
        }
        TaskType::Regression => {
            put("rmse", rmse(labels, scores));
            put("mae", mae(labels, scores));
        }
        TaskType::Multiclass => {
            let class = |v: f64| v.round().clamp(0.0, f64::from(MAX_CLASS)) as u32;
            let l: Vec<u32> = labels.iter().map(|v| class(*v)).collect();
            let s: Vec<u32> = scores.iter().map(|v| class(*v)).collect();
            put("accuracy", crate::pointwise::accuracy(&l, &s));
            put("macro_f1", crate::pointwise::macro_f1(&l, &s));
        }
    }
    m.insert("count".into(), json!(labels.len()));
    m
}

/// The report: `{"overall": {TASK: {...}}, SCENARIO: {TASK: {...}}, "topk": {...}}`.
pub fn breakdown(
    p: &Predictions,
    types: &BTreeMap<String, TaskType>,
    topk: Option<&TopK>,
) -> Value {
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for i in 0..p.label.len() {
        groups
            .entry(("overall".into(), p.task[i].clone()))
            .or_default()
            .push(i);
        groups
            .entry((p.scenario[i].clone(), p.task[i].clone()))
            .or_default()
            .push(i);
    }
    let mut out = Map::new();
    for ((scen, task), rows) in groups {
        let ty = types.get(&task).copied().unwrap_or(TaskType::Binary);
        let users: Vec<&str> = rows.iter().map(|&i| p.user[i].as_str()).collect();
        let labels: Vec<f64> = rows.iter().map(|&i| p.label[i]).collect();
        let scores: Vec<f64> = rows.iter().map(|&i| p.score[i]).collect();
        let entry = out.entry(scen).or_insert_with(|| json!({}));
        if let Value::Object(o) = entry {
            o.insert(
                task,
                Value::Object(group_metrics(ty, &users, &labels, &scores)),
            );
        }
    }
    if let Some(t) = topk {
        out.insert("topk".into(), json!(t.means()));
    }
    Value::Object(out)
}

/// A named subset of rows (cold-start items, new users, an activity band...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Name; the report key is `slice:<name>`.
    pub name: String,
    /// Users in the slice (matched against the `user` column).
    pub users: HashSet<String>,
}

impl Slice {
    /// Slices of users by activity: each band `(name, lo, hi)` holds users with `lo <= rows < hi`
    /// in `counts` (e.g. training interactions per user; a user absent from `counts` has 0).
    pub fn by_activity(
        p: &Predictions,
        counts: &HashMap<String, usize>,
        bands: &[(&str, usize, usize)],
    ) -> Vec<Self> {
        bands
            .iter()
            .map(|&(name, lo, hi)| Self {
                name: name.to_string(),
                users: p
                    .user
                    .iter()
                    .filter(|u| {
                        let c = counts.get(*u).copied().unwrap_or(0);
                        lo <= c && c < hi
                    })
                    .cloned()
                    .collect(),
            })
            .collect()
    }
}

/// Adds `slice:<name>` entries (per task, the same metrics) to a report from [`breakdown`].
pub fn add_slices(
    report: &mut Value,
    p: &Predictions,
    types: &BTreeMap<String, TaskType>,
    slices: &[Slice],
) {
    let Value::Object(out) = report else { return };
    for slice in slices {
        let mut by_task: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for i in (0..p.label.len()).filter(|&i| slice.users.contains(&p.user[i])) {
            by_task.entry(p.task[i].as_str()).or_default().push(i);
        }
        let mut tasks = Map::new();
        for (task, rows) in by_task {
            let ty = types.get(task).copied().unwrap_or(TaskType::Binary);
            let users: Vec<&str> = rows.iter().map(|&i| p.user[i].as_str()).collect();
            let labels: Vec<f64> = rows.iter().map(|&i| p.label[i]).collect();
            let scores: Vec<f64> = rows.iter().map(|&i| p.score[i]).collect();
            tasks.insert(
                task.to_string(),
                Value::Object(group_metrics(ty, &users, &labels, &scores)),
            );
        }
        out.insert(format!("slice:{}", slice.name), Value::Object(tasks));
    }
}

/// Largest cut-off K.
pub const MAX_K: usize = 10_000;

/// Reads top-K lists: one JSON object per line, `{"user", "ranked": [...], "relevant": [...]}`
/// (a UTF-8 byte-order mark allowed). Every cut-off must be in `1..=MAX_K`; a user listed
/// twice and an item repeated in one ranked list are errors naming the line.
pub fn read_topk(path: &Path, ks: &[usize]) -> Result<TopK> {
    if ks.is_empty() {
        return Err(Error::Input("no top-K cut-off given".into()));
    }
    if let Some(k) = ks.iter().find(|&&k| !(1..=MAX_K).contains(&k)) {
        return Err(Error::Input(format!(
            "top-K cut-off K = {k}: must be in 1..={MAX_K}"
        )));
    }
    let bytes = crate::input::read_input(path)?;
    let mut acc = TopK::new(ks);
    let mut users: HashMap<String, usize> = HashMap::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = crate::input::utf8(path, n, "line", line)?;
        if line.trim().is_empty() {
            continue;
        }
        let row_err = |m: String| Error::Row {
            path: path.to_path_buf(),
            line: n,
            message: m,
        };
        let v: Value =
            serde_json::from_str(line).map_err(|e| row_err(format!("malformed JSON: {e}")))?;
        let list = |k: &str| -> Result<Vec<String>> {
            let a = v
                .get(k)
                .and_then(Value::as_array)
                .ok_or_else(|| row_err(format!("field `{k}` is missing or not a list")))?;
            Ok(a.iter().map(json_text).collect())
        };
        let user = v
            .get("user")
            .filter(|u| u.is_string() || u.is_number())
            .map(json_text)
            .ok_or_else(|| row_err("field `user` is missing or not a string or number".into()))?;
        if let Some(first) = users.insert(user.clone(), n) {
            return Err(row_err(format!(
                "field `user`: value {} is listed twice (first on line {first}); one line per user",
                quote(&user)
            )));
        }
        let ranked = list("ranked")?;
        let mut seen = HashSet::with_capacity(ranked.len());
        if let Some(item) = ranked.iter().find(|x| !seen.insert(x.as_str())) {
            return Err(row_err(format!(
                "field `ranked`: item {} appears twice in one ranked list",
                quote(item)
            )));
        }
        let relevant: HashSet<String> = list("relevant")?.into_iter().collect();
        acc.add(&ranked, &relevant);
    }
    Ok(acc)
}

fn json_text(x: &Value) -> String {
    x.as_str().map_or_else(|| x.to_string(), str::to_string)
}

/// A Markdown table of a report: one row per scenario x task, one column per metric.
pub fn to_markdown(report: &Value) -> String {
    let mut metrics: Vec<String> = Vec::new();
    let mut rows: Vec<(String, String, &Map<String, Value>)> = Vec::new();
    if let Value::Object(o) = report {
        for (scen, tasks) in o {
            if scen == "topk" {
                continue;
            }
            if let Value::Object(t) = tasks {
                for (task, m) in t {
                    let Value::Object(m) = m else { continue };
                    // A nested block (`"cold_items": {SCENARIO: {TASK: {...}}}`) becomes rows
                    // whose scenario reads `cold_items: SCENARIO`.
                    let nested = !m.is_empty() && m.values().all(Value::is_object);
                    let entries: Vec<(String, String, &Map<String, Value>)> = if nested {
                        m.iter()
                            .filter_map(|(t2, v)| {
                                v.as_object()
                                    .map(|v| (format!("{scen}: {task}"), t2.clone(), v))
                            })
                            .collect()
                    } else {
                        vec![(scen.clone(), task.clone(), m)]
                    };
                    for (sc, tk, m) in entries {
                        for k in m.keys() {
                            if !metrics.contains(k) {
                                metrics.push(k.clone());
                            }
                        }
                        rows.push((sc, tk, m));
                    }
                }
            }
        }
    }
    let mut s = format!(
        "| scenario | task | {} |\n|---|---|{}\n",
        metrics.join(" | "),
        "---|".repeat(metrics.len())
    );
    for (scen, task, m) in rows {
        let cells: Vec<String> = metrics
            .iter()
            .map(|k| m.get(k).map_or(String::new(), fmt_value))
            .collect();
        s.push_str(&format!("| {scen} | {task} | {} |\n", cells.join(" | ")));
    }
    if let Some(Value::Object(t)) = report.get("topk") {
        s.push_str("\n| top-K metric | value |\n|---|---|\n");
        for (k, v) in t {
            s.push_str(&format!("| {k} | {} |\n", fmt_value(v)));
        }
    }
    s
}

fn fmt_value(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => format!("{:.4}", n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    }
}
