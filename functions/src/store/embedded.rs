//! The embedded, durable table (redb): the default of `vigil serve`.
//!
//! One redb file holds the items and one table per secondary index, all changed in the
//! same write transaction, so an index never disagrees with the items. Every commit uses
//! redb's default immediate durability: when a write is acknowledged it has been fsynced,
//! and a `kill -9` at any moment leaves the last committed state (redb is crash-safe).
//!
//! Writes block (the single-writer lock, fsync), so they run on tokio's blocking pool;
//! reads take microseconds from redb's page cache and run on the calling task.
//!
//! People's writes go before bulk ones ([`super::bulk`], sensor ingest): redb has one
//! writer, and without an order a person's edit would queue behind every ingest commit
//! waiting at the time. With it, it waits for at most the commit in progress.

use std::num::NonZeroU8;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use async_trait::async_trait;
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use tokio::sync::Semaphore;

use super::cursor::{CursorSigner, Position};
use super::{
    Index, Item, Key, Query, QueryPage, SortKeyRange, StoreError, StoreResult, TableRead,
    TableWrite, TransactionLimits, Write, validate,
};

/// `(pk, sk)`. The sort key is stored as bytes so that a range can end at `prefix ‖ 0xFF`, a
/// bound no UTF-8 string reaches (see [`sort_interval`]).
type ItemKey<'a> = (&'a str, &'a [u8]);
/// `(version, gsi1 (pk, sk), gsi2 (pk, sk), body)`.
type ItemValue<'a> = (
    u64,
    Option<(&'a str, &'a str)>,
    Option<(&'a str, &'a str)>,
    &'a [u8],
);
/// `(index pk, index sk, table pk, table sk)`: the table key orders items that share an index
/// sort key, as DynamoDB's last evaluated key does.
type IndexKey<'a> = (&'a str, &'a [u8], &'a str, &'a str);

const ITEMS: TableDefinition<ItemKey<'static>, ItemValue<'static>> = TableDefinition::new("items");
const GSI1: TableDefinition<IndexKey<'static>, ()> = TableDefinition::new("gsi1");
const GSI2: TableDefinition<IndexKey<'static>, ()> = TableDefinition::new("gsi2");

/// One commit takes up to this much: ~300 new alerts of an ingest batch (a fingerprint
/// and an alert each, and the counters), so a batch of 500 is two commits — not one per
/// alert. Bounded, because a person's write may wait for the commit in progress
/// ([`WriterQueue`]): a commit this size takes ~10 ms here, one of 500 alerts twice that,
/// which put a person's edit during a flood past 25 ms (BENCHMARKS.md, "Ingest at scale").
const TRANSACTION_LIMITS: TransactionLimits = TransactionLimits {
    ops: 640,
    bytes: 8_000_000,
};

/// The table in one redb file. Cheap to clone; clones share the database.
#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
    cursors: CursorSigner,
    writers: Arc<WriterQueue>,
    /// One bulk request at a time ([`TableWrite::bulk_gate`]).
    bulk: Arc<Semaphore>,
}

/// The order in which writers get redb's one write transaction: whoever writes now
/// finishes; then people's writes, then bulk ones.
#[derive(Default)]
struct WriterQueue {
    state: Mutex<WriterState>,
    turn: Condvar,
}

#[derive(Default)]
struct WriterState {
    writing: bool,
    people_waiting: usize,
}

impl WriterQueue {
    /// Blocks until it is this writer's turn; the turn ends when the guard drops.
    fn enter(&self, bulk: bool) -> WriterTurn<'_> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !bulk {
            state.people_waiting += 1;
        }
        while state.writing || (bulk && state.people_waiting > 0) {
            state = self
                .turn
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if !bulk {
            state.people_waiting -= 1;
        }
        state.writing = true;
        WriterTurn(self)
    }
}

struct WriterTurn<'a>(&'a WriterQueue);

impl Drop for WriterTurn<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.writing = false;
        drop(state);
        self.0.turn.notify_all();
    }
}

