//! Grouping and sorting of the rows a grid shows.

use std::cmp::Ordering;

/// Groups rows by a key, groups in key order, rows in their given order.
pub fn group_by<T, K: Ord + Clone>(rows: &[T], key: impl Fn(&T) -> K) -> Vec<(K, Vec<&T>)> {
    let mut groups: Vec<(K, Vec<&T>)> = Vec::new();
    for row in rows {
        let k = key(row);
        match groups.binary_search_by(|(existing, _)| existing.cmp(&k)) {
            Ok(index) => groups[index].1.push(row),
            Err(index) => groups.insert(index, (k, vec![row])),
        }
    }
    groups
}

/// Which column a grid is sorted by, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: usize,
    pub ascending: bool,
}

impl Sort {
    /// Clicking the sorted column flips it; another column sorts ascending.
    pub fn clicked(current: Option<Sort>, column: usize) -> Sort {
        match current {
            Some(sort) if sort.column == column => Sort {
                column,
                ascending: !sort.ascending,
            },
            _ => Sort {
                column,
                ascending: true,
            },
        }
    }

    /// The `aria-sort` value of a column.
    pub fn aria(current: Option<Sort>, column: usize) -> &'static str {
        match current {
            Some(sort) if sort.column == column && sort.ascending => "ascending",
            Some(sort) if sort.column == column => "descending",
            _ => "none",
        }
    }

    /// Sorts by the text of the column, stable; empty cells last either way.
    pub fn apply<T>(self, rows: &mut [T], cell: impl Fn(&T) -> String) {
        rows.sort_by(|a, b| {
            let (a, b) = (cell(a), cell(b));
            match (a.is_empty(), b.is_empty()) {
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ if self.ascending => a.to_lowercase().cmp(&b.to_lowercase()),
                _ => b.to_lowercase().cmp(&a.to_lowercase()),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_group_by_key_in_key_order_keeping_row_order() {
        let rows = [("b", 1), ("a", 2), ("b", 3)];
        let groups = group_by(&rows, |row| row.0);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, "a");
        assert_eq!(groups[1].1, vec![&("b", 1), &("b", 3)]);
    }

    #[test]
    fn clicking_a_column_sorts_it_then_flips_it() {
        let first = Sort::clicked(None, 2);
        assert_eq!(
            first,
            Sort {
                column: 2,
                ascending: true
            }
        );
        assert_eq!(Sort::aria(Some(first), 2), "ascending");
        let second = Sort::clicked(Some(first), 2);
        assert!(!second.ascending);
        assert_eq!(Sort::aria(Some(second), 2), "descending");
        assert_eq!(Sort::aria(Some(second), 1), "none");
        assert!(Sort::clicked(Some(second), 1).ascending);
    }

    #[test]
    fn sorting_ignores_case_and_puts_empty_cells_last() {
        let mut rows = vec!["b", "", "A", "c"];
        Sort {
            column: 0,
            ascending: true,
        }
        .apply(&mut rows, |r| r.to_string());
        assert_eq!(rows, vec!["A", "b", "c", ""]);
        Sort {
            column: 0,
            ascending: false,
        }
        .apply(&mut rows, |r| r.to_string());
        assert_eq!(rows, vec!["c", "b", "A", ""]);
    }
}
