//! User tokens: JWTs verified on every request (signature, `exp`, `nbf`, `iat`, `iss`,
//! `aud`, with the algorithm pinned so `none` or a swapped algorithm is refused).
//!
//! Locally `vigil serve` signs its own HS256 tokens with a key kept under `--data`. With
//! an OpenID provider configured, its RS256 tokens are verified with the keys its
//! discovery document publishes (`jwks_uri`), cached by key id and fetched again when a
//! token names a key id not seen yet — at most once per [`KEY_REFETCH_INTERVAL`], so a
//! stream of forged key ids cannot turn Vigil against the provider.
//!
//! `vigil serve` reads the discovery document at start and refuses to start without it.
//! A deployed function must not: its start is retried by Lambda on every request while
//! the provider is away, so it starts anyway and requests try discovery again, at most
//! once per [`DISCOVERY_RETRY_INTERVAL`], until it succeeds.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use shared::api::OidcSignIn;
use shared::authz::Principal;
use shared::model::{Email, GroupId};
use tokio::sync::RwLock;

/// Issuer and audience of the tokens `vigil serve` signs.
pub const LOCAL_ISSUER: &str = "vigil-local";
pub const LOCAL_AUDIENCE: &str = "vigil";
/// How long a locally issued token is valid.
pub const LOCAL_TOKEN_SECONDS: u64 = 12 * 60 * 60;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 30;
/// The least time between two fetches of the provider's keys caused by unknown key ids.
pub const KEY_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long one request to the provider may take: a function's start (Lambda allows
/// 10 s for it) must not wait out a provider that hangs.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(3);
/// The least time between two attempts at a provider's discovery document that failed.
pub const DISCOVERY_RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// What the console asks the provider for: an ID token with the `email` claim.
const SCOPE: &str = "openid email";

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

/// What Vigil reads from any token; `exp`, `nbf`, `iss` and `aud` are checked by the
/// validation, `iat` here.
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    email: String,
    iat: u64,
    /// The identity provider's groups of the user (Cognito's `cognito:groups`).
    #[serde(default, alias = "cognito:groups")]
    groups: Vec<String>,
}

/// Why a token was refused. Callers answer `401` whatever the reason; the reason is
/// only logged.
#[derive(Debug, thiserror::Error)]
#[error("token refused: {0}")]
pub struct TokenRefused(String);

/// Why an OpenID provider could not be used.
#[derive(Debug, thiserror::Error)]
#[error("OpenID provider {issuer}: {problem}")]
pub struct DiscoveryFailed {
    issuer: String,
    problem: String,
}

/// The part of an OpenID provider's discovery document Vigil uses.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    end_session_endpoint: Option<String>,
}

/// Vigil's own HS256 key: `vigil serve` signs and verifies with it.
struct LocalKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

/// An OpenID provider: what its discovery document said once read, its RS256 keys by
/// key id, and when each may be fetched again.
struct Provider {
    issuer: String,
    client_id: String,
    client: reqwest::Client,
    /// Read on every request, never held across an await: a plain lock, and shared.
    discovered: std::sync::RwLock<Option<Arc<Discovered>>>,
    rediscover: Mutex<RefetchGate>,
    keys: RwLock<Vec<(String, DecodingKey)>>,
    refetch: Mutex<RefetchGate>,
    validation: Validation,
}

/// What the console and the key fetches need from a discovery document.
#[derive(Debug)]
struct Discovered {
    sign_in: OidcSignIn,
    jwks_uri: String,
}

/// Lets a fetch of the keys through at most once per interval.
#[derive(Debug)]
struct RefetchGate {
    interval: Duration,
    last: Option<Instant>,
}

impl RefetchGate {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// Whether a fetch may happen `now`; if so, it counts as done.
    fn try_pass(&mut self, now: Instant) -> bool {
        let open = self
            .last
            .is_none_or(|last| now.duration_since(last) >= self.interval);
        if open {
            self.last = Some(now);
        }
        open
    }
}