impl EmbeddedTable {
    /// Opens the database file at `path`, creating it if missing and recovering it if the
    /// last process died mid-write. Blocks: call it before serving, or on a blocking thread.
    /// Cursors are signed with `cursor_key`; keep it across restarts for cursors to outlive
    /// them.
    pub fn open(path: impl AsRef<Path>, cursor_key: [u8; 32]) -> StoreResult<Self> {
        let warned = std::sync::Once::new();
        let db = Database::builder()
            .set_repair_callback(move |_| {
                warned.call_once(|| {
                    tracing::warn!("the store was not closed cleanly: recovering it");
                })
            })
            .create(path)
            .map_err(backend)?;
        // Create the tables once, so that readers never meet a missing one.
        let txn = db.begin_write().map_err(backend)?;
        {
            txn.open_table(ITEMS).map_err(backend)?;
            txn.open_table(GSI1).map_err(backend)?;
            txn.open_table(GSI2).map_err(backend)?;
        }
        txn.commit().map_err(backend)?;
        Ok(Self {
            db: Arc::new(db),
            cursors: CursorSigner::new(cursor_key),
            writers: Arc::default(),
            bulk: Arc::new(Semaphore::new(1)),
        })
    }

    /// Runs a write on the blocking pool: a commit waits for its turn at redb's one
    /// writer ([`WriterQueue`]) and for an fsync.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let db = Arc::clone(&self.db);
        let writers = Arc::clone(&self.writers);
        // Read here: a task-local does not follow the work onto the blocking pool.
        let bulk = super::is_bulk();
        tokio::task::spawn_blocking(move || {
            let _turn = writers.enter(bulk);
            work(&db)
        })
        .await
        .map_err(|_| StoreError::Unavailable("embedded store task failed".into()))?
    }
}

#[async_trait]
// Reads run on the calling task, not the blocking pool: they never wait for a lock or
// an fsync, and take microseconds from redb's page cache (a bounded range at most), so the
// hop to another thread and back would cost more than the read (see BENCHMARKS.md).
impl TableRead for EmbeddedTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        validate::key(key)?;
        let txn = self.db.begin_read().map_err(backend)?;
        let items = txn.open_table(ITEMS).map_err(backend)?;
        let found = items
            .get((key.pk.as_str(), key.sk.as_bytes()))
            .map_err(backend)?;
        Ok(found.map(|value| decode(key.clone(), value.value())))
    }

    async fn get_many(&self, keys: &[Key]) -> StoreResult<Vec<Option<Item>>> {
        keys.iter().try_for_each(validate::key)?;
        let txn = self.db.begin_read().map_err(backend)?;
        let items = txn.open_table(ITEMS).map_err(backend)?;
        keys.iter()
            .map(|key| {
                let found = items
                    .get((key.pk.as_str(), key.sk.as_bytes()))
                    .map_err(backend)?;
                Ok(found.map(|value| decode(key.clone(), value.value())))
            })
            .collect()
    }

    async fn query(&self, query: &Query) -> StoreResult<QueryPage> {
        validate::query(query)?;
        let resume = self.cursors.resume(query)?;
        let txn = self.db.begin_read().map_err(backend)?;
        // One more than asked tells whether another page follows.
        let wanted = usize::try_from(query.limit)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let items = match query.index {
            None => read_partition(&txn, query, resume.as_ref(), wanted)?,
            Some(index) => read_index(&txn, index, query, resume.as_ref(), wanted)?,
        };
        self.cursors.page(query, items, false)
    }

    /// No partitions, so no write limit per partition to spread over: one shard, and a
    /// list costs what it did before shards existed.
    fn index_shards(&self) -> NonZeroU8 {
        NonZeroU8::MIN
    }
}

#[async_trait]
impl TableWrite for EmbeddedTable {
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<Vec<u64>> {
        validate::transaction(&writes, TRANSACTION_LIMITS)?;
        self.blocking(move |db| in_transaction(db, |tables| tables.apply(&writes)))
            .await
    }

    fn transaction_limits(&self) -> TransactionLimits {
        TRANSACTION_LIMITS
    }

