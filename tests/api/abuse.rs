//! Abuse resistance, each defence proven through the real handlers over DynamoDB
//! Local and the SES v2 emulator.

use anyhow::{anyhow, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use password_reset_tests::reset_core::domain::{Clock, Email, Language, ResetToken, SystemClock, Username};
use password_reset_tests::reset_core::hashing::verify_password;
use password_reset_tests::reset_core::store::{DynamoStore, TableNames, UserDirectory};
use password_reset_tests::reset_core::App;
use password_reset_tests::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn random_ip() -> String {
    random_client_ip()
}

fn submit(username: &str, ip: &str) -> EventBuilder {
    EventBuilder::form("/password-reset", &[("username", username)]).source_ip(ip)
}

async fn set_status(app: &App, username: &Username, status: &str) -> Result<()> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_dynamodb::Client::new(&config)
        .update_item()
        .table_name(&app.settings.users_table)
        .key("username", AttributeValue::S(username.to_string()))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", AttributeValue::S(status.into()))
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn unknown_disabled_known_and_rate_limited_get_byte_identical_pages_no_faster_than_the_floor() -> Result<()> {
    let floor = Duration::from_millis(150);
    // A queue of this test's own, delivered after each request, so that each job meets the
    // account in the state its request saw.
    let queue = OwnMailQueue::create(&format!("alike-{}", random_username())).await?;
    let shared = local_app().await?;
    let mut settings = shared.settings.clone();
    settings.rate_limit_per_username_and_client_per_hour = 3;
    settings.request_min_response = floor;
    let app = App::new(
        settings.clone(),
        Arc::new(tables(&shared.settings).await),
        Arc::new(queue.mail_queue()),
        Arc::new(SystemClock),
    );
    let sender = in_process_sender(settings, &queue).await?;
    let username = random_username();
    let email = Email::parse(&format!("{username}@example.jp")).map_err(|e| anyhow!(e))?;
    let client = random_ip();
    let mut pages = Vec::new();
    let ask = |case: &'static str| {
        let (app, username, client) = (&app, username.clone(), client.clone());
        async move {
            let started = Instant::now();
            let page = invoke(app, Function::RequestReset, submit(username.as_str(), &client)).await?;
            assert!(started.elapsed() >= floor, "{case} answered before the floor");
            Ok::<_, anyhow::Error>((case, page))
        }
    };

    pages.push(ask("unknown").await?);
    queue.deliver(&sender).await?;
    let user = TestUser::named(username.clone()).disabled().build()?;
    tables(&app.settings).await.create_user(&user).await?;
    pages.push(ask("disabled").await?);
    queue.deliver(&sender).await?;
    set_status(&app, &username, "active").await?;
    pages.push(ask("known").await?);
    queue.deliver(&sender).await?;
    // The fourth request of this client for this username: nothing is queued.
    pages.push(ask("rate-limited").await?);
    assert_eq!(queue.deliver(&sender).await?, 0, "the limited request queued nothing");

    let (_, reference) = &pages[0];
    for (case, page) in &pages {
        assert_eq!(page.status, 200, "{case}");
        assert_eq!(page.body, reference.body, "{case} differs from unknown");
        assert_eq!(page.headers, reference.headers, "{case} headers differ");
    }
    assert_eq!(
        mails_to(email.as_str()).await?.len(),
        1,
        "only the known, unthrottled request mails"
    );
    Ok(())
}

