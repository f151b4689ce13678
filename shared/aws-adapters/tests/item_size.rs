//! Nobody can make an order too large to store. An order driven to every
//! bound the rules allow — 100 line items, the longest texts, ids at their
//! maximum length, six payments (three per stage, two of them failed),
//! three disputes each with every offer, comment, rejection and piece of
//! evidence the counts allow, each party's share of dispute texts used up
//! and its allowance for short messages too, compensations split into
//! refund parts retried up to their last attempt, and feedback — written
//! with characters chosen to defeat compression (random 4-byte UTF-8), is
//! committed to the DynamoDB adapter on a real DynamoDB-compatible server,
//! and the item it stores is measured: well under DynamoDB's 400 KB limit,
//! under 200 KB. And should a write still be refused for size, the store
//! says so as `TooLarge` (a 422 for a caller, never a 500).

use std::collections::HashMap;

use app::error::StoreError;
use app::ports::{Commit, LoadRequest, OrderStore};
use aws_adapters::dynamodb::DynamoStore;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use domain::actor::{Caller, Provider, Role};
use domain::calendar::Timestamp;
use domain::clocks::Clocks;
use domain::contract::{
    Inspection, InspectionAgency, InspectionLocation, LineItem, Terms, TermsDraft,
};
use domain::coverage::{AssuranceLimit, CoverageType, ReceivingAccount};
use domain::dispute::{
    Decision, DisputeReason, MAX_EVIDENCE_PER_PARTY, MAX_MESSAGES_PER_PARTY, ResponseAction,
};
use domain::event::DomainEvent;
use domain::feedback::Rating;
use domain::ids::{OrderId, PaymentId, UserId};
use domain::order::{
    Counterparty, DisputeResponse, NewOrder, OpenDispute, PaymentReport, PaymentRequest,
    RefundReport, ShipmentDetails,
};
use domain::payment::{PaymentContext, PaymentMethod, PaymentSignal, Stage};
use domain::text::{CountryCode, DocumentRef, HttpsUrl, LongText, Sha256Hex, ShortText};
use domain::{Order, OrderError, Usd};
use test_kit::moto::{MotoServer, sdk_config};
use test_kit::store_contract::unique;

/// DynamoDB's item limit, and the bound this test holds the order to.
const DYNAMODB_ITEM_LIMIT: usize = 400 * 1024;
const BUDGET: usize = 200 * 1024;

/// Characters compression cannot shrink much: random code points of the
/// supplementary planes (4 bytes each in UTF-8), from a fixed seed.
struct Noise(u64);

impl Noise {
    fn char(&mut self) -> char {
        loop {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let c = 0x1_0000 + ((self.0 >> 33) as u32 % 0xF_0000);
            if let Some(c) = char::from_u32(c) {
                return c;
            }
        }
    }

    fn text(&mut self, chars: usize) -> String {
        (0..chars).map(|_| self.char()).collect()
    }

    fn short(&mut self) -> ShortText {
        ShortText::parse(&self.text(200)).expect("200 characters")
    }

    fn long(&mut self, chars: usize) -> LongText {
        LongText::parse(&self.text(chars)).expect("a long text")
    }

    fn id(&mut self, prefix: &str) -> UserId {
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.@:";
        let mut s = String::from(prefix);
        while s.len() < 128 {
            let n = (self.char() as usize) % ALPHABET.len();
            s.push(char::from(ALPHABET[n]));
        }
        UserId::parse(s).expect("a 128-character user id")
    }

    /// A document reference at its longest: a 200-character name and a
    /// 2,048-character URL (ASCII: URLs are percent-encoded).
    fn document(&mut self) -> DocumentRef {
        let mut url = String::from("https://evidence.example.com/");
        while url.len() < HttpsUrl::MAX {
            url.push_str(&format!("{:x}", self.char() as u32 % 16));
        }
        DocumentRef {
            name: self.short(),
            url: HttpsUrl::parse(&url).expect("an https URL"),
            sha256: Sha256Hex::parse(&"ab".repeat(32)).expect("a digest"),
        }
    }
}

fn usd(s: &str) -> Usd {
    Usd::parse(s).expect("an amount")
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 3, 1, 9, 0, 0)
        .single()
        .expect("a valid time")
}

fn ok(result: Result<Vec<DomainEvent>, OrderError>) -> Vec<DomainEvent> {
    result.unwrap_or_else(|e| panic!("refused: {e}"))
}

