//! Labelled training and evaluation data: JSON Lines (one object a line: `text`, `label`, `source`,
//! `group`, …; see docs/model.md) or CSV with a header.
//!
//! A bad row (invalid JSON, missing text, unknown label) is reported with its file and line. By default the
//! first one stops the read, because a silently shortened training set gives a model nobody asked for;
//! `skip_bad_rows` collects them instead so the caller can report how many were dropped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Number of hash buckets for rows that carry no `group`, mirroring the ten buckets of the SMS sets.
pub const UNGROUPED_BUCKETS: u64 = 10;

/// Errors reading a data file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A row is unusable and bad rows are not being skipped.
    #[error("{0}")]
    BadRow(BadRow),
    /// A CSV file lacks a required column.
    #[error("{path}: the CSV header has no `{column}` column")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: &'static str,
    },
    /// The file extension says neither JSONL nor CSV.
    #[error("{path}: unknown data format (expected .jsonl, .json or .csv)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
}

/// One unusable row: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// The file.
    pub path: PathBuf,
    /// The line, counting from 1 (for CSV, the record's line).
    pub line: u64,
    /// What is wrong, e.g. "unknown label `maybe`".
    pub problem: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.problem)
    }
}

/// The class a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Label {
    /// A real reader's words.
    Ham,
    /// Spam.
    Spam,
}

impl Label {
    /// Parse the labels the corpora use (`spam`/`ham`, also `1`/`0`, case-insensitive).
    pub fn parse(s: &str) -> Option<Label> {
        match s.trim().to_ascii_lowercase().as_str() {
            "spam" | "1" | "true" => Some(Label::Spam),
            "ham" | "0" | "false" | "not_spam" => Some(Label::Ham),
            _ => None,
        }
    }

    /// The label as written in data files.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Ham => "ham",
            Label::Spam => "spam",
        }
    }

    /// Class index used by the model: ham 0, spam 1.
    pub fn index(self) -> usize {
        match self {
            Label::Ham => 0,
            Label::Spam => 1,
        }
    }
}

/// One labelled example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The comment body.
    pub text: String,
    /// Spam or ham.
    pub label: Label,
    /// Which data set it came from (the row's `source`, else the file name without extension).
    pub source: String,
    /// The group that must stay on one side of a split (the row's `group`, else a hash bucket of the text).
    pub group: String,
    /// Optional form fields.
    pub author: Option<String>,
    /// The commenter's website.
    pub author_url: Option<String>,
    /// The commenter's e-mail address.
    pub author_email: Option<String>,
    /// Language hint.
    pub lang: Option<String>,
}

impl Example {
    /// The example as the tokenizer sees it.
    pub fn document(&self) -> crate::model::tokenize::Document<'_> {
        crate::model::tokenize::Document {
            text: &self.text,
            author: self.author.as_deref(),
            author_url: self.author_url.as_deref(),
            author_email: self.author_email.as_deref(),
            lang: self.lang.as_deref(),
        }
    }
}

/// What was read from one or more files.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The usable rows, in file order.
    pub examples: Vec<Example>,
    /// Rows that were skipped (only when skipping was asked for).
    pub skipped: Vec<BadRow>,
}

#[derive(Debug, Deserialize)]
struct RawRow {
    text: Option<String>,
    label: Option<serde_json::Value>,
    source: Option<String>,
    group: Option<serde_json::Value>,
    author: Option<String>,
    author_url: Option<String>,
    author_email: Option<String>,
    lang: Option<String>,
}

/// Read every file in `paths` into one list.
pub fn read_all(paths: &[PathBuf], skip_bad_rows: bool) -> Result<Loaded, Error> {
    let mut loaded = Loaded::default();
    for p in paths {
        read_into(p, skip_bad_rows, &mut loaded)?;
    }
    Ok(loaded)
}

/// Read one file, appending to `loaded`.
pub fn read_into(path: &Path, skip_bad_rows: bool, loaded: &mut Loaded) -> Result<(), Error> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let default_source = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("data")
        .to_string();
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut sink = |row: Result<Example, BadRow>| -> Result<(), Error> {
        match row {
            Ok(e) => loaded.examples.push(e),
            Err(bad) if skip_bad_rows => loaded.skipped.push(bad),
            Err(bad) => return Err(Error::BadRow(bad)),
        }
        Ok(())
    };
    match ext.as_deref() {
        Some("jsonl") | Some("json") | Some("ndjson") => {
            let reader = BufReader::new(File::open(path).map_err(io_err)?);
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(io_err)?;
                if line.trim().is_empty() {
                    continue;
                }
                let bad = |problem: String| BadRow {
                    path: path.to_path_buf(),
                    line: i as u64 + 1,
                    problem,
                };
                let row = match serde_json::from_str::<RawRow>(&line) {
                    Ok(raw) => example_from(raw, &default_source).map_err(bad),
                    Err(e) => Err(bad(format!("invalid JSON: {e}"))),
                };
                sink(row)?;
            }
        }
        Some("csv") => {
            let mut reader = csv::Reader::from_path(path).map_err(|e| csv_io(path, e))?;
            let headers = reader.headers().map_err(|e| csv_io(path, e))?.clone();
            let col = |name: &str| {
                headers
                    .iter()
                    .position(|h| h.trim().eq_ignore_ascii_case(name))
            };
            let text_col = col("text").ok_or(Error::MissingColumn {
                path: path.to_path_buf(),
                column: "text",
            })?;
            let label_col = col("label").ok_or(Error::MissingColumn {
                path: path.to_path_buf(),
                column: "label",
            })?;
            let optional = [
                col("source"),
                col("group"),
                col("author"),
                col("author_url"),
                col("author_email"),
                col("lang"),
            ];
            for record in reader.records() {
                let (line, row) = match record {
                    Ok(rec) => {
                        let line = rec.position().map_or(0, |p| p.line());
                        let get = |c: Option<usize>| {
                            c.and_then(|c| rec.get(c))
                                .filter(|v| !v.is_empty())
                                .map(str::to_string)
                        };
                        let raw = RawRow {
                            text: get(Some(text_col)),
                            label: get(Some(label_col)).map(serde_json::Value::String),
                            source: get(optional[0]),
                            group: get(optional[1]).map(serde_json::Value::String),
                            author: get(optional[2]),
                            author_url: get(optional[3]),
                            author_email: get(optional[4]),
                            lang: get(optional[5]),
                        };
                        (line, example_from(raw, &default_source))
                    }
                    Err(e) => (
                        e.position().map_or(0, |p| p.line()),
                        Err(format!("invalid CSV: {e}")),
                    ),
                };
                sink(row.map_err(|problem| BadRow {
                    path: path.to_path_buf(),
                    line,
                    problem,
                }))?;
            }
        }
        _ => {
            return Err(Error::UnknownFormat {
                path: path.to_path_buf(),
            })
        }
    }
    Ok(())
}

