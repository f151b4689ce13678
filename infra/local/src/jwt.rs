//! API Gateway's JWT authorizer, emulated: HS256 tokens signed with
//! `LOCAL_JWT_SECRET`, checked against the real clock (time travel never
//! moves token expiry), turned into the claims API Gateway passes on
//! (`cognito:groups` rendered as `[buyer supplier]`).
//!
//! The signature is compared in constant time (`hmac`'s `verify_slice`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::actor::Role;
use domain::ids::UserId;
use hmac::{Hmac, KeyInit, Mac};
use http_api::request::Claims;
use serde_json::{Map, Value, json};
use sha2::Sha256;

/// The secret when `LOCAL_JWT_SECRET` is not set.
pub const DEFAULT_SECRET: &str = "local-dev-secret";
/// Lifetime of a minted token unless told otherwise.
pub const DEFAULT_TTL_SECONDS: i64 = 3600;
/// The longest lifetime a minted token may have (ten years).
pub const MAX_TTL_SECONDS: i64 = 10 * 366 * 24 * 3600;

type HmacSha256 = Hmac<Sha256>;

/// How tokens are signed and what they must carry.
#[derive(Clone)]
pub struct JwtConfig {
    secret: Vec<u8>,
    /// When set, `iss` must equal it (`LOCAL_JWT_ISSUER`).
    pub issuer: Option<String>,
    /// When set, `aud` (or Cognito's `client_id`) must name one of them
    /// (`LOCAL_JWT_AUDIENCE`, comma-separated).
    pub audience: Vec<String>,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl JwtConfig {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        JwtConfig {
            secret: secret.into(),
            issuer: None,
            audience: Vec::new(),
        }
    }

    /// `LOCAL_JWT_SECRET` (default [`DEFAULT_SECRET`]), `LOCAL_JWT_ISSUER`,
    /// `LOCAL_JWT_AUDIENCE`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        JwtConfig {
            secret: var("LOCAL_JWT_SECRET")
                .unwrap_or_else(|| DEFAULT_SECRET.to_owned())
                .into_bytes(),
            issuer: var("LOCAL_JWT_ISSUER"),
            audience: var("LOCAL_JWT_AUDIENCE")
                .map(|a| {
                    a.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn mac(&self) -> Result<HmacSha256, Rejection> {
        // HMAC takes keys of any length; this cannot fail.
        HmacSha256::new_from_slice(&self.secret).map_err(|_| Rejection::BadSignature)
    }
}

/// Why a request was not authorized. Shown only in the server log and in
/// the `www-authenticate` header, never in the body (API Gateway answers
/// every refusal with the same `{"message":"Unauthorized"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Missing,
    Malformed(&'static str),
    UnsupportedAlgorithm,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Missing => f.write_str("no bearer token"),
            Rejection::Malformed(why) => write!(f, "malformed token: {why}"),
            Rejection::UnsupportedAlgorithm => f.write_str("the token is not signed with HS256"),
            Rejection::BadSignature => f.write_str("the token signature is invalid"),
            Rejection::Expired => f.write_str("the token has expired"),
            Rejection::NotYetValid => f.write_str("the token is not valid yet"),
            Rejection::WrongIssuer => f.write_str("the token issuer is not accepted"),
            Rejection::WrongAudience => f.write_str("the token audience is not accepted"),
        }
    }
}

/// The token in an `Authorization` header value: `Bearer <jwt>` (the
/// scheme is optional, as with API Gateway).
pub fn bearer(header: Option<&str>) -> Result<&str, Rejection> {
    let value = header.map(str::trim).unwrap_or_default();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return Err(Rejection::Malformed("unknown authorization scheme")),
        None if value.eq_ignore_ascii_case("bearer") => "",
        None => value,
    };
    if token.is_empty() {
        Err(Rejection::Missing)
    } else {
        Ok(token)
    }
}

/// What a minted token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub sub: String,
    pub groups: Vec<String>,
    /// Seconds since the epoch.
    pub exp: i64,
    pub iat: i64,
}

/// Sign a token for `spec` (adding `iss` and `aud` when configured).
pub fn sign(config: &JwtConfig, spec: &TokenSpec) -> Result<String, Rejection> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(spec.sub));
    claims.insert("cognito:groups".into(), json!(spec.groups));
    claims.insert("iat".into(), json!(spec.iat));
    claims.insert("exp".into(), json!(spec.exp));
    claims.insert("token_use".into(), json!("access"));
    if let Some(iss) = &config.issuer {
        claims.insert("iss".into(), json!(iss));
    }
    if let Some(aud) = config.audience.first() {
        claims.insert("aud".into(), json!(aud));
    }
    sign_claims(config, &Value::Object(claims))
}

