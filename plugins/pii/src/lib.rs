//! Example guardrail plugin: personal data in text — email addresses, phone
//! numbers, and payment card numbers (13–19 digits that pass the Luhn check,
//! so order numbers and timestamps do not trip it). Reasons name the kind of
//! data, never the data itself.
//!
//! Build with `cargo xtask plugins` (or `cargo build -p pii --target wasm32-wasip2 --profile plugin`).

/// Whether `digits` (0–9 values) pass the Luhn checksum.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Runs of digits, allowing single spaces or dashes between them (as card
/// and phone numbers are written), with the text each run covered.
fn digit_runs(text: &str) -> Vec<Vec<u8>> {
    let mut runs = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut last_sep = false;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            current.push(d as u8);
            last_sep = false;
        } else if (c == ' ' || c == '-') && !current.is_empty() && !last_sep {
            last_sep = true;
        } else {
            if !current.is_empty() {
                runs.push(std::mem::take(&mut current));
            }
            last_sep = false;
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// A card number: 13–19 digits passing Luhn.
pub fn has_card_number(text: &str) -> bool {
    digit_runs(text)
        .iter()
        .any(|run| (13..=19).contains(&run.len()) && luhn(run))
}

/// A phone number: `+` and 8–15 digits, or 10–12 digits written with separators.
pub fn has_phone_number(text: &str) -> bool {
    let plus = text.match_indices('+').any(|(at, _)| {
        let digits = text[at + 1..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ' ' || *c == '-')
            .filter(char::is_ascii_digit)
            .count();
        (8..=15).contains(&digits)
    });
    plus || digit_runs(text)
        .iter()
        .any(|run| (10..=12).contains(&run.len()) && !luhn_card_len(run))
}

fn luhn_card_len(run: &[u8]) -> bool {
    run.len() >= 13 && luhn(run)
}

/// An email address: `local@domain.tld`.
pub fn has_email(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')' | '"'))
        .any(|word| {
            let word = word.trim_end_matches(['.', '!', '?', ':']);
            match word.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.rsplit_once('.').is_some_and(|(host, tld)| {
                            !host.is_empty()
                                && tld.len() >= 2
                                && tld.chars().all(char::is_alphabetic)
                        })
                }
                None => false,
            }
        })
}

/// Guardrails over personal data.
#[agentd_plugin_sdk::plugin]
mod guards {
    use agentd_plugin_sdk::Verdict;

    /// Stops text or tool calls containing an email address, a phone number or a card number.
    #[guardrail]
    pub fn pii(text: &str) -> Verdict {
        let mut found = Vec::new();
        if super::has_email(text) {
            found.push("an email address");
        }
        if super::has_phone_number(text) {
            found.push("a phone number");
        }
        if super::has_card_number(text) {
            found.push("a card number");
        }
        if found.is_empty() {
            Verdict::pass()
        } else {
            Verdict::trip(format!("contains {}", found.join(" and ")))
        }
    }

    /// Stops text or tool calls containing a card number (Luhn-checked).
    #[guardrail]
    pub fn card_numbers(text: &str) -> Verdict {
        if super::has_card_number(text) {
            Verdict::trip("contains a card number")
        } else {
            Verdict::pass()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentd_plugin_sdk::{CallContext, Plugin as _, Subject, Verdict};

    fn check(name: &str, text: &str) -> Verdict {
        guards::Plugin::check(
            name,
            &Subject::OutputText(text.into()),
            &CallContext::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn luhn_checks() {
        let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<u8>>();
        assert!(luhn(&digits("4111111111111111")));
        assert!(luhn(&digits("79927398713")));
        assert!(!luhn(&digits("4111111111111112")));
        assert!(!luhn(&[]));
    }

    #[test]
    fn card_numbers_need_the_checksum() {
        assert!(has_card_number("card 4111 1111 1111 1111 exp 12/29"));
        assert!(has_card_number("5500-0000-0000-0004"));
        assert!(!has_card_number("order 4111 1111 1111 1112"));
        assert!(!has_card_number("timestamp 1733140000000"));
        assert_eq!(
            check("card_numbers", "pay with 4111111111111111"),
            Verdict::trip("contains a card number")
        );
    }

    #[test]
    fn emails_and_phones() {
        assert!(has_email("write to ada@example.org."));
        assert!(!has_email("a @ b, user@localhost, @handle"));
        assert!(has_phone_number("call +44 20 7946 0958"));
        assert!(has_phone_number("call 415-555-0132 now"));
        assert!(!has_phone_number("in 2026 we had 12 rooms"));
        assert_eq!(
            check("pii", "mail ada@example.org or call +1 415 555 0132"),
            Verdict::trip("contains an email address and a phone number")
        );
        assert_eq!(check("pii", "nothing personal here"), Verdict::pass());
    }
}
