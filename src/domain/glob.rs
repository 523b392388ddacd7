//! Name globs: `*` matches any run of characters (none included), `?` exactly one character,
//! anything else itself. No classes, no escapes. Case is the caller's business (subscription
//! patterns lowercase both sides; workflow filters compare as written).
//!
//! Written here rather than taken from a crate so that `domain` depends on nothing but std,
//! chrono and serde; it keeps the semantics of the `wildmatch` crate loopbot used before.

/// Whether `text` matches `pattern` as a whole, comparing characters (not bytes).
pub fn matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // The last `*` seen and the text position it currently stands for the run before: on a
    // mismatch the star takes one more character and matching resumes after it. Greedy retry of
    // the latest star alone suffices, so this is linear in practice and never exponential.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs_match_as_a_whole() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("checkout", "checkout", true),
            ("checkout", "checkout-api", false),
            ("checkout*", "checkout", true),
            ("checkout*", "checkout-api", true),
            ("checkout*", "payments", false),
            ("*-api", "checkout-api", true),
            ("*-api", "checkout-api-2", false),
            ("prod*", "production", true),
            ("prod*", "preprod", false),
            ("*prod*", "preprod-eu", true),
            ("?", "", false),
            ("?", "a", true),
            ("?", "ab", false),
            ("v?.?", "v1.2", true),
            ("v?.?", "v1.23", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a**b", "ab", true),
            ("*a", "aaaa", true),
            ("*ab", "aaab", true),
            ("*?", "", false),
            ("*?", "x", true),
            // Characters, not bytes: `?` takes one multi-byte character.
            ("caf?", "café", true),
            ("?", "é", true),
            // Case-sensitive: callers lowercase when they want otherwise.
            ("Deploy", "deploy", false),
            // No classes or escapes: brackets are plain characters.
            ("[ab]", "a", false),
            ("[ab]", "[ab]", true),
        ] {
            assert_eq!(
                matches(pattern, text),
                expected,
                "{pattern:?} against {text:?}"
            );
        }
    }

    /// The obvious dynamic programme over every pattern and text of a small alphabet.
    #[test]
    fn agrees_with_a_reference_on_every_short_pattern() {
        fn reference(pattern: &[char], text: &[char]) -> bool {
            let mut row = vec![false; text.len() + 1];
            row[0] = true;
            for &p in pattern {
                let mut next = vec![false; text.len() + 1];
                if p == '*' {
                    let mut any = false;
                    for j in 0..=text.len() {
                        any |= row[j];
                        next[j] = any;
                    }
                } else {
                    for j in 1..=text.len() {
                        next[j] = row[j - 1] && (p == '?' || p == text[j - 1]);
                    }
                }
                row = next;
            }
            row[text.len()]
        }
        fn all(alphabet: &[char], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                    .collect();
                out.extend(last.iter().cloned());
            }
            out
        }
        let texts = all(&['a', 'b'], 5);
        for pattern in all(&['a', 'b', '*', '?'], 4) {
            let p: Vec<char> = pattern.chars().collect();
            for text in &texts {
                let t: Vec<char> = text.chars().collect();
                assert_eq!(
                    matches(&pattern, text),
                    reference(&p, &t),
                    "{pattern:?} against {text:?}"
                );
            }
        }
    }
}
