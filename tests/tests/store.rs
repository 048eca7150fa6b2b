//! The store conformance suite. Every case is written once, against `Arc<dyn Table>`, and
//! runs against the embedded store (a temporary redb file) and against DynamoDB (a moto
//! server the harness starts): both implementations must behave the same.
//! The crash test, for the embedded store only, closes the file.

use std::any::Any;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use functions::store::embedded::EmbeddedTable;
use functions::store::{
    Condition, Index, Item, Key, MAX_ITEM_BYTES, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES,
    MAX_TRANSACTION_BYTES, MAX_TRANSACTION_OPS, Query, QueryPage, SortKeyRange, StoreError, Table,
    TableRead, Write, item_size, transaction_size,
};
use vigil_tests::moto::Moto;

const CURSOR_KEY: [u8; 32] = [42; 32];

/// A table under test, and what must live as long as it does (its directory or server).
struct Backend {
    table: Arc<dyn Table>,
    _keep_alive: Box<dyn Any + Send>,
}

impl Backend {
    fn embedded() -> Self {
        let directory = tempfile::tempdir().expect("temporary directory");
        let table = EmbeddedTable::open(directory.path().join("store.redb"), CURSOR_KEY)
            .expect("open the embedded store");
        Self {
            table: Arc::new(table),
            _keep_alive: Box::new(directory),
        }
    }

    /// A fresh table on the shared moto server.
    async fn dynamodb() -> Self {
        static TABLES: AtomicUsize = AtomicUsize::new(0);
        let moto = tokio::task::spawn_blocking(Moto::shared)
            .await
            .expect("start moto");
        let name = format!("vigil-store-{}", TABLES.fetch_add(1, Ordering::Relaxed));
        let table = moto.table(&name, CURSOR_KEY).await;
        Self {
            table: Arc::new(table),
            _keep_alive: Box::new(moto),
        }
    }
}

/// Runs each case, once per backend, as `embedded::<case>` and `dynamodb::<case>`.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::embedded();
                    super::$case(backend.table.clone()).await;
                }
            )+
        }

        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::dynamodb().await;
                    super::$case(backend.table.clone()).await;
                }
            )+
        }
    };
}

conformance!(
    put_creates_an_item_at_version_one_that_get_returns,
    get_of_a_missing_key_returns_none,
    bodies_round_trip_byte_for_byte,
    every_put_increments_the_version,
    must_not_exist_creates_once_then_fails,
    must_exist_fails_on_a_missing_item_and_replaces_an_existing_one,
    version_is_succeeds_on_the_current_version_only,
    delete_removes_the_item_and_its_index_entries,
    conditional_delete_that_fails_deletes_nothing,
    transaction_applies_every_write_and_returns_new_versions,
    failed_transaction_writes_nothing_and_names_the_failing_operation,
    check_guards_a_transaction_without_writing,
    unconditional_puts_in_a_transaction_return_the_next_version,
    query_returns_one_partition_in_ascending_sort_key_order,
    descending_query_returns_the_highest_sort_keys_first,
    begins_with_selects_exactly_the_prefix,
    between_includes_both_bounds,
    pages_return_every_item_exactly_once_in_order,
    index_queries_order_by_index_sort_key_and_paginate,
    replacing_an_item_moves_its_index_entries,
    cursor_only_resumes_the_query_it_came_from,
    tampered_cursor_is_rejected,
    empty_or_oversized_keys_are_invalid,
    items_over_400_kb_are_invalid_and_items_at_the_limit_are_stored,
    transactions_over_the_stores_limits_are_invalid,
    get_many_answers_each_key_in_order_in_one_read,
    malformed_transactions_are_invalid,
    zero_limit_is_invalid,
    batch_put_stores_more_than_25_items_as_given,
    racing_version_checked_updates_lose_nothing,
    racing_unconditional_transactions_each_get_their_own_version,
);

// ---------------------------------------------------------------------------------------
// Helpers

fn key(pk: &str, sk: &str) -> Key {
    Key::new(pk, sk)
}

/// An item whose body names its sort key and a revision, so replacements are visible.
fn item(pk: &str, sk: &str, revision: u32) -> Item {
    Item::new(key(pk, sk), body(sk, revision))
}

fn body(sk: &str, revision: u32) -> Vec<u8> {
    format!(r#"{{"sk":"{sk}","revision":{revision}}}"#).into_bytes()
}

fn indexed(mut item: Item, gsi1: Option<Key>, gsi2: Option<Key>) -> Item {
    item.gsi1 = gsi1;
    item.gsi2 = gsi2;
    item
}

fn put(item: Item, condition: Condition) -> Write {
    Write::Put { item, condition }
}

fn query(index: Option<Index>, pk: &str, range: SortKeyRange, descending: bool) -> Query {
    Query {
        index,
        pk: pk.into(),
        range,
        descending,
        limit: 100,
        cursor: None,
    }
}

async fn create(table: &Arc<dyn Table>, items: impl IntoIterator<Item = Item>) {
    for item in items {
        table
            .put(item, Condition::MustNotExist)
            .await
            .expect("create item");
    }
}

/// Every page of `query`, `limit` items at a time; checks each page's size on the way.
async fn all_pages(table: &Arc<dyn Table>, mut query: Query, limit: u32) -> Vec<Item> {
    query.limit = limit;
    let mut items = Vec::new();
    loop {
        let QueryPage {
            items: page,
            next_cursor,
        } = table.query(&query).await.expect("query");
        assert!(
            page.len() <= limit as usize,
            "a page holds at most `limit` items"
        );
        match next_cursor {
            Some(cursor) => {
                assert_eq!(
                    page.len(),
                    limit as usize,
                    "only the last page may be short"
                );
                items.extend(page);
                query.cursor = Some(cursor);
            }
            None => {
                items.extend(page);
                return items;
            }
        }
    }
}

fn sort_keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|item| item.key.sk.as_str()).collect()
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "{what}: expected Invalid, got {result:?}"
    );
}

