//! Bodies of the control API's requests. Every one refuses keys it does not
//! know (`deny_unknown_fields`): a misspelt key is a 400 naming it, never a
//! setting silently ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input::InputPart;
use crate::settings::SettingsOverlay;

/// `POST /v1/sessions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    /// The agent to start with; the config's default agent when absent.
    #[serde(default)]
    pub agent: Option<String>,
    /// Explicit settings that win over the model's defaults and, at connect, over the agent's.
    #[serde(default)]
    pub settings: SettingsOverlay,
}

/// `POST /v1/sessions/{id}/messages`: `text`, or structured `content` parts
/// (`{"type": "input_text", "text": …}`, `{"type": "input_image", "image_url": …}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// Plain user text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Structured user input, instead of `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<InputPart>>,
}

impl SendMessage {
    /// A plain text message.
    pub fn text(text: impl Into<String>) -> SendMessage {
        SendMessage {
            text: Some(text.into()),
            content: None,
        }
    }
}

/// `POST /v1/sessions/{id}/audio`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendAudio {
    /// Base64 audio in the session's input format.
    pub audio: String,
    /// End the user's turn after this chunk.
    #[serde(default)]
    pub commit: bool,
}

/// `POST /v1/sessions/{id}/playback`: how far the attached client has played
/// an item's audio, so an interrupt truncates it where the listener stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Playback {
    /// The assistant item being played.
    pub item_id: String,
    /// How much of it the listener has heard.
    pub played_ms: u64,
}

/// `POST /v1/sessions/{id}/agent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAgent {
    /// The agent to switch to.
    pub agent: String,
}

/// How far an `always` answer reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Remember {
    /// Later calls of the tool in this session (what `always` alone does).
    Session,
    /// Later calls of the tool by this agent in every session, across
    /// restarts, until forgotten or the agent's approval policy changes.
    Agent,
}

/// `POST /v1/approvals/{call_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Approve (true) or reject.
    pub approve: bool,
    /// Apply the same answer to later calls of this tool in the session.
    #[serde(default)]
    pub always: bool,
    /// With `always`: how far it reaches (default `session`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remember: Option<Remember>,
    /// Why, in the decider's words; journaled with the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The session holding the call; searched for when absent.
    #[serde(default)]
    pub session: Option<String>,
}

/// `POST /v1/approvals/remembered/forget`: drop answers remembered for an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Forget {
    /// The agent whose answers go.
    pub agent: String,
    /// Only this tool's (`plugin.tool`); every tool's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

/// `POST /v1/policy/explain`: which rule would decide a call, without running it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Explain {
    /// The agent whose policy decides.
    pub agent: String,
    /// `plugin.tool`, or the name the model sees.
    pub tool: String,
    /// The arguments, as the model would send them.
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

/// `POST /v1/tools/{plugin.tool}/call`: run a tool without a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallTool {
    /// The arguments, as the model would send them.
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_round_trip() {
        fn same<T: Serialize + for<'de> Deserialize<'de>>(text: &str) {
            let v: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(serde_json::to_string(&v).unwrap(), text);
        }
        same::<StartSession>(r#"{"agent":"concierge","settings":{"voice":"marin"}}"#);
        same::<SendMessage>(r#"{"text":"hello"}"#);
        same::<SendMessage>(r#"{"content":[{"type":"input_text","text":"look"}]}"#);
        same::<SendAudio>(r#"{"audio":"AAAA","commit":true}"#);
        same::<Playback>(r#"{"item_id":"a1","played_ms":1200}"#);
        same::<SetAgent>(r#"{"agent":"billing"}"#);
        same::<Decision>(r#"{"approve":true,"always":false,"session":"s1"}"#);
        same::<Decision>(
            r#"{"approve":true,"always":true,"remember":"agent","reason":"vendor is known","session":null}"#,
        );
        same::<Forget>(r#"{"agent":"billing","tool":"pay.transfer"}"#);
        same::<Explain>(
            r#"{"agent":"billing","tool":"pay.transfer","arguments":{"amount":"5000"}}"#,
        );
        same::<CallTool>(r#"{"arguments":{"a":6,"b":7}}"#);
    }

    #[test]
    fn defaults_and_unknown_keys() {
        let d: Decision = serde_json::from_str(r#"{"approve":false}"#).unwrap();
        assert_eq!((d.always, d.session), (false, None));
        let c: CallTool = serde_json::from_str("{}").unwrap();
        assert_eq!(c.arguments, serde_json::json!({}));
        let e = serde_json::from_str::<Decision>(r#"{"approve":true,"alway":true}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `alway`"), "{e}");
    }
}

/// `POST /v1/calls/{call_id}/transfer`: where to send the call (SIP REFER).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// `tel:+1…` or `sip:…`; must be in `[sip] transfer_targets`.
    pub target_uri: String,
}

/// `POST /v1/calls/simulate`: what the offline model is to play.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulate {
    /// The number called (`To`).
    pub to: String,
    /// The caller's number (`From`); a fixed test number when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What the caller says, one utterance each (`dtmf 12#` presses keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub say: Vec<String>,
    /// `false`: only sign the webhook and return it (tests deliver it themselves).
    #[serde(default = "yes")]
    pub deliver: bool,
}

fn yes() -> bool {
    true
}
