//! Reading several partitions as one: lists of site-scoped resources that span one
//! partition per permitted site (or per status), merged in sort-key order behind one
//! opaque cursor; and many gets at once.
//!
//! The merged lists only ever span partitions whose sort keys are the resources' ids,
//! unique across the partitions merged (an alert is in one status partition at a time,
//! a device in one site). So the position of a page is a single sort key: the last one
//! examined. The cursor holds only that; the partitions are recomputed from the
//! caller's permissions on every page, so a cursor can never reach a partition the
//! caller may not read (forging one could only skip items).

use std::collections::VecDeque;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::task::JoinSet;

use crate::http::error::{ApiError, ApiResult};
use crate::store::{Index, Item, Query, QueryPage, SortKeyRange, Table};

/// One partition of a merged list: of the table, or of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub index: Option<Index>,
    pub pk: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Highest sort key first: newest first for time-ordered ids.
    Descending,
    Ascending,
}

/// A page of a merged list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedPage {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// Ids are made of letters, digits, `-` and `_`: every one sorts between these.
const LOWEST_SORT_KEY: &str = "-";
const HIGHEST_SORT_KEY: &str = "~";
const CURSOR_PREFIX: &str = "m1:";
/// A page reads each partition once, and refills emptied ones when items are
/// filtered out; at most this many queries per partition, then the page ends early
/// (shorter than `limit`, with a cursor).
const QUERIES_PER_SOURCE: usize = 4;
/// The cursor of a page that ended at `sort_key`.
pub fn cursor_after(sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{sort_key}"))
}

/// The sort key a cursor resumes after; `400` for anything this module did not issue.
pub fn resume_after(cursor: &str) -> ApiResult<String> {
    let refused = || {
        ApiError::invalid_field(
            "cursor",
            "is not a cursor this list issued; pass back next_cursor as is",
        )
    };
    if cursor.len() > 256 {
        return Err(refused());
    }
    let decoded = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refused())?;
    let text = String::from_utf8(decoded).map_err(|_| refused())?;
    let sort_key = text.strip_prefix(CURSOR_PREFIX).ok_or_else(refused)?;
    let is_id = !sort_key.is_empty()
        && sort_key.len() <= shared::model::MAX_ID_LEN
        && sort_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !is_id {
        return Err(refused());
    }
    Ok(sort_key.to_owned())
}

/// One partition being read.
struct Stream {
    query: Query,
    buffer: VecDeque<Item>,
    /// The store's cursor for the rest of the partition, if any.
    next: Option<String>,
}

impl Stream {
    fn head(&self) -> Option<&str> {
        self.buffer
            .front()
            .and_then(|item| item.key_in(self.query.index))
            .map(|key| key.sk.as_str())
    }

    fn has_more(&self) -> bool {
        !self.buffer.is_empty() || self.next.is_some()
    }
}