fn assert_condition_failed<T: std::fmt::Debug>(result: Result<T, StoreError>, index: usize) {
    assert!(
        matches!(result, Err(StoreError::ConditionFailed { index: failed }) if failed == index),
        "expected ConditionFailed {{ index: {index} }}, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Single writes and conditions

async fn put_creates_an_item_at_version_one_that_get_returns(table: Arc<dyn Table>) {
    // GIVEN an item with keys in both indexes
    let new = indexed(
        item("SUB#1", "SITE#1", 1),
        Some(key("G1", "A")),
        Some(key("G2", "B")),
    );
    // WHEN it is put
    let version = table.put(new.clone(), Condition::Always).await.unwrap();
    // THEN it is at version 1 and get returns it as written
    assert_eq!(version, 1);
    let stored = table.get(&new.key).await.unwrap().expect("the item");
    assert_eq!(stored, Item { version: 1, ..new });
}

async fn get_of_a_missing_key_returns_none(table: Arc<dyn Table>) {
    // GIVEN an item in the partition
    create(&table, [item("SUB#1", "SITE#1", 1)]).await;
    // WHEN another key of the same partition is read
    let found = table.get(&key("SUB#1", "SITE#2")).await.unwrap();
    // THEN nothing is found
    assert_eq!(found, None);
}

async fn bodies_round_trip_byte_for_byte(table: Arc<dyn Table>) {
    // GIVEN a body that is not UTF-8 (a capture file's header), a JSON body, and an empty one
    let capture = Item::new(
        key("P", "PCAP"),
        vec![0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0xff, 0xfe],
    );
    let json = Item::new(
        key("P", "JSON"),
        r#"{"name":"Zürich ✓"}"#.as_bytes().to_vec(),
    );
    let empty = Item::new(key("P", "EMPTY"), Vec::new());
    // WHEN they are written by put, transaction and batch
    table.put(capture.clone(), Condition::Always).await.unwrap();
    table
        .transact(vec![put(json.clone(), Condition::MustNotExist)])
        .await
        .unwrap();
    table
        .batch_put(vec![Item {
            version: 1,
            ..empty.clone()
        }])
        .await
        .unwrap();
    // THEN reads return exactly the bytes written
    let stored = all_pages(&table, query(None, "P", SortKeyRange::All, false), 10).await;
    let bodies: Vec<(&str, &[u8])> = stored
        .iter()
        .map(|item| (item.key.sk.as_str(), item.body.as_slice()))
        .collect();
    assert_eq!(
        bodies,
        vec![
            ("EMPTY", &empty.body[..]),
            ("JSON", &json.body[..]),
            ("PCAP", &capture.body[..])
        ]
    );
}

async fn every_put_increments_the_version(table: Arc<dyn Table>) {
    // GIVEN an item written once
    let k = key("SUB#1", "SITE#1");
    table
        .put(item("SUB#1", "SITE#1", 1), Condition::Always)
        .await
        .unwrap();
    // WHEN it is replaced twice
    let second = table
        .put(item("SUB#1", "SITE#1", 2), Condition::Always)
        .await
        .unwrap();
    let third = table
        .put(item("SUB#1", "SITE#1", 3), Condition::Always)
        .await
        .unwrap();
    // THEN each write took the next version and the last body is stored
    assert_eq!((second, third), (2, 3));
    let stored = table.get(&k).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.body), (3, body("SITE#1", 3)));
}

async fn must_not_exist_creates_once_then_fails(table: Arc<dyn Table>) {
    // GIVEN an absent item
    // WHEN it is created twice with MustNotExist
    let first = table.put(item("P", "S", 1), Condition::MustNotExist).await;
    let second = table.put(item("P", "S", 2), Condition::MustNotExist).await;
    // THEN the first succeeds, the second fails and changes nothing
    assert_eq!(first.unwrap(), 1);
    assert_condition_failed(second, 0);
    let stored = table.get(&key("P", "S")).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.body), (1, body("S", 1)));
}

async fn must_exist_fails_on_a_missing_item_and_replaces_an_existing_one(table: Arc<dyn Table>) {
    // GIVEN an absent item
    // WHEN it is put with MustExist
    let missing = table.put(item("P", "S", 1), Condition::MustExist).await;
    // THEN it fails and nothing is created
    assert_condition_failed(missing, 0);
    assert_eq!(table.get(&key("P", "S")).await.unwrap(), None);

    // GIVEN the item exists
    create(&table, [item("P", "S", 1)]).await;
    // WHEN it is put with MustExist
    let version = table
        .put(item("P", "S", 2), Condition::MustExist)
        .await
        .unwrap();
    // THEN it is replaced at the next version
    assert_eq!(version, 2);
    assert_eq!(
        table.get(&key("P", "S")).await.unwrap().unwrap().body,
        body("S", 2)
    );
}

