//! New ids: ULIDs, unique without coordination and sortable by creation time.

use time::OffsetDateTime;
use ulid::Ulid;

/// A new id for anything.
pub fn new() -> String {
    Ulid::new().to_string()
}

/// A new id that sorts by `at` (to the millisecond), for time-ordered partitions.
pub fn time_ordered(at: OffsetDateTime) -> String {
    let millis = (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    Ulid::from_parts(millis, rand_bits()).to_string()
}

fn rand_bits() -> u128 {
    Ulid::new().random()
}