/// Verifies user tokens (Vigil's own, an OpenID provider's, or both) and, where it holds
/// its own key, issues them.
pub struct Authenticator {
    local: Option<LocalKey>,
    provider: Option<Provider>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("local", &self.local.as_ref().map(|key| &key.issuer))
            .field("provider", &self.provider.as_ref().map(|p| &p.issuer))
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// HS256 with a shared secret: the local binary, which both signs and verifies.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        Self {
            local: Some(LocalKey {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                validation: validation(Algorithm::HS256, issuer, audience),
                issuer: issuer.to_owned(),
                audience: audience.to_owned(),
            }),
            provider: None,
        }
    }

    /// Verification of an OpenID provider's tokens only (the deployed functions). The
    /// provider is asked for its discovery document now, but one that cannot be reached
    /// is only logged: requests ask again.
    pub async fn oidc(issuer: &str, client_id: &str) -> Result<Self, DiscoveryFailed> {
        let provider = Provider::new(issuer, client_id)?;
        if let Err(e) = provider.discovered().await {
            tracing::warn!(error = %e, "OpenID discovery at start; requests will try again");
        }
        Ok(Self {
            local: None,
            provider: Some(provider),
        })
    }

    /// Also accepts the tokens of the OpenID provider at `issuer` whose audience is
    /// `client_id` (the console's client at that provider), which must answer now.
    pub async fn with_oidc(self, issuer: &str, client_id: &str) -> Result<Self, DiscoveryFailed> {
        let provider = Provider::new(issuer, client_id)?;
        provider.discover().await?;
        Ok(Self {
            provider: Some(provider),
            ..self
        })
    }

    /// What the console needs to send a user to the provider, if there is one; an error
    /// if there is one whose discovery document could not be read yet.
    pub async fn oidc_sign_in(&self) -> Result<Option<OidcSignIn>, DiscoveryFailed> {
        match &self.provider {
            Some(provider) => Ok(Some(provider.discovered().await?.sign_in.clone())),
            None => Ok(None),
        }
    }

    /// The provider's sign-in settings if its discovery document has been read, without
    /// asking it (always so in `vigil serve`, which reads it at start).
    pub fn known_oidc_sign_in(&self) -> Option<OidcSignIn> {
        self.provider
            .as_ref()
            .and_then(Provider::known)
            .map(|discovered| discovered.sign_in.clone())
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
            .local
            .as_ref()
            .ok_or_else(|| TokenRefused("this deployment does not issue tokens".into()))?;
        let now = unix_now();
        let claims = IssuedClaims {
            sub: email.to_string(),
            email: email.to_string(),
            iss: key.issuer.clone(),
            aud: key.audience.clone(),
            iat: now,
            exp: now + LOCAL_TOKEN_SECONDS,
            groups: groups.iter().map(|group| group.to_string()).collect(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key.encoding)
            .map_err(|e| TokenRefused(e.to_string()))
    }

    /// The principal a token speaks for. The header's `alg` only picks which of the keys
    /// to try; each key verifies its one algorithm.
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenRefused> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenRefused(e.to_string()))?;
        let claims = match (header.alg, &self.local, &self.provider) {
            (Algorithm::HS256, Some(local), _) => {
                decode(token, &local.decoding, &local.validation)?
            }
            (Algorithm::RS256, _, Some(provider)) => {
                let id = header
                    .kid
                    .ok_or_else(|| TokenRefused("no kid in the header".into()))?;
                let key = provider.key(&id).await?;
                decode(token, &key, &provider.validation)?
            }
            (other, _, _) => {
                return Err(TokenRefused(format!("algorithm {other:?} is not accepted")));
            }
        };
        if claims.iat > unix_now() + LEEWAY_SECONDS {
            return Err(TokenRefused("issued in the future".into()));
        }
        let email =
            Email::parse(&claims.email).map_err(|e| TokenRefused(format!("email claim {e}")))?;
        if shared::authz::is_api_token_principal(&email) {
            return Err(TokenRefused(
                "email claim names an API token, which only its secret can act as".into(),
            ));
        }
        // A group Vigil could never be assigned to grants nothing; skip it.
        let groups = claims
            .groups
            .iter()
            .filter_map(|group| GroupId::parse(group.as_str()).ok())
            .collect();
        Ok(Principal { email, groups })
    }
}

