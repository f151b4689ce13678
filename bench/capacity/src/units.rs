//! Capacity units from item sizes, by DynamoDB's published rules
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>):
//!
//! - item size = Σ (attribute name bytes + value size); a string is its
//!   UTF-8 bytes, a number ≈ 1 byte per 2 significant digits + 1, binary its
//!   raw bytes, null/bool 1; a list or map 3 bytes + 1 byte per element +
//!   the elements (a map element also its name);
//! - reads: 1 unit per 4 KB strongly consistent, half that eventually
//!   consistent, twice that in a transaction; a Query or Scan is charged on
//!   the summed size of the items it reads, rounded up once;
//! - writes: 1 unit per 1 KB of the larger of the item before and after,
//!   twice that in a transaction (a ConditionCheck is charged like a write
//!   of the item it checks);
//! - every global secondary index the write touches: 1 write per 1 KB of
//!   the projected entry put or deleted, 2 when its key changes (delete +
//!   put). An index write is a standard write (not doubled). TTL deletes
//!   are free and are not counted here.
//!
//! Items are DynamoDB JSON as on the wire (`{"pk": {"S": "…"}}`).

use std::collections::{BTreeMap, HashMap};

use app::table::SCHEMA;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::capture::Call;

pub type Item = Map<String, Value>;
pub type Key = (String, String);

/// The size in bytes of one attribute value.
pub fn value_size(v: &Value) -> u64 {
    let Some(obj) = v.as_object() else { return 0 };
    let Some((ty, inner)) = obj.iter().next() else {
        return 0;
    };
    match ty.as_str() {
        "S" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => inner.as_str().map_or(0, number_size),
        "B" => inner.as_str().map_or(0, |s| (s.len() as u64 * 3) / 4),
        "BOOL" | "NULL" => 1,
        "SS" => inner.as_array().map_or(0, |a| {
            a.iter()
                .map(|s| s.as_str().map_or(0, |s| s.len() as u64))
                .sum()
        }),
        "NS" => inner.as_array().map_or(0, |a| {
            a.iter().map(|s| s.as_str().map_or(0, number_size)).sum()
        }),
        "BS" => inner.as_array().map_or(0, |a| {
            a.iter()
                .map(|s| s.as_str().map_or(0, |s| (s.len() as u64 * 3) / 4))
                .sum()
        }),
        "L" => inner
            .as_array()
            .map_or(3, |a| 3 + a.iter().map(|e| 1 + value_size(e)).sum::<u64>()),
        "M" => inner.as_object().map_or(3, |m| {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() as u64 + value_size(e))
                .sum::<u64>()
        }),
        _ => 0,
    }
}

/// ≈ 1 byte per two significant digits, plus 1.
fn number_size(n: &str) -> u64 {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let (int, frac) = match n.split_once('.') {
        Some((i, f)) => (
            i.chars().filter(char::is_ascii_digit).collect::<String>(),
            f.to_owned(),
        ),
        None => (digits.clone(), String::new()),
    };
    let all = format!("{int}{frac}");
    let significant = all
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1) as u64;
    significant.div_ceil(2) + 1
}

pub fn item_size(item: &Item) -> u64 {
    item.iter()
        .map(|(k, v)| k.len() as u64 + value_size(v))
        .sum()
}

