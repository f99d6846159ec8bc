//! Procedural macros behind `agentd-plugin-sdk`; use them through that crate.
//!
//! `#[plugin]` reads an inline module, collects its `#[tool]` and
//! `#[guardrail]` functions, and appends to the module a `Plugin` unit struct
//! implementing `agentd_plugin_sdk::Plugin` (plain Rust dispatch, callable in
//! host-side tests) plus, on `wasm32` only, the wit-bindgen export glue.

#![warn(missing_docs)]

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, FnArg, Ident, ImplItem, Item, ItemFn, ItemMod, Lit, LitStr, Meta, Pat,
    ReturnType, Type,
};

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
    let generated = match collect(&mut module, &mut errors) {
        Some(plugin) if errors.is_empty() => generate(&plugin),
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

#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn combined(self) -> Option<syn::Error> {
        self.0
    }
}

/// What the module declares.
struct PluginDef {
    tools: Vec<Tool>,
    guardrails: Vec<Guardrail>,
}

struct Tool {
    ident: Ident,
    name: String,
    description: String,
    args: Vec<ToolArg>,
    takes_ctx: bool,
    output: Type,
}

struct ToolArg {
    name: String,
    /// The type decoded from JSON: the argument's type, or `<T as ToOwned>::Owned` for `&T`.
    decoded: TokenStream,
    /// For `&T` arguments: `T`, to borrow the decoded value back.
    borrowed: Option<Type>,
    span: Span,
}

enum GuardInput {
    Subject,
    Text,
}

struct Guardrail {
    ident: Ident,
    name: String,
    description: String,
    input: GuardInput,
    takes_ctx: bool,
    output: Type,
}

#[derive(Clone, Copy, PartialEq)]
enum Marker {
    Tool,
    Guardrail,
}

impl Marker {
    fn word(self) -> &'static str {
        match self {
            Marker::Tool => "tool",
            Marker::Guardrail => "guardrail",
        }
    }
}

fn marker_of(attr: &Attribute) -> Option<Marker> {
    if attr.path().is_ident("tool") {
        Some(Marker::Tool)
    } else if attr.path().is_ident("guardrail") {
        Some(Marker::Guardrail)
    } else {
        None
    }
}

/// Collects the tools and guardrails, removing the marker attributes from the module.
fn collect(module: &mut ItemMod, errors: &mut Errors) -> Option<PluginDef> {
    let Some((_, items)) = &mut module.content else {
        errors.push(syn::Error::new_spanned(
            &*module,
            "#[plugin] must be placed on an inline module (`mod name { ... }`), not on a module in another file",
        ));
        return None;
    };
    let mut def = PluginDef {
        tools: Vec::new(),
        guardrails: Vec::new(),
    };
    for item in items.iter_mut() {
        match item {
            Item::Fn(function) => {
                let mut markers = Vec::new();
                function.attrs.retain(|attr| match marker_of(attr) {
                    Some(marker) => {
                        markers.push((marker, attr.clone()));
                        false
                    }
                    None => true,
                });
                match markers.as_slice() {
                    [] => {}
                    [(Marker::Tool, attr)] => match tool(function, attr) {
                        Ok(tool) => def.tools.push(tool),
                        Err(e) => errors.push(e),
                    },
                    [(Marker::Guardrail, attr)] => match guardrail(function, attr) {
                        Ok(guardrail) => def.guardrails.push(guardrail),
                        Err(e) => errors.push(e),
                    },
                    [_, (_, second), ..] => errors.push(syn::Error::new_spanned(
                        second,
                        "a function can be marked only once: either #[tool] or #[guardrail]",
                    )),
                }
            }
            Item::Impl(block) => {
                for inner in &mut block.items {
                    if let ImplItem::Fn(method) = inner {
                        strip_misplaced(&mut method.attrs, errors);
                    }
                }
            }
            other => {
                if let Some(attrs) = item_attrs(other) {
                    strip_misplaced(attrs, errors);
                }
            }
        }
    }
    Some(def)
}

/// Reports (and removes) `#[tool]`/`#[guardrail]` where they cannot apply.
fn strip_misplaced(attrs: &mut Vec<Attribute>, errors: &mut Errors) {
    attrs.retain(|attr| match marker_of(attr) {
        Some(marker) => {
            errors.push(syn::Error::new_spanned(
                attr,
                format!(
                    "#[{}] goes on a free function directly inside the #[plugin] module",
                    marker.word()
                ),
            ));
            false
        }
        None => true,
    });
}

