//! The DynamoDB table: the same model on DynamoDB (or any server speaking its API).
//!
//! Layout of one item: `pk`, `sk` (S), `version` (N), `gsi1pk`/`gsi1sk`/`gsi2pk`/`gsi2sk`
//! (S, absent when the item is not in that index) and `body` (S when it is UTF-8, as JSON
//! always is, so it reads as JSON in DynamoDB's console; B otherwise). Conditions and versions are
//! evaluated by DynamoDB itself, in condition expressions, never by reading first; the one
//! exception is documented on [`DynamoTable::transact`].

use std::collections::HashMap;
use std::fmt::Debug;
use std::num::NonZeroU8;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, ConfigLoader};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters as _;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, ConditionCheck, Delete,
    Get, GlobalSecondaryIndex, KeySchemaElement, KeyType, KeysAndAttributes, Projection,
    ProjectionType, Put, PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TransactGetItem, TransactWriteItem, WriteRequest,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use super::cursor::CursorSigner;
use super::{
    Condition, Index, Item, Key, Query, QueryPage, SortKeyRange, StoreError, StoreResult,
    TableRead, TableWrite, TransactionLimits, Write, validate,
};

/// Attribute names of the table's items.
pub(crate) mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const VERSION: &str = "version";
    pub const BODY: &str = "body";
    pub const GSI1_PK: &str = "gsi1pk";
    pub const GSI1_SK: &str = "gsi1sk";
    pub const GSI2_PK: &str = "gsi2pk";
    pub const GSI2_SK: &str = "gsi2sk";
}

/// BatchWriteItem's limit per request.
const BATCH_WRITE_MAX: usize = 25;
/// BatchGetItem's limit per request.
const BATCH_GET_MAX: usize = 100;
/// TransactGetItems' limit per request: 100 on DynamoDB, 25 on moto; the smaller serves both.
const TRANSACT_GET_MAX: usize = 25;
/// Attempts at a batch's unprocessed items, or at a transaction that lost a race, before
/// giving up as unavailable.
const MAX_ATTEMPTS: u32 = 10;
/// Shards of a write-hot index partition ([`TableRead::index_shards`]). A partition takes
/// about 1,000 write units a second; ingest at 1,000 alerts a second into one
/// subscription writes that many `new` index entries (GSI1, and GSI2 for a one-site
/// fleet), so four shards take about 250 each: a quarter of the limit, with room for a
/// subscription four times as busy. Each list of `new` alerts reads four partitions.
/// Fixed for a table's life; never lowered (see the trait).
pub const INDEX_SHARDS: NonZeroU8 = NonZeroU8::new(4).expect("not zero");
/// How long `ensure_table` waits for a new table to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// The table on DynamoDB. Cheap to clone; clones share one client.
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
    cursors: CursorSigner,
}

impl DynamoTable {
    /// Connects with the standard AWS settings (`AWS_ENDPOINT_URL_DYNAMODB`, region,
    /// credentials from the environment or profile). Build it once per process.
    pub async fn from_env(table_name: impl Into<String>, cursor_key: [u8; 32]) -> Self {
        let loader = aws_config::defaults(BehaviorVersion::latest());
        Self::from_loader(loader, table_name, cursor_key).await
    }

    /// Like [`Self::from_env`], from settings the caller has adjusted (an explicit
    /// endpoint, region or credentials, as tests do). The HTTP client is always this
    /// crate's rustls (ring) client.
    pub async fn from_loader(
        loader: ConfigLoader,
        table_name: impl Into<String>,
        cursor_key: [u8; 32],
    ) -> Self {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = loader.http_client(http_client).load().await;
        Self {
            client: Client::new(&config),
            table: table_name.into(),
            cursors: CursorSigner::new(cursor_key),
        }
    }

    /// Opens the connection (TLS, credentials) before a request needs it, with one read
    /// of a key nothing is written under. A failure is logged, never fatal: the first
    /// request tries again.
    pub async fn warm_up(&self) {
        if let Err(error) = self.get(&Key::new("WARM-UP", "WARM-UP")).await {
            tracing::warn!(%error, "the table could not be reached at start");
        }
    }