/// A T/T payment of `stage` that fails twice, then succeeds: three
/// payments, each carrying the supplier's (longest) wire instructions.
fn pay_three_times(
    o: &mut Order,
    buyer: &Caller,
    stage: Stage,
    account: &ReceivingAccount,
    now: &mut Timestamp,
) {
    for attempt in 0..3 {
        let id = PaymentId::parse(unique("pay_")).expect("payment id");
        ok(o.initiate_payment(
            buyer,
            PaymentRequest {
                id: id.clone(),
                stage,
                method: PaymentMethod::TelegraphicTransfer,
            },
            PaymentContext {
                credit_line: None,
                receiving_account: Some(account),
            },
            *now,
        ));
        *now += TimeDelta::hours(1);
        let amount = o.payment(&id).expect("the payment").amount;
        let signal = if attempt < 2 {
            PaymentSignal::Failed
        } else {
            PaymentSignal::Succeeded
        };
        ok(o.apply_payment_report(
            Provider::Bank,
            PaymentReport {
                payment_id: id,
                signal,
                confirmed: Some((amount, "USD".into())),
                provider_reference: Some("r".repeat(200)),
            },
            *now,
        ));
        *now += TimeDelta::hours(1);
    }
}

/// One dispute with everything its bounds allow: the buyer's description
/// and evidence, 25 offers by the supplier (each rejected, by the buyer or
/// by the supplier itself), 25 comments by the buyer, messages as long as
/// each party's share of texts and its allowance beyond it let them be.
fn fill_dispute(
    o: &mut Order,
    buyer: &Caller,
    supplier: &Caller,
    noise: &mut Noise,
    now: &mut Timestamp,
) {
    // Open with as much text and evidence as the buyer's share still takes.
    let mut tries: Vec<(usize, usize)> = (0..=MAX_EVIDENCE_PER_PARTY)
        .rev()
        .map(|k| (2000, k))
        .collect();
    tries.extend([(500, 0), (1, 0)]);
    let opened = tries.into_iter().any(|(chars, evidence)| {
        let open = OpenDispute {
            reason: DisputeReason::Quality,
            requested_refund: usd("1.00"),
            description: noise.long(chars),
            evidence: (0..evidence).map(|_| noise.document()).collect(),
        };
        o.raise_dispute(buyer, open, *now).is_ok()
    });
    assert!(opened, "a dispute can be opened");
    for round in 0..MAX_MESSAGES_PER_PARTY {
        *now += TimeDelta::minutes(1);
        // The supplier offers, with the longest message it may still write.
        respond_longest(o, supplier, ResponseAction::Offer(usd("0.50")), noise, *now);
        *now += TimeDelta::minutes(1);
        // The offer is rejected: by the buyer, or withdrawn by the supplier.
        let who = if round % 2 == 0 { buyer } else { supplier };
        respond_longest(o, who, ResponseAction::Reject, noise, *now);
        *now += TimeDelta::minutes(1);
        // The buyer comments (a message and, while its share lasts, evidence).
        let comment = DisputeResponse {
            action: ResponseAction::Comment,
            message: Some(noise.long(2000)),
            evidence: vec![noise.document()],
        };
        if o.respond_dispute(buyer, comment, *now).is_err() {
            ok(o.respond_dispute(
                buyer,
                DisputeResponse {
                    action: ResponseAction::Comment,
                    message: Some(noise.long(1)),
                    evidence: Vec::new(),
                },
                *now,
            ));
        }
    }
}

/// A response with the longest message the bounds still allow (2,000, then
/// 500 characters, then none).
fn respond_longest(
    o: &mut Order,
    who: &Caller,
    action: ResponseAction,
    noise: &mut Noise,
    now: Timestamp,
) {
    for chars in [2000, 500, 0] {
        let message = (chars > 0).then(|| noise.long(chars));
        let r = o.respond_dispute(
            who,
            DisputeResponse {
                action,
                message,
                evidence: Vec::new(),
            },
            now,
        );
        match r {
            Ok(_) => return,
            Err(e) if chars == 0 => panic!("{action:?} without a message refused: {e}"),
            Err(_) => {}
        }
    }
}

