//! The conversation as the session knows it, with the reference's merge rules.
//!
//! Items are updated in place by id, inserted after `previous_item_id` when
//! that is known, appended otherwise. A later, partial copy of an item (for
//! example one retrieved without transcripts) never erases a transcript, a
//! text or an image the session already had.

use crate::realtime::protocol::{ContentPart, Item, MessageItem, Role};

/// What a change did to the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new item; its index.
    Added(usize),
    /// An existing item changed; its index.
    Updated(usize),
}

/// The ordered list of conversation items.
#[derive(Debug, Default, Clone)]
pub struct History {
    items: Vec<Item>,
}

impl History {
    /// All items, oldest first.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        // Ids are unique; the item being streamed is almost always the last.
        self.items.iter().rposition(|i| i.id() == Some(id))
    }

    /// Apply an item from the model (`item_updated`).
    pub fn upsert(&mut self, item: Item, previous_item_id: Option<&str>) -> Change {
        let Some(id) = item.id().map(str::to_string) else {
            self.items.push(item);
            return Change::Added(self.items.len() - 1);
        };
        if let Some(idx) = self.index_of(&id) {
            let merged = merge(&self.items[idx], item);
            self.items[idx] = merged;
            return Change::Updated(idx);
        }
        if let Some(prev) = previous_item_id.and_then(|p| self.index_of(p)) {
            self.items.insert(prev + 1, item);
            return Change::Added(prev + 1);
        }
        self.items.push(item);
        Change::Added(self.items.len() - 1)
    }

    /// Accumulated assistant transcript for `item_id` (from transcript deltas):
    /// `transcript` is the text so far, of which `delta` is the newest part.
    ///
    /// While the item is still the one the last delta left, the delta is
    /// appended in place, so a response costs time linear in its length
    /// rather than a copy of everything so far per delta.
    pub fn append_assistant_transcript(
        &mut self,
        item_id: &str,
        transcript: &str,
        delta: &str,
    ) -> Change {
        if let Some(idx) = self.index_of(item_id)
            && let Item::Message(m) = &mut self.items[idx]
            && m.role == Role::Assistant
            && let [
                ContentPart::OutputAudio {
                    audio: None,
                    transcript: Some(t),
                },
            ] = m.content.as_mut_slice()
            && t.len() + delta.len() == transcript.len()
        {
            t.push_str(delta);
            m.status = None;
            return Change::Updated(idx);
        }
        self.set_assistant_transcript(item_id, transcript)
    }

    /// Set the assistant transcript of `item_id`, as a transcript delta does.
    pub fn set_assistant_transcript(&mut self, item_id: &str, transcript: &str) -> Change {
        let incoming = Item::Message(MessageItem {
            id: Some(item_id.to_string()),
            role: Role::Assistant,
            content: vec![ContentPart::OutputAudio {
                audio: None,
                transcript: Some(transcript.to_string()),
            }],
            status: None,
        });
        self.upsert(incoming, None)
    }

    /// Attach a finished input-audio transcript to its user item, or add a
    /// text item when the session has not seen that item.
    pub fn input_transcript(&mut self, item_id: &str, transcript: &str) -> Change {
        if let Some(idx) = self.index_of(item_id)
            && let Item::Message(m) = &mut self.items[idx]
            && m.role == Role::User
        {
            for part in &mut m.content {
                if let ContentPart::InputAudio { transcript: t, .. } = part {
                    *t = Some(transcript.to_string());
                }
            }
            m.status = Some("completed".into());
            return Change::Updated(idx);
        }
        self.items.push(Item::Message(MessageItem {
            id: Some(item_id.to_string()),
            role: Role::User,
            content: vec![ContentPart::InputText {
                text: Some(transcript.to_string()),
            }],
            status: Some("completed".into()),
        }));
        Change::Added(self.items.len() - 1)
    }

    /// Remove an item; true when it was there.
    pub fn delete(&mut self, item_id: &str) -> bool {
        let before = self.items.len();
        self.items.retain(|i| i.id() != Some(item_id));
        self.items.len() != before
    }
}

fn is_empty(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(str::is_empty)
}

