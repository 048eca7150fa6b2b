//! Which DynamoDB actions, on which of the table's resources, each deployed function's
//! code makes: recorded while `vigil serve --record-table-access` serves, so the
//! template's policies can be compared with what the code does (tests/tests/schemathesis.rs
//! runs every operation and makes that comparison).
//!
//! A request is served by the function the template routes it to ([`as_function`], set by
//! each area's routes), the background work by the scheduled worker. The store calls are
//! translated as [`DynamoTable`](super::dynamodb::DynamoTable) sends them.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::dynamodb::needs_pin;
use super::{
    Condition, Index, Item, Key, Query, QueryPage, StoreResult, Table, TableRead, TableWrite,
    TransactionLimits, Write,
};

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// Runs `work` as the deployed function `binary` (its `Binary:` in the template).
pub async fn as_function<F: Future>(binary: &'static str, work: F) -> F::Output {
    FUNCTION.scope(binary, work).await
}

/// The name of the scheduled worker's binary, which runs the background work.
pub const WORKER: &str = "notifications-worker";

/// What each function was seen to do: function → IAM action → resources (`table`,
/// `index/<name>`).
pub type Accesses = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// A table that records, per function, the DynamoDB actions each call would need, and
/// rewrites `file` (JSON [`Accesses`]) whenever it sees a new one.
pub struct RecordingTable {
    inner: Arc<dyn Table>,
    file: PathBuf,
    seen: Mutex<Accesses>,
}

impl RecordingTable {
    pub fn new(inner: Arc<dyn Table>, file: PathBuf) -> Self {
        Self {
            inner,
            file,
            seen: Mutex::new(Accesses::new()),
        }
    }

    fn record(&self, actions: &[(&str, Option<Index>)]) {
        // Calls outside any function (the demo data's own set-up) are no function's.
        let Ok(function) = FUNCTION.try_with(|name| *name) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        for (action, index) in actions {
            let resource = match index {
                None => "table".to_owned(),
                Some(index) => format!("index/{}", index_name(*index)),
            };
            changed |= seen
                .entry(function.to_owned())
                .or_default()
                .entry((*action).to_owned())
                .or_default()
                .insert(resource);
        }
        if changed {
            let json = serde_json::to_vec_pretty(&*seen).expect("accesses serialize");
            if let Err(error) = std::fs::write(&self.file, json) {
                tracing::warn!(%error, file = %self.file.display(), "table accesses not written");
            }
        }
    }
}

fn index_name(index: Index) -> &'static str {
    match index {
        Index::Gsi1 => "gsi1",
        Index::Gsi2 => "gsi2",
    }
}

/// The IAM actions of one transaction as DynamoDB is sent it: a `TransactGetItems`
/// (`GetItem`) for the versions of unconditional puts, then a `TransactWriteItems`, which
/// needs the action of each of its operations.
fn transaction_actions(writes: &[Write]) -> Vec<(&'static str, Option<Index>)> {
    let mut actions: Vec<_> = writes
        .iter()
        .map(|write| match write {
            Write::Put { .. } => ("PutItem", None),
            Write::Delete { .. } => ("DeleteItem", None),
            Write::Check { .. } => ("ConditionCheckItem", None),
        })
        .collect();
    if writes.iter().any(needs_pin) {
        actions.push(("GetItem", None));
    }
    actions
}

#[async_trait]
impl TableRead for RecordingTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.record(&[("GetItem", None)]);
        self.inner.get(key).await
    }

    async fn query(&self, query: &Query) -> StoreResult<QueryPage> {
        self.record(&[("Query", query.index)]);
        self.inner.query(query).await
    }

    async fn get_many(&self, keys: &[Key]) -> StoreResult<Vec<Option<Item>>> {
        if !keys.is_empty() {
            self.record(&[("BatchGetItem", None)]);
        }
        self.inner.get_many(keys).await
    }

    fn index_shards(&self) -> std::num::NonZeroU8 {
        self.inner.index_shards()
    }
}

#[async_trait]
impl TableWrite for RecordingTable {
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<Vec<u64>> {
        self.record(&transaction_actions(&writes));
        self.inner.transact(writes).await
    }

    fn transaction_limits(&self) -> TransactionLimits {
        self.inner.transaction_limits()
    }

    fn bulk_gate(&self) -> Option<&tokio::sync::Semaphore> {
        self.inner.bulk_gate()
    }

    async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
        self.record(&[("BatchWriteItem", None)]);
        self.inner.batch_put(items).await
    }

    /// One `UpdateItem` on DynamoDB.
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<u64> {
        self.record(&[("UpdateItem", None)]);
        self.inner.put(item, condition).await
    }

    async fn delete(&self, key: Key, condition: Condition) -> StoreResult<()> {
        self.record(&[("DeleteItem", None)]);
        self.inner.delete(key, condition).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedTable;

    fn recorded(file: &std::path::Path) -> Accesses {
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn calls_are_recorded_per_function_as_dynamodb_is_sent_them() {
        let directory = tempfile::tempdir().unwrap();
        let inner = EmbeddedTable::open(directory.path().join("t.redb"), [7; 32]).unwrap();
        let file = directory.path().join("accesses.json");
        let table = RecordingTable::new(Arc::new(inner), file.clone());
        let item = Item::new(Key::new("P", "S"), b"{}".to_vec());
        // Outside any function: the demo's set-up, recorded as no one's.
        table.put(item.clone(), Condition::Always).await.unwrap();
        assert!(!file.exists());
        as_function("sites", async {
            let writes = vec![
                Write::Put {
                    item: item.clone(),
                    condition: Condition::Always,
                },
                Write::Check {
                    key: Key::new("P", "T"),
                    condition: Condition::MustNotExist,
                },
            ];
            table.transact(writes).await.unwrap();
            let mut query = Query::partition("P");
            query.index = Some(Index::Gsi2);
            table.query(&query).await.unwrap();
        })
        .await;
        as_function(WORKER, table.delete(item.key.clone(), Condition::MustExist))
            .await
            .unwrap();
        let set = |resources: &[&str]| resources.iter().map(|r| r.to_string()).collect();
        let sites = BTreeMap::from([
            ("ConditionCheckItem".to_owned(), set(&["table"])),
            // The version an unconditional put is computed from.
            ("GetItem".to_owned(), set(&["table"])),
            ("PutItem".to_owned(), set(&["table"])),
            ("Query".to_owned(), set(&["index/gsi2"])),
        ]);
        let worker = BTreeMap::from([("DeleteItem".to_owned(), set(&["table"]))]);
        assert_eq!(
            recorded(&file),
            Accesses::from([("sites".to_owned(), sites), (WORKER.to_owned(), worker)])
        );
    }
}
