//! Deploys: a version of a service rolled out to an environment, and the event that reports one.

use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;

use super::ValidationError;

/// Longest accepted identifier-like field (service, environment, version, deployer, id).
pub const MAX_NAME_LEN: usize = 200;
/// Longest accepted changelog; the announcement cuts it further to fit Discord's limits.
pub const MAX_CHANGELOG_LEN: usize = 64 * 1024;
/// Longest accepted URL.
pub const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeployStatus {
    Started,
    Succeeded,
    Failed,
    RolledBack,
}

impl DeployStatus {
    pub const ALL: [DeployStatus; 4] = [
        DeployStatus::Started,
        DeployStatus::Succeeded,
        DeployStatus::Failed,
        DeployStatus::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Started => "started",
            DeployStatus::Succeeded => "succeeded",
            DeployStatus::Failed => "failed",
            DeployStatus::RolledBack => "rolled_back",
        }
    }

    /// A terminal status ends the rollout; `finished_at` is set when a deploy reaches one.
    pub fn is_terminal(self) -> bool {
        !matches!(self, DeployStatus::Started)
    }

    /// Failed or rolled back: what a `outcome:failures` subscription hears about.
    pub fn is_failure(self) -> bool {
        matches!(self, DeployStatus::Failed | DeployStatus::RolledBack)
    }

    /// Whether a deploy currently in `self` should take `next`. Senders retry and deliver out of
    /// order, so a late `started` never overwrites an outcome; outcomes may follow each other
    /// (a failed deploy retried to success, a success later rolled back).
    pub fn accepts(self, next: DeployStatus) -> bool {
        self != next && !(self.is_terminal() && next == DeployStatus::Started)
    }

    /// Whether moving from `self` to `next` sets the finish time anew. A success later rolled
    /// back keeps its finish: the rollout finished when it did (lead time and the period it
    /// counts in), and when it was undone is the `rolled_back` status change's time.
    pub fn refinishes(self, next: DeployStatus) -> bool {
        next.is_terminal() && !(self == DeployStatus::Succeeded && next == DeployStatus::RolledBack)
    }
}

impl fmt::Display for DeployStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeployStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeployStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "status",
                    format!("must be one of started, succeeded, failed, rolled_back (got {s:?})"),
                )
            })
    }
}

/// A non-empty, trimmed, bounded single-line name (service, environment, version, deployer, id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if trimmed.chars().count() > MAX_NAME_LEN {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_NAME_LEN} characters"),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A git commit id: 4 to 64 hex digits, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSha(String);

impl CommitSha {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let sha = raw.trim();
        if !(4..=64).contains(&sha.len()) || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ValidationError::new(
                "commit_sha",
                "must be 4 to 64 hexadecimal digits",
            ));
        }
        Ok(Self(sha.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 7-digit form people recognise.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(7)]
    }
}

/// The shape a link in an embed needs: `http(s)://host[:port][/...]`, nothing blank or
/// unprintable anywhere. Hand-written because `domain` depends on no URL crate (ARCHITECTURE.md);
/// it accepts only what a URL parser accepts for these two schemes.
fn check_web_url(url: &str) -> Result<(), &'static str> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err("the scheme must be http or https");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("no spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (inside, after) = v6.split_once(']').ok_or("an unclosed [ in the host")?;
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err("an invalid IPv6 host");
        }
        ("v6", after.strip_prefix(':'))
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let host_char = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '%' | '~');
    if host.is_empty() || !host.chars().all(host_char) {
        return Err("an empty or invalid host");
    }
    if port.is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_err()) {
        return Err("an invalid port");
    }
    Ok(())
}

/// An http(s) URL, bounded in length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl(String);

impl WebUrl {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let url = raw.trim();
        check_web_url(url).map_err(|why| {
            ValidationError::new(
                field,
                format!("must be an absolute http or https URL ({why})"),
            )
        })?;
        if url.len() > MAX_URL_LEN {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_URL_LEN} characters"),
            ));
        }
        Ok(Self(url.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses an RFC 3339 timestamp such as `2026-11-24T10:00:00Z`.
pub fn parse_timestamp(field: &'static str, raw: &str) -> Result<DateTime<Utc>, ValidationError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ValidationError::new(
                field,
                format!("must be an RFC 3339 timestamp like 2026-11-24T10:00:00Z ({e})"),
            )
        })
}

/// Most commits one deploy event may list (the generic API refuses more; the compare look-ups
/// keep the newest this many).
pub const MAX_COMMITS: usize = 1000;