fn s_attr(item: &Item, name: &str) -> Option<String> {
    item.get(name)
        .and_then(|v| v.get("S"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub fn key_of(item: &Item) -> Option<Key> {
    Some((
        s_attr(item, SCHEMA.partition_key)?,
        s_attr(item, SCHEMA.sort_key)?,
    ))
}

fn units(size: u64, per: u64) -> u64 {
    size.div_ceil(per).max(1)
}

/// Capacity of one call (or a sum of calls).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Units {
    /// Read request units.
    pub rru: f64,
    /// Write request units on the table.
    pub wru_table: f64,
    /// Write request units on the global secondary indexes.
    pub wru_gsi: f64,
    /// Items read (returned by a read).
    pub items_read: u64,
    /// Items written (put, updated, deleted) on the table.
    pub items_written: u64,
}

impl Units {
    pub fn wru(&self) -> f64 {
        self.wru_table + self.wru_gsi
    }

    pub fn add(&mut self, o: &Units) {
        self.rru += o.rru;
        self.wru_table += o.wru_table;
        self.wru_gsi += o.wru_gsi;
        self.items_read += o.items_read;
        self.items_written += o.items_written;
    }
}

/// The table's items as the calculator last saw them (from writes, reads
/// and fetches after each step), to know an item's size before a write.
#[derive(Debug, Default)]
pub struct Shadow {
    pub items: HashMap<Key, Item>,
    /// Write units, writes and the largest item written, by item kind.
    pub by_item: BTreeMap<&'static str, KindUnits>,
}

/// What the writes of one kind of item cost.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct KindUnits {
    pub wru_table: f64,
    pub wru_gsi: f64,
    /// Writes (puts, updates, deletes, condition checks).
    pub writes: u64,
    /// The largest size written or checked, in bytes.
    pub largest: u64,
}

/// The kind of item a key names (app::table's key design).
pub fn item_kind(key: &Key) -> &'static str {
    match key.1.as_str() {
        "ORDER" => "order",
        "LIMIT" => "supplier limit",
        "RATING" => "supplier rating",
        "CREDIT" => "credit line",
        "IDEM" => "idempotency record",
        "DEDUP" => "provider-event mark",
        sk if sk.starts_with("EVENT#") => "history event / outbox",
        _ => "other",
    }
}

/// The projected index entry size for each index `item` is in.
fn index_entries(item: Option<&Item>) -> Vec<Option<(String, String, u64)>> {
    SCHEMA
        .indexes
        .iter()
        .map(|g| {
            let item = item?;
            let pk = s_attr(item, g.partition_key)?;
            let sk = s_attr(item, g.sort_key)?;
            let size = if g.project_all {
                item_size(item)
            } else {
                [
                    SCHEMA.partition_key,
                    SCHEMA.sort_key,
                    g.partition_key,
                    g.sort_key,
                ]
                .iter()
                .filter_map(|a| item.get(*a).map(|v| a.len() as u64 + value_size(v)))
                .sum()
            };
            Some((pk, sk, size))
        })
        .collect()
}

/// Index writes for a table write that turns `before` into `after`.
fn gsi_units(before: Option<&Item>, after: Option<&Item>) -> u64 {
    let b = index_entries(before);
    let a = index_entries(after);
    let mut total = 0;
    for ((gb, ga), g) in b.iter().zip(&a).zip(SCHEMA.indexes) {
        total += match (gb, ga) {
            (None, None) => 0,
            (None, Some((_, _, s))) => units(*s, 1024),
            (Some((_, _, s)), None) => units(*s, 1024),
            (Some((bp, bs, sb)), Some((ap, as_, sa))) => {
                if bp != ap || bs != as_ {
                    units(*sb, 1024) + units(*sa, 1024)
                } else if g.project_all && before != after {
                    units(*sa, 1024)
                } else {
                    0
                }
            }
        };
    }
    total
}

impl Shadow {
    fn remember(&mut self, item: &Item) {
        if let Some(k) = key_of(item) {
            self.items.insert(k, item.clone());
        }
    }

