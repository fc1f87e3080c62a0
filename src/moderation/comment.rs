//! A submitted comment after validation: every field within its limit, the IP parsed, timestamps read.
//! `Comment::from_request` builds it from the wire type; everything after works on this.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::model::tokenize::Document;
use crate::pb;

/// Longest identifier (site, comment, post), in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest URL-like field (author URL, permalink, referrer), in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest e-mail address (RFC 5321 allows 254; a little slack for what forms accept).
pub const MAX_EMAIL_BYTES: usize = 320;
/// Longest author name, user agent, honeypot or role, in bytes.
pub const MAX_SHORT_TEXT_BYTES: usize = 1024;

/// A request field that is missing, too long or malformed. `field` is the wire name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Invalid {
    /// The field, as named in the proto.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

/// A validated comment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comment {
    /// The site.
    pub site_id: String,
    /// The blog's id for the comment; empty when the blog sent none.
    pub comment_id: String,
    /// The post.
    pub post_id: String,
    /// Comment body.
    pub content: String,
    /// Display name.
    pub author_name: String,
    /// E-mail address.
    pub author_email: String,
    /// Website.
    pub author_url: String,
    /// Client IP.
    pub user_ip: Option<IpAddr>,
    /// Language hint.
    pub lang: String,
    /// Role on the blog.
    pub user_role: String,
    /// The blog verified the commenter.
    pub author_verified: bool,
    /// When the form was rendered.
    pub form_rendered_at: Option<SystemTime>,
    /// When it was submitted.
    pub submitted_at: Option<SystemTime>,
    /// The hidden field's value.
    pub honeypot: String,
    /// A test submission.
    pub is_test: bool,
}

impl Comment {
    /// The comment as the tokenizer sees it.
    pub fn document(&self) -> Document<'_> {
        fn present(s: &str) -> Option<&str> {
            (!s.is_empty()).then_some(s)
        }
        Document {
            text: &self.content,
            author: present(&self.author_name),
            author_url: present(&self.author_url),
            author_email: present(&self.author_email),
            lang: present(&self.lang),
        }
    }

    /// Seconds between rendering and submitting the form, when both are known and in order.
    pub fn seconds_to_submit(&self) -> Option<f64> {
        let (rendered, submitted) = (self.form_rendered_at?, self.submitted_at?);
        submitted
            .duration_since(rendered)
            .ok()
            .map(|d| d.as_secs_f64())
    }
}

/// Check a field's length.
pub fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.len() > max {
        return Err(Invalid {
            field,
            problem: format!("{} bytes, at most {max} allowed", value.len()),
        });
    }
    Ok(())
}

/// Check a required field.
pub fn check_required(field: &'static str, value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid {
            field,
            problem: "is required".to_string(),
        });
    }
    Ok(())
}

/// Check a site id (the wire field `field`: `site_id`, or `sites` for a key's list). A site id is an
/// identifier, compared byte for byte with configured sites, API keys' sites and stored keys, and
/// never normalised: `" default "` and `"default\n"` are not `default`. So, rather than guess what a
/// client meant, every RPC refuses one that is empty, longer than [`MAX_ID_BYTES`], or has any
/// whitespace or control character anywhere. The value is not echoed: what is wrong with it is.
pub fn check_site(field: &'static str, site: &str) -> Result<(), Invalid> {
    if site.is_empty() {
        return Err(Invalid {
            field,
            problem: "is required".to_string(),
        });
    }
    check_len(field, site, MAX_ID_BYTES)?;
    if let Some((at, c)) = site
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        let what = if c.is_control() {
            "a control character"
        } else {
            "whitespace"
        };
        return Err(Invalid {
            field,
            problem: format!(
                "has {what} (U+{:04X}) at byte {at}; a site id is matched exactly and never trimmed",
                u32::from(c)
            ),
        });
    }
    Ok(())
}

/// Parse an IP address; empty means absent. IPv6 zone ids (`fe80::1%eth0`) are dropped: a zone names an
/// interface of the blog's own host and says nothing about the commenter.
pub fn parse_ip(value: &str) -> Result<Option<IpAddr>, Invalid> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let without_zone = v.split('%').next().unwrap_or(v);
    without_zone.parse().map(Some).map_err(|_| Invalid {
        field: "user_ip",
        problem: format!("`{}` is not an IP address", truncate(v, 64)),
    })
}

/// Earliest timestamp taken at face value: 2000-01-01. Before it, a clock or a client is broken.
const EARLIEST_TIMESTAMP: i64 = 946_684_800;
/// Latest: 2200-01-01.
const LATEST_TIMESTAMP: i64 = 7_258_118_400;

