//! The protocol state of one model conversation, without I/O: events in,
//! effects out.
//!
//! Inputs are the server's events (parsed, with their raw JSON), the
//! session's [`ModelCommand`]s and the link going down or up; outputs are
//! [`Effect`]s, in order: client events to send and [`ModelEvent`]s for the
//! session. Nothing here reads a clock, owns a socket or awaits; the
//! connection task (`connection`) moves the bytes and keeps the timers, and
//! the tests feed recorded sequences and read the effects.
//!
//! The rules it owns, so the session engine never has to think about them:
//! - **gating**: `response.create` is never sent while a response is in
//!   progress; it is held until `response.done`, and several held requests
//!   become one. An `error` answering agentd's own `response.create` (its
//!   `event_id` starts with `agentd_response_create_`) before any
//!   `response.created` means none is coming: the gate opens again;
//! - **dispatch once**: a function call is handed to the session once per
//!   `call_id`, whichever of `response.function_call_arguments.done` or a
//!   completed `response.output_item.done` arrives first;
//! - **barge-in**: an interrupt (the session's, or the server's turn
//!   detection reporting speech while audio is audible) truncates the item
//!   being heard at the playback position the attached client reported,
//!   else at the audio delivered, and the interrupted response's audio still
//!   on the wire is dropped and counted ([`ModelEvent::AudioDropped`]), never
//!   half delivered (see `playback`);
//! - **tracing**: each `session.created` is answered with a separate
//!   `session.update` carrying only `tracing`, like the reference, so an
//!   endpoint that refuses tracing rejects only that;
//! - **reconnect**: when the link goes down, the audio being delivered is
//!   reported interrupted, the response in flight ended as `incomplete`, and
//!   a response that was lost (asked for or running, and not one that called
//!   a tool: the tool's output asks for the next) is remembered. When a link
//!   comes up, it gets the latest settings, then the conversation (see
//!   `replay`), then the lost response asked again. While down, nothing is
//!   sent: commands still update the state (settings, items, the gate), so
//!   a tool output produced meanwhile is sent after the reconnect, once.

mod playback;
mod replay;
#[cfg(test)]
mod tests;

use std::collections::{HashSet, VecDeque};

use serde_json::Value;

use super::model::{ModelCommand, ModelEvent};
use super::protocol::{
    ClientEvent, ContentPart, FunctionCallItem, FunctionCallOutputItem, Item, MessageItem,
    RawEvent, Role, ServerEvent, SessionConfig,
};
use playback::{Playback, base64_len};
use replay::{Replay, is_settled};

/// What the conversation asks of the world, in order.
#[derive(Debug, Clone)]
pub enum Effect {
    /// A client event for the model.
    Send(ClientEvent),
    /// An event for the session.
    Emit(ModelEvent),
}

/// Prefix of the `event_id` of every `response.create` agentd sends.
const RESPONSE_CREATE_ID: &str = "agentd_response_create_";

/// One conversation with a realtime model, across connections.
#[derive(Debug)]
pub struct Conversation {
    /// The latest settings, sent to every new connection.
    settings: SessionConfig,
    /// `session.tracing` sent after each `session.created`; `None` sends nothing.
    tracing: Option<Value>,
    /// A link is up: client events can be sent.
    online: bool,
    /// A response is in progress or has been asked for.
    response_active: bool,
    /// A `response.create` is waiting for the active response to finish.
    response_pending: bool,
    current_response: Option<String>,
    /// The current response produced a function call: its follow-up comes from the tool output.
    response_called: bool,
    response_creates: u64,
    dispatched_calls: HashSet<String>,
    playback: Playback,
    replay: Replay,
    effects: VecDeque<Effect>,
    /// Where the audio is: on this socket, or on a call's media path.
    media: Media,
}

/// Where a conversation's audio travels. On a sideband (a SIP or WebRTC
/// call) the audio is the provider's: agentd sends none, and a barge-in is
/// the server's, so nothing is truncated by agentd's own playback count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Media {
    /// Audio goes over this WebSocket (the control API's sessions).
    #[default]
    Socket,
    /// A phone call: the provider's SIP media path.
    Sip,
    /// A browser call: the provider's WebRTC peer connection.
    WebRtc,
}

impl Conversation {
    /// A conversation that will start with `settings`; offline until
    /// [`Conversation::on_connected`].
    pub fn new(settings: SessionConfig, tracing: Option<Value>) -> Conversation {
        Conversation {
            settings,
            tracing,
            online: false,
            response_active: false,
            response_pending: false,
            current_response: None,
            response_called: false,
            response_creates: 0,
            dispatched_calls: HashSet::new(),
            playback: Playback::default(),
            replay: Replay::default(),
            effects: VecDeque::new(),
            media: Media::Socket,
        }
    }