/// A compensation's refund parts: each fails until its last automatic
/// attempt, then settles.
fn settle_refunds_after_retries(o: &mut Order, now: &mut Timestamp) {
    let parts: Vec<_> = o
        .refunds()
        .iter()
        .filter(|r| r.status == domain::refund::RefundStatus::Requested)
        .map(|r| (r.id.clone(), r.provider))
        .collect();
    for (id, provider) in parts {
        for _ in 1..domain::refund::MAX_REFUND_ATTEMPTS {
            *now += TimeDelta::hours(1);
            ok(o.apply_refund_report(
                provider,
                RefundReport {
                    refund_id: id.clone(),
                    succeeded: false,
                    amount: None,
                },
                *now,
            ));
        }
        *now += TimeDelta::hours(1);
        ok(o.apply_refund_report(
            provider,
            RefundReport {
                refund_id: id,
                succeeded: true,
                amount: None,
            },
            *now,
        ));
    }
}

/// The order at every bound, and the events of its life.
fn order_at_every_bound() -> (Order, usize) {
    let mut noise = Noise(0x2026_1205);
    let buyer = Caller::new(noise.id("b"), [Role::Buyer]);
    let supplier = Caller::new(noise.id("s"), [Role::Supplier]);
    let arbiter = Caller::new(noise.id("a"), [Role::Arbiter]);
    let mut events = 0;
    let items = (0..domain::contract::MAX_LINE_ITEMS)
        .map(|_| LineItem {
            description: noise.short(),
            quantity: 1,
            unit_price: usd("100.00"),
        })
        .collect();
    let terms = Terms::new(TermsDraft {
        items,
        shipping_fee: usd("10.00"),
        initial_payment: usd("4000.00"),
        ship_by: NaiveDate::from_ymd_opt(2027, 6, 1).expect("date"),
        quality_terms: noise.long(2000),
        destination_country: CountryCode::US,
        coverage: CoverageType::PostDelivery,
        inspection: Some(Inspection {
            agency: InspectionAgency::Sgs,
            location: InspectionLocation::Overseas,
        }),
        contract_document: Some(noise.document()),
    })
    .expect("terms");
    let mut now = t0();
    let (mut o, created) = Order::create(
        &buyer,
        NewOrder {
            id: OrderId::parse(format!("ord_{}", "x".repeat(60))).expect("order id"),
            counterparty: Counterparty::Supplier(supplier.id.clone()),
            terms,
            clocks: Clocks::default(),
        },
        now,
    )
    .expect("created");
    events += created.len();
    let account = ReceivingAccount {
        bank_name: noise.short(),
        account_name: noise.short(),
        account_number: noise.short(),
        swift: noise.short(),
    };
    let mut limit = AssuranceLimit::new(supplier.id.clone(), usd("1000000.00"));
    limit.receiving_account = Some(account.clone());
    now += TimeDelta::hours(1);
    events += ok(o.confirm(&supplier, o.version(), &limit, now)).len();
    pay_three_times(&mut o, &buyer, Stage::Initial, &account, &mut now);
    now += TimeDelta::hours(1);
    events += ok(o.ship(
        &supplier,
        ShipmentDetails {
            carrier: noise.short(),
            tracking_number: noise.short(),
            shipped_at: None,
        },
        now,
    ))
    .len();
    pay_three_times(&mut o, &buyer, Stage::Balance, &account, &mut now);

    // Dispute 1: settled with a compensation.
    fill_dispute(&mut o, &buyer, &supplier, &mut noise, &mut now);
    now += TimeDelta::minutes(1);
    respond_longest(&mut o, &supplier, ResponseAction::Accept, &mut noise, now);
    settle_refunds_after_retries(&mut o, &mut now);

    // Dispute 2: withdrawn.
    fill_dispute(&mut o, &buyer, &supplier, &mut noise, &mut now);
    now += TimeDelta::minutes(1);
    events += ok(o.withdraw_dispute(&buyer, now)).len();

    // Dispute 3: escalated and decided for the buyer (a compensation).
    fill_dispute(&mut o, &buyer, &supplier, &mut noise, &mut now);
    now += TimeDelta::days(16);
    events += ok(o.escalate_dispute(&buyer, now)).len();
    now += TimeDelta::hours(1);
    events += ok(o.decide_dispute(&arbiter, Decision::SupplierAtFault(usd("1.00")), now)).len();
    settle_refunds_after_retries(&mut o, &mut now);

    now += TimeDelta::hours(1);
    events += ok(o.confirm_receipt(&buyer, now)).len();
    now += TimeDelta::hours(1);
    events += ok(o.leave_feedback(
        &buyer,
        Rating::parse(1).expect("rating"),
        noise.long(2000),
        now,
    ))
    .len();
    (o, events)
}

