//! The code `#[plugin]` generates, exercised on the host through the `Plugin` trait.

use agentd_plugin_sdk::{
    CallContext, GuardrailSpec, Json, ObjectSchema, Plugin as _, Schema, Subject, ToolError,
    Verdict,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A user-defined argument type.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    x: f64,
    y: f64,
}

impl Schema for Point {
    fn schema() -> Value {
        ObjectSchema::new()
            .property::<f64>("x")
            .property::<f64>("y")
            .build()
    }
}

#[agentd_plugin_sdk::plugin]
mod sample {
    use super::Point;
    use agentd_plugin_sdk::{CallContext, Json, Subject, ToolError, Verdict};

    /// Add two numbers.
    #[tool]
    pub fn add(a: f64, b: f64) -> f64 {
        a + b
    }

    /// Divide `a` by `b`.
    ///
    /// Fails when `b` is zero.
    #[tool]
    pub fn divide(a: f64, b: f64) -> Result<f64, String> {
        if b == 0.0 {
            Err("division by zero".to_owned())
        } else {
            Ok(a / b)
        }
    }

    /// Greet someone.
    #[tool(description = "Say hello.")]
    fn greet(name: &str, times: Option<u32>, ctx: &CallContext) -> String {
        let times = times.unwrap_or(1) as usize;
        format!(
            "{} from {}",
            vec![format!("hello {name}"); times].join(", "),
            ctx.agent
        )
    }

    /// Mirror a point and list things.
    #[tool]
    fn shapes(point: Point, tags: Vec<String>, extra: Option<serde_json::Value>) -> Json<Point> {
        let _ = (tags, extra);
        Json(Point {
            x: -point.x,
            y: -point.y,
        })
    }

    /// No arguments at all.
    #[tool]
    fn ping() -> &'static str {
        "pong"
    }

    /// Raw identifiers lose their `r#`.
    #[tool]
    fn r#match(r#type: bool, slice: &[u8]) -> Result<usize, ToolError> {
        if r#type {
            Ok(slice.len())
        } else {
            Err(ToolError::InvalidArguments("type must be true".to_owned()))
        }
    }

    /// Trips on "stop".
    #[guardrail]
    fn stopper(subject: &Subject) -> Verdict {
        match subject {
            Subject::ToolCall { tool, .. } if tool == "ping" => Verdict::trip("no pinging"),
            other if other.text().contains("stop") => Verdict::trip("said stop"),
            _ => Verdict::pass(),
        }
    }

    /// Trips on long text.
    #[guardrail]
    fn too_long(text: &str, ctx: &CallContext) -> Verdict {
        if text.len() > 10 {
            Verdict::trip(format!("too long for {}", ctx.agent))
        } else {
            Verdict::pass()
        }
    }

    /// Not a tool: plain helpers stay untouched.
    pub fn helper() -> u8 {
        7
    }
}

#[agentd_plugin_sdk::plugin]
mod guards_only {
    use agentd_plugin_sdk::Verdict;

    /// Always passes.
    #[guardrail]
    pub fn open(_text: &str) -> Verdict {
        Verdict::pass()
    }

    /// Cannot judge empty text (contract 0.2: an error, which the host trips on).
    #[guardrail]
    pub fn strict(text: &str) -> Result<Verdict, String> {
        if text.is_empty() {
            Err("nothing to judge".into())
        } else {
            Ok(Verdict::pass())
        }
    }
}

#[agentd_plugin_sdk::plugin]
mod tools_only {
    /// Always one.
    #[tool]
    pub fn one() -> i32 {
        1
    }
}

fn ctx() -> CallContext {
    CallContext {
        session_id: "s1".into(),
        agent: "tester".into(),
        call_id: "c1".into(),
    }
}

fn call(name: &str, args: &str) -> Result<String, ToolError> {
    sample::Plugin::call_tool(name, args, &ctx())
}

fn invalid(name: &str, args: &str) -> String {
    match call(name, args) {
        Err(ToolError::InvalidArguments(message)) => message,
        other => panic!("expected invalid-arguments, got {other:?}"),
    }
}

#[test]
fn describes_tools_in_source_order_with_derived_schemas() {
    let tools = sample::Plugin::describe_tools();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["add", "divide", "greet", "shapes", "ping", "match"]);

    assert_eq!(tools[0].description, "Add two numbers.");
    assert_eq!(
        tools[0].parameters_schema.to_string(),
        r#"{"additionalProperties":false,"properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"],"type":"object"}"#
    );
    assert_eq!(
        tools[1].description,
        "Divide `a` by `b`.\nFails when `b` is zero."
    );
    assert_eq!(tools[2].description, "Say hello.");
    assert_eq!(
        tools[2].parameters_schema,
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "times": {"type": "integer", "minimum": 0},
            },
            "required": ["name"],
            "additionalProperties": false,
        })
    );
    assert_eq!(
        tools[3].parameters_schema,
        json!({
            "type": "object",
            "properties": {
                "point": {
                    "type": "object",
                    "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                    "required": ["x", "y"],
                    "additionalProperties": false,
                },
                "tags": {"type": "array", "items": {"type": "string"}},
                "extra": {},
            },
            "required": ["point", "tags"],
            "additionalProperties": false,
        })
    );
    assert_eq!(
        tools[4].parameters_schema,
        json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false})
    );
    assert_eq!(
        tools[5].parameters_schema,
        json!({
            "type": "object",
            "properties": {
                "type": {"type": "boolean"},
                "slice": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            },
            "required": ["type", "slice"],
            "additionalProperties": false,
        })
    );
}