#[tokio::test]
async fn the_account_mail_budget_counts_sent_mail_and_one_client_cannot_spend_it() -> Result<()> {
    let queue = OwnMailQueue::create(&format!("budget-{}", random_username())).await?;
    let shared = local_app().await?;
    let mut settings = shared.settings.clone();
    settings.rate_limit_per_username_per_hour = 5;
    settings.rate_limit_per_username_and_client_per_hour = 3;
    // A turn every millisecond: the hourly budget, not the spacing, is what this test crosses.
    settings.reset_mails_per_username_per_day = 86_400_000;
    let app = App::new(
        settings.clone(),
        Arc::new(tables(&shared.settings).await),
        Arc::new(queue.mail_queue()),
        Arc::new(SystemClock),
    );
    let sender = in_process_sender(settings, &queue).await?;
    let user = create_user(&app, Language::Ja).await?;

    // One client asks five times: three jobs are queued, and the pages do not tell.
    let one_client = random_ip();
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let answer = invoke(
            &app,
            Function::RequestReset,
            submit(user.username.as_str(), &one_client),
        )
        .await?;
        assert_eq!(answer.status, 200);
        bodies.push(answer.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(queue.deliver(&sender).await?, 3, "one client queues at most three");
    assert_eq!(mails_to(user.email.as_str()).await?.len(), 3);

    // Four other clients: the account's budget of five sent mails stops the fifth and sixth.
    for _ in 0..4 {
        let answer = invoke(
            &app,
            Function::RequestReset,
            submit(user.username.as_str(), &random_ip()),
        )
        .await?;
        assert_eq!(answer.status, 200);
    }
    assert_eq!(queue.deliver(&sender).await?, 4);
    assert_eq!(
        mails_to(user.email.as_str()).await?.len(),
        5,
        "mail stops at the budget"
    );
    Ok(())
}

#[tokio::test]
async fn per_client_limit_answers_429_with_retry_after() -> Result<()> {
    let app = local_app_with(|s| s.rate_limit_per_ip_per_hour = 4, Arc::new(SystemClock)).await?;
    let ip = random_ip();
    for _ in 0..4 {
        let answer = invoke(&app, Function::RequestReset, submit(random_username().as_str(), &ip)).await?;
        assert_eq!(answer.status, 200);
    }
    let page = invoke(&app, Function::RequestReset, submit(random_username().as_str(), &ip)).await?;
    assert_eq!(page.status, 429);
    assert_eq!(page.title(), "しばらくしてからお試しください");
    let retry: u32 = page.header("retry-after").unwrap_or_default().parse()?;
    assert!((1..=3600).contains(&retry));

    let json = invoke(
        &app,
        Function::RequestReset,
        EventBuilder::json(
            "/api/password-reset/request",
            serde_json::json!({ "username": "ex000000" }),
        )
        .source_ip(&ip),
    )
    .await?;
    assert_eq!(json.status, 429);
    assert_eq!(json.json()?["error"], "rate_limited");
    assert!(json.header("retry-after").is_some());

    let other_client = invoke(
        &app,
        Function::RequestReset,
        submit(random_username().as_str(), &random_ip()),
    )
    .await?;
    assert_eq!(other_client.status, 200, "other clients are not affected");
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_submissions_of_one_link_exactly_one_wins() -> Result<()> {
    let app = Arc::new(local_app().await?);
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let app = app.clone();
        let token = token.clone();
        tasks.spawn(async move {
            let password = format!("Concurrent{i:02}Xy");
            let event = EventBuilder::form(
                "/password-reset/complete",
                &[
                    ("token", &token),
                    ("new_password", &password),
                    ("new_password_confirmation", &password),
                ],
            );
            invoke(&app, Function::ChangePassword, event)
                .await
                .map(|answer| (password, answer.status))
        });
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    while let Some(result) = tasks.join_next().await {
        let (password, status) = result??;
        match status {
            200 => winners.push(password),
            400 => losers += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one submission wins");
    assert_eq!(losers, 19);
    let stored = tables(&app.settings)
        .await
        .find_user(&user.username)
        .await?
        .ok_or_else(|| anyhow!("user vanished"))?;
    assert!(
        verify_password(&winners[0], stored.password_hash.as_deref().unwrap_or_default()),
        "the winner's hash is stored"
    );
    Ok(())
}

#[tokio::test]
async fn opening_the_link_many_times_does_not_consume_it() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    for _ in 0..10 {
        let answer = invoke(
            &app,
            Function::VerifyToken,
            EventBuilder::get(&format!("/password-reset/confirm?token={token}")),
        )
        .await?;
        assert_eq!(answer.status, 200);
        let json = invoke(
            &app,
            Function::VerifyToken,
            EventBuilder::json("/api/password-reset/verify", serde_json::json!({ "token": token })),
        )
        .await?;
        assert_eq!(json.status, 200);
    }
    let stored = app
        .tokens
        .find_token(&ResetToken::parse(&token).map_err(|e| anyhow!(e))?.hash())
        .await?;
    assert_eq!(stored.and_then(|t| t.used_at), None);
    Ok(())
}

/// An app whose DynamoDB adapter points at a closed port: any database call would be a 503.
async fn app_without_database() -> Result<App> {
    let app = local_app().await?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), TableNames::from(&app.settings));
    Ok(App::new(
        app.settings.clone(),
        Arc::new(store),
        app.mail_queue.clone(),
        app.clock.clone(),
    ))
}

#[tokio::test]
async fn malformed_input_is_refused_before_any_database_call_or_hash() -> Result<()> {
    let app = app_without_database().await?;
    let long_token = "A".repeat(20_000);
    let long_username = "ｅ".repeat(1_500);
    let megabyte = "Aa1".repeat(350_000);
    let oversize = "x".repeat(17 * 1024);
    let cases: Vec<(Function, EventBuilder, u16)> = vec![
        (
            Function::VerifyToken,
            EventBuilder::get(&format!("/password-reset/confirm?token={long_token}")),
            400,
        ),
        (
            Function::VerifyToken,
            EventBuilder::get("/password-reset/confirm?token=%2B%2B%2B"),
            400,
        ),
        (
            Function::VerifyToken,
            EventBuilder::get(&format!("/password-reset/confirm?token={}", "*".repeat(43))),
            400,
        ),
        (
            Function::RequestReset,
            EventBuilder::form("/password-reset", &[("username", &long_username)]),
            400,
        ),
        (
            Function::RequestReset,
            EventBuilder::form("/password-reset", &[("username", "ab\0cdefg")]),
            400,
        ),
        (
            Function::RequestReset,
            EventBuilder::form("/password-reset", &[("username", &oversize)]),
            413,
        ),
        (
            Function::ChangePassword,
            EventBuilder::form(
                "/password-reset/complete",
                &[
                    ("token", &"A".repeat(43)),
                    ("new_password", &megabyte),
                    ("new_password_confirmation", &megabyte),
                ],
            ),
            413,
        ),
        (
            Function::ChangePassword,
            EventBuilder::json(
                "/api/password-reset/complete",
                serde_json::json!({ "token": long_token, "new_password": "x", "new_password_confirmation": "x" }),
            ),
            413,
        ),
        (
            Function::RequestReset,
            EventBuilder::new("POST", "/password-reset")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("username=ex\u{0}00000"),
            400,
        ),
        (
            Function::RequestReset,
            EventBuilder::new("POST", "/api/password-reset/request")
                .header("content-type", "application/json")
                .body("{\"username\":"),
            400,
        ),
        (
            Function::RequestReset,
            EventBuilder::new("POST", "/api/password-reset/request")
                .header("content-type", "text/plain")
                .body("ex000000"),
            415,
        ),
    ];
    for (function, event, status) in cases {
        let started = Instant::now();
        let answer = invoke(&app, function, event).await?;
        assert_eq!(
            answer.status,
            status,
            "{}",
            answer.body.chars().take(200).collect::<String>()
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused slowly: was the database or hasher involved?"
        );
    }
    // The control: a well-formed unknown token does reach the (unreachable) database.
    let unknown = ResetToken::generate()?.to_url_safe();
    let answer = invoke(
        &app,
        Function::VerifyToken,
        EventBuilder::get(&format!("/password-reset/confirm?token={unknown}")),
    )
    .await?;
    assert_eq!(answer.status, 503);
    Ok(())
}

#[tokio::test]
async fn invalid_utf8_bodies_are_refused() -> Result<()> {
    let app = local_app().await?;
    let mut event = EventBuilder::new("POST", "/password-reset")
        .header("content-type", "application/x-www-form-urlencoded")
        .to_json();
    // API Gateway base64-encodes bodies it cannot pass as text.
    use base64::Engine;
    event["body"] = serde_json::json!(base64::engine::general_purpose::STANDARD.encode(b"username=\xff\xfe\xfd"));
    event["isBase64Encoded"] = serde_json::json!(true);
    let request = lambda_http::request::from_str(&event.to_string())?;
    let answer = invoke_request(&app, Function::RequestReset, request).await?;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.title(), "リクエストを処理できませんでした");
    Ok(())
}