fn item_attrs(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    Some(match item {
        Item::Const(i) => &mut i.attrs,
        Item::Enum(i) => &mut i.attrs,
        Item::Mod(i) => &mut i.attrs,
        Item::Static(i) => &mut i.attrs,
        Item::Struct(i) => &mut i.attrs,
        Item::Trait(i) => &mut i.attrs,
        Item::Type(i) => &mut i.attrs,
        Item::Union(i) => &mut i.attrs,
        Item::Use(i) => &mut i.attrs,
        _ => return None,
    })
}

/// Options of `#[tool(...)]` / `#[guardrail(...)]`: only `description = "..."`.
fn marker_description(attr: &Attribute, marker: Marker) -> syn::Result<Option<String>> {
    match &attr.meta {
        Meta::Path(_) => Ok(None),
        Meta::NameValue(_) => Err(syn::Error::new_spanned(
            attr,
            format!(
                "write #[{0}] or #[{0}(description = \"...\")]",
                marker.word()
            ),
        )),
        Meta::List(_) => {
            let mut description = None;
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("description") {
                    let value: LitStr = meta.value()?.parse()?;
                    description = Some(value.value().trim().to_owned());
                    Ok(())
                } else {
                    Err(meta.error(format!(
                        "unknown #[{}] option; the only option is `description = \"...\"`",
                        marker.word()
                    )))
                }
            })?;
            Ok(description)
        }
    }
}

/// The doc comment: lines trimmed and joined with spaces; blank lines separate paragraphs.
fn doc_comment(attrs: &[Attribute]) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    for attr in attrs {
        let Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        if !nv.path.is_ident("doc") {
            continue;
        }
        let Expr::Lit(lit) = &nv.value else { continue };
        let Lit::Str(text) = &lit.lit else { continue };
        for line in text.value().split('\n') {
            let line = line.trim();
            if line.is_empty() {
                if !current.is_empty() {
                    paragraphs.push(std::mem::take(&mut current));
                }
            } else {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(line);
            }
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs.join("\n")
}

/// Checks what tools and guardrails have in common and returns the exported name.
fn check_common(function: &ItemFn, marker: Marker) -> syn::Result<String> {
    let sig = &function.sig;
    let what = marker.word();
    if let Some(token) = &sig.asyncness {
        return Err(syn::Error::new_spanned(
            token,
            format!("a {what} cannot be async: plugins run synchronously"),
        ));
    }
    if let Some(param) = sig
        .generics
        .params
        .iter()
        .find(|p| !matches!(p, syn::GenericParam::Lifetime(_)))
    {
        return Err(syn::Error::new_spanned(
            param,
            format!("a {what} cannot be generic"),
        ));
    }
    if let Some(receiver) = sig.inputs.iter().find_map(|arg| match arg {
        FnArg::Receiver(receiver) => Some(receiver),
        FnArg::Typed(_) => None,
    }) {
        return Err(syn::Error::new_spanned(
            receiver,
            format!("a {what} cannot take `self`: write a free function"),
        ));
    }
    let name = unraw(&sig.ident);
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            format!("a {what} name may only use ASCII letters, digits, `_` and `-`"),
        ));
    }
    if name.len() > 64 {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            format!("a {what} name may be at most 64 characters long"),
        ));
    }
    Ok(name)
}

fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    match name.strip_prefix("r#") {
        Some(stripped) => stripped.to_owned(),
        None => name,
    }
}

/// `&CallContext` (any path ending in `CallContext`).
fn is_ctx(ty: &Type) -> bool {
    reference_to_path_ending(ty, "CallContext")
}

fn reference_to_path_ending(ty: &Type, last: &str) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    if reference.mutability.is_some() {
        return false;
    }
    match &*reference.elem {
        Type::Path(path) => {
            path.qself.is_none() && path.path.segments.last().is_some_and(|s| s.ident == last)
        }
        _ => false,
    }
}

fn is_str_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => {
            reference.mutability.is_none()
                && matches!(&*reference.elem, Type::Path(p) if p.qself.is_none() && p.path.is_ident("str"))
        }
        _ => false,
    }
}

fn output_type(function: &ItemFn, message: &str) -> syn::Result<Type> {
    match &function.sig.output {
        ReturnType::Type(_, ty) => Ok((**ty).clone()),
        ReturnType::Default => Err(syn::Error::new_spanned(&function.sig, message)),
    }
}

