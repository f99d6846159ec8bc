//! `/v1/sessions` and everything under `/v1/sessions/{id}`: start, list,
//! show, close, user input (text, structured parts, audio), interrupts,
//! playback reports, agent switches, history, and the event stream.

use hyper::{Response, StatusCode};

use super::session;
use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::control::streaming;
use crate::realtime::protocol::ContentPart;
use crate::supervisor::Supervisor;
use agentd_api::input::InputPart;
use agentd_api::query::EventsQuery;
use agentd_api::requests::{Playback, SendAudio, SendMessage, SetAgent, StartSession};
use agentd_api::responses::{Accepted, AgentSet, Closed, SessionStarted, SessionSummary};

pub async fn list(daemon: &Supervisor) -> Response<Body> {
    let mut out = Vec::new();
    for h in daemon.sessions().await {
        out.push(SessionSummary {
            id: h.id.to_string(),
            closed: h.is_closed(),
            // A session that ended meanwhile cannot answer: listed without it.
            status: h.status().await.ok(),
        });
    }
    reply::json(StatusCode::OK, &out)
}

pub async fn start(daemon: &Supervisor, body: StartSession) -> Result<Response<Body>, ApiError> {
    body.settings
        .validate()
        .map_err(|e| ApiError::bad_request(format!("settings: {e}")))?;
    let h = daemon
        .start_session(body.agent.as_deref(), body.settings)
        .await?;
    let status = h.status().await?;
    Ok(reply::json(
        StatusCode::CREATED,
        &SessionStarted {
            id: h.id.to_string(),
            agent: status.agent,
        },
    ))
}

pub async fn get(daemon: &Supervisor, id: &str) -> Result<Response<Body>, ApiError> {
    let status = session(daemon, id).await?.status().await?;
    Ok(reply::json(StatusCode::OK, &status))
}

pub async fn close(daemon: &Supervisor, id: &str) -> Result<Response<Body>, ApiError> {
    session(daemon, id).await?.close().await?;
    Ok(reply::json(StatusCode::OK, &Closed { closed: true }))
}

pub async fn send_message(
    daemon: &Supervisor,
    id: &str,
    body: SendMessage,
) -> Result<Response<Body>, ApiError> {
    let content = match (body.text, body.content) {
        (Some(text), None) => vec![ContentPart::InputText { text: Some(text) }],
        (None, Some(parts)) if !parts.is_empty() => parts.into_iter().map(content_part).collect(),
        _ => {
            return Err(ApiError::bad_request(
                "give either `text` or a non-empty `content` list",
            ));
        }
    };
    session(daemon, id).await?.send_input(content).await?;
    Ok(accepted())
}

/// The wire protocol's part for a user input part (the API crate does not
/// know the protocol, and only input parts can come from the API).
fn content_part(part: InputPart) -> ContentPart {
    match part {
        InputPart::InputText { text } => ContentPart::InputText { text },
        InputPart::InputImage { image_url } => ContentPart::InputImage { image_url },
        InputPart::InputAudio { audio, transcript } => {
            ContentPart::InputAudio { audio, transcript }
        }
    }
}

pub async fn send_audio(
    daemon: &Supervisor,
    id: &str,
    body: SendAudio,
) -> Result<Response<Body>, ApiError> {
    use base64::Engine as _;
    if base64::engine::general_purpose::STANDARD
        .decode(&body.audio)
        .is_err()
    {
        return Err(ApiError::bad_request("audio must be base64"));
    }
    let handle = session(daemon, id).await?;
    if handle.call.is_some() {
        return Err(ApiError::new(
            hyper::StatusCode::CONFLICT,
            "call_session",
            format!(
                "session `{id}` drives a call: its audio travels on the call's media path, not through agentd"
            ),
        ));
    }
    handle.send_audio(body.audio, body.commit).await?;
    Ok(accepted())
}

pub async fn interrupt(daemon: &Supervisor, id: &str) -> Result<Response<Body>, ApiError> {
    session(daemon, id).await?.interrupt().await?;
    Ok(accepted())
}

pub async fn playback(
    daemon: &Supervisor,
    id: &str,
    body: Playback,
) -> Result<Response<Body>, ApiError> {
    session(daemon, id)
        .await?
        .playback(body.item_id, body.played_ms)
        .await?;
    Ok(accepted())
}

pub async fn set_agent(
    daemon: &Supervisor,
    id: &str,
    body: SetAgent,
) -> Result<Response<Body>, ApiError> {
    session(daemon, id).await?.set_agent(&body.agent).await?;
    Ok(reply::json(StatusCode::OK, &AgentSet { agent: body.agent }))
}

pub async fn history(daemon: &Supervisor, id: &str) -> Result<Response<Body>, ApiError> {
    let items = session(daemon, id).await?.history().await?;
    Ok(reply::json(StatusCode::OK, &items))
}

pub async fn events(
    daemon: &Supervisor,
    id: &str,
    query: EventsQuery,
) -> Result<Response<Body>, ApiError> {
    Ok(streaming::events(session(daemon, id).await?, query))
}

fn accepted() -> Response<Body> {
    reply::json(StatusCode::ACCEPTED, &Accepted {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_parts_become_the_same_wire_parts() {
        let text = r#"[{"type":"input_text","text":"look"},{"type":"input_image","image_url":"data:image/png;base64,AAAA"},{"type":"input_audio","audio":"AAAA","transcript":"hi"}]"#;
        let api: Vec<InputPart> = serde_json::from_str(text).unwrap();
        let wire: Vec<ContentPart> = api.into_iter().map(content_part).collect();
        // What the API accepted is what goes to the model, field for field.
        assert_eq!(
            wire,
            serde_json::from_str::<Vec<ContentPart>>(text).unwrap()
        );
    }
}
