//! User tokens: JWTs verified on every request (signature, `exp`, `iss`, `aud`, with
//! the algorithm pinned so `none` or a swapped algorithm is refused).
//!
//! Locally `vigil serve` signs its own HS256 tokens with a key kept under `--data`.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use shared::authz::Principal;
use shared::model::{Email, GroupId};

/// Issuer and audience of the tokens `vigil serve` signs.
pub const LOCAL_ISSUER: &str = "vigil-local";
pub const LOCAL_AUDIENCE: &str = "vigil";
/// How long a locally issued token is valid.
pub const LOCAL_TOKEN_SECONDS: u64 = 12 * 60 * 60;

/// What `vigil serve` puts in the tokens it signs.
#[derive(Debug, Serialize)]
struct IssuedClaims {
    sub: String,
    email: String,
    iss: String,
    aud: String,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
}

/// What Vigil reads from any token; `exp`, `iss` and `aud` are checked by the validation.
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    email: String,
    /// The identity provider's groups of the user (Cognito's `cognito:groups`).
    #[serde(default, alias = "cognito:groups")]
    groups: Vec<String>,
}

/// Why a token was refused. Callers answer `401` whatever the reason; the reason is
/// only logged.
#[derive(Debug, thiserror::Error)]
#[error("token refused: {0}")]
pub struct TokenRefused(String);

/// The keys a token may be signed with.
enum VerifyingKeys {
    /// One key (the local HS256 secret).
    Single(DecodingKey),
    /// The OIDC issuer's JWKS: the token's `kid` picks the key.
    ByKeyId(Vec<(String, DecodingKey)>),
}

/// Verifies user tokens and, where it holds the signing key, issues them.
pub struct Authenticator {
    keys: VerifyingKeys,
    encoding: Option<EncodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("issues_tokens", &self.encoding.is_some())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// HS256 with a shared secret: the local binary, which both signs and verifies.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        Self {
            keys: VerifyingKeys::Single(DecodingKey::from_secret(secret)),
            encoding: Some(EncodingKey::from_secret(secret)),
            validation: validation(Algorithm::HS256, issuer, audience),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// Verification only, with the OIDC issuer's published keys (its JWKS).
    pub fn from_jwks(
        jwks: &JwkSet,
        algorithm: Algorithm,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, TokenRefused> {
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let id = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (id, key))
            })
            .collect::<Vec<_>>();
        if keys.is_empty() {
            return Err(TokenRefused(
                "the JWKS holds no usable key with a kid".into(),
            ));
        }
        Ok(Self {
            keys: VerifyingKeys::ByKeyId(keys),
            encoding: None,
            validation: validation(algorithm, issuer, audience),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    pub fn issue(&self, email: &Email) -> Result<String, TokenRefused> {
        self.issue_with_groups(email, &BTreeSet::new())
    }

    /// A token whose `groups` claim names `groups`, as an identity provider would.
    pub fn issue_with_groups(
        &self,
        email: &Email,
        groups: &BTreeSet<GroupId>,
    ) -> Result<String, TokenRefused> {
        let key = self
            .encoding
            .as_ref()
            .ok_or_else(|| TokenRefused("this deployment does not issue tokens".into()))?;
        let now = unix_now();
        let claims = IssuedClaims {
            sub: email.to_string(),
            email: email.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + LOCAL_TOKEN_SECONDS,
            groups: groups.iter().map(|group| group.to_string()).collect(),
        };
        jsonwebtoken::encode(&Header::new(self.validation.algorithms[0]), &claims, key)
            .map_err(|e| TokenRefused(e.to_string()))
    }

    /// The principal a token speaks for.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenRefused> {
        let key = match &self.keys {
            VerifyingKeys::Single(key) => key,
            VerifyingKeys::ByKeyId(keys) => {
                let header =
                    jsonwebtoken::decode_header(token).map_err(|e| TokenRefused(e.to_string()))?;
                let id = header
                    .kid
                    .ok_or_else(|| TokenRefused("no kid in the header".into()))?;
                keys.iter()
                    .find(|(known, _)| *known == id)
                    .map(|(_, key)| key)
                    .ok_or_else(|| TokenRefused(format!("unknown kid {id}")))?
            }
        };
        let data = jsonwebtoken::decode::<VerifiedClaims>(token, key, &self.validation)
            .map_err(|e| TokenRefused(e.to_string()))?;
        let email = Email::parse(&data.claims.email)
            .map_err(|e| TokenRefused(format!("email claim {e}")))?;
        // A group Vigil could never be assigned to grants nothing; skip it.
        let groups = data
            .claims
            .groups
            .iter()
            .filter_map(|group| GroupId::parse(group.as_str()).ok())
            .collect();
        Ok(Principal { email, groups })
    }
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 30;
    validation
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("ada@example.com").unwrap()
    }

    #[test]
    fn a_token_it_issued_verifies_as_its_principal() {
        let auth = Authenticator::hs256(
            b"0123456789abcdef0123456789abcdef",
            LOCAL_ISSUER,
            LOCAL_AUDIENCE,
        );
        let token = auth.issue(&email()).unwrap();
        assert_eq!(auth.verify(&token).unwrap().email, email());
    }

    #[test]
    fn the_groups_of_an_issued_token_come_back_as_the_principal_groups() {
        let auth = Authenticator::hs256(
            b"0123456789abcdef0123456789abcdef",
            LOCAL_ISSUER,
            LOCAL_AUDIENCE,
        );
        let groups = BTreeSet::from([GroupId::parse("tier-1").unwrap()]);
        let token = auth.issue_with_groups(&email(), &groups).unwrap();
        assert_eq!(auth.verify(&token).unwrap().groups, groups);
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let ours = Authenticator::hs256(
            b"0123456789abcdef0123456789abcdef",
            LOCAL_ISSUER,
            LOCAL_AUDIENCE,
        );
        let theirs = Authenticator::hs256(
            b"fedcba9876543210fedcba9876543210",
            LOCAL_ISSUER,
            LOCAL_AUDIENCE,
        );
        let token = theirs.issue(&email()).unwrap();
        assert!(ours.verify(&token).is_err());
    }

    #[test]
    fn a_token_for_another_audience_is_refused() {
        let key = b"0123456789abcdef0123456789abcdef";
        let ours = Authenticator::hs256(key, LOCAL_ISSUER, LOCAL_AUDIENCE);
        let other = Authenticator::hs256(key, LOCAL_ISSUER, "someone-else");
        assert!(ours.verify(&other.issue(&email()).unwrap()).is_err());
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let auth = Authenticator::hs256(
            b"0123456789abcdef0123456789abcdef",
            LOCAL_ISSUER,
            LOCAL_AUDIENCE,
        );
        let signed = auth.issue(&email()).unwrap();
        let payload = signed.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(auth.verify(&unsigned).is_err());
    }
}
