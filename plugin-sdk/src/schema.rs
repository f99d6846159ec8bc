//! JSON Schema derivation for tool arguments.

use serde_json::{Map, Value, json};

/// A Rust type that has a JSON Schema, used to describe tool arguments to the model.
///
/// Implemented for `bool`, the integer and float types, `String`/`str`, `Vec<T>`/`[T]`,
/// `Option<T>`, `Box<T>`, references and [`serde_json::Value`]. Implement it for your
/// own argument types (usually with [`ObjectSchema`]); they must also implement
/// `serde::Deserialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a tool argument: it does not implement `agentd_plugin_sdk::Schema`",
    note = "implement `agentd_plugin_sdk::Schema` for it (see `ObjectSchema`), or use bool, a number, String, Vec<T>, Option<T> or serde_json::Value"
)]
pub trait Schema {
    /// Whether a property of this type may be left out of the arguments (only `Option<T>`).
    const OPTIONAL: bool = false;

    /// The JSON Schema of this type.
    fn schema() -> Value;
}

impl Schema for bool {
    fn schema() -> Value {
        json!({ "type": "boolean" })
    }
}

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl Schema for $t {
            fn schema() -> Value {
                json!({ "type": "integer" })
            }
        }
    )*};
}
signed!(i8, i16, i32, i64, i128, isize);

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Schema for $t {
            fn schema() -> Value {
                json!({ "type": "integer", "minimum": 0 })
            }
        }
    )*};
}
unsigned!(u8, u16, u32, u64, u128, usize);

impl Schema for f32 {
    fn schema() -> Value {
        json!({ "type": "number" })
    }
}

impl Schema for f64 {
    fn schema() -> Value {
        json!({ "type": "number" })
    }
}

impl Schema for str {
    fn schema() -> Value {
        json!({ "type": "string" })
    }
}

impl Schema for String {
    fn schema() -> Value {
        str::schema()
    }
}

impl<T: Schema> Schema for [T] {
    fn schema() -> Value {
        json!({ "type": "array", "items": T::schema() })
    }
}

impl<T: Schema> Schema for Vec<T> {
    fn schema() -> Value {
        <[T]>::schema()
    }
}

impl<T: Schema> Schema for Option<T> {
    const OPTIONAL: bool = true;

    fn schema() -> Value {
        T::schema()
    }
}

impl<T: Schema + ?Sized> Schema for Box<T> {
    const OPTIONAL: bool = T::OPTIONAL;

    fn schema() -> Value {
        T::schema()
    }
}

impl<T: Schema + ?Sized> Schema for &T {
    const OPTIONAL: bool = T::OPTIONAL;

    fn schema() -> Value {
        T::schema()
    }
}

impl Schema for Value {
    fn schema() -> Value {
        json!({})
    }
}

/// Builds the schema of a JSON object: one property per field, closed to other properties.
///
/// ```
/// use agentd_plugin_sdk::{ObjectSchema, Schema};
///
/// let schema = ObjectSchema::new()
///     .property::<f64>("x")
///     .property::<Option<String>>("label")
///     .build();
/// assert_eq!(schema["required"], serde_json::json!(["x"]));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ObjectSchema {
    properties: Map<String, Value>,
    required: Vec<Value>,
}

impl ObjectSchema {
    /// An object schema with no properties yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds property `name` of type `T`; it is required unless `T` is an `Option`.
    pub fn property<T: Schema + ?Sized>(mut self, name: &str) -> Self {
        self.properties.insert(name.to_owned(), T::schema());
        if !T::OPTIONAL {
            self.required.push(Value::String(name.to_owned()));
        }
        self
    }

    /// The schema: `{"type":"object","properties":…,"required":[…],"additionalProperties":false}`.
    pub fn build(self) -> Value {
        json!({
            "type": "object",
            "properties": self.properties,
            "required": self.required,
            "additionalProperties": false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(bool::schema(), json!({"type": "boolean"}));
        assert_eq!(i8::schema(), json!({"type": "integer"}));
        assert_eq!(i64::schema(), json!({"type": "integer"}));
        assert_eq!(isize::schema(), json!({"type": "integer"}));
        assert_eq!(u8::schema(), json!({"type": "integer", "minimum": 0}));
        assert_eq!(u64::schema(), json!({"type": "integer", "minimum": 0}));
        assert_eq!(usize::schema(), json!({"type": "integer", "minimum": 0}));
        assert_eq!(f32::schema(), json!({"type": "number"}));
        assert_eq!(f64::schema(), json!({"type": "number"}));
        assert_eq!(String::schema(), json!({"type": "string"}));
        assert_eq!(<&str>::schema(), json!({"type": "string"}));
        assert_eq!(Value::schema(), json!({}));
    }

    #[test]
    fn containers() {
        assert_eq!(
            Vec::<u32>::schema(),
            json!({"type": "array", "items": {"type": "integer", "minimum": 0}})
        );
        assert_eq!(
            Vec::<Vec<String>>::schema(),
            json!({"type": "array", "items": {"type": "array", "items": {"type": "string"}}})
        );
        assert_eq!(Option::<f64>::schema(), json!({"type": "number"}));
        let optional = [
            <Option<f64>>::OPTIONAL,
            <f64>::OPTIONAL,
            <&Option<String>>::OPTIONAL,
            <Vec<Option<u8>>>::OPTIONAL,
        ];
        assert_eq!(optional, [true, false, true, false]);
    }

    #[test]
    fn object_schema_exact_text() {
        let schema = ObjectSchema::new()
            .property::<f64>("a")
            .property::<Option<String>>("note")
            .property::<Vec<bool>>("flags")
            .build();
        // serde_json keeps object keys sorted.
        assert_eq!(
            schema.to_string(),
            concat!(
                r#"{"additionalProperties":false,"#,
                r#""properties":{"a":{"type":"number"},"flags":{"items":{"type":"boolean"},"type":"array"},"note":{"type":"string"}},"#,
                r#""required":["a","flags"],"type":"object"}"#
            )
        );
    }

    #[test]
    fn empty_object_schema() {
        assert_eq!(
            ObjectSchema::new().build(),
            json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false})
        );
    }
}
