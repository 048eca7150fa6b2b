//! The one key-value table that holds all of Vigil's state.
//!
//! The model is DynamoDB's: items live under a partition key (`pk`) and a sort key
//! (`sk`), may carry keys for two global secondary indexes, and are read by key or by
//! querying one partition. Two implementations: [`embedded::EmbeddedTable`] (the
//! default of `vigil serve`) and [`dynamodb::DynamoTable`]. Both pass the same
//! conformance suite (`tests/`).
//!
//! Every item carries a `version` managed by the store: 1 when created, +1 on every
//! write. Optimistic concurrency is a [`Condition::VersionIs`] on the write.

use std::num::NonZeroU8;

use async_trait::async_trait;

pub mod access;
mod cursor;
pub mod dynamodb;
pub mod embedded;
mod validate;

pub use validate::{item_size, transaction_size};

/// Longest partition key, in bytes (DynamoDB's limit).
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// Longest sort key, in bytes (DynamoDB's limit).
pub const MAX_SORT_KEY_BYTES: usize = 1024;
/// Largest item (keys, index keys and body together, counted by [`item_size`]), in bytes.
/// A little under DynamoDB's 400 KiB (409,600 bytes), so that every item accepted here is
/// accepted by DynamoDB and by the moto server the tests use (which stops at 405,000).
pub const MAX_ITEM_BYTES: usize = 400_000;
/// Most operations in one transaction (DynamoDB's limit), on every store: code that
/// sizes its transactions by this constant runs unchanged on both.
pub const MAX_TRANSACTION_OPS: usize = 100;
/// Most bytes in one transaction (DynamoDB's 4 MB, counted by [`item_size`]).
pub const MAX_TRANSACTION_BYTES: usize = 4_000_000;

/// How large one transaction of a store may be ([`TableWrite::transaction_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionLimits {
    pub ops: usize,
    pub bytes: usize,
}

impl TransactionLimits {
    /// DynamoDB's limits, and every store's unless it says otherwise.
    pub const DYNAMODB: Self = Self {
        ops: MAX_TRANSACTION_OPS,
        bytes: MAX_TRANSACTION_BYTES,
    };
}

/// Where an item lives: a partition and a place in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// The secondary indexes of the table. Each projects whole items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    Gsi1,
    Gsi2,
}

/// One stored item. `body` is the item's JSON document; the store never looks inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: Key,
    /// Set by the store on every write; ignored on input except by `batch_put`.
    pub version: u64,
    pub gsi1: Option<Key>,
    pub gsi2: Option<Key>,
    pub body: Vec<u8>,
}

impl Item {
    pub fn new(key: Key, body: Vec<u8>) -> Self {
        Self {
            key,
            version: 0,
            gsi1: None,
            gsi2: None,
            body,
        }
    }

    /// The key this item is found under in `index` (`None`: the table itself).
    pub fn key_in(&self, index: Option<Index>) -> Option<&Key> {
        match index {
            None => Some(&self.key),
            Some(Index::Gsi1) => self.gsi1.as_ref(),
            Some(Index::Gsi2) => self.gsi2.as_ref(),
        }
    }
}

/// What must be true of the stored item for a write to happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    MustNotExist,
    MustExist,
    VersionIs(u64),
}

impl Condition {
    /// Whether the condition holds for an item stored at `version` (`None`: absent).
    /// The one definition both implementations judge a write by.
    pub fn holds(self, version: Option<u64>) -> bool {
        match self {
            Condition::Always => true,
            Condition::MustNotExist => version.is_none(),
            Condition::MustExist => version.is_some(),
            Condition::VersionIs(expected) => version == Some(expected),
        }
    }
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Create or replace the whole item; its version becomes the old one + 1 (or 1).
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Write nothing; only require the condition (e.g. the parent still exists).
    Check {
        key: Key,
        condition: Condition,
    },
}

impl Write {
    /// The key of the item this operation reads or writes.
    pub fn key(&self) -> &Key {
        match self {
            Write::Put { item, .. } => &item.key,
            Write::Delete { key, .. } | Write::Check { key, .. } => key,
        }
    }

    pub fn condition(&self) -> Condition {
        match self {
            Write::Put { condition, .. }
            | Write::Delete { condition, .. }
            | Write::Check { condition, .. } => *condition,
        }
    }
}

