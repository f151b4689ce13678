//! Suppliers' assurance limits, their rating and the feedback buyers left.

use app::error::{ConflictKind, StoreError};
use app::page::{Page, PageRequest};
use app::ports::{StoreResult, SupplierLimits};
use app::table::{self, LIMIT_SK, RATING_SK};
use domain::Usd;
use domain::coverage::{AssuranceLimit, ReceivingAccount};
use domain::feedback::RatingSummary;
use domain::ids::UserId;
use std::collections::HashMap;

use super::*;

impl SupplierLimits for DynamoStore {
    async fn get_limit(&self, supplier: &UserId) -> StoreResult<Option<AssuranceLimit>> {
        self.get(key(table::supplier_pk(supplier), LIMIT_SK))
            .await?
            .map(limit_from)
            .transpose()
    }

    async fn set_limit(
        &self,
        supplier: &UserId,
        limit: Usd,
        receiving_account: Option<&ReceivingAccount>,
    ) -> StoreResult<AssuranceLimit> {
        for _ in 0..self.retry.attempts.max(1) * 4 {
            let current = self.get_limit(supplier).await?;
            let (reserved, account, condition, values) = match &current {
                None => (Usd::ZERO, None, "attribute_not_exists(pk)", HashMap::new()),
                Some(l) => (
                    l.reserved(),
                    l.receiving_account.clone(),
                    "reserved_cents = :r",
                    HashMap::from([(":r".to_owned(), n(cents(l.reserved())))]),
                ),
            };
            let account = receiving_account.cloned().or(account);
            let item = LimitItem {
                pk: table::supplier_pk(supplier),
                sk: LIMIT_SK.to_owned(),
                supplier_id: supplier.clone(),
                limit_cents: cents(limit),
                reserved_cents: cents(reserved),
                available_cents: cents(limit) - cents(reserved),
                receiving_account: account.clone(),
            };
            let result = self
                .client
                .put_item()
                .table_name(&*self.table)
                .set_item(Some(to_item(&item)?))
                .condition_expression(condition)
                .set_expression_attribute_values(if values.is_empty() {
                    None
                } else {
                    Some(values)
                })
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(AssuranceLimit::from_parts(
                        supplier.clone(),
                        limit,
                        reserved,
                        account,
                    ));
                }
                Err(e) => match map_err(e, ConflictKind::Version) {
                    // A reservation moved meanwhile: read again.
                    StoreError::Conflict(_) => continue,
                    other => return Err(other),
                },
            }
        }
        Err(StoreError::Unavailable("the limit kept changing".into()))
    }

    async fn rating(&self, supplier: &UserId) -> StoreResult<RatingSummary> {
        let item = self
            .get(key(table::supplier_pk(supplier), RATING_SK))
            .await?;
        let r: RatingItem = match item {
            Some(i) => from_item(i)?,
            None => RatingItem::default(),
        };
        Ok(RatingSummary {
            count: r.count,
            sum: r.sum,
        })
    }

    async fn feedback(
        &self,
        supplier: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<domain::feedback::Feedback>> {
        let run = Run {
            partition: table::supplier_pk(supplier),
            prefix: table::FEEDBACK_SK_PREFIX,
            is_sort_key: table::is_feedback_sk,
            forward: false,
            consistent: false,
            cursor_order: String::new(),
        };
        let (items, next_cursor) = self.run_page(run, page).await?;
        let items = items
            .into_iter()
            .map(|i| {
                let r: FeedbackItem = from_item(i)?;
                Ok(domain::feedback::Feedback {
                    rating: r.rating,
                    comment: r.comment,
                    at: r.at,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok(Page { items, next_cursor })
    }
}