#[test]
fn calls_tools() {
    assert_eq!(call("add", r#"{"a": 2, "b": 3}"#), Ok("5".to_owned()));
    assert_eq!(
        call("add", r#"{"a": 0.5, "b": 0.25}"#),
        Ok("0.75".to_owned())
    );
    assert_eq!(call("divide", r#"{"a": 1, "b": 4}"#), Ok("0.25".to_owned()));
    assert_eq!(
        call("greet", r#"{"name": "Ann"}"#),
        Ok("hello Ann from tester".to_owned())
    );
    assert_eq!(
        call("greet", r#"{"name": "Bo", "times": 2}"#),
        Ok("hello Bo, hello Bo from tester".to_owned())
    );
    assert_eq!(
        call("shapes", r#"{"point": {"x": 1, "y": -2}, "tags": []}"#),
        Ok(r#"{"x":-1.0,"y":2.0}"#.to_owned())
    );
    assert_eq!(call("ping", ""), Ok("pong".to_owned()));
    assert_eq!(call("ping", "{}"), Ok("pong".to_owned()));
    assert_eq!(
        call("match", r#"{"type": true, "slice": [1, 2, 3]}"#),
        Ok("3".to_owned())
    );
    assert_eq!(sample::helper(), 7);
    assert_eq!(
        tools_only::Plugin::call_tool("one", "", &ctx()),
        Ok("1".to_owned())
    );
}

#[test]
fn tool_errors() {
    assert_eq!(
        call("divide", r#"{"a": 1, "b": 0}"#),
        Err(ToolError::Failed("division by zero".to_owned()))
    );
    assert_eq!(
        call("match", r#"{"type": false, "slice": []}"#),
        Err(ToolError::InvalidArguments("type must be true".to_owned()))
    );
}

#[test]
fn argument_decoding_errors_name_the_field() {
    assert_eq!(invalid("add", r#"{"a": 2}"#), "missing field `b`");
    assert_eq!(
        invalid("add", r#"{"a": 2, "b": 3, "c": 4}"#),
        "unknown field `c`, expected `a` or `b`"
    );
    assert_eq!(
        invalid("add", r#"{"a": "2", "b": 3}"#),
        "field `a`: invalid type: string \"2\", expected f64"
    );
    assert_eq!(
        invalid("greet", r#"{"name": "x", "times": -1}"#),
        "field `times`: invalid value: integer `-1`, expected u32"
    );
    assert_eq!(
        invalid("shapes", r#"{"point": {"x": 1}, "tags": []}"#),
        "field `point`: missing field `y`"
    );
    assert_eq!(
        invalid("shapes", r#"{"point": {"x": 1, "y": 2}, "tags": "a"}"#),
        "field `tags`: invalid type: string \"a\", expected a sequence"
    );
    assert_eq!(
        invalid("ping", r#"{"x": 1}"#),
        "unknown field `x`, there are no fields"
    );
    assert_eq!(
        invalid("add", "[1, 2]"),
        "the arguments must be a JSON object, not an array"
    );
    assert_eq!(
        invalid("add", "{"),
        "the arguments are not valid JSON: EOF while parsing an object at line 1 column 1"
    );
    assert_eq!(invalid("nope", "{}"), "unknown tool `nope`");
}

#[test]
fn describes_and_checks_guardrails() {
    assert_eq!(
        sample::Plugin::describe_guardrails(),
        [
            GuardrailSpec {
                name: "stopper".into(),
                description: "Trips on \"stop\".".into()
            },
            GuardrailSpec {
                name: "too_long".into(),
                description: "Trips on long text.".into()
            },
        ]
    );
    let c = ctx();
    let check = |name: &str, subject: Subject| sample::Plugin::check(name, &subject, &c);
    assert_eq!(
        check("stopper", Subject::InputText("go".into())),
        Ok(Verdict::pass())
    );
    assert_eq!(
        check("stopper", Subject::OutputText("please stop".into())),
        Ok(Verdict::trip("said stop"))
    );
    assert_eq!(
        check(
            "stopper",
            Subject::ToolCall {
                tool: "ping".into(),
                arguments_json: "{}".into()
            }
        ),
        Ok(Verdict::trip("no pinging"))
    );
    assert_eq!(
        check(
            "too_long",
            Subject::ToolCall {
                tool: "add".into(),
                arguments_json: r#"{"a":1,"b":2}"#.into()
            }
        ),
        Ok(Verdict::trip("too long for tester"))
    );
    assert_eq!(
        check("too_long", Subject::InputText("short".into())),
        Ok(Verdict::pass())
    );
    assert_eq!(
        check("missing", Subject::InputText("x".into())),
        Err("unknown guardrail `missing`".to_string())
    );
}

#[test]
fn one_sided_plugins_export_empty_lists() {
    assert!(guards_only::Plugin::describe_tools().is_empty());
    assert_eq!(
        guards_only::Plugin::call_tool("open", "{}", &ctx()),
        Err(ToolError::InvalidArguments("unknown tool `open`".into()))
    );
    assert_eq!(guards_only::Plugin::describe_guardrails().len(), 2);
    let check =
        |text: &str| guards_only::Plugin::check("strict", &Subject::InputText(text.into()), &ctx());
    assert_eq!(check(""), Err("nothing to judge".to_string()));
    assert_eq!(check("x"), Ok(Verdict::pass()));
    assert!(tools_only::Plugin::describe_guardrails().is_empty());
    assert!(tools_only::Plugin::check("one", &Subject::InputText(String::new()), &ctx()).is_err());
}

#[test]
fn json_output_of_user_types() {
    use agentd_plugin_sdk::IntoToolOutput;
    assert_eq!(
        Json(Point { x: 1.5, y: 2.0 }).into_tool_output(),
        Ok(r#"{"x":1.5,"y":2.0}"#.to_owned())
    );
}
