//! Talking to the systems teams deploy with: GitHub's and GitLab's REST APIs (the commits a deploy
//! shipped, for lead time),
//! Prometheus' query API (release health) and the `loopbot notify` client CI scripts run. The inbound webhooks are in `http::hooks`.

pub mod commit_times;
pub mod forges;
pub mod git_commits;
pub mod notify;
pub mod prometheus;