    /// Creates the table with its two indexes if it is missing, then waits until it is
    /// active. Safe to call from several processes at once.
    pub async fn ensure_table(&self) -> StoreResult<()> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        match described {
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DescribeTableError::ResourceNotFoundException(_))
                ) =>
            {
                self.create_table().await?;
            }
            Err(error) => return Err(failure("DescribeTable", error)),
        }
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(TABLE_ACTIVE_TIMEOUT)
            .await
            .map_err(|error| {
                tracing::error!(?error, table = %self.table, "DynamoDB table did not become active");
                StoreError::Unavailable("DynamoDB table did not become active".into())
            })?;
        Ok(())
    }

    async fn create_table(&self) -> StoreResult<()> {
        let attributes = [
            attr::PK,
            attr::SK,
            attr::GSI1_PK,
            attr::GSI1_SK,
            attr::GSI2_PK,
            attr::GSI2_SK,
        ]
        .into_iter()
        .map(|name| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(malformed_request)
        })
        .collect::<StoreResult<Vec<_>>>()?;
        let index = |index: Index| {
            let (name, pk, sk) = index_attributes(index);
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .set_key_schema(Some(key_schema(pk, sk)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(malformed_request)
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(attr::PK, attr::SK)?))
            .global_secondary_indexes(index(Index::Gsi1)?)
            .global_secondary_indexes(index(Index::Gsi2)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another process created it first.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(CreateTableError::ResourceInUseException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(failure("CreateTable", error)),
        }
    }

    /// The versions stored under `keys` now (strongly consistent reads). Each is checked
    /// again by the write it guards, so they need not come from one snapshot.
    async fn read_versions(&self, keys: &[&Key]) -> StoreResult<Vec<Option<u64>>> {
        let mut versions = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(TRANSACT_GET_MAX) {
            let gets = chunk
                .iter()
                .map(|key| {
                    let get = Get::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attributes(key)))
                        .projection_expression("#version")
                        .expression_attribute_names("#version", attr::VERSION)
                        .build()
                        .map_err(malformed_request)?;
                    Ok(TransactGetItem::builder().get(get).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let output = self
                .client
                .transact_get_items()
                .set_transact_items(Some(gets))
                .send()
                .await
                .map_err(|error| failure("TransactGetItems", error))?;
            let responses = output.responses();
            if responses.len() != chunk.len() {
                return Err(StoreError::Unavailable(
                    "DynamoDB TransactGetItems: wrong number of responses".into(),
                ));
            }
            for response in responses {
                versions.push(response.item().map(version_of).transpose()?);
            }
        }
        Ok(versions)
    }

    /// Decides how each operation is sent (see [`DynamoTable::transact`]).
    async fn plan(&self, writes: &[Write]) -> StoreResult<Vec<Plan>> {
        let unpinned: Vec<&Key> = writes
            .iter()
            .filter(|write| needs_pin(write))
            .map(Write::key)
            .collect();
        let mut observed = self.read_versions(&unpinned).await?.into_iter();
        writes
            .iter()
            .map(|write| match write {
                Write::Put { condition, .. } => match *condition {
                    Condition::VersionIs(version) => Ok(Plan::pinned(version + 1)),
                    Condition::MustNotExist => Ok(Plan::pinned(1)),
                    Condition::Always | Condition::MustExist => {
                        let seen = observed.next().ok_or_else(|| {
                            StoreError::Unavailable("a transaction plan lost a read".into())
                        })?;
                        Ok(Plan {
                            version: seen.map_or(1, |version| version + 1),
                            guard: Some(seen.map_or(Condition::MustNotExist, Condition::VersionIs)),
                        })
                    }
                },
                Write::Delete { .. } | Write::Check { .. } => Ok(Plan::pinned(0)),
            })
            .collect()
    }

    /// One TransactWriteItems call: the new versions, or `None` when a guard lost a race or
    /// DynamoDB asks to try again.
    async fn try_transact(
        &self,
        writes: &[Write],
        plans: &[Plan],
    ) -> StoreResult<Option<Vec<u64>>> {
        let items = writes
            .iter()
            .zip(plans)
            .map(|(write, plan)| self.transact_item(write, plan))
            .collect::<StoreResult<Vec<_>>>()?;
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Some(plans.iter().map(|plan| plan.version).collect())),
            Err(error) => match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    judge_cancellation(writes, plans, cancelled.cancellation_reasons())
                        .map(|()| None)
                }
                _ => Err(failure("TransactWriteItems", error)),
            },
        }
    }

    fn transact_item(&self, write: &Write, plan: &Plan) -> StoreResult<TransactWriteItem> {
        let mut expression = Expression::default();
        let condition = expression.conditions(&[Some(write.condition()), plan.guard]);
        let (names, values) = expression.into_parts();
        let item = match write {
            Write::Put { item, .. } => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(attributes(item, plan.version)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(malformed_request)?,
            ),
            Write::Delete { key, .. } => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(malformed_request)?,
            ),
            Write::Check { key, .. } => TransactWriteItem::builder().condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(malformed_request)?,
            ),
        };
        Ok(item.build())
    }
}

