//! A store in this process, embedded or on the DynamoDB-API server: a fresh table, and
//! the whole API served over one, with a hook that commits another writer's change
//! between a handler's read and its own transaction — the moment a lost race happens,
//! made deterministic.

use std::num::NonZeroU8;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use functions::auth::{Authenticator, LOCAL_AUDIENCE, LOCAL_ISSUER};
use functions::http::AppState;
use functions::store::embedded::EmbeddedTable;
use functions::store::{
    Condition, Item, Key, Query, QueryPage, StoreResult, Table, TableRead, TableWrite, Write,
};
use tempfile::TempDir;

use crate::moto::Moto;
use crate::vigil::{Api, Backend, workspace_root};

/// A fresh embedded table, and the directory it lives in (deleted when dropped).
pub fn table() -> (Arc<dyn Table>, TempDir) {
    let directory = tempfile::tempdir().expect("a temp dir");
    let table = EmbeddedTable::open(directory.path().join("store.redb"), [7; 32])
        .expect("open the embedded store");
    (Arc::new(table), directory)
}

/// What keeps a fresh table alive: its folder, or the moto server it is on.
pub enum TableHome {
    Folder(TempDir),
    Moto(Arc<Moto>),
}

/// A fresh table on `backend`, and what keeps it alive.
pub async fn table_on(backend: Backend) -> (Arc<dyn Table>, TableHome) {
    match backend {
        Backend::Embedded => {
            let (table, directory) = table();
            (table, TableHome::Folder(directory))
        }
        Backend::Dynamodb => {
            let moto = tokio::task::spawn_blocking(Moto::shared)
                .await
                .expect("moto starts");
            let name = format!("vigil-inproc-{}", functions::ids::new().to_lowercase());
            let table = moto.table(&name, [7; 32]).await;
            (Arc::new(table), TableHome::Moto(moto))
        }
    }
}

/// Runs an async test body on a fresh table of each store:
/// `for_each_store!(name, |backend: Backend| async move { ... });` makes `name::embedded`
/// and `name::dynamodb`.
#[macro_export]
macro_rules! for_each_store {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn embedded() {
                ($body)($crate::vigil::Backend::Embedded).await;
            }

            #[tokio::test]
            async fn dynamodb() {
                ($body)($crate::vigil::Backend::Dynamodb).await;
            }
        }
    };
}

/// What the other writer commits just before the handler's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Competitor {
    /// Writes the armed key's item again as it is: same content, next version.
    Touch,
    /// Deletes the armed key's item.
    Delete,
    /// Commits these writes (anywhere), as another request would.
    Commit(Vec<Write>),
}

/// A table passing everything to another one, except that once armed, the next
/// transaction writing a given key first lets a [`Competitor`] commit.
pub struct Interposer {
    inner: Arc<dyn Table>,
    armed: Mutex<Option<(Key, Competitor)>>,
}

impl Interposer {
    /// Arms the hook for the next transaction that writes `key` (a `Check` is no write).
    pub fn arm(&self, key: Key, competitor: Competitor) {
        *self.armed.lock().expect("not poisoned") = Some((key, competitor));
    }

    /// Whether the hook is still waiting for its transaction.
    pub fn is_armed(&self) -> bool {
        self.armed.lock().expect("not poisoned").is_some()
    }

    /// The item at `key` as stored now.
    pub async fn item(&self, key: &Key) -> Option<Item> {
        self.inner.get(key).await.expect("the store reads")
    }

    fn take_if_written(&self, writes: &[Write]) -> Option<(Key, Competitor)> {
        let mut armed = self.armed.lock().expect("not poisoned");
        let hit = armed.as_ref().is_some_and(|(key, _)| {
            writes
                .iter()
                .any(|write| !matches!(write, Write::Check { .. }) && write.key() == key)
        });
        if hit { armed.take() } else { None }
    }
}

#[async_trait]
impl TableRead for Interposer {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.inner.get(key).await
    }

    async fn query(&self, query: &Query) -> StoreResult<QueryPage> {
        self.inner.query(query).await
    }

    fn index_shards(&self) -> NonZeroU8 {
        self.inner.index_shards()
    }
}

#[async_trait]
impl TableWrite for Interposer {
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<Vec<u64>> {
        if let Some((key, competitor)) = self.take_if_written(&writes) {
            let competing = match competitor {
                Competitor::Touch => vec![Write::Put {
                    item: self.inner.get(&key).await?.expect("the item to touch"),
                    condition: Condition::Always,
                }],
                Competitor::Delete => vec![Write::Delete {
                    key,
                    condition: Condition::MustExist,
                }],
                Competitor::Commit(writes) => writes,
            };
            self.inner.transact(competing).await?;
        }
        self.inner.transact(writes).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
        self.inner.batch_put(items).await
    }
}

/// Every route of `vigil serve`, served from this process over an [`Interposer`] on a
/// fresh table; stops when dropped.
pub struct InProcess {
    pub table: Arc<Interposer>,
    base: String,
    server: tokio::task::JoinHandle<()>,
    _home: TableHome,
}

impl InProcess {
    pub async fn start_on(backend: Backend) -> Self {
        let (inner, home) = table_on(backend).await;
        let table = Arc::new(Interposer {
            inner,
            armed: Mutex::new(None),
        });
        let state = AppState {
            table: table.clone(),
            auth: Arc::new(Authenticator::hs256(&[3; 32], LOCAL_ISSUER, LOCAL_AUDIENCE)),
            // As `vigil serve --allow-private-webhooks`: test receivers are on loopback.
            webhooks: shared::model::WebhookTargets::AnyAddress,
        };
        let app = functions::local::app(state, true, &workspace_root().join("dist"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serves");
        });
        InProcess {
            table,
            base,
            server,
            _home: home,
        }
    }

    pub fn api(&self) -> Api {
        Api {
            base: format!("{}/api", self.base),
            client: reqwest::Client::new(),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.server.abort();
    }
}