    /// One write of `key` to `after` (None: deleted), `factor` 2 in a
    /// transaction. `after` of an update comes from `post`.
    fn write(&mut self, key: Key, after: Option<Item>, factor: f64) -> Units {
        let before = self.items.get(&key).cloned();
        let size = before
            .as_ref()
            .map_or(0, item_size)
            .max(after.as_ref().map_or(0, item_size));
        let u = Units {
            wru_table: factor * units(size, 1024) as f64,
            wru_gsi: gsi_units(before.as_ref(), after.as_ref()) as f64,
            items_written: 1,
            ..Units::default()
        };
        let e = self.by_item.entry(item_kind(&key)).or_default();
        e.wru_table += u.wru_table;
        e.wru_gsi += u.wru_gsi;
        e.writes += 1;
        e.largest = e.largest.max(size);
        match after {
            Some(a) => {
                self.items.insert(key, a);
            }
            None => {
                self.items.remove(&key);
            }
        }
        u
    }

    fn updated(&self, key: &Key, post: &HashMap<Key, Item>) -> Option<Item> {
        post.get(key)
            .cloned()
            .or_else(|| self.items.get(key).cloned())
    }

    /// The capacity one captured call consumed. `post` holds the items
    /// updates wrote, fetched after the step.
    pub fn charge(&mut self, call: &Call, post: &HashMap<Key, Item>) -> Units {
        if call.status != 200 {
            return Units::default();
        }
        let req = &call.request;
        let res = &call.response;
        let obj = |v: &Value| v.as_object().cloned();
        let key = |v: &Value| obj(v).and_then(|k| key_of(&k));
        match call.op.as_str() {
            "GetItem" => {
                let consistent = req["ConsistentRead"].as_bool().unwrap_or(false);
                let item = obj(&res["Item"]);
                let size = item.as_ref().map_or(0, item_size);
                if let Some(i) = &item {
                    self.remember(i);
                }
                Units {
                    rru: units(size, 4096) as f64 * if consistent { 1.0 } else { 0.5 },
                    items_read: u64::from(item.is_some()),
                    ..Units::default()
                }
            }
            "TransactGetItems" => {
                let mut u = Units::default();
                let responses = res["Responses"].as_array().cloned().unwrap_or_default();
                let n = req["TransactItems"].as_array().map_or(0, Vec::len);
                for i in 0..n {
                    let item = responses.get(i).and_then(|r| obj(&r["Item"]));
                    u.rru += 2.0 * units(item.as_ref().map_or(0, item_size), 4096) as f64;
                    if let Some(i) = &item {
                        u.items_read += 1;
                        self.remember(i);
                    }
                }
                u
            }
            "Query" | "Scan" => {
                let consistent = req["ConsistentRead"].as_bool().unwrap_or(false);
                let items = res["Items"].as_array().cloned().unwrap_or_default();
                let total: u64 = items.iter().filter_map(obj).map(|i| item_size(&i)).sum();
                // Index entries are not table items: remember table reads only.
                if req.get("IndexName").is_none() {
                    for i in items.iter().filter_map(obj) {
                        self.remember(&i);
                    }
                }
                Units {
                    rru: units(total, 4096) as f64 * if consistent { 1.0 } else { 0.5 },
                    items_read: items.len() as u64,
                    ..Units::default()
                }
            }
            "PutItem" => match obj(&req["Item"]) {
                Some(item) => match key_of(&item) {
                    Some(k) => self.write(k, Some(item), 1.0),
                    None => Units::default(),
                },
                None => Units::default(),
            },
            "UpdateItem" => match key(&req["Key"]) {
                Some(k) => {
                    let after = self.updated(&k, post);
                    self.write(k, after, 1.0)
                }
                None => Units::default(),
            },
            "DeleteItem" => match key(&req["Key"]) {
                Some(k) => self.write(k, None, 1.0),
                None => Units::default(),
            },
            "BatchWriteItem" => {
                let mut u = Units::default();
                if let Some(tables) = req["RequestItems"].as_object() {
                    for w in tables.values().filter_map(Value::as_array).flatten() {
                        if let Some(item) = obj(&w["PutRequest"]["Item"]) {
                            if let Some(k) = key_of(&item) {
                                u.add(&self.write(k, Some(item), 1.0));
                            }
                        } else if let Some(k) = key(&w["DeleteRequest"]["Key"]) {
                            u.add(&self.write(k, None, 1.0));
                        }
                    }
                }
                u
            }
            "TransactWriteItems" => {
                let mut u = Units::default();
                for t in req["TransactItems"].as_array().cloned().unwrap_or_default() {
                    if let Some(item) = obj(&t["Put"]["Item"]) {
                        if let Some(k) = key_of(&item) {
                            u.add(&self.write(k, Some(item), 2.0));
                        }
                    } else if let Some(k) = key(&t["Update"]["Key"]) {
                        let after = self.updated(&k, post);
                        u.add(&self.write(k, after, 2.0));
                    } else if let Some(k) = key(&t["Delete"]["Key"]) {
                        u.add(&self.write(k, None, 2.0));
                    } else if let Some(k) = key(&t["ConditionCheck"]["Key"]) {
                        let size = self.items.get(&k).map_or(0, item_size);
                        let w = 2.0 * units(size, 1024) as f64;
                        u.wru_table += w;
                        let e = self.by_item.entry(item_kind(&k)).or_default();
                        e.wru_table += w;
                        e.writes += 1;
                        e.largest = e.largest.max(size);
                    }
                }
                u
            }
            _ => Units::default(),
        }
    }
}

