//! Moderator verdicts and blog feedback as training rows, in the JSONL form of `../shared/data`, so
//! `saring train` takes them beside the base corpora.
//!
//! Every row has `source` = [`SOURCE`] and `group` = the site: all of a site's rows stay on one side of
//! a group split, and a single site's rows stay wholly in training (a source with one group is never
//! held out), which is where a site's own examples help. One row per decision: the label store keeps
//! the latest report for a decision, so a reversed report is exported once, with its final label.

use prost::Message;
use serde_json::{json, Value};

use crate::clock::micros;
use crate::pb;

/// The `source` of exported rows.
pub const SOURCE: &str = "saring-feedback";

/// Rows for the labelled examples `labels` (encoded `LabelledExample`s) of `site` labelled at or after
/// `since_us`, oldest first (ties by decision id), so the same store exports the same file.
pub fn rows(
    site: &str,
    labels: &[Vec<u8>],
    since_us: u64,
) -> Result<Vec<Value>, prost::DecodeError> {
    let mut examples = labels
        .iter()
        .map(|b| pb::LabelledExample::decode(b.as_slice()))
        .collect::<Result<Vec<_>, _>>()?;
    examples.retain(|e| micros(e.at.as_ref()) >= since_us);
    examples.sort_by(|a, b| {
        (micros(a.at.as_ref()), &a.decision_id).cmp(&(micros(b.at.as_ref()), &b.decision_id))
    });
    Ok(examples
        .into_iter()
        .filter_map(|e| {
            let label = match e.label() {
                pb::FeedbackLabel::Spam => "spam",
                pb::FeedbackLabel::Ham => "ham",
                pb::FeedbackLabel::Unspecified => return None,
            };
            let r = e.request.unwrap_or_default();
            let mut row = json!({
                "text": r.content,
                "label": label,
                "source": SOURCE,
                "group": site,
                "decision_id": e.decision_id,
                "origin": e.origin,
                "labelled_at": micros(e.at.as_ref()) / 1_000_000,
            });
            for (key, value) in [
                ("author", r.author_name),
                ("author_url", r.author_url),
                ("author_email", r.author_email),
                ("lang", r.lang),
            ] {
                if !value.is_empty() {
                    row[key] = Value::String(value);
                }
            }
            Some(row)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::timestamp;

    fn example(id: &str, label: pb::FeedbackLabel, at_s: u64, text: &str) -> Vec<u8> {
        pb::LabelledExample {
            decision_id: id.into(),
            label: label as i32,
            origin: "moderator".into(),
            actor: "ann".into(),
            request: Some(pb::CheckCommentRequest {
                site_id: "blog".into(),
                content: text.into(),
                author_name: "Bo".into(),
                ..Default::default()
            }),
            at: Some(timestamp(at_s * 1_000_000)),
        }
        .encode_to_vec()
    }

    #[test]
    fn rows_are_the_corpus_form_filtered_by_time_and_in_order() {
        let labels = vec![
            example("b", pb::FeedbackLabel::Ham, 200, "later"),
            example("a", pb::FeedbackLabel::Spam, 100, "earlier"),
            example("c", pb::FeedbackLabel::Spam, 50, "too old"),
        ];
        let rows = rows("blog", &labels, 100 * 1_000_000).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["text"], "earlier");
        assert_eq!(rows[0]["label"], "spam");
        assert_eq!(rows[0]["group"], "blog");
        assert_eq!(rows[0]["source"], SOURCE);
        assert_eq!(rows[0]["author"], "Bo");
        assert!(rows[0].get("author_email").is_none());
        assert_eq!(rows[1]["label"], "ham");
        // The corpus reader takes the row as it is.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let loaded = crate::corpus::read_all(&[path], false).unwrap();
        assert_eq!(loaded.examples.len(), 2);
        assert_eq!(loaded.examples[0].group, "blog");
        assert_eq!(loaded.examples[0].label, crate::corpus::Label::Spam);
    }
}
