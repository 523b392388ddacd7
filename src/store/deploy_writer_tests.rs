//! The batch path against the one-by-one path it must equal, row for row.

use super::*;
use crate::domain::deploy::RawDeployEvent;
use proptest::prelude::*;

/// One generated event: (key, service, production?, status, deployer, url, changelog, commit_at).
type Spec = (
    u8,
    u8,
    bool,
    u8,
    Option<u8>,
    Option<u8>,
    Option<String>,
    Option<u32>,
);

fn job(spec: &Spec, n: usize) -> DeployJob {
    let (key, service, production, status, deployer, url, changelog, commit_at) = spec;
    let raw = RawDeployEvent {
        id: Some(format!("k{key}")),
        service: Some(format!("svc-{service}")),
        version: Some(format!("v{n}")),
        environment: Some(if *production { "production" } else { "staging" }.into()),
        status: Some(
            ["started", "succeeded", "failed", "rolled_back"][*status as usize % 4].into(),
        ),
        deployer: deployer.map(|d| format!("dev{d}")),
        url: url.map(|u| format!("https://ci.example.com/{u}")),
        changelog: changelog.clone(),
        // Sub-millisecond precision: the store keeps milliseconds.
        commit_at: commit_at.map(|s| format!("2026-11-01T00:00:{:02}.{:06}Z", s % 60, s)),
        // Some list the commits they shipped, overlapping between events of one deploy.
        commits: commit_at.filter(|s| s % 3 == 0).map(|s| {
            (0..(s % 4))
                .map(|i| crate::domain::deploy::RawCommit {
                    sha: Some(format!("c0ffee{:x}", (s / 3 + i) % 6)),
                    committed_at: Some(format!("2026-10-{:02}T00:00:00.{:06}Z", 1 + i, s)),
                })
                .collect()
        }),
        ..Default::default()
    };
    let mut event = DeployEvent::parse(&raw).expect("generated events are valid");
    let now = DateTime::from_timestamp_millis(1_800_000_000_000 + (n as i64 / 2) * 1000).unwrap();
    // Some events carry the sender's time: earlier than arrival, sub-millisecond, or ahead of it.
    event.at = commit_at
        .filter(|s| s % 2 == 0)
        .map(|s| now - chrono::Duration::microseconds(i64::from(s % 9_000) * 1_001 - 1_500_000));
    DeployJob {
        source: "api".into(),
        raw_body: format!("{{\"n\":{n}}}"),
        event,
        default_channel: (!n.is_multiple_of(3)).then_some(ChannelId(7)),
        now,
        done: oneshot::channel().0,
    }
}

async fn fresh() -> (sqlx::AnyPool, tempfile::TempDir) {
    let (store, dir) = Store::temporary().await;
    // A channel subscribed to one service's deploys, another to production.
    sqlx::query(
        "insert into subscription (channel_id, kind, service_pattern, environment_pattern, created_at)
         values (11, 'deploys', 'svc-1', '*', 0), (12, 'deploys', '*', 'production', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    (store.pool().clone(), dir)
}

async fn one_by_one(pool: &sqlx::AnyPool, jobs: &[DeployJob]) -> Vec<DeployRecorded> {
    let mut tx = pool.begin().await.unwrap();
    let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys)
        .await
        .unwrap();
    let mut out = Vec::new();
    for job in jobs {
        out.push(record_in(&mut tx, job, &subscriptions).await.unwrap());
    }
    tx.commit().await.unwrap();
    out
}

async fn dump(pool: &sqlx::AnyPool) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "inbound_event",
        "deploy",
        "deploy_status_change",
        "deploy_latest_success",
        "deploy_commit",
        "message",
        "outbox",
    ] {
        let columns: Vec<String> = sqlx::query_scalar("select name from pragma_table_info($1)")
            .bind(table)
            .fetch_all(pool)
            .await
            .unwrap();
        let rows: Vec<String> = sqlx::query_scalar(&crate::store::numbered(&format!(
            "select json_array({}) from {table} order by 1",
            columns.join(", ")
        )))
        .fetch_all(pool)
        .await
        .unwrap();
        assert!(!columns.is_empty());
        out.push(format!("{table}: {}", rows.join("\n")));
    }
    out
}

/// The batch hands text to SQLite inside JSON; what comes back must be the text that went in,
/// control characters and all.
#[tokio::test]
async fn text_passed_through_json_comes_back_byte_for_byte() {
    let changelog = "nul \0 quote \" backslash \\ bell \u{7} é 😀 \u{2028}";
    let mut job = job(&(1, 1, true, 1, None, None, None, None), 0);
    job.event.changelog = Some(changelog.to_owned());
    job.raw_body = format!("{{\"changelog\": {changelog:?}}}");
    let (pool, _dir) = fresh().await;
    let mut tx = pool.begin().await.unwrap();
    let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys)
        .await
        .unwrap();
    let recorded = record_batch(&mut tx, std::slice::from_ref(&job), &subscriptions)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (stored, body): (String, String) = sqlx::query_as(
        "select d.changelog, e.body from deploy d, inbound_event e where d.id = $1 and e.id = 1",
    )
    .bind(recorded[0].deploy_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, changelog);
    assert_eq!(body, job.raw_body);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The batch path is an optimisation only: after some events recorded one by one, the rest
    /// recorded as one batch leave every table exactly as recording them one by one does.
    #[test]
    fn a_batch_records_exactly_what_one_by_one_records(
        specs in proptest::collection::vec(
            (0u8..4, 0u8..3, any::<bool>(), 0u8..4, proptest::option::of(0u8..3),
             proptest::option::of(0u8..3), proptest::option::of("(\\PC|[\\x00-\\x1f\"\\\\]){0,8}"),
             proptest::option::of(0u32..100_000)),
            1..40),
        split in 0usize..40,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let jobs: Vec<DeployJob> = specs.iter().enumerate().map(|(n, s)| job(s, n)).collect();
            let split = split.min(jobs.len());
            let (reference, _a) = fresh().await;
            let expected = one_by_one(&reference, &jobs).await;

            let (batched, _b) = fresh().await;
            one_by_one(&batched, &jobs[..split]).await;
            let mut tx = batched.begin().await.unwrap();
            let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys).await.unwrap();
            let got = record_batch(&mut tx, &jobs[split..], &subscriptions).await.unwrap();
            tx.commit().await.unwrap();

            assert_eq!(got, expected[split..].to_vec());
            assert_eq!(dump(&batched).await, dump(&reference).await);
        });
    }
}
