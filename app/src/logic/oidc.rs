//! Signing in with an OpenID provider as a public client: authorization code with PKCE
//! (RFC 7636, S256). What the console keeps between leaving for the provider and coming
//! back, the URLs and the form it sends, and the checks on the way back.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use shared::api::OidcSignIn;

use super::query::encode;

/// The console's path the provider sends the user back to.
pub const CALLBACK_PATH: &str = "/sign-in/callback";

/// What the console keeps (in session storage) while the user is at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// Sent as `state` and checked on the way back, so a callback the console did not
    /// start (a forged link) is refused.
    pub state: String,
    /// The PKCE secret: only its hash leaves before the code comes back.
    pub verifier: String,
    /// Where to go once signed in (already checked to stay in the console).
    pub next: String,
    pub redirect_uri: String,
}

impl PendingSignIn {
    /// A sign-in from 64 random bytes (32 for the state, 32 for the verifier).
    pub fn new(random: &[u8; 64], origin: &str, next: String) -> Self {
        PendingSignIn {
            state: URL_SAFE_NO_PAD.encode(&random[..32]),
            verifier: URL_SAFE_NO_PAD.encode(&random[32..]),
            next,
            redirect_uri: format!("{origin}{CALLBACK_PATH}"),
        }
    }

    /// Where to send the user: the provider's authorization endpoint with the request.
    pub fn authorization_url(&self, provider: &OidcSignIn) -> String {
        let separator = if provider.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}\
             &code_challenge={}&code_challenge_method=S256",
            provider.authorization_endpoint,
            encode(&provider.client_id),
            encode(&self.redirect_uri),
            encode(&provider.scope),
            encode(&self.state),
            code_challenge(&self.verifier),
        )
    }

    /// The code the provider sent back, if the callback answers this sign-in.
    pub fn code_from(&self, callback: &Callback) -> Result<String, CallbackRefused> {
        if let Some(error) = &callback.error {
            return Err(CallbackRefused::Provider(
                match &callback.error_description {
                    Some(description) => format!("{error}: {description}"),
                    None => error.clone(),
                },
            ));
        }
        if callback.state.as_deref() != Some(self.state.as_str()) {
            return Err(CallbackRefused::StateMismatch);
        }
        callback.code.clone().ok_or(CallbackRefused::NoCode)
    }

    /// The token request's form body (`application/x-www-form-urlencoded`).
    pub fn token_request(&self, provider: &OidcSignIn, code: &str) -> String {
        format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={}",
            encode(code),
            encode(&self.redirect_uri),
            encode(&provider.client_id),
            encode(&self.verifier),
        )
    }
}

/// The query the provider returns with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why a callback signs nobody in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRefused {
    #[error("the sign-in provider refused: {0}")]
    Provider(String),
    #[error("this sign-in was not started here, or has already been used; start again")]
    StateMismatch,
    #[error("the sign-in provider sent no code")]
    NoCode,
    #[error("no sign-in was started in this tab; start again")]
    NotStarted,
}

/// The provider's token answer: the ID token is what Vigil's API accepts.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenAnswer {
    pub id_token: String,
}

/// `BASE64URL(SHA256(verifier))`, RFC 7636 §4.2.
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The provider's name as the console shows it: its issuer's host.
pub fn provider_name(provider: &OidcSignIn) -> String {
    let without_scheme = provider
        .issuer
        .split_once("://")
        .map_or(provider.issuer.as_str(), |(_, rest)| rest);
    without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> OidcSignIn {
        OidcSignIn {
            issuer: "https://login.example.com/tenant".into(),
            client_id: "console client".into(),
            authorization_endpoint: "https://login.example.com/authorize".into(),
            token_endpoint: "https://login.example.com/token".into(),
            end_session_endpoint: None,
            scope: "openid email".into(),
        }
    }

    fn pending() -> PendingSignIn {
        let random: [u8; 64] = std::array::from_fn(|i| i as u8);
        PendingSignIn::new(&random, "http://127.0.0.1:8080", "/s/s1/plans".into())
    }

    #[test]
    fn the_challenge_is_the_rfc_7636_s256_of_the_verifier() {
        // RFC 7636 Appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_authorization_url_carries_the_request_and_only_the_verifiers_hash() {
        let pending = pending();
        let url = pending.authorization_url(&provider());
        assert!(url.starts_with("https://login.example.com/authorize?response_type=code&"));
        assert!(url.contains("&client_id=console%20client&"), "{url}");
        assert!(
            url.contains("&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fsign-in%2Fcallback&"),
            "{url}"
        );
        assert!(url.contains("&scope=openid%20email&"), "{url}");
        assert!(url.contains(&format!("&state={}&", pending.state)), "{url}");
        assert!(url.contains(&format!(
            "&code_challenge={}&code_challenge_method=S256",
            code_challenge(&pending.verifier)
        )));
        assert!(!url.contains(&pending.verifier), "{url}");
        assert_ne!(pending.state, pending.verifier);
    }

    #[test]
    fn a_callback_gives_its_code_only_with_this_sign_ins_state() {
        let pending = pending();
        let answer = |state: Option<&str>| Callback {
            code: Some("the-code".into()),
            state: state.map(str::to_owned),
            ..Callback::default()
        };
        assert_eq!(
            pending.code_from(&answer(Some(&pending.state))),
            Ok("the-code".into())
        );
        assert_eq!(
            pending.code_from(&answer(Some("forged"))),
            Err(CallbackRefused::StateMismatch)
        );
        assert_eq!(
            pending.code_from(&answer(None)),
            Err(CallbackRefused::StateMismatch)
        );
        let refused = Callback {
            error: Some("access_denied".into()),
            error_description: Some("the user said no".into()),
            ..answer(Some(&pending.state))
        };
        assert_eq!(
            pending.code_from(&refused),
            Err(CallbackRefused::Provider(
                "access_denied: the user said no".into()
            ))
        );
    }

    #[test]
    fn the_token_request_sends_the_code_with_its_verifier() {
        let pending = pending();
        assert_eq!(
            pending.token_request(&provider(), "a/b"),
            format!(
                "grant_type=authorization_code&code=a%2Fb\
                 &redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fsign-in%2Fcallback\
                 &client_id=console%20client&code_verifier={}",
                pending.verifier
            )
        );
    }

    #[test]
    fn the_provider_is_named_by_its_host() {
        assert_eq!(provider_name(&provider()), "login.example.com");
    }
}
