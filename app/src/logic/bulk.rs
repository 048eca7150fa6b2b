//! Progress of a bulk action: how many items are done, which failed and why, and
//! whether the user cancelled. The page renders it; the loop driving the requests
//! records into it.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkProgress {
    pub total: usize,
    pub done: usize,
    /// The item (as the user knows it) and why it failed.
    pub failed: Vec<(String, String)>,
    pub cancelled: bool,
}

impl BulkProgress {
    pub fn new(total: usize) -> Self {
        BulkProgress {
            total,
            ..Default::default()
        }
    }

    pub fn succeeded(&mut self, items: usize) {
        self.done += items;
    }

    pub fn failed(&mut self, item: impl Into<String>, why: impl Into<String>) {
        self.failed.push((item.into(), why.into()));
    }

    /// Items answered so far, whichever way.
    pub fn settled(&self) -> usize {
        self.done + self.failed.len()
    }

    pub fn is_finished(&self) -> bool {
        self.cancelled || self.settled() >= self.total
    }

    /// 0 to 100, for the progress bar.
    pub fn percent(&self) -> u8 {
        if self.total == 0 {
            return 100;
        }
        let percent = self.settled().min(self.total) * 100 / self.total;
        percent as u8
    }

    /// "3 of 10 done, 1 failed", "Cancelled after 4 of 10".
    pub fn summary(&self) -> String {
        let failed = if self.failed.is_empty() {
            String::new()
        } else {
            format!(", {} failed", self.failed.len())
        };
        if self.cancelled && self.settled() < self.total {
            format!(
                "Cancelled after {} of {}{failed}",
                self.settled(),
                self.total
            )
        } else {
            format!("{} of {} done{failed}", self.done, self.total)
        }
    }
}

/// Splits work into requests of at most `size` items, in order.
pub fn chunks<T: Clone>(items: &[T], size: usize) -> Vec<Vec<T>> {
    items.chunks(size.max(1)).map(<[T]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_successes_and_failures_until_everything_is_settled() {
        let mut progress = BulkProgress::new(4);
        assert_eq!(progress.percent(), 0);
        progress.succeeded(2);
        progress.failed("pump-3", "sensor pump-3 takes no TI packages");
        assert!(!progress.is_finished());
        assert_eq!(progress.percent(), 75);
        assert_eq!(progress.summary(), "2 of 4 done, 1 failed");
        progress.succeeded(1);
        assert!(progress.is_finished());
        assert_eq!(progress.percent(), 100);
    }

    #[test]
    fn a_cancelled_run_is_finished_and_says_where_it_stopped() {
        let mut progress = BulkProgress::new(10);
        progress.succeeded(4);
        progress.cancelled = true;
        assert!(progress.is_finished());
        assert_eq!(progress.summary(), "Cancelled after 4 of 10");
    }

    #[test]
    fn nothing_to_do_is_done() {
        let progress = BulkProgress::new(0);
        assert!(progress.is_finished());
        assert_eq!(progress.percent(), 100);
    }

    #[test]
    fn work_is_chunked_in_order() {
        assert_eq!(
            chunks(&[1, 2, 3, 4, 5], 2),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        assert_eq!(chunks::<u8>(&[], 2), Vec::<Vec<u8>>::new());
    }
}
