//! Task labels and scenarios, derived from raw values. Errors are reasons, which the caller
//! turns into a rejected row naming the file, line and field.

use crate::spec::{TaskKindSpec, TaskSpec};

use crate::limits::{MAX_CLASSES, MAX_SCENARIOS};

use super::{Loader, parse_num};

/// A finite `f64` as a finite `f32`, or the reason it is not one.
pub(super) fn to_f32(v: f64) -> std::result::Result<f32, String> {
    let f = v as f32;
    if f.is_finite() {
        Ok(f)
    } else {
        Err(format!(
            "{v} does not fit in a 32-bit float (magnitude above {:e})",
            f32::MAX
        ))
    }
}

impl Loader<'_> {
    /// Derives the label of task `t` from a raw value. Errors are reasons.
    pub(super) fn label(&mut self, t: usize, raw: &str) -> std::result::Result<f32, String> {
        let task: &TaskSpec = &self.spec.tasks[t];
        let raw = raw.trim();
        if task.kind == TaskKindSpec::Multiclass {
            if raw.is_empty() {
                return Err("empty class label".into());
            }
            if self.classes[t].get(raw).is_none() && self.classes[t].len() >= MAX_CLASSES {
                return Err(self.limit(format!(
                    "task `{}` would have more than {MAX_CLASSES} classes; a multiclass \
                     label names a class, and this many are not classes (a regression task?)",
                    task.name
                )));
            }
            return Ok(self.classes[t].insert(raw).0 as f32);
        }
        if let Some(pos) = &task.positive {
            if raw.is_empty() {
                return Err("empty label".into());
            }
            return Ok(f32::from(u8::from(raw == pos)));
        }
        let binary = task.kind == TaskKindSpec::Binary;
        let v = match raw {
            _ if binary && raw.eq_ignore_ascii_case("true") => 1.0,
            _ if binary && raw.eq_ignore_ascii_case("false") => 0.0,
            _ => parse_num(raw).ok_or_else(|| {
                if raw.eq_ignore_ascii_case("nan") {
                    "NaN is not a valid label".to_string()
                } else {
                    "not a finite number".to_string()
                }
            })?,
        };
        if let Some([lo, hi]) = task.range
            && (v < lo || v > hi)
        {
            return Err(format!("label out of range [{lo}, {hi}]"));
        }
        if let Some(rule) = &task.rule {
            return Ok(f32::from(u8::from(rule.apply(v).unwrap_or(false))));
        }
        if task.kind == TaskKindSpec::Binary && v != 0.0 && v != 1.0 {
            return Err("binary label must be 0 or 1".into());
        }
        to_f32(v)
    }

    /// The scenario of a raw value: the value itself, or the bucket it falls in; `all`
    /// when the spec defines no scenarios.
    pub(super) fn scenario_of(&mut self, raw: &str) -> std::result::Result<String, String> {
        let Some(s) = &self.spec.scenario else {
            return Ok("all".into());
        };
        let raw = raw.trim();
        if s.buckets.is_empty() {
            if raw.is_empty() {
                return Err("empty scenario value".into());
            }
            if self.scenarios.get(raw).is_none() && self.scenarios.len() >= MAX_SCENARIOS {
                return Err(self.limit(format!(
                    "field `{}` would give more than {MAX_SCENARIOS} scenarios (a scenario id \
                     is 16 bits); group its values with `buckets` or pick a coarser field",
                    s.field
                )));
            }
            return Ok(raw.to_string());
        }
        let v = parse_num(raw).ok_or_else(|| "scenario value is not a number".to_string())?;
        s.buckets
            .iter()
            .find(|b| b.max.is_none_or(|m| v <= m))
            .map(|b| b.name.clone())
            .ok_or_else(|| "value is above every scenario bucket".to_string())
    }
}