/// One commit a deploy shipped, for lead time per change. Its time is its committer date: when
/// the change landed on the branch that was deployed (a rebase or a merge moves it, an author date
/// would not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedCommit {
    pub sha: CommitSha,
    /// The committer date.
    pub committed_at: DateTime<Utc>,
}

/// A commit as a sender wrote it, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RawCommit {
    pub sha: Option<String>,
    pub committed_at: Option<String>,
}

/// Validates a sender's commit list. Every error names the field `commits` and says which entry
/// and what is wrong. A sha listed twice is kept once (its first entry).
pub fn parse_commits(raw: &[RawCommit]) -> Result<Vec<ShippedCommit>, ValidationError> {
    if raw.len() > MAX_COMMITS {
        return Err(ValidationError::new(
            "commits",
            format!(
                "must list at most {MAX_COMMITS} commits (got {}); send the newest {MAX_COMMITS}",
                raw.len()
            ),
        ));
    }
    let mut out: Vec<ShippedCommit> = Vec::with_capacity(raw.len());
    for (i, commit) in raw.iter().enumerate() {
        let bad = |what: &str| ValidationError::new("commits", format!("commits[{i}].{what}"));
        let sha = commit
            .sha
            .as_deref()
            .ok_or_else(|| bad("sha is required"))
            .and_then(|s| {
                CommitSha::parse(s).map_err(|_| bad("sha must be 4 to 64 hexadecimal digits"))
            })?;
        let committed_at = commit
            .committed_at
            .as_deref()
            .ok_or_else(|| bad("committed_at is required"))
            .and_then(|t| {
                parse_timestamp("commits", t)
                    .map_err(|e| bad(&format!("committed_at {}", e.reason)))
            })?;
        if !out.iter().any(|c| c.sha == sha) {
            out.push(ShippedCommit { sha, committed_at });
        }
    }
    Ok(out)
}

/// A validated report that a deploy is in some state, from any sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployEvent {
    /// The sender's key for this deploy; all events with the same key are one deploy.
    pub external_id: Name,
    pub service: Name,
    pub version: Name,
    pub environment: Name,
    pub status: DeployStatus,
    pub deployer: Option<Name>,
    pub commit_sha: Option<CommitSha>,
    pub commit_at: Option<DateTime<Utc>>,
    pub url: Option<WebUrl>,
    pub changelog: Option<String>,
    /// When the sender says this happened (its own clock); `None` means "when it arrived".
    pub at: Option<DateTime<Utc>>,
    /// The commits this deploy shipped, when the sender lists them (lead time per change).
    pub commits: Vec<ShippedCommit>,
}

/// The fields of a deploy event as a sender wrote them, before validation.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RawDeployEvent {
    pub service: Option<String>,
    pub version: Option<String>,
    pub environment: Option<String>,
    pub status: Option<String>,
    pub deployer: Option<String>,
    pub commit_sha: Option<String>,
    pub commit_at: Option<String>,
    pub url: Option<String>,
    pub changelog: Option<String>,
    pub id: Option<String>,
    /// When it happened, RFC 3339 (the sender's clock).
    pub at: Option<String>,
    /// The commits shipped: `[{"sha", "committed_at"}]`, at most 1 000.
    pub commits: Option<Vec<RawCommit>>,
}

fn required<'a>(
    field: &'static str,
    value: &'a Option<String>,
) -> Result<&'a str, ValidationError> {
    value
        .as_deref()
        .ok_or_else(|| ValidationError::new(field, "is required"))
}

fn optional<T>(
    value: &Option<String>,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<Option<T>, ValidationError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => parse(v).map(Some),
    }
}

