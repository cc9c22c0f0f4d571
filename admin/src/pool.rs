//! The admin tool on a Cognito user pool (`PASSWORD_STORE=cognito`). The pool holds the account
//! (address, enabled, status, password); the account-state table (`USERS_TABLE` then) holds its
//! credential epoch, the pool `sub` that epoch belongs to, and the mail events, under the pool's
//! own spelling of the username. Every pool call of the tool is in this file: the admin-policy
//! test reads them here and holds the template's grant on the pool to exactly these.
//!
//! A change is two writes that share no transaction: the pool's admin API first, then one
//! DynamoDB transaction that moves the account's epoch and writes the audit entry. In that order
//! a failure between them is repaired by running the same command again: the pool call is
//! idempotent (disabling a disabled user, setting the address it holds), and the transaction is
//! made on every run, so the epoch moves and the change is audited even when the pool already
//! was so (and the output says so). The other order could leave an audited change the pool never
//! made, and links killed for nothing.
//!
//! The epoch move is what kills outstanding links. A link also binds the pool's revision of the
//! user, but whether Cognito moves `UserLastModifiedDate` on every admin call is not documented
//! (moto does not for disable and enable), and a disable followed by an enable gives back the
//! revision the user had before: the epoch only ever moves forward.

use crate::accounts::{
    AccountRecord, Accounts, EmailChange, MailProblemEntry, MailProblemRow, PoolDetails, StatusChange, StoredAddress,
};
use crate::audit::{AuditAction, AuditEntry, Change};
use crate::error::{context, AdminError};
use aws_sdk_cognitoidentityprovider::types::{AttributeType, UserStatusType};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use reset_core::domain::{address_fingerprint, AccountStatus, Email, Language, Username};
use reset_core::store::attributes::*;
use reset_core::store::item::{self, epoch_moved_on, epoch_step, n, n_u64, s, EPOCH_STEP};
use reset_core::store::state_attributes::{ACCOUNT_SUB, PREVIOUS_EMAIL_SHA256};
use reset_core::store::{initial_epoch, LedgerState, PoolUser};
use serde::Deserialize;

/// An address change's part of the epoch's write: when it was made, and the fingerprint of the
/// address it replaced, so that send-mail can check the notice to that address (the state table
/// keeps no address). None when that address is not known (a re-run: the pool held the new one
/// already) or is not one a mail can go to: no notice goes there then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressMoved {
    pub at_ms: i64,
    pub replaced_sha256: Option<String>,
}

impl AddressMoved {
    pub fn of(changed: &EmailChange, change: &Change) -> Self {
        Self {
            at_ms: change.at.as_millis(),
            replaced_sha256: changed
                .old_address
                .as_ref()
                .map(|old| address_fingerprint(old.as_str())),
        }
    }
}

/// How often the epoch's transaction is tried when the state item moved between its read and
/// the write (a password change storing the account's first epoch meanwhile).
const EPOCH_ATTEMPTS: usize = 3;

/// The user pool and the account-state table, as the admin tool sees them.
#[derive(Debug, Clone)]
pub struct PoolAccounts {
    cognito: aws_sdk_cognitoidentityprovider::Client,
    user_pool_id: String,
    /// The account-state table (as `users_table`) and the audit log, its chain and mirror.
    tables: Accounts,
}

/// What the account-state table holds of an account that the tool reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StateItem {
    #[serde(default)]
    account_sub: Option<String>,
    #[serde(default)]
    credential_epoch: Option<u64>,
    #[serde(default)]
    password_changed_at: Option<i64>,
    /// When the tool last changed the address (the pool keeps no such time).
    #[serde(default)]
    email_changed_at: Option<i64>,
    #[serde(default)]
    reset_mail_sent_at: Option<i64>,
    #[serde(default)]
    last_mail_event: Option<String>,
    #[serde(default)]
    last_mail_event_at: Option<i64>,
    #[serde(default)]
    mail_problem: Option<String>,
    #[serde(default)]
    mail_problem_detail: Option<String>,
    #[serde(default)]
    mail_problem_at: Option<i64>,
}

impl StateItem {
    fn ledger(&self) -> LedgerState {
        LedgerState {
            identity: self.account_sub.clone(),
            credential_epoch: self.credential_epoch,
            password_changed_at: self.password_changed_at,
            // A change in progress is the functions' to finish; the tool's epoch move kills the
            // links either way.
            ..LedgerState::default()
        }
    }
}

/// A pool's user with its state item.
#[derive(Debug, Clone)]
pub struct PoolAccount {
    pub user: PoolUser,
    state: StateItem,
}

