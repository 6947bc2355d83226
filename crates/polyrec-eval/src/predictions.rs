//! Predictions files (`scenario,task,user,label,score`, RFC 4180 CSV) and the strict
//! semantics of their labels and scores: what makes a task binary, regression or
//! multiclass, and which values each accepts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::input::{quote, read_input, utf8};
use crate::{Error, Result};

/// Largest class index a multiclass label or predicted class may have.
pub const MAX_CLASS: u32 = 65_535;

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
                "task type {}: expected binary, regression or multiclass",
                quote(o)
            ))),
        }
    }
}

/// What the scores of binary tasks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreScale {
    /// Probabilities in [0, 1]; a score outside is an error.
    #[default]
    Probability,
    /// Logits (any finite value); the sigmoid turns them into probabilities.
    Logit,
}

impl std::str::FromStr for ScoreScale {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "probabilities" | "probability" => Ok(Self::Probability),
            "logits" | "logit" => Ok(Self::Logit),
            o => Err(Error::Input(format!(
                "score scale {}: expected probabilities or logits",
                quote(o)
            ))),
        }
    }
}

/// Rows of a predictions file, column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predictions {
    /// The file read (empty when built in memory).
    pub file: PathBuf,
    /// Line of each row in the file (1-based; the header is line 1).
    pub line: Vec<usize>,
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

/// Scenario names the report uses for its own entries.
fn reserved(scenario: &str) -> bool {
    scenario == "overall" || scenario == "topk" || scenario.starts_with("slice:")
}

