//! Standard Webhooks signatures, as the provider signs `realtime.call.incoming`:
//! HMAC-SHA256 over `"{webhook-id}.{webhook-timestamp}.{raw body}"`, keyed
//! with the secret's bytes (`whsec_` followed by their base64), sent as one
//! or more space-separated `v1,<base64>` entries. The timestamp must be
//! within [`TOLERANCE`] of now either way, so an old delivery replayed after
//! its id was forgotten is still refused.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a webhook's timestamp may be from now.
pub const TOLERANCE_SECS: u64 = 5 * 60;

/// Why a webhook was refused; every variant is logged, none holds the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the `{0}` header is missing")]
    Missing(&'static str),
    #[error("webhook-timestamp `{0}` is not Unix seconds")]
    BadTimestamp(String),
    #[error(
        "webhook-timestamp {timestamp} is {skew} s from now (at most {TOLERANCE_SECS} s allowed): stale or replayed"
    )]
    Stale { timestamp: u64, skew: u64 },
    #[error("no `v1,` signature in webhook-signature matches the body")]
    Mismatch,
    #[error("the webhook secret is not `whsec_` followed by base64")]
    BadSecret,
}

/// The key bytes of a `whsec_…` secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let b64 = secret
        .trim()
        .strip_prefix("whsec_")
        .unwrap_or(secret.trim());
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| SignatureError::BadSecret)
        .and_then(|k| {
            if k.is_empty() {
                Err(SignatureError::BadSecret)
            } else {
                Ok(k)
            }
        })
}

/// The `v1,<base64>` signature of a delivery.
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Check a delivery's headers against `body`, at `now` (Unix seconds).
pub fn verify(
    key: &[u8],
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: u64,
) -> Result<(), SignatureError> {
    let id = id.ok_or(SignatureError::Missing("webhook-id"))?;
    let ts_text = timestamp.ok_or(SignatureError::Missing("webhook-timestamp"))?;
    let signature = signature.ok_or(SignatureError::Missing("webhook-signature"))?;
    let ts: u64 = ts_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp(ts_text.to_string()))?;
    let skew = now.abs_diff(ts);
    if skew > TOLERANCE_SECS {
        return Err(SignatureError::Stale {
            timestamp: ts,
            skew,
        });
    }
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| SignatureError::BadSecret)?;
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    for entry in signature.split(' ') {
        let Some(b64) = entry.strip_prefix("v1,") else {
            continue;
        };
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        // verify_slice compares in constant time.
        if mac.clone().verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_among_several_and_nothing_else_does() {
        let key = secret_key("whsec_c2VjcmV0LWtleS1ieXRlcw==").unwrap();
        assert_eq!(key, b"secret-key-bytes");
        let body = br#"{"type":"realtime.call.incoming"}"#;
        let good = sign(&key, "wh_1", 1000, body);
        let both = format!("v1,AAAA {good}");
        assert_eq!(
            verify(&key, Some("wh_1"), Some("1000"), Some(&both), body, 1100),
            Ok(())
        );
        assert_eq!(
            verify(&key, Some("wh_1"), Some("1000"), Some(&good), b"{}", 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&key, Some("wh_2"), Some("1000"), Some(&good), body, 1000),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify(
                &key,
                Some("wh_1"),
                Some("1000"),
                Some(&good),
                body,
                1000 + 301
            ),
            Err(SignatureError::Stale { .. })
        ));
        assert_eq!(
            verify(&key, None, Some("1000"), Some(&good), body, 1000),
            Err(SignatureError::Missing("webhook-id"))
        );
        assert_eq!(secret_key("whsec_!!"), Err(SignatureError::BadSecret));
    }
}
