//! What a user message may hold through the API: text, images and audio
//! parts, named as the Realtime protocol names them. The daemon turns these
//! into its wire protocol's content parts; this crate does not depend on the
//! wire protocol, so a part the protocol has for the *assistant* (output
//! text or audio) cannot be sent as user input — serde refuses its `type`.

use serde::{Deserialize, Serialize};

/// One part of a user message (`POST /v1/sessions/{id}/messages {content}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputPart {
    /// `{"type": "input_text", "text": …}`.
    InputText {
        /// The text.
        #[serde(default)]
        text: Option<String>,
    },
    /// `{"type": "input_image", "image_url": …}`, e.g. a `data:` URL.
    InputImage {
        /// Where the image is (a `data:image/png;base64,…` URL works).
        #[serde(default)]
        image_url: Option<String>,
    },
    /// `{"type": "input_audio", "audio": …, "transcript": …}`.
    InputAudio {
        /// Base64 audio in the session's input format.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<String>,
        /// What was said, when known.
        #[serde(default)]
        transcript: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_parts_round_trip_and_output_parts_are_refused() {
        let text = r#"[{"type":"input_text","text":"look"},{"type":"input_image","image_url":"data:image/png;base64,AAAA"},{"type":"input_audio","audio":"AAAA","transcript":null}]"#;
        let parts: Vec<InputPart> = serde_json::from_str(text).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(serde_json::to_string(&parts).unwrap(), text);
        let e = serde_json::from_str::<InputPart>(r#"{"type":"output_text","text":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `output_text`"), "{e}");
        assert!(e.contains("input_text"), "names what is allowed: {e}");
    }
}