impl DeployEvent {
    pub fn parse(raw: &RawDeployEvent) -> Result<Self, ValidationError> {
        let service = Name::parse("service", required("service", &raw.service)?)?;
        let version = Name::parse("version", required("version", &raw.version)?)?;
        let environment = Name::parse("environment", required("environment", &raw.environment)?)?;
        let status: DeployStatus = required("status", &raw.status)?.trim().parse()?;
        let external_id = match optional(&raw.id, |v| Name::parse("id", v))? {
            Some(id) => id,
            // Without the sender's key, one version of a service in one environment is one deploy.
            None => Name(format!("{service}/{environment}/{version}")),
        };
        let changelog = match raw.changelog.as_deref() {
            Some(text) if text.len() > MAX_CHANGELOG_LEN => {
                return Err(ValidationError::new(
                    "changelog",
                    format!("must be at most {MAX_CHANGELOG_LEN} bytes"),
                ))
            }
            Some(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            _ => None,
        };
        Ok(Self {
            external_id,
            service,
            version,
            environment,
            status,
            deployer: optional(&raw.deployer, |v| Name::parse("deployer", v))?,
            commit_sha: optional(&raw.commit_sha, CommitSha::parse)?,
            commit_at: optional(&raw.commit_at, |v| parse_timestamp("commit_at", v))?,
            url: optional(&raw.url, |v| WebUrl::parse("url", v))?,
            changelog,
            at: optional(&raw.at, |v| parse_timestamp("at", v))?,
            commits: parse_commits(raw.commits.as_deref().unwrap_or_default())?,
        })
    }

    /// When this event happened: the sender's time when it gives one, else `arrived` (when the
    /// event reached the bot). A sender's time later than its arrival is a clock ahead of ours,
    /// not a deploy in the future: it is clamped to the arrival, so no figure ends after "now".
    pub fn happened_at(&self, arrived: DateTime<Utc>) -> DateTime<Utc> {
        self.at.map_or(arrived, |at| at.min(arrived))
    }
}

/// A deploy as stored: the latest state of one rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    pub id: i64,
    pub service: String,
    pub version: String,
    pub environment: String,
    pub status: DeployStatus,
    pub deployer: Option<String>,
    pub commit_sha: Option<String>,
    pub commit_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
    pub changelog: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Deploy {
    /// The deploy a first event about it creates, started at `at` (and finished then, if the event
    /// reports an outcome).
    pub fn first_seen(id: i64, event: &DeployEvent, at: DateTime<Utc>) -> Self {
        Deploy {
            id,
            service: event.service.as_str().to_owned(),
            version: event.version.as_str().to_owned(),
            environment: event.environment.as_str().to_owned(),
            status: event.status,
            deployer: event.deployer.as_ref().map(|d| d.as_str().to_owned()),
            commit_sha: event.commit_sha.as_ref().map(|c| c.as_str().to_owned()),
            commit_at: event.commit_at,
            url: event.url.as_ref().map(|u| u.as_str().to_owned()),
            changelog: event.changelog.clone(),
            started_at: at,
            finished_at: event.status.is_terminal().then_some(at),
        }
    }

    /// This deploy with `event`'s details laid over it: a later event may add what an earlier
    /// one lacked (a URL, a changelog), but never erases a detail by leaving it out. The status
    /// is left alone: whether it changes is [`DeployStatus::accepts`]'s rule.
    pub fn merged_with(&self, event: &DeployEvent) -> Deploy {
        Deploy {
            version: event.version.as_str().to_owned(),
            deployer: event
                .deployer
                .as_ref()
                .map(|d| d.as_str().to_owned())
                .or_else(|| self.deployer.clone()),
            commit_sha: event
                .commit_sha
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .or_else(|| self.commit_sha.clone()),
            commit_at: event.commit_at.or(self.commit_at),
            url: event
                .url
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .or_else(|| self.url.clone()),
            changelog: event.changelog.clone().or_else(|| self.changelog.clone()),
            ..self.clone()
        }
    }

    /// This deploy after `event`, which happened at `at` ([`DeployEvent::happened_at`]): details
    /// merged ([`Self::merged_with`]); the start moved back when the sender reports an earlier
    /// time (a `running` delivered after its `success`); and, when the status changes, the new
    /// status and its finish (per [`DeployStatus::refinishes`]), never before the start, so events
    /// whose times disagree with their order give a duration of zero, not a negative one.
    /// Returns the deploy and whether the status changed.
    pub fn after(&self, event: &DeployEvent, at: DateTime<Utc>) -> (Deploy, bool) {
        let mut next = self.merged_with(event);
        next.started_at = self.started_at.min(at);
        let status_changes = self.status.accepts(event.status);
        if status_changes {
            next.status = event.status;
            if self.status.refinishes(event.status) {
                next.finished_at = Some(at.max(next.started_at));
            }
        }
        (next, status_changes)
    }

    /// How long the rollout took, once it finished.
    pub fn duration(&self) -> Option<chrono::Duration> {
        self.finished_at.map(|end| end - self.started_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_keeps_the_finish_of_the_success_it_undoes() {
        use DeployStatus::*;
        for (from, to, refinishes) in [
            (Started, Succeeded, true),
            (Started, Failed, true),
            (Started, RolledBack, true),
            (Failed, Succeeded, true),
            (Succeeded, RolledBack, false),
            (Succeeded, Failed, true),
        ] {
            assert_eq!(from.refinishes(to), refinishes, "{from} → {to}");
        }
    }

    #[test]
    fn web_urls_are_absolute_http_links() {
        for good in [
            "https://ci.example.com/runs/1?x=1#y",
            "http://localhost:8080",
            "HTTPS://Example.com/path%20escaped",
            "https://user@host.example/a",
            "http://[::1]:9093/",
            "https://bücher.example/ä",
        ] {
            assert!(
                WebUrl::parse("url", good).is_ok(),
                "{good} should be accepted"
            );
        }
        for bad in [
            "ftp://example.com",
            "example.com/run",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://host:99999/",
            "https://[::1/",
            "javascript:alert(1)",
            "https://host\n.example",
        ] {
            assert!(
                WebUrl::parse("url", bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    fn raw() -> RawDeployEvent {
        RawDeployEvent {
            service: Some("checkout".into()),
            version: Some("v1.4.2".into()),
            environment: Some("production".into()),
            status: Some("succeeded".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_minimal_event_parses_and_derives_its_key() {
        let event = DeployEvent::parse(&raw()).unwrap();
        assert_eq!(event.external_id.as_str(), "checkout/production/v1.4.2");
        assert_eq!(event.status, DeployStatus::Succeeded);
    }

    #[test]
    fn each_bad_field_is_named() {
        type Mutation = fn(&mut RawDeployEvent);
        let cases: Vec<(Mutation, &str)> = vec![
            (|r| r.service = Some("  ".into()), "service"),
            (|r| r.service = None, "service"),
            (|r| r.status = Some("done".into()), "status"),
            (|r| r.commit_at = Some("yesterday".into()), "commit_at"),
            (|r| r.commit_sha = Some("xyz".into()), "commit_sha"),
            (|r| r.url = Some("ftp://x".into()), "url"),
            (|r| r.version = Some("a\nb".into()), "version"),
        ];
        for (mutate, field) in cases {
            let mut r = raw();
            mutate(&mut r);
            assert_eq!(DeployEvent::parse(&r).unwrap_err().field, field);
        }
    }

    fn raw_commit(sha: &str, at: &str) -> RawCommit {
        RawCommit {
            sha: Some(sha.into()),
            committed_at: Some(at.into()),
        }
    }

    #[test]
    fn a_list_parses_lowercased_and_deduplicated() {
        let commits = parse_commits(&[
            raw_commit("ABCDEF1", "2026-11-24T10:00:00Z"),
            raw_commit("abcdef1", "2026-11-25T10:00:00Z"),
            raw_commit("1234567", "2026-11-24T12:00:00+02:00"),
        ])
        .unwrap();
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].sha.as_str(), "abcdef1");
        assert_eq!(
            commits[0].committed_at.to_rfc3339(),
            "2026-11-24T10:00:00+00:00"
        );
        assert_eq!(
            commits[1].committed_at.to_rfc3339(),
            "2026-11-24T10:00:00+00:00"
        );
    }

    #[test]
    fn every_bad_entry_names_commits_and_says_which() {
        let ok = raw_commit("abcdef1", "2026-11-24T10:00:00Z");
        for (list, says) in [
            (
                vec![ok.clone(), raw_commit("xyz", "2026-11-24T10:00:00Z")],
                "commits[1].sha",
            ),
            (
                vec![raw_commit("abcdef1", "yesterday")],
                "commits[0].committed_at",
            ),
            (
                vec![RawCommit {
                    sha: None,
                    committed_at: Some("2026-11-24T10:00:00Z".into()),
                }],
                "commits[0].sha is required",
            ),
            (
                vec![RawCommit {
                    sha: Some("abcdef1".into()),
                    committed_at: None,
                }],
                "commits[0].committed_at is required",
            ),
            (vec![ok.clone(); MAX_COMMITS + 1], "at most 1000"),
        ] {
            let err = parse_commits(&list).unwrap_err();
            assert_eq!(err.field, "commits");
            assert!(err.reason.contains(says), "{says:?} in {}", err.reason);
        }
        assert_eq!(parse_commits(&vec![ok; MAX_COMMITS]).unwrap().len(), 1);
    }

    #[test]
    fn a_late_started_never_overwrites_an_outcome() {
        use DeployStatus::*;
        assert!(Started.accepts(Failed));
        assert!(Failed.accepts(Succeeded));
        assert!(Succeeded.accepts(RolledBack));
        assert!(!Succeeded.accepts(Started));
        assert!(!Failed.accepts(Failed));
    }
}