    /// The same conversation, driving a sideband of `media`.
    pub fn with_media(mut self, media: Media) -> Conversation {
        self.media = media;
        self
    }

    /// The next effect, oldest first.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// A link is up (the first or a new one): settings, then the conversation
    /// so far, then a response that was lost.
    pub fn on_connected(&mut self) {
        self.online = true;
        self.send(ClientEvent::SessionUpdate {
            event_id: None,
            session: self.settings.clone(),
        });
        for ev in self.replay.events() {
            self.send(ev);
        }
        if std::mem::take(&mut self.response_pending) {
            self.request_response();
        }
    }

    /// The link is gone: forget what died with the server's session, keep
    /// what the next one needs.
    pub fn on_disconnected(&mut self) {
        self.online = false;
        // A response in flight or asked for is lost with the server's session: ask
        // again, unless it had called a tool (the tool's output asks for the next one).
        if (self.response_active && !self.response_called) || self.response_pending {
            self.response_pending = true;
        }
        self.response_active = false;
        if let Some(p) = self.playback.disconnected() {
            self.emit(ModelEvent::AudioInterrupted {
                item_id: p.item_id,
                content_index: p.content_index,
            });
        }
        if let Some(response_id) = self.current_response.take() {
            self.emit(ModelEvent::TurnEnded {
                response_id,
                status: Some("incomplete".into()),
                usage: None,
            });
        }
    }

    /// What the session asks. [`ModelCommand::Close`] is the link's to act on.
    pub fn on_command(&mut self, cmd: ModelCommand) {
        match cmd {
            ModelCommand::UserText(text) => {
                self.user_input(vec![ContentPart::InputText { text: Some(text) }])
            }
            ModelCommand::UserInput(content) => self.user_input(content),
            ModelCommand::Audio { .. } if self.media != Media::Socket => {
                // The caller's audio reaches the model on the call's media path.
                tracing::debug!("input audio dropped: a sideband carries no audio");
            }
            ModelCommand::Audio { audio, commit } => {
                // A bare commit (`{"type":"commit"}` on the audio relay) appends nothing.
                if !audio.is_empty() {
                    self.send(ClientEvent::InputAudioBufferAppend {
                        event_id: None,
                        audio,
                    });
                }
                if commit {
                    self.send(ClientEvent::InputAudioBufferCommit { event_id: None });
                }
            }
            ModelCommand::UpdateSession(session) => {
                self.settings = *session;
                self.send(ClientEvent::SessionUpdate {
                    event_id: None,
                    session: self.settings.clone(),
                });
            }
            ModelCommand::ToolOutput {
                call_id,
                output,
                start_response,
            } => {
                self.create_item(Item::FunctionCallOutput(FunctionCallOutputItem {
                    id: None,
                    call_id,
                    output,
                }));
                if start_response {
                    self.request_response();
                }
            }
            ModelCommand::Interrupt { force_cancel } => self.interrupt(force_cancel),
            ModelCommand::Playback { item_id, played_ms } => {
                self.playback.report(item_id, played_ms)
            }
            ModelCommand::Raw(ev) => match *ev {
                ClientEvent::ResponseCreate { .. } => self.request_response(),
                ClientEvent::ConversationItemCreate {
                    previous_item_id: None,
                    item,
                    ..
                } => self.create_item(item),
                ev => self.send(ev),
            },
            ModelCommand::Close => {}
        }
    }