    /// One: every commit waits for the one writer anyway, so a second bulk request in
    /// flight would gain little and take the cores from people's requests.
    fn bulk_gate(&self) -> Option<&Semaphore> {
        Some(&self.bulk)
    }

    async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        validate::batch(&items)?;
        self.blocking(move |db| {
            in_transaction(db, |tables| {
                items
                    .iter()
                    .try_for_each(|item| tables.store(item, item.version))
            })
        })
        .await
    }
}

/// Runs `work` in one write transaction: committed (and fsynced) if it succeeds, aborted
/// with nothing written if it fails.
fn in_transaction<T>(
    db: &Database,
    work: impl FnOnce(&mut Tables<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let txn = db.begin_write().map_err(backend)?;
    let outcome = Tables::open(&txn).and_then(|mut tables| work(&mut tables));
    match outcome {
        Ok(value) => {
            txn.commit().map_err(backend)?;
            Ok(value)
        }
        Err(error) => {
            txn.abort().map_err(backend)?;
            Err(error)
        }
    }
}

/// The item table and its indexes, open in one write transaction.
struct Tables<'txn> {
    items: redb::Table<'txn, ItemKey<'static>, ItemValue<'static>>,
    gsi1: redb::Table<'txn, IndexKey<'static>, ()>,
    gsi2: redb::Table<'txn, IndexKey<'static>, ()>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> StoreResult<Self> {
        Ok(Self {
            items: txn.open_table(ITEMS).map_err(backend)?,
            gsi1: txn.open_table(GSI1).map_err(backend)?,
            gsi2: txn.open_table(GSI2).map_err(backend)?,
        })
    }

    /// Checks every condition against the stored versions first, then applies the writes:
    /// nothing is written unless every condition holds. Keys are distinct (validated), so
    /// no write can change what a later condition sees.
    fn apply(&mut self, writes: &[Write]) -> StoreResult<Vec<u64>> {
        let mut stored = Vec::with_capacity(writes.len());
        for (index, write) in writes.iter().enumerate() {
            let version = self.version(write.key())?;
            if !write.condition().holds(version) {
                return Err(StoreError::ConditionFailed { index });
            }
            stored.push(version);
        }
        writes
            .iter()
            .zip(stored)
            .map(|(write, version)| match write {
                Write::Put { item, .. } => {
                    let next = version.map_or(1, |version| version + 1);
                    self.store(item, next)?;
                    Ok(next)
                }
                Write::Delete { key, .. } => {
                    self.remove(key)?;
                    Ok(0)
                }
                Write::Check { .. } => Ok(0),
            })
            .collect()
    }

    fn version(&self, key: &Key) -> StoreResult<Option<u64>> {
        let found = self
            .items
            .get((key.pk.as_str(), key.sk.as_bytes()))
            .map_err(backend)?;
        Ok(found.map(|value| value.value().0))
    }

    /// Writes `item` at `version`, replacing any stored item and its index entries.
    fn store(&mut self, item: &Item, version: u64) -> StoreResult<()> {
        let value: ItemValue<'_> = (
            version,
            item.gsi1.as_ref().map(|k| (k.pk.as_str(), k.sk.as_str())),
            item.gsi2.as_ref().map(|k| (k.pk.as_str(), k.sk.as_str())),
            &item.body,
        );
        let replaced = self
            .items
            .insert((item.key.pk.as_str(), item.key.sk.as_bytes()), value)
            .map_err(backend)?
            .map(|old| index_keys(old.value()));
        if let Some(old) = replaced {
            self.unindex(&item.key, old)?;
        }
        let gsis = [(&mut self.gsi1, &item.gsi1), (&mut self.gsi2, &item.gsi2)];
        for (gsi, index_key) in gsis {
            if let Some(index_key) = index_key {
                gsi.insert(index_entry(index_key, &item.key), ())
                    .map_err(backend)?;
            }
        }
        Ok(())
    }

    fn remove(&mut self, key: &Key) -> StoreResult<()> {
        let removed = self
            .items
            .remove((key.pk.as_str(), key.sk.as_bytes()))
            .map_err(backend)?
            .map(|old| index_keys(old.value()));
        match removed {
            Some(old) => self.unindex(key, old),
            None => Ok(()),
        }
    }

    fn unindex(&mut self, key: &Key, [gsi1, gsi2]: [Option<Key>; 2]) -> StoreResult<()> {
        for (gsi, index_key) in [(&mut self.gsi1, gsi1), (&mut self.gsi2, gsi2)] {
            if let Some(index_key) = index_key {
                gsi.remove(index_entry(&index_key, key)).map_err(backend)?;
            }
        }
        Ok(())
    }
}

