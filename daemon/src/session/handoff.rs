//! Handoffs: the model called a `transfer_to_<agent>` tool.
//!
//! The session switches to the target agent of the current catalog, sends the
//! model the new agent's settings first and then the tool output that
//! completes the transfer (`{"assistant": "<agent>"}`, byte for byte as the
//! reference sends it), and emits `handoff`. A target that a reload removed is
//! an `error` event; the session keeps its agent.

use super::events::SessionEvent;
use super::executor::ToolCall;
use super::task::Session;
use crate::catalog::Handoff;
use crate::realtime::client::ModelCommand;

impl Session {
    pub(super) fn on_handoff(&mut self, call: ToolCall, handoff: &Handoff) {
        let Some(target) = self.catalog.agents.get(&handoff.target).cloned() else {
            self.emit(SessionEvent::Error {
                code: None,
                message: format!(
                    "Handoff {} names unknown agent `{}`",
                    call.name, handoff.target
                ),
            });
            return;
        };
        let from = self.agent.name().to_string();
        self.agent = target;
        tracing::info!(session = %self.id, %from, to = %handoff.target, "handoff");
        self.emit(SessionEvent::Handoff {
            from,
            to: handoff.target.clone(),
        });
        self.send_session_update();
        self.send(ModelCommand::ToolOutput {
            call_id: call.call_id,
            output: handoff.transfer_message(),
            start_response: true,
        });
    }
}
