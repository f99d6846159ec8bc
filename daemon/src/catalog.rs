//! The catalog: one immutable snapshot of everything sessions need — the
//! validated config, the loaded plugins, and each agent with its tools,
//! guardrails and handoffs resolved to concrete plugin exports.
//!
//! Sessions hold an `Arc<Catalog>` (or an `Arc<Agent>` out of it); a reload
//! builds a whole new catalog and swaps it in, so a session never sees half a
//! change, and calls in flight finish on the plugin version they started with.
//!
//! A resolved [`Agent`] is the one comparable description of everything a
//! session of that agent uses — its config (settings, tools, every guardrail
//! list and flag, approval policy, handoffs), the model it runs on, the
//! daemon-wide guardrails and debounce merged in, and the identity of every
//! plugin it calls. Its `PartialEq` is derived, so "did this agent change?"
//! is `old != new` and a new config key can never be left out of it. Source
//! positions compare equal ([`crate::config::Written`]); a loaded [`Plugin`]
//! equals only itself, because the catalog builds a new one whenever its file,
//! path or sandbox changes and reuses the old one otherwise.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use crate::config::{
    AgentConfig, Config, ConfigError, Diagnostic, GuardrailRef, Location, ModelConfig,
    PluginConfig, Sandbox,
};
use crate::plugin::{Plugin, PluginHost};

/// A loaded plugin is equal only to itself (see the module note): comparing
/// two catalogs' agents then says whether they call the same plugin versions.
impl PartialEq for Plugin {
    fn eq(&self, other: &Plugin) -> bool {
        std::ptr::eq(self, other)
    }
}

/// A tool as one agent offers it to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentTool {
    /// The function name the model sees (`calc_add`, or an alias).
    pub model_name: String,
    /// `plugin.tool`, the name policies and logs use.
    pub qualified: String,
    /// What runs a call: a plugin's export, or a built-in call tool.
    pub runs: ToolImpl,
    /// The tool's name inside its plugin.
    pub tool: String,
    pub description: String,
    pub parameters: serde_json::Value,
    /// `parameters` compiled: every call's arguments are checked against it first.
    pub arguments: Arc<crate::plugin::ArgumentSchema>,
    /// Per-tool approval from the agent's tool list, over the rules.
    pub approval: Option<bool>,
}

/// What runs a tool.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolImpl {
    /// An export of a wasm plugin.
    Plugin(Arc<Plugin>),
    /// A built-in call tool (`call.transfer`, `call.hangup`): it acts on the
    /// phone or browser call the session drives.
    Call(CallTool),
}

/// The built-in call tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallTool {
    /// `call.transfer {"target_uri"}`: SIP REFER to an allowed target.
    Transfer,
    /// `call.hangup`: end the call.
    HangUp,
}

impl ToolImpl {
    /// What the journal records as the code that ran: the plugin's content
    /// hash, or `builtin`.
    pub fn hash(&self) -> String {
        match self {
            ToolImpl::Plugin(p) => p.hash.clone(),
            ToolImpl::Call(_) => "builtin".into(),
        }
    }
}

/// The name the built-in call tools live under (a plugin of that name hides them).
pub const CALL_TOOLS: &str = "call";

/// A built-in call tool's name, description, parameters and compiled schema.
fn call_tools() -> Vec<(CallTool, &'static str, &'static str, serde_json::Value)> {
    vec![
        (
            CallTool::Transfer,
            "transfer",
            "Transfer the caller to another number or SIP address (one of the allowed targets).",
            json!({"type": "object", "properties": {"target_uri": {"type": "string", "description": "tel:+1… or sip:…"}}, "required": ["target_uri"], "additionalProperties": false}),
        ),
        (
            CallTool::HangUp,
            "hangup",
            "End the call.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
        ),
    ]
}

/// A handoff as a tool the model can call.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    /// `transfer_to_<agent>`.
    pub tool_name: String,
    pub description: String,
    pub target: String,
}

impl Handoff {
    /// The tool output that completes a handoff, byte for byte as the reference sends it.
    pub fn transfer_message(&self) -> String {
        format!("{{\"assistant\": {}}}", json!(self.target))
    }
}

/// A guardrail resolved to its plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentGuardrail {
    /// `plugin.name`.
    pub qualified: String,
    pub plugin: Arc<Plugin>,
    pub name: String,
}

