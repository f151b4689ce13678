//! The one-table design, defined once. The DynamoDB adapter builds its keys
//! and creates the table from this module; the in-memory backend orders its
//! listings by the same sort keys; the SAM template is checked against
//! [`SCHEMA`].
//!
//! | item | pk | sk | index attributes |
//! |---|---|---|---|
//! | order | `ORDER#<order>` | `ORDER` | `buyer_pk`/`supplier_pk` + `list_sk`; `dispute_pk` + `dispute_sk` while it has a dispute; `due_pk` + `due_sk` while the sweep has work on it (the document itself is an adapter's business: DynamoDB keeps it deflated) |
//! | history event | `ORDER#<order>` | `EVENT#<revision>#<at>#<n>` | `outbox_pk` + `outbox_sk` until published |
//! | supplier limit | `SUPPLIER#<supplier>` | `LIMIT` | — (`limit`, `reserved`, `available` = limit − reserved) |
//! | supplier rating | `SUPPLIER#<supplier>` | `RATING` | — (`count`, `sum`) |
//! | supplier feedback | `SUPPLIER#<supplier>` | `FEEDBACK#<at>#<order digest>` | — (`rating`, `comment`, `at`; no order or buyer id) |
//! | credit line | `BUYER#<buyer>` | `CREDIT` | — (`limit`, `reserved`, `available`) |
//! | idempotency | `IDEM#<digest>` | `IDEM` | `expires_at` (TTL) |
//! | provider event | `DEDUP#<provider>#<event id>` | `DEDUP` | `expires_at` (TTL) |
//! | open flag of an order | `ORDER#<order>` | `FLAG#<kind>#<payment or refund id>` | `flag_pk` (`FLAG#<kind>`) + `flag_sk` |
//! | refused provider event | `REFUSED#<provider>#<webhook id>` | `REFUSED` | `flag_pk` + `flag_sk`; `expires_at` (TTL, 30 days) |
//!
//! | access pattern | how |
//! |---|---|
//! | load an order (+ idempotency record, + a supplier limit) | TransactGetItems (strongly consistent), 1 call |
//! | create / save an order with its events and effects | TransactWriteItems with a version condition, 1 call |
//! | an order's history, oldest first, a page at a time | Query `pk = ORDER#<order>`, `sk begins_with EVENT#` (or `sk > cursor`), `Limit` |
//! | a supplier's feedback, newest first, a page at a time | Query `pk = SUPPLIER#<supplier>`, `sk begins_with FEEDBACK#` (or `< cursor`), descending |
//! | a buyer's / supplier's orders, newest first | Query GSI `by_buyer` / `by_supplier` (keys only), descending, then BatchGetItem for the page |
//! | disputes by status, oldest first | Query GSI `by_dispute_status` (sparse, keys only), then BatchGetItem |
//! | orders the sweep must look at | Query GSI `due` (sparse) `due_sk <= now` |
//! | events not yet published | Query GSI `outbox` (sparse) |
//! | what needs an operator, oldest first | Query GSI `flags` (sparse, all attributes) per kind, merged |
//! | a supplier's limit / rating, a buyer's credit line | GetItem |

use chrono::SecondsFormat;
use domain::Order;
use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::dispute::DisputeStatus;
use domain::ids::{OrderId, UserId};
use domain::order::{AttentionKind, FlagSubject};

use crate::ports::Listing;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub const ORDER_SK: &str = "ORDER";
pub const LIMIT_SK: &str = "LIMIT";
pub const RATING_SK: &str = "RATING";
pub const CREDIT_SK: &str = "CREDIT";
pub const IDEM_SK: &str = "IDEM";
pub const DEDUP_SK: &str = "DEDUP";
pub const EVENT_SK_PREFIX: &str = "EVENT#";
pub const FEEDBACK_SK_PREFIX: &str = "FEEDBACK#";
pub const FLAG_SK_PREFIX: &str = "FLAG#";
pub const REFUSED_SK: &str = "REFUSED";
pub const DUE_PARTITION: &str = "DUE";
pub const OUTBOX_PARTITION: &str = "OUTBOX";