/// What DynamoDB counts of an item: attribute names and values.
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| 1 + k.len() + value(v)).sum::<usize>()
            }
            AttributeValue::Ss(ss) => ss.iter().map(String::len).sum(),
            AttributeValue::Ns(ns) => ns.iter().map(String::len).sum(),
            AttributeValue::Bs(bs) => bs.iter().map(|b| b.as_ref().len()).sum(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

async fn store() -> (DynamoStore, aws_sdk_dynamodb::Client, String) {
    let moto = MotoServer::shared();
    let config = sdk_config(&moto.endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = "trade-assurance-item-size".to_owned();
    let store = DynamoStore::new(client.clone(), table.clone());
    store.create_table_if_missing().await.unwrap_or_else(|e| {
        panic!(
            "cannot create the table on moto at {}: {e:?}",
            moto.endpoint
        )
    });
    (store, client, table)
}

#[tokio::test]
async fn an_order_at_every_bound_stays_under_200_kb_on_dynamodb() {
    let (order, events) = order_at_every_bound();
    // It really is at its bounds.
    assert_eq!(order.payments().len(), 6, "three payments per stage");
    assert_eq!(order.past_disputes().len() + 1, 3, "three disputes");
    let entries: usize = order
        .past_disputes()
        .iter()
        .chain(order.dispute())
        .map(|d| d.entries.len())
        .sum();
    assert!(entries >= 3 * 75, "{entries} dispute entries");
    assert!(
        order
            .refunds()
            .iter()
            .all(|r| r.attempts == domain::refund::MAX_REFUND_ATTEMPTS)
    );
    let json = serde_json::to_vec(&order).expect("json");
    assert!(
        json.len() < DYNAMODB_ITEM_LIMIT,
        "even uncompressed, the order's document ({} bytes) fits an item",
        json.len()
    );

    let (store, client, table) = store().await;
    store
        .commit(Commit {
            previous_flags: &[],
            order: &order,
            expected_revision: None,
            events: &[],
            idempotency: None,
            dedup: None,
            now: t0(),
        })
        .await
        .unwrap_or_else(|e| panic!("the order at every bound is stored: {e:?}"));
    let item = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("ORDER#{}", order.id())))
        .key("sk", AttributeValue::S("ORDER".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
        .expect("the order item");
    let size = item_size(&item);
    println!(
        "order at every bound: {entries} dispute entries, {} refund parts, {events}+ events; document {} bytes of JSON, item {size} bytes stored",
        order.refunds().len(),
        json.len()
    );
    assert!(
        size < BUDGET,
        "the stored item is {size} bytes; the budget is {BUDGET}"
    );
    // And it reads back whole.
    let loaded = store
        .load(
            LoadRequest {
                order: order.id(),
                idempotency: None,
                limit_of: None,
                credit_of: None,
            },
            t0(),
        )
        .await
        .expect("load");
    assert_eq!(loaded.order.as_ref(), Some(&order));
}

#[tokio::test]
async fn an_item_over_400_kb_is_refused_as_too_large_not_as_a_failure() {
    // Not reachable through the rules: a stored document is forged with
    // 4,000 comments of 2,000 characters to see what DynamoDB answers.
    let (order, _) = order_at_every_bound();
    let mut doc = serde_json::to_value(&order).expect("json");
    let mut noise = Noise(7);
    let entry = doc["past_disputes"][0]["entries"][1].clone();
    let entries = doc["past_disputes"][0]["entries"]
        .as_array_mut()
        .expect("entries");
    for _ in 0..400 {
        let mut e = entry.clone();
        e["message"] = serde_json::Value::String(noise.text(2000));
        entries.push(e);
    }
    doc["id"] = serde_json::Value::String(unique("ord_"));
    let forged: Order = serde_json::from_value(doc).expect("a forged order");
    let (store, _, _) = store().await;
    let result = store
        .commit(Commit {
            previous_flags: &[],
            order: &forged,
            expected_revision: None,
            events: &[],
            idempotency: None,
            dedup: None,
            now: t0(),
        })
        .await;
    assert!(
        matches!(result, Err(StoreError::TooLarge)),
        "an item over DynamoDB's limit is TooLarge: {result:?}"
    );
}
