//! Plots as self-contained SVG: grouped bars of a metric per scenario for several models,
//! training curves from a per-epoch log, and trade-off curves of two metrics.
//!
//! The training log is JSON Lines, one object per measurement:
//! `{"epoch": 3, "split": "valid", "task": "like", "metric": "auc", "value": 0.79}`.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

const COLORS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Grouped bar chart: `values[model][scenario]` of one metric.
pub fn bars_svg(title: &str, scenarios: &[String], models: &[(String, Vec<f64>)]) -> String {
    let (w, h, left, bottom, top) = (720.0, 400.0, 60.0, 60.0, 40.0);
    let max = models
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let plot_w = w - left - 20.0;
    let plot_h = h - bottom - top;
    let group_w = plot_w / scenarios.len().max(1) as f64;
    let bar_w = group_w * 0.8 / models.len().max(1) as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{}</text>",
        w / 2.0,
        esc(title)
    );
    for t in 0..=4 {
        let v = max * f64::from(t) / 4.0;
        let y = top + plot_h - plot_h * f64::from(t) / 4.0;
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.3}</text>",
            w - 20.0,
            left - 5.0,
            y + 4.0
        );
    }
    for (g, scen) in scenarios.iter().enumerate() {
        let gx = left + group_w * g as f64 + group_w * 0.1;
        for (m, (_, vals)) in models.iter().enumerate() {
            let v = vals
                .get(g)
                .copied()
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            let bh = plot_h * v / max;
            let _ = writeln!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{v:.4}</title></rect>",
                gx + bar_w * m as f64,
                top + plot_h - bh,
                COLORS[m % COLORS.len()]
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            gx + group_w * 0.4,
            top + plot_h + 18.0,
            esc(scen)
        );
    }
    for (m, (name, _)) in models.iter().enumerate() {
        let x = left + 130.0 * m as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            h - 22.0,
            COLORS[m % COLORS.len()],
            x + 16.0,
            h - 12.0,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// One measurement of a training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Epoch (0-based or 1-based, as the trainer writes it).
    pub epoch: u32,
    /// `train`, `valid`, ...
    pub split: String,
    /// Task name.
    pub task: String,
    /// Metric name.
    pub metric: String,
    /// Value.
    pub value: f64,
}

/// Line chart of every (split, task, metric) series of a training log over epochs.
pub fn curves_svg(title: &str, log: &[LogEntry]) -> String {
    let mut series: BTreeMap<String, Vec<(u32, f64)>> = BTreeMap::new();
    for e in log.iter().filter(|e| e.value.is_finite()) {
        series
            .entry(format!("{} {} {}", e.split, e.task, e.metric))
            .or_default()
            .push((e.epoch, e.value));
    }
    let (w, h, left, top, bottom) = (720.0, 400.0, 60.0, 40.0, 70.0);
    let max_e = log.iter().map(|e| e.epoch).max().unwrap_or(1).max(1) as f64;
    let min_e = log.iter().map(|e| e.epoch).min().unwrap_or(0) as f64;
    let (lo, hi) = log
        .iter()
        .filter(|e| e.value.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), e| {
            (a.min(e.value), b.max(e.value))
        });
    let (lo, hi) = if lo < hi {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    };
    let (pw, ph) = (w - left - 20.0, h - top - bottom);
    let x = |e: f64| left + pw * (e - min_e) / (max_e - min_e).max(1.0);
    let y = |v: f64| top + ph - ph * (v - lo) / (hi - lo);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{}</text>",
        w / 2.0,
        esc(title)
    );
    for t in 0..=4 {
        let v = lo + (hi - lo) * f64::from(t) / 4.0;
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.3}</text>",
            w - 20.0,
            y(v),
            y(v),
            left - 5.0,
            y(v) + 4.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">epoch</text>",
        left + pw / 2.0,
        top + ph + 30.0
    );
    for (i, (name, mut pts)) in series.into_iter().enumerate() {
        pts.sort_by_key(|p| p.0);
        let path: Vec<String> = pts
            .iter()
            .map(|(e, v)| format!("{:.1},{:.1}", x(f64::from(*e)), y(*v)))
            .collect();
        let c = COLORS[i % COLORS.len()];
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        let lx = left + 170.0 * (i % 4) as f64;
        let ly = h - 28.0 + 14.0 * (i / 4) as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            ly - 4.0,
            lx + 16.0,
            ly,
            esc(&name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A trade-off curve: labelled points `(label, x, y)` joined in the given order (e.g.
/// NDCG@10 against ILD@10 for a few diversity weights).
pub fn tradeoff_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(String, f64, f64)],
) -> String {
    let pts: Vec<&(String, f64, f64)> = points
        .iter()
        .filter(|p| p.1.is_finite() && p.2.is_finite())
        .collect();
    let (w, h, left, top, bottom) = (640.0, 420.0, 70.0, 40.0, 50.0);
    let range = |f: fn(&(String, f64, f64)) -> f64| {
        let (lo, hi) = pts
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(f(p)), b.max(f(p)))
            });
        if lo < hi {
            let pad = (hi - lo) * 0.08;
            (lo - pad, hi + pad)
        } else if lo.is_finite() {
            (lo - 0.5, lo + 0.5)
        } else {
            (0.0, 1.0)
        }
    };
    let (x0, x1) = range(|p| p.1);
    let (y0, y1) = range(|p| p.2);
    let (pw, ph) = (w - left - 30.0, h - top - bottom);
    let x = |v: f64| left + pw * (v - x0) / (x1 - x0);
    let y = |v: f64| top + ph - ph * (v - y0) / (y1 - y0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{}</text>",
        w / 2.0,
        esc(title)
    );
    for t in 0..=4 {
        let (vx, vy) = (
            x0 + (x1 - x0) * f64::from(t) / 4.0,
            y0 + (y1 - y0) * f64::from(t) / 4.0,
        );
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{vy:.3}</text>",
            left + pw,
            y(vy),
            y(vy),
            left - 5.0,
            y(vy) + 4.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{vx:.3}</text>",
            x(vx),
            top + ph + 16.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        left + pw / 2.0,
        h - 10.0,
        esc(x_label)
    );
    let _ = writeln!(
        s,
        "<text x=\"16\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">{}</text>",
        top + ph / 2.0,
        top + ph / 2.0,
        esc(y_label)
    );
    let path: Vec<String> = pts
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.1), y(p.2)))
        .collect();
    let _ = writeln!(
        s,
        "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
        COLORS[0],
        path.join(" ")
    );
    for p in &pts {
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x(p.1),
            y(p.2),
            COLORS[1],
            x(p.1) + 6.0,
            y(p.2) - 6.0,
            esc(&p.0)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tradeoff_tests {
    use super::tradeoff_svg;

    #[test]
    fn a_tradeoff_plot_draws_every_finite_point_with_its_label() {
        let pts = vec![
            ("d=0".to_string(), 0.52, 0.091),
            ("d=0.5".to_string(), 0.61, 0.085),
            ("bad".to_string(), f64::NAN, 0.1),
        ];
        let svg = tradeoff_svg("NDCG vs ILD", "ILD@10", "NDCG@10", &pts);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">d=0.5<") && !svg.contains(">bad<"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // One point alone, or none, still draws.
        assert!(tradeoff_svg("t", "x", "y", &pts[..1]).contains("<circle"));
        assert!(tradeoff_svg("t", "x", "y", &[]).contains("</svg>"));
    }
}