/// A page of up to `limit` items of `sources` merged in `order` by sort key, after the
/// position of `cursor`. `keep` filters items (a page may then be shorter than
/// `limit`; its cursor still moves past everything examined).
pub async fn merged_page(
    table: &Arc<dyn Table>,
    sources: Vec<Source>,
    order: Order,
    cursor: Option<&str>,
    limit: u32,
    keep: impl Fn(&Item) -> ApiResult<bool>,
) -> ApiResult<MergedPage> {
    let after = cursor.map(resume_after).transpose()?;
    if sources.is_empty() {
        return Ok(MergedPage {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let range = match (&after, order) {
        (None, _) => SortKeyRange::All,
        (Some(after), Order::Descending) => {
            SortKeyRange::Between(LOWEST_SORT_KEY.to_owned(), after.clone())
        }
        (Some(after), Order::Ascending) => {
            SortKeyRange::Between(after.clone(), HIGHEST_SORT_KEY.to_owned())
        }
    };
    // One more than the page, for the item at the cursor itself (ranges are inclusive).
    let per_query = limit.saturating_add(1);
    let queries: Vec<Query> = sources
        .into_iter()
        .map(|source| Query {
            index: source.index,
            pk: source.pk,
            range: range.clone(),
            descending: order == Order::Descending,
            limit: per_query,
            cursor: None,
        })
        .collect();
    let budget = queries.len() * QUERIES_PER_SOURCE;
    let mut queries_made = queries.len();
    let pages = query_all(table, queries.clone()).await?;
    let mut streams: Vec<Stream> = queries
        .into_iter()
        .zip(pages)
        .map(|(query, page)| Stream {
            query,
            buffer: page.items.into(),
            next: page.next_cursor,
        })
        .collect();

    let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut last_examined: Option<String> = None;
    let mut ended_early = false;
    while items.len() < wanted {
        // A partition with an empty buffer but more to read could hold the next item.
        let emptied: Vec<usize> = (0..streams.len())
            .filter(|&n| streams[n].buffer.is_empty() && streams[n].next.is_some())
            .collect();
        if !emptied.is_empty() {
            if queries_made + emptied.len() > budget {
                ended_early = true;
                break;
            }
            queries_made += emptied.len();
            let refills = emptied
                .iter()
                .map(|&n| Query {
                    cursor: streams[n].next.clone(),
                    ..streams[n].query.clone()
                })
                .collect();
            for (n, page) in emptied.into_iter().zip(query_all(table, refills).await?) {
                streams[n].buffer = page.items.into();
                streams[n].next = page.next_cursor;
            }
            continue;
        }
        let best = streams
            .iter()
            .enumerate()
            .filter_map(|(n, stream)| stream.head().map(|head| (n, head)))
            .reduce(|best, candidate| {
                let better = match order {
                    Order::Descending => candidate.1 > best.1,
                    Order::Ascending => candidate.1 < best.1,
                };
                if better { candidate } else { best }
            })
            .map(|(n, _)| n);
        let Some(n) = best else { break };
        let Some(item) = streams[n].buffer.pop_front() else {
            break;
        };
        let sort_key = item
            .key_in(streams[n].query.index)
            .map(|key| key.sk.clone())
            .unwrap_or_default();
        if after.as_deref() == Some(sort_key.as_str()) {
            continue;
        }
        let kept = keep(&item)?;
        last_examined = Some(sort_key);
        if kept {
            items.push(item);
        }
    }
    let more = ended_early || streams.iter().any(Stream::has_more);
    let next_cursor = if more {
        last_examined.or(after).as_deref().map(cursor_after)
    } else {
        None
    };
    Ok(MergedPage { items, next_cursor })
}

/// Runs `queries` concurrently; the pages in the same order.
pub async fn query_all(table: &Arc<dyn Table>, queries: Vec<Query>) -> ApiResult<Vec<QueryPage>> {
    if let [query] = queries.as_slice() {
        return Ok(vec![table.query(query).await?]);
    }
    let mut running = JoinSet::new();
    let count = queries.len();
    for (n, query) in queries.into_iter().enumerate() {
        let table = Arc::clone(table);
        running.spawn(async move { (n, table.query(&query).await) });
    }
    let mut pages: Vec<Option<QueryPage>> = (0..count).map(|_| None).collect();
    while let Some(done) = running.join_next().await {
        let (n, page) = done.map_err(|e| ApiError::Internal(format!("query task: {e}")))?;
        pages[n] = Some(page?);
    }
    pages
        .into_iter()
        .map(|page| page.ok_or_else(|| ApiError::Internal("a query did not finish".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedTable;
    use crate::store::{Key, TableWrite};

    /// Three partitions with interleaved ids `i000`…: partition `n % 3` holds id `n`.
    async fn three_partitions(count: usize) -> (Arc<dyn Table>, tempfile::TempDir) {
        let directory = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(directory.path().join("t.redb"), [3; 32]).unwrap();
        let items = (0..count)
            .map(|n| {
                Item::new(
                    Key::new(format!("P{}", n % 3), format!("i{n:03}")),
                    vec![u8::from(n % 2 == 0)],
                )
            })
            .collect();
        table.batch_put(items).await.unwrap();
        (Arc::new(table), directory)
    }

    fn sources() -> Vec<Source> {
        (0..3)
            .map(|n| Source {
                index: None,
                pk: format!("P{n}"),
            })
            .collect()
    }

    async fn read_all(
        table: &Arc<dyn Table>,
        order: Order,
        limit: u32,
        keep: impl Fn(&Item) -> ApiResult<bool> + Copy,
    ) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = merged_page(table, sources(), order, cursor.as_deref(), limit, keep)
                .await
                .unwrap();
            pages.push(page.items.iter().map(|item| item.key.sk.clone()).collect());
            cursor = page.next_cursor;
            if cursor.is_none() {
                return pages;
            }
        }
    }

    #[tokio::test]
    async fn merged_pages_list_every_item_once_in_order() {
        // GIVEN 25 items spread over three partitions
        let (table, _dir) = three_partitions(25).await;
        // WHEN read newest first, 4 at a time
        let pages = read_all(&table, Order::Descending, 4, |_| Ok(true)).await;
        // THEN full pages, in descending order, each item once, no empty last page
        let all: Vec<String> = pages.concat();
        let expected: Vec<String> = (0..25).rev().map(|n| format!("i{n:03}")).collect();
        assert_eq!(all, expected);
        assert_eq!(pages.len(), 7);
        assert!(pages[..6].iter().all(|page| page.len() == 4));
        // AND ascending too
        let ascending: Vec<String> = read_all(&table, Order::Ascending, 7, |_| Ok(true))
            .await
            .concat();
        assert_eq!(
            ascending,
            (0..25).map(|n| format!("i{n:03}")).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_filtered_merge_still_sees_every_kept_item_once() {
        let (table, _dir) = three_partitions(40).await;
        let even = |item: &Item| Ok(item.body == [1]);
        let all: Vec<String> = read_all(&table, Order::Descending, 3, even).await.concat();
        let expected: Vec<String> = (0..40)
            .rev()
            .filter(|n| n % 2 == 0)
            .map(|n| format!("i{n:03}"))
            .collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn a_cursor_names_the_sort_key_it_resumes_after() {
        let cursor = cursor_after("01HQ7Z3T0000000000000000AB");
        assert_eq!(resume_after(&cursor).unwrap(), "01HQ7Z3T0000000000000000AB");
    }

    #[test]
    fn anything_but_an_issued_cursor_is_refused() {
        let forged_key = URL_SAFE_NO_PAD.encode("m1:ALERT#other#x");
        for refused in [
            "",
            "not base64 !",
            "bTE6",
            &forged_key,
            &URL_SAFE_NO_PAD.encode("x1:abc"),
        ] {
            assert!(resume_after(refused).is_err(), "{refused:?}");
        }
    }
}
