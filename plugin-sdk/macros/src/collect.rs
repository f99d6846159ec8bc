//! Finds the `#[tool]` and `#[guardrail]` functions of the module and removes
//! the markers, so the module compiles as written even when the expansion
//! fails. A marker anywhere but on a free function directly in the module
//! (a method, a struct, a nested item) is an error, as is a second marker.

use syn::{Attribute, ImplItem, Item, ItemMod};

use crate::errors::Errors;
use crate::guardrail::{Guardrail, guardrail};
use crate::tool::{Tool, tool};

/// What the module declares.
pub(crate) struct PluginDef {
    pub(crate) tools: Vec<Tool>,
    pub(crate) guardrails: Vec<Guardrail>,
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Marker {
    Tool,
    Guardrail,
}

impl Marker {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Marker::Tool => "tool",
            Marker::Guardrail => "guardrail",
        }
    }
}

pub(crate) fn marker_of(attr: &Attribute) -> Option<Marker> {
    if attr.path().is_ident("tool") {
        Some(Marker::Tool)
    } else if attr.path().is_ident("guardrail") {
        Some(Marker::Guardrail)
    } else {
        None
    }
}

/// Collects the tools and guardrails, removing the marker attributes from the module.
pub(crate) fn collect(module: &mut ItemMod, errors: &mut Errors) -> Option<PluginDef> {
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

#[cfg(test)]
mod tests {
    use crate::test_support::errors;

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
}
