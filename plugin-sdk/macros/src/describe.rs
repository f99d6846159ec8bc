//! A tool's or guardrail's description for the model: the marker's
//! `description = "..."` option, or else the function's doc comment, lines
//! trimmed and joined, blank lines separating paragraphs.

use syn::{Attribute, Expr, Lit, LitStr, Meta};

use crate::collect::Marker;

/// Options of `#[tool(...)]` / `#[guardrail(...)]`: only `description = "..."`.
pub(crate) fn marker_description(attr: &Attribute, marker: Marker) -> syn::Result<Option<String>> {
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
pub(crate) fn doc_comment(attrs: &[Attribute]) -> String {
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

#[cfg(test)]
mod tests {
    use crate::test_support::errors;

    #[test]
    fn rejects_unknown_options() {
        assert_eq!(
            errors("", "mod m { #[tool(name = \"x\")] fn f() -> f64 { 1.0 } }"),
            ["unknown #[tool] option; the only option is `description = \"...\"`"]
        );
    }
}