#[tokio::test]
async fn the_mailed_link_ignores_host_and_forwarded_host() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let event = submit(user.username.as_str(), &random_ip())
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example;proto=https");
    assert_eq!(invoke(&app, Function::RequestReset, event).await?.status, 200);
    let mail = wait_for_mails(user.email.as_str(), 1).await?.remove(0);
    let link = mail.link().ok_or_else(|| anyhow!("no link"))?;
    assert!(
        link.starts_with(&format!(
            "{}/password-reset/confirm?token=",
            app.settings.public_base_url
        )),
        "{link}"
    );
    assert!(!mail.text().contains("evil.example") && !mail.body.html.unwrap_or_default().contains("evil.example"));
    Ok(())
}

/// A form route and the fields it posts.
type FormPost<'a> = (Function, &'a str, Vec<(&'a str, &'a str)>);

#[tokio::test]
async fn cross_site_posts_are_refused_on_every_form() -> Result<()> {
    let app = local_app().await?;
    let origin = app.settings.public_base_url.clone();
    let token = "A".repeat(43);
    let posts: Vec<FormPost> = vec![
        (
            Function::RequestReset,
            "/password-reset",
            vec![("username", "ex000000")],
        ),
        (
            Function::VerifyToken,
            "/password-reset/confirm",
            vec![("token", &token)],
        ),
        (
            Function::ChangePassword,
            "/password-reset/complete",
            vec![
                ("token", &token),
                ("new_password", "x"),
                ("new_password_confirmation", "x"),
            ],
        ),
    ];
    // (Origin, Sec-Fetch-Site, refused?) — what browsers send for each kind of post.
    let cases = [
        (Some("https://evil.example"), None, true),
        (None, Some("cross-site"), true),
        (Some(origin.as_str()), Some("same-origin"), false),
        // A same-origin post from a no-referrer page.
        (Some("null"), Some("same-origin"), false),
        (Some("null"), Some("cross-site"), true),
    ];
    for (function, path, fields) in posts {
        for (origin_header, fetch_site, refused) in cases {
            let mut post = EventBuilder::form(path, &fields);
            if let Some(value) = origin_header {
                post = post.header("origin", value);
            }
            if let Some(value) = fetch_site {
                post = post.header("sec-fetch-site", value);
            }
            let status = invoke(&app, function, post).await?.status;
            assert_eq!(
                status == 403,
                refused,
                "{path}: Origin {origin_header:?}, Sec-Fetch-Site {fetch_site:?} answered {status}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn pages_carry_no_inline_script_or_style() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    let pages = [
        invoke(&app, Function::RequestReset, EventBuilder::get("/password-reset")).await?,
        invoke(
            &app,
            Function::RequestReset,
            EventBuilder::form("/password-reset", &[("username", "abc")]),
        )
        .await?,
        invoke(
            &app,
            Function::VerifyToken,
            EventBuilder::get(&format!("/password-reset/confirm?token={token}")),
        )
        .await?,
        invoke(
            &app,
            Function::VerifyToken,
            EventBuilder::form("/password-reset/confirm", &[("token", &token)]),
        )
        .await?,
    ];
    // Any on* attribute inside a tag, whatever the quoting or spacing.
    let inline_handler = regex::Regex::new(r"(?i)<[^>]*\son[a-z]+\s*=")?;
    for page in pages {
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
        for script in page.body.split("<script").skip(1) {
            assert!(script.trim_start().starts_with("src="), "inline script found");
        }
        assert!(
            !page.body.contains(" style=\"") && !page.body.contains("<style"),
            "inline style found"
        );
        assert!(
            inline_handler.find(&page.body).is_none(),
            "inline handler found: {:?}",
            inline_handler.find(&page.body).map(|m| m.as_str())
        );
        assert!(
            !page.body.to_ascii_lowercase().contains("javascript:"),
            "javascript: URL found"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_language_switch_never_links_off_the_site() -> Result<()> {
    let app = local_app().await?;
    for path in [
        "//evil.example/x",
        "//evil.example/x?lang=ja",
        "/password-reset/..//evil.example",
    ] {
        for function in [Function::RequestReset, Function::VerifyToken, Function::ChangePassword] {
            let page = invoke(&app, function, EventBuilder::get(path)).await?;
            assert!(page.status >= 400, "{path}");
            assert!(!page.body.contains("href=\"//"), "{path}: {}", page.body);
            assert!(
                page.body.contains("href=\"/password-reset?lang=en\""),
                "{path}: the switch goes to the request page"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn ipv6_clients_are_counted_per_64_and_requests_without_an_address_share_one_budget() -> Result<()> {
    let app = local_app_with(|s| s.rate_limit_per_ip_per_hour = 2, Arc::new(SystemClock)).await?;
    let network = random_ip();
    let prefix = network.trim_end_matches("::1");
    for host in ["::1", "::2"] {
        let answer = invoke(
            &app,
            Function::RequestReset,
            submit(random_username().as_str(), &format!("{prefix}{host}")),
        )
        .await?;
        assert_eq!(answer.status, 200);
    }
    let third = invoke(
        &app,
        Function::RequestReset,
        submit(random_username().as_str(), &format!("{prefix}:abcd::9")),
    )
    .await?;
    assert_eq!(third.status, 429, "another address of the same /64 is the same client");

    // No sourceIp at all: such requests are counted together under one key, never skipped. That
    // key is the same in every test and run, so this counts it in a rate-limit table of its own.
    let mut settings = app.settings.clone();
    settings.rate_limits_table = own_rate_limits_table(&settings).await?;
    let anonymous_app = App::new(
        settings.clone(),
        Arc::new(tables(&settings).await),
        app.mail_queue.clone(),
        Arc::new(SystemClock),
    );
    for (attempt, expected) in [(1, 200), (2, 200), (3, 429)] {
        let anonymous = invoke(
            &anonymous_app,
            Function::RequestReset,
            submit(random_username().as_str(), ""),
        )
        .await?;
        assert_eq!(
            anonymous.status, expected,
            "request {attempt} without an address: counted under one key, limited, not let through"
        );
    }
    Ok(())
}

#[tokio::test]
async fn behind_cloudfront_only_the_distribution_is_answered_and_viewers_are_counted() -> Result<()> {
    let app = local_app_with(
        |s| {
            s.client_ip_source = password_reset_tests::reset_core::domain::ClientIpSource::CloudFrontViewerAddress;
            s.origin_verify_secret = Some("distribution-secret".into());
            s.rate_limit_per_ip_per_hour = 1;
        },
        Arc::new(SystemClock),
    )
    .await?;
    let edge = random_ip();
    let direct = invoke(&app, Function::RequestReset, submit(random_username().as_str(), &edge)).await?;
    assert_eq!(direct.status, 403, "a request that did not come through CloudFront");
    let page = invoke(
        &app,
        Function::RequestReset,
        EventBuilder::get("/password-reset").source_ip(&edge),
    )
    .await?;
    assert_eq!(page.status, 403, "every route, pages included");

    // Two viewers behind one edge address: each has a budget of its own. Fresh addresses each
    // run: with a budget of one an hour, fixed ones would fail the next run.
    let (first, second) = (random_client_ip(), random_client_ip());
    for viewer in [format!("{first}:40001"), format!("{second}:40002")] {
        let answer = invoke(
            &app,
            Function::RequestReset,
            submit(random_username().as_str(), &edge)
                .header("x-origin-verify", "distribution-secret")
                .header("cloudfront-viewer-address", &viewer),
        )
        .await?;
        assert_eq!(answer.status, 200, "{viewer}");
    }
    let again = invoke(
        &app,
        Function::RequestReset,
        submit(random_username().as_str(), &edge)
            .header("x-origin-verify", "distribution-secret")
            .header("cloudfront-viewer-address", &format!("{first}:40003")),
    )
    .await?;
    assert_eq!(again.status, 429, "the same viewer again");
    Ok(())
}

/// Start of a UTC day well in the future: the test's windows are its own, and DynamoDB Local's
/// TTL (which deletes by the real clock) leaves the counters alone.
fn a_future_day() -> password_reset_tests::reset_core::domain::Timestamp {
    let later = SystemClock.now().plus_secs(3 * 24 * 3600);
    later.plus_secs(-later.as_secs().rem_euclid(24 * 3600))
}

/// Whether the newest mail to `user` holds a link that opens now (on the app's clock).
async fn holds_a_working_link(app: &App, user: &password_reset_tests::reset_core::domain::User) -> Result<bool> {
    let Some(token) = mails_to(user.email.as_str()).await?.last().and_then(Mail::token) else {
        return Ok(false);
    };
    let opened = invoke(
        app,
        Function::VerifyToken,
        EventBuilder::get(&format!("/password-reset/confirm?token={token}")),
    )
    .await?;
    Ok(opened.status == 200)
}

#[tokio::test]
async fn strangers_on_three_clients_get_the_owner_at_most_n_mails_a_day_and_never_a_gap_over_one_link_lifetime(
) -> Result<()> {
    use password_reset_tests::reset_core::domain::FixedClock;
    let queue = OwnMailQueue::create(&format!("mailbox-{}", random_username())).await?;
    let shared = local_app().await?;
    let clock = Arc::new(FixedClock::at(a_future_day()));
    let mut settings = shared.settings.clone();
    settings.request_min_response = Duration::ZERO;
    settings.token_ttl = Duration::from_secs(3600);
    settings.rate_limit_per_username_per_hour = 5;
    settings.rate_limit_per_username_and_client_per_hour = 3;
    settings.rate_limit_per_ip_per_hour = 1000;
    settings.reset_mails_per_username_per_day = 12;
    let app = App::new(
        settings.clone(),
        Arc::new(tables(&shared.settings).await),
        Arc::new(queue.mail_queue()),
        clock.clone(),
    );
    let sender = in_process_sender_with_clock(settings, &queue, clock.clone()).await?;
    let user = create_user(&app, Language::Ja).await?;
    let strangers = [random_ip(), random_ip(), random_ip()];
    let owner = random_ip();

    // Every 20 minutes for a day and a half, each stranger asks as often as its allowance lets
    // it; the owner asks whenever the newest mail's link no longer opens.
    let step = 20 * 60;
    let mut mails_by_step = Vec::new();
    let mut without_link_since: Option<i64> = None;
    let mut longest_gap = 0;
    for minute in (0..36 * 60).step_by(20) {
        for stranger in &strangers {
            for _ in 0..3 {
                let answer = invoke(&app, Function::RequestReset, submit(user.username.as_str(), stranger)).await?;
                assert_eq!(answer.status, 200);
            }
        }
        queue.deliver(&sender).await?;
        if !holds_a_working_link(&app, &user).await? {
            invoke(&app, Function::RequestReset, submit(user.username.as_str(), &owner)).await?;
            queue.deliver(&sender).await?;
        }
        if holds_a_working_link(&app, &user).await? {
            if let Some(since) = without_link_since.take() {
                longest_gap = longest_gap.max(minute - since);
            }
        } else {
            without_link_since.get_or_insert(minute);
        }
        mails_by_step.push(mails_to(user.email.as_str()).await?.len());
        clock.advance_secs(step);
    }
    // The first day (72 steps of 20 minutes), and any 24 hours of the 36.
    let per_day = 24 * 60 / 20;
    for start in 0..mails_by_step.len() - per_day {
        let before = if start == 0 { 0 } else { mails_by_step[start - 1] };
        let within = mails_by_step[start + per_day - 1] - before;
        assert!(within <= 12, "{within} reset mails within 24 hours (steps {start}..)");
    }
    assert!(mails_by_step[per_day - 1] >= 1, "the owner got no mail at all");
    assert!(
        longest_gap <= 60,
        "the owner held no working link for {longest_gap} minutes (a link lives 60)"
    );
    Ok(())
}

/// A /48 of the documentation prefix 3fff::/20, random per test: its /64s are `{prefix}:{n}::1`.
fn random_48() -> String {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    format!(
        "3fff:{:x}:{:x}",
        u16::from_be_bytes([bytes[0], bytes[1]]) & 0x0fff,
        u16::from_be_bytes([bytes[2], bytes[3]])
    )
}

#[tokio::test]
async fn ipv6_clients_are_also_counted_per_48_on_both_forms() -> Result<()> {
    let app = local_app_with(
        |s| {
            s.rate_limit_per_ip_per_hour = 2;
            s.rate_limit_per_ipv6_48_per_hour = 5;
            s.request_min_response = Duration::ZERO;
        },
        Arc::new(SystemClock),
    )
    .await?;
    let desk = local_desk_with(
        |s| {
            s.address.per_client_per_hour = 2;
            s.address.per_ipv6_48_per_hour = 5;
        },
        Some(Arc::new(
            password_reset_tests::reset_core::mail::RecordingQueue::default(),
        )),
        Arc::new(SystemClock),
    )
    .await?;
    let address_form = |ip: &str| {
        EventBuilder::form(
            "/password-reset/address-change",
            &[
                ("username", random_username().as_str()),
                ("institution", "さくら内科クリニック"),
                ("location", "東京都千代田区霞が関1-2-2"),
                ("contact_person", "山田 花子"),
                ("new_email", "info@clinic.example.jp"),
            ],
        )
        .source_ip(ip)
    };
    for form in ["reset", "address"] {
        let network = random_48();
        let mut statuses = Vec::new();
        // Three /64s of one /48, two requests each: each /64 stays within its own budget, and
        // the sixth request is beyond the /48's.
        for subnet in 1..=3 {
            for _ in 0..2 {
                let ip = format!("{network}:{subnet:x}::1");
                let answer = match form {
                    "reset" => invoke(&app, Function::RequestReset, submit(random_username().as_str(), &ip)).await?,
                    _ => invoke_address(&desk, address_form(&ip)).await?,
                };
                statuses.push(answer.status);
            }
        }
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429], "{form}: {network}::/48");
        // Another /48 is another client.
        let elsewhere = format!("{}:1::1", random_48());
        let answer = match form {
            "reset" => {
                invoke(
                    &app,
                    Function::RequestReset,
                    submit(random_username().as_str(), &elsewhere),
                )
                .await?
            }
            _ => invoke_address(&desk, address_form(&elsewhere)).await?,
        };
        assert_eq!(answer.status, 200, "{form}: another /48");
    }
    Ok(())
}
