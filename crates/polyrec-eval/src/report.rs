//! Predictions files, breakdowns per scenario x task, and JSON / Markdown reports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::pointwise::{auc, gauc, logloss, mae, rmse};
use crate::topk::TopK;
use crate::{Error, Result};

/// How a task is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskType {
    /// 0/1 labels, scores are probabilities: AUC, GAUC, LogLoss.
    Binary,
    /// Real labels: RMSE, MAE.
    Regression,
    /// Class labels, scores are predicted classes: accuracy, macro-F1.
    Multiclass,
}

impl std::str::FromStr for TaskType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "binary" => Ok(Self::Binary),
            "regression" => Ok(Self::Regression),
            "multiclass" => Ok(Self::Multiclass),
            o => Err(Error::Input(format!(
                "task type `{o}`: expected binary, regression or multiclass"
            ))),
        }
    }
}

/// Rows of a predictions file, column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predictions {
    /// Scenario per row.
    pub scenario: Vec<String>,
    /// Task per row.
    pub task: Vec<String>,
    /// User per row.
    pub user: Vec<String>,
    /// Label per row.
    pub label: Vec<f64>,
    /// Score per row.
    pub score: Vec<f64>,
}

impl Predictions {
    /// Reads a CSV with the header `scenario,task,user,label,score` (any column order).
    /// A malformed row is an error naming its line, field and value.
    pub fn read_csv(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let row_err = |line: usize, message: String| Error::Row {
            path: path.to_path_buf(),
            line,
            message,
        };
        let text = std::str::from_utf8(&text).map_err(|e| {
            let line = text[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            row_err(line, "invalid UTF-8".into())
        })?;
        let mut lines = text.lines().enumerate();
        let header: Vec<&str> = lines
            .next()
            .map(|(_, h)| h.split(',').map(str::trim).collect())
            .unwrap_or_default();
        let col = |name: &str| {
            header.iter().position(|h| *h == name).ok_or_else(|| {
                row_err(
                    1,
                    format!("missing column `{name}` (header: {})", header.join(",")),
                )
            })
        };
        let (cs, ct, cu, cl, cv) = (
            col("scenario")?,
            col("task")?,
            col("user")?,
            col("label")?,
            col("score")?,
        );
        let mut p = Self::default();
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() != header.len() {
                return Err(row_err(
                    i + 1,
                    format!("expected {} fields, found {}", header.len(), f.len()),
                ));
            }
            let num = |c: usize, name: &str| -> Result<f64> {
                f[c].parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        row_err(
                            i + 1,
                            format!("field `{name}`: value {:?} is not a finite number", f[c]),
                        )
                    })
            };
            p.label.push(num(cl, "label")?);
            p.score.push(num(cv, "score")?);
            p.scenario.push(f[cs].to_string());
            p.task.push(f[ct].to_string());
            p.user.push(f[cu].to_string());
        }
        Ok(p)
    }

    /// The type of each task: binary when every label is 0 or 1, else regression, unless
    /// `overrides` says otherwise.
    pub fn task_types(&self, overrides: &HashMap<String, TaskType>) -> BTreeMap<String, TaskType> {
        let mut out = BTreeMap::new();
        for (t, l) in self.task.iter().zip(&self.label) {
            let e = out.entry(t.clone()).or_insert(TaskType::Binary);
            if *l != 0.0 && *l != 1.0 {
                *e = TaskType::Regression;
            }
        }
        for (t, ty) in overrides {
            if let Some(e) = out.get_mut(t) {
                *e = *ty;
            }
        }
        out
    }
}

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
            let l: Vec<u32> = labels.iter().map(|v| *v as u32).collect();
            let s: Vec<u32> = scores.iter().map(|v| v.round().max(0.0) as u32).collect();
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

/// Reads top-K lists: one JSON object per line, `{"user", "ranked": [...], "relevant": [...]}`.
pub fn read_topk(path: &Path, ks: &[usize]) -> Result<TopK> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut acc = TopK::new(ks);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row_err = |m: String| Error::Row {
            path: path.to_path_buf(),
            line: i + 1,
            message: m,
        };
        let v: Value =
            serde_json::from_str(line).map_err(|e| row_err(format!("malformed JSON: {e}")))?;
        let list = |k: &str| -> Result<Vec<String>> {
            let a = v
                .get(k)
                .and_then(Value::as_array)
                .ok_or_else(|| row_err(format!("field `{k}` is missing or not a list")))?;
            Ok(a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect())
        };
        let ranked = list("ranked")?;
        let relevant: HashSet<String> = list("relevant")?.into_iter().collect();
        acc.add(&ranked, &relevant);
    }
    Ok(acc)
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
