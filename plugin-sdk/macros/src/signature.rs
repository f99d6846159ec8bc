//! What tools and guardrails share in their signatures: not async, not
//! generic, no `self`, a name the model API accepts (raw identifiers lose
//! their `r#`), a return type; and recognising `&CallContext`, `&Subject`
//! and `&str` parameters by their shape (types are not resolved in a macro).

use syn::{FnArg, Ident, ItemFn, ReturnType, Type};

use crate::collect::Marker;

/// Checks what tools and guardrails have in common and returns the exported name.
pub(crate) fn check_common(function: &ItemFn, marker: Marker) -> syn::Result<String> {
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

pub(crate) fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    match name.strip_prefix("r#") {
        Some(stripped) => stripped.to_owned(),
        None => name,
    }
}

/// `&CallContext` (any path ending in `CallContext`).
pub(crate) fn is_ctx(ty: &Type) -> bool {
    reference_to_path_ending(ty, "CallContext")
}

pub(crate) fn reference_to_path_ending(ty: &Type, last: &str) -> bool {
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

pub(crate) fn is_str_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => {
            reference.mutability.is_none()
                && matches!(&*reference.elem, Type::Path(p) if p.qself.is_none() && p.path.is_ident("str"))
        }
        _ => false,
    }
}

pub(crate) fn output_type(function: &ItemFn, message: &str) -> syn::Result<Type> {
    match &function.sig.output {
        ReturnType::Type(_, ty) => Ok((**ty).clone()),
        ReturnType::Default => Err(syn::Error::new_spanned(&function.sig, message)),
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{errors, expand_str};

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
    fn strips_raw_identifiers() {
        let out = expand_str(
            "",
            "mod m { /// D.\n #[tool] fn r#type(r#in: f64) -> f64 { r#in } }",
        );
        assert!(out.contains("\"type\""), "{out}");
        assert!(out.contains("\"in\""), "{out}");
    }
}