impl PoolAccount {
    /// The account as `user show` and the approval checks see it: its epoch is its links'
    /// (the one send-mail records on an address request), its mail history the state item's.
    pub fn record(&self) -> AccountRecord {
        let user = &self.user;
        let ledger = self.state.ledger();
        let stored = ledger.epoch_of(&user.sub).1;
        let state = &self.state;
        AccountRecord {
            username: user.username.clone(),
            email: StoredAddress::from(user.email.clone().unwrap_or_default()),
            status: if user.enabled {
                AccountStatus::Active
            } else {
                AccountStatus::Disabled
            },
            language: user.locale.as_deref().and_then(Language::from_tag).unwrap_or_default(),
            created_at: user.created_at,
            // A change time of a former account of the same username is not this one's.
            password_changed_at: state.password_changed_at.filter(|_| stored),
            email_changed_at: state.email_changed_at.filter(|_| stored),
            reset_mail_sent_at: state.reset_mail_sent_at,
            last_mail_event: state.last_mail_event.clone(),
            last_mail_event_at: state.last_mail_event_at,
            mail_problem: state.mail_problem.clone(),
            mail_problem_detail: state.mail_problem_detail.clone(),
            mail_problem_at: state.mail_problem_at,
            credential_epoch: user.link_epoch(&ledger),
            // A password of the owner's own (not an administrator's temporary one).
            has_password: matches!(
                user.status,
                Some(UserStatusType::Confirmed | UserStatusType::ResetRequired)
            ),
            pool: Some(PoolDetails {
                user_status: user.status.as_ref().map_or("(none)", UserStatusType::as_str).to_owned(),
                email_verified: user.email_verified,
                may_reset: user.may_reset(),
            }),
        }
    }

    fn holds_verified(&self, email: &Email) -> bool {
        self.user.email.as_deref() == Some(email.as_str()) && self.user.email_verified
    }
}

fn pool_unavailable<E: std::error::Error>(error: E) -> AdminError {
    AdminError::PoolUnavailable(context(error))
}

impl PoolAccounts {
    pub fn new(cognito: aws_sdk_cognitoidentityprovider::Client, user_pool_id: String, tables: Accounts) -> Self {
        Self {
            cognito,
            user_pool_id,
            tables,
        }
    }

    /// `USER_POOL_ID`, and the tables as `Accounts::from_config` reads them (`USERS_TABLE` is
    /// the account-state table with a pool).
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, AdminError> {
        let user_pool_id = reset_core::config::Variables::from_env().required("USER_POOL_ID")?;
        Ok(Self::new(
            aws_sdk_cognitoidentityprovider::Client::new(config),
            user_pool_id,
            Accounts::from_config(config)?,
        ))
    }

    /// The account-state table and the audit log.
    pub fn tables(&self) -> &Accounts {
        &self.tables
    }

    /// The pool's user (`AdminGetUser`), under whatever spelling the pool answers to.
    async fn pool_user(&self, username: &Username) -> Result<Option<PoolUser>, AdminError> {
        let result = self
            .cognito
            .admin_get_user()
            .user_pool_id(&self.user_pool_id)
            .username(username.as_str())
            .send()
            .await;
        match result {
            Ok(output) => Ok(PoolUser::from_output(&output)?),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_user_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(pool_unavailable(error)),
        }
    }

