//! A failed request as the client will see it. [`ApiError`] is the only
//! place an HTTP status, an error code and the JSON error shape
//! (`{"error": {"code", "message"}}`) are put together; the errors of other
//! modules become one through `From`, each mapped to its status here.

use hyper::header::{ALLOW, HeaderValue};
use hyper::{Method, Response, StatusCode};

use super::reply::{self, Body};
use crate::realtime::endpoint::EndpointError;
use crate::session::SessionError;
use crate::store::StoreError;
use agentd_api::error::{ErrorBody, ErrorDetail};
use agentd_api::query::QueryError;

/// A failed request: its status, a stable code and a message for people.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// For 405: the methods the path takes (the `Allow` header).
    pub(super) allow: Vec<Method>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            allow: Vec::new(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// A known path asked with a method it does not take.
    pub(crate) fn method_not_allowed(method: &Method, path: &str, allow: Vec<Method>) -> Self {
        let names = allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        ApiError {
            allow,
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{path} does not take {method}; it takes {names}"),
            )
        }
    }

    /// Something on the daemon's side failed, not the request.
    pub(crate) fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
    }

    pub(crate) fn response(self) -> Response<Body> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        // Two strings cannot fail to serialize; if they ever did, the client
        // still gets the status and a body of the same shape.
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"error":{"code":"internal","message":"the error could not be serialized"}}"#
                .to_vec()
        });
        let mut resp = reply::bytes(self.status, "application/json", bytes);
        if !self.allow.is_empty() {
            let names: Vec<&str> = self.allow.iter().map(Method::as_str).collect();
            if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
                resp.headers_mut().insert(ALLOW, v);
            }
        }
        resp
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        let (status, code) = match &e {
            SessionError::Ended(_) => (StatusCode::CONFLICT, "session_ended"),
            SessionError::UnknownCall { .. } => (StatusCode::NOT_FOUND, "unknown_call"),
            SessionError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "unknown_agent"),
            SessionError::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
            SessionError::Endpoint(EndpointError::NoUrl { .. }) => {
                (StatusCode::NOT_FOUND, "unknown_model")
            }
            SessionError::Endpoint(EndpointError::MissingApiKey { .. }) => {
                (StatusCode::FAILED_DEPENDENCY, "missing_api_key")
            }
            SessionError::Connect(_) => (StatusCode::BAD_GATEWAY, "model_unreachable"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal("journal", e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(resp: Response<Body>) -> ErrorBody {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn errors_have_one_shape_and_405_says_what_is_allowed() {
        let resp = ApiError::method_not_allowed(
            &Method::PUT,
            "/v1/sessions",
            vec![Method::GET, Method::POST],
        )
        .response();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()[ALLOW], "GET, POST");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let b = body(resp).await;
        assert_eq!(b.error.code, "method_not_allowed");
        assert_eq!(
            b.error.message,
            "/v1/sessions does not take PUT; it takes GET, POST"
        );

        let resp = ApiError::from(SessionError::Ended("s1".into())).response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert!(resp.headers().get(ALLOW).is_none());
        assert_eq!(body(resp).await.error.code, "session_ended");
    }
}
