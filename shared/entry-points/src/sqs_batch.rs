//! What every SQS-triggered function shares: a record's receive count (for
//! its span) and the ReportBatchItemFailures answer.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};

/// The answer for ReportBatchItemFailures: the messages to retry, by id.
/// An empty list deletes the whole batch.
pub fn batch_response(failed_message_ids: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed_message_ids);
    response
}

/// How often SQS has handed this record out (`1` on its first delivery).
pub fn receive_count(record: &SqsMessage) -> &str {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .map(String::as_str)
        .unwrap_or("1")
}
