//! The request rules both implementations check before touching storage, so that a
//! request one backend would refuse is refused by both, the same way
//! ([`StoreError::Invalid`]), and never reaches a backend to fail there differently.

use std::collections::HashSet;

use super::dynamodb::attr;
use super::{
    Condition, Item, Key, MAX_ITEM_BYTES, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES, Query,
    SortKeyRange, StoreError, StoreResult, TransactionLimits, Write,
};

/// Bytes DynamoDB counts for a `u64` number: one per two significant digits, plus one.
const VERSION_VALUE_BYTES: usize = 11;

/// What an item counts against [`MAX_ITEM_BYTES`]: every attribute's name and value, as
/// DynamoDB counts them in the table's layout (see `docs/data-model.md`).
pub fn item_size(item: &Item) -> usize {
    let index_keys = [
        (&item.gsi1, attr::GSI1_PK, attr::GSI1_SK),
        (&item.gsi2, attr::GSI2_PK, attr::GSI2_SK),
    ];
    let index_bytes: usize = index_keys
        .into_iter()
        .filter_map(|(key, pk_name, sk_name)| {
            key.as_ref()
                .map(|key| pk_name.len() + key.pk.len() + sk_name.len() + key.sk.len())
        })
        .sum();
    attr::PK.len()
        + item.key.pk.len()
        + attr::SK.len()
        + item.key.sk.len()
        + attr::VERSION.len()
        + VERSION_VALUE_BYTES
        + attr::BODY.len()
        + item.body.len()
        + index_bytes
}

pub(crate) fn key(key: &Key) -> StoreResult<()> {
    named_key("key", key)
}

pub(crate) fn item(item: &Item) -> StoreResult<()> {
    key(&item.key)?;
    if let Some(gsi1) = &item.gsi1 {
        named_key("gsi1 key", gsi1)?;
    }
    if let Some(gsi2) = &item.gsi2 {
        named_key("gsi2 key", gsi2)?;
    }
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(invalid(format!(
            "item is {size} bytes, over the limit of {MAX_ITEM_BYTES}"
        )));
    }
    Ok(())
}

/// One to `limits.ops` operations on distinct keys, each valid on its own, together at
/// most `limits.bytes`.
pub(crate) fn transaction(writes: &[Write], limits: TransactionLimits) -> StoreResult<()> {
    if writes.is_empty() {
        return Err(invalid("a transaction needs at least one operation"));
    }
    if writes.len() > limits.ops {
        return Err(invalid(format!(
            "a transaction has {} operations, over the limit of {}",
            writes.len(),
            limits.ops
        )));
    }
    let bytes = transaction_size(writes);
    if bytes > limits.bytes {
        return Err(invalid(format!(
            "a transaction has {bytes} bytes, over the limit of {}",
            limits.bytes
        )));
    }
    for write in writes {
        match write {
            Write::Put { item: put, .. } => item(put)?,
            Write::Delete { key: deleted, .. } => key(deleted)?,
            Write::Check {
                key: checked,
                condition,
            } => {
                key(checked)?;
                if *condition == Condition::Always {
                    return Err(invalid("a check needs a condition other than Always"));
                }
            }
        }
    }
    distinct_keys(writes.iter().map(Write::key), "a transaction")
}

/// What a transaction counts against [`TransactionLimits::bytes`]: its puts' items and
/// the keys of its other operations.
pub fn transaction_size(writes: &[Write]) -> usize {
    writes
        .iter()
        .map(|write| match write {
            Write::Put { item, .. } => item_size(item),
            Write::Delete { key, .. } | Write::Check { key, .. } => key.pk.len() + key.sk.len(),
        })
        .sum()
}

pub(crate) fn batch(items: &[Item]) -> StoreResult<()> {
    items.iter().try_for_each(item)?;
    distinct_keys(items.iter().map(|item| &item.key), "a batch")
}

pub(crate) fn query(query: &Query) -> StoreResult<()> {
    bounded("partition key", &query.pk, MAX_PARTITION_KEY_BYTES)?;
    if query.limit == 0 {
        return Err(invalid("a query limit must be at least 1"));
    }
    match &query.range {
        SortKeyRange::All => Ok(()),
        SortKeyRange::BeginsWith(prefix) => bounded("sort key prefix", prefix, MAX_SORT_KEY_BYTES),
        SortKeyRange::Between(low, high) => {
            bounded("sort key lower bound", low, MAX_SORT_KEY_BYTES)?;
            bounded("sort key upper bound", high, MAX_SORT_KEY_BYTES)?;
            if low > high {
                return Err(invalid(
                    "a sort key range's lower bound is above its upper bound",
                ));
            }
            Ok(())
        }
    }
}

fn named_key(what: &str, key: &Key) -> StoreResult<()> {
    bounded(
        &format!("{what}'s partition key"),
        &key.pk,
        MAX_PARTITION_KEY_BYTES,
    )?;
    bounded(&format!("{what}'s sort key"), &key.sk, MAX_SORT_KEY_BYTES)
}

/// Non-empty and at most `max` bytes: DynamoDB refuses empty key attributes.
fn bounded(what: &str, value: &str, max: usize) -> StoreResult<()> {
    if value.is_empty() {
        return Err(invalid(format!("{what} is empty")));
    }
    if value.len() > max {
        return Err(invalid(format!(
            "{what} is {} bytes, over the limit of {max}",
            value.len()
        )));
    }
    Ok(())
}

fn distinct_keys<'a>(keys: impl Iterator<Item = &'a Key>, what: &str) -> StoreResult<()> {
    let mut seen = HashSet::new();
    for key in keys {
        if !seen.insert(key) {
            return Err(invalid(format!("{what} names the same key twice")));
        }
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}
