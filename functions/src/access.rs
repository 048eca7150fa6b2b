//! Authorization of a request in one subscription: load the subscription's policy,
//! fold the caller's assignments into an [`Access`], then decide with `shared::authz` —
//! the same code the SPA runs.
//!
//! The policy is one item of up to 400 KB; a request reads its small head instead (the
//! policy's version) and reads the policy itself only when this instance has not read
//! that version yet. Every request still sees the latest policy (the head is read
//! strongly consistently, and written in the transaction that writes the policy), and
//! a large policy costs no more per request than a small one (`docs/data-model.md`).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use shared::authz::{Access, Permission, Principal, SiteFilter, SubscriptionDirectory, Target};
use shared::model::{SiteId, SiteSelector, SubscriptionId, Tags, TagsOfSite};

use crate::http::error::{ApiError, ApiResult};
use crate::keys;
use crate::records::{self, SubscriptionRecord};
use crate::store::{Condition, TableRead, Write};

/// A subscription the caller holds an assignment in, with what they may do there.
#[derive(Debug)]
pub struct Authorized {
    pub subscription: SubscriptionRecord,
    /// The stored version, for conditional writes of the policy.
    pub version: u64,
    pub access: Access,
}

/// Loads subscription `raw_id` for `caller`. A subscription that does not exist, or
/// in which the caller holds no assignment, is `404` alike: existence never leaks.
pub async fn authorize(
    table: &dyn TableRead,
    caller: &Principal,
    raw_id: &str,
) -> ApiResult<Authorized> {
    let not_found = || ApiError::NotFound("no such subscription".into());
    let id = SubscriptionId::parse(raw_id).map_err(|_| not_found())?;
    let (subscription, version) = current_policy(table, &id).await?.ok_or_else(not_found)?;
    let access = access_of(table, caller, &subscription).await?;
    if !access.holds_assignment() {
        return Err(not_found());
    }
    Ok(Authorized {
        subscription: Arc::unwrap_or_clone(subscription),
        version,
        access,
    })
}

/// The body of [`keys::policy_head`]: the version the subscription item has now.
#[derive(Debug, Serialize, Deserialize)]
struct PolicyHead {
    version: u64,
}

/// The policies this instance has read, by subscription, with the version read.
type PolicyCache = HashMap<SubscriptionId, (u64, Arc<SubscriptionRecord>)>;

static POLICIES: LazyLock<Mutex<PolicyCache>> = LazyLock::new(Mutex::default);

fn cached_policies() -> MutexGuard<'static, PolicyCache> {
    POLICIES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many subscriptions' policies an instance keeps (then it starts again).
const CACHED_POLICIES: usize = 1_000;

/// The subscription `id` with its current policy and version: the head read, then the
/// policy from this instance's cache if it was read at that version, else from the
/// table (and kept when the two versions agree). A subscription written before heads
/// existed has none: its policy is read every time until its next change writes one.
async fn current_policy(
    table: &dyn TableRead,
    id: &SubscriptionId,
) -> ApiResult<Option<(Arc<SubscriptionRecord>, u64)>> {
    let head: Option<PolicyHead> = records::read(table, &keys::policy_head(id))
        .await?
        .map(|stored| stored.record);
    if let Some(head) = &head
        && let Some((version, policy)) = cached_policies().get(id)
        && *version == head.version
    {
        return Ok(Some((policy.clone(), *version)));
    }
    let Some(item) = table.get(&keys::subscription(id)).await? else {
        return Ok(None);
    };
    let policy = Arc::new(records::decode::<SubscriptionRecord>(&item)?);
    // Read after the head, the policy is at its version or newer; kept only when at it.
    if head.is_some_and(|head| head.version == item.version) {
        let mut policies = cached_policies();
        if policies.len() >= CACHED_POLICIES {
            policies.clear();
        }
        policies.insert(id.clone(), (item.version, policy.clone()));
    }
    Ok(Some((policy, item.version)))
}

