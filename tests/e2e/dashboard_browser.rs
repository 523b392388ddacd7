//! The web dashboard in a real browser (issue 18 item 3): headless Chromium over WebDriver opens
//! the link `/dashboard` gave in the local Discord, shows the figures the summary JSON gives,
//! follows a link of the page to a release (the signature travels with it), and shows the refusal
//! page for a forged and an expired link. Each step saves a screenshot.

use chrono::Utc;
use fake_discord::{CHANNEL_ID, PLAIN_USER_ID};
use fantoccini::Locator;
use loopbot::domain::access::Grant;
use loopbot::domain::period::Period;
use loopbot::signing::LinkSigner;

use crate::dashboard::{dashboard_link, summary_json, two_servers};
use crate::support::browser::Browser;

#[tokio::test]
async fn a_signed_link_opens_the_servers_figures_in_chromium_and_a_forged_or_expired_one_is_refused(
) {
    let app = two_servers().await;
    let link = dashboard_link(&app, CHANNEL_ID, PLAIN_USER_ID).await;
    let browser = Browser::start().await;
    let c = &browser.client;

    c.goto(&format!("{link}&period=this-week")).await.unwrap();
    let week = Period::week_of(Utc::now(), chrono_tz::Tz::UTC).info();
    let json = summary_json(
        &app,
        &format!("from={}&to={}&service=checkout", week.from, week.to),
    )
    .await;
    // Each key as the browser shows it: the rendered value's data and its band.
    for key in [
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "time_to_restore",
    ] {
        let value = c
            .find(Locator::Css(&format!("#{key} .value")))
            .await
            .unwrap_or_else(|_| panic!("no {key} card"));
        let shown = value.attr("data-value").await.unwrap();
        assert_eq!(
            shown.map(|v| v.parse::<f64>().unwrap()),
            json["keys"][key]["value"].as_f64(),
            "{key}: {json}"
        );
        let band = c
            .find(Locator::Css(&format!("#{key} .band")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let expected = json["keys"][key]["band"].as_str().unwrap_or("no data");
        assert_eq!(band, expected, "{key}");
    }
    let text = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("checkout v1.4.2") && text.contains("CheckoutDown"),
        "{text}"
    );
    assert!(
        !text.contains("payments"),
        "another server's release: {text}"
    );
    let deploys_line = format!(
        "{} deploys: {} succeeded, {} failed",
        json["deploys"]["total"], json["deploys"]["succeeded"], json["deploys"]["failed"]
    );
    assert!(text.contains(&deploys_line), "{deploys_line} not in {text}");
    // The chart is drawn: one bar segment per outcome of today's deploys.
    let bars = c.find_all(Locator::Css("#daily svg rect")).await.unwrap();
    assert_eq!(bars.len(), 2, "a succeeded and a failed segment");
    browser.screenshot("dashboard").await;

    // A link of the page, clicked: the release page opens with the same signature.
    c.find(Locator::LinkText("checkout v1.4.1"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::Css("#answers"))
        .await
        .unwrap();
    let url = c.current_url().await.unwrap();
    assert!(url.path().starts_with("/dashboard/releases/"), "{url}");
    let text = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("A-secret: <b>pages</b> time out"), "{text}");
    browser.screenshot("dashboard-release").await;

    // A forged link: the refusal page, nothing of the data.
    let sig = link.rsplit("sig=").next().unwrap();
    let forged = link.replace(sig, &"0".repeat(64));
    c.goto(&forged).await.unwrap();
    let title = c.title().await.unwrap();
    assert!(title.starts_with("403"), "{title}");
    let reason = c
        .find(Locator::Id("reason"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reason.contains("changed"), "{reason}");
    assert!(!c.source().await.unwrap().contains("checkout"));
    browser.screenshot("dashboard-forged").await;

    // An expired link, signed with the bot's own key.
    let key: Vec<u8> = sqlx::query_scalar("select key from dashboard_key")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let signer = LinkSigner::new(key.try_into().unwrap(), &format!("http://{}", app.addr));
    let expired = Grant::issue(
        fake_discord::GUILD_ID,
        PLAIN_USER_ID,
        Utc::now() - chrono::Duration::hours(13),
    );
    c.goto(&signer.link(&expired)).await.unwrap();
    assert!(c.title().await.unwrap().starts_with("403"));
    let reason = c
        .find(Locator::Id("reason"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reason.contains("expired"), "{reason}");
    browser.screenshot("dashboard-expired").await;
    browser.close().await;
}
