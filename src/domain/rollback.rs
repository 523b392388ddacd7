//! A responder marking a deploy rolled back from its check-in (issue 16): what is asked, and
//! whether the deploy can take it. Pure; the store records the status change with who did it.

use std::fmt;

use super::deploy::{Deploy, DeployStatus};

/// The question the confirmation asks, e.g. "Mark checkout v1.4.2 in production as rolled back?".
pub fn question(deploy: &Deploy) -> String {
    format!(
        "Mark {} {} in {} as rolled back?",
        deploy.service, deploy.version, deploy.environment
    )
}

/// Why a deploy cannot be marked rolled back; its `Display` is the sentence shown to the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRolledBack {
    /// Someone (or the CI) already said so.
    Already,
    /// Only a deploy that reached its environment can be rolled back (it failed, or is still
    /// running, as far as loopbot knows).
    NotDeployed(DeployStatus),
}

impl fmt::Display for NotRolledBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRolledBack::Already => f.write_str("This deploy is already marked rolled back."),
            NotRolledBack::NotDeployed(status) => write!(
                f,
                "This deploy is {}, not deployed, so it cannot be marked rolled back.",
                match status {
                    DeployStatus::Started => "still running",
                    _ => status.as_str(),
                }
            ),
        }
    }
}

/// Whether a deploy now in `status` can be marked rolled back by a person.
pub fn decide(status: DeployStatus) -> Result<(), NotRolledBack> {
    match status {
        DeployStatus::Succeeded => Ok(()),
        DeployStatus::RolledBack => Err(NotRolledBack::Already),
        other => Err(NotRolledBack::NotDeployed(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_deploy_that_succeeded_can_be_marked_rolled_back() {
        for (status, expect) in [
            (DeployStatus::Succeeded, Ok(())),
            (DeployStatus::RolledBack, Err(NotRolledBack::Already)),
            (
                DeployStatus::Failed,
                Err(NotRolledBack::NotDeployed(DeployStatus::Failed)),
            ),
            (
                DeployStatus::Started,
                Err(NotRolledBack::NotDeployed(DeployStatus::Started)),
            ),
        ] {
            assert_eq!(decide(status), expect, "{status}");
        }
        assert_eq!(
            NotRolledBack::NotDeployed(DeployStatus::Started).to_string(),
            "This deploy is still running, not deployed, so it cannot be marked rolled back."
        );
    }
}