/// The writes that store `policy` as the subscription item, stored now at `stored`
/// (`None`: created by these writes): the item and its head, in one transaction.
pub fn policy_writes(policy: &SubscriptionRecord, stored: Option<u64>) -> ApiResult<[Write; 2]> {
    let id = &policy.id;
    let (condition, version) = match stored {
        Some(version) => (Condition::VersionIs(version), version + 1),
        None => (Condition::MustNotExist, 1),
    };
    Ok([
        Write::Put {
            item: records::item(keys::subscription(id), policy)?,
            condition,
        },
        Write::Put {
            item: records::item(keys::policy_head(id), &PolicyHead { version })?,
            condition: Condition::Always,
        },
    ])
}

/// The caller's access in a subscription.
pub async fn access_of(
    table: &dyn TableRead,
    caller: &Principal,
    subscription: &SubscriptionRecord,
) -> ApiResult<Access> {
    let site_tags = site_tags_for(table, caller, subscription).await?;
    let sites = tags_of(&site_tags);
    let directory = directory(subscription, &sites);
    Ok(Access::for_principal(
        caller,
        &subscription.assignments,
        &directory,
    ))
}

/// What resolves the subscription's assignments into grants.
pub fn directory<'a>(
    subscription: &'a SubscriptionRecord,
    sites: &'a [TagsOfSite<'a>],
) -> SubscriptionDirectory<'a> {
    SubscriptionDirectory {
        custom_roles: &subscription.custom_roles,
        device_groups: &subscription.device_groups,
        sites,
    }
}

/// The sites' tags that the caller's assignments need: none, unless one of them is
/// over a tag-filtered device group (then every site's, read once).
pub async fn site_tags_for(
    table: &dyn TableRead,
    caller: &Principal,
    subscription: &SubscriptionRecord,
) -> ApiResult<Vec<SiteTags>> {
    let needs_tags = subscription.assignments.iter().any(|assignment| {
        caller.is_named_by(&assignment.principal)
            && assignment.scope.device_group_id().is_some_and(|group| {
                subscription
                    .device_groups
                    .iter()
                    .any(|g| g.id == *group && matches!(g.sites, SiteSelector::Tags(_)))
            })
    });
    if needs_tags {
        tags_of_sites(table, &subscription.id).await
    } else {
        Ok(Vec::new())
    }
}

pub fn tags_of(sites: &[SiteTags]) -> Vec<TagsOfSite<'_>> {
    sites
        .iter()
        .map(|site| TagsOfSite {
            site: &site.id,
            tags: &site.tags,
        })
        .collect()
}

/// The part of a stored site that device groups filter on.
#[derive(Debug, Deserialize)]
pub struct SiteTags {
    id: SiteId,
    #[serde(default)]
    tags: Tags,
}

async fn tags_of_sites(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
) -> ApiResult<Vec<SiteTags>> {
    records::read_all(table, keys::sites_query(subscription, 500)).await
}

