//! Moderator verdicts and blog feedback as training rows, in the JSONL form of the training corpora, so
//! `saring train` takes them beside the base corpora.
//!
//! Every row has `source` = [`SOURCE`] and `group` = the site: all of a site's rows stay on one side of
//! a group split, and a single site's rows stay wholly in training (a source with one group is never
//! held out), which is where a site's own examples help. One row per decision: the label store keeps
//! the latest report for a decision, so a reversed report is exported once, with its final label.

use serde_json::{json, Value};

use crate::clock::micros;
use crate::moderation::comment::{check_site, Invalid};
use crate::pb;
use crate::store::{self, Store};

/// The `source` of exported rows.
pub const SOURCE: &str = "saring-feedback";

/// Why the labels could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The site id is missing or too long.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The store did not answer, or holds a label that does not decode.
    #[error("the store failed")]
    Store(#[from] store::Error),
}

/// The labelled examples of `site` given at or after `since_us`, oldest first (ties by decision id),
/// so the same store exports the same file whether read directly or through the server.
pub async fn labels(
    store: &Store,
    site: &str,
    since_us: u64,
) -> Result<Vec<pb::LabelledExample>, Error> {
    check_site("site_id", site)?;
    let mut examples = store.labels(site).await?;
    examples.retain(|e| micros(e.at.as_ref()) >= since_us);
    examples.sort_by(|a, b| {
        (micros(a.at.as_ref()), &a.decision_id).cmp(&(micros(b.at.as_ref()), &b.decision_id))
    });
    Ok(examples)
}

/// Training rows for `site`'s labelled examples, in their order. A label neither spam nor ham (none is
/// stored so) gives no row.
pub fn rows(site: &str, examples: Vec<pb::LabelledExample>) -> Vec<Value> {
    examples
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
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::timestamp;

    fn example(id: &str, label: pb::FeedbackLabel, at_s: u64, text: &str) -> pb::LabelledExample {
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
    }

    #[tokio::test]
    async fn rows_are_the_corpus_form_filtered_by_time_and_in_order() {
        let store =
            crate::store::Store::embedded(crate::store::embedded::EmbeddedStore::open_in_memory());
        for e in [
            example("b", pb::FeedbackLabel::Ham, 200, "later"),
            example("a", pb::FeedbackLabel::Spam, 100, "earlier"),
            example("c", pb::FeedbackLabel::Spam, 50, "too old"),
        ] {
            let feedback = crate::store::Feedback {
                label: e,
                audit: pb::AuditEntry::default(),
                trust: None,
                lesson: None,
            };
            store.feedback("blog", &feedback).await.unwrap();
        }
        // A site id is matched exactly, never trimmed.
        assert!(matches!(
            labels(&store, " blog ", 0).await,
            Err(Error::Invalid(_))
        ));
        let examples = labels(&store, "blog", 100 * 1_000_000).await.unwrap();
        let rows = rows("blog", examples);
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
        let loaded = crate::train::corpus::read_all(&[path], false).unwrap();
        assert_eq!(loaded.examples.len(), 2);
        assert_eq!(loaded.examples[0].group, "blog");
        assert_eq!(loaded.examples[0].label, crate::train::corpus::Label::Spam);
    }
}
