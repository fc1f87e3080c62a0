//! The three answers saring gives, and the two thresholds that turn a spam score into one of them.

/// What the blog should do with a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// Publish now.
    Accept,
    /// Keep unpublished for a person to review.
    Hold,
    /// Spam: do not publish.
    Reject,
}

impl Decision {
    /// Lower-case name used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accept => "accept",
            Decision::Hold => "hold",
            Decision::Reject => "reject",
        }
    }
}

/// The two cut points on the model's spam log-odds (`ln P(spam|x) − ln P(ham|x)`).
///
/// Log-odds rather than probabilities because naive Bayes is confident: most comments score beyond
/// ±37, where a probability in `f64` is exactly 0 or 1 and two different scores could no longer be told
/// apart by a threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Scores below this are accepted.
    pub accept_below: f64,
    /// Scores at or above this are rejected; between the two, held.
    pub reject_at: f64,
}

impl Thresholds {
    /// The band a score falls in.
    pub fn decide(&self, log_odds: f64) -> Decision {
        if log_odds >= self.reject_at {
            Decision::Reject
        } else if log_odds >= self.accept_below {
            Decision::Hold
        } else {
            Decision::Accept
        }
    }
}

/// Probability of spam from log-odds, computed without overflow at either end.
pub fn probability(log_odds: f64) -> f64 {
    if log_odds >= 0.0 {
        1.0 / (1.0 + (-log_odds).exp())
    } else {
        let e = log_odds.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_half_open() {
        let t = Thresholds {
            accept_below: -1.0,
            reject_at: 2.0,
        };
        assert_eq!(t.decide(-1.5), Decision::Accept);
        assert_eq!(t.decide(-1.0), Decision::Hold);
        assert_eq!(t.decide(1.99), Decision::Hold);
        assert_eq!(t.decide(2.0), Decision::Reject);
    }

    #[test]
    fn probability_is_finite_at_extremes() {
        assert_eq!(probability(0.0), 0.5);
        assert!(probability(-1000.0) >= 0.0 && probability(-1000.0) < 1e-300);
        assert_eq!(probability(1000.0), 1.0);
        assert!((probability(2.0) - 0.880_797_077_977_882_3).abs() < 1e-15);
    }
}