async fn version_is_succeeds_on_the_current_version_only(table: Arc<dyn Table>) {
    // GIVEN an item at version 1
    create(&table, [item("P", "S", 1)]).await;
    // WHEN it is written with VersionIs(1), then again with the now stale VersionIs(1)
    let current = table.put(item("P", "S", 2), Condition::VersionIs(1)).await;
    let stale = table.put(item("P", "S", 3), Condition::VersionIs(1)).await;
    // THEN the first write succeeds, the stale one fails and leaves the item as it was
    assert_eq!(current.unwrap(), 2);
    assert_condition_failed(stale, 0);
    let stored = table.get(&key("P", "S")).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.body), (2, body("S", 2)));
    // AND a version condition on an absent item fails without creating it
    let absent = table.put(item("P", "T", 1), Condition::VersionIs(1)).await;
    assert_condition_failed(absent, 0);
    assert_eq!(table.get(&key("P", "T")).await.unwrap(), None);
}

async fn delete_removes_the_item_and_its_index_entries(table: Arc<dyn Table>) {
    // GIVEN an item in both indexes
    let k = key("P", "S");
    let indexed_item = indexed(
        item("P", "S", 1),
        Some(key("G1", "A")),
        Some(key("G2", "B")),
    );
    create(&table, [indexed_item]).await;
    // WHEN it is deleted on its current version
    table
        .delete(k.clone(), Condition::VersionIs(1))
        .await
        .unwrap();
    // THEN neither the table nor an index returns it
    assert_eq!(table.get(&k).await.unwrap(), None);
    for (index, pk) in [(Index::Gsi1, "G1"), (Index::Gsi2, "G2")] {
        let page = table
            .query(&query(Some(index), pk, SortKeyRange::All, false))
            .await
            .unwrap();
        assert!(
            page.items.is_empty(),
            "{index:?} still lists the deleted item"
        );
    }
    // AND deleting an absent item unconditionally succeeds
    table.delete(k, Condition::Always).await.unwrap();
}

async fn conditional_delete_that_fails_deletes_nothing(table: Arc<dyn Table>) {
    // GIVEN an item at version 1
    create(&table, [item("P", "S", 1)]).await;
    // WHEN it is deleted on a stale version, or as MustNotExist
    let stale = table.delete(key("P", "S"), Condition::VersionIs(2)).await;
    let must_not_exist = table.delete(key("P", "S"), Condition::MustNotExist).await;
    // THEN both fail and the item stays
    assert_condition_failed(stale, 0);
    assert_condition_failed(must_not_exist, 0);
    assert!(table.get(&key("P", "S")).await.unwrap().is_some());
    // AND a MustExist delete of an absent item fails
    let absent = table.delete(key("P", "T"), Condition::MustExist).await;
    assert_condition_failed(absent, 0);
}

// ---------------------------------------------------------------------------------------
// Transactions

async fn transaction_applies_every_write_and_returns_new_versions(table: Arc<dyn Table>) {
    // GIVEN a parent, an item to update and an item to delete
    create(
        &table,
        [item("P", "PARENT", 1), item("P", "A", 1), item("P", "C", 1)],
    )
    .await;
    // WHEN one transaction updates, creates, deletes and checks
    let versions = table
        .transact(vec![
            put(item("P", "A", 2), Condition::VersionIs(1)),
            put(item("P", "B", 1), Condition::MustNotExist),
            Write::Delete {
                key: key("P", "C"),
                condition: Condition::MustExist,
            },
            Write::Check {
                key: key("P", "PARENT"),
                condition: Condition::VersionIs(1),
            },
        ])
        .await
        .unwrap();
    // THEN every write happened and each put reports its item's new version
    assert_eq!(versions, vec![2, 1, 0, 0]);
    let stored = all_pages(&table, query(None, "P", SortKeyRange::All, false), 10).await;
    let summary: Vec<(&str, u64)> = stored
        .iter()
        .map(|i| (i.key.sk.as_str(), i.version))
        .collect();
    assert_eq!(summary, vec![("A", 2), ("B", 1), ("PARENT", 1)]);
}

async fn failed_transaction_writes_nothing_and_names_the_failing_operation(table: Arc<dyn Table>) {
    // GIVEN two existing items
    create(&table, [item("P", "Y", 1), item("P", "Z", 1)]).await;
    // WHEN a transaction's third operation has a stale version
    let result = table
        .transact(vec![
            put(item("P", "X", 1), Condition::MustNotExist),
            Write::Delete {
                key: key("P", "Y"),
                condition: Condition::Always,
            },
            put(item("P", "Z", 2), Condition::VersionIs(5)),
        ])
        .await;
    // THEN it fails naming that operation, and none of its writes happened
    assert_condition_failed(result, 2);
    assert_eq!(table.get(&key("P", "X")).await.unwrap(), None);
    assert!(table.get(&key("P", "Y")).await.unwrap().is_some());
    let z = table.get(&key("P", "Z")).await.unwrap().unwrap();
    assert_eq!((z.version, z.body), (1, body("Z", 1)));
}