/// An agent, resolved: everything a session of it uses (see the module note).
#[derive(Debug, PartialEq)]
pub struct Agent {
    pub config: AgentConfig,
    /// The model the agent runs on (its settings defaults, model name, tracing).
    pub model: ModelConfig,
    /// Output guardrails run every this many characters of an item's transcript
    /// (`[guardrails] debounce_text_length`).
    pub debounce: usize,
    pub tools: Vec<AgentTool>,
    pub handoffs: Vec<Handoff>,
    /// The agent's own output guardrails followed by the daemon-wide ones, each once.
    pub output_guardrails: Vec<AgentGuardrail>,
    /// Guardrails on user input (text and transcripts), the agent's then the daemon's.
    pub input_guardrails: Vec<AgentGuardrail>,
    /// Guardrails on tool calls; `before_approval` ones also run before a person is asked.
    pub tool_guardrails: Vec<(AgentGuardrail, bool)>,
}

impl Agent {
    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Find a tool by the name the model called it.
    pub fn tool(&self, model_name: &str) -> Option<&AgentTool> {
        self.tools.iter().find(|t| t.model_name == model_name)
    }

    /// Find a handoff by its tool name.
    pub fn handoff(&self, tool_name: &str) -> Option<&Handoff> {
        self.handoffs.iter().find(|h| h.tool_name == tool_name)
    }
}

/// A plugin that could not be loaded, kept for `agentctl plugins`.
#[derive(Debug, Clone)]
pub struct PluginFailure {
    pub name: String,
    pub path: PathBuf,
    pub error: String,
}

/// One immutable generation of config + plugins + agents.
#[derive(Debug)]
pub struct Catalog {
    pub config: Arc<Config>,
    pub plugins: BTreeMap<String, Arc<Plugin>>,
    pub failed_plugins: Vec<PluginFailure>,
    pub agents: BTreeMap<String, Arc<Agent>>,
}

impl Catalog {
    /// Load every plugin the config declares (and those found in `plugin_dir`),
    /// then resolve every agent. Any unresolvable reference is an error with
    /// its config position; a broken plugin nobody references is only reported.
    pub async fn build(config: Config, host: &PluginHost) -> Result<Catalog, ConfigError> {
        Catalog::build_from(config, host, None).await
    }