/// Sign arbitrary claims with HS256 (tests use it for odd tokens).
pub fn sign_claims(config: &JwtConfig, claims: &Value) -> Result<String, Rejection> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = config.mac()?;
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Ok(format!("{signing_input}.{signature}"))
}

/// Check a token's structure, algorithm and signature; its claims if good.
pub fn verify_signature(config: &JwtConfig, token: &str) -> Result<Map<String, Value>, Rejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed("a JWT has three parts"));
    };
    let header: Value = decode_json(header).ok_or(Rejection::Malformed("header"))?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(Rejection::UnsupportedAlgorithm);
    }
    if header.get("crit").is_some() {
        return Err(Rejection::Malformed("unsupported critical header"));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejection::Malformed("signature encoding"))?;
    let mut mac = config.mac()?;
    mac.update(header_and_payload(token).as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| Rejection::BadSignature)?;
    match decode_json(payload) {
        Some(Value::Object(claims)) => Ok(claims),
        _ => Err(Rejection::Malformed("payload")),
    }
}

/// The signing input: everything before the last `.`.
fn header_and_payload(token: &str) -> &str {
    token.rsplit_once('.').map(|(h, _)| h).unwrap_or_default()
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A NumericDate claim as whole seconds (a fraction is dropped).
fn numeric_date(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            // "1767347400.5": the whole seconds, without a float.
            let text = n.to_string();
            let (whole, frac) = text.split_once('.')?;
            frac.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| whole.parse().ok())
                .flatten()
        }),
        _ => None,
    }
}

/// Authorize a request: the token verified against the configuration and
/// `now` (seconds since the epoch, the real clock), the claims as API
/// Gateway would pass them to the function.
pub fn authorize(config: &JwtConfig, token: &str, now: i64) -> Result<Claims, Rejection> {
    let claims = verify_signature(config, token)?;
    let exp = claims
        .get("exp")
        .ok_or(Rejection::Malformed("no exp claim"))
        .and_then(|v| numeric_date(v).ok_or(Rejection::Malformed("exp is not a NumericDate")))?;
    if now >= exp {
        return Err(Rejection::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = numeric_date(nbf).ok_or(Rejection::Malformed("nbf is not a NumericDate"))?;
        if now < nbf {
            return Err(Rejection::NotYetValid);
        }
    }
    if let Some(issuer) = &config.issuer
        && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
    {
        return Err(Rejection::WrongIssuer);
    }
    if !config.audience.is_empty() {
        let named = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut offered = named(claims.get("aud"));
        offered.extend(named(claims.get("client_id")));
        if !offered.iter().any(|a| config.audience.contains(a)) {
            return Err(Rejection::WrongAudience);
        }
    }
    let sub = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(Rejection::Malformed("no sub claim")),
    };
    let groups = match claims.get("cognito:groups") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => {
            let names = items
                .iter()
                .map(|g| g.as_str().ok_or(Rejection::Malformed("cognito:groups")))
                .collect::<Result<Vec<_>, _>>()?;
            Some(format!("[{}]", names.join(" ")))
        }
        Some(_) => return Err(Rejection::Malformed("cognito:groups")),
    };
    Ok(Claims {
        sub: Some(sub),
        groups,
    })
}

/// Roles from `--role` values: each `buyer`, `supplier` or `arbiter`,
/// repeated or comma-separated; duplicates dropped, order kept.
pub fn parse_roles<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if Role::parse(name).is_none() {
                return Err(format!(
                    "unknown role {name:?}: use buyer, supplier or arbiter"
                ));
            }
            if !out.iter().any(|r| r == name) {
                out.push(name.to_owned());
            }
        }
    }
    if out.is_empty() {
        return Err("at least one --role is needed (buyer, supplier or arbiter)".into());
    }
    Ok(out)
}

