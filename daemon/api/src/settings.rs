//! Session settings that layer: agentd's defaults, then a model's
//! `defaults`, then the overrides given to `POST /v1/sessions`, then the
//! agent. `agents.toml` and the API share this one type, so an override is
//! spelled the same in both places, and a key neither knows is an error.

use serde::{Deserialize, Serialize};

/// Output modality of an agent's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Speech (with its transcript).
    Audio,
    /// Text only.
    Text,
}

/// Session settings that can be layered: model defaults, then the agent,
/// then explicit per-session overrides. `None` leaves the layer below alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsOverlay {
    /// The system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// The voice of spoken replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// How the model answers: exactly one of audio or text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<Modality>>,
}

/// A setting serde accepts but the Realtime API does not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `output_modalities` is empty or names both.
    #[error("output_modalities must name exactly one of `audio` or `text`")]
    OutputModalities,
}

impl SettingsOverlay {
    /// This overlay with `top`'s fields laid over it.
    pub fn with(&self, top: &SettingsOverlay) -> SettingsOverlay {
        SettingsOverlay {
            instructions: top
                .instructions
                .clone()
                .or_else(|| self.instructions.clone()),
            voice: top.voice.clone().or_else(|| self.voice.clone()),
            output_modalities: top
                .output_modalities
                .clone()
                .or_else(|| self.output_modalities.clone()),
        }
    }

    /// Check what serde cannot: exactly one output modality.
    pub fn validate(&self) -> Result<(), SettingsError> {
        match &self.output_modalities {
            Some(m) if m.len() != 1 => Err(SettingsError::OutputModalities),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_round_trip_and_refuse_unknown_keys() {
        let text = r#"{"instructions":"be brief","output_modalities":["text"]}"#;
        let o: SettingsOverlay = serde_json::from_str(text).unwrap();
        assert_eq!(o.output_modalities, Some(vec![Modality::Text]));
        assert_eq!(serde_json::to_string(&o).unwrap(), text);
        let e = serde_json::from_str::<SettingsOverlay>(r#"{"voise":"ash"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `voise`"), "{e}");
    }

    #[test]
    fn later_layers_win_and_one_modality_is_required() {
        let base = SettingsOverlay {
            instructions: Some("a".into()),
            voice: Some("ash".into()),
            output_modalities: None,
        };
        let top = SettingsOverlay {
            voice: Some("marin".into()),
            ..Default::default()
        };
        let both = base.with(&top);
        assert_eq!(both.instructions.as_deref(), Some("a"));
        assert_eq!(both.voice.as_deref(), Some("marin"));
        assert!(both.validate().is_ok());
        let two = SettingsOverlay {
            output_modalities: Some(vec![Modality::Audio, Modality::Text]),
            ..Default::default()
        };
        assert_eq!(two.validate(), Err(SettingsError::OutputModalities));
    }
}
