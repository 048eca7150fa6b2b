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

/// New ids for things made together at `at`: they sort by `at` and, within it, in the
/// order they are made (a batch of alerts lists in the order the sensor sent it).
pub struct TimeOrderedIds {
    generator: ulid::Generator,
    at: std::time::SystemTime,
}

impl TimeOrderedIds {
    pub fn new(at: OffsetDateTime) -> Self {
        Self {
            generator: ulid::Generator::new(),
            at: at.into(),
        }
    }

    pub fn next_id(&mut self) -> String {
        match self.generator.generate_from_datetime(self.at) {
            Ok(id) => id.to_string(),
            // 2^80 ids in one millisecond: never; a plain time-ordered id still sorts by `at`.
            Err(_) => Ulid::from_datetime(self.at).to_string(),
        }
    }
}
