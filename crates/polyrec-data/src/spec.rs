//! Dataset specs: which files, their format, the role of each column, how texts, labels
//! and scenarios are derived. Loaded from TOML with unknown keys rejected.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A whole dataset description. See `docs/data-format.md` for every field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Name of the dataset, used in reports and cache keys.
    pub name: String,
    /// Folder that relative file paths resolve against. `${VAR}` expands a variable of the
    /// [`SpecVars`] the application passes; a relative folder resolves against the spec
    /// file's folder. Default: the spec file's folder.
    #[serde(default)]
    pub data_dir: Option<String>,
    /// Whether data paths may resolve outside the data folder (after `..`, symlinks and
    /// absolute paths are followed). Default `false`: such a path is an error, so a spec
    /// reads only what lies under its data folder. See `docs/security.md`.
    #[serde(default)]
    pub allow_outside_data_dir: bool,
    /// What to do with an invalid row.
    #[serde(default)]
    pub on_error: ErrorPolicy,
    /// With `on_error = "skip"`: where rejected rows are written (TSV). Default:
    /// `<name>.rejects.tsv` in the current directory, `<name>` reduced to letters, digits,
    /// `-`, `_` and `.` (never a path). It must not be one of the input files.
    #[serde(default)]
    pub reject_file: Option<PathBuf>,
    /// The interaction log.
    pub interactions: InteractionSpec,
    /// The user catalog, if any.
    #[serde(default)]
    pub users: Option<EntityFileSpec>,
    /// The item catalog, if any. Without one, items are the ids seen in interactions.
    #[serde(default)]
    pub items: Option<EntityFileSpec>,
    /// How each interaction's scenario is derived. Default: one scenario, `all`.
    #[serde(default)]
    pub scenario: Option<ScenarioSpec>,
    /// The tasks, in order.
    pub tasks: Vec<TaskSpec>,
    /// Knowledge-graph triples and item-entity links.
    #[serde(default)]
    pub kg: Option<KgSpec>,
    /// User-user edges (friendships, follows).
    #[serde(default)]
    pub social: Option<SocialSpec>,
    /// A tag log: users attaching free-text tags (topics) to items.
    #[serde(default)]
    pub tags: Option<TagSpec>,
    /// Personal data (e-mail, phone, card, IBAN, ID and IP numbers, URL credentials) masked
    /// in user-side text while loading: the `[users]` text and the `[interactions]` text,
    /// and every value quoted in a rejected row. Default: on, every kind, label masks
    /// (`[EMAIL]`, ...). See `docs/privacy.md`.
    #[serde(default)]
    pub privacy: polyrec_privacy::PrivacySpec,
}

/// Policy for invalid rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorPolicy {
    /// Stop with the first errors (at most [`crate::MAX_REPORTED_ERRORS`] are reported).
    #[default]
    Fail,
    /// Continue; every rejected row goes to the reject file, and counts are reported.
    Skip,
}

/// File formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RecBole atomic files: tab-separated, header of `name:type` pairs.
    Atomic,
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// Tab-separated values with a header row (no quoting).
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (feature `parquet`).
    Parquet,
    /// Whitespace/tab-separated columns without a header; columns are named `0`, `1`, ...
    Headerless,
}

impl Format {
    /// Guesses the format from a file name (a trailing `.gz` is ignored).
    pub fn from_path(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit('.').next()?;
        Some(match ext {
            "inter" | "user" | "item" | "kg" | "link" | "net" => Self::Atomic,
            "csv" => Self::Csv,
            "tsv" | "dat" => Self::Tsv,
            "jsonl" | "ndjson" | "json" => Self::Jsonl,
            "parquet" | "brotli" => Self::Parquet,
            "txt" => Self::Headerless,
            _ => return None,
        })
    }
}

/// A file reference with an optional explicit format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Path, relative to the data folder unless absolute.
    pub path: String,
    /// Format; guessed from the extension when absent.
    #[serde(default)]
    pub format: Option<Format>,
}

