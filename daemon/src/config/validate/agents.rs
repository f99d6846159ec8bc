//! `[agents.NAME]`: its model (which must be declared), output modality,
//! tools (patterns, aliases, per-tool approval), guardrails of each kind and
//! handoffs (to declared agents, never to itself); its `approval` table and
//! realtime keys are validated by the sibling modules.

use std::collections::BTreeMap;

use serde_spanned::Spanned;

use super::Ctx;
use crate::config::names::is_valid_name;
use crate::config::raw;
use crate::config::{
    AgentConfig, DEFAULT_MODEL, HandoffConfig, Modality, ModelConfig, ToolGuardrailRef, ToolRef,
};
use crate::policy::ToolPattern;

impl Ctx<'_> {
    /// Every `[agents.NAME]` whose name is valid; `models` are the validated models.
    pub(super) fn agents(
        &mut self,
        raw: &raw::RawConfig,
        models: &BTreeMap<String, ModelConfig>,
    ) -> BTreeMap<String, AgentConfig> {
        let mut agents = BTreeMap::new();
        for (name, a) in &raw.agents {
            if !is_valid_name(name.get_ref()) {
                self.error(
                    name,
                    format!(
                        "agent name `{}` must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`",
                        name.get_ref()
                    ),
                );
                continue;
            }
            let agent = self.agent(name, a, raw, models);
            agents.insert(name.get_ref().clone(), agent);
        }
        agents
    }

    fn agent(
        &mut self,
        name: &Spanned<String>,
        a: &raw::RawAgent,
        raw: &raw::RawConfig,
        models: &BTreeMap<String, ModelConfig>,
    ) -> AgentConfig {
        let model = match &a.model {
            Some(m) => {
                if !models.contains_key(m.get_ref()) {
                    let hint =
                        crate::config::closest(m.get_ref(), models.keys().map(String::as_str))
                            .map(|c| format!("; did you mean `{c}`?"))
                            .unwrap_or_default();
                    self.error(
                        m,
                        format!("no model named `{}` under [models]{hint}", m.get_ref()),
                    );
                }
                m.get_ref().clone()
            }
            None => DEFAULT_MODEL.to_string(),
        };
        let output_modalities = match &a.output_modalities {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for m in list {
                    match m.get_ref().as_str() {
                        "audio" => out.push(Modality::Audio),
                        "text" => out.push(Modality::Text),
                        other => self.error(
                            m,
                            format!(
                                "unknown output modality `{other}`; expected `audio` or `text`"
                            ),
                        ),
                    }
                }
                if out.len() != 1 {
                    self.error(
                        list.first().unwrap_or(name),
                        "output_modalities must name exactly one of `audio` or `text`",
                    );
                }
                Some(out)
            }
        };
        let mut tools = Vec::new();
        for t in &a.tools {
            let entry = &t.get_ref().0;
            let pattern = match ToolPattern::parse(&entry.tool) {
                Ok(p) => p,
                Err(e) => {
                    self.error(t, e);
                    continue;
                }
            };
            if let Some(alias) = &entry.alias {
                if pattern.is_glob() {
                    self.error(t, "an alias needs one tool, not a pattern with `*`");
                    continue;
                }
                if !is_valid_name(alias) {
                    self.error(
                        t,
                        format!(
                            "tool alias `{alias}` must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`"
                        ),
                    );
                    continue;
                }
            }
            tools.push(ToolRef {
                pattern,
                alias: entry.alias.clone(),
                approval: entry.approval,
                at: self.written(t),
            });
        }
        let guardrails = a
            .guardrails
            .iter()
            .filter_map(|g| self.guardrail_ref(g))
            .collect();
        let mut handoffs = Vec::new();
        for h in &a.handoffs {
            let entry = &h.get_ref().0;
            if entry.agent == *name.get_ref() {
                self.error(h, "an agent cannot hand off to itself");
            } else if !raw.agents.keys().any(|k| *k.get_ref() == entry.agent) {
                let hint = crate::config::closest(
                    &entry.agent,
                    raw.agents.keys().map(|k| k.get_ref().as_str()),
                )
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
                self.error(
                    h,
                    format!("handoff to unknown agent `{}`{hint}", entry.agent),
                );
            } else if entry
                .tool_name
                .as_deref()
                .is_some_and(|t| !is_valid_name(t))
            {
                self.error(
                    h,
                    "handoff tool_name must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`",
                );
            } else if entry.enabled {
                handoffs.push(HandoffConfig {
                    agent: entry.agent.clone(),
                    tool_name: entry.tool_name.clone(),
                    description: entry.description.clone(),
                    at: self.written(h),
                });
            }
        }
        let input_guardrails = a
            .input_guardrails
            .iter()
            .filter_map(|g| self.guardrail_ref(g))
            .collect();
        let mut tool_guardrails = Vec::new();
        for g in &a.tool_guardrails {
            let entry = &g.get_ref().0;
            let spanned = Spanned::new(g.span(), entry.guardrail.clone());
            if let Some(guardrail) = self.guardrail_ref(&spanned) {
                tool_guardrails.push(ToolGuardrailRef {
                    guardrail,
                    before_approval: entry.before_approval,
                });
            }
        }
        let approval = self.approval(&a.approval);
        let realtime = self.realtime_settings(a);
        AgentConfig {
            name: name.get_ref().clone(),
            model,
            instructions: a.instructions.clone().unwrap_or_default(),
            voice: a.voice.as_ref().map(|v| v.get_ref().clone()),
            output_modalities,
            tools,
            guardrails,
            input_guardrails,
            tool_guardrails,
            handoffs,
            handoff_description: a.handoff_description.clone(),
            async_tool_calls: a.async_tool_calls.unwrap_or(true),
            rejection_message: a.rejection_message.clone(),
            approval,
            realtime,
            at: self.written(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{messages, parse};

    #[test]
    fn tool_aliases_need_a_single_tool() {
        let m = messages("[agents.a]\ntools = [{ use = \"calc.*\", as = \"x\" }]\n");
        assert!(m[0].contains("an alias needs one tool"), "{}", m[0]);
        let c = parse("[agents.a]\ntools = [{ use = \"calc.add\", as = \"add\" }]\n").unwrap();
        assert_eq!(c.agents["a"].tools[0].alias.as_deref(), Some("add"));
    }
}