/// Merge an incoming copy of an item into the one already known.
fn merge(existing: &Item, incoming: Item) -> Item {
    let (Item::Message(old), Item::Message(mut new)) = (existing, incoming.clone()) else {
        return incoming;
    };
    if old.role != new.role || new.content.is_empty() {
        if new.content.is_empty() && old.role == new.role {
            new.content = old.content.clone();
            return Item::Message(new);
        }
        return incoming;
    }
    if new.role == Role::User {
        // Images the incoming copy lacks are kept, in front.
        let incoming_urls: Vec<String> = new
            .content
            .iter()
            .filter_map(|p| match p {
                ContentPart::InputImage { image_url: Some(u) } if !u.is_empty() => Some(u.clone()),
                _ => None,
            })
            .collect();
        let missing: Vec<ContentPart> = old
            .content
            .iter()
            .filter(|p| {
                matches!(p, ContentPart::InputImage { image_url: Some(u) } if !u.is_empty() && !incoming_urls.contains(u))
            })
            .cloned()
            .collect();
        if !missing.is_empty() {
            let mut content = missing;
            content.append(&mut new.content);
            new.content = content;
        }
    }
    for (idx, part) in new.content.iter_mut().enumerate() {
        let Some(prev) = old.content.get(idx) else {
            continue;
        };
        match (part, prev) {
            (
                ContentPart::OutputAudio { transcript, .. }
                | ContentPart::InputAudio { transcript, .. },
                ContentPart::OutputAudio { transcript: p, .. }
                | ContentPart::InputAudio { transcript: p, .. },
            ) if is_empty(transcript) && !is_empty(p) => *transcript = p.clone(),
            (
                ContentPart::OutputText { text } | ContentPart::InputText { text },
                ContentPart::OutputText { text: p } | ContentPart::InputText { text: p },
            ) if is_empty(text) && !is_empty(p) => *text = p.clone(),
            _ => {}
        }
    }
    Item::Message(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::protocol::FunctionCallItem;

    fn msg(id: &str, role: Role, content: Vec<ContentPart>) -> Item {
        Item::Message(MessageItem {
            id: Some(id.into()),
            role,
            content,
            status: None,
        })
    }

    fn audio(t: Option<&str>) -> ContentPart {
        ContentPart::OutputAudio {
            audio: None,
            transcript: t.map(Into::into),
        }
    }

    #[test]
    fn updates_in_place_inserts_after_previous_appends_otherwise() {
        let mut h = History::default();
        assert_eq!(
            h.upsert(msg("a", Role::User, vec![]), None),
            Change::Added(0)
        );
        assert_eq!(
            h.upsert(msg("c", Role::User, vec![]), None),
            Change::Added(1)
        );
        assert_eq!(
            h.upsert(msg("b", Role::User, vec![]), Some("a")),
            Change::Added(1)
        );
        assert_eq!(
            h.upsert(msg("d", Role::User, vec![]), Some("zz")),
            Change::Added(3)
        );
        let ids: Vec<_> = h.items().iter().map(|i| i.id().unwrap()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(
            h.upsert(msg("b", Role::User, vec![]), None),
            Change::Updated(1)
        );
    }

    #[test]
    fn appending_deltas_equals_setting_the_whole_transcript() {
        let mut appended = History::default();
        let mut set = History::default();
        appended.upsert(msg("u", Role::User, vec![]), None);
        set.upsert(msg("u", Role::User, vec![]), None);
        let mut so_far = String::new();
        for (n, delta) in ["Hel", "lo ", "wörld", ""].into_iter().enumerate() {
            so_far.push_str(delta);
            let a = appended.append_assistant_transcript("m", &so_far, delta);
            let s = set.set_assistant_transcript("m", &so_far);
            assert_eq!(a, s, "delta {n}");
            assert_eq!(appended.items(), set.items(), "delta {n}");
        }
        // The model replaced the item meanwhile (say, with its final form):
        // the next delta falls back to setting the text so far.
        let done = msg("m", Role::Assistant, vec![audio(Some("Hello wörld!!"))]);
        appended.upsert(done.clone(), None);
        set.upsert(done, None);
        so_far.push('.');
        appended.append_assistant_transcript("m", &so_far, ".");
        set.set_assistant_transcript("m", &so_far);
        assert_eq!(appended.items(), set.items());
    }

    #[test]
    fn a_partial_update_never_loses_a_transcript() {
        let mut h = History::default();
        h.set_assistant_transcript("m", "hello wor");
        h.set_assistant_transcript("m", "hello world");
        h.upsert(msg("m", Role::Assistant, vec![audio(None)]), None);
        assert_eq!(
            h.items()[0],
            msg("m", Role::Assistant, vec![audio(Some("hello world"))])
        );
    }

    #[test]
    fn user_images_missing_from_an_update_are_kept() {
        let mut h = History::default();
        let img = ContentPart::InputImage {
            image_url: Some("data:1".into()),
        };
        let text = |t: &str| ContentPart::InputText {
            text: Some(t.into()),
        };
        h.upsert(msg("u", Role::User, vec![img.clone(), text("look")]), None);
        h.upsert(
            msg("u", Role::User, vec![ContentPart::InputText { text: None }]),
            None,
        );
        assert_eq!(h.items()[0], msg("u", Role::User, vec![img, text("look")]));
    }

    #[test]
    fn input_transcript_attaches_or_appends() {
        let mut h = History::default();
        let input_audio = ContentPart::InputAudio {
            audio: None,
            transcript: None,
        };
        h.upsert(msg("u1", Role::User, vec![input_audio]), None);
        assert_eq!(h.input_transcript("u1", "hi"), Change::Updated(0));
        match &h.items()[0] {
            Item::Message(m) => assert_eq!(
                m.content[0],
                ContentPart::InputAudio {
                    audio: None,
                    transcript: Some("hi".into())
                }
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(h.input_transcript("u2", "new"), Change::Added(1));
    }

    #[test]
    fn non_message_items_are_replaced_and_deleted() {
        let mut h = History::default();
        let call = |args: &str| {
            Item::FunctionCall(FunctionCallItem {
                id: Some("f".into()),
                call_id: "c".into(),
                name: "t".into(),
                arguments: args.into(),
                status: None,
            })
        };
        h.upsert(call(""), None);
        h.upsert(call("{}"), None);
        assert_eq!(h.items()[0], call("{}"));
        assert!(h.delete("f"));
        assert!(!h.delete("f"));
        assert!(h.is_empty());
    }
}