fn csv_io(path: &Path, e: csv::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

fn example_from(raw: RawRow, default_source: &str) -> Result<Example, String> {
    let text = match raw.text {
        Some(t) if !t.trim().is_empty() => t,
        Some(_) => return Err("empty `text`".to_string()),
        None => return Err("missing `text`".to_string()),
    };
    let label = match raw.label {
        Some(serde_json::Value::String(s)) => {
            Label::parse(&s).ok_or_else(|| format!("unknown label `{s}` (expected spam or ham)"))?
        }
        Some(serde_json::Value::Number(n)) => Label::parse(&n.to_string())
            .ok_or_else(|| format!("unknown label `{n}` (expected spam or ham)"))?,
        Some(serde_json::Value::Bool(b)) => {
            if b {
                Label::Spam
            } else {
                Label::Ham
            }
        }
        Some(other) => return Err(format!("unknown label `{other}` (expected spam or ham)")),
        None => return Err("missing `label`".to_string()),
    };
    let group = match raw.group {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => format!(
            "bucket-{}",
            crate::hash::stable_hash(text.as_bytes()) % UNGROUPED_BUCKETS
        ),
    };
    Ok(Example {
        text,
        label,
        source: raw.source.unwrap_or_else(|| default_source.to_string()),
        group,
        author: raw.author,
        author_url: raw.author_url,
        author_email: raw.author_email,
        lang: raw.lang,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
        let p = dir.path().join(name);
        let mut f = File::create(&p).unwrap();
        f.write_all(body.as_bytes()).unwrap();
        p
    }

    #[test]
    fn jsonl_rows_keep_their_fields_and_default_source() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "blog.jsonl",
            "{\"text\":\"hi\",\"label\":\"ham\",\"group\":\"g1\",\"author\":\"Ann\"}\n\n{\"text\":\"win\",\"label\":\"SPAM\",\"source\":\"s\"}\n",
        );
        let l = read_all(&[p], false).unwrap();
        assert_eq!(l.examples.len(), 2);
        assert_eq!(l.examples[0].source, "blog");
        assert_eq!(l.examples[0].group, "g1");
        assert_eq!(l.examples[0].author.as_deref(), Some("Ann"));
        assert_eq!(l.examples[1].label, Label::Spam);
        assert_eq!(l.examples[1].source, "s");
        assert!(l.examples[1].group.starts_with("bucket-"));
    }

    #[test]
    fn a_bad_row_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "d.jsonl",
            "{\"text\":\"ok\",\"label\":\"ham\"}\n{\"text\":\"x\",\"label\":\"maybe\"}\nnot json\n{\"label\":\"spam\"}\n",
        );
        let err = read_all(std::slice::from_ref(&p), false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("d.jsonl:2") && msg.contains("maybe"), "{msg}");

        let l = read_all(&[p], true).unwrap();
        assert_eq!(l.examples.len(), 1);
        let lines: Vec<u64> = l.skipped.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        assert!(l.skipped[1].problem.contains("invalid JSON"));
        assert!(l.skipped[2].problem.contains("missing `text`"));
    }

    #[test]
    fn csv_needs_text_and_label_columns() {
        let dir = tempfile::tempdir().unwrap();
        let ok = write(
            &dir,
            "a.csv",
            "label,text,group\nspam,\"buy, now\",7\nham,hello,8\n",
        );
        let l = read_all(&[ok], false).unwrap();
        assert_eq!(l.examples.len(), 2);
        assert_eq!(l.examples[0].text, "buy, now");
        assert_eq!(l.examples[0].group, "7");

        let bad = write(&dir, "b.csv", "body,label\nx,spam\n");
        assert!(matches!(
            read_all(&[bad], false),
            Err(Error::MissingColumn { column: "text", .. })
        ));

        let bad_label = write(&dir, "c.csv", "text,label\nx,spam\ny,eggs\n");
        let err = read_all(&[bad_label], false).unwrap_err().to_string();
        assert!(err.contains("c.csv:3") && err.contains("eggs"), "{err}");
    }

    #[test]
    fn ungrouped_rows_get_a_stable_bucket() {
        let raw = || RawRow {
            text: Some("same text".into()),
            label: Some(serde_json::Value::String("ham".into())),
            source: None,
            group: None,
            author: None,
            author_url: None,
            author_email: None,
            lang: None,
        };
        let a = example_from(raw(), "x").unwrap();
        let b = example_from(raw(), "x").unwrap();
        assert_eq!(a.group, b.group);
        assert_eq!(crate::hash::stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
