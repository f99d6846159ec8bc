//! Bodies of the control API's successful replies. Optional fields default
//! when absent, so a client reads a reply from a daemon that leaves them out.

use serde::{Deserialize, Serialize};

use crate::session::SessionStatus;

/// Reply to `POST /v1/sessions` (HTTP 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionStarted {
    /// The new session's id.
    pub id: String,
    /// The agent it started with.
    pub agent: String,
}

/// Reply to `DELETE /v1/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Closed {
    /// Always true: the session has ended.
    pub closed: bool,
}

/// Reply (HTTP 202, `{}`) to requests a session acts on later: messages,
/// audio, interrupts, playback reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Accepted {}

/// Reply to `POST /v1/sessions/{id}/agent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentSet {
    /// The agent the session runs now.
    pub agent: String,
}

/// Reply to `POST /v1/approvals/{call_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decided {
    /// The session holding the call.
    pub session: String,
    /// The call decided.
    pub call_id: String,
    /// What was decided.
    pub approved: bool,
}

/// Reply to `POST /v1/approvals/remembered/forget`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Forgotten {
    /// The agent.
    pub agent: String,
    /// How many remembered answers were dropped.
    pub forgotten: usize,
}

/// Reply to `POST /v1/policy/explain`: what would happen to a call, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PolicyExplanation {
    /// The agent.
    pub agent: String,
    /// `plugin.tool`.
    pub tool: String,
    /// `allow`, `ask`, `deny`, or `refused` (arguments do not match the schema).
    pub decision: String,
    /// The rule that decided (1-based, as `explain` prints it), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// Whether a condition that could not be evaluated made it stricter.
    pub failed_closed: bool,
    /// The steps, one line each, as `agentctl policy explain` prints them.
    pub lines: Vec<String>,
}

/// A tool as `agentctl plugins` and `status` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ToolSummary {
    /// The tool's name inside its plugin.
    pub name: String,
    /// What the model is told it does.
    pub description: String,
}

/// One plugin, loaded or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PluginSummary {
    /// The plugin's name in agents.toml (or its file's, from `plugin_dir`).
    pub name: String,
    /// Its `.wasm` file.
    pub path: String,
    /// SHA-256 of the version serving now; absent when none loaded.
    #[serde(default)]
    pub hash: Option<String>,
    /// When the serving version was loaded (ms since the Unix epoch).
    #[serde(default)]
    pub loaded_ms: Option<u64>,
    /// `compiled`, `cached` (disk cache) or `reused` (unchanged on reload).
    #[serde(default)]
    pub origin: Option<String>,
    /// The tools it exports.
    #[serde(default)]
    pub tools: Vec<ToolSummary>,
    /// The guardrails it exports.
    #[serde(default)]
    pub guardrails: Vec<String>,
    /// The last load failure; with a `hash`, the previous version keeps serving.
    #[serde(default)]
    pub error: Option<String>,
    /// Milliseconds spent in a compilation running now (a new version; the
    /// one with `hash` keeps serving until it is ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiling_ms: Option<u64>,
    /// How long the plugin's last compilation took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_compile_ms: Option<u64>,
}

impl PluginSummary {
    /// `compiling (12 s; last took 9 s)`, while a compilation runs.
    pub fn compiling_line(&self) -> Option<String> {
        let running = self.compiling_ms?;
        let secs = |ms: u64| (ms + 500) / 1000;
        Some(match self.last_compile_ms {
            Some(last) => format!(
                "compiling ({} s; last took {} s)",
                secs(running),
                secs(last)
            ),
            None => format!("compiling ({} s)", secs(running)),
        })
    }

    /// The first 12 characters of the serving version's hash, as shown to people.
    pub fn short_hash(&self) -> Option<&str> {
        let hash = self.hash.as_deref()?;
        // By characters: the hash comes from outside this process.
        let end = hash.char_indices().nth(12).map_or(hash.len(), |(i, _)| i);
        Some(&hash[..end])
    }
}