#[async_trait]
impl TableRead for DynamoTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        validate::key(key)?;
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| failure("GetItem", error))?;
        output.item.map(from_attributes).transpose()
    }

    /// BatchGetItem, strongly consistent, 100 distinct keys a call; what DynamoDB leaves
    /// unprocessed (throttling, or over its 16 MB a response) is asked again.
    async fn get_many(&self, keys: &[Key]) -> StoreResult<Vec<Option<Item>>> {
        keys.iter().try_for_each(validate::key)?;
        // DynamoDB refuses a request naming a key twice.
        let distinct: Vec<&Key> = keys
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut found: HashMap<Key, Item> = HashMap::with_capacity(distinct.len());
        for chunk in distinct.chunks(BATCH_GET_MAX) {
            let mut pending: Vec<_> = chunk.iter().map(|key| key_attributes(key)).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == MAX_ATTEMPTS {
                    return Err(StoreError::Unavailable(
                        "DynamoDB BatchGetItem: keys still unprocessed after retries".into(),
                    ));
                }
                if attempt > 0 {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(malformed_request)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|error| failure("BatchGetItem", error))?;
                let answered = output
                    .responses
                    .and_then(|mut responses| responses.remove(&self.table))
                    .unwrap_or_default();
                for attributes in answered {
                    let item = from_attributes(attributes)?;
                    found.insert(item.key.clone(), item);
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                    .map(|unprocessed| unprocessed.keys)
                    .unwrap_or_default();
                attempt += 1;
            }
        }
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    /// Reads of the table are strongly consistent; reads of an index are eventually
    /// consistent (DynamoDB offers nothing else for global secondary indexes).
    async fn query(&self, query: &Query) -> StoreResult<QueryPage> {
        validate::query(query)?;
        let resume = self.cursors.resume(query)?;
        let (index_name, pk_name, sk_name) = match query.index {
            None => (None, attr::PK, attr::SK),
            Some(index) => {
                let (name, pk, sk) = index_attributes(index);
                (Some(name), pk, sk)
            }
        };
        let mut expression = Expression::default();
        let mut key_condition = format!(
            "{} = {}",
            expression.name(pk_name),
            expression.value(AttributeValue::S(query.pk.clone()))
        );
        match &query.range {
            SortKeyRange::All => {}
            SortKeyRange::BeginsWith(prefix) => {
                let sk = expression.name(sk_name);
                let prefix = expression.value(AttributeValue::S(prefix.clone()));
                key_condition.push_str(&format!(" AND begins_with({sk}, {prefix})"));
            }
            SortKeyRange::Between(low, high) => {
                let sk = expression.name(sk_name);
                let low = expression.value(AttributeValue::S(low.clone()));
                let high = expression.value(AttributeValue::S(high.clone()));
                key_condition.push_str(&format!(" AND {sk} BETWEEN {low} AND {high}"));
            }
        }
        let start_key = resume.map(|position| {
            let mut start = key_attributes(&position.item);
            if query.index.is_some() {
                start.insert(pk_name.into(), AttributeValue::S(query.pk.clone()));
                start.insert(sk_name.into(), AttributeValue::S(position.sort_key));
            }
            start
        });
        // One more than asked tells whether another page follows.
        let limit = i32::try_from(query.limit)
            .unwrap_or(i32::MAX)
            .saturating_add(1);
        let (names, values) = expression.into_parts();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index_name.map(String::from))
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .scan_index_forward(!query.descending)
            .limit(limit)
            .consistent_read(query.index.is_none())
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(|error| failure("Query", error))?;
        let stopped_early = output.last_evaluated_key.is_some();
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_attributes)
            .collect::<StoreResult<Vec<_>>>()?;
        self.cursors.page(query, items, stopped_early)
    }

    fn index_shards(&self) -> NonZeroU8 {
        INDEX_SHARDS
    }
}

