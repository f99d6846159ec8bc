//! One request on the TCP listener: limits first, then the webhook path,
//! then the control API's own routes (the same typed routes and handlers as
//! the Unix socket, never a second table), each behind the access its route
//! needs (see `auth`).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};

use super::auth;
use super::limits::RateLimiter;
use crate::calls::webhook::{self, Delivery};
use crate::config::HttpConfig;
use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::control::{handlers, routes};
use crate::supervisor::Supervisor;

/// What every request on the listener shares.
pub struct Ctx {
    pub daemon: Arc<Supervisor>,
    pub socket: Arc<Path>,
    pub config: HttpConfig,
    pub limiter: RateLimiter,
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// CORS for an allowed browser origin on the signalling routes.
fn allow_origin(resp: &mut Response<Body>, origin: Option<&str>) {
    if let Some(v) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        let h = resp.headers_mut();
        h.insert("access-control-allow-origin", v);
        h.insert("vary", HeaderValue::from_static("Origin"));
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("Location"),
        );
    }
}

pub async fn handle(ctx: Arc<Ctx>, peer: IpAddr, req: Request<Incoming>) -> Response<Body> {
    if let Err(wait) = ctx.limiter.check(peer) {
        tracing::warn!(%peer, "HTTP rate limit reached");
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "more than {} requests a minute from {peer}; retry in {wait} s",
                ctx.config.rate_limit
            ),
        )
        .response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut().insert(RETRY_AFTER, v);
        }
        return resp;
    }
    let declared = header(&req, "content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ctx.config.max_body as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "request bodies are limited to {} bytes ([daemon.http] max_body)",
                ctx.config.max_body
            ),
        )
        .response();
    }
    let catalog = ctx.daemon.catalog();
    if let Some(sip) = &catalog.config.sip
        && req.uri().path() == sip.webhook_path
    {
        if req.method() != Method::POST {
            return ApiError::method_not_allowed(
                req.method(),
                &sip.webhook_path,
                vec![Method::POST],
            )
            .response();
        }
        return deliver(&ctx, req).await;
    }
    let origin = header(&req, "origin").map(str::to_string);
    let path = req.uri().path().to_string();
    if req.method() == Method::OPTIONS && (path == "/v1/calls" || path == "/v1/client_secrets") {
        return preflight(&ctx.config, origin.as_deref());
    }
    let route = match routes::parse(req.method(), &path, req.uri().query()) {
        Ok(r) => r,
        Err(e) => return e.response(),
    };
    // A scraper on a private network reads metrics with no token; they hold
    // counts and timings, never a caller's data.
    if route == routes::Route::Metrics && ctx.config.metrics_public {
        return handlers::status::metrics();
    }
    if let routes::Route::AudioRelay(_) = &route
        && let Err(why) = auth::same_origin(&ctx.config, origin.as_deref(), header(&req, "host"))
    {
        tracing::info!(%peer, %path, reason = %why, "HTTP request refused");
        return ApiError::new(StatusCode::FORBIDDEN, "cross_origin", why).response();
    }
    let access = route.access(req.method());
    let token = auth::token(&ctx.config, header(&req, "authorization"));
    let who = match auth::decide(&ctx.config, access, token, origin.as_deref()) {
        Ok(who) => who,
        Err(r) => {
            tracing::info!(%peer, method = %req.method(), %path, reason = %r.message, "HTTP request refused");
            let unauthorized = r.status == StatusCode::UNAUTHORIZED;
            let mut resp = ApiError::new(r.status, r.code, r.message).response();
            if unauthorized {
                resp.headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            return resp;
        }
    };
    tracing::debug!(?route, %who, "HTTP control request");
    let cors = matches!(who, agentd_api::Identity::Origin(_));
    let mut resp = match handlers::dispatch(&ctx.daemon, &ctx.socket, &who, route, req).await {
        Ok(resp) => resp,
        Err(e) => e.response(),
    };
    if cors {
        allow_origin(&mut resp, origin.as_deref());
    }
    resp
}

async fn deliver(ctx: &Ctx, req: Request<Incoming>) -> Response<Body> {
    let owned = |n: &str| header(&req, n).map(str::to_string);
    let (id, ts, sig) = (
        owned("webhook-id"),
        owned("webhook-timestamp"),
        owned("webhook-signature"),
    );
    let body = match Limited::new(req.into_body(), ctx.config.max_body)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body: {e}"),
            )
            .response();
        }
    };
    let (status, reply) = webhook::handle(
        &ctx.daemon,
        Delivery {
            id: id.as_deref(),
            timestamp: ts.as_deref(),
            signature: sig.as_deref(),
            body: &body,
        },
    )
    .await;
    reply::json(status, &reply)
}

fn preflight(config: &HttpConfig, origin: Option<&str>) -> Response<Body> {
    let allowed = origin.filter(|o| config.allow_origins.iter().any(|a| a == o));
    let mut resp = reply::bytes(
        if allowed.is_some() {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::FORBIDDEN
        },
        "text/plain",
        Vec::new(),
    );
    if allowed.is_some() {
        allow_origin(&mut resp, allowed);
        let h = resp.headers_mut();
        h.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("POST"),
        );
        h.insert(
            "access-control-allow-headers",
            HeaderValue::from_static("content-type, authorization"),
        );
        h.insert("access-control-max-age", HeaderValue::from_static("600"));
    }
    resp
}
