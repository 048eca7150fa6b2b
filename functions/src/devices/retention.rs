//! Retention of the inventory: a device inactive for longer than `DEVICE_RETENTION`
//! (90 days) is removed, as a person deleting it would (its identity goes with it, so
//! its next observation makes it anew), with an audit entry by Vigil itself. Run by
//! [`crate::retention`].

use shared::api::{AuditActor, Site};
use shared::model::{Device, SubscriptionId};
use time::OffsetDateTime;

use crate::audit;
use crate::http::error::ApiResult;
use crate::keys;
use crate::records;
use crate::store::{Condition, Query, StoreError, Table, Write};

/// Removes every expired device of `subscription`, as of `now`.
pub async fn sweep_subscription(
    table: &dyn Table,
    subscription: &SubscriptionId,
    now: OffsetDateTime,
) -> ApiResult<()> {
    let sites: Vec<Site> = records::read_all(table, keys::sites_query(subscription, 500)).await?;
    for site in sites {
        let mut query = Query {
            limit: 500,
            ..Query::partition(keys::device_partition(subscription, &site.id))
        };
        loop {
            let page = table.query(&query).await?;
            for item in &page.items {
                let device: Device = records::decode(item)?;
                if !device.is_expired(now) {
                    continue;
                }
                let writes = vec![
                    Write::Delete {
                        key: item.key.clone(),
                        // Observed again meanwhile: kept.
                        condition: Condition::VersionIs(item.version),
                    },
                    Write::Delete {
                        key: keys::device_identity(
                            subscription,
                            &device.site_id,
                            &device.identity().key(),
                        ),
                        condition: Condition::Always,
                    },
                    audit::Change {
                        actor: AuditActor::System,
                        action: "device.delete",
                        subscription,
                        site: Some(&device.site_id),
                        target: device.id.as_str(),
                    }
                    .write(now, audit::snapshot(&device), None)?,
                ];
                match table.transact(writes).await {
                    Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
    }
    Ok(())
}
