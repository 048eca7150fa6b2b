//! The embedded store's figures: put, get and query-page latency, and what one 50-item page
//! costs deep inside a partition of 1k and of 100k items (a page must not cost more as the
//! partition grows: the ratio should stay at or under 1.3).
//!
//! `cargo bench -p functions --bench store`; results in BENCHMARKS.md ("Store").

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use functions::store::embedded::EmbeddedTable;
use functions::store::{Condition, Index, Item, Key, Query, TableRead, TableWrite};
use tempfile::TempDir;
use tokio::runtime::Runtime;

const PAGE: u32 = 50;
const PARTITION_SIZES: [usize; 2] = [1_000, 100_000];

/// A body the size of a typical alert document.
fn body(n: usize) -> Vec<u8> {
    format!(
        r#"{{"id":"{n:08}","site_id":"site-1","sensor_id":"sensor-7","title":"Unauthorized PLC programming","severity":"major","status":"new","engine":"policy_violation","source_ip":"10.0.0.{}","destination_ip":"10.0.1.20","protocol":"modbus","learnable":true}}"#,
        n % 250
    )
    .into_bytes()
}

/// An alert-shaped item: partition `pk`, time-ordered sort key, listed in GSI1 by status.
fn alert(pk: &str, n: usize) -> Item {
    let sk = format!("ALERT#{n:08}");
    let mut item = Item::new(Key::new(pk, sk.clone()), body(n));
    item.gsi1 = Some(Key::new(format!("{pk}#new"), sk));
    item
}

struct Fixture {
    runtime: Runtime,
    table: EmbeddedTable,
    _directory: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let directory = tempfile::tempdir().expect("temporary directory");
        let table = EmbeddedTable::open(directory.path().join("bench.redb"), [7; 32])
            .expect("open the store");
        Self {
            runtime: Runtime::new().expect("tokio runtime"),
            table,
            _directory: directory,
        }
    }

    /// Fills partition `pk` with `count` alerts, 5,000 per write transaction.
    fn fill(&self, pk: &str, count: usize) {
        let items: Vec<Item> = (0..count).map(|n| alert(pk, n)).collect();
        for chunk in items.chunks(5_000) {
            self.runtime
                .block_on(self.table.batch_put(chunk.to_vec()))
                .expect("fill");
        }
    }

    /// The query for the page that starts in the middle of the partition: found by paging
    /// there, so that measuring it shows what resuming from a deep cursor costs.
    fn middle_page(&self, index: Option<Index>, pk: &str, size: usize) -> Query {
        let mut query = Query {
            index,
            limit: 500,
            ..Query::partition(pk)
        };
        for _ in 0..size / 2 / 500 {
            let page = self
                .runtime
                .block_on(self.table.query(&query))
                .expect("page");
            query.cursor = page.next_cursor;
        }
        query.limit = PAGE;
        query
    }
}

fn single_item_operations(c: &mut Criterion) {
    let fixture = Fixture::new();
    fixture.fill("SUB#get", 10_000);
    let mut group = c.benchmark_group("embedded");
    group.throughput(Throughput::Elements(1));

    // Every put is one durable (fsynced) commit.
    let next = AtomicU64::new(0);
    group.bench_function("put (durable commit)", |b| {
        b.iter(|| {
            let n = next.fetch_add(1, Ordering::Relaxed) as usize;
            let put = fixture.table.put(alert("SUB#put", n), Condition::Always);
            black_box(fixture.runtime.block_on(put).expect("put"))
        })
    });

    let mut n = 0;
    group.bench_function("get (10k partition)", |b| {
        b.iter(|| {
            n = (n + 7_919) % 10_000;
            let key = Key::new("SUB#get", format!("ALERT#{n:08}"));
            black_box(
                fixture
                    .runtime
                    .block_on(fixture.table.get(&key))
                    .expect("get"),
            )
        })
    });

    group.throughput(Throughput::Elements(u64::from(PAGE)));
    let first_page = Query {
        limit: PAGE,
        descending: true,
        ..Query::partition("SUB#get")
    };
    group.bench_function("query first page of 50 (10k partition)", |b| {
        b.iter(|| {
            let page = fixture.runtime.block_on(fixture.table.query(&first_page));
            black_box(page.expect("page"))
        })
    });
    group.finish();
}

fn page_cost_by_partition_size(c: &mut Criterion) {
    let fixture = Fixture::new();
    let mut group = c.benchmark_group("embedded page of 50 from the middle");
    group.throughput(Throughput::Elements(u64::from(PAGE)));
    for size in PARTITION_SIZES {
        let pk = format!("SUB#{size}");
        fixture.fill(&pk, size);
        for (name, index, partition) in [
            ("table", None, pk.clone()),
            ("gsi1", Some(Index::Gsi1), format!("{pk}#new")),
        ] {
            let query = fixture.middle_page(index, &partition, size);
            group.bench_with_input(BenchmarkId::new(name, size), &query, |b, query| {
                b.iter(|| {
                    let page = fixture.runtime.block_on(fixture.table.query(query));
                    black_box(page.expect("page"))
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = single_item_operations, page_cost_by_partition_size
}
criterion_main!(benches);