/// A timestamp from seconds and nanoseconds since the epoch; values outside 2000–2200 or with invalid
/// nanoseconds count as absent, so a broken client clock can neither trip nor dodge the too-fast rule.
pub fn timestamp(seconds: i64, nanos: i32) -> Option<SystemTime> {
    if !(EARLIEST_TIMESTAMP..=LATEST_TIMESTAMP).contains(&seconds) {
        return None;
    }
    let secs = u64::try_from(seconds).ok()?;
    let nanos = u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000)?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl Comment {
    /// The wire request as a comment, refusing what is missing, too long or malformed.
    pub fn from_request(
        r: pb::CheckCommentRequest,
        max_content_bytes: usize,
    ) -> Result<Comment, Invalid> {
        check_site("site_id", &r.site_id)?;
        check_required("content", &r.content)?;
        check_len("content", &r.content, max_content_bytes)?;
        for (field, value, max) in [
            ("comment_id", &r.comment_id, MAX_ID_BYTES),
            ("post_id", &r.post_id, MAX_ID_BYTES),
            ("permalink", &r.permalink, MAX_URL_BYTES),
            ("author_name", &r.author_name, MAX_SHORT_TEXT_BYTES),
            ("author_email", &r.author_email, MAX_EMAIL_BYTES),
            ("author_url", &r.author_url, MAX_URL_BYTES),
            ("user_agent", &r.user_agent, MAX_SHORT_TEXT_BYTES),
            ("referrer", &r.referrer, MAX_URL_BYTES),
            ("lang", &r.lang, MAX_ID_BYTES),
            ("user_role", &r.user_role, MAX_ID_BYTES),
            ("honeypot", &r.honeypot, MAX_SHORT_TEXT_BYTES),
        ] {
            check_len(field, value, max)?;
        }
        let user_ip = parse_ip(&r.user_ip)?;
        let ts = |t: Option<prost_types::Timestamp>| t.and_then(|t| timestamp(t.seconds, t.nanos));
        Ok(Comment {
            site_id: r.site_id,
            comment_id: r.comment_id,
            post_id: r.post_id,
            content: r.content,
            author_name: r.author_name,
            author_email: r.author_email,
            author_url: r.author_url,
            user_ip,
            lang: r.lang,
            user_role: r.user_role,
            author_verified: r.author_verified,
            form_rendered_at: ts(r.form_rendered_at),
            submitted_at: ts(r.submitted_at),
            honeypot: r.honeypot,
            is_test: r.is_test,
        })
    }
}

/// Lower-case, trimmed, with a `+tag` removed from the local part (`Ann+blog@X.org` → `ann@x.org`), so
/// one person's addresses share a bucket. `None` when there is no usable address.
pub fn normalise_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.rsplit_once('@')?;
    let local = local.split('+').next().unwrap_or(local);
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_parse_with_zones_and_fail_by_name() {
        assert_eq!(parse_ip("").unwrap(), None);
        assert_eq!(
            parse_ip("203.0.113.7").unwrap(),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            parse_ip("fe80::1%eth0").unwrap(),
            Some("fe80::1".parse().unwrap())
        );
        assert_eq!(parse_ip("999.1.1.1").unwrap_err().field, "user_ip");
    }

    #[test]
    fn a_site_id_is_refused_rather_than_normalised() {
        assert_eq!(check_site("site_id", "default"), Ok(()));
        assert_eq!(check_site("site_id", "my-blog.example_1"), Ok(()));
        assert_eq!(check_site("site_id", &"s".repeat(MAX_ID_BYTES)), Ok(()));
        for bad in [
            "",
            " default ",
            "default\n",
            "de fault",
            "\tdefault",
            "default\u{a0}",
            "default\u{2003}",
            "def\0ault",
            "default\u{7f}",
            "default\u{85}",
        ] {
            assert_eq!(
                check_site("sites", bad).unwrap_err().field,
                "sites",
                "{bad:?}"
            );
        }
        let long = "s".repeat(MAX_ID_BYTES + 1);
        assert_eq!(check_site("site_id", &long).unwrap_err().field, "site_id");
        let r = pb::CheckCommentRequest {
            site_id: " default ".into(),
            content: "Terima kasih".into(),
            ..Default::default()
        };
        assert_eq!(Comment::from_request(r, 1000).unwrap_err().field, "site_id");
    }

    #[test]
    fn timestamps_out_of_range_are_absent() {
        assert!(timestamp(-5, 0).is_none());
        assert!(timestamp(0, -1).is_none());
        assert!(timestamp(i64::MAX, 0).is_none());
        assert!(timestamp(1_700_000_000, 5).is_some());
        assert!(timestamp(100, 0).is_none());
        let c = Comment {
            form_rendered_at: timestamp(1_700_000_100, 0),
            submitted_at: timestamp(1_700_000_090, 0),
            ..Comment::default()
        };
        assert_eq!(c.seconds_to_submit(), None);
    }
}
