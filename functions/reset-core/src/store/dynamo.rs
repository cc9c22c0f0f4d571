use super::item::{
    epoch_moved_on, epoch_step, from_item, is_condition_failure, n, n_u64, s, to_item, unavailable, EPOCH_STEP,
};
use super::{
    AccountStore, ChangeNotice, ClaimEnd, ClaimHolder, ConsumeError, CounterKey, CreateUserError, CredentialForm,
    JobClaim, JobEnd, MailLedger, NewCredential, NoticeHandling, RateCounters, Settled, StoreError, TokenStore,
    UserDirectory,
};
use crate::config::Settings;
use crate::domain::{CredentialEpoch, JobId, PendingChange, Timestamp, TokenHash, TokenRecord, User, Username};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// Item attribute names shared with `infra/template.yaml` (key schemas, indexes and TTL) and
/// with `reset-admin`.
pub mod attributes {
    pub const USERNAME: &str = "username";
    pub const TOKEN_HASH: &str = "token_hash";
    pub const COUNTER_KEY: &str = "counter_key";
    pub const JOB_ID: &str = "job_id";
    pub const EXPIRES_AT: &str = "expires_at";

    // Users table, besides the fields of `domain::User`.
    pub const EMAIL: &str = "email";
    pub const STATUS: &str = "status";
    /// Epoch ms of the last address change by an administrator.
    pub const EMAIL_CHANGED_AT: &str = "email_changed_at";
    /// The address the latest change by an administrator replaced (its notice may go there).
    pub const PREVIOUS_EMAIL: &str = "previous_email";
    /// The account's credential epoch (`domain::CredentialEpoch`): every link-killing change
    /// moves it on, and a link works only while it is the one the link was minted under.
    pub const CREDENTIAL_EPOCH: &str = "credential_epoch";
    /// SES message id of the latest reset mail (key of the `by-reset-mail-message` index).
    pub const RESET_MAIL_MESSAGE_ID: &str = "reset_mail_message_id";
    /// Epoch ms of the latest reset mail.
    pub const RESET_MAIL_SENT_AT: &str = "reset_mail_sent_at";
    /// `delivery`, `bounce`, `complaint` or `reject`: the last SES event recorded.
    pub const LAST_MAIL_EVENT: &str = "last_mail_event";
    pub const LAST_MAIL_EVENT_AT: &str = "last_mail_event_at";
    /// `bounce`, `complaint` or `reject` while unresolved; absent otherwise.
    pub const MAIL_PROBLEM: &str = "mail_problem";
    pub const MAIL_PROBLEM_DETAIL: &str = "mail_problem_detail";
    /// Epoch ms of the problem (sort key of the `mail-problems` index).
    pub const MAIL_PROBLEM_AT: &str = "mail_problem_at";
    /// Partition key of the sparse `mail-problems` index: present only while there is a problem.
    pub const MAIL_PROBLEM_FLAG: &str = "mail_problem_flag";
    pub const MAIL_PROBLEM_MESSAGE_ID: &str = "mail_problem_message_id";

    // Audit log table.
    /// Sort key: zero-padded epoch ms, `#`, random hex, so a Query reads oldest or newest first.
    pub const AUDIT_ID: &str = "audit_id";

    /// The user attributes the request paths read (`find_user_without_hash`): every field of
    /// `domain::User` but `password_hash`. The functions' IAM policies allow reading these only.
    pub const USER_FIELDS_WITHOUT_HASH: [&str; 9] = [
        USERNAME,
        EMAIL,
        "password_changed_at",
        EMAIL_CHANGED_AT,
        PREVIOUS_EMAIL,
        CREDENTIAL_EPOCH,
        STATUS,
        "language",
        "created_at",
    ];

    /// Every attribute the mail-events function writes on a user item; its IAM policy allows
    /// exactly these (plus the key and the attributes its conditions read).
    pub const MAIL_EVENT_ATTRIBUTES: [&str; 7] = [
        LAST_MAIL_EVENT,
        LAST_MAIL_EVENT_AT,
        MAIL_PROBLEM,
        MAIL_PROBLEM_DETAIL,
        MAIL_PROBLEM_AT,
        MAIL_PROBLEM_FLAG,
        MAIL_PROBLEM_MESSAGE_ID,
    ];
}