/// A token for `sub` with `roles`, valid for `ttl_seconds` from `now`.
pub fn mint(
    config: &JwtConfig,
    sub: &str,
    roles: Vec<String>,
    ttl_seconds: i64,
    now: i64,
) -> Result<String, String> {
    UserId::parse(sub).map_err(|e| format!("--sub {sub:?}: {e}"))?;
    if !(1..=MAX_TTL_SECONDS).contains(&ttl_seconds) {
        return Err(format!(
            "--ttl-seconds must be between 1 and {MAX_TTL_SECONDS}"
        ));
    }
    let spec = TokenSpec {
        sub: sub.to_owned(),
        groups: roles,
        iat: now,
        exp: now.saturating_add(ttl_seconds),
    };
    sign(config, &spec).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn config() -> JwtConfig {
        JwtConfig::new(DEFAULT_SECRET)
    }

    fn token(claims: Value) -> String {
        sign_claims(&config(), &claims).expect("sign")
    }

    #[test]
    fn a_known_hs256_token_verifies() {
        // The RFC 7519 / jwt.io example, secret "your-256-bit-secret".
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
                   eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.\
                   SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        let claims = verify_signature(&JwtConfig::new("your-256-bit-secret"), jwt).expect("valid");
        assert_eq!(claims["sub"], "1234567890");
        assert_eq!(
            verify_signature(&config(), jwt),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn claims_come_out_as_api_gateway_renders_them() {
        let t = mint(
            &config(),
            "buyer-1",
            vec!["buyer".into(), "supplier".into()],
            60,
            NOW,
        )
        .expect("mint");
        let claims = authorize(&config(), &t, NOW).expect("authorized");
        assert_eq!(claims.sub.as_deref(), Some("buyer-1"));
        assert_eq!(claims.groups.as_deref(), Some("[buyer supplier]"));
        assert!(claims.caller().is_some());
    }

    #[test]
    fn expiry_is_checked_to_the_second() {
        let t = mint(&config(), "buyer-1", vec!["buyer".into()], 60, NOW).expect("mint");
        assert!(authorize(&config(), &t, NOW + 59).is_ok());
        assert_eq!(authorize(&config(), &t, NOW + 60), Err(Rejection::Expired));
        let no_exp = token(json!({"sub": "buyer-1", "cognito:groups": ["buyer"]}));
        assert!(matches!(
            authorize(&config(), &no_exp, NOW),
            Err(Rejection::Malformed(_))
        ));
        let fractional = token(json!({"sub": "b", "exp": 1_800_000_060.5}));
        assert!(authorize(&config(), &fractional, NOW).is_ok());
        let not_yet = token(json!({"sub": "b", "exp": NOW + 60, "nbf": NOW + 10}));
        assert_eq!(
            authorize(&config(), &not_yet, NOW),
            Err(Rejection::NotYetValid)
        );
    }

    #[test]
    fn tampering_and_other_algorithms_are_refused() {
        let t = mint(&config(), "buyer-1", vec!["buyer".into()], 60, NOW).expect("mint");
        let other = JwtConfig::new("another-secret");
        assert_eq!(authorize(&other, &t, NOW), Err(Rejection::BadSignature));

        // Swap in a payload claiming the arbiter role, keep the signature.
        let parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            json!({"sub": "buyer-1", "cognito:groups": ["arbiter"], "exp": NOW + 60}).to_string(),
        );
        let forged = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(
            authorize(&config(), &forged, NOW),
            Err(Rejection::BadSignature)
        );

        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(
            authorize(&config(), &none, NOW),
            Err(Rejection::UnsupportedAlgorithm)
        );
        assert!(matches!(
            authorize(&config(), "not-a-jwt", NOW),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            authorize(&config(), &format!("{t}.x"), NOW),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let mut strict = config();
        strict.issuer = Some("https://issuer.local".into());
        strict.audience = vec!["client-a".into(), "client-b".into()];
        let good = mint(&strict, "buyer-1", vec!["buyer".into()], 60, NOW).expect("mint");
        assert!(authorize(&strict, &good, NOW).is_ok());
        let plain = mint(&config(), "buyer-1", vec!["buyer".into()], 60, NOW).expect("mint");
        assert_eq!(authorize(&strict, &plain, NOW), Err(Rejection::WrongIssuer));
        let access = token(json!({"sub": "b", "exp": NOW + 60,
            "iss": "https://issuer.local", "client_id": "client-b"}));
        assert!(authorize(&strict, &access, NOW).is_ok());
        let elsewhere = token(json!({"sub": "b", "exp": NOW + 60,
            "iss": "https://issuer.local", "aud": ["client-z"]}));
        assert_eq!(
            authorize(&strict, &elsewhere, NOW),
            Err(Rejection::WrongAudience)
        );
    }

    #[test]
    fn bearer_values_and_roles_parse() {
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer(Some("abc")), Ok("abc"));
        assert_eq!(bearer(None), Err(Rejection::Missing));
        assert_eq!(bearer(Some("Bearer ")), Err(Rejection::Missing));
        assert!(bearer(Some("Basic dXNlcjpwYXNz")).is_err());
        assert_eq!(
            parse_roles(["buyer,supplier", "buyer", "arbiter"]),
            Ok(vec!["buyer".into(), "supplier".into(), "arbiter".into()])
        );
        assert!(parse_roles(["admin"]).is_err());
        assert!(parse_roles(Vec::<&str>::new()).is_err());
        assert!(mint(&config(), "", vec!["buyer".into()], 60, NOW).is_err());
        assert!(mint(&config(), "b", vec!["buyer".into()], 0, NOW).is_err());
    }
}
