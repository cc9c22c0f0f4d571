//! A change that set the password in the pool always finishes (`store::claimed_change`):
//! whatever fails after `AdminSetUserPassword` (the global sign-out, the finishing transaction,
//! the function itself), the page reports the change, and the notice, queued bound to the change
//! before the password was set, finishes it in send-mail: the sessions from before end, the link
//! is used, older links die, the claim is dropped and the notice is mailed.
//!
//! Everything is real (moto's pool, DynamoDB Local, moto's SQS, send-mail served by cargo lambda
//! watch behind the local SQS trigger) except the fault: a request refused by an interceptor on
//! this process's SDK clients, or a change dropped mid-way as a function that dies. send-mail's
//! clients are the stack's own, without the fault. Runs in make test's Cognito pass.

use super::cognito_store::{complete_form, pool_app, sub_of, NEW_PASSWORD};
use anyhow::{anyhow, Result};
use async_trait::async_trait;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use password_reset_tests::reset_core::app::sdk_config;
use password_reset_tests::reset_core::domain::{
    Clock, Language, MailJob, NewPassword, ResetToken, SystemClock, Timestamp, User, Username,
};
use password_reset_tests::reset_core::store::{
    change_claimed, initial_epoch, state_attributes, BackendAccount, ChangeNotice, CognitoAccounts, CredentialBackend,
    DynamoStore, StoreError, TableNames, CHANGE_CLAIM_LEASE_SECS,
};
use password_reset_tests::reset_core::App;
use password_reset_tests::*;
use std::sync::Arc;
use std::time::Duration;

/// What a link used after the change tries to set.
const LATER_PASSWORD: &str = "Another2026pwx";

/// Refuses every request to one operation (`X-Amz-Target` ending in it) whose body holds a
/// text: a service that keeps failing, as seen by the SDK.
#[derive(Debug, Clone)]
struct Refuse {
    operation: &'static str,
    body_holds: &'static str,
}

impl Intercept for Refuse {
    fn name(&self) -> &'static str {
        "InjectedRefusal"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default());
        if target.ends_with(self.operation) && body.contains(self.body_holds) {
            return Err(format!("injected: {} refused", self.operation).into());
        }
        Ok(())
    }
}

/// The Cognito store with `refused` on its pool and ledger clients, and the test's pool id.
async fn accounts_refusing(app: &App, pool_id: &str, refused: Refuse) -> Result<CognitoAccounts> {
    let config = sdk_config().await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::from_conf(
        aws_sdk_cognitoidentityprovider::config::Builder::from(&config)
            .interceptor(refused.clone())
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(refused)
            .build(),
    );
    let ledger = DynamoStore::new(dynamodb, TableNames::from(&app.settings));
    Ok(CognitoAccounts::new(cognito, pool_id.to_owned(), ledger))
}

/// An account with a session and a link from before the change, and the link the change uses.
struct Before {
    user: User,
    session: String,
    older_link: String,
    link: String,
}

async fn account_with_session_and_links(app: &App, pool_id: &str) -> Result<Before> {
    let user = create_user(app, Language::Ja).await?;
    let session = pool::sign_in(pool_id, &user.username, INITIAL_PASSWORD)
        .await?
        .ok_or_else(|| anyhow!("the initial password does not sign in"))?;
    let older_link = request_link(app, &user).await?;
    let link = request_link(app, &user).await?;
    Ok(Before {
        user,
        session,
        older_link,
        link,
    })
}

/// The page of a change through `accounts`: 200, the change reported, never "nothing was
/// changed".
async fn change_through(app: &App, accounts: CognitoAccounts, link: &str) -> Result<()> {
    let faulty = App {
        settings: app.settings.clone(),
        accounts: Arc::new(accounts),
        tokens: app.tokens.clone(),
        counters: app.counters.clone(),
        mail_queue: app.mail_queue.clone(),
        clock: app.clock.clone(),
        breach_corpus: app.breach_corpus.clone(),
    };
    let page = invoke(&faulty, Function::ChangePassword, complete_form(link, NEW_PASSWORD)).await?;
    assert_eq!(
        page.status, 200,
        "the password is set: the change is reported: {}",
        page.body
    );
    assert!(
        !page.body.contains("何も変更されていません"),
        "a set password is never reported as nothing changed: {}",
        page.body
    );
    Ok(())
}

