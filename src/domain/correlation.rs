//! Deploy correlation: "this alert started within the correlation window after a deploy of the
//! same service finished". Pure: the store loads the deploys a [`Query`] names, [`pick`] chooses.

use chrono::{DateTime, Utc};

/// An alert that (re)started with this notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub alert_id: i64,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub starts_at: DateTime<Utc>,
}

/// Which deploys may have caused a start: this service's, finished within the window before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub alert_id: i64,
    pub service: String,
    /// Preferred, not required: a deploy of the same environment wins over a later one elsewhere.
    pub environment: Option<String>,
    pub starts_at: DateTime<Utc>,
    /// Deploys that finished in `from..=to`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The query for a start; the alert's own service and environment first, else the group's.
/// None when neither names a service: nothing to correlate with.
pub fn query(
    started: &Started,
    group_service: Option<&str>,
    group_environment: Option<&str>,
    window: chrono::Duration,
) -> Option<Query> {
    let service = started
        .service
        .clone()
        .or_else(|| group_service.map(str::to_owned))?;
    Some(Query {
        alert_id: started.alert_id,
        service,
        environment: started
            .environment
            .clone()
            .or_else(|| group_environment.map(str::to_owned)),
        starts_at: started.starts_at,
        from: started.starts_at - window,
        to: started.starts_at,
    })
}

/// A finished deploy of the queried service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub deploy_id: i64,
    pub environment: String,
    pub finished_at: DateTime<Utc>,
}

/// The link to write: which deploy, and how long after it finished the alert started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub alert_id: i64,
    pub deploy_id: i64,
    pub delay_ms: i64,
}

/// The deploy a start is linked to: within the window, the same environment first, then the one
/// that finished last (the higher id on a tie).
pub fn pick(query: &Query, candidates: &[Candidate]) -> Option<Link> {
    candidates
        .iter()
        .filter(|c| c.finished_at >= query.from && c.finished_at <= query.to)
        .max_by_key(|c| {
            let same_env = query
                .environment
                .as_ref()
                .is_none_or(|e| *e == c.environment);
            (same_env, c.finished_at, c.deploy_id)
        })
        .map(|c| Link {
            alert_id: query.alert_id,
            deploy_id: c.deploy_id,
            delay_ms: (query.starts_at - c.finished_at).num_milliseconds(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap() + chrono::Duration::minutes(minute)
    }

    fn deploy(id: i64, env: &str, minute: i64) -> Candidate {
        Candidate {
            deploy_id: id,
            environment: env.into(),
            finished_at: at(minute),
        }
    }

    #[test]
    fn the_alerts_service_and_environment_come_first_then_the_groups() {
        let started = |service: Option<&str>, env: Option<&str>| Started {
            alert_id: 1,
            service: service.map(Into::into),
            environment: env.map(Into::into),
            starts_at: at(60),
        };
        let hour = chrono::Duration::hours(1);
        let q = query(
            &started(Some("cart"), None),
            Some("shop"),
            Some("prod"),
            hour,
        )
        .unwrap();
        assert_eq!(
            (q.service.as_str(), q.environment.as_deref()),
            ("cart", Some("prod"))
        );
        assert_eq!((q.from, q.to), (at(0), at(60)));
        let q = query(
            &started(None, Some("stg")),
            Some("shop"),
            Some("prod"),
            hour,
        )
        .unwrap();
        assert_eq!(
            (q.service.as_str(), q.environment.as_deref()),
            ("shop", Some("stg"))
        );
        assert_eq!(query(&started(None, None), None, Some("prod"), hour), None);
    }

    #[test]
    fn which_deploy_an_alert_is_linked_to() {
        let q = |env: Option<&str>| Query {
            alert_id: 9,
            service: "checkout".into(),
            environment: env.map(Into::into),
            starts_at: at(60),
            from: at(0),
            to: at(60),
        };
        // (environment of the alert, candidates, the deploy picked)
        let cases: Vec<(Option<&str>, Vec<Candidate>, Option<i64>)> = vec![
            (None, vec![], None),
            (None, vec![deploy(1, "production", 10)], Some(1)),
            // The window's edges are in, outside is out.
            (
                None,
                vec![deploy(1, "production", 0), deploy(2, "production", 60)],
                Some(2),
            ),
            (
                None,
                vec![deploy(1, "production", -1), deploy(2, "production", 61)],
                None,
            ),
            // The last to finish wins...
            (
                None,
                vec![deploy(1, "staging", 50), deploy(2, "production", 10)],
                Some(1),
            ),
            // ...after the alert's own environment.
            (
                Some("production"),
                vec![deploy(1, "staging", 50), deploy(2, "production", 10)],
                Some(2),
            ),
            // Another environment still counts when no deploy of its own is in the window.
            (Some("production"), vec![deploy(1, "staging", 50)], Some(1)),
            // A tie on finishing time goes to the later deploy.
            (
                None,
                vec![deploy(4, "production", 30), deploy(3, "production", 30)],
                Some(4),
            ),
        ];
        for (env, candidates, expect) in cases {
            let picked = pick(&q(env), &candidates);
            assert_eq!(
                picked.map(|l| l.deploy_id),
                expect,
                "{env:?} {candidates:?}"
            );
        }
        let link = pick(&q(None), &[deploy(1, "production", 15)]).unwrap();
        assert_eq!((link.alert_id, link.delay_ms), (9, 45 * 60 * 1000));
    }
}
