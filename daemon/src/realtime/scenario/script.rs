//! A scenario script: its grammar (see the parent module), loading from
//! `.json` / `.jsonl`, checking every step with the place of a bad one, and
//! the template language of emitted events (`{{var}}`, `"{{#var}}"`,
//! `{"$pcm16_b64": N}`) and of expected-event matches (dotted paths).
//!
//! Everything here is pure: the server (`server`) owns the sockets, the
//! clocks and the variables captured while playing.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Why a scenario could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario {what}: {reason}")]
    Invalid { what: String, reason: String },
}

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        what: what.into(),
        reason: reason.into(),
    }
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub(super) vars: Map<String, Value>,
    pub(super) timeout: Duration,
    pub(super) expect_timeout: Duration,
    pub(super) connections: Vec<Vec<Step>>,
}

#[derive(Debug, Clone)]
pub(super) enum Step {
    Emit(String),
    Expect(Expect),
    Loop {
        values: LoopValues,
        var: String,
        steps: Vec<Step>,
        until: Option<Matcher>,
    },
    Sleep(Value),
    Close(u16, String),
    Drop,
}

#[derive(Debug, Clone)]
pub(super) enum LoopValues {
    Count(Value),
    List(Vec<Value>),
}

#[derive(Debug, Clone)]
pub(super) struct Matcher {
    pub kind: Option<String>,
    pub fields: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
pub(super) struct Expect {
    pub matcher: Matcher,
    pub timeout: Option<Duration>,
    pub optional: bool,
    pub capture: Vec<(String, String)>,
    pub defaults: Map<String, Value>,
}

impl Scenario {
    /// Read a `.json` scenario, or a `.jsonl` file of steps.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "jsonl") {
            let mut steps = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line)
                    .map_err(|e| invalid(format!("{}:{}", path.display(), n + 1), e.to_string()))?;
                steps.push(v);
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Scenario::from_value(&json!({"name": name, "steps": steps}));
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| invalid(path.display().to_string(), e.to_string()))?;
        Scenario::from_value(&v)
    }

    /// Build from the JSON document.
    pub fn from_value(v: &Value) -> Result<Scenario, ScenarioError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("file", "must be a JSON object"))?;
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("scenario")
            .to_string();
        let secs = |k: &str, default: f64| -> Result<Duration, ScenarioError> {
            match obj.get(k) {
                None => Ok(Duration::from_secs_f64(default)),
                Some(v) => v
                    .as_f64()
                    .filter(|s| *s > 0.0 && *s < 86_400.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| invalid(k, "must be a positive number of seconds")),
            }
        };
        let connections = match (obj.get("steps"), obj.get("connections")) {
            (Some(steps), None) => vec![parse_steps(steps, "steps")?],
            (None, Some(Value::Array(conns))) if !conns.is_empty() => conns
                .iter()
                .enumerate()
                .map(|(i, s)| parse_steps(s, &format!("connections[{i}]")))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(invalid(
                    "file",
                    "needs `steps` or a non-empty `connections` (not both)",
                ));
            }
        };
        Ok(Scenario {
            name,
            vars: obj
                .get("vars")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            timeout: secs("timeout_s", 300.0)?,
            expect_timeout: secs("expect_timeout_s", 30.0)?,
            connections,
        })
    }

    /// Override a scenario variable (like the peer server's `--var k=v`).
    pub fn with_var(mut self, name: &str, value: Value) -> Scenario {
        self.vars.insert(name.to_string(), value);
        self
    }
}

fn parse_steps(v: &Value, at: &str) -> Result<Vec<Step>, ScenarioError> {
    let list = v
        .as_array()
        .ok_or_else(|| invalid(at, "must be a list of steps"))?;
    list.iter()
        .enumerate()
        .map(|(i, s)| parse_step(s, &format!("{at}[{i}]")))
        .collect()
}

fn parse_matcher(
    kind: Option<&Value>,
    fields: Option<&Value>,
    at: &str,
) -> Result<Matcher, ScenarioError> {
    let kind = match kind {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid(at, "an event type must be a string")),
    };
    let fields = match fields {
        None => Vec::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => return Err(invalid(at, "`match` must be an object of dotted paths")),
    };
    Ok(Matcher { kind, fields })
}

