//! Procedural macros behind `agentd-plugin-sdk`; use them through that crate.
//!
//! `#[plugin]` reads an inline module, collects its `#[tool]` and
//! `#[guardrail]` functions, and appends to the module a `Plugin` unit struct
//! implementing `agentd_plugin_sdk::Plugin` (plain Rust dispatch, callable in
//! host-side tests) plus, on `wasm32` only, the wit-bindgen export glue.
//!
//! The expansion in steps, one module each: `collect` finds the marked
//! functions (and removes the markers), `tool` and `guardrail` check a
//! function's signature (with `signature` for what both share and `describe`
//! for its description) into a definition, `generate` turns the definitions
//! into code. Every problem found on the way is kept in `errors::Errors`, so
//! one build shows them all, each at its own span.

#![warn(missing_docs)]

mod collect;
mod describe;
mod errors;
mod generate;
mod guardrail;
mod signature;
#[cfg(test)]
mod test_support;
mod tool;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::Item;

use errors::Errors;

/// Turns an inline module into an agentd plugin: `#[tool]` functions become tools,
/// `#[guardrail]` functions become guardrails.
///
/// **Tools** are free functions with typed parameters:
/// - the name is the function's name; the description is its doc comment
///   (lines trimmed and joined, blank lines separating paragraphs) or
///   `#[tool(description = "...")]`, and one of the two is required;
/// - each parameter is a property of the arguments object, named after the
///   parameter; its type implements `Schema` and `serde::Deserialize`
///   (`&str`, `&[T]` and other `&T` are decoded as their owned form); an
///   `Option<T>` parameter may be left out; the schema is
///   `{"type":"object","properties":…,"required":[…],"additionalProperties":false}`;
/// - an optional last parameter `ctx: &CallContext` receives the caller;
/// - the return type implements `IntoToolOutput`.
///
/// **Guardrails** are `fn(subject: &Subject) -> Verdict` or `fn(text: &str) -> Verdict`
/// (the text is `Subject::text()`), optionally followed by `ctx: &CallContext`;
/// the description is the doc comment or `#[guardrail(description = "...")]`.
///
/// The macro adds to the module a unit struct `Plugin` implementing
/// `agentd_plugin_sdk::Plugin` (the dispatch, callable in host tests) and, on
/// `wasm32`, the component exports. Use it once per crate.
#[proc_macro_attribute]
pub fn plugin(
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand(attr.into(), item.into()).into()
}

/// The whole expansion; on errors, the module (markers removed) followed by the errors.
fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let Item::Mod(mut module) = item else {
        let error = syn::Error::new_spanned(
            &item,
            "#[plugin] must be placed on an inline module: `mod name { ... }`",
        )
        .to_compile_error();
        return quote!(#item #error);
    };
    let mut errors = Errors::default();
    if !attr.is_empty() {
        errors.push(syn::Error::new_spanned(
            &attr,
            "#[plugin] takes no arguments",
        ));
    }
    let generated = match collect::collect(&mut module, &mut errors) {
        Some(plugin) if errors.is_empty() => generate::generate(&plugin),
        _ => TokenStream::new(),
    };
    if let Some(error) = errors.combined() {
        let error = error.to_compile_error();
        return quote!(#module #error);
    }
    if let Some((_, items)) = &mut module.content {
        items.push(Item::Verbatim(generated));
    }
    module.into_token_stream()
}

#[cfg(test)]
mod tests {
    use crate::test_support::{errors, expand_str};

    #[test]
    fn expands_tools_and_guardrails() {
        let out = expand_str(
            "",
            r#"mod calc {
                /// Add two numbers.
                ///
                ///   Second paragraph,
                ///   continued.
                #[tool]
                pub fn add(a: f64, b: f64) -> f64 { a + b }
                #[tool(description = "Echo.")]
                fn echo(text: &str, ctx: &CallContext) -> String { text.to_owned() }
                /// Blocks things.
                #[guardrail]
                fn block(subject: &Subject) -> Verdict { Verdict::pass() }
            }"#,
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("\"Add two numbers.\\nSecond paragraph, continued.\""),
            "{out}"
        );
        assert!(out.contains("\"Echo.\""), "{out}");
        assert!(out.contains("pub struct Plugin"), "{out}");
        assert!(out.contains("__export_plugin"), "{out}");
        assert!(!out.contains("# [tool"), "{out}");
        assert!(!out.contains("# [guardrail"), "{out}");
    }

    #[test]
    fn rejects_non_module() {
        assert_eq!(
            errors("", "fn add(a: f64) -> f64 { a }"),
            ["#[plugin] must be placed on an inline module: `mod name { ... }`"]
        );
    }

    #[test]
    fn rejects_arguments() {
        assert_eq!(
            errors("debug", "mod m {}"),
            ["#[plugin] takes no arguments"]
        );
    }

    #[test]
    fn reports_every_error_and_keeps_the_module() {
        let out = expand_str(
            "",
            "mod m { #[tool] fn f() -> f64 { 1.0 } #[guardrail] fn g() -> Verdict { todo!() } }",
        );
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.contains("fn f"), "{out}");
        assert!(!out.contains("# [tool]"), "{out}");
    }
}
