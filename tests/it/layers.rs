//! The source tree's layers, held by a test: each top-level module may use only the modules its layer
//! allows (which are all below it, so no cycle can form between folders), and the architecture
//! invariants that a reader of `ARCHITECTURE.md` relies on are checked against the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module of `src/`, bottom up, with the modules it may use. A module may only name
/// modules listed before it, so the graph is acyclic by construction; the test checks that too.
const LAYERS: &[(&str, &[&str])] = &[
    ("pb", &[]),
    ("clock", &[]),
    ("hash", &[]),
    ("telemetry", &[]),
    ("metrics", &[]),
    ("model", &["hash"]),
    ("train", &["model", "hash", "clock"]),
    ("config", &["model"]),
    ("moderation", &["config", "model", "pb", "clock", "hash"]),
    (
        "store",
        &["metrics", "moderation", "config", "pb", "clock", "hash"],
    ),
    (
        "service",
        &[
            "metrics",
            "store",
            "moderation",
            "config",
            "model",
            "pb",
            "clock",
            "hash",
        ],
    ),
    (
        "access",
        &["store", "moderation", "config", "pb", "clock", "hash"],
    ),
    (
        "grpc",
        &[
            "telemetry",
            "access",
            "service",
            "store",
            "moderation",
            "config",
            "model",
            "pb",
            "clock",
            "hash",
        ],
    ),
    (
        "web",
        &[
            "telemetry",
            "metrics",
            "access",
            "service",
            "store",
            "moderation",
            "config",
            "model",
            "pb",
            "clock",
            "hash",
        ],
    ),
    (
        "server",
        &[
            "telemetry",
            "metrics",
            "web",
            "grpc",
            "access",
            "service",
            "store",
            "moderation",
            "config",
            "model",
            "pb",
            "clock",
            "hash",
        ],
    ),
    (
        "cli",
        &[
            "server",
            "web",
            "grpc",
            "access",
            "service",
            "store",
            "moderation",
            "config",
            "train",
            "model",
            "telemetry",
            "metrics",
            "pb",
            "clock",
            "hash",
        ],
    ),
];

/// Crates whose use is confined to some modules, and why.
const CONFINED: &[(&str, &[&str], &str)] = &[
    (
        "linfa",
        &["train"],
        "serving never depends on linfa: only training fits",
    ),
    (
        "ndarray",
        &["train"],
        "dense matrices are a training concern",
    ),
    (
        "tokio",
        &["store", "service", "access", "grpc", "web", "server", "cli"],
        "the model, training and the rules are synchronous and never block a runtime",
    ),
    (
        "axum",
        &["web"],
        "only the admin HTTP port speaks HTTP as a server",
    ),
    (
        "prometheus_client",
        &["metrics"],
        "metrics are recorded through `metrics::Metrics`, whatever crate encodes them",
    ),
    (
        "tonic::Status",
        &["pb", "grpc", "cli"],
        "domain errors become gRPC statuses in one place (pb's codec answers a body that does not \
         decode, before any service runs; the CLI's admin client only reads them)",
    ),
    (
        "redis::",
        &["store"],
        "only the store knows how state is kept",
    ),
    (
        "redb::",
        &["store"],
        "only the store knows how state is kept",
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/store/redis.rs` → `store`), `None` for the crate roots.
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The file's code outside its test module: tests may reach across layers to build fixtures.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The top-level modules a piece of code names through `crate::`, with the line of each first use.
fn crate_uses(code: &str) -> BTreeMap<String, usize> {
    let mut uses = BTreeMap::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end]
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or("").trim())
                    .collect()
            } else {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                vec![&rest[..end]]
            };
            for name in names.into_iter().filter(|n| !n.is_empty()) {
                uses.entry(name.to_string()).or_insert(n + 1);
            }
        }
    }
    uses
}

/// Whether `line` names the path `needle` at its start: `redis::Cmd` does, `store::redis::RedisStore`
/// (our own module) and `tokio_stream` do not.
fn names_path(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && (needle.ends_with(':')
                || !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_'))
    })
}

#[test]
fn every_module_has_a_layer_and_layers_only_look_down() {
    let mut seen = BTreeSet::new();
    for (i, (module, allowed)) in LAYERS.iter().enumerate() {
        let below: BTreeSet<&str> = LAYERS[..i].iter().map(|(m, _)| *m).collect();
        for a in *allowed {
            assert!(
                below.contains(a),
                "layer `{module}` may use `{a}`, which is not below it: the layer list would allow a cycle"
            );
        }
        assert!(seen.insert(*module), "`{module}` is listed twice");
    }
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(f)).collect();
    for m in &modules {
        assert!(
            seen.contains(m.as_str()),
            "src/{m} has no layer: add it to LAYERS in tests/it/layers.rs and to ARCHITECTURE.md"
        );
    }
}

#[test]
fn no_module_uses_a_module_above_its_layer() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = top_module(file) else {
            continue;
        };
        let Some(may) = allowed.get(module.as_str()) else {
            continue;
        };
        for (used, line) in crate_uses(&code_of(file)) {
            if used != module && !may.contains(&used.as_str()) {
                violations.push(format!(
                    "{}:{line}: `{module}` uses `{used}`",
                    file.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layers (tests/it/layers.rs, ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn confined_crates_stay_in_their_modules() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = top_module(file) else {
            continue;
        };
        let code = code_of(file);
        for (needle, modules, why) in CONFINED {
            if modules.contains(&module.as_str()) {
                continue;
            }
            let hit = code.lines().enumerate().find(|(_, l)| {
                let l = l.split("//").next().unwrap_or("");
                names_path(l, needle)
            });
            if let Some((n, _)) = hit {
                violations.push(format!(
                    "{}:{}: `{needle}` outside {modules:?} ({why})",
                    file.strip_prefix(src()).unwrap().display(),
                    n + 1
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_code_names_nothing_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "examples"] {
        rust_files(&root.join(dir), &mut files);
    }
    // Built from pieces so that this file does not match itself.
    let outside = format!("../{}", "shared");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains(&outside))
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "these files refer to {outside}, which a clone does not have: {offenders:?}"
    );
}

#[test]
fn the_import_scanner_sees_plain_grouped_and_nested_uses() {
    let uses = crate_uses(
        "use crate::store::Store;\nuse crate::{pb, model::Model};\nlet x = crate::hash::hex(b); // crate::cli\n",
    );
    let names: Vec<&str> = uses.keys().map(String::as_str).collect();
    assert_eq!(names, ["hash", "model", "pb", "store"]);
    assert_eq!(uses["hash"], 3);
    assert!(names_path("use redis::Script;", "redis::"));
    assert!(!names_path("crate::store::redis::RedisStore", "redis::"));
    assert!(!names_path("use tokio_stream::StreamExt;", "tokio"));
    assert!(names_path("tokio::spawn(x)", "tokio"));
}
