//! The web dashboard (issue 18 item 2) over HTTP: `/dashboard` in the local Discord answers with a
//! private link signed for the server and the person; the link opens that server's figures (equal
//! to the summary JSON's for what the server reads) and nothing of another server's; a changed,
//! expired or missing credential is refused with a plain page; the API token sees everything.

use chrono::Utc;
use fake_discord::{
    ADMIN_USER_ID, CHANNEL_ID, OTHER_GUILD_CHANNEL_ID, OTHER_GUILD_ID, PLAIN_USER_ID,
};
use loopbot::domain::access::Grant;
use loopbot::domain::period::Period;
use loopbot::signing::LinkSigner;
use serde_json::{json, Value};

use crate::support::app::{choice, command, deploy, TestApp, API_TOKEN, PATIENCE};

const A: u64 = CHANNEL_ID;
const B: u64 = OTHER_GUILD_CHANNEL_ID;

/// The link in `/dashboard`'s private answer, after checking the answer is private and pings
/// nobody.
pub async fn dashboard_link(app: &TestApp, channel: u64, user: u64) -> String {
    let answer = command(app, channel, user, "dashboard", json!([])).await;
    assert_eq!(
        answer["data"]["flags"].as_u64().unwrap_or(0) & 64,
        64,
        "ephemeral: {answer}"
    );
    assert_eq!(
        answer["data"]["allowed_mentions"]["parse"],
        json!([]),
        "{answer}"
    );
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    let start = content
        .find("http://")
        .unwrap_or_else(|| panic!("no link in {answer}"));
    content[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

pub async fn get(
    app: &TestApp,
    url: &str,
    bearer: Option<&str>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut request = app.http.get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

/// The `data-value` of the key card `id` on the page (None: `n/a`).
fn key_value(html: &str, id: &str) -> Option<f64> {
    let card = &html[html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no card {id}"))..];
    let value = &card[card.find("class=\"value\"").unwrap()..];
    let tag_end = value.find('>').unwrap();
    let tag = &value[..tag_end];
    tag.find("data-value=\"").map(|i| {
        let rest = &tag[i + "data-value=\"".len()..];
        rest[..rest.find('"').unwrap()].parse().unwrap()
    })
}

/// The `href` of the link whose text is `text`.
fn href_of(html: &str, text: &str) -> String {
    let at = html
        .find(&format!(">{text}</a>"))
        .unwrap_or_else(|| panic!("no link {text}"));
    let start = html[..at].rfind("href=\"").unwrap() + 6;
    let rest = &html[start..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// Every `href` on the page.
fn hrefs(html: &str) -> Vec<String> {
    html.match_indices("href=\"")
        .map(|(i, _)| {
            let rest = &html[i + 6..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

pub async fn summary_json(app: &TestApp, query: &str) -> Value {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/summary?{query}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Two servers: A's default channel hears about checkout (two production deploys, one with a
/// commit time, one failed, a comment, a critical alert that opens an incident); B subscribes to
/// payments.
pub async fn two_servers() -> TestApp {
    let app = TestApp::spawn_with(|c| {
        c.guild_ids = vec![
            loopbot::domain::GuildId(fake_discord::GUILD_ID),
            loopbot::domain::GuildId(OTHER_GUILD_ID),
        ]
    })
    .await;
    app.discord.add_bot_to_guild(OTHER_GUILD_ID).await;
    let answer = command(
        &app,
        B,
        ADMIN_USER_ID,
        "subscribe",
        json!([
            choice(&app, "subscribe", "kind", "deploys"),
            {"name": "service", "type": 3, "value": "payments"},
        ]),
    )
    .await;
    assert!(answer.to_string().contains("payments"), "{answer}");
    let commit_at = (Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    for body in [
        json!({"service": "checkout", "version": "v1.4.1", "commit_at": commit_at}),
        json!({"service": "checkout", "version": "v1.4.2", "status": "failed"}),
        json!({"service": "payments", "version": "v2.0.0"}),
    ] {
        let (status, reply) = app.post_deploy(&deploy(body)).await;
        assert_eq!(status, 202, "{reply}");
    }
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(A).len() >= 2
                && !d.message_posts(B).is_empty())
            .await,
        "the deploys are announced"
    );
    let answer = command(
        &app,
        A,
        PLAIN_USER_ID,
        "feedback",
        json!([
            {"name": "release", "type": 3, "value": "checkout@v1.4.1"},
            choice(&app, "feedback", "rating", "bad"),
            {"name": "comment", "type": 3, "value": "A-secret: <b>pages</b> time out"},
        ]),
    )
    .await;
    assert!(answer.to_string().contains("recorded"), "{answer}");
    let response = app
        .http
        .post(app.url("/api/v1/alerts"))
        .bearer_auth(API_TOKEN)
        .json(
            &json!({"service": "checkout", "environment": "production", "name": "CheckoutDown",
                      "severity": "critical", "status": "firing", "id": "cd-1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    app
}

#[tokio::test]
async fn a_signed_link_from_discord_shows_the_servers_figures_and_nothing_of_another_server() {
    let app = two_servers().await;
    let link = dashboard_link(&app, A, PLAIN_USER_ID).await;
    assert!(
        link.starts_with(&format!(
            "http://{}/dashboard?guild={}&user={PLAIN_USER_ID}&expires=",
            app.addr,
            fake_discord::GUILD_ID
        )),
        "{link}"
    );
    let this_week = format!("{link}&period=this-week");
    let (status, page, headers) = get(&app, &this_week, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(!page.contains("<script"), "no JavaScript");
    assert!(!page.contains("src=\"http"), "no external asset");

    // The figures are the summary JSON's for what server A reads (checkout, this week).
    let week = Period::week_of(Utc::now(), chrono_tz::Tz::UTC).info();
    let json = summary_json(
        &app,
        &format!("from={}&to={}&service=checkout", week.from, week.to),
    )
    .await;
    let keys = &json["keys"];
    assert_eq!(json["deploys"]["total"], 2, "{json}");
    for (id, value) in [
        (
            "deployment_frequency",
            &keys["deployment_frequency"]["value"],
        ),
        ("lead_time", &keys["lead_time"]["value"]),
        ("change_failure_rate", &keys["change_failure_rate"]["value"]),
        ("time_to_restore", &keys["time_to_restore"]["value"]),
    ] {
        assert_eq!(key_value(&page, id), value.as_f64(), "{id}: {json}");
    }
    assert!(
        key_value(&page, "lead_time").is_some(),
        "a commit time was sent"
    );
    assert!(
        page.contains(&format!(
            "{} deploys: {} succeeded, {} failed",
            json["deploys"]["total"], json["deploys"]["succeeded"], json["deploys"]["failed"]
        )),
        "{page}"
    );
    let band = keys["change_failure_rate"]["band"].as_str().unwrap();
    assert!(page.contains(&format!("class=\"band {band}\"")), "{band}");

    // A's releases, incident and noisiest alert; nothing of B's.
    for expected in [
        "checkout v1.4.1",
        "checkout v1.4.2",
        "CheckoutDown",
        "1 bad",
    ] {
        assert!(page.contains(expected), "{expected} missing");
    }
    assert!(!page.contains("payments"), "B's release shows on A's page");
    assert!(page.contains("id=\"incidents\""));
    assert!(page.contains(&format!("Server {}", fake_discord::GUILD_ID)));

    // Every link of the page keeps the signature: the release page opens from it.
    let release = href_of(&page, "checkout v1.4.1");
    assert!(
        release.starts_with("/dashboard/releases/") && release.contains("&sig="),
        "{release}"
    );
    let (status, release_page, _) = get(&app, &app.url(&release), None).await;
    assert_eq!(status, 200, "{release_page}");
    assert!(
        release_page.contains("checkout v1.4.1 in production"),
        "{release_page}"
    );
    // The comment, escaped: its <b> is text, never markup.
    assert!(
        release_page.contains("A-secret: &lt;b&gt;pages&lt;/b&gt; time out"),
        "{release_page}"
    );
    assert!(
        release_page.contains("data-bad=\"1\""),
        "the tally: {release_page}"
    );
    // The incident page: its timeline and the deploy it is linked to.
    let incident = hrefs(&page)
        .into_iter()
        .find(|h| h.starts_with("/dashboard/incidents/"))
        .expect("an incident link");
    let (status, incident_page, _) = get(&app, &app.url(&incident), None).await;
    assert_eq!(status, 200, "{incident_page}");
    assert!(
        incident_page.contains("CheckoutDown fired"),
        "{incident_page}"
    );
    assert!(incident_page.contains("still open"));

    // Server B's link shows payments only; A's releases are not found through it.
    let link_b = dashboard_link(&app, B, PLAIN_USER_ID).await;
    let (status, page_b, _) = get(&app, &format!("{link_b}&period=this-week"), None).await;
    assert_eq!(status, 200);
    assert!(page_b.contains("payments v2.0.0"), "{page_b}");
    assert!(
        !page_b.contains("checkout") && !page_b.contains("CheckoutDown"),
        "{page_b}"
    );
    let a_release = release.split('?').next().unwrap();
    let b_query = link_b.split('?').nth(1).unwrap();
    let (status, _, _) = get(&app, &app.url(&format!("{a_release}?{b_query}")), None).await;
    assert_eq!(status, 404, "B reads A's release as no release");
    let (status, _, _) = get(
        &app,
        &app.url(&format!(
            "{}?{b_query}",
            incident.split('?').next().unwrap()
        )),
        None,
    )
    .await;
    assert_eq!(status, 404, "B reads A's incident as no incident");

    // The operator (API token) sees both servers' releases.
    let (status, all, _) = get(
        &app,
        &app.url("/dashboard?period=this-week"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert!(all.contains("payments v2.0.0") && all.contains("checkout v1.4.2"));
    assert!(all.contains("operator view"));
}

#[tokio::test]
async fn a_changed_expired_or_missing_credential_is_refused_with_a_plain_page() {
    let app = two_servers().await;
    let link = dashboard_link(&app, A, PLAIN_USER_ID).await;
    let (status, _, _) = get(&app, &link, None).await;
    assert_eq!(status, 200);

    let plain = |status: u16, page: &str, reason: &str| {
        assert!(page.contains(&format!("<title>{status} ")), "{page}");
        assert!(page.contains(reason), "{reason} not in {page}");
        assert!(!page.contains("checkout"), "nothing of the data: {page}");
    };
    // Changed: another person, another server, another expiry, a cut or foreign signature.
    let sig = link.rsplit("sig=").next().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        &sig[..63],
        if sig.ends_with('0') { '1' } else { '0' }
    );
    for tampered in [
        link.replace(
            &format!("user={PLAIN_USER_ID}"),
            &format!("user={ADMIN_USER_ID}"),
        ),
        link.replace(
            &format!("guild={}", fake_discord::GUILD_ID),
            &format!("guild={OTHER_GUILD_ID}"),
        ),
        link.replace("&expires=", "&expires=9"),
        link.replace(&sig, &flipped),
        link.replace(&sig, &sig[..40]),
        link.replace(&format!("&sig={sig}"), ""),
        link.replace("guild=", "guild=x"),
        format!("{link}&sig={sig}"),
    ] {
        let (status, page, headers) = get(&app, &tampered, None).await;
        assert_eq!(status, 403, "{tampered}: {page}");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        plain(403, &page, "changed");
    }
    // Expired: signed with the bot's own key (read from its database), 12 h and a second ago.
    let key: Vec<u8> = sqlx::query_scalar("select key from dashboard_key")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let signer = LinkSigner::new(key.try_into().unwrap(), &format!("http://{}", app.addr));
    let old = Grant::issue(
        fake_discord::GUILD_ID,
        PLAIN_USER_ID,
        Utc::now() - chrono::Duration::hours(12) - chrono::Duration::seconds(1),
    );
    let (status, page, _) = get(&app, &signer.link(&old), None).await;
    assert_eq!(status, 403, "{page}");
    plain(403, &page, "expired");
    // ... and the same key a minute before the end still opens it.
    let fresh = Grant::issue(
        fake_discord::GUILD_ID,
        PLAIN_USER_ID,
        Utc::now() - chrono::Duration::hours(11) - chrono::Duration::minutes(59),
    );
    assert_eq!(get(&app, &signer.link(&fresh), None).await.0, 200);

    // No credential, or a wrong token: 401 with a plain page, on every dashboard route.
    for path in [
        "/dashboard",
        "/dashboard/releases/1",
        "/dashboard/incidents/1",
        "/dashboard/releases/x",
    ] {
        let (status, page, headers) = get(&app, &app.url(path), None).await;
        assert_eq!(status, 401, "{path}: {page}");
        assert_eq!(headers["www-authenticate"], "Bearer");
        plain(401, &page, "/dashboard in your server");
        let (status, page, _) = get(&app, &app.url(path), Some("not-the-token")).await;
        assert_eq!(status, 401, "{path}: {page}");
        plain(401, &page, "not the bot's");
    }
    // A link is refused once its server is no longer served.
    let (discord, dir) = app.stop().await;
    let app = TestApp::spawn_on(discord, dir, |_| {}).await;
    let (status, page, _) = get(
        &app,
        &link.replace(
            &link[..link.find("/dashboard").unwrap()],
            &format!("http://{}", app.addr),
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "the key survives a restart: {page}");
    let link_b = {
        let key: Vec<u8> = sqlx::query_scalar("select key from dashboard_key")
            .fetch_one(&app.db)
            .await
            .unwrap();
        LinkSigner::new(key.try_into().unwrap(), &format!("http://{}", app.addr))
            .link(&Grant::issue(OTHER_GUILD_ID, PLAIN_USER_ID, Utc::now()))
    };
    let (status, page, _) = get(&app, &link_b, None).await;
    assert_eq!(
        status, 403,
        "B is not in LOOPBOT_GUILD_IDS any more: {page}"
    );
    plain(403, &page, "no longer serves");
}
