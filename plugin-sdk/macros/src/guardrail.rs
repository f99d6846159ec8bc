//! A `#[guardrail]` function into a [`Guardrail`]: it takes the whole
//! `&Subject` or just its text (`&str`), optionally then `&CallContext`, and
//! returns a `Verdict` or a `Result<Verdict, E: Display>` (an error trips).

use syn::{Attribute, FnArg, Ident, ItemFn, Type};

use crate::collect::Marker;
use crate::describe::{doc_comment, marker_description};
use crate::signature::{check_common, is_ctx, is_str_ref, output_type, reference_to_path_ending};

pub(crate) enum GuardInput {
    Subject,
    Text,
}

pub(crate) struct Guardrail {
    pub(crate) ident: Ident,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) input: GuardInput,
    pub(crate) takes_ctx: bool,
    pub(crate) output: Type,
}

pub(crate) fn guardrail(function: &ItemFn, attr: &Attribute) -> syn::Result<Guardrail> {
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

#[cfg(test)]
mod tests {
    use crate::test_support::errors;

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
}
