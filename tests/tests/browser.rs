//! The console in real headless Chromium against the real `vigil` binary.

use std::time::Duration;

use fantoccini::Locator;
use vigil_tests::browser::Browser;
use vigil_tests::vigil::{Vigil, workspace_root};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_user_signs_in_creates_a_subscription_and_keeps_the_session_after_a_reload() {
    let vigil = Vigil::start().await;
    let browser = Browser::start().await;
    let page = &browser.client;

    // GIVEN the console's sign-in page
    page.goto(&vigil.base).await.expect("the console loads");
    let email = page
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#email"))
        .await
        .expect("the SPA renders its sign-in form");
    // WHEN a person signs in with an email
    email.send_keys("grace@example.com").await.unwrap();
    page.find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // THEN the console shows who is signed in (GET /me answered)
    wait_for_text(page, "#who", "grace@example.com").await;

    // WHEN they create a subscription
    let name = page.find(Locator::Css("#subscription-name")).await.unwrap();
    name.send_keys("Plant North").await.unwrap();
    page.find(Locator::Css("#create-subscription"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // THEN it is listed (POST then GET /subscriptions answered)
    wait_for_text(page, "#subscriptions .subscription .name", "Plant North").await;

    // WHEN the page is reloaded
    page.refresh().await.unwrap();
    // THEN the session and the list are still there
    wait_for_text(page, "#who", "grace@example.com").await;
    wait_for_text(page, "#subscriptions .subscription .name", "Plant North").await;

    let screenshot = page.screenshot().await.expect("a screenshot");
    let folder = workspace_root().join("target").join("screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("console.png"), screenshot).unwrap();

    browser.close().await;
}

async fn wait_for_text(page: &fantoccini::Client, css: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        if let Ok(element) = page.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.trim() == expected {
                return;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} never showed {expected:?} (last seen: {last:?})");
}