/// The keys updates touched (their after-images must be fetched).
pub fn updated_keys(calls: &[Call]) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut push = |v: &Value| {
        if let Some(k) = v.as_object().and_then(key_of)
            && !keys.contains(&k)
        {
            keys.push(k);
        }
    };
    for c in calls {
        match c.op.as_str() {
            "UpdateItem" => push(&c.request["Key"]),
            "TransactWriteItems" => {
                for t in c.request["TransactItems"].as_array().into_iter().flatten() {
                    push(&t["Update"]["Key"]);
                }
            }
            _ => {}
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Item {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sizes_follow_the_published_rules() {
        // "pk" (2) + "ORDER#1" (7) = 9; "n" (1) + 123 (2 digits-pairs + 1 = 3) = 4.
        assert_eq!(
            item_size(&item(json!({"pk": {"S": "ORDER#1"}, "n": {"N": "123"}}))),
            13
        );
        // A map: name 1 + 3 overhead + per element 1 + name 1 + value 1 (bool).
        assert_eq!(
            item_size(&item(json!({"m": {"M": {"a": {"BOOL": true}}}}))),
            1 + 3 + 1 + 1 + 1
        );
        // A list of two strings: name 1 + 3 + (1 + 2) + (1 + 3).
        assert_eq!(
            item_size(&item(json!({"l": {"L": [{"S": "ab"}, {"S": "abc"}]}}))),
            11
        );
        // Leading and trailing zeros are trimmed: 1500.00 is "15".
        assert_eq!(number_size("1500.00"), 1 + 1);
        assert_eq!(number_size("123456"), 3 + 1);
        assert_eq!(number_size("0"), 2);
    }

    #[test]
    fn a_transactional_put_into_two_indexes_costs_double_plus_one_per_index() {
        let mut shadow = Shadow::default();
        let put = item(json!({"pk": {"S": "ORDER#1"}, "sk": {"S": "ORDER"},
            "buyer_pk": {"S": "BUYER#b"}, "supplier_pk": {"S": "SUPPLIER#s"}, "list_sk": {"S": "t"}}));
        let call = Call {
            op: "TransactWriteItems".into(),
            request: json!({"TransactItems": [{"Put": {"Item": put}}]}),
            status: 200,
            response: json!({}),
        };
        let u = shadow.charge(&call, &HashMap::new());
        assert_eq!((u.wru_table, u.wru_gsi), (2.0, 2.0));
        // The same again: no index key changed, ALL projections rewritten
        // only when the item changed.
        let u = shadow.charge(&call, &HashMap::new());
        assert_eq!((u.wru_table, u.wru_gsi), (2.0, 0.0));
    }
}