fn index_entry<'a>(index_key: &'a Key, key: &'a Key) -> IndexKey<'a> {
    (
        index_key.pk.as_str(),
        index_key.sk.as_bytes(),
        key.pk.as_str(),
        key.sk.as_str(),
    )
}

fn index_keys((_, gsi1, gsi2, _): ItemValue<'_>) -> [Option<Key>; 2] {
    [gsi1, gsi2].map(|index_key| index_key.map(|(pk, sk)| Key::new(pk, sk)))
}

fn decode(key: Key, (version, gsi1, gsi2, body): ItemValue<'_>) -> Item {
    let [gsi1, gsi2] = [gsi1, gsi2].map(|index_key| index_key.map(|(pk, sk)| Key::new(pk, sk)));
    Item {
        key,
        version,
        gsi1,
        gsi2,
        body: body.to_vec(),
    }
}

/// The sort keys `range` selects, as the half-open byte interval `[from, to)`. Sort keys are
/// UTF-8, which never contains the byte 0xFF, so every key starting with `p` lies in
/// `[p, p ‖ 0xFF)`; and `b ‖ 0x00` is the first byte string after `b`, so `[a, b ‖ 0x00)` is
/// "between `a` and `b` inclusive".
fn sort_interval(range: &SortKeyRange) -> (Vec<u8>, Vec<u8>) {
    let followed_by = |key: &str, byte: u8| [key.as_bytes(), &[byte]].concat();
    match range {
        SortKeyRange::All => (Vec::new(), vec![0xFF]),
        SortKeyRange::BeginsWith(prefix) => (prefix.as_bytes().to_vec(), followed_by(prefix, 0xFF)),
        SortKeyRange::Between(low, high) => (low.as_bytes().to_vec(), followed_by(high, 0x00)),
    }
}

/// Reads up to `wanted` items of the partition, seeking straight to the range (or to just
/// after the cursor's item): a page costs the same however large the partition is.
fn read_partition(
    txn: &ReadTransaction,
    query: &Query,
    resume: Option<&Position>,
    wanted: usize,
) -> StoreResult<Vec<Item>> {
    let items = txn.open_table(ITEMS).map_err(backend)?;
    let (from, to) = sort_interval(&query.range);
    let pk = query.pk.as_str();
    let after = resume.map(|position| (pk, position.sort_key.as_bytes()));
    let bounds = scan_bounds((pk, &from[..]), (pk, &to[..]), after, query.descending);
    let range = items.range(bounds).map_err(backend)?;
    in_order(range, query.descending)
        .take(wanted)
        .map(|entry| {
            let (key, value) = entry.map_err(backend)?;
            let (pk, sk) = key.value();
            let sk = std::str::from_utf8(sk)
                .map_err(|_| StoreError::Unavailable("stored sort key is not UTF-8".into()))?;
            Ok(decode(Key::new(pk, sk), value.value()))
        })
        .collect()
}