/// What a reload did: `POST /v1/reload`, and `last_reload` in the status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReloadReport {
    /// `applied`, `unchanged` or `rejected`.
    pub outcome: String,
    /// `watch`, `signal` or `api`.
    pub trigger: String,
    /// When it happened (ms since the Unix epoch).
    pub time_ms: u64,
    /// Why it was rejected, each as `file:line:col: message` where known.
    #[serde(default)]
    pub errors: Vec<String>,
    /// Agents the new config added.
    #[serde(default)]
    pub agents_added: Vec<String>,
    /// Agents it removed.
    #[serde(default)]
    pub agents_removed: Vec<String>,
    /// Agents whose description changed.
    #[serde(default)]
    pub agents_changed: Vec<String>,
    /// Plugins it added.
    #[serde(default)]
    pub plugins_added: Vec<String>,
    /// Plugins it removed.
    #[serde(default)]
    pub plugins_removed: Vec<String>,
    /// Plugins whose file or sandbox changed.
    #[serde(default)]
    pub plugins_changed: Vec<String>,
    /// Models added, removed and changed.
    #[serde(default)]
    pub models_added: Vec<String>,
    /// Models that are gone (sessions on them keep their connection).
    #[serde(default)]
    pub models_removed: Vec<String>,
    /// Models whose settings changed (their agents are in `agents_changed`).
    #[serde(default)]
    pub models_changed: Vec<String>,
    /// Some other setting changed (`default_agent`, `plugin_dir`, …); it
    /// applies to what starts from now on.
    #[serde(default)]
    pub settings_changed: bool,
    /// Plugins whose file could not be loaded (old version kept, if any).
    #[serde(default)]
    pub plugins_failed: Vec<String>,
}

/// One tool of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentToolSummary {
    /// What the model calls it.
    pub function: String,
    /// `plugin.tool`.
    pub tool: String,
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentSummary {
    /// Its name in agents.toml.
    pub name: String,
    /// The model it talks to.
    pub model: String,
    /// Its tools.
    pub tools: Vec<AgentToolSummary>,
    /// Its output guardrails, as `plugin.guardrail`.
    pub guardrails: Vec<String>,
    /// The agents it can hand off to.
    pub handoffs: Vec<String>,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Status {
    /// agentd's version.
    pub version: String,
    /// Its process id.
    pub pid: u32,
    /// When it started (ms since the Unix epoch).
    pub started_ms: u64,
    /// The agents.toml it runs.
    pub config: String,
    /// Its control socket.
    pub socket: String,
    /// The agents loaded.
    pub agents: Vec<AgentSummary>,
    /// The plugins, loaded or failed.
    pub plugins: Vec<PluginSummary>,
    /// Live sessions.
    pub sessions: usize,
    /// The daemon is draining: it takes no new sessions or calls and stops
    /// once the live ones end (or its drain timeout passes).
    #[serde(default)]
    pub draining: bool,
    /// The most recent reload since start-up.
    #[serde(default)]
    pub last_reload: Option<ReloadReport>,
}

/// One row of `GET /v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionSummary {
    /// The session's id.
    pub id: String,
    /// Whether it has ended.
    pub closed: bool,
    /// Its snapshot; absent when it ended before it could answer.
    #[serde(default)]
    pub status: Option<SessionStatus>,
}

