//! The audit log: every successful write adds an entry in the same transaction as
//! the change itself, so the log can never miss a change or record one that failed.

use serde::Serialize;
use serde_json::Value;
use shared::api::{AUDIT_RETENTION, AuditActor, AuditEntry};
use shared::model::{AuditEntryId, SiteId, SubscriptionId};
use time::OffsetDateTime;

use crate::http::error::{ApiError, ApiResult};
use crate::ids;
use crate::keys;
use crate::records;
use crate::store::{Condition, Key, MAX_TRANSACTION_OPS, Query, SortKeyRange, Table, Write};

/// One change, described by the handler that makes it.
pub struct Change<'a> {
    pub actor: AuditActor,
    pub action: &'a str,
    pub subscription: &'a SubscriptionId,
    pub site: Option<&'a SiteId>,
    pub target: &'a str,
}

impl Change<'_> {
    /// The write that records this change with the resource's state before and after.
    pub fn write(
        self,
        at: OffsetDateTime,
        before: Option<Value>,
        after: Option<Value>,
    ) -> ApiResult<Write> {
        // Time-ordered ids sort the partition by time; newest first is a descending query.
        let id = AuditEntryId::parse(ids::time_ordered(at))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let entry = AuditEntry {
            id: id.clone(),
            at,
            actor: self.actor,
            action: self.action.to_owned(),
            subscription_id: self.subscription.clone(),
            site_id: self.site.cloned(),
            target: self.target.to_owned(),
            before,
            after,
        };
        let key = Key::new(keys::audit_partition(self.subscription), id.as_str());
        Ok(Write::Put {
            item: records::item(key, &entry)?,
            condition: Condition::MustNotExist,
        })
    }
}

/// A resource as the audit log keeps it.
pub fn snapshot<T: Serialize>(resource: &T) -> Option<Value> {
    serde_json::to_value(resource).ok()
}

/// Removes the audit entries of `subscription` recorded more than [`AUDIT_RETENTION`]
/// before `now`, oldest first, a transaction of them at a time; returns how many. The
/// entries of the cut-off's last millisecond may wait for the next sweep.
pub async fn expire(
    table: &dyn Table,
    subscription: &SubscriptionId,
    now: OffsetDateTime,
) -> ApiResult<usize> {
    let cutoff = now - AUDIT_RETENTION;
    let (oldest, newest) = ids::time_ordered_range(None, Some(cutoff));
    let query = Query {
        range: SortKeyRange::Between(oldest, newest),
        limit: MAX_TRANSACTION_OPS as u32,
        ..Query::partition(keys::audit_partition(subscription))
    };
    let mut removed = 0;
    loop {
        // Always the first page: the last round's entries are gone.
        let page = table.query(&query).await?;
        let mut expired = Vec::new();
        for item in &page.items {
            let entry: AuditEntry = records::decode(item)?;
            if entry.at < cutoff {
                expired.push(Write::Delete {
                    key: item.key.clone(),
                    condition: Condition::Always,
                });
            }
        }
        let more = expired.len() == page.items.len() && page.next_cursor.is_some();
        if expired.is_empty() {
            return Ok(removed);
        }
        removed += expired.len();
        table.transact(expired).await?;
        if !more {
            return Ok(removed);
        }
    }
}
