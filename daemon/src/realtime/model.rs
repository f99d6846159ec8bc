//! What a session and its model connection say to each other: the
//! [`ModelCommand`]s a session gives, the [`ModelEvent`]s it gets back.
//!
//! Both halves of a connection speak this vocabulary: the conversation
//! (`conversation`, protocol state) turns commands into client events and
//! server events into model events; the link (`connection`, bytes and
//! timers) adds the events about the connection itself
//! ([`ModelEvent::ConnectionStatus`], [`ModelEvent::Closed`]).

use super::protocol::{ClientEvent, ContentPart, Item, SessionConfig, Usage};

/// What the session asks of the model.
#[derive(Debug)]
pub enum ModelCommand {
    /// A user text message; starts a response.
    UserText(String),
    /// A user message with any content (text, images); starts a response.
    UserInput(Vec<ContentPart>),
    /// Raw PCM/G.711 audio (base64) for the input buffer; `commit` ends the turn.
    Audio { audio: String, commit: bool },
    /// Replace the session settings (agent change, handoff, reload).
    UpdateSession(Box<SessionConfig>),
    /// A tool's output for `call_id`; `start_response` asks for the model's next turn.
    ToolOutput {
        call_id: String,
        output: String,
        start_response: bool,
    },
    /// Stop playback; `force_cancel` also cancels the response in progress.
    Interrupt { force_cancel: bool },
    /// The attached client has played `played_ms` of `item_id`'s audio: an
    /// interrupt truncates there rather than at the audio delivered.
    Playback { item_id: String, played_ms: u64 },
    /// Any client event, sent as is (`response.create` still goes through the gate).
    Raw(Box<ClientEvent>),
    /// Close the socket and end the task.
    Close,
}

/// What the model did, in the terms the session engine works with.
#[derive(Debug, Clone)]
pub enum ModelEvent {
    /// Every server message, verbatim, before anything else is derived from it.
    Raw(super::protocol::RawEvent),
    /// A server `error` event or a message that could not be understood.
    Error {
        code: Option<String>,
        message: String,
    },
    /// The model wants a tool run.
    FunctionCall {
        item_id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
    /// A chunk of output audio (base64).
    Audio {
        item_id: String,
        content_index: u32,
        response_id: String,
        audio: String,
    },
    AudioDone {
        item_id: String,
        content_index: u32,
    },
    AudioInterrupted {
        item_id: String,
        content_index: u32,
    },
    /// Audio of an interrupted response that arrived afterwards and was not delivered.
    AudioDropped {
        item_id: String,
        response_id: String,
        bytes: u64,
    },
    /// A piece of the assistant's transcript (audio) or text.
    TranscriptDelta {
        item_id: String,
        response_id: String,
        delta: String,
    },
    /// A conversation item was added or changed.
    ItemUpdated {
        item: Item,
        previous_item_id: Option<String>,
    },
    ItemDeleted {
        item_id: String,
    },
    InputAudioTranscriptionCompleted {
        item_id: String,
        transcript: String,
    },
    InputAudioTimeoutTriggered,
    /// A keypad digit pressed on a SIP call.
    Dtmf {
        digit: String,
        received_at: Option<u64>,
    },
    TurnStarted {
        response_id: String,
    },
    TurnEnded {
        response_id: String,
        status: Option<String>,
        usage: Option<Usage>,
    },
    /// The connection is up again, or lost and being re-established.
    ConnectionStatus {
        status: LinkStatus,
        attempt: Option<u32>,
        reason: Option<String>,
    },
    /// The connection closed; `error` says why when it was not asked for.
    Closed {
        error: Option<String>,
    },
}

/// State of the link to the model, as `connection_status` events report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Connected,
    Reconnecting,
}

impl LinkStatus {
    /// `connected` / `reconnecting`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Connected => "connected",
            LinkStatus::Reconnecting => "reconnecting",
        }
    }
}
