//! The reading rule in SQL, on rows made by hand: two servers, what each was sent, subscribes
//! to and said, and what the operator reads.

use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::checkin::ReleaseRef;
use crate::domain::period::Period;
use crate::store::Scope;

const A: GuildId = GuildId(1);
const B: GuildId = GuildId(2);
const A_CHANNEL: u64 = 10;
const B_CHANNEL: u64 = 20;

async fn exec(store: &Store, sql: &str) {
    sqlx::query(&crate::store::numbered(sql))
        .execute(store.pool())
        .await
        .unwrap();
}

/// checkout (announced in A's channel), payments (announced nowhere, B subscribes to it), search
/// (announced nowhere, nobody subscribes); a comment on checkout from each server; an alert group
/// of checkout announced in A. Everything on 2026-11-18.
async fn two_servers() -> (Store, tempfile::TempDir) {
    let (store, dir) = Store::temporary().await;
    let now = Utc.with_ymd_and_hms(2026, 11, 18, 12, 0, 0).unwrap();
    store
        .learn_channels(A, &[ChannelId(A_CHANNEL)], now)
        .await
        .unwrap();
    store
        .learn_channels(B, &[ChannelId(B_CHANNEL)], now)
        .await
        .unwrap();
    let t = now.timestamp_millis();
    for (id, service) in [(1, "checkout"), (2, "payments"), (3, "search")] {
        exec(
            &store,
            &format!(
                "insert into deploy (id, source, external_id, service, version, environment, status,
                     started_at, finished_at, updated_at, created_at)
                 values ({id}, 'api', '{service}', '{service}', 'v1', 'production', 'succeeded',
                     {t}, {t}, {t}, {t})"
            ),
        )
        .await;
    }
    exec(
        &store,
        &format!(
            "insert into message (channel_id, subject_kind, subject_id, updated_at, created_at)
             values ({A_CHANNEL}, 'deploy', 1, {t}, {t})"
        ),
    )
    .await;
    exec(
        &store,
        &format!(
            "insert into subscription (guild_id, channel_id, kind, service_pattern, created_at)
             values (2, {B_CHANNEL}, 'deploys', 'pay*', {t})"
        ),
    )
    .await;
    for (guild, channel, body) in [(1, A_CHANNEL, "from A"), (2, B_CHANNEL, "from B")] {
        exec(
            &store,
            &format!(
                "insert into feedback (deploy_id, source, sentiment, body, user_id, user_name,
                     guild_id, channel_id, given_at, updated_at, created_at)
                 values (1, 'command', -1, '{body}', 5, 'ana', {guild}, {channel}, {t}, {t}, {t})"
            ),
        )
        .await;
    }
    exec(
        &store,
        &format!(
            "insert into alert_group (id, source, group_key, status, service, environment, severity,
                 first_fired_at, updated_at, created_at)
             values (7, 'api', 'k', 'firing', 'checkout', 'production', 'critical', {t}, {t}, {t});
             insert into message (channel_id, subject_kind, subject_id, updated_at, created_at)
             values ({A_CHANNEL}, 'alert_group', 7, {t}, {t})"
        ),
    )
    .await;
    (store, dir)
}

fn week() -> Period {
    Period::iso_week("2026-W47", chrono_tz::Tz::UTC).unwrap()
}

async fn services_read_by(store: &Store, reader: Reader) -> Vec<String> {
    let figures = store
        .summary_figures(
            &week(),
            &Scope::all().read_by(reader),
            &Default::default(),
            true,
        )
        .await
        .unwrap();
    figures.by_service.into_iter().map(|(s, _, _)| s).collect()
}