/// Global secondary indexes of the users table (defined in `infra/template.yaml`).
pub mod indexes {
    /// `reset_mail_message_id` → username (keys only): ties an SES event to its account.
    pub const BY_RESET_MAIL_MESSAGE: &str = "by-reset-mail-message";
    /// Sparse: `mail_problem_flag` + `mail_problem_at`, only accounts with an unresolved
    /// mail problem, newest first with `ScanIndexForward=false`.
    pub const MAIL_PROBLEMS: &str = "mail-problems";
}

/// The one value of `mail_problem_flag`: the index partition that holds every problem.
pub const MAIL_PROBLEM_FLAG_SET: &str = "1";

/// How often a transaction that lost a race with another transaction on the same items is
/// retried. After the retry the loser sees the winner's write and fails its condition.
const TRANSACTION_CONFLICT_RETRIES: u32 = 3;

/// The tables the store works on (`infra/template.yaml` defines them).
#[derive(Debug, Clone)]
pub struct TableNames {
    pub users: String,
    pub tokens: String,
    pub counters: String,
    pub mail_jobs: String,
}

impl From<&Settings> for TableNames {
    fn from(settings: &Settings) -> Self {
        Self {
            users: settings.users_table.clone(),
            tokens: settings.reset_tokens_table.clone(),
            counters: settings.rate_limits_table.clone(),
            mail_jobs: settings.mail_jobs_table.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    /// The users table, or with a Cognito pool the account-state table (same key and
    /// mail-event indexes).
    pub(super) users_table: String,
    pub(super) tokens_table: String,
    counters_table: String,
    mail_jobs_table: String,
}

/// The states of a mail ledger item.
mod job_state {
    pub const CLAIMED: &str = "claimed";
    pub const RELEASED: &str = "released";
    pub const SENT: &str = "sent";
    pub const SKIPPED: &str = "skipped";
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            users_table: tables.users,
            tokens_table: tables.tokens,
            counters_table: tables.counters,
            mail_jobs_table: tables.mail_jobs,
        }
    }

    fn consume_transaction(
        &self,
        token: &TokenRecord,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Vec<TransactWriteItem>, ConsumeError> {
        let mark_token_used = Update::builder()
            .table_name(&self.tokens_table)
            .key(attributes::TOKEN_HASH, s(token.token_hash.as_str()))
            .update_expression("SET used_at = :now")
            .condition_expression(
                "attribute_exists(token_hash) AND attribute_not_exists(used_at) AND expires_at > :now_secs",
            )
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":now_secs", n(now.as_secs()))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let Some(epoch) = token.epoch else {
            return Err(ConsumeError::TokenNoLongerValid);
        };
        // The link's epoch must still be the account's; the change moves the account to the
        // next one, killing every other link. An account written before epochs existed has no
        // attribute, which reads as epoch 0.
        let same_epoch = if epoch == CredentialEpoch::default() {
            "(attribute_not_exists(credential_epoch) OR credential_epoch = :epoch)"
        } else {
            "credential_epoch = :epoch"
        };
        let store_new_password = Update::builder()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(token.username.as_str()))
            .update_expression(epoch_moved_on("SET password_hash = :hash, password_changed_at = :now"))
            .condition_expression(format!(
                "attribute_exists(username) AND #status = :active AND {same_epoch}"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":hash", s(password_hash))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":epoch", n_u64(epoch.value()))
            .expression_attribute_values(EPOCH_STEP, epoch_step())
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(vec![
            TransactWriteItem::builder().update(mark_token_used).build(),
            TransactWriteItem::builder().update(store_new_password).build(),
        ])
    }
}

#[async_trait]
impl UserDirectory for DynamoStore {
    async fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(username.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(from_item).transpose()
    }

