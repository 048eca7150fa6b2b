//! Writes items to an embedded store, by every write path, and prints
//! `ack <pk> <sk> <body>` once each write is acknowledged, until it is killed or its
//! stdout closes. The store's crash test kills it with SIGKILL mid-stream and then looks
//! for every acknowledged item.
//!
//! Usage: `store-crash-writer <database file>`

use std::error::Error;
use std::io::Write as _;

use functions::store::embedded::EmbeddedTable;
use functions::store::{Condition, Item, Key, TableWrite, Write};

const PARTITION: &str = "CRASH";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or("usage: store-crash-writer <database file>")?;
    // This process never queries, so the cursor key does not matter.
    let table = EmbeddedTable::open(path, [0; 32])?;
    let mut stdout = std::io::stdout().lock();
    let mut ack = |items: &[Item]| -> std::io::Result<()> {
        for item in items {
            let body = String::from_utf8_lossy(&item.body);
            writeln!(stdout, "ack {} {} {body}", item.key.pk, item.key.sk)?;
        }
        stdout.flush()
    };
    for round in 0u64.. {
        let [single, first, second, batch @ ..] =
            std::array::from_fn::<_, 6, _>(|i| numbered(round * 6 + i as u64));
        table.put(single.clone(), Condition::MustNotExist).await?;
        ack(&[single])?;
        let pair = [first, second];
        let puts = pair.iter().map(|item| Write::Put {
            item: item.clone(),
            condition: Condition::MustNotExist,
        });
        table.transact(puts.collect()).await?;
        ack(&pair)?;
        table.batch_put(batch.to_vec()).await?;
        ack(&batch)?;
    }
    Ok(())
}

fn numbered(n: u64) -> Item {
    let body = format!(r#"{{"n":{n}}}"#).into_bytes();
    Item::new(Key::new(PARTITION, format!("ITEM#{n:012}")), body)
}