#[tokio::test]
async fn a_server_reads_what_its_channels_were_sent_or_subscribe_to_and_the_operator_everything() {
    let (store, _dir) = two_servers().await;
    assert_eq!(
        services_read_by(&store, Reader::Server(A)).await,
        ["checkout"]
    );
    assert_eq!(
        services_read_by(&store, Reader::Server(B)).await,
        ["payments"]
    );
    assert_eq!(
        services_read_by(&store, Reader::Server(GuildId(3))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        services_read_by(&store, Reader::Operator).await,
        ["checkout", "payments", "search"]
    );

    // Alerts: A's group only in A's figures.
    let firing = |reader| {
        let store = store.clone();
        async move {
            let f = store
                .summary_figures(
                    &week(),
                    &Scope::all().read_by(reader),
                    &Default::default(),
                    true,
                )
                .await
                .unwrap();
            f.alerts.unwrap().still_firing
        }
    };
    assert_eq!(firing(Reader::Server(A)).await, 1);
    assert_eq!(firing(Reader::Server(B)).await, 0);
    assert_eq!(firing(Reader::Operator).await, 1);

    // Comments: each server reads only what was said in it, even about the same release.
    let comments = |reader| {
        let store = store.clone();
        async move {
            let f = store
                .summary_figures(
                    &week(),
                    &Scope::all().read_by(reader),
                    &Default::default(),
                    true,
                )
                .await
                .unwrap();
            let c = f.checkins.unwrap();
            (
                c.negative,
                c.comments.into_iter().map(|c| c.text).collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(
        comments(Reader::Server(A)).await,
        (1, vec!["from A".to_owned()])
    );
    assert_eq!(
        comments(Reader::Server(B)).await,
        (1, vec!["from B".to_owned()])
    );
    assert_eq!(comments(Reader::Operator).await.0, 2);
}

#[tokio::test]
async fn release_look_ups_and_feedback_are_scoped_to_the_reading_server() {
    let (store, _dir) = two_servers().await;
    let suggestions = |reader| {
        let store = store.clone();
        async move { store.release_suggestions("", 10, reader).await.unwrap() }
    };
    assert_eq!(suggestions(Reader::Server(A)).await, ["checkout@v1"]);
    assert_eq!(suggestions(Reader::Server(B)).await, ["payments@v1"]);
    assert_eq!(suggestions(Reader::Operator).await.len(), 3);

    let checkout = ReleaseRef::parse("checkout").unwrap();
    assert!(store
        .find_release(&checkout, Reader::Server(A))
        .await
        .unwrap()
        .is_some());
    assert!(store
        .find_release(&checkout, Reader::Server(B))
        .await
        .unwrap()
        .is_none());

    let said = |reader| {
        let store = store.clone();
        async move {
            store
                .feedback_for(1, reader)
                .await
                .unwrap()
                .into_iter()
                .filter_map(|f| f.body)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(said(Reader::Server(A)).await, ["from A"]);
    assert_eq!(said(Reader::Server(B)).await, ["from B"]);
    assert_eq!(said(Reader::Operator).await.len(), 2);
    assert_eq!(
        store.release_tally(1, Reader::Server(A)).await.unwrap().bad,
        1
    );
    assert_eq!(
        store.release_tally(1, Reader::Operator).await.unwrap().bad,
        2
    );
}

#[tokio::test]
async fn a_channel_moved_to_another_server_is_learnt_again_and_a_known_one_costs_no_write() {
    let (store, _dir) = two_servers().await;
    let now = Utc.with_ymd_and_hms(2026, 11, 19, 0, 0, 0).unwrap();
    store
        .learn_channels(A, &[ChannelId(A_CHANNEL), ChannelId(A_CHANNEL)], now)
        .await
        .unwrap();
    let updated: i64 =
        sqlx::query_scalar("select updated_at from discord_channel where channel_id = 10")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(
        updated < now.timestamp_millis(),
        "a known channel is not rewritten"
    );
    // A's channel now says it is B's: A no longer reads what was sent there.
    store
        .learn_channels(B, &[ChannelId(A_CHANNEL)], now)
        .await
        .unwrap();
    assert_eq!(
        services_read_by(&store, Reader::Server(A)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        services_read_by(&store, Reader::Server(B)).await,
        ["checkout", "payments"]
    );
}