    async fn create_user(&self, user: &User) -> Result<(), CreateUserError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.users_table)
            .set_item(Some(to_item(user)?))
            .condition_expression("attribute_not_exists(username)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(CreateUserError::AlreadyExists(user.username.clone()))
            }
            Err(error) => Err(unavailable(error).into()),
        }
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn find_account(&self, username: &Username) -> Result<Option<User>, StoreError> {
        // Every name through a placeholder: `status` and `language` are reserved words.
        let mut request = self
            .client
            .get_item()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(username.as_str()))
            .consistent_read(true);
        let mut placeholders = Vec::new();
        for (i, name) in attributes::USER_FIELDS_WITHOUT_HASH.iter().enumerate() {
            let placeholder = format!("#a{i}");
            request = request.expression_attribute_names(&placeholder, *name);
            placeholders.push(placeholder);
        }
        let output = request
            .projection_expression(placeholders.join(", "))
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(from_item).transpose()
    }

    fn credential_form(&self) -> CredentialForm {
        CredentialForm::Argon2idHash
    }

    async fn settle_change(&self, _: &PendingChange, _: Timestamp) -> Result<Settled, StoreError> {
        // The users table's change is one transaction: a notice naming a claim was queued by a
        // pool's change before the store was switched, and its change stands.
        Ok(Settled::Made)
    }

    async fn change_password(
        &self,
        token: &TokenRecord,
        credential: NewCredential,
        now: Timestamp,
        _notice: ChangeNotice<'_>,
    ) -> Result<NoticeHandling, ConsumeError> {
        // Sessions end with the epoch: the host sign-in system ends any session begun at an
        // older one (`credentials::session_still_valid`).
        let NewCredential::Argon2idHash(password_hash) = credential else {
            return Err(StoreError::Corrupt("the users table keeps argon2id hashes only".into()).into());
        };
        let items = self.consume_transaction(token, &password_hash, now)?;
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let Err(error) = result else {
                return Ok(NoticeHandling::Due);
            };
            let reasons: Vec<String> = error
                .as_service_error()
                .and_then(|e| match e {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                        Some(c.cancellation_reasons().iter().filter_map(|r| r.code().map(str::to_owned)).collect())
                    }
                    _ => None,
                })
                .unwrap_or_default();
            if reasons.iter().any(|code| code == "ConditionalCheckFailed") {
                return Err(ConsumeError::TokenNoLongerValid);
            }
            let conflicted = reasons.iter().any(|code| code == "TransactionConflict")
                || error
                    .as_service_error()
                    .is_some_and(|e| e.is_transaction_in_progress_exception());
            if conflicted && attempt < TRANSACTION_CONFLICT_RETRIES {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                continue;
            }
            return Err(unavailable(error).into());
        }
    }

    async fn remember_reset_mail(
        &self,
        username: &Username,
        message_id: &str,
        sent_at: Timestamp,
    ) -> Result<(), StoreError> {
        use attributes::{RESET_MAIL_MESSAGE_ID, RESET_MAIL_SENT_AT, USERNAME};
        let result = self
            .client
            .update_item()
            .table_name(&self.users_table)
            .key(USERNAME, s(username.as_str()))
            .update_expression(format!("SET {RESET_MAIL_MESSAGE_ID} = :id, {RESET_MAIL_SENT_AT} = :at"))
            // Never create a half user item for an account that is gone.
            .condition_expression(format!("attribute_exists({USERNAME})"))
            .expression_attribute_values(":id", s(message_id))
            .expression_attribute_values(":at", n(sent_at.as_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(unavailable(error)),
        }
    }
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tokens_table)
            .set_item(Some(to_item(token)?))
            .condition_expression("attribute_not_exists(token_hash)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tokens_table)
            .key(attributes::TOKEN_HASH, s(hash.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(from_item).transpose()
    }
}

#[async_trait]
impl RateCounters for DynamoStore {
    async fn increment_counter(&self, key: &CounterKey, expires_at_secs: i64) -> Result<u32, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.counters_table)
            .key(attributes::COUNTER_KEY, s(key.as_str()))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :expires_at)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires_at", n(expires_at_secs))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let hits = output
            .attributes
            .as_ref()
            .and_then(|a| a.get("hits"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| StoreError::Corrupt("counter update returned no hits".into()))?;
        Ok(hits)
    }

    async fn read_counter(&self, key: &CounterKey) -> Result<u32, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.counters_table)
            .key(attributes::COUNTER_KEY, s(key.as_str()))
            .projection_expression("hits")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| item.get("hits"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0))
    }

    async fn reserve_below(&self, key: &CounterKey, limit: u32, expires_at_secs: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.counters_table)
            .key(attributes::COUNTER_KEY, s(key.as_str()))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :expires_at)")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .expression_attribute_values(":expires_at", n(expires_at_secs))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn release_reserved(&self, key: &CounterKey) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.counters_table)
            .key(attributes::COUNTER_KEY, s(key.as_str()))
            .update_expression("ADD hits :minus_one")
            .condition_expression("hits > :zero")
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Nothing to give back (the window ended and the item went): nothing to do.
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn take_mail_turn(
        &self,
        key: &CounterKey,
        epoch: CredentialEpoch,
        now: Timestamp,
        next_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.counters_table)
            .key(attributes::COUNTER_KEY, s(key.as_str()))
            .update_expression("SET next_at = :next_at, turn_epoch = :epoch, expires_at = :expires_at")
            .condition_expression("attribute_not_exists(next_at) OR next_at <= :now OR turn_epoch <> :epoch")
            .expression_attribute_values(":next_at", n(next_at.as_millis()))
            .expression_attribute_values(":epoch", n_u64(epoch.value()))
            .expression_attribute_values(":now", n(now.as_millis()))
            // DynamoDB's TTL deletes late; the condition compares times itself.
            .expression_attribute_values(":expires_at", n(next_at.as_secs() + 1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn give_back_mail_turn(
        &self,
        key: &CounterKey,
        next_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.counters_table)
            .key(attributes::COUNTER_KEY, s(key.as_str()))
            .update_expression("SET next_at = :now")
            .condition_expression("next_at = :next_at")
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":next_at", n(next_at.as_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another sender's turn since: it is not ours to give back.
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
    }
}

#[async_trait]
impl MailLedger for DynamoStore {
    async fn claim_job(
        &self,
        job: &JobId,
        holder: &ClaimHolder,
        now: Timestamp,
        lease_secs: i64,
        keep_until_secs: i64,
    ) -> Result<JobClaim, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.mail_jobs_table)
            .key(attributes::JOB_ID, s(job.as_str()))
            .update_expression("SET #state = :claimed, claimed_at = :now, holder = :holder, expires_at = :keep")
            .expression_attribute_values(":holder", s(holder.as_str()))
            .condition_expression(
                "attribute_not_exists(job_id) OR #state = :released \
                 OR (#state = :claimed AND claimed_at < :lease_start)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claimed", s(job_state::CLAIMED))
            .expression_attribute_values(":released", s(job_state::RELEASED))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":lease_start", n(now.as_millis() - lease_secs * 1000))
            .expression_attribute_values(":keep", n(keep_until_secs))
            .send()
            .await;
        match result {
            Ok(_) => Ok(JobClaim::Granted),
            Err(error) if is_condition_failure(&error) => {
                let item = self
                    .client
                    .get_item()
                    .table_name(&self.mail_jobs_table)
                    .key(attributes::JOB_ID, s(job.as_str()))
                    .projection_expression("#state")
                    .expression_attribute_names("#state", "state")
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(unavailable)?
                    .item;
                let state = item
                    .as_ref()
                    .and_then(|i| i.get("state"))
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str);
                Ok(match state {
                    Some(job_state::SENT | job_state::SKIPPED) => JobClaim::AlreadyDone,
                    _ => JobClaim::HeldElsewhere,
                })
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn finish_job(
        &self,
        job: &JobId,
        holder: &ClaimHolder,
        end: JobEnd<'_>,
        now: Timestamp,
    ) -> Result<ClaimEnd, StoreError> {
        let (state, detail) = match end {
            JobEnd::Sent { message_id } => (job_state::SENT, message_id),
            JobEnd::Skipped { reason } => (job_state::SKIPPED, reason),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.mail_jobs_table)
            .key(attributes::JOB_ID, s(job.as_str()))
            .update_expression("SET #state = :state, finished_at = :now, detail = :detail")
            .condition_expression("#state = :claimed AND holder = :holder")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(state))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":detail", s(detail))
            .expression_attribute_values(":claimed", s(job_state::CLAIMED))
            .expression_attribute_values(":holder", s(holder.as_str()))
            .send()
            .await;
        claim_end(result)
    }

    async fn release_job(&self, job: &JobId, holder: &ClaimHolder) -> Result<ClaimEnd, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.mail_jobs_table)
            .key(attributes::JOB_ID, s(job.as_str()))
            .update_expression("SET #state = :released")
            .condition_expression("#state = :claimed AND holder = :holder")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":released", s(job_state::RELEASED))
            .expression_attribute_values(":claimed", s(job_state::CLAIMED))
            .expression_attribute_values(":holder", s(holder.as_str()))
            .send()
            .await;
        claim_end(result)
    }
}

/// A write conditioned on holding the claim: a failed condition means another sender holds it.
fn claim_end<T, E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<ClaimEnd, StoreError> {
    match result {
        Ok(_) => Ok(ClaimEnd::Ended),
        Err(error) if is_condition_failure(&error) => Ok(ClaimEnd::NotHolder),
        Err(error) => Err(unavailable(error)),
    }
}