/// Which sort keys of the partition a query returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKeyRange {
    All,
    BeginsWith(String),
    /// Inclusive at both ends.
    Between(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `None` queries the table itself.
    pub index: Option<Index>,
    pub pk: String,
    pub range: SortKeyRange,
    /// `true` returns the highest sort keys first.
    pub descending: bool,
    pub limit: u32,
    /// `next_cursor` of the previous page of the same query.
    pub cursor: Option<String>,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Self {
            index: None,
            pk: pk.into(),
            range: SortKeyRange::All,
            descending: false,
            limit: 100,
            cursor: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPage {
    pub items: Vec<Item>,
    /// Opaque, signed, and valid only for the same query.
    pub next_cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition of operation `index` (0 for single writes) did not hold.
    #[error("condition of operation {index} failed")]
    ConditionFailed { index: usize },
    /// The request could never succeed: bad key, item too large, too many operations.
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// The cursor was not issued by this store for this query.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The backend failed; the write may or may not have happened.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Reading items.
#[async_trait]
pub trait TableRead: Send + Sync {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>>;
    async fn query(&self, query: &Query) -> StoreResult<QueryPage>;

    /// Items by key, in the order of `keys` (`None`: absent), as strongly consistent as
    /// [`get`](Self::get). One read where the backend has one: a read transaction on the
    /// embedded store, `BatchGetItem` (100 keys a call) on DynamoDB. Keys may repeat.
    async fn get_many(&self, keys: &[Key]) -> StoreResult<Vec<Option<Item>>> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            found.push(self.get(key).await?);
        }
        Ok(found)
    }

    /// How many partitions ("shards") each write-hot index partition of this table is
    /// spread over: today the subscription's and each site's `new` alerts
    /// (`keys::alerts_by_status`, `keys::alerts_by_site_status`). Writers put an entry
    /// into one shard, chosen from its id; lists read every shard. A property of the
    /// table, fixed for its life: 1 where there are no partitions to spread (the embedded
    /// store), a few on DynamoDB. Shard 0 is the unsharded key, so a table written with a
    /// smaller count (e.g. before shards existed: 1) reads correctly with a larger one;
    /// a count is never lowered on an existing table, as the entries in the shards
    /// dropped would vanish from lists.
    fn index_shards(&self) -> NonZeroU8;
}

/// Writing items.
#[async_trait]
pub trait TableWrite: Send + Sync {
    /// All operations happen or none does. Returns the new version of each operation's
    /// item (0 for deletes and checks).
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<Vec<u64>>;

    /// The largest transaction [`transact`](Self::transact) takes: DynamoDB's unless the
    /// store can commit more at once. Bulk writers (ingest) pack their writes into
    /// transactions of this size, so a batch takes as few commits as the store allows.
    fn transaction_limits(&self) -> TransactionLimits {
        TransactionLimits::DYNAMODB
    }

    /// Bounds the bulk requests in flight at once ([`bulk`]); `None`: no bound (DynamoDB
    /// takes any number of writers).
    fn bulk_gate(&self) -> Option<&tokio::sync::Semaphore> {
        None
    }

    /// Unconditional puts of items as given (their `version` included), for append-only
    /// data written in bulk (imports of history). Not atomic as a whole.
    async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()>;

    async fn put(&self, item: Item, condition: Condition) -> StoreResult<u64> {
        let versions = self.transact(vec![Write::Put { item, condition }]).await?;
        Ok(versions[0])
    }

    async fn delete(&self, key: Key, condition: Condition) -> StoreResult<()> {
        self.transact(vec![Write::Delete { key, condition }])
            .await?;
        Ok(())
    }
}

tokio::task_local! {
    static BULK: ();
}

/// Runs `work`, one request's bulk writing (a sensor's ingest batch), behind people:
/// it waits for its turn at the table's bulk gate, and on the embedded store, with its
/// one writer, a person's write goes before its commits. DynamoDB has neither.
pub async fn bulk<F: std::future::Future>(table: &dyn TableWrite, work: F) -> F::Output {
    // A semaphore that is never closed: acquiring only waits.
    let _turn = match table.bulk_gate() {
        Some(gate) => gate.acquire().await.ok(),
        None => None,
    };
    BULK.scope((), work).await
}

fn is_bulk() -> bool {
    BULK.try_with(|()| ()).is_ok()
}

/// Both halves; what `vigil serve` hands to every router.
pub trait Table: TableRead + TableWrite {}
impl<T: TableRead + TableWrite> Table for T {}