    /// Build the next generation after `previous` (a reload):
    /// - a plugin whose file is unchanged is reused as is (nothing compiles);
    /// - a plugin whose file is broken keeps its previous version serving, and
    ///   the failure is kept for `agentctl plugins`;
    /// - a plugin whose file left `plugin_dir` is gone, and agents' references
    ///   to it match nothing instead of being errors (its tools disappear).
    pub async fn build_from(
        config: Config,
        host: &PluginHost,
        previous: Option<&Catalog>,
    ) -> Result<Catalog, ConfigError> {
        let mut wanted: BTreeMap<String, PluginConfig> = config.plugins.clone();
        if let Some(dir) = config.daemon.plugin_dir.clone() {
            // Listing a folder is blocking I/O; keep it off the reactor.
            let found = tokio::task::spawn_blocking(move || discover(&dir))
                .await
                .unwrap_or_default();
            for found in found {
                wanted.entry(found.name.clone()).or_insert(found);
            }
        }
        let mut plugins = BTreeMap::new();
        let mut failed_plugins = Vec::new();
        for (name, cfg) in &wanted {
            let prev = previous.and_then(|c| c.plugins.get(name));
            match host.load_reusing(cfg, prev).await {
                Ok(p) => {
                    if !prev.is_some_and(|prev| Arc::ptr_eq(prev, &p)) {
                        tracing::info!(
                            plugin = %name,
                            path = %cfg.path.display(),
                            hash = %p.hash,
                            origin = ?p.origin,
                            tools = p.tools.len(),
                            guardrails = p.guardrails.len(),
                            "plugin loaded"
                        );
                    }
                    plugins.insert(name.clone(), p);
                }
                Err(e) => {
                    let mut error = e.to_string();
                    if let Some(prev) = prev {
                        // Keep serving what worked; the new file is reported.
                        error.push_str(&format!(
                            " (version {} keeps serving)",
                            short_hash(&prev.hash)
                        ));
                        plugins.insert(name.clone(), prev.clone());
                    }
                    tracing::error!(plugin = %name, error = %error, "plugin not loaded");
                    failed_plugins.push(PluginFailure {
                        name: name.clone(),
                        path: cfg.path.clone(),
                        error,
                    });
                }
            }
        }
        let removed: BTreeSet<String> = previous
            .map(|p| {
                p.plugins
                    .keys()
                    .filter(|n| !wanted.contains_key(*n))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let resolver = Resolver {
            config: &config,
            plugins: &plugins,
            failed: &failed_plugins,
            removed: &removed,
            diagnostics: Vec::new(),
        };
        let agents = resolver.resolve()?;
        Ok(Catalog {
            config: Arc::new(config),
            plugins,
            failed_plugins,
            agents,
        })
    }

    /// The failure recorded for plugin `name` in this generation, if any.
    pub fn failure(&self, name: &str) -> Option<&PluginFailure> {
        self.failed_plugins.iter().find(|f| f.name == name)
    }
}

/// The first 12 hex digits of a content hash, as shown to people.
pub fn short_hash(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// `*.wasm` files in `dir`, each a plugin named after its file stem.
fn discover(dir: &std::path::Path) -> Vec<PluginConfig> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PluginConfig> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter_map(|path| {
            let name = path.file_stem()?.to_str()?.to_string();
            crate::config::is_valid_name(&name).then(|| PluginConfig {
                name,
                path,
                sandbox: Sandbox::default(),
                instance: Default::default(),
                at: None,
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

struct Resolver<'a> {
    config: &'a Config,
    plugins: &'a BTreeMap<String, Arc<Plugin>>,
    failed: &'a [PluginFailure],
    /// Plugins the previous generation had and this one does not (files removed).
    removed: &'a BTreeSet<String>,
    diagnostics: Vec<Diagnostic>,
}

impl Resolver<'_> {
    fn error(&mut self, at: &Location, message: String) {
        self.diagnostics.push(Diagnostic {
            location: Some(at.clone()),
            message,
        });
    }

    /// Why plugin `name` is not there, in words.
    fn missing_plugin(&self, name: &str) -> String {
        match self.failed.iter().find(|f| f.name == name) {
            Some(f) => format!("plugin `{name}` failed to load: {}", f.error),
            None => {
                let known = self
                    .plugins
                    .keys()
                    .map(String::as_str)
                    .chain(self.failed.iter().map(|f| f.name.as_str()));
                match crate::config::closest(name, known) {
                    Some(c) => format!("no plugin named `{name}`; did you mean `{c}`?"),
                    None => format!(
                        "no plugin named `{name}` (declare it under [plugins] or put {name}.wasm in plugin_dir)"
                    ),
                }
            }
        }
    }

    fn resolve(mut self) -> Result<BTreeMap<String, Arc<Agent>>, ConfigError> {
        let mut agents = BTreeMap::new();
        for (name, a) in &self.config.agents {
            let tools = self.tools(a);
            let output_guardrails =
                self.guardrails(a.guardrails.iter().chain(&self.config.guardrails.output));
            let input_guardrails = self.guardrails(
                a.input_guardrails
                    .iter()
                    .chain(&self.config.guardrails.input),
            );
            let tool_guardrails = a
                .tool_guardrails
                .iter()
                .filter_map(|t| {
                    let g = self.guardrails(std::iter::once(&t.guardrail)).pop()?;
                    Some((g, t.before_approval))
                })
                .collect();
            let handoffs = a
                .handoffs
                .iter()
                .map(|h| Handoff {
                    tool_name: h
                        .tool_name
                        .clone()
                        .unwrap_or_else(|| format!("transfer_to_{}", h.agent)),
                    // The reference's wording, so models see the same thing.
                    description: h.description.clone().unwrap_or_else(|| {
                        format!(
                            "Handoff to the {} agent to handle the request. {}",
                            h.agent,
                            self.config
                                .agents
                                .get(&h.agent)
                                .and_then(|t| t.handoff_description.as_deref())
                                .unwrap_or("")
                        )
                    }),
                    target: h.agent.clone(),
                })
                .collect::<Vec<_>>();
            for (h, written) in handoffs.iter().zip(&a.handoffs) {
                if let Some(t) = tools.iter().find(|t| t.model_name == h.tool_name) {
                    // Reported at the handoff: that is where the second use of the name is.
                    let at = written.at.clone();
                    self.error(
                        &at,
                        format!(
                            "agent `{name}`: tool `{}` has the same name as the handoff to `{}`",
                            t.qualified, h.target
                        ),
                    );
                }
            }
            let Some(model) = self.config.models.get(&a.model).cloned() else {
                // Config validation reports an unknown model at its position.
                continue;
            };
            agents.insert(
                name.clone(),
                Arc::new(Agent {
                    config: a.clone(),
                    model,
                    debounce: self.config.guardrails.debounce_text_length.max(1),
                    tools,
                    handoffs,
                    output_guardrails,
                    input_guardrails,
                    tool_guardrails,
                }),
            );
        }
        if self.diagnostics.is_empty() {
            Ok(agents)
        } else {
            Err(ConfigError {
                diagnostics: self.diagnostics,
            })
        }
    }

    fn tools(&mut self, a: &AgentConfig) -> Vec<AgentTool> {
        let mut out: Vec<AgentTool> = Vec::new();
        let mut by_model_name: HashMap<String, String> = HashMap::new();
        for r in &a.tools {
            let mut matched = 0;
            // (what runs it, plugin name, tool, description, parameters, schema)
            type Candidate = (
                ToolImpl,
                String,
                String,
                String,
                serde_json::Value,
                Arc<crate::plugin::ArgumentSchema>,
            );
            let mut candidates: Vec<Candidate> = self
                .plugins
                .values()
                .flat_map(|p| {
                    p.tools.iter().map(move |t| {
                        (
                            ToolImpl::Plugin(p.clone()),
                            p.name.clone(),
                            t.name.clone(),
                            t.description.clone(),
                            t.parameters.clone(),
                            t.arguments.clone(),
                        )
                    })
                })
                .filter(|(_, p, t, ..)| r.pattern.matches(&format!("{p}.{t}")))
                .collect();
            if !self.plugins.contains_key(CALL_TOOLS) {
                for (kind, name, description, parameters) in call_tools() {
                    if !r.pattern.matches(&format!("{CALL_TOOLS}.{name}")) {
                        continue;
                    }
                    // The schemas are agentd's own constants: they compile.
                    if let Ok(schema) = crate::plugin::ArgumentSchema::compile(&parameters) {
                        candidates.push((
                            ToolImpl::Call(kind),
                            CALL_TOOLS.to_string(),
                            name.to_string(),
                            description.to_string(),
                            parameters,
                            Arc::new(schema),
                        ));
                    }
                }
            }
            for (runs, plugin_name, tool, description, parameters, arguments) in candidates {
                matched += 1;
                let qualified = format!("{plugin_name}.{tool}");
                if out.iter().any(|t| t.qualified == qualified) {
                    continue; // listed twice (e.g. `calc.*` and `calc.add`): offer it once
                }
                let model_name = r
                    .alias
                    .clone()
                    .unwrap_or_else(|| format!("{plugin_name}_{tool}"));
                if model_name.len() > 64 {
                    self.error(
                        &r.at,
                        format!(
                            "tool `{qualified}` would be called `{model_name}` by the model, over the API's 64-character limit; give it a shorter name with {{ use = \"{qualified}\", as = \"...\" }}"
                        ),
                    );
                    continue;
                }
                if let Some(other) = by_model_name.get(&model_name) {
                    self.error(
                        &r.at,
                        format!(
                            "tools `{other}` and `{qualified}` would both be called `{model_name}` by the model; rename one with {{ use = \"...\", as = \"...\" }}"
                        ),
                    );
                    continue;
                }
                by_model_name.insert(model_name.clone(), qualified.clone());
                out.push(AgentTool {
                    model_name,
                    qualified,
                    description,
                    parameters,
                    arguments,
                    tool,
                    runs,
                    approval: r.approval,
                });
            }
            if matched == 0 {
                if let Some(p) = r.pattern.plugin()
                    && self.removed.contains(p)
                {
                    tracing::warn!(agent = %a.name, plugin = %p, pattern = %r.pattern, "plugin removed: its tools are no longer offered");
                    continue;
                }
                let msg = match r.pattern.plugin() {
                    Some(p) if p == CALL_TOOLS && !self.plugins.contains_key(p) => format!(
                        "no call tool matches `{}` (the call tools are call.transfer and call.hangup)",
                        r.pattern
                    ),
                    Some(p) if !self.plugins.contains_key(p) => self.missing_plugin(p),
                    Some(p) => {
                        let have: Vec<&str> = self.plugins[p]
                            .tools
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect();
                        format!(
                            "plugin `{p}` has no tool matching `{}` (it has: {})",
                            r.pattern,
                            if have.is_empty() {
                                "none".to_string()
                            } else {
                                have.join(", ")
                            }
                        )
                    }
                    None => format!("no tool matches `{}`", r.pattern),
                };
                self.error(&r.at, msg);
            }
        }
        out
    }

    /// Resolve guardrail references, each once even if listed twice.
    fn guardrails<'g>(
        &mut self,
        refs: impl Iterator<Item = &'g GuardrailRef>,
    ) -> Vec<AgentGuardrail> {
        let mut out: Vec<AgentGuardrail> = Vec::new();
        for g in refs {
            let qualified = g.to_string();
            if out.iter().any(|x| x.qualified == qualified) {
                continue; // each guardrail runs once even if listed twice
            }
            let Some(plugin) = self.plugins.get(&g.plugin) else {
                if self.removed.contains(&g.plugin) {
                    tracing::warn!(guardrail = %qualified, at = %g.at, "plugin removed: its guardrail no longer runs");
                    continue;
                }
                let msg = self.missing_plugin(&g.plugin);
                self.error(&g.at, msg);
                continue;
            };
            if !plugin.guardrails.iter().any(|x| x.name == g.name) {
                let have: Vec<&str> = plugin.guardrails.iter().map(|x| x.name.as_str()).collect();
                let msg = format!(
                    "plugin `{}` has no guardrail `{}` (it has: {})",
                    g.plugin,
                    g.name,
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                );
                self.error(&g.at, msg);
                continue;
            }
            out.push(AgentGuardrail {
                qualified,
                plugin: plugin.clone(),
                name: g.name.clone(),
            });
        }
        out
    }
}
