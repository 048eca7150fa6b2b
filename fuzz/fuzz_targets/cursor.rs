//! Any string as a page cursor, against the embedded store: refused as an invalid cursor
//! unless it is the very cursor the store issued (forging one means forging its HMAC).
#![no_main]

use std::sync::OnceLock;

use functions::store::embedded::EmbeddedTable;
use functions::store::{Condition, Item, Key, Query, StoreError, TableRead, TableWrite, Write};
use libfuzzer_sys::fuzz_target;

struct Setup {
    runtime: tokio::runtime::Runtime,
    table: EmbeddedTable,
    query: Query,
    issued: String,
    _folder: tempfile::TempDir,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let folder = tempfile::tempdir().expect("a temp dir");
        let table = EmbeddedTable::open(folder.path().join("fuzz.redb"), [5; 32]).expect("a store");
        let query = Query {
            limit: 1,
            ..Query::partition("P")
        };
        let issued = runtime.block_on(async {
            let writes = ["a", "b", "c"]
                .map(|sk| Write::Put {
                    item: Item::new(Key::new("P", sk), b"{}".to_vec()),
                    condition: Condition::Always,
                })
                .to_vec();
            table.transact(writes).await.expect("written");
            table
                .query(&query)
                .await
                .expect("a first page")
                .next_cursor
                .expect("a cursor to the second page")
        });
        Setup {
            runtime,
            table,
            query,
            issued,
            _folder: folder,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    let cursor = String::from_utf8_lossy(data).into_owned();
    let query = Query {
        cursor: Some(cursor.clone()),
        ..setup.query.clone()
    };
    let answer = setup.runtime.block_on(setup.table.query(&query));
    match answer {
        Ok(_) => assert_eq!(
            cursor, setup.issued,
            "a cursor the store never issued was accepted"
        ),
        Err(StoreError::InvalidCursor) => assert_ne!(cursor, setup.issued),
        Err(other) => panic!("a cursor answered {other:?}, not InvalidCursor"),
    }
});