    /// One server event, with its JSON as received.
    pub fn on_server_event(&mut self, raw: RawEvent, ev: ServerEvent) {
        self.emit(ModelEvent::Raw(raw));
        match ev {
            ServerEvent::Unknown { problem, .. } => {
                if problem.contains("unknown variant") {
                    tracing::debug!(%problem, "model event not handled");
                } else {
                    tracing::warn!(%problem, "model event could not be parsed");
                    self.emit(ModelEvent::Error {
                        code: Some("invalid_server_event".into()),
                        message: problem,
                    });
                }
            }
            ServerEvent::Error { error } => {
                // An error about our own response.create means no response is coming.
                if error
                    .event_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with(RESPONSE_CREATE_ID))
                    && self.current_response.is_none()
                {
                    self.response_active = false;
                }
                self.emit(ModelEvent::Error {
                    code: error.code,
                    message: error.message,
                });
            }
            ServerEvent::SessionCreated { session } => {
                // Tracing goes in its own update, like the reference: an endpoint that
                // refuses it then rejects only this event, not the agent's settings.
                if let Some(tracing) = self.tracing.clone() {
                    self.send(ClientEvent::SessionUpdate {
                        event_id: None,
                        session: SessionConfig {
                            kind: "realtime".into(),
                            model: self.settings.model.clone(),
                            tracing: Some(tracing),
                            ..SessionConfig::default()
                        },
                    });
                }
                self.playback.set_format(&session);
            }
            ServerEvent::SessionUpdated { session } => self.playback.set_format(&session),
            ServerEvent::ConversationItemAdded {
                item,
                previous_item_id,
            }
            | ServerEvent::ConversationItemDone {
                item,
                previous_item_id,
            } => {
                if is_settled(&item) {
                    self.replay.confirm(&item);
                }
                if matches!(item, Item::Message(_)) {
                    self.emit(ModelEvent::ItemUpdated {
                        item,
                        previous_item_id,
                    });
                }
            }
            ServerEvent::ConversationItemRetrieved { item } => {
                if matches!(item, Item::Message(_)) {
                    self.emit(ModelEvent::ItemUpdated {
                        item,
                        previous_item_id: None,
                    });
                }
            }
            ServerEvent::ConversationItemTruncated { item_id, .. } => {
                self.send(ClientEvent::ConversationItemRetrieve {
                    event_id: None,
                    item_id,
                });
            }
            ServerEvent::ConversationItemDeleted { item_id } => {
                self.replay.forget(&item_id);
                self.emit(ModelEvent::ItemDeleted { item_id });
            }
            ServerEvent::InputAudioTranscriptionCompleted {
                item_id,
                transcript,
                ..
            } => {
                self.emit(ModelEvent::InputAudioTranscriptionCompleted {
                    item_id: item_id.clone(),
                    transcript,
                });
                self.send(ClientEvent::ConversationItemRetrieve {
                    event_id: None,
                    item_id,
                });
            }
            ServerEvent::InputAudioBufferTimeoutTriggered { .. } => {
                self.emit(ModelEvent::InputAudioTimeoutTriggered);
            }
            ServerEvent::InputAudioBufferDtmfEventReceived { event, received_at } => {
                self.emit(ModelEvent::Dtmf {
                    digit: event,
                    received_at,
                });
            }
            // Barge-in: the server cancels its own response when turn detection says so.
            ServerEvent::InputAudioBufferSpeechStarted { .. }
                if self.media == Media::Socket && self.playback.audible() =>
            {
                self.interrupt(false);
            }
            ServerEvent::ResponseCreated { response } => {
                self.response_active = true;
                self.response_called = false;
                self.current_response = Some(response.id.clone());
                self.emit(ModelEvent::TurnStarted {
                    response_id: response.id,
                });
            }
            ServerEvent::ResponseDone { response } => {
                self.response_active = false;
                self.current_response = None;
                self.playback.response_done(&response.id);
                self.emit(ModelEvent::TurnEnded {
                    response_id: response.id,
                    status: response.status,
                    usage: response.usage,
                });
                if std::mem::take(&mut self.response_pending) {
                    self.request_response();
                }
            }
            ServerEvent::ResponseOutputItemAdded { item, .. } => {
                if matches!(item, Item::Message(_)) {
                    self.emit(ModelEvent::ItemUpdated {
                        item,
                        previous_item_id: None,
                    });
                }
            }
            ServerEvent::ResponseOutputItemDone { item, .. } => match item {
                Item::FunctionCall(call) => {
                    if call.status.as_deref() == Some("completed") {
                        self.dispatch_call(
                            call.id.unwrap_or_default(),
                            call.call_id,
                            call.name,
                            call.arguments,
                        );
                    }
                }
                item @ Item::Message(_) => {
                    self.emit(ModelEvent::ItemUpdated {
                        item,
                        previous_item_id: None,
                    });
                }
                Item::FunctionCallOutput(_) => {}
            },
            ServerEvent::ResponseFunctionCallArgumentsDone {
                item_id,
                call_id,
                name: Some(name),
                arguments,
                ..
            } => self.dispatch_call(item_id, call_id, name, arguments),
            ServerEvent::ResponseOutputAudioDelta { at, delta } => {
                let bytes = base64_len(&delta);
                if self.playback.is_muted(&at.response_id) {
                    // Already cut for the listener: delivering it would play half a sentence.
                    self.emit(ModelEvent::AudioDropped {
                        item_id: at.item_id,
                        response_id: at.response_id,
                        bytes,
                    });
                    return;
                }
                self.playback.deliver(&at, bytes);
                self.emit(ModelEvent::Audio {
                    item_id: at.item_id,
                    content_index: at.content_index,
                    response_id: at.response_id,
                    audio: delta,
                });
            }
            // An interrupted item already ended with `AudioInterrupted`.
            ServerEvent::ResponseOutputAudioDone { at }
                if !self.playback.is_muted(&at.response_id) =>
            {
                self.emit(ModelEvent::AudioDone {
                    item_id: at.item_id,
                    content_index: at.content_index,
                });
            }
            ServerEvent::ResponseOutputAudioTranscriptDelta { at, delta }
            | ServerEvent::ResponseOutputTextDelta { at, delta } => {
                self.emit(ModelEvent::TranscriptDelta {
                    item_id: at.item_id,
                    response_id: at.response_id,
                    delta,
                });
            }
            _ => {}
        }
    }

    fn send(&mut self, ev: ClientEvent) {
        // While offline there is nothing to send to: what matters is kept in
        // `settings`, `replay` and the response flags and re-sent on connect.
        if self.online {
            self.effects.push_back(Effect::Send(ev));
        }
    }

    fn emit(&mut self, ev: ModelEvent) {
        self.effects.push_back(Effect::Emit(ev));
    }

    fn user_input(&mut self, content: Vec<ContentPart>) {
        self.create_item(Item::Message(MessageItem {
            id: None,
            role: Role::User,
            content,
            status: None,
        }));
        self.request_response();
    }

    /// Send an item agentd creates, keeping it until the server confirms it.
    fn create_item(&mut self, item: Item) {
        self.replay.stage(item.clone());
        self.send(ClientEvent::ConversationItemCreate {
            event_id: None,
            previous_item_id: None,
            item,
        });
    }

    /// Ask for a response, through the gate.
    fn request_response(&mut self) {
        if self.response_active || !self.online {
            self.response_pending = true;
            return;
        }
        self.response_active = true;
        self.response_creates += 1;
        self.send(ClientEvent::ResponseCreate {
            event_id: Some(format!("{RESPONSE_CREATE_ID}{}", self.response_creates)),
            response: None,
        });
    }

    fn dispatch_call(&mut self, item_id: String, call_id: String, name: String, arguments: String) {
        if !self.dispatched_calls.insert(call_id.clone()) {
            return;
        }
        self.response_called = true;
        // The call belongs to the conversation from now on: a reconnect must
        // replay it before its output, even if the socket dies before the
        // server's own `conversation.item.done`.
        self.replay.confirm(&Item::FunctionCall(FunctionCallItem {
            id: (!item_id.is_empty()).then(|| item_id.clone()),
            call_id: call_id.clone(),
            name: name.clone(),
            arguments: arguments.clone(),
            status: Some("completed".into()),
        }));
        self.emit(ModelEvent::FunctionCall {
            item_id,
            call_id,
            name,
            arguments,
        });
    }

    /// Stop playback: tell the session, truncate the item where the listener
    /// stopped hearing it, cancel the response and drop its audio still to come.
    fn interrupt(&mut self, force_cancel: bool) {
        if self.media != Media::Socket {
            // The provider plays the audio and truncates on its own barge-in.
            if force_cancel && let Some(response_id) = self.current_response.clone() {
                self.send(ClientEvent::ResponseCancel {
                    event_id: None,
                    response_id: Some(response_id),
                });
            }
            if self.media == Media::WebRtc {
                self.send(ClientEvent::OutputAudioBufferClear { event_id: None });
            }
            return;
        }
        if let Some(cut) = self.playback.cut() {
            self.emit(ModelEvent::AudioInterrupted {
                item_id: cut.item_id.clone(),
                content_index: cut.content_index,
            });
            self.send(ClientEvent::ConversationItemTruncate {
                event_id: None,
                item_id: cut.item_id,
                content_index: cut.content_index,
                audio_end_ms: cut.audio_end_ms,
            });
        }
        // Only a response in progress can be cancelled; asking otherwise earns a server error.
        if force_cancel && let Some(response_id) = self.current_response.clone() {
            self.playback.mute(response_id.clone());
            self.send(ClientEvent::ResponseCancel {
                event_id: None,
                response_id: Some(response_id),
            });
        }
    }
}
