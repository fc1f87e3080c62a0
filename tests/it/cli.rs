//! The `saring` command line, run as a real process on fixture data it writes itself.

use crate::support::{assert_success, saring, saring_with_stdin, stderr, stdout, Fixture};

#[test]
fn train_writes_a_model_and_a_card_naming_the_data() {
    let fx = Fixture::new();
    let model = fx.train("blog.model");
    assert!(model.exists());
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.path("blog.card.json")).unwrap()).unwrap();
    let file = &card["training_files"][0];
    assert_eq!(file["path"], fx.data.to_str().unwrap());
    assert_eq!(
        file["sha256"],
        saring::train::card::sha256_file(&fx.data).unwrap()
    );
    assert_eq!(file["rows"], 400);
    assert_eq!(
        card["model_sha256"],
        saring::train::card::sha256_file(&model).unwrap()
    );
    assert_eq!(card["split"]["method"], "group k-fold");
    let by_source = card["validation"]["by_source"].as_object().unwrap();
    assert!(by_source.contains_key("blog-en") && by_source.contains_key("blog-id"));
    let loaded = saring::model::Model::load(&model).unwrap();
    assert_eq!(card["model_version"], loaded.version());
}

#[test]
fn the_same_data_and_seed_give_a_byte_identical_model() {
    let fx = Fixture::new();
    let a = std::fs::read(fx.train("a.model")).unwrap();
    let b = std::fs::read(fx.train("b.model")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn eval_json_has_every_documented_key() {
    let fx = Fixture::new();
    let model = fx.train("m.model");
    let o = saring(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        fx.data.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&o);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    for key in [
        "n",
        "spam",
        "ham",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "fpr",
        "recall_at_fpr_1pct",
        "decisions",
        "ham_rejected_rate",
        "spam_accepted_rate",
        "hold_rate",
        "mean_us_per_doc",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["n"], 400);
    let d = &v["decisions"];
    let total =
        d["accept"].as_u64().unwrap() + d["hold"].as_u64().unwrap() + d["reject"].as_u64().unwrap();
    assert_eq!(total, 400);
    assert!(v["f1"].as_f64().unwrap() > 0.8);
}

/// `saring check … | head -1`: the reader closes the pipe before saring has written everything.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let fx = Fixture::new();
    let model = fx.train("m.model");
    let (reader, writer) = std::io::pipe().unwrap();
    // Closed before saring writes a byte, so its first write fails.
    drop(reader);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_saring"))
        .args([
            "check",
            "--model",
            model.to_str().unwrap(),
            "thanks, this helped",
        ])
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}: {}", o.status, stderr(&o));
    assert_eq!(stderr(&o), "");
}

#[test]
fn check_explains_a_decision_from_argument_or_stdin() {
    let fx = Fixture::new();
    let model = fx.train("m.model");
    let m = model.to_str().unwrap();
    let o = saring(&[
        "check",
        "--model",
        m,
        "--json",
        "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, maxwin terus wd lancar",
    ]);
    assert_success(&o);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["decision"], "reject", "{v}");
    assert!(v["spam_probability"].as_f64().unwrap() > 0.9);
    assert!(!v["towards_spam"].as_array().unwrap().is_empty());

    let o = saring_with_stdin(
        &["check", "--model", m],
        Some("Terima kasih artikelnya, bagian tentang harga beras sangat membantu\n"),
    );
    assert_success(&o);
    let out = stdout(&o);
    assert!(out.starts_with("ACCEPT"), "{out}");
    assert!(out.contains("towards ham:"));

    let empty = saring_with_stdin(&["check", "--model", m], Some("  \n"));
    assert!(!empty.status.success());
    assert!(stderr(&empty).contains("no comment text"));
}

#[test]
fn bad_rows_stop_training_with_file_and_line_unless_skipped() {
    let fx = Fixture::new();
    let mut body = std::fs::read_to_string(&fx.data).unwrap();
    body.push_str("{\"text\": \"x\", \"label\": \"perhaps\"}\n");
    let bad = fx.path("bad.jsonl");
    std::fs::write(&bad, body).unwrap();
    let out = fx.path("m.model");
    let args = [
        "train",
        "--quiet",
        "--data",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = saring(&args);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("bad.jsonl:401") && err.contains("perhaps"),
        "{err}"
    );
    assert!(!out.exists());

    let mut skipping = args.to_vec();
    skipping.push("--skip-bad-rows");
    assert_success(&saring(&skipping));
    assert!(out.exists());
}

