//! How a handler's value becomes an HTTP response. A body that cannot be
//! serialized is logged and answered 500 with the JSON error shape — never
//! an empty 200.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::errors::ApiError;

/// Every response body the server sends.
pub type Body = BoxBody<Bytes, Infallible>;

/// `body` as JSON with `status`; a 500 naming the failure if it cannot be serialized.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_vec(body) {
        Ok(bytes) => self::bytes(status, "application/json", bytes),
        Err(e) => {
            let what = std::any::type_name::<T>();
            tracing::error!(error = %e, reply = what, "cannot serialize a control API reply");
            ApiError::internal(
                "serialization_failed",
                format!("the reply ({what}) could not be serialized: {e}"),
            )
            .response()
        }
    }
}

/// A complete body of `content_type`.
pub fn bytes(status: StatusCode, content_type: &'static str, bytes: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentd_api::ErrorBody;

    /// A body whose serialization fails, as a map with non-string keys would.
    struct Unserializable;

    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("key must be a string"))
        }
    }

    #[tokio::test]
    async fn a_reply_that_cannot_be_serialized_is_a_500_not_an_empty_200() {
        let resp = json(StatusCode::OK, &Unserializable);
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.error.code, "serialization_failed");
        assert!(
            body.error.message.contains("key must be a string"),
            "{}",
            body.error.message
        );
    }

    #[tokio::test]
    async fn a_reply_is_its_json() {
        let resp = json(StatusCode::CREATED, &agentd_api::Closed { closed: true });
        assert_eq!(resp.status(), StatusCode::CREATED);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], br#"{"closed":true}"#);
    }
}
