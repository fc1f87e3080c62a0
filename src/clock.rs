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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let us = 1_764_000_000_123_456;
        assert_eq!(micros(Some(&timestamp(us))), us);
        assert_eq!(micros(None), 0);
    }
}