impl Provider {
    /// The provider at `issuer`, nothing fetched yet.
    fn new(issuer: &str, client_id: &str) -> Result<Self, DiscoveryFailed> {
        let client = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| DiscoveryFailed {
                issuer: issuer.to_owned(),
                problem: e.to_string(),
            })?;
        Ok(Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client,
            discovered: std::sync::RwLock::new(None),
            rediscover: Mutex::new(RefetchGate::new(DISCOVERY_RETRY_INTERVAL)),
            keys: RwLock::new(Vec::new()),
            refetch: Mutex::new(RefetchGate::new(KEY_REFETCH_INTERVAL)),
            validation: validation(Algorithm::RS256, issuer, client_id),
        })
    }

    fn failed(&self, problem: String) -> DiscoveryFailed {
        DiscoveryFailed {
            issuer: self.issuer.clone(),
            problem,
        }
    }

    /// The discovery document's part Vigil uses: as read once, or read now if it never
    /// was and the retry gate lets an attempt through.
    async fn discovered(&self) -> Result<Arc<Discovered>, DiscoveryFailed> {
        if let Some(discovered) = self.known() {
            return Ok(discovered);
        }
        let may_try = passes_now(&self.rediscover);
        if !may_try {
            return Err(self.failed(format!(
                "not reached yet (tried less than {DISCOVERY_RETRY_INTERVAL:?} ago)"
            )));
        }
        self.discover().await
    }

    /// Reads the provider's discovery document and its keys, and keeps both.
    async fn discover(&self) -> Result<Arc<Discovered>, DiscoveryFailed> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = fetch_json(&self.client, &url)
            .await
            .map_err(|e| self.failed(e))?;
        // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer asked for.
        if discovery.issuer != self.issuer {
            return Err(self.failed(format!(
                "its discovery document names the issuer {}",
                discovery.issuer
            )));
        }
        let keys = fetch_keys(&self.client, &discovery.jwks_uri)
            .await
            .map_err(|e| self.failed(e))?;
        let discovered = Arc::new(Discovered {
            sign_in: OidcSignIn {
                issuer: discovery.issuer,
                client_id: self.client_id.clone(),
                authorization_endpoint: discovery.authorization_endpoint,
                token_endpoint: discovery.token_endpoint,
                end_session_endpoint: discovery.end_session_endpoint,
                scope: SCOPE.to_owned(),
            },
            jwks_uri: discovery.jwks_uri,
        });
        *self.keys.write().await = keys;
        if let Ok(mut known) = self.discovered.write() {
            *known = Some(Arc::clone(&discovered));
        }
        Ok(discovered)
    }

    /// The discovery document's part Vigil uses, if it has been read.
    fn known(&self) -> Option<Arc<Discovered>> {
        self.discovered.read().ok().and_then(|known| known.clone())
    }

    /// The key with id `id`, fetching the provider's keys again if it is new to us (a
    /// rotation) and the gate lets a fetch through.
    async fn key(&self, id: &str) -> Result<DecodingKey, TokenRefused> {
        let discovered = self
            .discovered()
            .await
            .map_err(|e| TokenRefused(e.to_string()))?;
        if let Some(key) = find_key(&self.keys.read().await, id) {
            return Ok(key);
        }
        let may_fetch = passes_now(&self.refetch);
        if !may_fetch {
            return Err(TokenRefused(format!(
                "unknown kid {id} (keys fetched less than {KEY_REFETCH_INTERVAL:?} ago)"
            )));
        }
        let fresh = fetch_keys(&self.client, &discovered.jwks_uri)
            .await
            .map_err(TokenRefused)?;
        let found = find_key(&fresh, id);
        *self.keys.write().await = fresh;
        tracing::info!(
            kid = id,
            found = found.is_some(),
            "fetched the provider's keys again"
        );
        found.ok_or_else(|| TokenRefused(format!("unknown kid {id}")))
    }
}

