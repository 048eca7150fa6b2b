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

/// The sort-key range of [`time_ordered`] ids made from `since` up to `until` (each
/// to the millisecond, so the range may hold ids a little outside the instants: a
/// caller checks the instants themselves).
pub fn time_ordered_range(
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
) -> (String, String) {
    let millis = |at: OffsetDateTime| (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    let low = since.map_or(0, millis);
    let high = until.map_or(Ulid::from_parts(u64::MAX, 0).timestamp_ms(), millis);
    (
        Ulid::from_parts(low, 0).to_string(),
        Ulid::from_parts(high, u128::MAX).to_string(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn a_time_window_holds_the_ids_made_in_it_and_not_those_outside() {
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let (low, high) = time_ordered_range(Some(at), Some(at + Duration::seconds(1)));
        for inside in [
            at,
            at + Duration::milliseconds(500),
            at + Duration::seconds(1),
        ] {
            let id = time_ordered(inside);
            assert!(low <= id && id <= high, "{inside}");
        }
        for outside in [
            at - Duration::milliseconds(1),
            at + Duration::milliseconds(1001),
        ] {
            let id = time_ordered(outside);
            assert!(!(low <= id && id <= high), "{outside}");
        }
        let (low, high) = time_ordered_range(None, None);
        assert!(low <= time_ordered(at) && time_ordered(at) <= high);
    }
}
