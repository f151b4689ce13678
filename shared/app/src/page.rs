//! Pagination with an opaque cursor bound to its listing: a cursor taken
//! from one listing is refused by any other, so it cannot be edited into
//! someone else's orders.

use base64::Engine;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 20;
/// An order's history reads a whole ordinary life in one page by default.
pub const DEFAULT_HISTORY_PAGE: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PageError {
    #[error("limit must be between 1 and {MAX_PAGE}")]
    Limit,
    #[error("cursor is not valid for this listing")]
    Cursor,
}

/// Where the next page starts: the listing's partition and the last sort
/// key returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorPosition {
    #[serde(rename = "p")]
    pub partition: String,
    #[serde(rename = "s")]
    pub sort_key: String,
    #[serde(rename = "o")]
    pub order_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor(String);

impl Cursor {
    pub fn encode(pos: &CursorPosition) -> Cursor {
        let json = serde_json::to_vec(pos).unwrap_or_default();
        Cursor(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
    }

    pub fn parse(s: &str) -> Result<Cursor, PageError> {
        if s.is_empty() || s.len() > 2048 {
            return Err(PageError::Cursor);
        }
        let c = Cursor(s.to_owned());
        c.decode_any().map(|_| c)
    }

    fn decode_any(&self) -> Result<CursorPosition, PageError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.0)
            .map_err(|_| PageError::Cursor)?;
        serde_json::from_slice(&bytes).map_err(|_| PageError::Cursor)
    }

    /// The position, if this cursor belongs to `partition` and its sort
    /// key has the shape that listing's keys have (`valid_key`): a cursor
    /// edited by hand is refused (400), never sent on to a store.
    pub fn position_in(
        &self,
        partition: &str,
        valid_key: impl Fn(&str) -> bool,
    ) -> Result<CursorPosition, PageError> {
        let pos = self.decode_any()?;
        if pos.partition != partition || pos.sort_key.is_empty() || !valid_key(&pos.sort_key) {
            return Err(PageError::Cursor);
        }
        Ok(pos)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    pub fn new(limit: Option<u32>, cursor: Option<Cursor>) -> Result<Self, PageError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(PageError::Limit);
        }
        Ok(PageRequest { limit, cursor })
    }

    pub fn first(limit: u32) -> Self {
        PageRequest {
            limit: limit.clamp(1, MAX_PAGE),
            cursor: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Absent on the last page.
    pub next_cursor: Option<Cursor>,
}
