//! The sandbox page in a real browser (issue 18 item 3): headless Chromium over WebDriver clicks
//! the example deploy and sees the announcement appear and then change to succeeded in place;
//! asks the check-in now, presses Looks good, fills the comment form, answers in the thread and
//! reads the tally with a typed slash command. Each step saves a screenshot.

use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};

use crate::support::browser::Browser;
use crate::support::sandbox::{SandboxApp, PAGE_PATIENCE};

/// Waits until an element matching `css` shows `text`; returns it.
async fn wait_text(c: &Client, css: &str, text: &str) -> Element {
    let deadline = tokio::time::Instant::now() + PAGE_PATIENCE;
    loop {
        for element in c.find_all(Locator::Css(css)).await.unwrap() {
            if element.text().await.is_ok_and(|t| t.contains(text)) {
                return element;
            }
        }
        if tokio::time::Instant::now() > deadline {
            let png = c.screenshot().await.unwrap();
            let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("sandbox-failed.png"), png).unwrap();
            let shown = c
                .find(Locator::Css("body"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            panic!("no {css} showing {text:?}; the page shows:\n{shown}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(PAGE_PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Types `text` in the composer `input` and presses Enter.
async fn type_line(c: &Client, input: &str, text: &str) {
    let field = c.find(Locator::Css(input)).await.unwrap();
    field.click().await.unwrap();
    field.send_keys(text).await.unwrap();
    // Escape closes the suggestions, so Enter sends the line as typed.
    field.send_keys("\u{e00c}").await.unwrap();
    field.send_keys("\u{e007}").await.unwrap();
}

async fn open(app: &SandboxApp) -> Browser {
    let browser = Browser::start_sized(1400, 1000).await;
    let c = &browser.client;
    c.goto(&app.url("/")).await.unwrap();
    wait_text(c, "#live", "live").await;
    browser
}

#[tokio::test]
async fn the_example_deploy_appears_then_changes_to_succeeded_in_place() {
    let app = SandboxApp::spawn().await;
    let browser = open(&app).await;
    let c = &browser.client;
    let channels = c
        .find(Locator::Id("channels"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        channels.contains("deploys") && channels.contains("alerts") && channels.contains("team"),
        "{channels}"
    );

    click(c, "#examples button[data-example='deploy']").await;
    let announced = wait_text(c, ".message", "Deploying: checkout").await;
    let id = announced.attr("data-id").await.unwrap().unwrap();
    browser.screenshot("sandbox-deploy-started").await;

    // The same message (same id) now says succeeded and is marked edited.
    let succeeded = wait_text(c, ".message", "Deployed: checkout").await;
    assert_eq!(succeeded.attr("data-id").await.unwrap().unwrap(), id);
    let text = succeeded.text().await.unwrap();
    assert!(text.contains("(edited)"), "{text}");
    assert!(!text.contains("Deploying"), "{text}");
    let bar = succeeded
        .find(Locator::Css(".embed"))
        .await
        .unwrap()
        .css_value("border-left-color")
        .await
        .unwrap();
    assert_ne!(bar, "rgb(30, 31, 34)", "the embed's colour bar is drawn");
    assert_eq!(
        c.find_all(Locator::Css("#messages .message"))
            .await
            .unwrap()
            .len(),
        1,
        "an edit, not a second message"
    );
    browser.screenshot("sandbox-deploy-succeeded").await;
    browser.close().await;
}

#[tokio::test]
async fn a_checkin_asked_now_takes_looks_good_a_comment_and_a_thread_reply_and_shows_the_tally() {
    let app = SandboxApp::spawn().await;
    let browser = open(&app).await;
    let c = &browser.client;
    click(c, "#examples button[data-example='deploy']").await;
    wait_text(c, ".message", "Deployed: checkout").await;

    click(c, "#examples button[data-example='checkin']").await;
    let checkin = wait_text(c, "#messages .message", "How is checkout").await;
    let looks_good = checkin
        .find(Locator::XPath(".//button[contains(., 'Looks good')]"))
        .await
        .unwrap();
    looks_good.click().await.unwrap();
    wait_text(c, ".message.ephemeral", "Thanks! Recorded").await;

    // Bob says the same with the comment form, as a form.
    click(c, "#people button[data-id='400000000000000006']").await;
    let checkin = wait_text(c, "#messages .message", "How is checkout").await;
    checkin
        .find(Locator::XPath(".//button[contains(., 'Add a comment')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let form = c
        .wait()
        .at_most(PAGE_PATIENCE)
        .for_element(Locator::Css("dialog[open] textarea, dialog[open] input"))
        .await
        .unwrap();
    form.send_keys("Checkout feels faster").await.unwrap();
    browser.screenshot("sandbox-checkin-form").await;
    click(c, "#modal-submit").await;
    wait_text(c, ".message.ephemeral", "comment").await;

    // A reply in the check-in's thread, typed as Bob.
    click(c, "#messages .thread-link").await;
    type_line(c, "#thread-input", "no errors on my side").await;
    wait_text(c, "#thread-messages .message", "no errors on my side").await;

    // The tally, asked with a typed slash command.
    type_line(c, "#input", "/feedback-summary release:checkout").await;
    let tally = wait_text(c, ".message.ephemeral", "👍 1").await;
    let text = tally.text().await.unwrap();
    assert!(text.contains("comments"), "{text}");
    browser.screenshot("sandbox-checkin-tally").await;
    browser.close().await;
}
