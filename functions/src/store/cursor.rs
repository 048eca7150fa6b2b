//! Query cursors, shared by both implementations.
//!
//! A cursor names the last item of a page. It is signed (HMAC-SHA256) over that position
//! *and* the query it belongs to (index, partition, range, direction), so a client can
//! neither forge one nor replay one against another partition to read what its own query
//! would not reach. Base64url without padding: safe in a query string as is.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Index, Item, Key, Query, QueryPage, SortKeyRange, StoreError, StoreResult};

type HmacSha256 = Hmac<Sha256>;

const TAG_BYTES: usize = 32;
/// Separates cursor signatures from any other use of the same key.
const DOMAIN: &[u8] = b"vigil/store/cursor/v1";
/// Longer than any cursor this module issues (three maximal keys), so longer input is refused
/// before it is decoded.
const MAX_CURSOR_CHARS: usize = 8 * 1024;

/// Where a page ended: its last item, in the order of the queried index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    /// The item's sort key in the queried index (its own `sk` when querying the table).
    pub sort_key: String,
    /// The item's table key: it orders items that share an index sort key.
    pub item: Key,
}

impl Position {
    /// The position of `item` in `index`; `None` if the item is not in that index.
    fn of(item: &Item, index: Option<Index>) -> Option<Self> {
        Some(Self {
            sort_key: item.key_in(index)?.sk.clone(),
            item: item.key.clone(),
        })
    }
}

/// Issues and verifies the cursors of one table.
#[derive(Clone)]
pub(crate) struct CursorSigner {
    mac: HmacSha256,
}

impl CursorSigner {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            mac: HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length"),
        }
    }

    /// Builds a page from the items read for `query`, in order. Reading `limit + 1` items
    /// tells whether another page follows without a trailing empty page; `more_beyond` is a
    /// backend's own "stopped early" signal (DynamoDB's 1 MB page).
    pub fn page(
        &self,
        query: &Query,
        mut items: Vec<Item>,
        more_beyond: bool,
    ) -> StoreResult<QueryPage> {
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let more = more_beyond || items.len() > limit;
        items.truncate(limit);
        let next_cursor = match items.last() {
            Some(last) if more => {
                let position = Position::of(last, query.index).ok_or_else(|| {
                    StoreError::Unavailable("an index returned an item without its key".into())
                })?;
                Some(self.issue(query, &position))
            }
            _ => None,
        };
        Ok(QueryPage { items, next_cursor })
    }

    /// Where to resume `query`: `None` for a first page, or the verified position of its cursor.
    pub fn resume(&self, query: &Query) -> StoreResult<Option<Position>> {
        let Some(cursor) = &query.cursor else {
            return Ok(None);
        };
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(StoreError::InvalidCursor);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| StoreError::InvalidCursor)?;
        let payload_len = bytes
            .len()
            .checked_sub(TAG_BYTES)
            .ok_or(StoreError::InvalidCursor)?;
        let (payload, tag) = bytes.split_at(payload_len);
        self.signature(query, payload)
            .verify_slice(tag)
            .map_err(|_| StoreError::InvalidCursor)?;
        decode_position(payload)
            .map(Some)
            .ok_or(StoreError::InvalidCursor)
    }

    fn issue(&self, query: &Query, position: &Position) -> String {
        let mut payload = Vec::new();
        put_field(&mut payload, position.sort_key.as_bytes());
        put_field(&mut payload, position.item.pk.as_bytes());
        put_field(&mut payload, position.item.sk.as_bytes());
        let tag = self.signature(query, &payload).finalize().into_bytes();
        payload.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(payload)
    }

    /// The MAC over the query's identity and the payload; every field is length-prefixed,
    /// so no two different (query, position) pairs sign the same bytes.
    fn signature(&self, query: &Query, payload: &[u8]) -> HmacSha256 {
        let mut identity = Vec::new();
        put_field(&mut identity, DOMAIN);
        put_field(
            &mut identity,
            match query.index {
                None => b"table",
                Some(Index::Gsi1) => b"gsi1",
                Some(Index::Gsi2) => b"gsi2",
            },
        );
        put_field(&mut identity, query.pk.as_bytes());
        match &query.range {
            SortKeyRange::All => put_field(&mut identity, b"all"),
            SortKeyRange::BeginsWith(prefix) => {
                put_field(&mut identity, b"begins_with");
                put_field(&mut identity, prefix.as_bytes());
            }
            SortKeyRange::Between(low, high) => {
                put_field(&mut identity, b"between");
                put_field(&mut identity, low.as_bytes());
                put_field(&mut identity, high.as_bytes());
            }
        }
        put_field(
            &mut identity,
            if query.descending { b"desc" } else { b"asc" },
        );
        let mut mac = self.mac.clone();
        mac.update(&identity);
        mac.update(payload);
        mac
    }
}

fn put_field(out: &mut Vec<u8>, field: &[u8]) {
    // usize -> u64 is lossless on every platform Rust supports.
    out.extend_from_slice(&(field.len() as u64).to_be_bytes());
    out.extend_from_slice(field);
}

fn decode_position(mut payload: &[u8]) -> Option<Position> {
    let mut field = || -> Option<String> {
        let (len, rest) = payload.split_first_chunk::<8>()?;
        let len = usize::try_from(u64::from_be_bytes(*len)).ok()?;
        if rest.len() < len {
            return None;
        }
        let (bytes, rest) = rest.split_at(len);
        payload = rest;
        String::from_utf8(bytes.to_vec()).ok()
    };
    let sort_key = field()?;
    let item = Key::new(field()?, field()?);
    Some(Position { sort_key, item }).filter(|_| payload.is_empty())
}