#[test]
fn a_damaged_model_file_is_refused_by_name() {
    let fx = Fixture::new();
    let model = fx.train("m.model");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let o = saring(&["check", "--model", model.to_str().unwrap(), "hello"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("m.model") && err.contains("truncated"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[test]
fn cv_fails_when_a_quality_bar_is_missed() {
    let fx = Fixture::new();
    let data = fx.data.to_str().unwrap();
    let base = [
        "cv", "--quiet", "--folds", "4", "--alpha", "1", "--data", data,
    ];
    let mut pass = base.to_vec();
    pass.extend(["--min-f1", "blog-en=0.5", "--bar-ham-rejected", "0.5"]);
    let o = saring(&pass);
    assert_success(&o);
    assert!(stdout(&o).contains("blog-id"));
    assert!(
        // The F1 bar, and the ham bar for each source under each scheme (k-fold, leave-source-out).
        stdout(&o).contains("quality bars: 5 passed, 0 failed"),
        "{}",
        stdout(&o)
    );

    let mut fail = base.to_vec();
    fail.extend(["--min-f1", "blog-en=1.01"]);
    let o = saring(&fail);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("blog-en"));
    assert!(stdout(&o).contains("quality bars: 0 passed, 1 failed"));

    let mut unknown = base.to_vec();
    unknown.extend(["--min-f1", "no-such-source=0.1"]);
    assert!(!saring(&unknown).status.success());
}

/// `--folds-out` writes one row per example, in the data's order, with the fold that held it out and
/// that fold's score: the file `bench/peers/` trains its peers on. Leave-source-out folds are sources.
#[test]
fn cv_writes_the_folds_it_used_for_peers_to_train_on() {
    let fx = Fixture::new();
    let data = fx.data.to_str().unwrap();
    let rows_of = |path: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // Both schemes by default, k-fold's rows first, each scheme's in the data's order.
    let out = fx.path("folds.jsonl");
    let o = saring(&[
        "cv",
        "--quiet",
        "--folds",
        "4",
        "--alpha",
        "1",
        "--data",
        data,
        "--folds-out",
        out.to_str().unwrap(),
    ]);
    assert_success(&o);
    assert!(stdout(&o).contains("leave-source-out"), "{}", stdout(&o));
    let rows = rows_of(&out);
    let examples = saring::train::synthetic::examples();
    assert_eq!(rows.len(), 2 * examples.len());
    let (kfold, lso) = rows.split_at(examples.len());
    let mut groups_in_fold = std::collections::BTreeMap::new();
    for (row, e) in kfold.iter().zip(&examples) {
        assert_eq!(row["scheme"], "k-fold");
        assert_eq!(row["text"], e.text.as_str());
        assert_eq!(row["label"], e.label.as_str());
        assert!(row["log_odds"].is_f64());
        assert!(["accept", "hold", "reject"].contains(&row["decision"].as_str().unwrap()));
        let fold = row["fold"].as_u64().unwrap();
        assert!(fold < 4);
        // A group is never split across folds.
        let key = (e.source.clone(), e.group.clone());
        assert_eq!(*groups_in_fold.entry(key).or_insert(fold), fold);
    }

    let mut fold_of_source = std::collections::BTreeMap::new();
    for (row, e) in lso.iter().zip(&examples) {
        assert_eq!(row["scheme"], "leave-source-out");
        assert_eq!(row["text"], e.text.as_str());
        let source = row["source"].as_str().unwrap().to_string();
        let fold = row["fold"].as_u64().unwrap();
        assert_eq!(*fold_of_source.entry(source).or_insert(fold), fold);
    }
    let folds: std::collections::BTreeSet<u64> = fold_of_source.values().copied().collect();
    assert_eq!(folds.len(), fold_of_source.len(), "one fold a source");
}

/// `saring simulate` streams every comment of every site through a real server twice, without and with
/// the overlay, and counts each one's decision under its true class; `--shuffle` sends a site's
/// comments in a fixed order that does not depend on the file's.
#[test]
fn simulate_counts_every_comment_with_and_without_the_overlay() {
    let fx = Fixture::new();
    let model = fx.train("m.model");
    let run = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "simulate",
            "--json",
            "--min-comments",
            "10",
            "--window",
            "10",
            "--report-until",
            "60",
            "--model",
            model.to_str().unwrap(),
            "--data",
            fx.data.to_str().unwrap(),
        ];
        args.extend(extra);
        let o = saring(&args);
        assert_success(&o);
        // Not a terminal: the progress is one line at the end, not a counter redrawn with `\r`.
        let log = stderr(&o);
        assert!(!log.contains('\r'), "{log:?}");
        assert!(log.contains(" of ") && log.contains(" sites\n"), "{log}");
        serde_json::from_str(stdout(&o).trim()).unwrap()
    };
    let v = run(&["--shuffle"]);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["overlay"], false);
    assert_eq!(runs[1]["overlay"], true);
    let examples = saring::train::synthetic::examples();
    let spam = examples
        .iter()
        .filter(|e| e.label == saring::train::corpus::Label::Spam)
        .count() as u64;
    for r in runs {
        let (all, windows) = r["windows"].as_array().unwrap().split_last().unwrap();
        assert_eq!(all["comments_of_site"], "all");
        let count = |key: &str| {
            windows
                .iter()
                .map(|w| w[key].as_u64().unwrap())
                .sum::<u64>()
        };
        // Every comment of every site (each has 50), each in one window under its own class.
        assert_eq!(windows.len(), 6, "{r}");
        assert_eq!(count("comments"), examples.len() as u64, "{r}");
        assert_eq!(count("spam"), spam, "{r}");
        assert_eq!(count("ham"), examples.len() as u64 - spam, "{r}");
        assert_eq!(all["comments"], examples.len() as u64, "{r}");
        for w in r["windows"].as_array().unwrap() {
            for rate in ["spam_accepted", "ham_rejected", "held"] {
                let x = w[rate].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&x), "{rate} {x}");
            }
        }
    }
    // The same run in the same order gives the same figures.
    assert_eq!(run(&["--shuffle"]), v);
}
