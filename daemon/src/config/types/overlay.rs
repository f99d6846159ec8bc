//! Session settings that layer (model defaults, the agent, per-session
//! overrides): [`SettingsOverlay`] and its [`Modality`]. They are serde types
//! because a client sends an overlay in `POST /v1/sessions {"settings": …}`;
//! they stay together so they can move to the API types as one.

/// Session settings that can be layered: model defaults, then the agent,
/// then explicit per-session overrides. `None` leaves the layer below alone.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsOverlay {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<Modality>>,
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
    pub fn validate(&self) -> Result<(), String> {
        match &self.output_modalities {
            Some(m) if m.len() != 1 => {
                Err("output_modalities must name exactly one of `audio` or `text`".into())
            }
            _ => Ok(()),
        }
    }
}

/// Output modality of an agent's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Audio,
    Text,
}