impl Authorized {
    /// The sites where the caller holds `permission`; `403` when there is none.
    pub fn sites_with_some(&self, permission: Permission) -> ApiResult<SiteFilter<'_>> {
        match self.access.sites_with(permission) {
            SiteFilter::None => Err(ApiError::Forbidden(format!(
                "this needs the {} permission at some site",
                permission.as_str()
            ))),
            sites => Ok(sites),
        }
    }

    /// `403` unless the caller holds `permission` at `target`.
    pub fn require(&self, permission: Permission, target: Target<'_>) -> ApiResult<()> {
        if self.access.decide(permission, target).is_allowed() {
            return Ok(());
        }
        let place = match target {
            Target::Subscription => "in this subscription".to_owned(),
            Target::Site(site) => format!("at site {site}"),
        };
        Err(ApiError::Forbidden(format!(
            "this needs the {} permission {place}",
            permission.as_str()
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU8;

    use shared::authz::{BuiltInRole, PrincipalRef, RoleAssignment, Scope};
    use shared::model::{AssignmentId, DisplayName, Email};
    use time::OffsetDateTime;

    use super::*;
    use crate::store::embedded::EmbeddedTable;
    use crate::store::{Key, Query, QueryPage, StoreResult, TableWrite};

    /// The table, noting the sort key of every item read by key.
    struct NotingReads {
        table: EmbeddedTable,
        read: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl TableRead for NotingReads {
        async fn get(&self, key: &Key) -> StoreResult<Option<crate::store::Item>> {
            self.read.lock().unwrap().push(key.sk.clone());
            self.table.get(key).await
        }

        async fn query(&self, query: &Query) -> StoreResult<QueryPage> {
            self.table.query(query).await
        }

        fn index_shards(&self) -> NonZeroU8 {
            self.table.index_shards()
        }
    }

    impl NotingReads {
        fn in_folder(directory: &tempfile::TempDir) -> Self {
            NotingReads {
                table: EmbeddedTable::open(directory.path().join("t.redb"), [9; 32]).unwrap(),
                read: Mutex::default(),
            }
        }

        fn taken(&self) -> Vec<String> {
            std::mem::take(&mut *self.read.lock().unwrap())
        }
    }

    fn owned_by(id: &str, owner: &str) -> SubscriptionRecord {
        SubscriptionRecord {
            id: SubscriptionId::parse(id).unwrap(),
            name: DisplayName::parse("Plants").unwrap(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            created_by: Email::parse(owner).unwrap(),
            assignments: vec![RoleAssignment {
                id: AssignmentId::parse("a1").unwrap(),
                principal: PrincipalRef::parse(owner).unwrap(),
                role: BuiltInRole::Owner.into(),
                scope: Scope::Subscription,
            }],
            custom_roles: Vec::new(),
            device_groups: Vec::new(),
        }
    }

    fn user(email: &str) -> Principal {
        Principal {
            email: Email::parse(email).unwrap(),
            groups: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_policy_is_read_once_per_version_and_a_change_is_seen_by_the_next_request() {
        let directory = tempfile::tempdir().unwrap();
        let table = NotingReads::in_folder(&directory);
        let owner = user("owner@example.com");
        // GIVEN a subscription written with its head
        let policy = owned_by("sub-cached-1", "owner@example.com");
        table
            .table
            .transact(policy_writes(&policy, None).unwrap().into())
            .await
            .unwrap();
        // WHEN its owner makes two requests
        let first = authorize(&table, &owner, "sub-cached-1").await.unwrap();
        assert_eq!(first.version, 1);
        assert_eq!(table.taken(), ["POLICY", "META"]);
        authorize(&table, &owner, "sub-cached-1").await.unwrap();
        // THEN the second reads only the head
        assert_eq!(table.taken(), ["POLICY"]);
        // WHEN the owner is replaced by someone else
        let changed = owned_by("sub-cached-1", "other@example.com");
        table
            .table
            .transact(policy_writes(&changed, Some(first.version)).unwrap().into())
            .await
            .unwrap();
        // THEN the very next request reads the new policy and is refused
        let refused = authorize(&table, &owner, "sub-cached-1").await;
        assert!(matches!(refused, Err(ApiError::NotFound(_))), "{refused:?}");
        assert_eq!(table.taken(), ["POLICY", "META"]);
        let other = authorize(&table, &user("other@example.com"), "sub-cached-1")
            .await
            .unwrap();
        assert_eq!(other.version, 2);
        assert_eq!(table.taken(), ["POLICY"]);
    }

    #[tokio::test]
    async fn a_subscription_without_a_head_is_read_whole_every_time() {
        let directory = tempfile::tempdir().unwrap();
        let table = NotingReads::in_folder(&directory);
        let policy = owned_by("sub-headless-1", "owner@example.com");
        let [item, _head] = policy_writes(&policy, None).unwrap();
        table.table.transact(vec![item]).await.unwrap();
        let owner = user("owner@example.com");
        for _ in 0..2 {
            authorize(&table, &owner, "sub-headless-1").await.unwrap();
            assert_eq!(table.taken(), ["POLICY", "META"]);
        }
    }
}