/// A timestamp as a fixed-width UTC string, so lexical order is time order.
pub fn sort_ts(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn order_pk(id: &OrderId) -> String {
    format!("ORDER#{id}")
}
pub fn supplier_pk(id: &UserId) -> String {
    format!("SUPPLIER#{id}")
}
pub fn buyer_pk(id: &UserId) -> String {
    format!("BUYER#{id}")
}
pub fn idem_pk(key: &crate::idempotency::IdemKey) -> String {
    format!("IDEM#{}", key.as_str())
}
pub fn dedup_pk(provider: Provider, event_id: &str) -> String {
    format!("DEDUP#{provider}#{event_id}")
}

/// A refused provider event's partition key.
pub fn refused_pk(provider: Provider, webhook_id: &str) -> String {
    format!("REFUSED#{provider}#{webhook_id}")
}

/// The sort key of an order's open flag (under the order's partition).
pub fn order_flag_sk(kind: AttentionKind, subject: &FlagSubject) -> String {
    format!("{FLAG_SK_PREFIX}{}#{}", kind.as_str(), subject.id())
}

/// The `flags` index partition of one kind.
pub fn flag_partition(kind: AttentionKind) -> String {
    format!("{FLAG_SK_PREFIX}{}", kind.as_str())
}

/// The `flags` index sort key: oldest first, then the order (or the
/// provider) and the payment or refund part (or the `webhook-id`).
pub fn flag_sk(at: Timestamp, owner: &str, subject: &str) -> String {
    format!("{}#{owner}#{subject}", sort_ts(at))
}

/// Is `sk` a `flags` index sort key (as [`flag_sk`] writes them)?
pub fn is_flag_sk(sk: &str) -> bool {
    sk.split_once('#')
        .is_some_and(|(at, rest)| is_sort_ts(at) && rest.contains('#'))
}

/// History sort key: by order revision (every stored change, reminders
/// included, has its own), then time, then position in the commit.
pub fn event_sk(revision: u64, at: Timestamp, index: usize) -> String {
    format!("{EVENT_SK_PREFIX}{revision:012}#{}#{index:03}", sort_ts(at))
}

/// Is `sk` a history sort key (as [`event_sk`] writes them)?
pub fn is_event_sk(sk: &str) -> bool {
    let Some(rest) = sk.strip_prefix(EVENT_SK_PREFIX) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('#').collect();
    matches!(parts.as_slice(), [rev, at, n]
        if rev.len() == 12 && rev.bytes().all(|b| b.is_ascii_digit())
            && is_sort_ts(at)
            && n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Is `s` an instant as [`sort_ts`] writes it?
pub fn is_sort_ts(s: &str) -> bool {
    s.len() == 27 && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Is `sk` a listing sort key (`<instant>#<order id>`, as
/// [`order_index_keys`] writes `list_sk` and `dispute_sk`)?
pub fn is_listing_sk(sk: &str) -> bool {
    sk.split_once('#')
        .is_some_and(|(at, id)| is_sort_ts(at) && OrderId::parse(id).is_ok())
}

/// A supplier's feedback sort key: newest first by time, then a digest of
/// the order (unique, but naming neither the order nor the buyer).
pub fn feedback_sk(at: Timestamp, order: &OrderId) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(order.as_str().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{FEEDBACK_SK_PREFIX}{}#{hex}", sort_ts(at))
}

/// Is `sk` a feedback sort key (as [`feedback_sk`] writes them)?
pub fn is_feedback_sk(sk: &str) -> bool {
    sk.strip_prefix(FEEDBACK_SK_PREFIX)
        .and_then(|rest| rest.split_once('#'))
        .is_some_and(|(at, hex)| {
            is_sort_ts(at) && hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// The index attributes an order item carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderIndexKeys {
    pub buyer_pk: String,
    pub supplier_pk: String,
    pub list_sk: String,
    pub dispute: Option<(String, String)>,
    pub due: Option<(String, String)>,
}

pub fn dispute_partition(status: DisputeStatus) -> String {
    format!("DISPUTE#{}", status.as_str())
}

pub fn order_index_keys(order: &Order) -> OrderIndexKeys {
    let id = order.id();
    OrderIndexKeys {
        buyer_pk: buyer_pk(order.buyer_id()),
        supplier_pk: supplier_pk(order.supplier_id()),
        list_sk: format!("{}#{id}", sort_ts(order.created_at())),
        dispute: order.dispute().map(|d| {
            (
                dispute_partition(d.status),
                format!("{}#{id}", sort_ts(d.opened_at)),
            )
        }),
        due: order
            .next_sweep_due()
            .map(|t| (DUE_PARTITION.to_owned(), format!("{}#{id}", sort_ts(t)))),
    }
}

/// The partition a listing reads, and whether it is newest first.
pub fn listing_partition(listing: &Listing) -> (String, bool) {
    match listing {
        Listing::Buyer(b) => (buyer_pk(b), true),
        Listing::Supplier(s) => (supplier_pk(s), true),
        Listing::Disputes(status) => (dispute_partition(*status), false),
    }
}

/// The upper bound of `due_sk` for "due at or before `now`".
pub fn due_upper_bound(now: Timestamp) -> String {
    // '#' < '~': every key of an instant <= now sorts before this.
    format!("{}~", sort_ts(now))
}

/// A global secondary index of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gsi {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// `true`: ALL attributes; `false`: KEYS_ONLY.
    pub project_all: bool,
}

/// The table's key schema and indexes. Every key attribute is a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub ttl_attribute: &'static str,
    pub indexes: &'static [Gsi],
}

pub const SCHEMA: Schema = Schema {
    partition_key: PK,
    sort_key: SK,
    ttl_attribute: TTL_ATTRIBUTE,
    indexes: &[
        Gsi {
            name: "by_buyer",
            partition_key: "buyer_pk",
            sort_key: "list_sk",
            project_all: false,
        },
        Gsi {
            name: "by_supplier",
            partition_key: "supplier_pk",
            sort_key: "list_sk",
            project_all: false,
        },
        Gsi {
            name: "by_dispute_status",
            partition_key: "dispute_pk",
            sort_key: "dispute_sk",
            project_all: false,
        },
        Gsi {
            name: "due",
            partition_key: "due_pk",
            sort_key: "due_sk",
            project_all: false,
        },
        Gsi {
            name: "outbox",
            partition_key: "outbox_pk",
            sort_key: "outbox_sk",
            project_all: true,
        },
        Gsi {
            name: "flags",
            partition_key: "flag_pk",
            sort_key: "flag_sk",
            project_all: true,
        },
    ],
};

impl Schema {
    /// Every attribute used as a key of the table or an index.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut v = vec![self.partition_key, self.sort_key];
        for g in self.indexes {
            for a in [g.partition_key, g.sort_key] {
                if !v.contains(&a) {
                    v.push(a);
                }
            }
        }
        v
    }

    pub fn index(&self, name: &str) -> Option<&Gsi> {
        self.indexes.iter().find(|g| g.name == name)
    }
}
