use crate::app::App;
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
pub async fn verify_link(app: &App, token: &ResetToken) -> Result<ValidLink, AppError> {
    let Some(record) = app.store.find_token(&token.hash()).await? else {
        return Err(AppError::InvalidLink(TokenRejection::Unknown));
    };
    let Some(user) = app.store.find_user_without_hash(&record.username).await? else {
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
