//! Secrets Manager: a secret's string, read once per sandbox by the
//! function that needs it (the providers' webhook secrets), so a rotated
//! secret reaches every new sandbox without a redeploy and no secret sits
//! in an environment variable.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretFetchError {
    #[error("reading secret {id} failed: {message}")]
    Call { id: String, message: String },
    #[error("secret {id} has no string value")]
    NotAString { id: String },
}

/// Reads secrets by name or ARN.
#[derive(Clone, Debug)]
pub struct Secrets {
    client: Client,
}

impl Secrets {
    /// A reader with a client built from the shared SDK configuration.
    pub fn from_config(config: &aws_types::SdkConfig) -> Self {
        Secrets {
            client: Client::new(config),
        }
    }

    /// The current `SecretString` of `id` (a name or an ARN).
    pub async fn string(&self, id: &str) -> Result<String, SecretFetchError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretFetchError::Call {
                id: id.to_owned(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        out.secret_string
            .ok_or_else(|| SecretFetchError::NotAString { id: id.to_owned() })
    }
}
