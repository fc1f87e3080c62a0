//! Trusted returning commenters: an author whose comments moderators approved at least K times, and
//! never called spam, is accepted without the model's say (unless a hard rule fires).
//!
//! An e-mail address is the author's identity here, and anyone can type anyone's address into a comment
//! form; so by default trust applies only when the blog marks the request `author_verified` (the
//! commenter signed in or confirmed the address). Authors are stored under a hash of the normalised
//! address, never the address itself.

use sha2::{Digest, Sha256};

use crate::config::Trust;
use crate::moderation::comment::normalise_email;
use crate::moderation::comment::Comment;

/// The key an author's standing is kept under: the first 128 bits of SHA-256 of the normalised e-mail
/// address, in hex. `None` without a usable address.
pub fn author_key(email: &str) -> Option<String> {
    let e = normalise_email(email)?;
    let digest = Sha256::digest(e.as_bytes());
    Some(crate::hash::hex(&digest[..16]))
}

/// The author key to look up when trust may apply to this comment under the site's settings.
pub fn candidate(comment: &Comment, trust: &Trust) -> Option<String> {
    if !trust.enabled || (trust.require_verified && !comment.author_verified) {
        return None;
    }
    author_key(&comment.author_email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_person_s_addresses_share_a_key_and_the_address_is_not_in_it() {
        let k = author_key("Ann+blog@Example.org").unwrap();
        assert_eq!(Some(k.clone()), author_key(" ann@example.org "));
        assert_ne!(Some(k.clone()), author_key("bob@example.org"));
        assert_eq!(k.len(), 32);
        assert!(!k.contains("ann"));
        assert_eq!(author_key("not an address"), None);
    }

    #[test]
    fn trust_needs_the_option_and_by_default_a_verified_author() {
        let mut c = Comment {
            site_id: "s".into(),
            content: "x".into(),
            author_email: "ann@example.org".into(),
            ..Comment::default()
        };
        let on = Trust {
            enabled: true,
            ..Trust::default()
        };
        assert_eq!(candidate(&c, &Trust::default()), None);
        assert_eq!(candidate(&c, &on), None);
        c.author_verified = true;
        assert!(candidate(&c, &on).is_some());
        c.author_verified = false;
        let opted_out = Trust {
            require_verified: false,
            ..on
        };
        assert!(candidate(&c, &opted_out).is_some());
    }
}
