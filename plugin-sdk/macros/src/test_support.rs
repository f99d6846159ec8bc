//! Test helpers: expand a snippet and read the expansion or its errors.

use proc_macro2::TokenStream;

use crate::expand;

pub(crate) fn expand_str(attr: &str, item: &str) -> String {
    let attr: TokenStream = attr.parse().unwrap();
    let item: TokenStream = item.parse().unwrap();
    expand(attr, item).to_string()
}

/// The messages of the `compile_error!`s in an expansion.
pub(crate) fn errors(attr: &str, item: &str) -> Vec<String> {
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
