//! The verification link of an address-change request, mailed to the new address under the
//! service-wide caps on confirmation mails.

use super::delivery::{Delivery, DeliveryError, MailSender, SkipReason};
use crate::domain::{AddressRequest, AddressRequestId, ResetToken, Timestamp};
use crate::mail::address_compose::address_verification_mail;
use crate::mail::compose::MailContext;
use crate::service::{day_window, hour_window};
use crate::store::CounterKey;

/// Mints the verification link at sending time, so the secret exists only in the mail and its
/// hash only on the request. A request that is no longer unverified, or expired, gets nothing.
///
/// Only a username that exists and may reset gets its confirmation mail: decided here, not on
/// the request path, so that the form's answer and its time are the same for every username.
/// A stranger's request for an unknown username is stored and never mailed, so it never gets
/// a link, can never be confirmed and never reaches the administrators.
pub(super) async fn send_verification(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    request_id: &AddressRequestId,
    now: Timestamp,
) -> Result<Delivery, DeliveryError> {
    let Some(request) = sender.address_requests.find_request(request_id).await? else {
        return Ok(Delivery::Skipped(SkipReason::RequestGone));
    };
    if request.is_expired_at(now) {
        return Ok(Delivery::Skipped(SkipReason::RequestGone));
    }
    let Some(user) = sender.accounts.find_account(&request.username).await? else {
        return Ok(Delivery::Skipped(SkipReason::UnknownAccount));
    };
    if !user.can_reset_password() {
        return Ok(Delivery::Skipped(SkipReason::AccountDisabled));
    }
    let places = match reserve_confirmation(sender, now).await? {
        Ok(places) => places,
        Err(until_secs) => return Ok(Delivery::Deferred { until_secs }),
    };
    let sent = mint_and_send_verification(sender, ctx, &request, now).await;
    if !matches!(sent, Ok(Delivery::Sent { .. })) {
        give_back(sender, &places).await;
    }
    sent
}

async fn mint_and_send_verification(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    request: &AddressRequest,
    now: Timestamp,
) -> Result<Delivery, DeliveryError> {
    let token = ResetToken::generate().map_err(|e| DeliveryError::Randomness(e.to_string()))?;
    let lifetime = sender.settings.address.verification_ttl_secs();
    // The link never outlives the request.
    let link_expires_at = now.plus_secs(lifetime).as_secs().min(request.expires_at);
    if !sender
        .address_requests
        .set_verification(&request.request_id, &token.hash(), link_expires_at)
        .await?
    {
        return Ok(Delivery::Skipped(SkipReason::RequestGone));
    }
    let link = sender
        .settings
        .address_verification_url(&request.request_id, &token.to_url_safe(), request.language);
    let mail = address_verification_mail(ctx, request, &link, Timestamp::from_millis(link_expires_at * 1000));
    let message_id = sender.mailer.send(&mail).await?;
    Ok(Delivery::Sent { message_id })
}

/// Takes a place under the service-wide caps on confirmation mails (this hour's, then this
/// day's), each one conditional update so concurrent senders never overshoot. `Err(until)`
/// when a cap is reached: the end of the full window, when the job may try again.
async fn reserve_confirmation(
    sender: &MailSender,
    now: Timestamp,
) -> Result<Result<Vec<CounterKey>, i64>, DeliveryError> {
    let limits = &sender.settings.address;
    let mut taken = Vec::with_capacity(2);
    for ((start, end), limit) in [
        (hour_window(now), limits.confirmations_per_hour),
        (day_window(now), limits.confirmations_per_day),
    ] {
        let key = CounterKey::address_confirmations(end - start, start);
        let took = match sender.counters.reserve_below(&key, limit, end).await {
            Ok(took) => took,
            Err(error) => {
                give_back(sender, &taken).await;
                return Err(error.into());
            }
        };
        if !took {
            give_back(sender, &taken).await;
            tracing::warn!(
                window_secs = end - start,
                limit,
                "the cap on confirmation mails is reached; the job waits"
            );
            return Ok(Err(end));
        }
        taken.push(key);
    }
    Ok(Ok(taken))
}

/// Places taken for a mail that was not sent go back: a failed send spends nothing.
async fn give_back(sender: &MailSender, places: &[CounterKey]) {
    for key in places {
        if let Err(error) = sender.counters.release_reserved(key).await {
            tracing::warn!(error = %error, "a place under the confirmation cap could not be given back");
        }
    }
}
