//! Extreme dates: any period a person or a sender can spell gives a period within the four-digit
//! years or a refusal naming the field, in Discord and over HTTP; never a panic.

use fake_discord::CHANNEL_ID;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{json, Value};

use crate::support::app::{TestApp, API_TOKEN};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any dates at all (chrono's whole range, any spelling of a year) and any ISO week: a period
    /// within the four-digit years, or a refusal naming the field; never a panic.
    #[test]
    fn any_period_dates_give_a_period_or_a_refusal(
        from in (-262_143i32..=262_142, 1u32..=12, 1u32..=31),
        len in 0i64..400,
        week in (-300_000i32..300_000, 0u32..60),
    ) {
        use loopbot::domain::period::{Period, FIRST_DATE, LAST_DATE};
        let (y, m, d) = from;
        let raw_from = format!("{y:+}-{m:02}-{d:02}");
        let to = chrono::NaiveDate::from_ymd_opt(y, m, d.min(28))
            .and_then(|f| f.checked_add_signed(chrono::Duration::days(len)))
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "+262142-12-31".into());
        let zones = [chrono_tz::Tz::UTC, chrono_tz::Europe::Berlin, chrono_tz::Pacific::Kiritimati];
        for tz in zones {
            match Period::custom(&raw_from, &to, tz) {
                Ok(p) => {
                    prop_assert!(p.from >= FIRST_DATE && p.to <= LAST_DATE.succ_opt().unwrap());
                    prop_assert!(p.start() < p.end());
                    prop_assert_eq!(p.previous().to, p.from);
                    prop_assert_eq!(p.days().len() as i64, p.day_count());
                    prop_assert_eq!(p.info().to, p.to.pred_opt().unwrap());
                }
                Err(e) => prop_assert!(e.field == "from" || e.field == "to", "{e}"),
            }
            if let Ok(p) = Period::iso_week(&format!("{}-W{:02}", week.0, week.1), tz) {
                prop_assert_eq!(p.day_count(), 7);
                prop_assert!(p.previous().start() < p.end());
            }
        }
    }
}

/// `/summary period:custom` with chrono's last date used to overflow a date computation and the
/// interaction got no answer; now every such date is an ephemeral refusal, the year 9999 still
/// works, and the HTTP API says the same with a 422.
#[tokio::test]
async fn summary_periods_past_the_year_9999_are_refused_in_discord_and_http() {
    use crate::support::app::{choice, command};
    let app = TestApp::spawn().await;
    let custom = |from: &str, to: &str| {
        json!([
            choice(&app, "summary", "period", "custom"),
            {"name": "from", "type": 3, "value": from},
            {"name": "to", "type": 3, "value": to},
        ])
    };
    for (from, to, field) in [
        ("2026-01-01", "+262142-12-31", "to"),
        ("+262142-12-25", "+262142-12-31", "from"),
        ("-262143-01-01", "-262143-01-02", "from"),
        ("9999-12-31", "10000-01-01", "to"),
    ] {
        let answer = command(
            &app,
            CHANNEL_ID,
            fake_discord::PLAIN_USER_ID,
            "summary",
            custom(from, to),
        )
        .await;
        assert_eq!(
            answer["data"]["flags"].as_u64().unwrap() & 64,
            64,
            "{answer}"
        );
        let text = answer["data"]["content"].as_str().unwrap();
        assert!(
            text.contains(field) && text.contains("9999-12-31"),
            "{from}..{to}: {text}"
        );

        let response = app
            .http
            .get(app.url(&format!(
                "/api/v1/summary?from={}&to={}",
                from.replace('+', "%2B"),
                to.replace('+', "%2B")
            )))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{from}..{to}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(field), "{body}");
    }
    // The last four-digit year is still a period with an answer.
    let answer = command(
        &app,
        CHANNEL_ID,
        fake_discord::PLAIN_USER_ID,
        "summary",
        custom("9999-12-25", "9999-12-31"),
    )
    .await;
    let title = answer["data"]["embeds"][0]["title"]
        .as_str()
        .unwrap_or_default();
    assert!(title.contains("9999"), "{answer}");
    let response = app
        .http
        .get(app.url("/api/v1/summary?week=9999-W51"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