fn parse_step(v: &Value, at: &str) -> Result<Step, ScenarioError> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(at, "a step must be an object"))?;
    if let Some(ev) = obj.get("emit") {
        let mut ev = resolve_macros(ev);
        let map = ev
            .as_object_mut()
            .ok_or_else(|| invalid(at, "`emit` must be an event object"))?;
        if !map.get("type").is_some_and(Value::is_string) {
            return Err(invalid(at, "an emitted event needs a string `type`"));
        }
        map.entry("event_id").or_insert_with(|| json!("{{_eid}}"));
        return Ok(Step::Emit(ev.to_string()));
    }
    if let Some(kind) = obj.get("expect") {
        let capture = match obj.get("capture") {
            None => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        v.as_str()
                            .ok_or_else(|| invalid(at, "capture paths are strings"))?
                            .to_string(),
                    ))
                })
                .collect::<Result<_, ScenarioError>>()?,
            Some(_) => return Err(invalid(at, "`capture` must be an object")),
        };
        let timeout = match obj.get("timeout_s") {
            None => None,
            Some(t) => Some(
                t.as_f64()
                    .filter(|s| *s >= 0.0 && *s < 86_400.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| invalid(at, "`timeout_s` must be a number of seconds"))?,
            ),
        };
        return Ok(Step::Expect(Expect {
            matcher: parse_matcher(Some(kind), obj.get("match"), at)?,
            timeout,
            optional: obj
                .get("optional")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            capture,
            defaults: obj
                .get("defaults")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }));
    }
    if obj.contains_key("repeat") || obj.contains_key("foreach") {
        let values = match (obj.get("repeat"), obj.get("foreach")) {
            (Some(n), None) => LoopValues::Count(n.clone()),
            (None, Some(Value::Array(list))) => LoopValues::List(list.clone()),
            _ => return Err(invalid(at, "use one of `repeat: N` or `foreach: [..]`")),
        };
        let until = match obj.get("until") {
            None => None,
            Some(u) => Some(parse_matcher(u.get("type"), u.get("match"), at)?),
        };
        return Ok(Step::Loop {
            values,
            var: obj
                .get("var")
                .and_then(Value::as_str)
                .unwrap_or("i")
                .to_string(),
            steps: parse_steps(
                obj.get("steps").unwrap_or(&Value::Null),
                &format!("{at}.steps"),
            )?,
            until,
        });
    }
    if let Some(d) = obj.get("sleep") {
        return Ok(Step::Sleep(d.clone()));
    }
    if let Some(c) = obj.get("close") {
        let code = c.get("code").and_then(Value::as_u64).unwrap_or(1000);
        let reason = c
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("scenario end");
        return Ok(Step::Close(code as u16, reason.to_string()));
    }
    if obj.get("drop").is_some_and(|d| d == &Value::Bool(true)) {
        return Ok(Step::Drop);
    }
    Err(invalid(at, format!("unknown step {v}")))
}

/// `{"$pcm16_b64": N}` → base64 of N bytes of a deterministic 440 Hz PCM16 tone.
fn resolve_macros(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("$pcm16_b64") => {
            let n = m["$pcm16_b64"].as_u64().unwrap_or(0) as usize;
            Value::String(base64::engine::general_purpose::STANDARD.encode(pcm16(n)))
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve_macros(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(resolve_macros).collect()),
        other => other.clone(),
    }
}

