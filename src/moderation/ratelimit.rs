//! Rate limits: which buckets a comment counts against, and the GCRA arithmetic both stores share.
//!
//! GCRA (the generic cell rate algorithm) keeps one number per bucket, the theoretical arrival time
//! (TAT). A request at `now` is admitted when `TAT − now ≤ (burst − 1) × interval`, and then
//! `TAT = max(TAT, now) + interval`, where `interval = 1 hour / per_hour`. A bucket therefore allows
//! `burst` requests at once and `per_hour` sustained, and its key can expire once `TAT` has passed.

use std::net::IpAddr;

use crate::config::{Limit, Limits};

/// Which limit a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// Per client IP (IPv6 by /64).
    Ip,
    /// Per normalised author e-mail.
    Author,
    /// Per site.
    Site,
}

impl Dimension {
    /// Short name used in keys, reasons and the response.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Ip => "ip",
            Dimension::Author => "author",
            Dimension::Site => "site",
        }
    }

    /// The reason code when this dimension rejects.
    pub fn reason_code(self) -> &'static str {
        match self {
            Dimension::Ip => "ratelimit.ip",
            Dimension::Author => "ratelimit.author",
            Dimension::Site => "ratelimit.site",
        }
    }
}

/// One bucket to count a request against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Its dimension.
    pub dimension: Dimension,
    /// What it counts within the site: the IP or /64 prefix, the e-mail, or the site itself.
    pub subject: String,
    /// Its limit.
    pub limit: Limit,
}

impl Bucket {
    /// Microseconds between two sustained requests.
    pub fn interval_us(&self) -> u64 {
        3_600_000_000 / u64::from(self.limit.per_hour.max(1))
    }

    /// How far ahead of now the TAT may run, in microseconds.
    pub fn tolerance_us(&self) -> u64 {
        self.interval_us() * u64::from(self.limit.burst.max(1) - 1)
    }
}

/// The verdict of the rate limits on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Every bucket admitted the request and counted it.
    Admitted,
    /// A bucket refused; nothing was counted.
    Refused {
        /// The bucket's dimension.
        dimension: Dimension,
        /// Microseconds until a retry can succeed.
        retry_after_us: u64,
        /// The refusing bucket's burst.
        burst: u32,
        /// Its sustained rate.
        per_hour: u32,
    },
}

/// The buckets a comment from `ip` by `email` on a site counts against.
pub fn buckets(limits: &Limits, ip: Option<IpAddr>, email: &str) -> Vec<Bucket> {
    let mut out = Vec::with_capacity(3);
    if let Some(ip) = ip {
        out.push(Bucket {
            dimension: Dimension::Ip,
            subject: ip_subject(ip),
            limit: limits.ip,
        });
    }
    if let Some(email) = crate::moderation::comment::normalise_email(email) {
        out.push(Bucket {
            dimension: Dimension::Author,
            subject: email,
            limit: limits.author,
        });
    }
    out.push(Bucket {
        dimension: Dimension::Site,
        subject: String::new(),
        limit: limits.site,
    });
    out
}

/// An IPv4 address as itself; an IPv6 address by its /64 prefix, since one subscriber usually holds a
/// whole /64 and can pick any address in it. IPv4-mapped IPv6 addresses count as IPv4.
pub fn ip_subject(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The outcome of one GCRA step: the new TAT when admitted, or how long until it would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Admitted; store this TAT.
    Admit {
        /// The new theoretical arrival time, microseconds since the epoch.
        tat_us: u64,
    },
    /// Refused; retry after this many microseconds.
    Refuse {
        /// Wait before a retry can succeed.
        retry_after_us: u64,
    },
}

/// One GCRA step for `bucket` with stored `tat_us` (0 when new) at `now_us`.
pub fn step(bucket: &Bucket, tat_us: u64, now_us: u64) -> Step {
    let tat = tat_us.max(now_us);
    let ahead = tat - now_us;
    if ahead > bucket.tolerance_us() {
        Step::Refuse {
            retry_after_us: ahead - bucket.tolerance_us(),
        }
    } else {
        Step::Admit {
            tat_us: tat + bucket.interval_us(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(burst: u32, per_hour: u32) -> Bucket {
        Bucket {
            dimension: Dimension::Ip,
            subject: "x".into(),
            limit: Limit { burst, per_hour },
        }
    }

    #[test]
    fn gcra_allows_the_burst_then_the_rate() {
        let b = bucket(3, 3600); // one a second sustained
        let (mut tat, now) = (0, 1_000_000_000);
        for _ in 0..3 {
            match step(&b, tat, now) {
                Step::Admit { tat_us } => tat = tat_us,
                Step::Refuse { .. } => panic!("burst refused"),
            }
        }
        assert_eq!(
            step(&b, tat, now),
            Step::Refuse {
                retry_after_us: 1_000_000
            }
        );
        assert!(matches!(step(&b, tat, now + 1_000_000), Step::Admit { .. }));
    }

    #[test]
    fn ipv6_counts_by_prefix_and_emails_by_person() {
        let a = ip_subject("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ip_subject("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, ip_subject("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(ip_subject("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1");
        assert_eq!(
            crate::moderation::comment::normalise_email(" Ann+blog@Example.ORG ").as_deref(),
            Some("ann@example.org")
        );
        assert_eq!(
            crate::moderation::comment::normalise_email("nonsense"),
            None
        );
        let limits = Limits::default();
        assert_eq!(buckets(&limits, None, "").len(), 1);
        assert_eq!(
            buckets(&limits, Some("192.0.2.1".parse().unwrap()), "a@b.c").len(),
            3
        );
    }
}
