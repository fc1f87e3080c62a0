//! Wall-clock time as the store and the wire carry it: microseconds since the Unix epoch, and
//! `google.protobuf.Timestamp`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in microseconds since the epoch (0 if the clock is before 1970).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Microseconds since the epoch as a protobuf timestamp.
pub fn timestamp(us: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (us / 1_000_000) as i64,
        nanos: ((us % 1_000_000) * 1000) as i32,
    }
}

/// A protobuf timestamp as microseconds since the epoch (0 before the epoch or when absent).
pub fn micros(t: Option<&prost_types::Timestamp>) -> u64 {
    t.map_or(0, |t| {
        u64::try_from(t.seconds).unwrap_or(0) * 1_000_000
            + u64::try_from(t.nanos).unwrap_or(0) / 1000
    })
}

/// A day in microseconds: per-day tallies are kept by `now_us() / DAY_US`, a UTC day.
pub const DAY_US: u64 = 86_400_000_000;

/// Microseconds since the epoch in RFC 3339, UTC, to the second (`2026-12-02T10:00:00Z`).
pub fn rfc3339(us: u64) -> String {
    let seconds = i64::try_from(us / 1_000_000).unwrap_or(0);
    jiff::Timestamp::from_second(seconds)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// A day since the epoch as `YYYY-MM-DD` (UTC).
pub fn date(day: u64) -> String {
    let us = day.saturating_mul(DAY_US);
    rfc3339(us).chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let us = 1_764_000_000_123_456;
        assert_eq!(micros(Some(&timestamp(us))), us);
        assert_eq!(micros(None), 0);
    }

    #[test]
    fn days_and_times_read_as_utc() {
        assert_eq!(rfc3339(1_764_669_600_500_000), "2025-12-02T10:00:00Z");
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_764_669_600_000_000 / DAY_US), "2025-12-02");
    }
}