fn tool(function: &ItemFn, attr: &Attribute) -> syn::Result<Tool> {
    let name = check_common(function, Marker::Tool)?;
    let description = match marker_description(attr, Marker::Tool)? {
        Some(description) => description,
        None => doc_comment(&function.attrs),
    };
    if description.is_empty() {
        return Err(syn::Error::new_spanned(
            &function.sig.ident,
            "a tool needs a description for the model: add a doc comment (`/// ...`) or #[tool(description = \"...\")]",
        ));
    }
    let count = function.sig.inputs.len();
    let mut args = Vec::new();
    let mut takes_ctx = false;
    for (index, input) in function.sig.inputs.iter().enumerate() {
        let FnArg::Typed(typed) = input else { continue };
        if is_ctx(&typed.ty) {
            if index + 1 != count {
                return Err(syn::Error::new_spanned(
                    typed,
                    "`&CallContext` must be the tool's last parameter",
                ));
            }
            takes_ctx = true;
            continue;
        }
        let arg_name = match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => unraw(&pat.ident),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "a tool parameter must be a plain name: it becomes the JSON property name",
                ));
            }
        };
        let (decoded, borrowed) = match &*typed.ty {
            Type::Reference(reference) => {
                if let Some(token) = &reference.mutability {
                    return Err(syn::Error::new_spanned(
                        token,
                        "a tool parameter cannot be `&mut`: take it by value",
                    ));
                }
                let inner = &*reference.elem;
                (
                    quote_spanned!(inner.span()=> <#inner as ::std::borrow::ToOwned>::Owned),
                    Some(inner.clone()),
                )
            }
            Type::ImplTrait(_) | Type::Infer(_) => {
                return Err(syn::Error::new_spanned(
                    &typed.ty,
                    "a tool parameter needs a concrete type: its JSON Schema is derived from it",
                ));
            }
            ty => (ty.to_token_stream(), None),
        };
        args.push(ToolArg {
            name: arg_name,
            decoded,
            borrowed,
            span: typed.ty.span(),
        });
    }
    let output = output_type(
        function,
        "a tool must return its output: String, &str, a number, bool, Json<T>, or Result<T, E> of one of these",
    )?;
    Ok(Tool {
        ident: function.sig.ident.clone(),
        name,
        description,
        args,
        takes_ctx,
        output,
    })
}

fn guardrail(function: &ItemFn, attr: &Attribute) -> syn::Result<Guardrail> {
    let name = check_common(function, Marker::Guardrail)?;
    let description = match marker_description(attr, Marker::Guardrail)? {
        Some(description) => description,
        None => doc_comment(&function.attrs),
    };
    const SIGNATURE: &str = "a guardrail's signature is `fn(subject: &Subject) -> Verdict` or `fn(text: &str) -> Verdict`, optionally followed by `ctx: &CallContext`";
    let inputs: Vec<&syn::PatType> = function
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let input = match inputs.first() {
        Some(first) if reference_to_path_ending(&first.ty, "Subject") => GuardInput::Subject,
        Some(first) if is_str_ref(&first.ty) => GuardInput::Text,
        Some(first) => return Err(syn::Error::new_spanned(&first.ty, SIGNATURE)),
        None => return Err(syn::Error::new_spanned(&function.sig, SIGNATURE)),
    };
    let takes_ctx = match inputs.get(1) {
        None => false,
        Some(second) if is_ctx(&second.ty) => true,
        Some(second) => return Err(syn::Error::new_spanned(&second.ty, SIGNATURE)),
    };
    if let Some(extra) = inputs.get(2) {
        return Err(syn::Error::new_spanned(extra, SIGNATURE));
    }
    let output = output_type(function, SIGNATURE)?;
    Ok(Guardrail {
        ident: function.sig.ident.clone(),
        name,
        description,
        input,
        takes_ctx,
        output,
    })
}

