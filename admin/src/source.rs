//! Where the accounts the tool changes live, by `PASSWORD_STORE`: the users table (`Accounts`)
//! or a Cognito user pool beside the account-state table (`PoolAccounts`). The commands and the
//! address-request approval work on this trait, so each of them exists once; both sources record
//! every change in the same audit log, in the transaction that makes (or, for a pool, records)
//! it.

use crate::accounts::{AccountRecord, Accounts, EmailChange, MailProblemRow, StatusChange};
use crate::audit::{AuditAction, AuditEntry, Change};
use crate::error::AdminError;
use crate::pool::PoolAccounts;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use reset_core::config::StoreKind;
use reset_core::domain::{AccountStatus, Email, Username};

/// An approval's address change, for the approval's one transaction.
pub struct AddressWrite {
    pub items: Vec<TransactWriteItem>,
    /// Its `set-email` entry, already linked into the account's chain.
    pub entry: AuditEntry,
    pub change: EmailChange,
}

#[async_trait]
pub trait AccountSource: Send + Sync {
    /// The audit log every change is recorded in (and the tables' client).
    fn audit(&self) -> &Accounts;

    async fn find(&self, username: &Username) -> Result<Option<AccountRecord>, AdminError>;

    /// Disables or enables the account; every mailed link dies either way.
    async fn set_status(
        &self,
        username: &Username,
        status: AccountStatus,
        change: &Change,
    ) -> Result<StatusChange, AdminError>;

    /// Changes the registered address; every mailed link dies.
    async fn set_email(
        &self,
        username: &Username,
        new_email: &Email,
        change: &Change,
    ) -> Result<EmailChange, AdminError>;

    /// The address change of an approval of `account`'s request, for the approval's
    /// transaction; `None` when nothing is to be written.
    async fn approval_write(
        &self,
        account: &AccountRecord,
        new_email: &Email,
        change: &Change,
    ) -> Result<Option<AddressWrite>, AdminError>;

    /// Whether a change reaches the accounts before its transaction (a pool): a failed
    /// transaction then leaves the change made and unrecorded, and an account already holding
    /// a request's address is such an approval, to be completed.
    fn changes_before_the_transaction(&self) -> bool;

    /// The key of the account's audit log: the store's own spelling of `username`.
    async fn audit_key(&self, username: &Username) -> Result<Username, AdminError>;

    /// Accounts whose latest reset mail bounced, drew a complaint or was rejected, newest first.
    async fn mail_problems(&self, limit: usize) -> Result<Vec<MailProblemRow>, AdminError>;
}

/// The source `PASSWORD_STORE` (or `--password-store`) names.
pub fn open(config: &aws_config::SdkConfig, store: StoreKind) -> Result<Box<dyn AccountSource>, AdminError> {
    Ok(match store {
        StoreKind::DynamoDb => Box::new(Accounts::from_config(config)?),
        StoreKind::Cognito => Box::new(PoolAccounts::from_config(config)?),
    })
}

#[async_trait]
impl AccountSource for Accounts {
    fn audit(&self) -> &Accounts {
        self
    }

    async fn find(&self, username: &Username) -> Result<Option<AccountRecord>, AdminError> {
        Accounts::find(self, username).await
    }

    async fn set_status(
        &self,
        username: &Username,
        status: AccountStatus,
        change: &Change,
    ) -> Result<StatusChange, AdminError> {
        Accounts::set_status(self, username, status, change).await
    }

    async fn set_email(
        &self,
        username: &Username,
        new_email: &Email,
        change: &Change,
    ) -> Result<EmailChange, AdminError> {
        Accounts::set_email(self, username, new_email, change).await
    }

    async fn approval_write(
        &self,
        account: &AccountRecord,
        new_email: &Email,
        change: &Change,
    ) -> Result<Option<AddressWrite>, AdminError> {
        // Same address: only after an override of `AddressChanged` (someone set it by hand).
        if account.email == *new_email {
            return Ok(None);
        }
        // Conditioned on the epoch the approval checked, as well as on the address.
        let (update, changed) = self.email_update(account, new_email, change, Some(account.credential_epoch))?;
        let entry = AuditEntry::new(&account.username, AuditAction::SetEmail, change)?
            .with_emails(Some(changed.old_masked.clone()), Some(changed.new_masked.clone()));
        let entry = self.link(entry).await?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.put_audit(&entry)?,
        ];
        Ok(Some(AddressWrite {
            items,
            entry,
            change: changed,
        }))
    }

    fn changes_before_the_transaction(&self) -> bool {
        false
    }

    async fn audit_key(&self, username: &Username) -> Result<Username, AdminError> {
        Ok(username.clone())
    }

    async fn mail_problems(&self, limit: usize) -> Result<Vec<MailProblemRow>, AdminError> {
        Accounts::mail_problems(self, limit).await
    }
}

#[async_trait]
impl AccountSource for PoolAccounts {
    fn audit(&self) -> &Accounts {
        self.tables()
    }

    async fn find(&self, username: &Username) -> Result<Option<AccountRecord>, AdminError> {
        Ok(PoolAccounts::find(self, username)
            .await?
            .map(|account| account.record()))
    }

    async fn set_status(
        &self,
        username: &Username,
        status: AccountStatus,
        change: &Change,
    ) -> Result<StatusChange, AdminError> {
        PoolAccounts::set_status(self, username, status, change).await
    }

    async fn set_email(
        &self,
        username: &Username,
        new_email: &Email,
        change: &Change,
    ) -> Result<EmailChange, AdminError> {
        PoolAccounts::set_email(self, username, new_email, change).await
    }

    async fn approval_write(
        &self,
        account: &AccountRecord,
        new_email: &Email,
        change: &Change,
    ) -> Result<Option<AddressWrite>, AdminError> {
        // Always written: an approval interrupted after its pool call completes here.
        let (items, entry, changed) = PoolAccounts::approval_write(self, &account.username, new_email, change).await?;
        Ok(Some(AddressWrite {
            items,
            entry,
            change: changed,
        }))
    }

    fn changes_before_the_transaction(&self) -> bool {
        true
    }

    async fn audit_key(&self, username: &Username) -> Result<Username, AdminError> {
        PoolAccounts::audit_key(self, username).await
    }

    async fn mail_problems(&self, limit: usize) -> Result<Vec<MailProblemRow>, AdminError> {
        PoolAccounts::mail_problems(self, limit).await
    }
}
