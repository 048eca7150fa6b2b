//! One delivery attempt: the target's addresses checked against the operator's
//! setting, the body signed, one POST to the checked address.

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use shared::model::{WebhookTargets, WebhookUrl};

/// How long a receiver has to answer one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "Vigil-Signature";
pub const EVENT_ID_HEADER: &str = "Vigil-Event-Id";
pub const EVENT_KIND_HEADER: &str = "Vigil-Event-Kind";

/// The addresses `url`'s host resolves to, if the operator's setting allows every one
/// of them; else why not. Checked again at every attempt, and the attempt connects to
/// an address checked here, so a name re-pointed at the host's own network (DNS
/// rebinding) is refused too.
pub async fn resolve(url: &WebhookUrl, targets: WebhookTargets) -> Result<Vec<SocketAddr>, String> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((url.host(), url.port()))
        .await
        .map_err(|e| format!("{} does not resolve: {e}", url.host()))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("{} does not resolve", url.host()));
    }
    if let Some(own) = addresses.iter().find(|a| !targets.allows(a.ip())) {
        return Err(format!(
            "{} is {}, an address of the host's own network (loopback, private or link-local); \
             webhooks reach such addresses only when the operator allows private targets",
            url.host(),
            own.ip()
        ));
    }
    Ok(addresses)
}

/// The signature of `body` sent at `timestamp` (unix seconds), as the header carries it.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx.
    Delivered { status: u16 },
    /// Anything else: another status, no answer in time, a refused address.
    Failed { status: Option<u16>, error: String },
}

/// POSTs `body` (a [`shared::api::WebhookEvent`]) to `url`, signed with `secret`.
pub async fn attempt(
    url: &WebhookUrl,
    secret: &str,
    event_id: &str,
    kind: &str,
    body: Vec<u8>,
    targets: WebhookTargets,
    now: time::OffsetDateTime,
) -> Attempt {
    let addresses = match resolve(url, targets).await {
        Ok(addresses) => addresses,
        Err(refused) => {
            return Attempt::Failed {
                status: None,
                error: format!("refused: {refused}"),
            };
        }
    };
    let client = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(url.host(), addresses[0])
        .user_agent("Vigil-Webhooks/1")
        .build();
    let client = match client {
        Ok(client) => client,
        Err(e) => {
            return Attempt::Failed {
                status: None,
                error: format!("no HTTP client: {e}"),
            };
        }
    };
    let signed = signature(secret, now.unix_timestamp(), &body);
    let sent = client
        .post(url.as_str())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signed)
        .header(EVENT_ID_HEADER, event_id)
        .header(EVENT_KIND_HEADER, kind)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => Attempt::Delivered {
            status: response.status().as_u16(),
        },
        Ok(response) => Attempt::Failed {
            status: Some(response.status().as_u16()),
            error: format!("the receiver answered {}", response.status()),
        },
        Err(e) => Attempt::Failed {
            status: None,
            error: if e.is_timeout() {
                format!("no answer within {ATTEMPT_TIMEOUT:?}")
            } else {
                format!("could not reach the receiver: {e}")
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
