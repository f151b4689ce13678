//! The order aggregate and what is read beside it: one strongly
//! consistent load, one transactional commit; the listings, the deadline
//! index and the outbox.

use app::effects::{Net, effects_of};
use app::error::{ConflictKind, StoreError};
use app::page::{Cursor, CursorPosition, Page, PageRequest};
use app::ports::{
    Commit, DeadlineIndex, Listing, LoadRequest, Loaded, OrderQueries, OrderStore, Outbox,
    OutboxEntry, StoreResult,
};
use app::table::{
    self, CREDIT_SK, DUE_PARTITION, EVENT_SK_PREFIX, IDEM_SK, LIMIT_SK, ORDER_SK, OUTBOX_PARTITION,
    RATING_SK,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Get, TransactGetItem, TransactWriteItem,
};
use domain::Order;
use domain::calendar::Timestamp;
use domain::event::DomainEvent;
use domain::ids::OrderId;
use std::collections::HashMap;

use super::*;

impl OrderStore for DynamoStore {
    async fn load(&self, request: LoadRequest<'_>, now: Timestamp) -> StoreResult<Loaded> {
        let order_key = key(table::order_pk(request.order), ORDER_SK);
        if request.idempotency.is_none()
            && request.limit_of.is_none()
            && request.credit_of.is_none()
        {
            let order = self.get(order_key).await?.map(order_from).transpose()?;
            return Ok(Loaded {
                order,
                ..Loaded::default()
            });
        }
        let mut gets = vec![order_key];
        if let Some(k) = request.idempotency {
            gets.push(key(table::idem_pk(k), IDEM_SK));
        }
        if let Some(s) = request.limit_of {
            gets.push(key(table::supplier_pk(s), LIMIT_SK));
        }
        if let Some(b) = request.credit_of {
            gets.push(key(table::buyer_pk(b), CREDIT_SK));
        }
        let mut req = self.client.transact_get_items();
        for k in gets {
            req = req.transact_items(
                TransactGetItem::builder()
                    .get(
                        Get::builder()
                            .table_name(&*self.table)
                            .set_key(Some(k))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_err(e, ConflictKind::Version))?;
        let mut items = out
            .responses
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.item);
        let order = items.next().flatten().map(order_from).transpose()?;
        let idempotency = match request.idempotency {
            Some(_) => items
                .next()
                .flatten()
                .map(idem_from)
                .transpose()?
                .filter(|r| r.is_live(now)),
            None => None,
        };
        let limit = match request.limit_of {
            Some(_) => items.next().flatten().map(limit_from).transpose()?,
            None => None,
        };
        let credit = match request.credit_of {
            Some(_) => items.next().flatten().map(credit_from).transpose()?,
            None => None,
        };
        Ok(Loaded {
            order,
            idempotency,
            limit,
            credit,
        })
    }

    async fn commit(&self, c: Commit<'_>) -> StoreResult<()> {
        let order = c.order;
        let pk = table::order_pk(order.id());
        let mut tx = Vec::new();
        match c.expected_revision {
            Some(v) if v == order.revision() => {
                let check = ConditionCheck::builder()
                    .table_name(&*self.table)
                    .set_key(Some(key(pk.clone(), ORDER_SK)))
                    .condition_expression("revision = :v")
                    .set_expression_attribute_values(Some(version_value(v)))
                    .build()
                    .map_err(build_err)?;
                tx.push(TxItem {
                    item: TransactWriteItem::builder().condition_check(check).build(),
                    kind: ConflictKind::Version,
                });
            }
            Some(v) => tx.push(TxItem {
                item: self.put(order_item(order)?, "revision = :v", version_value(v), None)?,
                kind: ConflictKind::Version,
            }),
            None => tx.push(TxItem {
                item: self.put(
                    order_item(order)?,
                    "attribute_not_exists(pk)",
                    HashMap::new(),
                    None,
                )?,
                kind: ConflictKind::Version,
            }),
        }
        for (i, e) in c.events.iter().enumerate() {
            let sk = table::event_sk(order.revision(), e.at, i);
            let item = EventItem {
                outbox_pk: Some(OUTBOX_PARTITION.to_owned()),
                outbox_sk: Some(format!("{}#{pk}#{sk}", table::sort_ts(e.at))),
                pk: pk.clone(),
                sk,
                event: event_json(e)?,
            };
            tx.push(TxItem {
                item: self.put(
                    to_item(&item)?,
                    "attribute_not_exists(pk)",
                    HashMap::new(),
                    None,
                )?,
                kind: ConflictKind::Version,
            });
        }
        let effects = effects_of(c.events);
        for (supplier, net) in &effects.limits {
            let (expr, cond, amount) = match net {
                Net::Reserve(a) => (
                    "SET reserved_cents = reserved_cents + :a, available_cents = available_cents - :a",
                    "available_cents >= :a",
                    a,
                ),
                Net::Release(a) => (
                    "SET reserved_cents = reserved_cents - :a, available_cents = available_cents + :a",
                    "reserved_cents >= :a",
                    a,
                ),
            };
            tx.push(TxItem {
                item: self.update(
                    key(table::supplier_pk(supplier), LIMIT_SK),
                    expr,
                    Some(cond),
                    HashMap::from([(":a".to_owned(), n(cents(*amount)))]),
                    None,
                )?,
                kind: ConflictKind::LimitInsufficient,
            });
        }
        for (buyer, net) in &effects.credit {
            let mut values = HashMap::new();
            let (expr, cond, names) = match net {
                Net::Reserve(a) => {
                    values.insert(":a".to_owned(), n(cents(*a)));
                    values.insert(":approved".to_owned(), s("approved"));
                    (
                        "SET reserved_cents = reserved_cents + :a, available_cents = available_cents - :a",
                        "#status = :approved AND available_cents >= :a",
                        Some(HashMap::from([("#status".to_owned(), "status".to_owned())])),
                    )
                }
                Net::Release(a) => {
                    values.insert(":a".to_owned(), n(cents(*a)));
                    (
                        "SET reserved_cents = reserved_cents - :a, available_cents = available_cents + :a",
                        "reserved_cents >= :a",
                        None,
                    )
                }
            };
            tx.push(TxItem {
                item: self.update(
                    key(table::buyer_pk(buyer), CREDIT_SK),
                    expr,
                    Some(cond),
                    values,
                    names,
                )?,
                kind: ConflictKind::CreditInsufficient,
            });
        }
        for (supplier, (count, sum)) in &effects.ratings {
            if let Some(f) = order.feedback() {
                let item = FeedbackItem {
                    pk: table::supplier_pk(supplier),
                    sk: table::feedback_sk(f.at, order.id()),
                    rating: f.rating,
                    comment: f.comment.clone(),
                    at: f.at,
                };
                tx.push(TxItem {
                    item: self.put(
                        to_item(&item)?,
                        "attribute_not_exists(pk)",
                        HashMap::new(),
                        None,
                    )?,
                    kind: ConflictKind::Version,
                });
            }
            tx.push(TxItem {
                item: self.update(
                    key(table::supplier_pk(supplier), RATING_SK),
                    "ADD #count :c, #sum :s",
                    None,
                    HashMap::from([
                        (
                            ":c".to_owned(),
                            n(i64::try_from(*count).unwrap_or(i64::MAX)),
                        ),
                        (":s".to_owned(), n(i64::try_from(*sum).unwrap_or(i64::MAX))),
                    ]),
                    Some(HashMap::from([
                        ("#count".to_owned(), "count".to_owned()),
                        ("#sum".to_owned(), "sum".to_owned()),
                    ])),
                )?,
                kind: ConflictKind::Version,
            });
        }
        tx.extend(self.flag_writes(order.id(), c.previous_flags, &order.open_flags())?);
        if let Some(rec) = c.idempotency {
            tx.push(TxItem {
                item: self.idem_put(rec, c.now)?,
                kind: ConflictKind::Idempotency,
            });
        }
        if let Some(mark) = c.dedup {
            tx.push(TxItem {
                item: self.dedup_put(mark, c.now)?,
                kind: ConflictKind::Duplicate,
            });
        }
        self.transact(tx).await
    }

    async fn history(&self, order: &OrderId, page: &PageRequest) -> StoreResult<Page<DomainEvent>> {
        let run = Run {
            partition: table::order_pk(order),
            prefix: EVENT_SK_PREFIX,
            is_sort_key: table::is_event_sk,
            forward: true,
            consistent: true,
            cursor_order: order.to_string(),
        };
        let (items, next_cursor) = self.run_page(run, page).await?;
        let items = items
            .into_iter()
            .map(|i| event_from(from_item(i)?))
            .collect::<StoreResult<_>>()?;
        Ok(Page { items, next_cursor })
    }
}

impl OrderQueries for DynamoStore {
    async fn list(&self, listing: &Listing, page: &PageRequest) -> StoreResult<Page<Order>> {
        let (partition, newest_first) = table::listing_partition(listing);
        let (index, pk_attr, sk_attr) = match listing {
            Listing::Buyer(_) => ("by_buyer", "buyer_pk", "list_sk"),
            Listing::Supplier(_) => ("by_supplier", "supplier_pk", "list_sk"),
            Listing::Disputes(_) => ("by_dispute_status", "dispute_pk", "dispute_sk"),
        };
        let mut values = HashMap::from([(":p".to_owned(), s(&partition))]);
        let mut names = HashMap::from([("#p".to_owned(), pk_attr.to_owned())]);
        let condition = match &page.cursor {
            Some(c) => {
                names.insert("#s".to_owned(), sk_attr.to_owned());
                let pos = c
                    .position_in(&partition, table::is_listing_sk)
                    .map_err(|_| StoreError::InvalidCursor)?;
                values.insert(":s".to_owned(), s(pos.sort_key));
                if newest_first {
                    "#p = :p AND #s < :s"
                } else {
                    "#p = :p AND #s > :s"
                }
            }
            None => "#p = :p",
        };
        let want = page.limit as usize + 1;
        let items = self
            .query_all(Query {
                index: Some(index),
                key_condition: condition,
                values,
                names,
                forward: !newest_first,
                want,
                consistent: false,
            })
            .await?;
        let more = items.len() > page.limit as usize;
        // The listing indexes project keys only (an order's every change
        // would otherwise be written to them again): the page's orders are
        // fetched by key, in the index's order.
        let mut keys = Vec::new();
        let mut last_sk = None;
        for item in items.into_iter().take(page.limit as usize) {
            let it: ListingKeys = from_item(item)?;
            last_sk = Some(match listing {
                Listing::Disputes(_) => it.dispute_sk.unwrap_or_default(),
                _ => it.list_sk.unwrap_or_default(),
            });
            keys.push(it.pk);
        }
        let mut found: HashMap<String, Order> = HashMap::new();
        for item in self.batch_get(&keys, ORDER_SK).await? {
            let order = order_from(item)?;
            found.insert(table::order_pk(order.id()), order);
        }
        let orders: Vec<Order> = keys.iter().filter_map(|pk| found.remove(pk)).collect();
        let next_cursor = match (more, last_sk, orders.last()) {
            (true, Some(sort_key), Some(o)) => Some(Cursor::encode(&CursorPosition {
                partition,
                sort_key,
                order_id: o.id().to_string(),
            })),
            _ => None,
        };
        Ok(Page {
            items: orders,
            next_cursor,
        })
    }
}

impl DeadlineIndex for DynamoStore {
    async fn due(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<OrderId>> {
        let items = self
            .query_all(Query {
                index: Some("due"),
                key_condition: "due_pk = :d AND due_sk <= :u",
                values: HashMap::from([
                    (":d".to_owned(), s(DUE_PARTITION)),
                    (":u".to_owned(), s(table::due_upper_bound(now))),
                ]),
                names: HashMap::new(),
                forward: true,
                want: limit as usize,
                consistent: false,
            })
            .await?;
        items
            .into_iter()
            .map(|i| {
                let pk = match i.get(table::PK) {
                    Some(AttributeValue::S(pk)) => pk.clone(),
                    _ => return Err(StoreError::Corrupt("due item without pk".into())),
                };
                let id = pk.strip_prefix("ORDER#").unwrap_or(&pk);
                OrderId::parse(id).map_err(|e| StoreError::Corrupt(format!("due item: {e}")))
            })
            .collect()
    }
}

impl Outbox for DynamoStore {
    async fn unpublished(&self, limit: u32) -> StoreResult<Vec<OutboxEntry>> {
        let items = self
            .query_all(Query {
                index: Some("outbox"),
                key_condition: "outbox_pk = :o",
                values: HashMap::from([(":o".to_owned(), s(OUTBOX_PARTITION))]),
                names: HashMap::new(),
                forward: true,
                want: limit as usize,
                consistent: false,
            })
            .await?;
        items
            .into_iter()
            .map(|i| {
                let item: EventItem = from_item(i)?;
                let id = format!("{}|{}", item.pk, item.sk);
                Ok(OutboxEntry {
                    id,
                    event: event_from(item)?,
                })
            })
            .collect()
    }

    async fn mark_published(&self, ids: &[String]) -> StoreResult<()> {
        // One plain UpdateItem per entry, a few at a time: a transaction
        // would double the write units and buys nothing here (marking is
        // idempotent, and an entry left marked-unpublished is only
        // published again).
        for chunk in ids.chunks(MARK_CONCURRENCY) {
            let marks = chunk
                .iter()
                .filter_map(|id| id.split_once('|'))
                .map(|(pk, sk)| {
                    self.client
                        .update_item()
                        .table_name(&*self.table)
                        .set_key(Some(key(pk.to_owned(), sk)))
                        .update_expression("REMOVE outbox_pk, outbox_sk")
                        .condition_expression("attribute_exists(pk)")
                        .send()
                });
            for result in futures::future::join_all(marks).await {
                match result.map_err(|e| map_err(e, ConflictKind::Version)) {
                    // An id that no longer exists has nothing to publish.
                    Ok(_) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// Outbox entries marked at once.
const MARK_CONCURRENCY: usize = 10;
