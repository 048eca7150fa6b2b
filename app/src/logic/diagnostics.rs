//! What the console says of a sensor's diagnostics archive: the one last sent, and
//! whether a picked file can be sent at all (the server's own size rule, before the
//! bytes travel).

use shared::api::{DiagnosticsArchive, check_diagnostics_size};

use crate::logic::format::utc;

/// "412 KiB, sent 2026-12-03 17:00 UTC by …, SHA-256 …", or that none was.
pub fn archive_summary(archive: Option<&DiagnosticsArchive>) -> String {
    match archive {
        None => "None sent".to_owned(),
        Some(archive) => format!(
            "{}, sent {} by {}, SHA-256 {}",
            size(archive.size_bytes),
            utc(archive.uploaded_at),
            archive.uploaded_by,
            archive.sha256
        ),
    }
}

/// The picked file as the form shows it, and why it cannot be sent, if it cannot.
pub fn picked_file(name: &str, bytes: u64) -> (String, Option<String>) {
    let problem = check_diagnostics_size(bytes)
        .err()
        .map(|why| format!("{name} cannot be sent: {why}"));
    (format!("{name} ({})", size(bytes)), problem)
}

fn size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_last_archive_is_described_with_what_support_checks_it_against() {
        assert_eq!(archive_summary(None), "None sent");
        let archive = DiagnosticsArchive {
            size_bytes: 600_000,
            sha256: "ab12".into(),
            uploaded_at: datetime!(2026-12-03 17:00 UTC),
            uploaded_by: shared::model::Email::parse("ops@example.com").unwrap(),
        };
        let summary = archive_summary(Some(&archive));
        assert!(
            summary.starts_with("586 KiB, sent 2026-12-03 17:00"),
            "{summary}"
        );
        assert!(
            summary.ends_with("by ops@example.com, SHA-256 ab12"),
            "{summary}"
        );
    }

    #[test]
    fn a_picked_file_outside_the_size_rule_says_why_before_it_is_sent() {
        assert_eq!(
            picked_file("diag.tar", 900),
            ("diag.tar (900 bytes)".into(), None)
        );
        let (shown, problem) = picked_file("big.tar", 2 * 1024 * 1024);
        assert_eq!(shown, "big.tar (2048 KiB)");
        assert_eq!(
            problem.as_deref(),
            Some("big.tar cannot be sent: the archive is 2048 KiB; at most 1024 KiB is taken")
        );
        let (_, empty) = picked_file("empty.tar", 0);
        assert_eq!(
            empty.as_deref(),
            Some("empty.tar cannot be sent: the archive is empty")
        );
    }
}
