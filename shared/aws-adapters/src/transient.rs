//! One answer, for every SDK, to "may this be retried later?": throttling,
//! a 5xx or 429, a timeout, or a failure to reach the service.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Error codes that mean "slow down" or "try again", whatever the status.
pub const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "KmsThrottled",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "InternalException",
    "InternalFailure",
    "InternalServerError",
    "TransactionInProgressException",
    "TransactionConflictException",
];

pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(e) => e.raw().status().is_server_error(),
        SdkError::ServiceError(e) => {
            let status = e.raw().status();
            status.is_server_error()
                || status.as_u16() == 429
                || e.err().code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
        }
        _ => false,
    }
}