    /// `mail-problems` on a pool: the account-state table's index says whose mail failed and
    /// how, the pool gives each account's address and status now. An entry whose username the
    /// pool no longer has is left out: there is no account to fix.
    pub async fn mail_problems(&self, limit: usize) -> Result<Vec<MailProblemRow>, AdminError> {
        let entries: Vec<MailProblemEntry> = self.tables.mail_problem_index(limit).await?;
        let mut rows = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(account) = self.find(&entry.username).await? {
                rows.push(MailProblemRow::of_entry(entry, &account.record()));
            }
        }
        Ok(rows)
    }

    /// The state item under the pool's spelling of the username, read consistently.
    async fn state(&self, key: &Username) -> Result<StateItem, AdminError> {
        let output = self
            .tables
            .client()
            .get_item()
            .table_name(self.tables.users_table())
            .key(USERNAME, s(key.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::error::unavailable)?;
        match output.item {
            Some(found) => Ok(item::from_item(found)?),
            None => Ok(StateItem::default()),
        }
    }

    pub async fn find(&self, username: &Username) -> Result<Option<PoolAccount>, AdminError> {
        let Some(user) = self.pool_user(username).await? else {
            return Ok(None);
        };
        let state = self.state(&user.username).await?;
        Ok(Some(PoolAccount { user, state }))
    }

    async fn require(&self, username: &Username) -> Result<PoolAccount, AdminError> {
        self.find(username)
            .await?
            .ok_or_else(|| AdminError::NoSuchUser(username.clone()))
    }

    /// The pool's spelling of `username`, for the audit log's key; the typed one when the pool
    /// has no such user (any more).
    pub async fn audit_key(&self, username: &Username) -> Result<Username, AdminError> {
        Ok(self
            .pool_user(username)
            .await?
            .map_or_else(|| username.clone(), |user| user.username))
    }

    /// Disables or enables the pool's user, then moves its epoch, audited. Both directions kill
    /// every mailed link (see `Accounts::set_status`).
    pub async fn set_status(
        &self,
        username: &Username,
        status: AccountStatus,
        change: &Change,
    ) -> Result<StatusChange, AdminError> {
        let account = self.require(username).await?;
        let key = account.user.username.as_str();
        let enable = status == AccountStatus::Active;
        let already = account.user.enabled == enable;
        if !already {
            if enable {
                self.cognito
                    .admin_enable_user()
                    .user_pool_id(&self.user_pool_id)
                    .username(key)
                    .send()
                    .await
                    .map_err(pool_unavailable)?;
            } else {
                self.cognito
                    .admin_disable_user()
                    .user_pool_id(&self.user_pool_id)
                    .username(key)
                    .send()
                    .await
                    .map_err(pool_unavailable)?;
            }
        }
        let action = if enable {
            AuditAction::Enable
        } else {
            AuditAction::Disable
        };
        let entry = AuditEntry::new(&account.user.username, action, change)?;
        self.move_epoch(&account, entry, None).await?;
        Ok(if already {
            StatusChange::AlreadySoInPool
        } else {
            StatusChange::Changed
        })
    }

    /// Changes the pool's address, then moves the epoch and drops the mail history that went
    /// with the old address, audited.
    pub async fn set_email(
        &self,
        username: &Username,
        new_email: &Email,
        change: &Change,
    ) -> Result<EmailChange, AdminError> {
        let account = self.require(username).await?;
        let changed = self.put_address(&account, new_email).await?;
        let entry = address_entry(&account.user.username, &changed, change)?;
        self.move_epoch(&account, entry, Some(&AddressMoved::of(&changed, change)))
            .await?;
        Ok(changed)
    }

    /// The pool's address set to `new_email`, marked verified (the administrator vouches for it;
    /// an unverified address gets no link), unless the pool holds it verified already.
    pub async fn put_address(&self, account: &PoolAccount, new_email: &Email) -> Result<EmailChange, AdminError> {
        let already_set = account.holds_verified(new_email);
        if !already_set {
            let attribute = |name: &str, value: &str| {
                AttributeType::builder()
                    .name(name)
                    .value(value)
                    .build()
                    .map_err(|e| AdminError::Corrupt(e.to_string()))
            };
            self.cognito
                .admin_update_user_attributes()
                .user_pool_id(&self.user_pool_id)
                .username(account.user.username.as_str())
                .user_attributes(attribute("email", new_email.as_str())?)
                .user_attributes(attribute("email_verified", "true")?)
                .send()
                .await
                .map_err(pool_unavailable)?;
        }
        let record = account.record();
        Ok(EmailChange {
            old_masked: record.email.masked(),
            new_masked: new_email.masked(),
            // Told of the change; its fingerprint goes into the epoch's write (`AddressMoved`),
            // which is what lets send-mail mail it. Unknown on a re-run.
            old_address: if already_set { None } else { record.email.email() },
            language: record.language,
            in_pool: true,
            already_set,
        })
    }

    /// The epoch move and its audit entry, in one transaction; tried again on a fresh read of
    /// the state item when it moved meanwhile. A failure here leaves the pool changed and the
    /// change unrecorded: the error says to run the command again.
    async fn move_epoch(
        &self,
        account: &PoolAccount,
        entry: AuditEntry,
        address: Option<&AddressMoved>,
    ) -> Result<(), AdminError> {
        let not_recorded = |cause: String| AdminError::PoolChangedNotRecorded {
            username: account.user.username.clone(),
            cause,
        };
        let mut state = account.state.clone();
        for _ in 0..EPOCH_ATTEMPTS {
            let linked = self.tables.link(entry.clone()).await?;
            let update = self.epoch_update(&account.user, &state, address)?;
            let items = vec![
                TransactWriteItem::builder().update(update).build(),
                self.tables.put_audit(&linked)?,
            ];
            match self.tables.transact(items).await {
                Ok(true) => {
                    self.tables.mirror_entries(&[&linked]).await;
                    return Ok(());
                }
                Ok(false) => state = self.state(&account.user.username).await?,
                Err(error) => return Err(not_recorded(error.to_string())),
            }
        }
        Err(not_recorded("the account's state kept changing meanwhile".into()))
    }

    /// The write that moves the account's epoch on, for a transaction. While the stored epoch
    /// is this pool user's, it is moved on (`epoch_moved_on`, as everywhere); otherwise (none
    /// yet, or a former user's of the same username: another `sub`) the user's first epoch,
    /// derived from its `sub`, is stored moved on once, as the functions' first change does.
    /// Each conditioned on what was read, so a concurrent first store is not overwritten.
    /// `address`: an address change, which records its time and the replaced address's
    /// fingerprint, and whose old address takes its mail events along.
    pub fn epoch_update(
        &self,
        user: &PoolUser,
        state: &StateItem,
        address: Option<&AddressMoved>,
    ) -> Result<Update, AdminError> {
        let mut update = Update::builder()
            .table_name(self.tables.users_table())
            .key(USERNAME, s(user.username.as_str()))
            .expression_attribute_values(":sub", s(&user.sub));
        let mut history = String::new();
        if let Some(moved) = address {
            update = update.expression_attribute_values(":changed_at", n(moved.at_ms));
            // The replaced address's fingerprint is set, or removed when not known.
            let (set_replaced, remove_replaced) = match &moved.replaced_sha256 {
                Some(replaced) => {
                    update = update.expression_attribute_values(":replaced", s(replaced));
                    (format!(", {PREVIOUS_EMAIL_SHA256} = :replaced"), String::new())
                }
                None => (String::new(), format!(", {PREVIOUS_EMAIL_SHA256}")),
            };
            history = format!(
                ", {EMAIL_CHANGED_AT} = :changed_at{set_replaced} REMOVE {RESET_MAIL_MESSAGE_ID}, {RESET_MAIL_SENT_AT}, \
                 {LAST_MAIL_EVENT}, {LAST_MAIL_EVENT_AT}, {MAIL_PROBLEM}, {MAIL_PROBLEM_DETAIL}, {MAIL_PROBLEM_AT}, \
                 {MAIL_PROBLEM_FLAG}, {MAIL_PROBLEM_MESSAGE_ID}{remove_replaced}"
            );
        }
        let (_, stored) = state.ledger().epoch_of(&user.sub);
        let update = if stored {
            update
                .update_expression(epoch_moved_on(&format!("SET {ACCOUNT_SUB} = :sub{history}")))
                .condition_expression(format!("{ACCOUNT_SUB} = :sub AND attribute_exists({CREDENTIAL_EPOCH})"))
                .expression_attribute_values(EPOCH_STEP, epoch_step())
        } else {
            update
                .update_expression(format!(
                    "SET {ACCOUNT_SUB} = :sub, {CREDENTIAL_EPOCH} = :first{history}"
                ))
                .condition_expression(format!(
                    "attribute_not_exists({ACCOUNT_SUB}) OR {ACCOUNT_SUB} <> :sub OR attribute_not_exists({CREDENTIAL_EPOCH})"
                ))
                .expression_attribute_values(":first", first_moved_epoch(&user.sub))
        };
        update.build().map_err(|e| AdminError::Corrupt(e.to_string()))
    }

    /// An approval's address change, for the approval's transaction: the pool is changed here,
    /// before it; the epoch's write and the `set-email` entry go into it.
    pub async fn approval_write(
        &self,
        username: &Username,
        new_email: &Email,
        change: &Change,
    ) -> Result<(Vec<TransactWriteItem>, AuditEntry, EmailChange), AdminError> {
        let account = self.require(username).await?;
        let changed = self.put_address(&account, new_email).await?;
        let entry = self
            .tables
            .link(address_entry(&account.user.username, &changed, change)?)
            .await?;
        let update = self.epoch_update(&account.user, &account.state, Some(&AddressMoved::of(&changed, change)))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.tables.put_audit(&entry)?,
        ];
        Ok((items, entry, changed))
    }
}

