//! What counts as production: one list of environment globs (`LOOPBOT_PRODUCTION_ENVIRONMENTS`,
//! default `prod*`) that check-ins, deployment frequency, lead time, change failure rate and
//! recovery time all use. Check-ins may have their own list (`LOOPBOT_CHECKIN_ENVIRONMENTS`).
//!
//! The store filters with SQLite's `glob` over `lower(environment)`; this matcher is the
//! definition and the SQL must agree with it (a test in `store/dora_tests.rs` holds it to that). So
//! case is folded for ASCII letters only, as SQLite's `lower()` does, and `sql_globs` escapes the
//! one character SQLite's glob treats specially and ours does not (`[`).

use std::fmt;

use super::glob;
use super::ValidationError;

/// The default production definition.
pub const DEFAULT_PRODUCTION: &str = "prod*";
/// Most patterns a list may hold; a longer list is a mistake, not a configuration.
pub const MAX_PATTERNS: usize = 50;
/// Longest pattern (an environment name is at most 200 characters).
pub const MAX_PATTERN_LEN: usize = 200;

/// A set of environment globs (`*`, `?`), matched against whole names, ASCII case folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environments {
    /// Lowercase (ASCII) patterns, in the order given, without duplicates.
    patterns: Vec<String>,
}

impl Environments {
    /// Parses a comma-separated list such as `prod*, live`. Blanks between commas are skipped;
    /// an empty list, a control character or an over-long pattern is refused.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let mut patterns: Vec<String> = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part.chars().count() > MAX_PATTERN_LEN {
                return Err(ValidationError::new(
                    "environments",
                    format!("a pattern is longer than {MAX_PATTERN_LEN} characters"),
                ));
            }
            if part.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "environments",
                    "a pattern contains a control character",
                ));
            }
            let pattern = part.to_ascii_lowercase();
            if !patterns.contains(&pattern) {
                patterns.push(pattern);
            }
        }
        if patterns.is_empty() {
            return Err(ValidationError::new("environments", "names no environment"));
        }
        if patterns.len() > MAX_PATTERNS {
            return Err(ValidationError::new(
                "environments",
                format!("names more than {MAX_PATTERNS} patterns"),
            ));
        }
        Ok(Self { patterns })
    }

    /// No environment at all (check-ins switched off in code; the configuration cannot say it).
    pub fn none() -> Self {
        Self {
            patterns: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `environment` is one of these (ASCII case-insensitive, the whole name).
    pub fn matches(&self, environment: &str) -> bool {
        let environment = environment.to_ascii_lowercase();
        self.patterns.iter().any(|p| glob::matches(p, &environment))
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The patterns as SQLite `glob` patterns that match exactly what [`Self::matches`] matches
    /// (against `lower(environment)`): `[` opens a character class there, so it becomes `[[]`.
    pub fn sql_globs(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| p.replace('[', "[[]"))
            .collect()
    }
}

impl Default for Environments {
    fn default() -> Self {
        Self {
            patterns: vec![DEFAULT_PRODUCTION.to_owned()],
        }
    }
}

impl fmt::Display for Environments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.patterns.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_prod_star() {
        let production = Environments::default();
        for (environment, expected) in [
            ("production", true),
            ("prod", true),
            ("prod-eu", true),
            ("Production", true),
            ("PROD-US", true),
            ("preprod", false),
            ("staging", false),
            ("", false),
        ] {
            assert_eq!(production.matches(environment), expected, "{environment}");
        }
    }

    #[test]
    fn a_list_is_any_of_its_globs_whole_names_ascii_case_folded() {
        let set = Environments::parse(" Production , live-?? ,eu-*-prod,, [x]").unwrap();
        assert_eq!(
            set.patterns(),
            ["production", "live-??", "eu-*-prod", "[x]"]
        );
        assert_eq!(set.to_string(), "production,live-??,eu-*-prod,[x]");
        for (environment, expected) in [
            ("production", true),
            ("PRODUCTION", true),
            ("production-2", false),
            ("live-eu", true),
            ("live-eu2", false),
            ("EU-west-PROD", true),
            ("eu-prod", false),
            // Brackets are plain characters, not classes.
            ("[x]", true),
            ("x", false),
        ] {
            assert_eq!(set.matches(environment), expected, "{environment}");
        }
        // Only ASCII letters fold, as in SQLite's lower().
        let unicode = Environments::parse("prÖd").unwrap();
        assert!(unicode.matches("PRÖD"));
        assert!(!unicode.matches("PRöD"));
    }

    #[test]
    fn bad_lists_are_refused_with_a_reason() {
        assert!(Environments::parse(" , ").is_err());
        assert!(Environments::parse("prod\u{7}").is_err());
        assert!(Environments::parse(&"p".repeat(MAX_PATTERN_LEN + 1)).is_err());
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("e{i}")).collect();
        assert!(Environments::parse(&many.join(",")).is_err());
        // Duplicates collapse.
        assert_eq!(
            Environments::parse("prod*,PROD*").unwrap().patterns().len(),
            1
        );
    }

    #[test]
    fn sql_globs_escape_the_bracket() {
        let set = Environments::parse("a[b]*,prod*").unwrap();
        assert_eq!(set.sql_globs(), ["a[[]b]*", "prod*"]);
    }
}