/// The interaction log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionSpec {
    /// The file.
    #[serde(flatten)]
    pub file: FileSpec,
    /// The user id column. Absent: every row is its own anonymous user (`row<line>`).
    #[serde(default)]
    pub user: Option<String>,
    /// The item id column.
    pub item: String,
    /// The timestamp column (seconds), if any.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Text attached to each interaction (e.g. a review), as a template.
    #[serde(default)]
    pub text: Option<String>,
}

/// A user or item catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityFileSpec {
    /// The file; absent for items means "derive items from the interaction log".
    #[serde(flatten, default)]
    pub file: Option<FileSpec>,
    /// The id column.
    pub id: String,
    /// Display name template, e.g. `"{movie_title} ({release_year})"`.
    #[serde(default)]
    pub name: Option<String>,
    /// Free-text template, e.g. `"{movie_title} ({release_year}). Genres: {class}"`.
    #[serde(default)]
    pub text: Option<String>,
    /// Categorical attribute columns (vocabulary with an out-of-vocabulary bucket).
    #[serde(default)]
    pub categorical: Vec<String>,
    /// Numeric attribute columns (missing values become NaN).
    #[serde(default)]
    pub numeric: Vec<String>,
}

/// Where a value is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The interaction row.
    #[default]
    Interaction,
    /// The row of the interaction's user in the user catalog.
    User,
    /// The row of the interaction's item in the item catalog.
    Item,
}

/// How scenarios are derived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Where the field is.
    #[serde(default)]
    pub from: Source,
    /// The field.
    pub field: String,
    /// Numeric buckets, in increasing order; a value goes to the first bucket whose `max`
    /// is >= the value (a bucket without `max` takes the rest). Without buckets every
    /// distinct value is a scenario.
    #[serde(default)]
    pub buckets: Vec<Bucket>,
}

/// A named numeric range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// Scenario name.
    pub name: String,
    /// Inclusive upper bound; absent for the last, open bucket.
    #[serde(default)]
    pub max: Option<f64>,
}

/// Task kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKindSpec {
    /// 0/1 label.
    Binary,
    /// Real-valued label.
    Regression,
    /// Class index label; the classes are the distinct values, numbered in order of first
    /// appearance (see [`crate::TaskKind::Multiclass`]).
    Multiclass,
}

/// One task and how its label is derived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Task name.
    pub name: String,
    /// Task kind.
    pub kind: TaskKindSpec,
    /// Where the field is.
    #[serde(default)]
    pub from: Source,
    /// The field the label comes from.
    pub field: String,
    /// Binary rule on a numeric field: label = value `op` `threshold`.
    #[serde(default)]
    pub rule: Option<Rule>,
    /// Binary rule on a categorical field: label = (value == `positive`).
    #[serde(default)]
    pub positive: Option<String>,
    /// Accepted range of the raw value (inclusive); outside it the row is rejected.
    #[serde(default)]
    pub range: Option<[f64; 2]>,
}

/// A numeric comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// One of `>=`, `>`, `<=`, `<`, `==`, `!=`.
    pub op: String,
    /// The threshold.
    pub threshold: f64,
}

impl Rule {
    pub(crate) fn apply(&self, v: f64) -> Option<bool> {
        Some(match self.op.as_str() {
            ">=" => v >= self.threshold,
            ">" => v > self.threshold,
            "<=" => v <= self.threshold,
            "<" => v < self.threshold,
            "==" => v == self.threshold,
            "!=" => v != self.threshold,
            _ => return None,
        })
    }
}

/// Knowledge-graph files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KgSpec {
    /// Triples file.
    pub triples: FileSpec,
    /// Columns of head, relation and tail.
    #[serde(default = "default_triple_columns")]
    pub columns: [String; 3],
    /// Item-to-entity links file.
    pub links: FileSpec,
    /// Columns of item id and entity id in the links file.
    #[serde(default = "default_link_columns")]
    pub link_columns: [String; 2],
    /// If given, only these relations are allowed; others are rejected rows.
    #[serde(default)]
    pub relations: Option<Vec<String>>,
    /// Optional entity names file (entity id, name).
    #[serde(default)]
    pub entity_names: Option<FileSpec>,
}