/// The `set-email` entry of an address change in the pool; without the old address when the
/// pool already held the new one (a re-run: the address it replaced is no longer known).
fn address_entry(key: &Username, changed: &EmailChange, change: &Change) -> Result<AuditEntry, AdminError> {
    let old = (!changed.already_set).then(|| changed.old_masked.clone());
    Ok(AuditEntry::new(key, AuditAction::SetEmail, change)?.with_emails(old, Some(changed.new_masked.clone())))
}

/// The first epoch of the pool user with `sub`, moved on once.
fn first_moved_epoch(sub: &str) -> AttributeValue {
    n_u64(initial_epoch(sub).next().value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_store_starts_from_the_users_own_initial_epoch() {
        let first = first_moved_epoch("sub-1");
        assert_eq!(first, n_u64(initial_epoch("sub-1").next().value()));
        assert_ne!(first, first_moved_epoch("sub-2"), "a re-created user starts elsewhere");
    }

    #[test]
    fn a_stored_epoch_counts_only_for_its_own_sub() {
        let state = StateItem {
            account_sub: Some("old-sub".into()),
            credential_epoch: Some(41),
            ..StateItem::default()
        };
        assert!(state.ledger().epoch_of("old-sub").1);
        assert!(!state.ledger().epoch_of("new-sub").1);
        assert!(!StateItem::default().ledger().epoch_of("old-sub").1);
    }
}