fn pcm16(nbytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(nbytes);
    for n in 0..nbytes / 2 {
        let s = (8000.0 * (std::f64::consts::TAU * 440.0 * n as f64 / 24_000.0).sin()) as i16;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.resize(nbytes, 0);
    out
}

/// Substitute `"{{#var}}"` (the raw JSON value) and `{{var}}` (a string's
/// JSON-escaped text, or a number) in serialized JSON.
pub(super) fn render(text: &str, env: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let raw = i > 0 && rest[..i].ends_with('"') && rest[i + 2..].starts_with('#');
        let start = if raw { i + 3 } else { i + 2 };
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let name = &rest[start..start + len];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push_str(&rest[..i + 2]);
            rest = &rest[i + 2..];
            continue;
        }
        let value = env
            .get(name)
            .ok_or_else(|| format!("unbound placeholder {{{{{name}}}}}"))?;
        let end = start + len + 2;
        if raw && rest[end..].starts_with('"') {
            out.push_str(&rest[..i - 1]);
            out.push_str(&value.to_string());
            rest = &rest[end + 1..];
        } else {
            out.push_str(&rest[..i]);
            match value {
                Value::String(s) => {
                    let quoted = Value::String(s.clone()).to_string();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
                other => out.push_str(&other.to_string()),
            }
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

pub(super) fn substitute(v: &Value, env: &Map<String, Value>) -> Result<Value, String> {
    match v {
        Value::String(s) if s.contains("{{") => {
            let quoted = render(&Value::String(s.clone()).to_string(), env)?;
            serde_json::from_str(&quoted).map_err(|e| e.to_string())
        }
        other => Ok(other.clone()),
    }
}

pub(super) fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, part| match cur {
        Value::Object(m) => m.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

impl Matcher {
    pub fn matches(&self, ev: &Value, env: &Map<String, Value>) -> bool {
        if let Some(kind) = &self.kind
            && ev.get("type").and_then(Value::as_str) != Some(kind)
        {
            return false;
        }
        self.fields.iter().all(|(path, want)| {
            let want = substitute(want, env).unwrap_or_else(|_| want.clone());
            // A placeholder renders to text; compare text to text when the event holds a number.
            match (get_path(ev, path), &want) {
                (Some(Value::Number(n)), Value::String(s)) => n.to_string() == *s,
                (got, want) => got.unwrap_or(&Value::Null) == want,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render_as_the_peer_server_does() {
        let mut env = Map::new();
        env.insert("i".into(), json!(3));
        env.insert("s".into(), json!("a \"q\""));
        env.insert("n".into(), json!({"x": 1}));
        let t = json!({"id": "call_{{i}}", "text": "{{s}}", "raw": "{{#n}}", "keep": "{{ not a var }}"}).to_string();
        let out: Value = serde_json::from_str(&render(&t, &env).unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"id": "call_3", "text": "a \"q\"", "raw": {"x": 1}, "keep": "{{ not a var }}"})
        );
        assert!(render("{{missing}}", &env).is_err());
    }

    #[test]
    fn steps_parse_and_bad_steps_name_their_place() {
        let s = Scenario::from_value(&json!({"steps": [
            {"emit": {"type": "session.created", "session": {}}},
            {"expect": "session.update", "match": {"session.type": "realtime"}},
            {"repeat": "{{n}}", "var": "i", "steps": [{"sleep": 0}]},
            {"emit": {"type": "response.output_audio.delta", "delta": {"$pcm16_b64": 6}}},
            {"drop": true}
        ], "vars": {"n": 2}}))
        .unwrap();
        assert_eq!(s.connections[0].len(), 5);
        match &s.connections[0][3] {
            Step::Emit(t) => {
                let v: Value = serde_json::from_str(t).unwrap();
                let audio = base64::engine::general_purpose::STANDARD
                    .decode(v["delta"].as_str().unwrap())
                    .unwrap();
                assert_eq!(audio.len(), 6);
                assert_eq!(v["event_id"], "{{_eid}}");
            }
            other => panic!("{other:?}"),
        }
        let e = Scenario::from_value(&json!({"steps": [{"emit": {"type": "x"}}, {"wait": 1}]}))
            .unwrap_err();
        assert!(e.to_string().contains("steps[1]"), "{e}");
    }

    #[test]
    fn matches_compare_dotted_paths_after_substitution() {
        let m = Matcher {
            kind: Some("conversation.item.create".into()),
            fields: vec![
                ("item.call_id".into(), json!("call_{{i}}")),
                ("item.content.0.text".into(), json!("hi")),
            ],
        };
        let mut env = Map::new();
        env.insert("i".into(), json!(7));
        let ev = json!({"type": "conversation.item.create", "item": {"call_id": "call_7", "content": [{"text": "hi"}]}});
        assert!(m.matches(&ev, &env));
        env.insert("i".into(), json!(8));
        assert!(!m.matches(&ev, &env));
    }
}
