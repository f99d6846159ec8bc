//! Every error of one expansion, combined into one `syn::Error` so the
//! compiler reports each at its own span rather than stopping at the first.

#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn combined(self) -> Option<syn::Error> {
        self.0
    }
}