impl Predictions {
    /// Reads a CSV with the header `scenario,task,user,label,score` (any column order;
    /// RFC 4180 quoting, a UTF-8 byte-order mark allowed). A malformed row is an error
    /// naming its line, field and value.
    pub fn read_csv(path: &Path) -> Result<Self> {
        let bytes = read_input(path)?;
        let row_err = |line: usize, message: String| Error::Row {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&bytes[..]);
        let mut rec = csv::ByteRecord::new();
        let mut header: Vec<String> = Vec::new();
        let mut cols = [0usize; 5];
        let mut p = Self {
            file: path.to_path_buf(),
            ..Self::default()
        };
        loop {
            let before = rdr.position().line() as usize;
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(before, |p| p.line() as usize);
                    return Err(row_err(line, format!("malformed CSV: {e}")));
                }
            }
            let line = rec.position().map_or(before, |p| p.line() as usize);
            let mut fields = Vec::with_capacity(rec.len());
            for (i, f) in rec.iter().enumerate() {
                let name = header.get(i).map_or("header", String::as_str);
                fields.push(utf8(path, line, &format!("field `{name}`"), f)?.trim());
            }
            if fields.iter().all(|f| f.is_empty()) {
                continue;
            }
            if header.is_empty() {
                header = fields.iter().map(|s| s.to_string()).collect();
                for (slot, name) in cols
                    .iter_mut()
                    .zip(["scenario", "task", "user", "label", "score"])
                {
                    *slot = header.iter().position(|h| h == name).ok_or_else(|| {
                        row_err(
                            line,
                            format!(
                                "missing column `{name}` (header: {}); expected \
                                 scenario,task,user,label,score",
                                quote(&header.join(","))
                            ),
                        )
                    })?;
                }
                continue;
            }
            if fields.len() != header.len() {
                return Err(row_err(
                    line,
                    format!("expected {} fields, found {}", header.len(), fields.len()),
                ));
            }
            p.push(line, &fields, cols, &row_err)?;
        }
        if header.is_empty() {
            return Err(row_err(1, "empty file: no header".into()));
        }
        Ok(p)
    }

    fn push(
        &mut self,
        line: usize,
        f: &[&str],
        [cs, ct, cu, cl, cv]: [usize; 5],
        row_err: &dyn Fn(usize, String) -> Error,
    ) -> Result<()> {
        let num = |c: usize, name: &str| -> Result<f64> {
            let raw = f.get(c).copied().unwrap_or_default();
            raw.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    row_err(
                        line,
                        format!(
                            "field `{name}`: value {} is not a finite number",
                            quote(raw)
                        ),
                    )
                })
        };
        let text = |c: usize| f.get(c).copied().unwrap_or_default().to_string();
        self.label.push(num(cl, "label")?);
        self.score.push(num(cv, "score")?);
        self.scenario.push(text(cs));
        self.task.push(text(ct));
        self.user.push(text(cu));
        self.line.push(line);
        Ok(())
    }

    /// The type each task's labels suggest: binary when every label is 0 or 1, else
    /// regression, unless `overrides` says otherwise. Lenient; [`Predictions::validate`] is
    /// the strict form the `metrics` command uses.
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

    /// The type of every task, checked against every row, with binary scores made
    /// probabilities:
    /// - a task named in `overrides` must be in the file, and takes that type;
    /// - otherwise a task whose labels are all 0 or 1 is binary, one with a label that is
    ///   not an integer is regression, and one with integer labels other than 0 and 1 is
    ///   an error (say its type);
    /// - binary labels must be 0 or 1; binary scores must be in [0, 1] under
    ///   [`ScoreScale::Probability`], and go through the sigmoid under
    ///   [`ScoreScale::Logit`];
    /// - multiclass labels and predicted classes must be integers in `0..=MAX_CLASS`.
    pub fn validate(
        &mut self,
        overrides: &HashMap<String, TaskType>,
        scale: ScoreScale,
    ) -> Result<BTreeMap<String, TaskType>> {
        let known: BTreeMap<&str, usize> = self
            .task
            .iter()
            .enumerate()
            .rev()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        if let Some(name) = overrides.keys().find(|t| !known.contains_key(t.as_str())) {
            return Err(Error::Input(format!(
                "task {} is not in {} (its tasks: {})",
                quote(name),
                self.file.display(),
                known.keys().copied().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut types = BTreeMap::new();
        for &task in known.keys() {
            let ty = match overrides.get(task) {
                Some(ty) => *ty,
                None => self.inferred_type(task)?,
            };
            types.insert(task.to_string(), ty);
        }
        for i in 0..self.label.len() {
            let ty = types
                .get(&self.task[i])
                .copied()
                .unwrap_or(TaskType::Binary);
            self.check_row(i, ty, scale)?;
        }
        if let Some(i) = (0..self.scenario.len()).find(|&i| reserved(&self.scenario[i])) {
            return Err(self.row_error(
                i,
                format!(
                    "field `scenario`: value {} is a key of the report (overall, topk, \
                     slice:...); rename the scenario",
                    quote(&self.scenario[i])
                ),
            ));
        }
        Ok(types)
    }

    fn row_error(&self, i: usize, message: String) -> Error {
        Error::Row {
            path: self.file.clone(),
            line: self.line.get(i).copied().unwrap_or(i + 2),
            message,
        }
    }

    fn inferred_type(&self, task: &str) -> Result<TaskType> {
        let rows = || (0..self.label.len()).filter(move |&i| self.task[i] == task);
        if rows().all(|i| self.label[i] == 0.0 || self.label[i] == 1.0) {
            return Ok(TaskType::Binary);
        }
        if rows().any(|i| self.label[i].fract() != 0.0) {
            return Ok(TaskType::Regression);
        }
        let i = rows()
            .find(|&i| self.label[i] != 0.0 && self.label[i] != 1.0)
            .unwrap_or_default();
        Err(self.row_error(
            i,
            format!(
                "task {}: label {} is an integer other than 0 and 1, so the task could be \
                 binary (then it is a wrong label), regression or multiclass: say which with \
                 --task {task}=binary|regression|multiclass",
                quote(task),
                self.label[i]
            ),
        ))
    }

    fn check_row(&mut self, i: usize, ty: TaskType, scale: ScoreScale) -> Result<()> {
        let (label, score) = (self.label[i], self.score[i]);
        match ty {
            TaskType::Binary => {
                if label != 0.0 && label != 1.0 {
                    return Err(self.row_error(
                        i,
                        format!(
                            "field `label`: value {label} of binary task {} must be 0 or 1",
                            quote(&self.task[i])
                        ),
                    ));
                }
                match scale {
                    ScoreScale::Logit => self.score[i] = 1.0 / (1.0 + (-score).exp()),
                    ScoreScale::Probability if !(0.0..=1.0).contains(&score) => {
                        return Err(self.row_error(
                            i,
                            format!(
                                "field `score`: value {score} of binary task {} is not a \
                                 probability in [0, 1]; if the scores are logits, say \
                                 --scores logits",
                                quote(&self.task[i])
                            ),
                        ));
                    }
                    ScoreScale::Probability => {}
                }
            }
            TaskType::Multiclass => {
                for (name, v) in [("label", label), ("score", score.round())] {
                    if v.fract() != 0.0 || !(0.0..=f64::from(MAX_CLASS)).contains(&v) {
                        return Err(self.row_error(
                            i,
                            format!(
                                "field `{name}`: value {v} of multiclass task {} is not a \
                                 class index in 0..={MAX_CLASS}",
                                quote(&self.task[i])
                            ),
                        ));
                    }
                }
            }
            TaskType::Regression => {}
        }
        Ok(())
    }
}
