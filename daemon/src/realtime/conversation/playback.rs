//! What the listener may be hearing: output audio delivered per item, the
//! playback position the attached client reports, and the responses whose
//! audio is muted because they were interrupted.
//!
//! Positions are derived from bytes delivered and the output format the
//! server announced (`session.created/updated`), never from wall-clock time:
//! audio arrives faster than it plays, so time says nothing about what was
//! heard. A playback report is capped at the audio delivered.

use std::collections::HashSet;

use serde_json::Value;

use crate::realtime::protocol::PartRef;

/// Output audio of one item, as far as it was delivered.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Playing {
    pub item_id: String,
    pub content_index: u32,
    pub response_id: String,
    pub bytes: u64,
}

/// Where an interrupt cuts the audio a listener was hearing.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cut {
    pub item_id: String,
    pub content_index: u32,
    /// What the listener heard, when the attached client reported it; else
    /// what was delivered.
    pub audio_end_ms: u64,
}

/// Bytes a millisecond of PCM16 at 24 kHz, the default output format.
const DEFAULT_BYTES_PER_MS: u64 = 48;

#[derive(Debug)]
pub(super) struct Playback {
    /// Output audio of the item being delivered.
    playing: Option<Playing>,
    /// The last item whose delivery finished with its response: a listener
    /// may still be playing it, which only a playback report can tell.
    delivered: Option<Playing>,
    /// What the attached client last said it has played: (item_id, ms).
    played: Option<(String, u64)>,
    /// Responses interrupted here: their late audio is dropped, not delivered.
    muted: HashSet<String>,
    /// Bytes per millisecond of output audio.
    bytes_per_ms: u64,
}

impl Default for Playback {
    fn default() -> Self {
        Playback {
            playing: None,
            delivered: None,
            played: None,
            muted: HashSet::new(),
            bytes_per_ms: DEFAULT_BYTES_PER_MS,
        }
    }
}

impl Playback {
    /// Take the output format from a `session` object of `session.created/updated`.
    pub fn set_format(&mut self, session: &Value) {
        let rate = session
            .pointer("/audio/output/format/rate")
            .and_then(Value::as_u64)
            .unwrap_or(24_000);
        let kind = session
            .pointer("/audio/output/format/type")
            .and_then(Value::as_str)
            .unwrap_or("audio/pcm");
        // G.711 is one byte a sample at 8 kHz; PCM16 is two.
        self.bytes_per_ms = if kind == "audio/pcm" {
            rate * 2 / 1000
        } else {
            8
        };
    }

    pub fn is_muted(&self, response_id: &str) -> bool {
        self.muted.contains(response_id)
    }

    /// Drop the rest of `response_id`'s audio.
    pub fn mute(&mut self, response_id: String) {
        self.muted.insert(response_id);
    }

    /// `bytes` of `at` are being delivered.
    pub fn deliver(&mut self, at: &PartRef, bytes: u64) {
        match &mut self.playing {
            Some(p) if p.item_id == at.item_id && p.content_index == at.content_index => {
                p.bytes += bytes
            }
            _ => {
                self.delivered = None;
                self.playing = Some(Playing {
                    item_id: at.item_id.clone(),
                    content_index: at.content_index,
                    response_id: at.response_id.clone(),
                    bytes,
                })
            }
        }
    }

    /// `response_id` is over: its audio, if any, is delivered (though maybe
    /// still playing), and nothing more of it will come to drop.
    pub fn response_done(&mut self, response_id: &str) {
        self.muted.remove(response_id);
        if let Some(p) = self.playing.take() {
            self.delivered = Some(p);
        }
    }

    /// The attached client's report of how much of `item_id` it has played.
    pub fn report(&mut self, item_id: String, played_ms: u64) {
        self.played = Some((item_id, played_ms));
    }

    /// Whether a listener may still be hearing something: the item being
    /// delivered, or a finished one the attached client reports it has not
    /// played to the end.
    pub fn audible(&self) -> bool {
        self.audible_item().is_some()
    }

    fn audible_item(&self) -> Option<&Playing> {
        if self.playing.is_some() {
            return self.playing.as_ref();
        }
        let done = self.delivered.as_ref()?;
        let (item, ms) = self.played.as_ref()?;
        (*item == done.item_id && *ms < self.delivered_ms(done)).then_some(done)
    }

    fn delivered_ms(&self, p: &Playing) -> u64 {
        p.bytes / self.bytes_per_ms.max(1)
    }

    /// Stop what the listener hears: where to truncate it, with its response
    /// muted from now on. `None` when nothing is audible.
    pub fn cut(&mut self) -> Option<Cut> {
        let p = self.audible_item()?.clone();
        self.playing = None;
        self.delivered = None;
        self.muted.insert(p.response_id.clone());
        let delivered = self.delivered_ms(&p);
        let audio_end_ms = match self.played.take() {
            Some((item, ms)) if item == p.item_id => ms.min(delivered),
            _ => delivered,
        };
        Some(Cut {
            item_id: p.item_id,
            content_index: p.content_index,
            audio_end_ms,
        })
    }

    /// The connection is gone: what was being delivered stops, and a new
    /// server will not continue it. Returns the item that was cut short.
    pub fn disconnected(&mut self) -> Option<Playing> {
        self.delivered = None;
        self.playing.take()
    }
}

/// Decoded length of base64 text, without decoding it.
pub(super) fn base64_len(b64: &str) -> u64 {
    let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
    ((b64.len() / 4) * 3).saturating_sub(padding) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_length_without_decoding() {
        assert_eq!(base64_len("AAAA"), 3);
        assert_eq!(base64_len("AAA="), 2);
        assert_eq!(base64_len("AA=="), 1);
    }

    #[test]
    fn positions_follow_the_announced_output_format() {
        let at = PartRef {
            response_id: "r".into(),
            item_id: "m".into(),
            output_index: 0,
            content_index: 0,
        };
        // (session object, bytes delivered, ms cut at)
        let table = [
            (json!({}), 4800, 100),
            (
                json!({"audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}}),
                3200,
                100,
            ),
            (
                json!({"audio": {"output": {"format": {"type": "audio/pcmu"}}}}),
                800,
                100,
            ),
        ];
        for (session, bytes, ms) in table {
            let mut p = Playback::default();
            p.set_format(&session);
            p.deliver(&at, bytes);
            assert_eq!(p.cut().map(|c| c.audio_end_ms), Some(ms), "{session}");
            assert!(p.is_muted("r"));
        }
    }
}
