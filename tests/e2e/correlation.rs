//! Deploy correlation: an alert starting after a deploy of its service is linked to it, and a
//! responder confirms or rejects the link from the alert message.

use fake_discord::CHANNEL_ID;
use serde_json::json;

use super::alerts::{
    am_alert, am_payload, custom_ids, message_id, only_alert, post_hook, press, scalar_i64,
    spawn_with_alertmanager, text_of, wait_text, AM_TOKEN,
};
use crate::support::app::{deploy, PATIENCE};

#[tokio::test]
async fn an_alert_after_a_deploy_of_its_service_is_linked_and_a_human_can_confirm_it() {
    let app = spawn_with_alertmanager(None).await;
    let (status, deployed) = app
        .post_deploy(&deploy(json!({"deployer": "alice", "status": "succeeded"})))
        .await;
    assert_eq!(status, 202);
    let deploy_id = deployed["deploy_id"].as_i64().unwrap();
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    let announcement = message_id(&app.discord.messages(CHANNEL_ID)[0]);

    // 10 minutes after the deploy finished (the alert's own startsAt says so).
    let finished: i64 = scalar_i64(&app, "select finished_at from deploy").await;
    let starts =
        chrono::DateTime::from_timestamp_millis(finished).unwrap() + chrono::Duration::minutes(10);
    let bearer = format!("Bearer {AM_TOKEN}");
    let body = am_payload(
        "firing",
        json!([am_alert("checkout", starts, "5xx above 5%")]),
    );
    let (status, reply) = post_hook(
        &app,
        "/hooks/alertmanager",
        Some(&bearer),
        &body.to_string(),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    wait_text(&app, "the alert names the deploy", |t| {
        t.contains("HighErrorRate")
            && t.contains("Started 10 min after deploy")
            && t.contains("v1.4.2")
            && t.contains("by alice")
    })
    .await;
    let (link_deploy, delay): (i64, i64) =
        sqlx::query_as("select deploy_id, delay_ms from alert_deploy_link")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(link_deploy, deploy_id);
    assert_eq!(delay, 10 * 60 * 1000);
    assert_eq!(
        scalar_i64(&app, "select deploy_id from incident").await,
        deploy_id
    );

    // The deploy's announcement gets a line too.
    let ok = app
        .discord
        .wait_for(PATIENCE, |d| {
            d.message(announcement)
                .is_some_and(|m| m["embeds"].to_string().contains("Alerts after this deploy"))
        })
        .await;
    assert!(ok, "{:?}", app.discord.message(announcement));

    // A different service is not linked.
    let mut other = am_payload("firing", json!([am_alert("payments", starts, "slow")]));
    other["groupKey"] = json!("{}:{alertname=\"Other\"}");
    other["commonLabels"]["job"] = json!("payments");
    let (status, _) = post_hook(
        &app,
        "/hooks/alertmanager",
        Some(&bearer),
        &other.to_string(),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(app.count("alert_deploy_link").await, 1);
    assert_eq!(app.count("alert").await, 2);

    // "Caused by this deploy?" yes: the answer is stored and shown.
    let alert_message = app
        .discord
        .messages(CHANNEL_ID)
        .into_iter()
        .find(|m| text_of(m).contains("5xx above 5%"))
        .unwrap();
    let yes = custom_ids(&alert_message)
        .into_iter()
        .find(|c| c.starts_with("alerts:cause:") && c.ends_with(":yes"))
        .expect("a confirm button");
    let answer = press(&app, message_id(&alert_message), &yes).await;
    assert_eq!(answer["data"]["flags"], 64);
    let verdict: (String, String) =
        sqlx::query_as("select verdict, verdict_by_name from alert_deploy_link")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(verdict, ("confirmed".to_owned(), "bob".to_owned()));
    wait_text(&app, "the verdict is shown", |t| {
        t.contains("Confirmed as the cause by bob")
    })
    .await;
    assert!(
        !custom_ids(&only_alert(&app, "5xx above 5%"))
            .iter()
            .any(|c| c.starts_with("alerts:cause:")),
        "answered: the question's buttons are gone"
    );

    // Changing one's mind: "no" is stored too, and the incident no longer names the deploy.
    let no = yes.replace(":yes", ":no");
    press(&app, message_id(&alert_message), &no).await;
    let verdict: String = sqlx::query_scalar("select verdict from alert_deploy_link")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(verdict, "rejected");
    assert_eq!(
        scalar_i64(
            &app,
            "select count(*) from incident where deploy_id is null
             and group_id = (select group_id from alert_deploy_link)"
        )
        .await,
        1
    );
    wait_text(&app, "the rejection is shown", |t| {
        t.contains("Not the cause, says bob")
    })
    .await;
}
