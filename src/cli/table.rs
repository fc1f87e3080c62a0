//! Plain-text tables for the reports the CLI prints.

use std::collections::BTreeMap;

use crate::train::quality::Report;

/// Render rows of cells with columns padded to their widest cell; the first column is left-aligned and
/// the rest right-aligned, as numbers read best.
pub(super) fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 {
                out.push_str(&format!("{cell:<w$}"));
            } else {
                out.push_str(&format!("  {cell:>w$}"));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// The per-source quality table shared by `train`, `eval` and `cv`.
pub(super) fn quality(by_source: &BTreeMap<String, Report>, overall: &Report) -> String {
    let row = |name: &str, r: &Report| {
        vec![
            name.to_string(),
            r.n.to_string(),
            r.spam.to_string(),
            format!("{:.3}", r.f1),
            format!("{:.3}", r.precision),
            format!("{:.3}", r.recall),
            format!("{:.2}%", 100.0 * r.ham_rejected_rate),
            format!("{:.2}%", 100.0 * r.spam_accepted_rate),
            format!("{:.2}%", 100.0 * r.hold_rate),
        ]
    };
    let mut rows: Vec<Vec<String>> = by_source.iter().map(|(s, r)| row(s, r)).collect();
    rows.push(row("all", overall));
    render(
        &[
            "source",
            "rows",
            "spam",
            "F1",
            "precision",
            "recall",
            "ham rejected",
            "spam accepted",
            "held",
        ],
        &rows,
    )
}