#[async_trait]
impl TableWrite for DynamoTable {
    /// One TransactWriteItems call. A put's new version must be known before it is sent
    /// (TransactWriteItems returns no values): a `VersionIs(v)` put writes `v + 1` and a
    /// `MustNotExist` put writes 1; for an `Always` or `MustExist` put the current version
    /// is read first and the put is guarded on it, so the version written is exactly the
    /// next one. If such a guard loses a race the whole transaction is retried; only the
    /// caller's own conditions ever fail it.
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<Vec<u64>> {
        validate::transaction(&writes, TransactionLimits::DYNAMODB)?;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let plans = self.plan(&writes).await?;
            if let Some(versions) = self.try_transact(&writes, &plans).await? {
                return Ok(versions);
            }
        }
        Err(StoreError::Unavailable(
            "DynamoDB TransactWriteItems: still contended after retries".into(),
        ))
    }

    async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
        validate::batch(&items)?;
        for chunk in items.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(attributes(item, item.version)))
                        .build()
                        .map_err(malformed_request)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == MAX_ATTEMPTS {
                    return Err(StoreError::Unavailable(
                        "DynamoDB BatchWriteItem: items still unprocessed after retries".into(),
                    ));
                }
                if attempt > 0 {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|error| failure("BatchWriteItem", error))?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                    .unwrap_or_default();
                attempt += 1;
            }
        }
        Ok(())
    }

    /// One UpdateItem: DynamoDB computes the version (`if_not_exists(version, 0) + 1`) and
    /// returns it.
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<u64> {
        validate::item(&item)?;
        let mut expression = Expression::default();
        let update = expression.replacement(&item);
        let condition = expression.conditions(&[Some(condition)]);
        let (names, values) = expression.into_parts();
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(&item.key)))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|error| match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => {
                    StoreError::ConditionFailed { index: 0 }
                }
                _ => failure("UpdateItem", error),
            })?;
        let updated = output.attributes.unwrap_or_default();
        version_of(&updated)
    }

    /// One DeleteItem.
    async fn delete(&self, key: Key, condition: Condition) -> StoreResult<()> {
        validate::key(&key)?;
        let mut expression = Expression::default();
        let condition = expression.conditions(&[Some(condition)]);
        let (names, values) = expression.into_parts();
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(&key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|error| match error.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(_)) => {
                    StoreError::ConditionFailed { index: 0 }
                }
                _ => failure("DeleteItem", error),
            })?;
        Ok(())
    }
}

/// How one operation of a transaction is sent.
struct Plan {
    /// The version a put writes (0 for deletes and checks).
    version: u64,
    /// The stored state the put's `version` was computed from, when the caller's condition
    /// does not pin it.
    guard: Option<Condition>,
}

impl Plan {
    fn pinned(version: u64) -> Self {
        Self {
            version,
            guard: None,
        }
    }
}

pub(super) fn needs_pin(write: &Write) -> bool {
    matches!(
        write,
        Write::Put {
            condition: Condition::Always | Condition::MustExist,
            ..
        }
    )
}