async fn check_guards_a_transaction_without_writing(table: Arc<dyn Table>) {
    let child = || put(item("SUB#1", "SITE#1", 1), Condition::MustNotExist);
    let parent_exists = || Write::Check {
        key: key("SUBS", "SUB#1"),
        condition: Condition::MustExist,
    };
    // GIVEN no parent
    // WHEN a child is created on the condition that its parent exists
    let orphan = table.transact(vec![parent_exists(), child()]).await;
    // THEN the check fails and the child is not created
    assert_condition_failed(orphan, 0);
    assert_eq!(table.get(&key("SUB#1", "SITE#1")).await.unwrap(), None);

    // GIVEN the parent exists
    create(&table, [item("SUBS", "SUB#1", 1)]).await;
    // WHEN the same transaction runs
    let versions = table
        .transact(vec![parent_exists(), child()])
        .await
        .unwrap();
    // THEN the child is created and the checked parent is left unchanged
    assert_eq!(versions, vec![0, 1]);
    assert_eq!(
        table
            .get(&key("SUBS", "SUB#1"))
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

async fn unconditional_puts_in_a_transaction_return_the_next_version(table: Arc<dyn Table>) {
    // GIVEN A at version 2 and C at version 1
    create(&table, [item("P", "A", 1), item("P", "C", 1)]).await;
    table
        .put(item("P", "A", 2), Condition::Always)
        .await
        .unwrap();
    // WHEN a transaction puts A and a new B with Always, and C with MustExist
    let versions = table
        .transact(vec![
            put(item("P", "A", 3), Condition::Always),
            put(item("P", "B", 1), Condition::Always),
            put(item("P", "C", 2), Condition::MustExist),
        ])
        .await
        .unwrap();
    // THEN each put reports the version now stored
    assert_eq!(versions, vec![3, 1, 2]);
    for (sk, version) in [("A", 3), ("B", 1), ("C", 2)] {
        assert_eq!(
            table.get(&key("P", sk)).await.unwrap().unwrap().version,
            version
        );
    }
    // AND a MustExist put of an absent item fails the transaction at that operation
    let missing = table
        .transact(vec![
            put(item("P", "A", 4), Condition::Always),
            put(item("P", "D", 1), Condition::MustExist),
        ])
        .await;
    assert_condition_failed(missing, 1);
    assert_eq!(table.get(&key("P", "A")).await.unwrap().unwrap().version, 3);
}

// ---------------------------------------------------------------------------------------
// Queries and pagination

async fn query_returns_one_partition_in_ascending_sort_key_order(table: Arc<dyn Table>) {
    // GIVEN items of one partition written out of order, and neighbouring partitions
    create(&table, ["S#3", "S#1", "S#2"].map(|sk| item("P", sk, 1))).await;
    create(
        &table,
        [
            item("PX", "S#0", 1),
            item("O", "S#9", 1),
            item("P#", "S#5", 1),
        ],
    )
    .await;
    // WHEN the partition is queried
    let page = table
        .query(&query(None, "P", SortKeyRange::All, false))
        .await
        .unwrap();
    // THEN exactly its items come back, by ascending sort key, with no further page
    assert_eq!(sort_keys(&page.items), vec!["S#1", "S#2", "S#3"]);
    assert!(
        page.items
            .iter()
            .all(|item| item.key.pk == "P" && item.version == 1)
    );
    assert_eq!(page.next_cursor, None);
}

async fn descending_query_returns_the_highest_sort_keys_first(table: Arc<dyn Table>) {
    // GIVEN a partition of three items
    create(
        &table,
        ["2026-01-02", "2026-01-01", "2026-01-03"].map(|sk| item("P", sk, 1)),
    )
    .await;
    // WHEN it is queried descending
    let page = table
        .query(&query(None, "P", SortKeyRange::All, true))
        .await
        .unwrap();
    // THEN the newest comes first
    assert_eq!(
        sort_keys(&page.items),
        vec!["2026-01-03", "2026-01-02", "2026-01-01"]
    );
}

async fn begins_with_selects_exactly_the_prefix(table: Arc<dyn Table>) {
    // GIVEN sort keys that share, surround and extend the prefix "A#"
    let sks = ["A", "A#", "A#1", "A#2", "A#2#x", "A$", "AB", "B#1", "@"];
    create(&table, sks.map(|sk| item("P", sk, 1))).await;
    let prefix = || SortKeyRange::BeginsWith("A#".into());
    // WHEN the prefix is queried in both directions
    let up = table
        .query(&query(None, "P", prefix(), false))
        .await
        .unwrap();
    let down = table
        .query(&query(None, "P", prefix(), true))
        .await
        .unwrap();
    // THEN exactly the keys starting with it come back, in order
    assert_eq!(sort_keys(&up.items), vec!["A#", "A#1", "A#2", "A#2#x"]);
    assert_eq!(sort_keys(&down.items), vec!["A#2#x", "A#2", "A#1", "A#"]);
}

async fn between_includes_both_bounds(table: Arc<dyn Table>) {
    // GIVEN nine time-ordered sort keys
    create(&table, (1..=9).map(|n| item("P", &format!("T#0{n}"), 1))).await;
    let between = |low: &str, high: &str| SortKeyRange::Between(low.into(), high.into());
    // WHEN ranges are queried whose bounds are, and are not, stored keys
    let exact = table
        .query(&query(None, "P", between("T#03", "T#06"), false))
        .await
        .unwrap();
    let inner = table
        .query(&query(None, "P", between("T#025", "T#055"), true))
        .await
        .unwrap();
    let one = table
        .query(&query(None, "P", between("T#04", "T#04"), false))
        .await
        .unwrap();
    // THEN both bounds are inclusive
    assert_eq!(
        sort_keys(&exact.items),
        vec!["T#03", "T#04", "T#05", "T#06"]
    );
    assert_eq!(sort_keys(&inner.items), vec!["T#05", "T#04", "T#03"]);
    assert_eq!(sort_keys(&one.items), vec!["T#04"]);
}

async fn pages_return_every_item_exactly_once_in_order(table: Arc<dyn Table>) {
    // GIVEN 23 items, and 20 more under another prefix (an exact multiple of the page size)
    let first: Vec<String> = (0..23).map(|n| format!("A#{n:03}")).collect();
    let second: Vec<String> = (0..20).map(|n| format!("B#{n:03}")).collect();
    let items: Vec<Item> = first
        .iter()
        .chain(&second)
        .map(|sk| item("P", sk, 1))
        .collect();
    table.batch_put(items).await.unwrap();
    // WHEN they are read five at a time, in each direction and by prefix
    let up = all_pages(&table, query(None, "P", SortKeyRange::All, false), 5).await;
    let down = all_pages(&table, query(None, "P", SortKeyRange::All, true), 5).await;
    let prefixed = all_pages(
        &table,
        query(None, "P", SortKeyRange::BeginsWith("B#".into()), true),
        5,
    )
    .await;
    // THEN every item comes back exactly once, in order (no empty trailing page: all_pages
    // checks that only the last page is short)
    let mut ascending: Vec<&str> = first.iter().chain(&second).map(String::as_str).collect();
    assert_eq!(sort_keys(&up), ascending);
    ascending.reverse();
    assert_eq!(sort_keys(&down), ascending);
    let second_descending: Vec<&str> = second.iter().rev().map(String::as_str).collect();
    assert_eq!(sort_keys(&prefixed), second_descending);
}

async fn index_queries_order_by_index_sort_key_and_paginate(table: Arc<dyn Table>) {
    // GIVEN alerts of two sites across partitions, several at the same time, and an item
    // in no index
    let alert = |pk: &str, sk: &str, site: &str, at: &str| {
        indexed(
            item(pk, sk, 1),
            Some(key(site, at)),
            Some(key("STATUS#new", &format!("{at}#{sk}"))),
        )
    };
    create(
        &table,
        [
            alert("SUB#1", "ALERT#b", "SITE#1", "T2"),
            alert("SUB#1", "ALERT#a", "SITE#1", "T2"),
            alert("SUB#2", "ALERT#c", "SITE#1", "T2"),
            alert("SUB#1", "ALERT#d", "SITE#1", "T1"),
            alert("SUB#1", "ALERT#e", "SITE#1", "T3"),
            alert("SUB#1", "ALERT#f", "SITE#2", "T1"),
            item("SUB#1", "ALERT#g", 1),
        ],
    )
    .await;
    // WHEN the first index is read two at a time, each way
    let site = || query(Some(Index::Gsi1), "SITE#1", SortKeyRange::All, false);
    let up = all_pages(&table, site(), 2).await;
    let down = all_pages(
        &table,
        Query {
            descending: true,
            ..site()
        },
        2,
    )
    .await;
    // THEN the site's items come back by index sort key, ties by table key, each once
    let order = |items: &[Item]| -> Vec<String> {
        items
            .iter()
            .map(|item| format!("{}/{}", item.key.pk, item.key.sk))
            .collect()
    };
    let expected = [
        "SUB#1/ALERT#d",
        "SUB#1/ALERT#a",
        "SUB#1/ALERT#b",
        "SUB#2/ALERT#c",
        "SUB#1/ALERT#e",
    ];
    assert_eq!(order(&up), expected);
    assert_eq!(
        order(&down),
        expected.iter().rev().copied().collect::<Vec<_>>()
    );
    // AND items come back whole
    assert!(
        up.iter()
            .all(|item| item.body == body(&item.key.sk, 1) && item.version == 1)
    );
    // AND the second index answers ranges too
    let range = SortKeyRange::Between("T2".into(), "T2#~".into());
    let status = all_pages(
        &table,
        query(Some(Index::Gsi2), "STATUS#new", range, false),
        2,
    )
    .await;
    assert_eq!(sort_keys(&status), vec!["ALERT#a", "ALERT#b", "ALERT#c"]);
}

async fn replacing_an_item_moves_its_index_entries(table: Arc<dyn Table>) {
    let in_index = |table: Arc<dyn Table>, index: Index, pk: &'static str| async move {
        let page = table
            .query(&query(Some(index), pk, SortKeyRange::All, false))
            .await
            .unwrap();
        sort_keys(&page.items)
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    // GIVEN an item in the first index under G#A
    create(
        &table,
        [indexed(item("P", "S", 1), Some(key("G#A", "1")), None)],
    )
    .await;
    // WHEN it is replaced under G#B and also put in the second index
    let moved = indexed(
        item("P", "S", 2),
        Some(key("G#B", "1")),
        Some(key("H", "1")),
    );
    table.put(moved, Condition::VersionIs(1)).await.unwrap();
    // THEN only the new index partitions list it
    assert!(in_index(table.clone(), Index::Gsi1, "G#A").await.is_empty());
    assert_eq!(in_index(table.clone(), Index::Gsi1, "G#B").await, vec!["S"]);
    assert_eq!(in_index(table.clone(), Index::Gsi2, "H").await, vec!["S"]);
    // WHEN it is replaced with no index keys
    table
        .put(item("P", "S", 3), Condition::VersionIs(2))
        .await
        .unwrap();
    // THEN no index lists it
    assert!(in_index(table.clone(), Index::Gsi1, "G#B").await.is_empty());
    assert!(in_index(table.clone(), Index::Gsi2, "H").await.is_empty());
}

async fn cursor_only_resumes_the_query_it_came_from(table: Arc<dyn Table>) {
    // GIVEN a cursor from the first page of partition P, and a partition Q
    let items = ["A#1", "A#2", "A#3"].map(|sk| indexed(item("P", sk, 1), Some(key("P", sk)), None));
    create(&table, items).await;
    create(&table, [item("Q", "A#9", 1)]).await;
    let original = Query {
        limit: 1,
        ..query(None, "P", SortKeyRange::All, false)
    };
    let cursor = table
        .query(&original)
        .await
        .unwrap()
        .next_cursor
        .expect("a second page");
    let with_cursor = |query: Query| Query {
        cursor: Some(cursor.clone()),
        ..query
    };
    // WHEN it is used with another partition, direction, range or index
    let others = [
        Query {
            pk: "Q".into(),
            ..original.clone()
        },
        Query {
            descending: true,
            ..original.clone()
        },
        Query {
            range: SortKeyRange::BeginsWith("A#".into()),
            ..original.clone()
        },
        Query {
            index: Some(Index::Gsi1),
            ..original.clone()
        },
    ];
    // THEN each is refused
    for other in others {
        let result = table.query(&with_cursor(other.clone())).await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "{other:?} accepted a cursor of another query: {result:?}"
        );
    }
    // AND the query it came from resumes after the first item, whatever its limit
    let resumed = table
        .query(&with_cursor(Query {
            limit: 10,
            ..original
        }))
        .await
        .unwrap();
    assert_eq!(sort_keys(&resumed.items), vec!["A#2", "A#3"]);
}

async fn tampered_cursor_is_rejected(table: Arc<dyn Table>) {
    // GIVEN a genuine cursor
    create(&table, ["A", "B"].map(|sk| item("P", sk, 1))).await;
    let first = Query {
        limit: 1,
        ..query(None, "P", SortKeyRange::All, false)
    };
    let cursor = table.query(&first).await.unwrap().next_cursor.unwrap();
    // WHEN it is altered, cut, extended, or replaced by garbage
    let flipped = {
        let mut chars: Vec<char> = cursor.chars().collect();
        let middle = chars.len() / 2;
        chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let forgeries = [
        flipped,
        cursor[..cursor.len() - 1].to_string(),
        format!("{cursor}AA"),
        "not a cursor!".to_string(),
        String::new(),
        "A".repeat(20_000),
    ];
    // THEN each is refused as an invalid cursor
    for forged in forgeries {
        let result = table
            .query(&Query {
                cursor: Some(forged.clone()),
                ..first.clone()
            })
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "accepted forged cursor {forged:.40}: {result:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Validation

async fn empty_or_oversized_keys_are_invalid(table: Arc<dyn Table>) {
    let long_pk = "p".repeat(MAX_PARTITION_KEY_BYTES + 1);
    let long_sk = "s".repeat(MAX_SORT_KEY_BYTES + 1);
    // GIVEN items with an empty or oversized key or index key
    let bad = [
        item("", "S", 1),
        item("P", "", 1),
        item(&long_pk, "S", 1),
        item("P", &long_sk, 1),
        indexed(item("P", "S", 1), Some(key("", "1")), None),
        indexed(item("P", "S", 1), None, Some(key("G", &long_sk))),
    ];
    // WHEN each is put
    for bad_item in bad {
        let result = table.put(bad_item.clone(), Condition::Always).await;
        // THEN it is refused as invalid
        assert_invalid(result, &format!("put of {:.60?}", bad_item.key));
    }
    // AND reads with empty keys are refused too, and nothing was written
    assert_invalid(table.get(&key("", "S")).await, "get with an empty pk");
    assert_invalid(table.get(&key("P", "")).await, "get with an empty sk");
    assert_invalid(
        table
            .query(&query(None, "", SortKeyRange::All, false))
            .await,
        "query of \"\"",
    );
    let empty_prefix = query(None, "P", SortKeyRange::BeginsWith(String::new()), false);
    assert_invalid(
        table.query(&empty_prefix).await,
        "query with an empty prefix",
    );
    let inverted = query(
        None,
        "P",
        SortKeyRange::Between("B".into(), "A".into()),
        false,
    );
    assert_invalid(table.query(&inverted).await, "query with an inverted range");
    assert!(
        table
            .query(&query(None, "P", SortKeyRange::All, false))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn items_over_400_kb_are_invalid_and_items_at_the_limit_are_stored(table: Arc<dyn Table>) {
    // GIVEN an item of exactly the limit, and one a byte over it
    let mut at_limit = indexed(item("P", "BIG", 1), Some(key("G", "1")), None);
    at_limit.body = Vec::new();
    at_limit.body = vec![b'x'; MAX_ITEM_BYTES - item_size(&at_limit)];
    assert_eq!(item_size(&at_limit), MAX_ITEM_BYTES);
    let mut over = at_limit.clone();
    over.key.sk = "BIG2".into();
    // WHEN both are put
    let stored = table.put(at_limit.clone(), Condition::Always).await;
    let refused = table.put(over.clone(), Condition::Always).await;
    // THEN the first is stored whole and the second is refused, in a transaction and a batch too
    assert_eq!(stored.unwrap(), 1);
    assert_eq!(
        table.get(&at_limit.key).await.unwrap().unwrap().body,
        at_limit.body
    );
    assert_invalid(refused, "put over the limit");
    assert_invalid(
        table
            .transact(vec![put(over.clone(), Condition::Always)])
            .await,
        "transact",
    );
    assert_invalid(table.batch_put(vec![over.clone()]).await, "batch_put");
    assert_eq!(table.get(&over.key).await.unwrap(), None);
}

async fn transactions_over_the_stores_limits_are_invalid(table: Arc<dyn Table>) {
    let limits = table.transaction_limits();
    // every store takes at least DynamoDB's transactions
    assert!(limits.ops >= MAX_TRANSACTION_OPS, "{limits:?}");
    assert!(limits.bytes >= MAX_TRANSACTION_BYTES, "{limits:?}");
    let puts = |count: usize| -> Vec<Write> {
        (0..count)
            .map(|n| put(item("P", &format!("S#{n:05}"), 1), Condition::MustNotExist))
            .collect()
    };
    let nothing_stored = || async {
        table
            .query(&query(None, "P", SortKeyRange::All, false))
            .await
            .unwrap()
            .items
            .is_empty()
    };
    // GIVEN a transaction one operation over the limit
    // WHEN it is sent
    let result = table.transact(puts(limits.ops + 1)).await;
    // THEN it is refused as invalid and writes nothing
    assert_invalid(result, "a transaction over the limit");
    assert!(nothing_stored().await);
    // AND so is one over the byte limit, in items each within theirs
    let large = |n: usize| {
        let mut large = item("P", &format!("L#{n:05}"), 1);
        large.body = vec![b'x'; MAX_ITEM_BYTES - 200];
        put(large, Condition::MustNotExist)
    };
    let over: Vec<Write> = (0..limits.bytes / (MAX_ITEM_BYTES - 200) + 1)
        .map(large)
        .collect();
    assert!(transaction_size(&over) > limits.bytes);
    assert_invalid(
        table.transact(over).await,
        "a transaction over the byte limit",
    );
    assert!(nothing_stored().await);
    // AND a transaction of exactly the limit succeeds
    let versions = table.transact(puts(limits.ops)).await.unwrap();
    assert_eq!(versions, vec![1; limits.ops]);
}

async fn get_many_answers_each_key_in_order_in_one_read(table: Arc<dyn Table>) {
    // GIVEN 150 items in two partitions (over one BatchGetItem's 100 keys)
    let items: Vec<Item> = (0..150)
        .map(|n| item(if n % 2 == 0 { "A" } else { "B" }, &format!("S#{n:03}"), 1))
        .collect();
    create(&table, items.clone()).await;
    table
        .put(items[7].clone(), Condition::VersionIs(1))
        .await
        .unwrap();
    // WHEN they are read with missing keys between them, one key twice, in no order
    let mut keys: Vec<Key> = items.iter().rev().map(|item| item.key.clone()).collect();
    keys.insert(10, key("A", "missing"));
    keys.push(items[3].key.clone());
    keys.push(key("C", "missing"));
    let found = table.get_many(&keys).await.unwrap();
    // THEN each answer is the item of its key, at its version, or None
    assert_eq!(found.len(), keys.len());
    for (key, found) in keys.iter().zip(&found) {
        match found {
            Some(found) => {
                assert_eq!(&found.key, key);
                let original = items.iter().find(|item| &item.key == key).unwrap();
                assert_eq!(found.body, original.body);
                assert_eq!(
                    found.version,
                    if original.key == items[7].key { 2 } else { 1 }
                );
            }
            None => assert!(key.sk == "missing", "{key:?} not found"),
        }
    }
    assert_eq!(found.iter().filter(|f| f.is_none()).count(), 2);
    // AND no keys is no items
    assert!(table.get_many(&[]).await.unwrap().is_empty());
}

async fn malformed_transactions_are_invalid(table: Arc<dyn Table>) {
    // GIVEN an existing item
    create(&table, [item("P", "A", 1)]).await;
    // WHEN a transaction names one key twice, is empty, or checks nothing
    let twice = table
        .transact(vec![
            put(item("P", "B", 1), Condition::MustNotExist),
            put(item("P", "A", 2), Condition::VersionIs(1)),
            Write::Check {
                key: key("P", "A"),
                condition: Condition::MustExist,
            },
        ])
        .await;
    let empty = table.transact(Vec::new()).await;
    let unconditional_check = table
        .transact(vec![Write::Check {
            key: key("P", "A"),
            condition: Condition::Always,
        }])
        .await;
    // THEN each is refused as invalid and nothing is written
    assert_invalid(twice, "two operations on one key");
    assert_invalid(empty, "an empty transaction");
    assert_invalid(unconditional_check, "a check without a condition");
    assert_eq!(table.get(&key("P", "B")).await.unwrap(), None);
    assert_eq!(table.get(&key("P", "A")).await.unwrap().unwrap().version, 1);
    // AND a batch naming one key twice is refused too
    let batch = table
        .batch_put(vec![item("P", "C", 1), item("P", "C", 2)])
        .await;
    assert_invalid(batch, "a batch with a duplicate key");
}

async fn zero_limit_is_invalid(table: Arc<dyn Table>) {
    // GIVEN a partition with an item
    create(&table, [item("P", "A", 1)]).await;
    // WHEN it is queried with limit 0
    let result = table
        .query(&Query {
            limit: 0,
            ..query(None, "P", SortKeyRange::All, false)
        })
        .await;
    // THEN the query is refused as invalid
    assert_invalid(result, "limit 0");
}

// ---------------------------------------------------------------------------------------
// Batches and races

async fn batch_put_stores_more_than_25_items_as_given(table: Arc<dyn Table>) {
    // GIVEN 60 append-only items carrying their own version and an index key
    let items: Vec<Item> = (0..60)
        .map(|n| {
            let sk = format!("AUDIT#{n:03}");
            let mut entry = indexed(item("SUB#1", &sk, 1), Some(key("ACTOR#a", &sk)), None);
            entry.version = 7;
            entry
        })
        .collect();
    // WHEN they are written in one batch
    table.batch_put(items.clone()).await.unwrap();
    // THEN all are stored exactly as given, in the table and in the index
    let stored = all_pages(&table, query(None, "SUB#1", SortKeyRange::All, false), 25).await;
    assert_eq!(stored, items);
    let by_actor = all_pages(
        &table,
        query(Some(Index::Gsi1), "ACTOR#a", SortKeyRange::All, false),
        25,
    )
    .await;
    assert_eq!(by_actor.len(), 60);
}

async fn racing_version_checked_updates_lose_nothing(table: Arc<dyn Table>) {
    const WRITERS: u64 = 20;
    const WINS_EACH: u64 = 2;
    // GIVEN a counter at version 1
    let counter = key("P", "COUNTER");
    table
        .put(
            Item::new(counter.clone(), b"0".to_vec()),
            Condition::MustNotExist,
        )
        .await
        .unwrap();
    // WHEN 20 writers each increment it twice by read-modify-write on the version read
    let writers = (0..WRITERS).map(|_| {
        let table = table.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            let mut won = Vec::new();
            while (won.len() as u64) < WINS_EACH {
                let current = table.get(&counter).await.unwrap().unwrap();
                let count: u64 = std::str::from_utf8(&current.body).unwrap().parse().unwrap();
                let next = Item::new(counter.clone(), (count + 1).to_string().into_bytes());
                match table.put(next, Condition::VersionIs(current.version)).await {
                    Ok(version) => {
                        assert_eq!(version, current.version + 1);
                        won.push(version);
                    }
                    Err(StoreError::ConditionFailed { index: 0 }) => {}
                    Err(error) => panic!("unexpected store error: {error}"),
                }
            }
            won
        })
    });
    let mut won = Vec::new();
    for writer in writers.collect::<Vec<_>>() {
        won.extend(writer.await.unwrap());
    }
    // THEN each version was won exactly once, and the count equals the successful writes
    let total = WRITERS * WINS_EACH;
    let distinct: BTreeSet<u64> = won.iter().copied().collect();
    assert_eq!(won.len() as u64, total);
    assert_eq!(
        distinct,
        (2..=total + 1).collect(),
        "every version won exactly once"
    );
    let last = table.get(&counter).await.unwrap().unwrap();
    assert_eq!(last.version, total + 1);
    assert_eq!(last.body, total.to_string().into_bytes());
}

async fn racing_unconditional_transactions_each_get_their_own_version(table: Arc<dyn Table>) {
    const WRITERS: u64 = 10;
    // GIVEN an item at version 1
    let shared = key("P", "SHARED");
    table
        .put(
            Item::new(shared.clone(), b"0".to_vec()),
            Condition::MustNotExist,
        )
        .await
        .unwrap();
    // WHEN 10 transactions replace it at once, unconditionally, each with an audit entry
    let writers = (1..=WRITERS).map(|writer| {
        let table = table.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let replacement = Item::new(shared, writer.to_string().into_bytes());
            let audit = item("P", &format!("AUDIT#{writer:02}"), 1);
            table
                .transact(vec![
                    put(replacement, Condition::Always),
                    put(audit, Condition::MustNotExist),
                ])
                .await
                .map(|versions| (writer, versions[0]))
        })
    });
    let mut outcomes = Vec::new();
    for writer in writers.collect::<Vec<_>>() {
        outcomes.push(
            writer
                .await
                .unwrap()
                .expect("an unconditional transaction succeeds"),
        );
    }
    // THEN each was given a distinct version, and the item holds the body of the last one
    let versions: BTreeSet<u64> = outcomes.iter().map(|(_, version)| *version).collect();
    assert_eq!(
        versions,
        (2..=WRITERS + 1).collect(),
        "versions {outcomes:?}"
    );
    let (last_writer, _) = outcomes.iter().max_by_key(|(_, version)| *version).unwrap();
    let stored = table.get(&shared).await.unwrap().unwrap();
    assert_eq!(stored.version, WRITERS + 1);
    assert_eq!(stored.body, last_writer.to_string().into_bytes());
}

// ---------------------------------------------------------------------------------------
// Crash safety (embedded store)

#[test]
fn embedded_writes_acknowledged_before_a_kill_dash_nine_survive() {
    const ACKS_BEFORE_KILL: usize = 300;
    // GIVEN a writer process acknowledging each write on stdout
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.redb");
    let mut writer = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < ACKS_BEFORE_KILL {
        let line = lines.next().expect("the writer stopped early").unwrap();
        acknowledged.push(line);
    }
    // WHEN it is killed with SIGKILL while still writing
    assert!(
        writer.try_wait().unwrap().is_none(),
        "the writer must still be running"
    );
    writer.kill().unwrap();
    let status = writer.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the writer died of SIGKILL");
    // Acknowledgements already in the pipe were made before the kill too.
    acknowledged.extend(lines.map(Result::unwrap));
    // THEN the reopened store holds every acknowledged item, as written
    let table = EmbeddedTable::open(&path, CURSOR_KEY).expect("reopen after the crash");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for line in &acknowledged {
        let mut fields = line
            .strip_prefix("ack ")
            .expect("an ack line")
            .splitn(3, ' ');
        let (pk, sk, body) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        let stored = runtime.block_on(table.get(&key(pk, sk))).unwrap();
        let stored = stored.unwrap_or_else(|| panic!("acknowledged {pk}/{sk} was lost"));
        assert_eq!(stored.body, body.as_bytes());
    }
    // AND the write in flight at the kill is whole or absent: the writer writes items in
    // order, in rounds of one put, a transaction of two and a batch of three, so what is
    // stored is the first n items with n at the end of one of those writes.
    let mut stored = Vec::new();
    let mut query = Query::partition("CRASH");
    loop {
        let page = runtime.block_on(table.query(&query)).unwrap();
        stored.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    let n = stored.len();
    assert!(
        n >= acknowledged.len(),
        "{n} stored, {} acknowledged",
        acknowledged.len()
    );
    for (i, item) in stored.iter().enumerate() {
        assert_eq!(
            item.key.sk,
            format!("ITEM#{i:012}"),
            "the first {n} items, in order"
        );
    }
    assert!(
        [0, 1, 3].contains(&(n % 6)),
        "{n} items stored: a transaction or a batch was half applied"
    );
}
