//! From a call's SIP headers to the numbers routes compare: the user part
//! of the `sip:`/`sips:`/`tel:` URI in `To` and `From`, display names,
//! angle brackets and parameters left out.

use serde_json::Value;

/// The user part of a `From`/`To` header value:
/// `"Alice" <sip:+15551234@pbx.example;transport=tls>;tag=x` → `+15551234`.
pub fn user_part(header: &str) -> String {
    let inner = match (header.find('<'), header.find('>')) {
        (Some(a), Some(b)) if a < b => &header[a + 1..b],
        _ => header.trim(),
    };
    let rest = inner
        .strip_prefix("sips:")
        .or_else(|| inner.strip_prefix("sip:"))
        .or_else(|| inner.strip_prefix("tel:"))
        .unwrap_or(inner);
    let user = rest.split(['@', ';', '?']).next().unwrap_or(rest);
    user.trim().to_string()
}

/// The value of SIP header `name` (case-insensitive) in a webhook's `sip_headers`.
pub fn sip_header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers.as_array()?.iter().find_map(|h| {
        let n = h.get("name")?.as_str()?;
        n.eq_ignore_ascii_case(name)
            .then(|| h.get("value")?.as_str())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_parts_come_out_of_every_uri_form() {
        for (h, want) in [
            ("sip:+18005550100@sip.api.openai.com", "+18005550100"),
            ("<sip:+18005550100@x.example>;tag=1", "+18005550100"),
            (
                "\"Alice\" <sips:+15551234@pbx.example;transport=tls>",
                "+15551234",
            ),
            ("tel:+15551234;ext=7", "+15551234"),
            ("+15551234", "+15551234"),
        ] {
            assert_eq!(user_part(h), want, "{h}");
        }
        let headers = serde_json::json!([{"name": "From", "value": "sip:+1@x"}, {"name": "to", "value": "sip:+2@x"}]);
        assert_eq!(sip_header(&headers, "To"), Some("sip:+2@x"));
        assert_eq!(sip_header(&headers, "Call-ID"), None);
    }
}