/// Reads a cancelled transaction: `Err(ConditionFailed)` for the first operation whose own
/// condition failed, `Ok(())` to retry when only guards failed or DynamoDB reported a
/// conflict or throttling, and `Unavailable` for anything else.
fn judge_cancellation(
    writes: &[Write],
    plans: &[Plan],
    reasons: &[CancellationReason],
) -> StoreResult<()> {
    let mut retry = false;
    for (index, reason) in reasons.iter().enumerate() {
        match reason.code() {
            None | Some("None") => {}
            Some("ConditionalCheckFailed") => {
                let (Some(write), Some(plan)) = (writes.get(index), plans.get(index)) else {
                    return Err(StoreError::Unavailable(
                        "DynamoDB TransactWriteItems: cancellation reasons out of step".into(),
                    ));
                };
                // Without a guard, the caller's condition was the only one. With one, the
                // stored item returned with the failure tells which of the two failed.
                let stored = reason.item().map(version_of).transpose()?;
                if plan.guard.is_none() || !write.condition().holds(stored) {
                    return Err(StoreError::ConditionFailed { index });
                }
                retry = true;
            }
            Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded") => {
                retry = true;
            }
            Some(code) => {
                tracing::error!(code, index, "DynamoDB cancelled a transaction");
                return Err(StoreError::Unavailable(format!(
                    "DynamoDB TransactWriteItems: cancelled ({code})"
                )));
            }
        }
    }
    if retry {
        Ok(())
    } else {
        Err(StoreError::Unavailable(
            "DynamoDB TransactWriteItems: cancelled without a reason".into(),
        ))
    }
}

type Names = HashMap<String, String>;
type Values = HashMap<String, AttributeValue>;

/// Builds the placeholders of one request's expressions, holding only those used
/// (DynamoDB refuses unused ones).
#[derive(Default)]
struct Expression {
    names: Names,
    values: Values,
}

impl Expression {
    fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.into());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// The conjunction of the conditions; `None` if none constrains anything.
    fn conditions(&mut self, conditions: &[Option<Condition>]) -> Option<String> {
        let parts: Vec<String> = conditions
            .iter()
            .flatten()
            .filter_map(|condition| self.condition(*condition))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    fn condition(&mut self, condition: Condition) -> Option<String> {
        match condition {
            Condition::Always => None,
            Condition::MustNotExist => {
                Some(format!("attribute_not_exists({})", self.name(attr::PK)))
            }
            Condition::MustExist => Some(format!("attribute_exists({})", self.name(attr::PK))),
            Condition::VersionIs(version) => {
                let name = self.name(attr::VERSION);
                let value = self.value(number(version));
                Some(format!("{name} = {value}"))
            }
        }
    }

    /// The update expression that replaces the whole item and lets DynamoDB count its
    /// version.
    fn replacement(&mut self, item: &Item) -> String {
        let version = self.name(attr::VERSION);
        let zero = self.value(number(0));
        let one = self.value(number(1));
        let mut set = vec![
            format!("{version} = if_not_exists({version}, {zero}) + {one}"),
            format!(
                "{} = {}",
                self.name(attr::BODY),
                self.value(body_value(&item.body))
            ),
        ];
        let mut remove = Vec::new();
        for index in [Index::Gsi1, Index::Gsi2] {
            let (_, pk_name, sk_name) = index_attributes(index);
            match item.key_in(Some(index)) {
                Some(key) => {
                    for (name, value) in [(pk_name, &key.pk), (sk_name, &key.sk)] {
                        let name = self.name(name);
                        let value = self.value(AttributeValue::S(value.clone()));
                        set.push(format!("{name} = {value}"));
                    }
                }
                None => remove.extend([self.name(pk_name), self.name(sk_name)]),
            }
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        update
    }

    /// The placeholders, for `set_expression_attribute_names` and `_values` (absent when
    /// empty: DynamoDB refuses empty maps).
    fn into_parts(self) -> (Option<Names>, Option<Values>) {
        (
            Some(self.names).filter(|names| !names.is_empty()),
            Some(self.values).filter(|values| !values.is_empty()),
        )
    }
}

/// (index name, partition key attribute, sort key attribute)
fn index_attributes(index: Index) -> (&'static str, &'static str, &'static str) {
    match index {
        Index::Gsi1 => ("gsi1", attr::GSI1_PK, attr::GSI1_SK),
        Index::Gsi2 => ("gsi2", attr::GSI2_PK, attr::GSI2_SK),
    }
}

fn key_schema(pk: &str, sk: &str) -> StoreResult<Vec<KeySchemaElement>> {
    [(pk, KeyType::Hash), (sk, KeyType::Range)]
        .into_iter()
        .map(|(name, key_type)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(malformed_request)
        })
        .collect()
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn body_value(body: &[u8]) -> AttributeValue {
    match std::str::from_utf8(body) {
        Ok(text) => AttributeValue::S(text.into()),
        Err(_) => AttributeValue::B(Blob::new(body)),
    }
}

fn key_attributes(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (attr::PK.into(), AttributeValue::S(key.pk.clone())),
        (attr::SK.into(), AttributeValue::S(key.sk.clone())),
    ])
}