fn default_triple_columns() -> [String; 3] {
    ["head_id".into(), "relation_id".into(), "tail_id".into()]
}
fn default_link_columns() -> [String; 2] {
    ["item_id".into(), "entity_id".into()]
}

/// User-user edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocialSpec {
    /// The file.
    #[serde(flatten)]
    pub file: FileSpec,
    /// Source user column.
    pub user: String,
    /// Target user column.
    pub friend: String,
}

/// A tag log: which user attached which free-text tag to which item, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    /// The file.
    #[serde(flatten)]
    pub file: FileSpec,
    /// User id column; the user must be one the dataset knows.
    pub user: String,
    /// Item id column; the item must be one the dataset knows.
    pub item: String,
    /// The free-text tag column.
    pub tag: String,
    /// Optional timestamp column (seconds). Without it, a row's position in the file is its
    /// time, so "later" means "further down the file".
    #[serde(default)]
    pub timestamp: Option<String>,
}

impl DatasetSpec {
    /// Parses a spec from TOML text; `origin` names it in errors and anchors relative paths.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self> {
        // A TOML error quotes the line at fault: each line of the message is cut short, so
        // a file that is not a spec is not echoed.
        let spec: Self = toml::from_str(text).map_err(|e| {
            let message: Vec<String> = e
                .to_string()
                .lines()
                .map(crate::limits::truncate_for_message)
                .collect();
            Error::spec(origin, message.join("\n"))
        })?;
        spec.check(origin)?;
        Ok(spec)
    }

    /// Reads and parses a spec file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::limits::read_file_capped(path, 16 << 20, usize::MAX)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = memchr::memchr_iter(b'\n', bytes.get(..e.valid_up_to()).unwrap_or_default())
                .count()
                + 1;
            Error::spec(
                path,
                format!("line {line}: invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })?;
        Self::from_toml_str(text, path)
    }

    fn check(&self, origin: &Path) -> Result<()> {
        self.privacy
            .validate()
            .map_err(|e| Error::spec(origin, format!("[privacy]: {e}")))?;
        if self.tasks.is_empty() {
            return Err(Error::spec(
                origin,
                "at least one [[tasks]] entry is needed",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.tasks.iter().enumerate() {
            check_task_name(origin, i, &t.name)?;
            if !names.insert(&t.name) {
                return Err(Error::spec(
                    origin,
                    format!("task `{}` is defined twice", t.name),
                ));
            }
            if let Some(r) = &t.rule
                && r.apply(0.0).is_none()
            {
                return Err(Error::spec(
                    origin,
                    format!(
                        "task `{}`: unknown rule op `{}` (use >=, >, <=, <, ==, !=)",
                        t.name, r.op
                    ),
                ));
            }
            check_task_numbers(origin, t)?;
            if t.from == Source::User && self.users.is_none() {
                return Err(Error::spec(
                    origin,
                    format!(
                        "task `{}` reads the user catalog, but there is no [users]",
                        t.name
                    ),
                ));
            }
        }
        if let Some(s) = &self.scenario {
            if s.from == Source::User && self.users.is_none() {
                return Err(Error::spec(
                    origin,
                    "scenario reads the user catalog, but there is no [users]",
                ));
            }
            let open = s.buckets.iter().filter(|b| b.max.is_none()).count();
            if open > 1 || s.buckets.iter().rev().skip(1).any(|b| b.max.is_none()) {
                return Err(Error::spec(
                    origin,
                    "only the last scenario bucket may omit `max`",
                ));
            }
            check_buckets(origin, &s.buckets)?;
        }
        self.check_user_column(origin)?;
        if let Some(items) = &self.items
            && items.file.is_none()
            && (!items.categorical.is_empty() || !items.numeric.is_empty())
        {
            return Err(Error::spec(
                origin,
                "[items] without a `path` takes names and texts from the interaction rows, \
                     but not `categorical` or `numeric` attributes: give the item file",
            ));
        }
        Ok(())
    }

    /// A `[users]` catalog, or a task or scenario that reads it, needs the log's `user`
    /// column: without it every row is its own anonymous user, whom no catalog row names.
    fn check_user_column(&self, origin: &Path) -> Result<()> {
        if self.interactions.user.is_some() {
            return Ok(());
        }
        let reader = self
            .tasks
            .iter()
            .find(|t| t.from == Source::User)
            .map(|t| format!("task `{}` reads", t.name))
            .or_else(|| {
                self.scenario
                    .as_ref()
                    .filter(|s| s.from == Source::User)
                    .map(|_| "the scenario reads".to_string())
            })
            .or_else(|| self.users.as_ref().map(|_| "there is".to_string()));
        match reader {
            Some(what) => Err(Error::spec(
                origin,
                format!(
                    "{what} the user catalog [users], but [interactions] has no `user` column \
                     to match its rows to users: set `user = \"<column>\"` in [interactions]"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The file name of the default reject file: `<name>.rejects.tsv`, with the name
    /// reduced to ASCII letters, digits, `-`, `_` and `.`, and no leading `.`, so that no
    /// name (`../../x`, `/etc/x`) makes it a path.
    pub fn default_reject_file(&self) -> PathBuf {
        let safe: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let safe = safe.trim_start_matches('.');
        let safe = if safe.is_empty() { "dataset" } else { safe };
        PathBuf::from(format!("{safe}.rejects.tsv"))
    }

    /// Where rejected rows go: `reject_file`, else [`DatasetSpec::default_reject_file`].
    pub fn reject_path(&self) -> PathBuf {
        self.reject_file
            .clone()
            .unwrap_or_else(|| self.default_reject_file())
    }

    /// The reject file must not be the spec file itself (the load checks it against the
    /// data files). Call it where the spec's path is known, before loading.
    pub fn check_outputs(&self, spec_path: &Path) -> Result<()> {
        let reject = self.reject_path();
        if crate::persist::same_file(&reject, spec_path) {
            return Err(Error::Path {
                path: reject,
                message: format!(
                    "the reject file is the spec {}; writing it would destroy the spec: name \
                     another `reject_file`",
                    spec_path.display()
                ),
            });
        }
        Ok(())
    }

    /// The folder relative paths resolve against, given the spec file's location, an
    /// optional override (which wins) and the variables `data_dir` may name as `${VAR}`.
    pub fn resolve_data_dir(
        &self,
        spec_path: &Path,
        overridden: Option<&Path>,
        vars: &SpecVars,
    ) -> Result<PathBuf> {
        if let Some(dir) = overridden {
            return Ok(dir.to_path_buf());
        }
        let base = spec_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let Some(raw) = &self.data_dir else {
            return Ok(base);
        };
        let expanded = expand_vars(raw, vars).map_err(|var| {
            Error::spec(
                spec_path,
                format!(
                    "data_dir `{raw}` uses ${{{var}}}, which is not set (pass the data folder, \
                     or the variable)"
                ),
            )
        })?;
        let p = PathBuf::from(expanded);
        Ok(if p.is_absolute() { p } else { base.join(p) })
    }

    /// A stable digest of the spec (for cache keys).
    pub fn digest(&self) -> String {
        let text = toml::to_string(self).unwrap_or_default();
        crate::persist::hex_digest(text.as_bytes())
    }
}

/// A task's numbers must be usable: a finite rule threshold, a finite range with
/// `lo <= hi`.
fn check_task_numbers(origin: &Path, t: &TaskSpec) -> Result<()> {
    if let Some(r) = &t.rule
        && !r.threshold.is_finite()
    {
        return Err(Error::spec(
            origin,
            format!(
                "task `{}`: rule threshold = {} is not a finite number",
                t.name, r.threshold
            ),
        ));
    }
    if let Some([lo, hi]) = t.range
        && (!lo.is_finite() || !hi.is_finite() || lo > hi)
    {
        return Err(Error::spec(
            origin,
            format!(
                "task `{}`: range = [{lo}, {hi}] must be two finite numbers, low first",
                t.name
            ),
        ));
    }
    Ok(())
}

/// Scenario buckets: every `max` finite, strictly increasing.
fn check_buckets(origin: &Path, buckets: &[Bucket]) -> Result<()> {
    let mut previous: Option<(&str, f64)> = None;
    for b in buckets {
        let Some(max) = b.max else { continue };
        if !max.is_finite() {
            return Err(Error::spec(
                origin,
                format!(
                    "scenario bucket `{}`: max = {max} is not a finite number",
                    b.name
                ),
            ));
        }
        if let Some((name, p)) = previous
            && max <= p
        {
            return Err(Error::spec(
                origin,
                format!(
                    "scenario bucket `{}`: max = {max} does not increase on bucket `{name}` \
                     (max = {p}); buckets must be in strictly increasing order",
                    b.name
                ),
            ));
        }
        previous = Some((&b.name, max));
    }
    Ok(())
}

/// A task name must be non-empty and free of `.`: `.` separates the segments of libtorch
/// `VarStore` parameter paths (`tower.0.weight`), and a name that may reach one must not
/// split it (tch panics on such a segment).
fn check_task_name(origin: &Path, index: usize, name: &str) -> Result<()> {
    let reason = if name.trim().is_empty() {
        "is empty"
    } else if name.contains('.') {
        "contains `.`, which separates model parameter paths; use `_` or `-` instead"
    } else {
        return Ok(());
    };
    Err(Error::spec(
        origin,
        format!("tasks[{index}].name = {name:?} {reason}"),
    ))
}

/// The variables a spec's `data_dir` may name as `${VAR}`. The library reads no
/// environment: the application builds this map (the facade's `polyrec::setup::spec_vars`
/// takes the process environment and the set-up's folders), and a spec that names a
/// variable missing from it is an error that names the variable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecVars(std::collections::BTreeMap<String, String>);

impl SpecVars {
    /// No variables: a spec that names one fails to resolve.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces one variable.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds or replaces one variable.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The value of a variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for SpecVars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Expands `${VAR}` from `vars`; returns the name of the first missing variable as the
/// error.
fn expand_vars(raw: &str, vars: &SpecVars) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        out.push_str(vars.get(var).ok_or_else(|| var.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A `{field}` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<(String, Option<usize>)>,
}

impl Template {
    /// Compiles a template against a header: each `{name}` must be a column.
    pub(crate) fn compile(text: &str, header: &[String], file: &Path) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + close];
            let idx = column(header, name, file)?;
            parts.push((rest[..open].to_string(), None));
            parts.push((String::new(), Some(idx)));
            rest = &rest[open + close + 1..];
        }
        parts.push((rest.to_string(), None));
        Ok(Self { parts })
    }

    /// Renders with the row's fields; `None` when every referenced field is empty.
    pub(crate) fn render(&self, fields: &[&str]) -> Option<String> {
        let mut out = String::new();
        let mut any = false;
        for (lit, idx) in &self.parts {
            out.push_str(lit);
            if let Some(i) = idx {
                let v = fields.get(*i).map(|s| s.trim()).unwrap_or("");
                any |= !v.is_empty();
                out.push_str(v);
            }
        }
        any.then(|| out.trim().to_string())
    }
}

/// Column name -> index lookup with a clear error.
pub(crate) fn column(header: &[String], name: &str, file: &Path) -> Result<usize> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| missing_column(header, name, file))
}

/// The error for a column the header lacks: the header as read (truncated), and a hint
/// when a one-column header holds commas (a CSV file read as tab-separated).
fn missing_column(header: &[String], name: &str, file: &Path) -> Error {
    let mut available = crate::limits::truncate_for_message(&header.join(", "));
    if let [one] = header
        && one.contains(',')
    {
        available.push_str(
            " -- one column whose name holds commas: the file looks comma-separated, but is \
             read as tab-separated; set `format = \"csv\"` for it in the spec",
        );
    }
    Error::MissingColumn {
        file: file.to_path_buf(),
        column: name.to_string(),
        available,
    }
}
