//! What a new connection is given back after a reconnect.
//!
//! A new server starts with an empty conversation. agentd keeps two lists to
//! rebuild it: the items the server *confirmed* (a settled
//! `conversation.item.added/done`, or a function call agentd dispatched), in
//! conversation order, and the *outbox* of items agentd created that no
//! server has confirmed yet. A new connection gets the confirmed items first,
//! each chained to the one before it, then the outbox, each item once: an
//! item leaves the outbox when it is confirmed, so it is never replayed
//! twice. Audio cannot be re-sent (the server never gives it back), so audio
//! content is replayed as its transcript (see [`replayable`]).
//!
//! Asking again for a lost response is the gate's business (the
//! conversation's `response_*` flags); it comes after the items.

use std::collections::VecDeque;

use crate::realtime::protocol::{ClientEvent, ContentPart, Item, Role};

#[derive(Debug, Default)]
pub(super) struct Replay {
    /// Items the server holds, in order.
    confirmed: Vec<Item>,
    /// Items agentd created that the server has not confirmed yet.
    outbox: VecDeque<Item>,
}

impl Replay {
    /// agentd sent `item`: keep it until a server confirms it.
    pub fn stage(&mut self, item: Item) {
        self.outbox.push_back(item);
    }

    /// The server holds `item`: it leaves the outbox and enters the replayable
    /// history (replacing an earlier copy of the same item).
    pub fn confirm(&mut self, item: &Item) {
        let pos = self.outbox.iter().position(|o| match (o, item) {
            (Item::FunctionCallOutput(a), Item::FunctionCallOutput(b)) => a.call_id == b.call_id,
            (Item::FunctionCall(a), Item::FunctionCall(b)) => a.call_id == b.call_id,
            // agentd's own messages carry no id: the first of the same role is the one.
            (Item::Message(a), Item::Message(b)) => a.role == b.role,
            _ => false,
        });
        if let Some(pos) = pos {
            self.outbox.remove(pos);
        }
        let same = |h: &Item| match (h, item) {
            (Item::FunctionCall(a), Item::FunctionCall(b)) => a.call_id == b.call_id,
            (Item::FunctionCallOutput(a), Item::FunctionCallOutput(b)) => a.call_id == b.call_id,
            (a, b) => a.id().is_some() && a.id() == b.id(),
        };
        match self.confirmed.iter_mut().find(|h| same(h)) {
            Some(h) => *h = item.clone(),
            None => self.confirmed.push(item.clone()),
        }
    }

    /// The server deleted `item_id`: a new connection must not get it back.
    pub fn forget(&mut self, item_id: &str) {
        self.confirmed.retain(|h| h.id() != Some(item_id));
    }

    /// The `conversation.item.create` events that rebuild the conversation on
    /// a new connection: confirmed items in order, then the outbox.
    pub fn events(&self) -> Vec<ClientEvent> {
        let mut out = Vec::with_capacity(self.confirmed.len() + self.outbox.len());
        let mut previous: Option<String> = None;
        for item in &self.confirmed {
            let id = item.id().map(str::to_string);
            out.push(ClientEvent::ConversationItemCreate {
                event_id: None,
                previous_item_id: previous.clone(),
                item: replayable(item.clone()),
            });
            previous = id.or(previous);
        }
        out.extend(
            self.outbox
                .iter()
                .map(|item| ClientEvent::ConversationItemCreate {
                    event_id: None,
                    previous_item_id: None,
                    item: item.clone(),
                }),
        );
        out
    }
}

/// Whether the server's copy of `item` is final enough to replay: a finished
/// item, or one agentd itself created (user text, tool output).
pub(super) fn is_settled(item: &Item) -> bool {
    match item {
        Item::FunctionCallOutput(_) => true,
        Item::FunctionCall(f) => f.status.as_deref() == Some("completed"),
        Item::Message(m) => m.role != Role::Assistant || m.status.as_deref() == Some("completed"),
    }
}

/// An item as a new connection can be given it: audio cannot be re-sent, so
/// audio content becomes its transcript as text; statuses are the server's
/// to set.
pub(super) fn replayable(item: Item) -> Item {
    match item {
        Item::Message(mut m) => {
            m.status = None;
            m.content = m
                .content
                .into_iter()
                .map(|c| match c {
                    ContentPart::InputAudio { transcript, .. } => {
                        ContentPart::InputText { text: transcript }
                    }
                    ContentPart::OutputAudio { transcript, .. } => {
                        ContentPart::OutputText { text: transcript }
                    }
                    other => other,
                })
                .collect();
            Item::Message(m)
        }
        Item::FunctionCall(mut f) => {
            f.status = None;
            Item::FunctionCall(f)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::protocol::{FunctionCallOutputItem, MessageItem};

    fn message(id: Option<&str>, role: Role, content: Vec<ContentPart>) -> Item {
        Item::Message(MessageItem {
            id: id.map(str::to_string),
            role,
            content,
            status: Some("completed".into()),
        })
    }

    #[test]
    fn replayed_audio_becomes_its_transcript() {
        let item = message(
            Some("m1"),
            Role::Assistant,
            vec![ContentPart::OutputAudio {
                audio: None,
                transcript: Some("hello".into()),
            }],
        );
        assert!(is_settled(&item));
        let Item::Message(m) = replayable(item) else {
            panic!("not a message");
        };
        assert_eq!(
            m.content,
            vec![ContentPart::OutputText {
                text: Some("hello".into())
            }]
        );
        assert_eq!(m.status, None);
        assert_eq!(m.id.as_deref(), Some("m1"));
    }

    #[test]
    fn confirmed_items_come_back_chained_then_the_outbox_once() {
        let mut r = Replay::default();
        let output = |call: &str| {
            Item::FunctionCallOutput(FunctionCallOutputItem {
                id: None,
                call_id: call.into(),
                output: "1".into(),
            })
        };
        r.stage(message(None, Role::User, vec![]));
        r.stage(output("c1"));
        r.stage(output("c2"));
        // The server confirms the message and c1 (with ids), not c2.
        r.confirm(&message(Some("u1"), Role::User, vec![]));
        let mut c1 = output("c1");
        if let Item::FunctionCallOutput(o) = &mut c1 {
            o.id = Some("o1".into());
        }
        r.confirm(&c1);
        r.confirm(&message(Some("gone"), Role::Assistant, vec![]));
        r.forget("gone");
        let sent: Vec<(Option<String>, Option<String>)> = r
            .events()
            .into_iter()
            .map(|ev| match ev {
                ClientEvent::ConversationItemCreate {
                    previous_item_id,
                    item,
                    ..
                } => (
                    previous_item_id,
                    item.id().map(str::to_string).or(match item {
                        Item::FunctionCallOutput(o) => Some(o.call_id),
                        _ => None,
                    }),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(sent, [(None, s("u1")), (s("u1"), s("o1")), (None, s("c2"))]);
    }
}