fn attributes(item: &Item, version: u64) -> HashMap<String, AttributeValue> {
    let mut attributes = key_attributes(&item.key);
    attributes.insert(attr::VERSION.into(), number(version));
    attributes.insert(attr::BODY.into(), body_value(&item.body));
    for index in [Index::Gsi1, Index::Gsi2] {
        if let Some(key) = item.key_in(Some(index)) {
            let (_, pk_name, sk_name) = index_attributes(index);
            attributes.insert(pk_name.into(), AttributeValue::S(key.pk.clone()));
            attributes.insert(sk_name.into(), AttributeValue::S(key.sk.clone()));
        }
    }
    attributes
}

fn from_attributes(mut attributes: HashMap<String, AttributeValue>) -> StoreResult<Item> {
    let version = version_of(&attributes)?;
    let mut string = |name: &str| match attributes.remove(name) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    };
    let key = |pk: Option<String>, sk: Option<String>| Some(Key::new(pk?, sk?));
    let item_key = key(string(attr::PK), string(attr::SK)).ok_or_else(malformed_item)?;
    let gsi1 = key(string(attr::GSI1_PK), string(attr::GSI1_SK));
    let gsi2 = key(string(attr::GSI2_PK), string(attr::GSI2_SK));
    let body = match attributes.remove(attr::BODY) {
        Some(AttributeValue::B(body)) => body.into_inner(),
        Some(AttributeValue::S(body)) => body.into_bytes(),
        _ => return Err(malformed_item()),
    };
    Ok(Item {
        key: item_key,
        version,
        gsi1,
        gsi2,
        body,
    })
}

fn version_of(attributes: &HashMap<String, AttributeValue>) -> StoreResult<u64> {
    match attributes.get(attr::VERSION) {
        Some(AttributeValue::N(version)) => version.parse().map_err(|_| malformed_item()),
        _ => Err(malformed_item()),
    }
}

fn malformed_item() -> StoreError {
    StoreError::Unavailable("DynamoDB returned an item Vigil did not write".into())
}

fn malformed_request(error: impl std::error::Error) -> StoreError {
    tracing::error!(%error, "could not build a DynamoDB request");
    StoreError::Unavailable("could not build a DynamoDB request".into())
}

/// Exponential backoff with full jitter: a random wait of up to 20 ms × 2^attempt (at most
/// 1 s), so that writers who collided spread out instead of colliding again in step.
fn backoff(attempt: u32) -> Duration {
    let ceiling_ms = (20_u64 << attempt.min(6)).min(1000);
    let draw = getrandom::u64().unwrap_or(u64::MAX);
    Duration::from_millis(draw % (ceiling_ms + 1))
}

/// A DynamoDB failure, logged in full for the operator and summarised for the caller
/// (the operation and DynamoDB's error code, nothing from the request).
fn failure<E, R>(operation: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    tracing::error!(operation, error = %DisplayErrorContext(&error), "DynamoDB failure");
    match error.code() {
        Some("ValidationException") => StoreError::Invalid(format!(
            "DynamoDB refused the {operation} request as invalid"
        )),
        Some(code) => StoreError::Unavailable(format!("DynamoDB {operation}: {code}")),
        None => StoreError::Unavailable(format!("DynamoDB {operation}: no answer")),
    }
}
