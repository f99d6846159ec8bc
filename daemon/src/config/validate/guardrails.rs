//! Guardrail references (`plugin.guardrail`, written the same way in every
//! agent list and in `[guardrails]`) and the daemon-wide `[guardrails]`
//! table. Whether the plugin exports the guardrail is checked later, by the
//! catalog, at the position kept here.

use serde_spanned::Spanned;

use super::Ctx;
use crate::config::names::is_valid_name;
use crate::config::raw;
use crate::config::{GuardrailRef, GuardrailSettings};

impl Ctx<'_> {
    /// `[guardrails]`: daemon-wide input and output guardrails and the debounce length.
    pub(super) fn guardrails(&mut self, raw: &raw::RawGuardrails) -> GuardrailSettings {
        let debounce_text_length = match &raw.debounce_text_length {
            Some(n) if *n.get_ref() < 1 => {
                self.error(n, "debounce_text_length must be at least 1");
                100
            }
            Some(n) => usize::try_from(*n.get_ref()).unwrap_or(100),
            None => 100,
        };
        GuardrailSettings {
            output: raw
                .output
                .iter()
                .filter_map(|g| self.guardrail_ref(g))
                .collect(),
            input: raw
                .input
                .iter()
                .filter_map(|g| self.guardrail_ref(g))
                .collect(),
            debounce_text_length,
        }
    }

    pub(super) fn guardrail_ref(&mut self, g: &Spanned<String>) -> Option<GuardrailRef> {
        match g.get_ref().split_once('.') {
            Some((plugin, name)) if is_valid_name(plugin) && is_valid_name(name) => {
                Some(GuardrailRef {
                    plugin: plugin.to_string(),
                    name: name.to_string(),
                    at: self.written(g),
                })
            }
            _ => {
                self.error(
                    g,
                    format!(
                        "guardrail `{}` must be written `plugin.guardrail`",
                        g.get_ref()
                    ),
                );
                None
            }
        }
    }
}
