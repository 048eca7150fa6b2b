//! Signing in and the session, in real headless Chromium against the real `vigil` binary.

use fantoccini::Locator;
use vigil_tests::browser::{Browser, click, find, open_menu, type_into, wait_for_text, wait_until};
use vigil_tests::oidc::{OpenIdProvider, SigningKey};
use vigil_tests::vigil::{Vigil, free_port};

#[tokio::test]
async fn a_user_signs_in_creates_a_subscription_and_keeps_the_session_after_a_reload() {
    let vigil = Vigil::start().await;
    let browser = Browser::start().await;
    let page = &browser.client;

    // GIVEN a person with no subscription signs in
    browser.sign_in(&vigil.base, "grace@example.com").await;
    // THEN the console offers the subscription picker and says who is signed in
    find(page, "#subscription-name").await;
    open_menu(page, "//header", "Account").await;
    wait_for_text(page, "#who", |t| t == "grace@example.com").await;

    // WHEN they create a subscription
    let name = find(page, "#subscription-name").await;
    name.send_keys("Plant North").await.unwrap();
    find(page, "#create-subscription")
        .await
        .click()
        .await
        .unwrap();
    // THEN it is listed (POST then GET /subscriptions answered)
    wait_for_text(page, "#subscriptions .subscription .name", |t| {
        t == "Plant North"
    })
    .await;

    // WHEN the page is reloaded
    page.refresh().await.unwrap();
    // THEN the session and the list are still there
    wait_for_text(page, "#subscriptions .subscription .name", |t| {
        t == "Plant North"
    })
    .await;
    browser.screenshot("subscriptions").await;
    browser.close().await;
}

#[tokio::test]
async fn a_signed_out_visit_and_a_rejected_token_both_return_to_sign_in_and_back() {
    let vigil = Vigil::start().await;
    let browser = Browser::start().await;
    let page = &browser.client;
    let owner = vigil.api().dev_login("ada@example.com").await;
    let created = vigil
        .api()
        .post(
            "/subscriptions",
            Some(&owner),
            serde_json::json!({"name": "Plants"}),
        )
        .await;
    let sub = created.body["id"].as_str().unwrap().to_owned();
    let plans = format!("/s/{sub}/plans");

    // GIVEN a signed-out visitor opens a deep link
    page.goto(&format!("{}{plans}", vigil.base)).await.unwrap();
    // THEN they are sent to sign in, with the link kept
    wait_until(
        page,
        "the sign-in page keeps where the user was going",
        || async {
            page.current_url().await.is_ok_and(|url| {
                url.path() == "/sign-in" && url.query().is_some_and(|q| q.contains("next="))
            })
        },
    )
    .await;
    // WHEN they sign in
    let field = find(page, "#email").await;
    field.send_keys("ada@example.com").await.unwrap();
    find(page, "#sign-in").await.click().await.unwrap();
    // THEN they land where they were going
    wait_for_text(page, "main#content h1", |t| t == "Plans and pricing").await;

    // WHEN the server stops accepting the token (a 401 on the next call)
    page.execute(
        "localStorage.setItem('vigil.token', '\"not-a-token\"')",
        vec![],
    )
    .await
    .unwrap();
    page.refresh().await.unwrap();
    // THEN the console signs them out and asks them to sign in again, keeping the page
    wait_until(page, "a 401 returns to sign-in with next", || async {
        page.current_url().await.is_ok_and(|url| {
            url.path() == "/sign-in" && url.query().is_some_and(|q| q.contains("plans"))
        })
    })
    .await;
    // (The address changes before the form renders: wait for it.)
    find(page, "#email").await;
    browser.close().await;
}

#[tokio::test]
async fn a_user_signs_in_through_the_openid_provider_with_pkce_and_lands_where_they_were_going() {
    // GIVEN a provider whose public client returns to this console, and a console that
    // offers only it (no dev-login)
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/sign-in/callback");
    let provider = OpenIdProvider::start(&SigningKey::generate(), &[callback]).await;
    let issuer = provider.issuer();
    let vigil = Vigil::start_at(
        port,
        &[
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            &provider.client_id,
            "--dev-login",
            "off",
        ],
    )
    .await;
    let browser = Browser::start().await;
    let page = &browser.client;

    // WHEN a signed-out visitor opens a page, they are asked to sign in with the provider
    page.goto(&format!("{}/subscriptions", vigil.base))
        .await
        .unwrap();
    let provider_name = issuer.trim_start_matches("http://");
    wait_for_text(page, "#sign-in-provider", |t| {
        t == format!("Sign in with {provider_name}")
    })
    .await;
    assert!(
        page.find(Locator::Css("#email")).await.is_err(),
        "no dev-login form where the server has none"
    );
    browser.screenshot("oidc-sign-in-page").await;
    click(page, "#sign-in-provider").await;
    // AND at the provider they log in and consent
    type_into(page, "input[name=login]", "ada@example.com").await;
    type_into(page, "input[name=password]", "any password").await;
    click(page, "button[type=submit]").await;
    wait_for_text(page, "button[type=submit]", |t| t == "Continue").await;
    click(page, "button[type=submit]").await;

    // THEN they are back where they were going, signed in as the provider's account
    wait_until(page, "the console returns to /subscriptions", || async {
        page.current_url()
            .await
            .is_ok_and(|url| url.path() == "/subscriptions" && url.port() == Some(port))
    })
    .await;
    open_menu(page, "//header", "Account").await;
    wait_for_text(page, "#who", |t| t == "ada@example.com").await;
    // AND the provider's ID token works as the bearer: they create a subscription
    type_into(page, "#subscription-name", "Plant West").await;
    click(page, "#create-subscription").await;
    wait_for_text(page, "#subscriptions .subscription .name", |t| {
        t == "Plant West"
    })
    .await;
    browser.screenshot("oidc-sign-in").await;

    // AND a replayed callback (its one-use state is gone) signs nobody in
    page.goto(&format!(
        "{}/sign-in/callback?code=replayed&state=replayed",
        vigil.base
    ))
    .await
    .unwrap();
    wait_for_text(page, "main [role=alert]", |t| {
        t.contains("not started here") || t.contains("no sign-in was started")
    })
    .await;
    browser.close().await;
}
