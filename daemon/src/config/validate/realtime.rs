//! An agent's realtime keys (audio formats, turn detection, transcription,
//! tool choice, output token limit) into [`RealtimeSettings`]; what is unset
//! keeps the reference client's default. Keys that do not apply to the turn
//! detection chosen are errors, not silently ignored.

use serde_spanned::Spanned;

use super::Ctx;
use crate::config::names::is_valid_name;
use crate::config::raw::{RawAgent, RawTurnDetection};
use crate::config::realtime::{
    AudioFormat, MaxOutputTokens, RealtimeSettings, ToolChoice, TurnDetection,
};

impl Ctx<'_> {
    pub(super) fn realtime_settings(&mut self, a: &RawAgent) -> RealtimeSettings {
        let mut out = RealtimeSettings::default();
        if let Some(f) = &a.input_audio_format {
            out.input_audio_format = self.audio_format(f);
        }
        if let Some(f) = &a.output_audio_format {
            out.output_audio_format = self.audio_format(f);
        }
        if let Some(t) = &a.turn_detection {
            out.turn_detection = self.turn_detection(t);
        }
        if let Some(m) = &a.transcription_model {
            let v = m.get_ref().trim();
            if v.is_empty() {
                self.error(
                    m,
                    "transcription_model is empty; use \"none\" to turn input transcription off",
                );
            }
            out.transcription_model = (v != "none").then(|| v.to_string());
        }
        if let Some(c) = &a.tool_choice {
            out.tool_choice = Some(match c.get_ref().as_str() {
                "auto" => ToolChoice::Auto,
                "none" => ToolChoice::None,
                "required" => ToolChoice::Required,
                other => {
                    let valid = other.split_once('.').map_or_else(
                        || is_valid_name(other),
                        |(p, t)| is_valid_name(p) && is_valid_name(t),
                    );
                    if !valid {
                        self.error(
                            c,
                            format!("tool_choice `{other}` must be `auto`, `none`, `required` or one tool such as `calc.add`"),
                        );
                    }
                    ToolChoice::Function(other.to_string())
                }
            });
        }
        if let Some(m) = &a.max_output_tokens {
            out.max_output_tokens = self.max_output_tokens(m);
        }
        out
    }

    fn audio_format(&mut self, f: &Spanned<String>) -> AudioFormat {
        match f.get_ref().as_str() {
            "pcm16" => AudioFormat::Pcm16,
            "g711_ulaw" => AudioFormat::G711Ulaw,
            "g711_alaw" => AudioFormat::G711Alaw,
            other => {
                self.error(
                    f,
                    format!("unknown audio format `{other}`; expected `pcm16`, `g711_ulaw` or `g711_alaw`"),
                );
                AudioFormat::Pcm16
            }
        }
    }

    fn turn_detection(&mut self, t: &Spanned<RawTurnDetection>) -> TurnDetection {
        let r = t.get_ref();
        let vad_only = [
            ("threshold", r.threshold.is_some()),
            ("prefix_padding_ms", r.prefix_padding_ms.is_some()),
            ("silence_duration_ms", r.silence_duration_ms.is_some()),
            ("idle_timeout_ms", r.idle_timeout_ms.is_some()),
        ];
        let misplaced = |kind: &str, keys: &[(&str, bool)]| -> Vec<String> {
            keys.iter()
                .filter(|(_, set)| *set)
                .map(|(k, _)| format!("`{k}` does not apply to turn detection `{kind}`"))
                .collect()
        };
        match r.kind.get_ref().as_str() {
            "none" => {
                let mut keys = vad_only.to_vec();
                keys.extend([
                    ("eagerness", r.eagerness.is_some()),
                    ("create_response", r.create_response.is_some()),
                    ("interrupt_response", r.interrupt_response.is_some()),
                ]);
                for m in misplaced("none", &keys) {
                    self.error(t, m);
                }
                TurnDetection::None
            }
            "server_vad" => {
                for m in misplaced("server_vad", &[("eagerness", r.eagerness.is_some())]) {
                    self.error(t, m);
                }
                if let Some(th) = r.threshold
                    && !(0.0..=1.0).contains(&th)
                {
                    self.error(t, format!("threshold {th} must be between 0.0 and 1.0"));
                }
                TurnDetection::ServerVad {
                    threshold: r.threshold,
                    prefix_padding_ms: r.prefix_padding_ms,
                    silence_duration_ms: r.silence_duration_ms,
                    idle_timeout_ms: r.idle_timeout_ms,
                    create_response: r.create_response,
                    interrupt_response: r.interrupt_response,
                }
            }
            "semantic_vad" => {
                for m in misplaced("semantic_vad", &vad_only) {
                    self.error(t, m);
                }
                if let Some(e) = &r.eagerness
                    && !["low", "medium", "high", "auto"].contains(&e.get_ref().as_str())
                {
                    self.error(
                        e,
                        format!(
                            "eagerness `{}` must be `low`, `medium`, `high` or `auto`",
                            e.get_ref()
                        ),
                    );
                }
                TurnDetection::SemanticVad {
                    eagerness: r.eagerness.as_ref().map(|e| e.get_ref().clone()),
                    create_response: r.create_response,
                    interrupt_response: r.interrupt_response,
                }
            }
            other => {
                self.error(
                    &r.kind,
                    format!("unknown turn detection `{other}`; expected `server_vad`, `semantic_vad` or `none`"),
                );
                TurnDetection::None
            }
        }
    }

    fn max_output_tokens(&mut self, m: &Spanned<toml::Value>) -> Option<MaxOutputTokens> {
        match m.get_ref() {
            toml::Value::String(s) if s == "inf" => Some(MaxOutputTokens::Inf),
            toml::Value::Integer(n) if (1..=4096).contains(n) => {
                Some(MaxOutputTokens::Limit(*n as u32))
            }
            _ => {
                self.error(
                    m,
                    "max_output_tokens must be an integer from 1 to 4096, or \"inf\"",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::realtime;
    use crate::config::test_support::{messages, parse};

    #[test]
    fn realtime_settings_are_validated_with_positions() {
        let text = r#"[agents.a]
input_audio_format = "mp3"
turn_detection = { type = "semantic_vad", threshold = 0.5 }
max_output_tokens = 0
tool_choice = "not a tool"

[agents.b]
turn_detection = { type = "server_vad", eagerness = "high" }
transcription_model = ""

[agents.c]
turn_detection = { type = "loud" }
"#;
        let m = messages(text);
        let expect = [
            ("agents.toml:2:22:", "unknown audio format `mp3`"),
            ("agents.toml:3:18:", "`threshold` does not apply"),
            ("agents.toml:4:21:", "max_output_tokens must be"),
            ("agents.toml:5:15:", "tool_choice `not a tool`"),
            ("agents.toml:8:18:", "`eagerness` does not apply"),
            ("agents.toml:9:23:", "transcription_model is empty"),
            ("agents.toml:12:27:", "unknown turn detection `loud`"),
        ];
        for (at, what) in expect {
            assert!(
                m.iter().any(|d| d.contains(at) && d.contains(what)),
                "no `{at} {what}` in {m:#?}"
            );
        }
        assert_eq!(m.len(), expect.len(), "{m:#?}");
    }

    #[test]
    fn unknown_turn_detection_key_is_an_error() {
        let m = messages("[agents.a]\nturn_detection = { type = \"none\", treshold = 1 }\n");
        assert!(m[0].contains("treshold"), "{m:?}");
    }

    #[test]
    fn realtime_settings_default_to_the_reference() {
        let c = parse("[agents.a]\n").unwrap();
        assert_eq!(
            c.agents["a"].realtime,
            realtime::RealtimeSettings::default()
        );
    }
}