/// The change finished, by whoever met it (send-mail's handling of its notice, here): the new
/// password signs in, the notice is mailed (after the two links' mails), the session from before
/// is refused, both links are dead, the claim is gone and the epoch moved on once.
async fn assert_finished(app: &App, pool_id: &str, before: &Before) -> Result<()> {
    let Before {
        user,
        session,
        older_link,
        link,
    } = before;
    assert!(signs_in(app, &user.username, NEW_PASSWORD).await?);
    let mails = wait_for_mails(user.email.as_str(), 3).await?;
    assert!(
        mails[2].subject.contains("パスワードが変更されました"),
        "the third mail is the notice: {}",
        mails[2].subject
    );
    assert!(
        !pool::refresh_works(pool_id, session).await?,
        "a session from before the change is refused"
    );
    for (what, token) in [("the older link", older_link), ("the change's own link", link)] {
        let answer = invoke(app, Function::ChangePassword, complete_form(token, LATER_PASSWORD)).await?;
        assert_eq!(answer.status, 400, "{what} still works: {}", answer.body);
    }
    assert!(!signs_in(app, &user.username, LATER_PASSWORD).await?);
    let sub = sub_of(pool_id, &user.username).await?;
    let state = pool::state_item(app, &user.username).await?;
    assert!(
        !state.contains_key(state_attributes::CHANGE_CLAIM),
        "the claim is dropped: {state:?}"
    );
    assert_eq!(
        state
            .get("credential_epoch")
            .and_then(|v| v.as_n().ok())
            .map(String::as_str),
        Some(initial_epoch(&sub).next().value().to_string().as_str()),
        "the epoch moved on once"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn a_sign_out_that_keeps_failing_is_reported_done_and_the_notice_finishes_the_change() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let before = account_with_session_and_links(&app, &pool_id).await?;
    let refusing_sign_out = Refuse {
        operation: "AdminUserGlobalSignOut",
        body_holds: "",
    };
    let accounts = accounts_refusing(&app, &pool_id, refusing_sign_out).await?;
    change_through(&app, accounts, &before.link).await?;
    assert_finished(&app, &pool_id, &before).await
}

#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn a_finish_that_keeps_failing_is_reported_done_and_the_notice_finishes_the_change() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let before = account_with_session_and_links(&app, &pool_id).await?;
    // The finishing transaction is the one that remembers the claim as finished.
    let refusing_finish = Refuse {
        operation: "TransactWriteItems",
        body_holds: state_attributes::CHANGES_FINISHED,
    };
    let accounts = accounts_refusing(&app, &pool_id, refusing_finish).await?;
    change_through(&app, accounts, &before.link).await?;
    assert_finished(&app, &pool_id, &before).await
}

/// Where the function dies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DiesAt {
    /// Once the pool set the password, before the set is marked in the ledger.
    AfterTheSet,
    /// While it ends the sessions (the set marked).
    SignOut,
}

/// The pool, with the function dying at one step: that step never returns.
struct Dying {
    pool: CognitoAccounts,
    at: DiesAt,
}

#[async_trait]
impl CredentialBackend for Dying {
    async fn look_up(&self, username: &Username) -> Result<Option<BackendAccount>, StoreError> {
        self.pool.look_up(username).await
    }
    async fn set_credential(&self, username: &Username, password: &NewPassword) -> Result<(), StoreError> {
        self.pool.set_credential(username, password).await?;
        if self.at == DiesAt::AfterTheSet {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
    async fn end_sessions(&self, username: &Username) -> Result<(), StoreError> {
        if self.at == DiesAt::SignOut {
            std::future::pending::<()>().await;
        }
        self.pool.end_sessions(username).await
    }
}

/// The change of `before.link` through the claimed protocol on the real pool and ledger, the
/// function dying at `at`: its future is dropped there. `claimed_at`: when the change claims
/// the account (in the past: its lease has lapsed by the time anyone meets it).
async fn change_dying(app: &App, pool_id: &str, before: &Before, at: DiesAt, claimed_at: Timestamp) -> Result<()> {
    let config = sdk_config().await;
    let ledger = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), TableNames::from(&app.settings));
    let pool = CognitoAccounts::new(
        aws_sdk_cognitoidentityprovider::Client::new(&config),
        pool_id.to_owned(),
        ledger.clone(),
    );
    let backend = Dying { pool, at };
    let hash = ResetToken::parse(&before.link).map_err(|e| anyhow!("{e:?}"))?.hash();
    let record = app
        .tokens
        .find_token(&hash)
        .await?
        .ok_or_else(|| anyhow!("the link is not stored"))?;
    let username = &before.user.username;
    let password = NewPassword::parse(NEW_PASSWORD, NEW_PASSWORD, username).map_err(|e| anyhow!("{e:?}"))?;
    let job = MailJob::password_changed(
        username.clone(),
        before.user.email.clone(),
        before.user.language,
        SystemClock.now(),
    )?;
    let notice = ChangeNotice {
        job: &job,
        queue: app.mail_queue.as_ref(),
    };
    let change = change_claimed(&ledger, &backend, &record, &password, claimed_at, notice);
    let died = tokio::time::timeout(Duration::from_secs(10), change).await;
    assert!(
        died.is_err(),
        "the change was to die mid-way: {:?}",
        died.map(|r| r.err())
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn a_function_that_dies_while_ending_the_sessions_leaves_a_change_its_notice_finishes() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let before = account_with_session_and_links(&app, &pool_id).await?;
    change_dying(&app, &pool_id, &before, DiesAt::SignOut, SystemClock.now()).await?;
    assert_finished(&app, &pool_id, &before).await
}

/// A claim that lapsed before the set was marked may have set the password: it is finished as a
/// change (the safe side of not knowing). The claim is made a lease ago, so send-mail meets it
/// lapsed at once instead of retrying the notice for 30 s.
#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn a_function_that_dies_before_marking_the_set_leaves_a_change_its_notice_finishes_once_lapsed() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let before = account_with_session_and_links(&app, &pool_id).await?;
    let lease_ago = Timestamp::from_millis(SystemClock.now().as_millis() - (CHANGE_CLAIM_LEASE_SECS + 1) * 1000);
    change_dying(&app, &pool_id, &before, DiesAt::AfterTheSet, lease_ago).await?;
    assert_finished(&app, &pool_id, &before).await
}
