use super::ports::VerifyPorts;
use crate::domain::token::TokenRejection;
use crate::domain::{ResetToken, Timestamp, TokenRecord, User};
use crate::error::AppError;

/// A link that may still be used to change the password.
#[derive(Debug, Clone)]
pub struct ValidLink {
    pub record: TokenRecord,
    pub user: User,
}

impl ValidLink {
    pub fn expires_at(&self) -> Timestamp {
        self.record.expires_at()
    }
}

/// Checks a link without consuming it: opening the mail (or a scanner prefetching it) changes
/// nothing.
pub async fn verify_link(app: VerifyPorts<'_>, token: &ResetToken) -> Result<ValidLink, AppError> {
    let record = find_link_record(app, token).await?;
    let user = app.accounts.find_account(&record.username).await?;
    check_link(app, record, user)
}

/// The stored record of a link: the first half of `verify_link`, which names the account.
pub(super) async fn find_link_record(app: VerifyPorts<'_>, token: &ResetToken) -> Result<TokenRecord, AppError> {
    app.tokens
        .find_token(&token.hash())
        .await?
        .ok_or(AppError::InvalidLink(TokenRejection::Unknown))
}

/// The second half of `verify_link`: whether the link of `record` may still be used, given its
/// account as read (`None`: no such account).
pub(super) fn check_link(app: VerifyPorts<'_>, record: TokenRecord, user: Option<User>) -> Result<ValidLink, AppError> {
    let Some(user) = user else {
        return Err(AppError::InvalidLink(TokenRejection::AccountUnavailable));
    };
    if !user.can_reset_password() {
        return Err(AppError::InvalidLink(TokenRejection::AccountUnavailable));
    }
    record
        .check_usable(app.clock.now(), user.credential_epoch)
        .map_err(AppError::InvalidLink)?;
    Ok(ValidLink { record, user })
}
