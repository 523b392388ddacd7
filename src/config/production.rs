//! The one definition of production (`LOOPBOT_PRODUCTION_ENVIRONMENTS`) and the check-ins'
//! override of it (`LOOPBOT_CHECKIN_ENVIRONMENTS`).

use super::ConfigError;
use crate::domain::production::Environments;

const EXPECTED: &str = "environment globs separated by commas, e.g. prod* or production,live-*";

fn parse(variable: &'static str, raw: &str) -> Result<Environments, ConfigError> {
    Environments::parse(raw).map_err(|e| ConfigError {
        variable,
        problem: format!("is not a list of environments ({})", e.reason),
        expected: EXPECTED,
    })
}

/// `LOOPBOT_PRODUCTION_ENVIRONMENTS` (default `prod*`).
pub(super) fn production(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Environments, ConfigError> {
    get("LOOPBOT_PRODUCTION_ENVIRONMENTS")
        .map(|raw| parse("LOOPBOT_PRODUCTION_ENVIRONMENTS", &raw))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// `LOOPBOT_CHECKIN_ENVIRONMENTS`, or the production definition when unset.
pub(super) fn checkins(
    get: &impl Fn(&str) -> Option<String>,
    production: &Environments,
) -> Result<Environments, ConfigError> {
    get("LOOPBOT_CHECKIN_ENVIRONMENTS")
        .map(|raw| parse("LOOPBOT_CHECKIN_ENVIRONMENTS", &raw))
        .transpose()
        .map(|set| set.unwrap_or_else(|| production.clone()))
}

/// `check-config`'s line.
pub(super) fn describe(production: &Environments) -> [(&'static str, String); 1] {
    [("LOOPBOT_PRODUCTION_ENVIRONMENTS", production.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn check_ins_follow_production_unless_overridden() {
        let get = lookup(&[]);
        let prod = production(&get).unwrap();
        assert_eq!(prod, Environments::default());
        assert_eq!(checkins(&get, &prod).unwrap(), prod);

        let get = lookup(&[("LOOPBOT_PRODUCTION_ENVIRONMENTS", "live,prod-*")]);
        let prod = production(&get).unwrap();
        assert!(prod.matches("live") && prod.matches("prod-eu"));
        assert!(!prod.matches("production"));
        assert_eq!(checkins(&get, &prod).unwrap(), prod);

        let get = lookup(&[
            ("LOOPBOT_PRODUCTION_ENVIRONMENTS", "live"),
            ("LOOPBOT_CHECKIN_ENVIRONMENTS", "canary"),
        ]);
        let prod = production(&get).unwrap();
        let asked = checkins(&get, &prod).unwrap();
        assert!(asked.matches("canary") && !asked.matches("live"));
    }

    #[test]
    fn a_bad_list_names_the_variable() {
        let get = lookup(&[("LOOPBOT_PRODUCTION_ENVIRONMENTS", " , ")]);
        let error = production(&get).unwrap_err();
        assert_eq!(error.variable, "LOOPBOT_PRODUCTION_ENVIRONMENTS");
        let get = lookup(&[("LOOPBOT_CHECKIN_ENVIRONMENTS", "a\u{1}")]);
        let error = checkins(&get, &Environments::default()).unwrap_err();
        assert_eq!(error.variable, "LOOPBOT_CHECKIN_ENVIRONMENTS");
    }
}