/// Reply to `POST /v1/tools/{plugin.tool}/call`: the output, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ToolCallResult {
    /// Whether the tool returned output.
    pub ok: bool,
    /// The tool's output, or the error the model would have been told.
    pub output: String,
    /// Wall-clock time of the call, sandbox set-up included.
    pub elapsed_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same<T: Serialize + for<'de> Deserialize<'de>>(text: &str) -> T {
        let v: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
        v
    }

    /// As `GET /v1/status` wrote it after a rejected reload, with one plugin
    /// serving and one that failed to load.
    const STATUS: &str = r#"{"version":"0.1.0","pid":4242,"started_ms":1764072000000,"config":"/etc/agentd/agents.toml","socket":"/run/agentd/agentd.sock","agents":[{"name":"concierge","model":"default","tools":[{"function":"calc_add","tool":"calc.add"}],"guardrails":["blocklist.blocklist"],"handoffs":["billing"]}],"plugins":[{"name":"calc","path":"/srv/plugins/calc.wasm","hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","loaded_ms":1764072000100,"origin":"cached","tools":[{"name":"add","description":"Add two numbers."}],"guardrails":[],"error":null},{"name":"broken","path":"/srv/plugins/broken.wasm","hash":null,"loaded_ms":null,"origin":null,"tools":[],"guardrails":[],"error":"not a component"}],"sessions":1,"draining":false,"last_reload":{"outcome":"rejected","trigger":"api","time_ms":1764072005000,"errors":["agents.toml:3:9: unknown model `nope`"],"agents_added":[],"agents_removed":[],"agents_changed":[],"plugins_added":[],"plugins_removed":[],"plugins_changed":[],"models_added":[],"models_removed":[],"models_changed":[],"settings_changed":false,"plugins_failed":[]}}"#;

    #[test]
    fn status_round_trips() {
        let st: Status = same(STATUS);
        assert_eq!(st.plugins[0].short_hash(), Some("9f86d081884c"));
        assert_eq!(st.plugins[1].short_hash(), None);
        assert_eq!(st.last_reload.unwrap().outcome, "rejected");
    }

    #[test]
    fn replies_round_trip() {
        same::<SessionStarted>(r#"{"id":"s1-0a1b2c","agent":"concierge"}"#);
        same::<Closed>(r#"{"closed":true}"#);
        same::<Accepted>("{}");
        same::<AgentSet>(r#"{"agent":"billing"}"#);
        same::<Decided>(r#"{"session":"s1","call_id":"call_1","approved":false}"#);
        same::<ToolCallResult>(r#"{"ok":true,"output":"42","elapsed_us":1830}"#);
        same::<Vec<AgentSummary>>(
            r#"[{"name":"billing","model":"default","tools":[],"guardrails":[],"handoffs":[]}]"#,
        );
        let rows: Vec<SessionSummary> = same(
            r#"[{"id":"s1","closed":false,"status":{"id":"s1","agent":"concierge","model":"default","created_ms":1,"history_len":0,"pending_approvals":[],"running_tools":0,"usage":{"total_tokens":0,"input_tokens":0,"output_tokens":0},"responses":0,"last_seq":2,"dropped_audio_bytes":0}},{"id":"s2","closed":true,"status":null}]"#,
        );
        assert_eq!(rows[0].status.as_ref().map(|s| s.last_seq), Some(2));
    }

    #[test]
    fn a_short_hash_never_splits_a_character() {
        let p = PluginSummary {
            name: "p".into(),
            path: "p.wasm".into(),
            hash: Some("ééééééééééééééé".into()),
            loaded_ms: None,
            origin: None,
            tools: Vec::new(),
            guardrails: Vec::new(),
            error: None,
            compiling_ms: None,
            last_compile_ms: None,
        };
        assert_eq!(p.short_hash(), Some("éééééééééééé"));
        let p = PluginSummary {
            compiling_ms: Some(11_600),
            last_compile_ms: Some(9_200),
            ..p
        };
        assert_eq!(
            p.compiling_line().as_deref(),
            Some("compiling (12 s; last took 9 s)")
        );
    }
}

/// `POST /v1/drain`: the drain has started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Draining {
    /// Always true.
    pub draining: bool,
    /// Sessions live when the drain was asked for.
    pub sessions: usize,
    /// How long live calls may go on before they are closed, in seconds.
    pub timeout_s: u64,
}