/// Whether a shared gate lets a fetch through now (a poisoned lock lets none through).
fn passes_now(gate: &Mutex<RefetchGate>) -> bool {
    gate.lock()
        .map(|mut gate| gate.try_pass(Instant::now()))
        .unwrap_or(false)
}

fn find_key(keys: &[(String, DecodingKey)], id: &str) -> Option<DecodingKey> {
    keys.iter()
        .find(|(known, _)| known == id)
        .map(|(_, key)| key.clone())
}

async fn fetch_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("fetching {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{url} is unreadable: {e}"))
}

/// The provider's RSA signing keys that carry a key id (a token names its key by id).
async fn fetch_keys(
    client: &reqwest::Client,
    url: &str,
) -> Result<Vec<(String, DecodingKey)>, String> {
    let jwks: JwkSet = fetch_json(client, url).await?;
    let keys: Vec<_> = jwks
        .keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter_map(|jwk| {
            let id = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|key| (id, key))
        })
        .collect();
    if keys.is_empty() {
        return Err(format!("{url} holds no RSA key with a kid"));
    }
    Ok(keys)
}

fn decode(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<VerifiedClaims, TokenRefused> {
    jsonwebtoken::decode::<VerifiedClaims>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| TokenRefused(e.to_string()))
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
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

    #[tokio::test]
    async fn a_token_it_issued_verifies_as_its_principal() {
        let auth = Authenticator::hs256(
            b"0123456789abcdef0123456789abcdef",
            LOCAL_ISSUER,
            LOCAL_AUDIENCE,
        );
        let token = auth.issue(&email()).unwrap();
        assert_eq!(auth.verify(&token).await.unwrap().email, email());
    }

    #[tokio::test]
    async fn the_groups_of_an_issued_token_come_back_as_the_principal_groups() {
        let auth = Authenticator::hs256(
            b"0123456789abcdef0123456789abcdef",
            LOCAL_ISSUER,
            LOCAL_AUDIENCE,
        );
        let groups = BTreeSet::from([GroupId::parse("tier-1").unwrap()]);
        let token = auth.issue_with_groups(&email(), &groups).unwrap();
        assert_eq!(auth.verify(&token).await.unwrap().groups, groups);
    }

    #[tokio::test]
    async fn a_token_signed_with_another_key_is_refused() {
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
        assert!(ours.verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn a_token_for_another_audience_is_refused() {
        let key = b"0123456789abcdef0123456789abcdef";
        let ours = Authenticator::hs256(key, LOCAL_ISSUER, LOCAL_AUDIENCE);
        let other = Authenticator::hs256(key, LOCAL_ISSUER, "someone-else");
        assert!(ours.verify(&other.issue(&email()).unwrap()).await.is_err());
    }

    #[tokio::test]
    async fn an_unsigned_token_is_refused() {
        let auth = Authenticator::hs256(
            b"0123456789abcdef0123456789abcdef",
            LOCAL_ISSUER,
            LOCAL_AUDIENCE,
        );
        let signed = auth.issue(&email()).unwrap();
        let payload = signed.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(auth.verify(&unsigned).await.is_err());
    }

    #[test]
    fn the_key_refetch_gate_opens_once_per_interval() {
        let mut gate = RefetchGate::new(Duration::from_secs(60));
        let start = Instant::now();
        assert!(gate.try_pass(start));
        assert!(!gate.try_pass(start + Duration::from_secs(59)));
        assert!(gate.try_pass(start + Duration::from_secs(60)));
        assert!(!gate.try_pass(start + Duration::from_secs(61)));
    }
}