/// Like [`read_partition`], over an index table; each entry's item is then read by key.
fn read_index(
    txn: &ReadTransaction,
    index: Index,
    query: &Query,
    resume: Option<&Position>,
    wanted: usize,
) -> StoreResult<Vec<Item>> {
    let entries = txn
        .open_table(match index {
            Index::Gsi1 => GSI1,
            Index::Gsi2 => GSI2,
        })
        .map_err(backend)?;
    let items = txn.open_table(ITEMS).map_err(backend)?;
    let (from, to) = sort_interval(&query.range);
    let pk = query.pk.as_str();
    let after = resume.map(|position| {
        let item = &position.item;
        (
            pk,
            position.sort_key.as_bytes(),
            item.pk.as_str(),
            item.sk.as_str(),
        )
    });
    // Table keys are never empty, so `(.., "", "")` sorts before every entry of a sort key.
    let bounds = scan_bounds(
        (pk, &from[..], "", ""),
        (pk, &to[..], "", ""),
        after,
        query.descending,
    );
    let range = entries.range(bounds).map_err(backend)?;
    in_order(range, query.descending)
        .take(wanted)
        .map(|entry| {
            let (entry, _) = entry.map_err(backend)?;
            let (_, _, pk, sk) = entry.value();
            let value = items
                .get((pk, sk.as_bytes()))
                .map_err(backend)?
                .ok_or_else(|| StoreError::Unavailable("index entry without its item".into()))?;
            Ok(decode(Key::new(pk, sk), value.value()))
        })
        .collect()
}

/// The scan from `lower` (inclusive) to `upper` (exclusive), narrowed to what comes after
/// the cursor's entry in the query's direction.
fn scan_bounds<K>(lower: K, upper: K, after: Option<K>, descending: bool) -> (Bound<K>, Bound<K>) {
    match (after, descending) {
        (None, _) => (Bound::Included(lower), Bound::Excluded(upper)),
        (Some(after), false) => (Bound::Excluded(after), Bound::Excluded(upper)),
        (Some(after), true) => (Bound::Included(lower), Bound::Excluded(after)),
    }
}

fn in_order<'a, T>(
    entries: impl DoubleEndedIterator<Item = T> + 'a,
    descending: bool,
) -> Box<dyn Iterator<Item = T> + 'a> {
    if descending {
        Box::new(entries.rev())
    } else {
        Box::new(entries)
    }
}

/// A redb failure, logged in full for the operator and summarised for the caller.
fn backend(error: impl Into<redb::Error>) -> StoreError {
    let error: redb::Error = error.into();
    tracing::error!(%error, "embedded store failure");
    StoreError::Unavailable(format!("embedded store: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Condition;
    use std::time::Duration;

    #[test]
    fn a_persons_write_goes_before_bulk_writes_queued_earlier() {
        let queue = Arc::new(WriterQueue::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        // GIVEN a commit in progress
        let turn = queue.enter(true);
        let waiter = |bulk: bool, name: &'static str| {
            let (queue, order) = (Arc::clone(&queue), Arc::clone(&order));
            std::thread::spawn(move || {
                let _turn = queue.enter(bulk);
                order.lock().unwrap().push(name);
            })
        };
        // AND bulk writers queued, then a person's write
        let bulk = [waiter(true, "bulk"), waiter(true, "bulk")];
        std::thread::sleep(Duration::from_millis(20));
        let person = waiter(false, "person");
        while queue.state.lock().unwrap().people_waiting == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // WHEN the commit in progress ends
        drop(turn);
        person.join().unwrap();
        for thread in bulk {
            thread.join().unwrap();
        }
        // THEN the person's write went first, and every writer had its turn
        assert_eq!(*order.lock().unwrap(), ["person", "bulk", "bulk"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bulk_requests_run_one_at_a_time() {
        let directory = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(directory.path().join("t.redb"), [1; 32]).unwrap();
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // WHEN four bulk requests start at once, each writing and pausing
        let requests: Vec<_> = (0..4)
            .map(|n| {
                let (table, in_flight, most) =
                    (table.clone(), Arc::clone(&in_flight), Arc::clone(&most));
                tokio::spawn(async move {
                    let work = async {
                        let now = in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                        let item = Item::new(Key::new("P", format!("{n}")), b"{}".to_vec());
                        table.put(item, Condition::MustNotExist).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    };
                    crate::store::bulk(&table, work).await;
                })
            })
            .collect();
        for request in requests {
            request.await.unwrap();
        }
        // THEN they ran one after the other, and all of them wrote
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 1);
        let written = table
            .get_many(
                &(0..4)
                    .map(|n| Key::new("P", format!("{n}")))
                    .collect::<Vec<_>>(),
            )
            .await
            .unwrap();
        assert!(written.iter().all(Option::is_some));
    }
}
