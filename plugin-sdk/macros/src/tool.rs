//! A `#[tool]` function into a [`Tool`]: its description, its parameters
//! (each a JSON property named after it; `&T` decoded as `T`'s owned form
//! and borrowed back), an optional last `&CallContext`, and its output type.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ItemFn, Pat, Type};

use crate::collect::Marker;
use crate::describe::{doc_comment, marker_description};
use crate::signature::{check_common, is_ctx, output_type, unraw};

pub(crate) struct Tool {
    pub(crate) ident: Ident,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) args: Vec<ToolArg>,
    pub(crate) takes_ctx: bool,
    pub(crate) output: Type,
}

pub(crate) struct ToolArg {
    pub(crate) name: String,
    /// The type decoded from JSON: the argument's type, or `<T as ToOwned>::Owned` for `&T`.
    pub(crate) decoded: TokenStream,
    /// For `&T` arguments: `T`, to borrow the decoded value back.
    pub(crate) borrowed: Option<Type>,
    pub(crate) span: Span,
}

pub(crate) fn tool(function: &ItemFn, attr: &Attribute) -> syn::Result<Tool> {
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

#[cfg(test)]
mod tests {
    use crate::test_support::errors;

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
}