/// The `Plugin` struct, its `Plugin` impl, and the wasm32-only export glue.
fn generate(def: &PluginDef) -> TokenStream {
    let sdk = quote!(::agentd_plugin_sdk);
    // Mixed-site names cannot collide with the user's argument or function names.
    let name = Ident::new("name", Span::mixed_site());
    let arguments_json = Ident::new("arguments_json", Span::mixed_site());
    let ctx = Ident::new("ctx", Span::mixed_site());
    let subject = Ident::new("subject", Span::mixed_site());
    let args = Ident::new("args", Span::mixed_site());

    let tool_specs = def.tools.iter().map(|tool| {
        let tool_name = &tool.name;
        let description = &tool.description;
        let properties = tool.args.iter().map(|arg| {
            let arg_name = &arg.name;
            let decoded = &arg.decoded;
            quote_spanned!(arg.span=> .property::<#decoded>(#arg_name))
        });
        quote! {
            #sdk::ToolSpec {
                name: ::std::string::String::from(#tool_name),
                description: ::std::string::String::from(#description),
                parameters_schema: #sdk::ObjectSchema::new() #(#properties)* .build(),
            }
        }
    });

    let tool_arms = def.tools.iter().map(|tool| {
        let tool_name = &tool.name;
        let ident = &tool.ident;
        let names = tool.args.iter().map(|arg| &arg.name);
        let locals: Vec<Ident> = (0..tool.args.len())
            .map(|i| Ident::new(&format!("arg{i}"), Span::mixed_site()))
            .collect();
        let takes = tool.args.iter().zip(&locals).map(|(arg, local)| {
            let arg_name = &arg.name;
            let decoded = &arg.decoded;
            quote_spanned!(arg.span=> let #local = #args.take::<#decoded>(#arg_name)?;)
        });
        let mut passed: Vec<TokenStream> = tool
            .args
            .iter()
            .zip(&locals)
            .map(|(arg, local)| match &arg.borrowed {
                Some(inner) => quote_spanned!(arg.span=>
                    <<#inner as ::std::borrow::ToOwned>::Owned as ::std::borrow::Borrow<#inner>>::borrow(&#local)
                ),
                None => quote!(#local),
            })
            .collect();
        if tool.takes_ctx {
            passed.push(quote!(#ctx));
        }
        let output = &tool.output;
        let convert = quote_spanned!(output.span()=>
            <#output as #sdk::IntoToolOutput>::into_tool_output(self::#ident(#(#passed),*))
        );
        let mutability = if tool.args.is_empty() {
            quote!()
        } else {
            quote!(mut)
        };
        quote! {
            #tool_name => {
                let #mutability #args = #sdk::__private::Arguments::parse(#arguments_json, &[#(#names),*])?;
                #(#takes)*
                #convert
            }
        }
    });

    let guardrail_specs = def.guardrails.iter().map(|guardrail| {
        let guardrail_name = &guardrail.name;
        let description = &guardrail.description;
        quote! {
            #sdk::GuardrailSpec {
                name: ::std::string::String::from(#guardrail_name),
                description: ::std::string::String::from(#description),
            }
        }
    });

    let guardrail_arms = def.guardrails.iter().map(|guardrail| {
        let guardrail_name = &guardrail.name;
        let ident = &guardrail.ident;
        let mut passed = vec![match guardrail.input {
            GuardInput::Subject => quote!(#subject),
            GuardInput::Text => quote!(#sdk::Subject::text(#subject)),
        }];
        if guardrail.takes_ctx {
            passed.push(quote!(#ctx));
        }
        let output = &guardrail.output;
        let verdict = quote_spanned!(output.span()=> {
            let verdict: #sdk::Verdict = self::#ident(#(#passed),*);
            verdict
        });
        quote!(#guardrail_name => #verdict,)
    });

    quote! {
        /// This module as an agentd plugin; generated by `#[agentd_plugin_sdk::plugin]`.
        #[derive(Debug, Clone, Copy, Default)]
        pub struct Plugin;

        impl #sdk::Plugin for Plugin {
            fn describe_tools() -> ::std::vec::Vec<#sdk::ToolSpec> {
                ::std::vec![#(#tool_specs),*]
            }

            #[allow(unused_variables, unreachable_code)]
            fn call_tool(
                #name: &str,
                #arguments_json: &str,
                #ctx: &#sdk::CallContext,
            ) -> ::std::result::Result<::std::string::String, #sdk::ToolError> {
                match #name {
                    #(#tool_arms)*
                    _ => ::std::result::Result::Err(#sdk::ToolError::InvalidArguments(
                        ::std::format!("unknown tool `{}`", #name),
                    )),
                }
            }

            fn describe_guardrails() -> ::std::vec::Vec<#sdk::GuardrailSpec> {
                ::std::vec![#(#guardrail_specs),*]
            }

            #[allow(unused_variables, unreachable_code)]
            fn check(
                #name: &str,
                #subject: &#sdk::Subject,
                #ctx: &#sdk::CallContext,
            ) -> #sdk::Verdict {
                match #name {
                    #(#guardrail_arms)*
                    _ => #sdk::Verdict::trip(::std::format!("unknown guardrail `{}`", #name)),
                }
            }
        }

        // Outside wasm32 nothing exports `Plugin`; keep it (and so the tools) live anyway.
        const _: () = {
            let _ = Plugin;
        };

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type AgentdExports = #sdk::__private::Exports<Plugin>;
            #sdk::__private::bindings::__export_plugin!(AgentdExports);
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(attr: &str, item: &str) -> String {
        let attr: TokenStream = attr.parse().unwrap();
        let item: TokenStream = item.parse().unwrap();
        expand(attr, item).to_string()
    }

    /// The messages of the `compile_error!`s in an expansion.
    fn errors(attr: &str, item: &str) -> Vec<String> {
        let out = expand_str(attr, item);
        let mut found = Vec::new();
        let mut rest = out.as_str();
        while let Some(at) = rest.find("compile_error !") {
            rest = &rest[at..];
            let start = rest.find('"').unwrap() + 1;
            let end = start + rest[start..].find("\" }").unwrap();
            found.push(rest[start..end].replace("\\\"", "\"").replace("\\\\", "\\"));
            rest = &rest[end..];
        }
        found
    }

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
    fn rejects_non_inline_module() {
        assert_eq!(
            errors("", "mod calc;"),
            [
                "#[plugin] must be placed on an inline module (`mod name { ... }`), not on a module in another file"
            ]
        );
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
    fn rejects_self() {
        assert_eq!(
            errors(
                "",
                "mod m { /// D.\n #[tool] fn f(self, a: f64) -> f64 { a } }"
            ),
            ["a tool cannot take `self`: write a free function"]
        );
    }

    #[test]
    fn rejects_async_and_generic() {
        assert_eq!(
            errors("", "mod m { /// D.\n #[tool] async fn f() -> f64 { 1.0 } }"),
            ["a tool cannot be async: plugins run synchronously"]
        );
        assert_eq!(
            errors(
                "",
                "mod m { /// D.\n #[tool] fn f<T>(a: T) -> f64 { 1.0 } }"
            ),
            ["a tool cannot be generic"]
        );
    }

    #[test]
    fn rejects_missing_description_and_output() {
        assert_eq!(
            errors("", "mod m { #[tool] fn f() -> f64 { 1.0 } }"),
            [
                "a tool needs a description for the model: add a doc comment (`/// ...`) or #[tool(description = \"...\")]"
            ]
        );
        assert_eq!(
            errors("", "mod m { /// D.\n #[tool] fn f() {} }"),
            [
                "a tool must return its output: String, &str, a number, bool, Json<T>, or Result<T, E> of one of these"
            ]
        );
    }

    #[test]
    fn rejects_bad_parameters() {
        assert_eq!(
            errors(
                "",
                "mod m { /// D.\n #[tool] fn f((a, b): (f64, f64)) -> f64 { a } }"
            ),
            ["a tool parameter must be a plain name: it becomes the JSON property name"]
        );
        assert_eq!(
            errors(
                "",
                "mod m { /// D.\n #[tool] fn f(ctx: &CallContext, a: f64) -> f64 { a } }"
            ),
            ["`&CallContext` must be the tool's last parameter"]
        );
        assert_eq!(
            errors(
                "",
                "mod m { /// D.\n #[tool] fn f(a: &mut String) -> f64 { 1.0 } }"
            ),
            ["a tool parameter cannot be `&mut`: take it by value"]
        );
    }

    #[test]
    fn rejects_unknown_options() {
        assert_eq!(
            errors("", "mod m { #[tool(name = \"x\")] fn f() -> f64 { 1.0 } }"),
            ["unknown #[tool] option; the only option is `description = \"...\"`"]
        );
    }

    #[test]
    fn rejects_bad_guardrail_signatures() {
        let expected = "a guardrail's signature is `fn(subject: &Subject) -> Verdict` or `fn(text: &str) -> Verdict`, optionally followed by `ctx: &CallContext`";
        for item in [
            "mod m { #[guardrail] fn g(text: String) -> Verdict { todo!() } }",
            "mod m { #[guardrail] fn g() -> Verdict { todo!() } }",
            "mod m { #[guardrail] fn g(text: &str, n: u32) -> Verdict { todo!() } }",
            "mod m { #[guardrail] fn g(text: &str) { } }",
        ] {
            assert_eq!(errors("", item), [expected], "{item}");
        }
    }

    #[test]
    fn rejects_misplaced_markers() {
        assert_eq!(
            errors("", "mod m { #[tool] struct S; }"),
            ["#[tool] goes on a free function directly inside the #[plugin] module"]
        );
        assert_eq!(
            errors(
                "",
                "mod m { /// D.\n #[tool] #[guardrail] fn f(t: &str) -> f64 { 1.0 } }"
            ),
            ["a function can be marked only once: either #[tool] or #[guardrail]"]
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

    #[test]
    fn strips_raw_identifiers() {
        let out = expand_str(
            "",
            "mod m { /// D.\n #[tool] fn r#type(r#in: f64) -> f64 { r#in } }",
        );
        assert!(out.contains("\"type\""), "{out}");
        assert!(out.contains("\"in\""), "{out}");
    }
}
