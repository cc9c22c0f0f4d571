//! The reset link: minted here, at sending time, so the secret exists only in the mail; sent
//! only to an account that exists, may reset, has budget left this hour and whose turn it is.

use super::delivery::{Delivery, DeliveryError, MailSender, SkipReason};
use crate::domain::{ResetToken, Timestamp, TokenRecord, User, Username};
use crate::mail::compose::{reset_link_mail, MailContext};
use crate::mail::OutgoingMail;
use crate::service::hour_window;
use crate::store::CounterKey;

pub(super) async fn send_reset_link(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    username: &Username,
    now: Timestamp,
) -> Result<Delivery, DeliveryError> {
    let Some(user) = sender.accounts.find_account(username).await? else {
        return Ok(Delivery::Skipped(SkipReason::UnknownAccount));
    };
    if !user.can_reset_password() {
        return Ok(Delivery::Skipped(SkipReason::AccountDisabled));
    }
    let (window_start, window_end) = hour_window(now);
    let budget = CounterKey::mails_per_username(&user.username, window_start);
    // Reserved before sending, in one conditional write, so that concurrent senders of one
    // account's jobs can never send more than the budget; given back if the mail is not sent.
    let limit = sender.settings.rate_limit_per_username_per_hour;
    if !sender.counters.reserve_below(&budget, limit, window_end).await? {
        return Ok(Delivery::Skipped(SkipReason::BudgetSpent));
    }
    // One mail per turn, a day / N apart: however many ask, the mailbox gets at most N a day,
    // and the link of the last mail is the working link the owner holds meanwhile.
    let turn = CounterKey::reset_mail_turn(&user.username);
    let next_turn = Timestamp::from_millis(now.as_millis() + sender.settings.reset_mail_spacing_ms());
    if !sender
        .counters
        .take_mail_turn(&turn, user.credential_epoch, now, next_turn)
        .await?
    {
        give_back_budget(sender, &budget, &user.username).await;
        return Ok(Delivery::Skipped(SkipReason::NotItsTurn));
    }
    let message_id = match mint_and_send_link(sender, ctx, &user, now).await {
        Ok(message_id) => message_id,
        Err(error) => {
            // No mail went out: neither the turn nor the budget is spent on nothing.
            if let Err(give_back) = sender.counters.give_back_mail_turn(&turn, next_turn, now).await {
                tracing::warn!(error = %give_back, username = %user.username, "the reset mail's turn could not be given back");
            }
            give_back_budget(sender, &budget, &user.username).await;
            return Err(error);
        }
    };
    // Ties a later bounce or complaint to the account (see the mail-events function).
    if !message_id.is_empty() {
        if let Err(error) = sender
            .accounts
            .remember_reset_mail(&user.username, &message_id, now)
            .await
        {
            tracing::warn!(error = %error, username = %user.username, "the reset mail's message id could not be stored");
        }
    }
    Ok(Delivery::Sent { message_id })
}

/// Gives back a budget place reserved for a mail that did not go out (best effort).
async fn give_back_budget(sender: &MailSender, budget: &CounterKey, username: &Username) {
    if let Err(error) = sender.counters.release_reserved(budget).await {
        tracing::warn!(error = %error, username = %username, "the unsent mail's budget could not be given back");
    }
}

/// Mints a link for `user` and mails it; SES's message id.
async fn mint_and_send_link(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    user: &User,
    now: Timestamp,
) -> Result<String, DeliveryError> {
    let token = ResetToken::generate().map_err(|e| DeliveryError::Randomness(e.to_string()))?;
    let record = TokenRecord::new(
        &token,
        user.username.clone(),
        user.credential_epoch,
        now,
        sender.settings.token_ttl_secs(),
    );
    sender.tokens.save_token(&record).await?;
    let link = sender.settings.confirm_url(&token.to_url_safe(), user.language);
    let mail: OutgoingMail = reset_link_mail(ctx, user.into(), &link, record.expires_at());
    Ok(sender.mailer.send(&mail).await?)
}
