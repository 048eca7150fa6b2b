//! How values read on screen: times in UTC, "5 min ago", numbers with separators.

use time::OffsetDateTime;

// Written by hand rather than with `time`'s format descriptions: those pull its whole
// formatting machinery into the console's wasm for two fixed layouts.

/// `2026-12-01 10:03 UTC`.
pub fn utc(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", utc_date(at), at.hour(), at.minute())
}

/// `2026-12-01`.
pub fn utc_date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

/// How long ago, as the seed's "Last connected" column reads: "just now",
/// "5 min ago", "3 h ago", "2 days ago".
pub fn ago(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - at).whole_seconds();
    match seconds {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s if s < 2 * 86_400 => "1 day ago".to_owned(),
        s => format!("{} days ago", s / 86_400),
    }
}

/// `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The contract's `snake_case` value as words: `update_available` → "Update available".
pub fn words(snake: &str) -> String {
    let spaced = snake.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_read_in_utc() {
        assert_eq!(
            utc(datetime!(2026-12-01 11:03:09 +01:00)),
            "2026-12-01 10:03 UTC"
        );
        assert_eq!(utc_date(datetime!(2026-12-01 00:30 +01:00)), "2026-11-30");
    }

    #[test]
    fn ages_read_in_the_largest_unit() {
        let now = datetime!(2026-12-01 12:00 UTC);
        assert_eq!(ago(datetime!(2026-12-01 11:59:30 UTC), now), "just now");
        assert_eq!(ago(datetime!(2026-12-01 11:55 UTC), now), "5 min ago");
        assert_eq!(ago(datetime!(2026-12-01 09:00 UTC), now), "3 h ago");
        assert_eq!(ago(datetime!(2026-11-30 11:00 UTC), now), "1 day ago");
        assert_eq!(ago(datetime!(2026-11-20 12:00 UTC), now), "11 days ago");
    }

    #[test]
    fn counts_and_words() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(words("update_available"), "Update available");
        assert_eq!(words(""), "");
    }
}
