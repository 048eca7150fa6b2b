//! Row selection that can reach past the loaded page: either chosen rows, or "all
//! that match the filter" minus the ones unticked.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection<Id: Ord> {
    Chosen(BTreeSet<Id>),
    AllMatching { except: BTreeSet<Id> },
}

impl<Id: Ord + Clone> Default for Selection<Id> {
    fn default() -> Self {
        Selection::Chosen(BTreeSet::new())
    }
}

impl<Id: Ord + Clone> Selection<Id> {
    pub fn is_selected(&self, id: &Id) -> bool {
        match self {
            Selection::Chosen(chosen) => chosen.contains(id),
            Selection::AllMatching { except } => !except.contains(id),
        }
    }

    pub fn toggle(&mut self, id: &Id) {
        let set = match self {
            Selection::Chosen(chosen) => chosen,
            Selection::AllMatching { except } => except,
        };
        if !set.remove(id) {
            set.insert(id.clone());
        }
    }

    /// Ticks (or unticks, when all are ticked already) every row of the page.
    pub fn toggle_page(&mut self, page: &[Id]) {
        let all_ticked = !page.is_empty() && page.iter().all(|id| self.is_selected(id));
        for id in page {
            if self.is_selected(id) == all_ticked {
                self.toggle(id);
            }
        }
    }

    pub fn select_all_matching(&mut self) {
        *self = Selection::AllMatching {
            except: BTreeSet::new(),
        };
    }

    pub fn clear(&mut self) {
        *self = Selection::default();
    }

    pub fn is_all_matching(&self) -> bool {
        matches!(self, Selection::AllMatching { .. })
    }

    /// How many rows are selected, given how many match the filter (known once
    /// every page is loaded, or from a count).
    pub fn count(&self, matching: usize) -> usize {
        match self {
            Selection::Chosen(chosen) => chosen.len(),
            Selection::AllMatching { except } => matching.saturating_sub(except.len()),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Selection::Chosen(chosen) if chosen.is_empty())
    }

    /// The selected ids among `all` (every id that matches the filter), in order.
    pub fn resolve(&self, all: &[Id]) -> Vec<Id> {
        all.iter()
            .filter(|id| self.is_selected(id))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_rows_toggle_one_by_one() {
        let mut selection = Selection::default();
        selection.toggle(&1);
        selection.toggle(&2);
        selection.toggle(&1);
        assert!(!selection.is_selected(&1));
        assert!(selection.is_selected(&2));
        assert_eq!(selection.count(100), 1);
        assert_eq!(selection.resolve(&[1, 2, 3]), vec![2]);
    }

    #[test]
    fn all_matching_reaches_rows_not_loaded_yet_and_keeps_exceptions() {
        let mut selection: Selection<u32> = Selection::default();
        selection.select_all_matching();
        assert!(selection.is_selected(&999));
        selection.toggle(&5);
        assert!(!selection.is_selected(&5));
        assert_eq!(selection.count(120), 119);
        assert_eq!(selection.resolve(&[4, 5, 6]), vec![4, 6]);
        selection.clear();
        assert!(selection.is_empty());
    }

    #[test]
    fn toggling_a_page_ticks_it_then_unticks_it() {
        let mut selection = Selection::default();
        selection.toggle(&2);
        selection.toggle_page(&[1, 2, 3]);
        assert_eq!(selection.resolve(&[1, 2, 3, 4]), vec![1, 2, 3]);
        selection.toggle_page(&[1, 2, 3]);
        assert!(selection.is_empty());
    }
}
