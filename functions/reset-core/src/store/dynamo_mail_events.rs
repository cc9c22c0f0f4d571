//! The mail-events function's writes on the users table (or, with a Cognito pool, on the
//! account-state table, which has the same key and indexes).

use super::dynamo::{attributes, indexes, DynamoStore, MAIL_PROBLEM_FLAG_SET};
use super::item::{n, s, unavailable};
use super::{MailEvent, MailEventRecord, MailEventStore, StoreError};
use crate::domain::Username;
use async_trait::async_trait;

#[async_trait]
impl MailEventStore for DynamoStore {
    async fn record_mail_event(&self, event: &MailEvent) -> Result<MailEventRecord, StoreError> {
        use attributes::*;
        // The index is eventually consistent; the event comes seconds after the send at the
        // earliest, by which time the index has the message id.
        let found = self
            .client
            .query()
            .table_name(&self.users_table)
            .index_name(indexes::BY_RESET_MAIL_MESSAGE)
            .key_condition_expression(format!("{RESET_MAIL_MESSAGE_ID} = :id"))
            .expression_attribute_values(":id", s(&event.message_id))
            .limit(1)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(username) = found
            .items()
            .first()
            .and_then(|item| item.get(USERNAME))
            .and_then(|v| v.as_s().ok())
        else {
            return Ok(MailEventRecord::Unmatched);
        };
        let username = Username::parse(username).map_err(|e| StoreError::Corrupt(e.to_string()))?;

        let kind = event.kind.code();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.users_table)
            .key(USERNAME, s(username.as_str()))
            .expression_attribute_values(":id", s(&event.message_id))
            .expression_attribute_values(":kind", s(kind))
            .expression_attribute_values(":at", n(event.occurred_at.as_millis()));
        if event.kind.is_problem() {
            // Only while this is still the account's latest reset mail: a later mail or an
            // address change makes the event history.
            let set_detail = match &event.detail {
                Some(detail) => {
                    update = update.expression_attribute_values(":detail", s(detail));
                    format!(", {MAIL_PROBLEM_DETAIL} = :detail")
                }
                None => String::new(),
            };
            let remove_detail = if event.detail.is_none() {
                format!(" REMOVE {MAIL_PROBLEM_DETAIL}")
            } else {
                String::new()
            };
            update = update
                .update_expression(format!(
                    "SET {LAST_MAIL_EVENT} = :kind, {LAST_MAIL_EVENT_AT} = :at, {MAIL_PROBLEM} = :kind, \
                     {MAIL_PROBLEM_AT} = :at, {MAIL_PROBLEM_FLAG} = :flag, {MAIL_PROBLEM_MESSAGE_ID} = :id\
                     {set_detail}{remove_detail}"
                ))
                .condition_expression(format!(
                    "attribute_exists({USERNAME}) AND {RESET_MAIL_MESSAGE_ID} = :id"
                ))
                .expression_attribute_values(":flag", s(MAIL_PROBLEM_FLAG_SET));
        } else {
            // A delivery clears an older mail's problem, never the problem of this same mail
            // (SNS may deliver this mail's complaint before its delivery).
            update = update
                .update_expression(format!(
                    "SET {LAST_MAIL_EVENT} = :kind, {LAST_MAIL_EVENT_AT} = :at \
                     REMOVE {MAIL_PROBLEM}, {MAIL_PROBLEM_DETAIL}, {MAIL_PROBLEM_AT}, {MAIL_PROBLEM_FLAG}, \
                     {MAIL_PROBLEM_MESSAGE_ID}"
                ))
                .condition_expression(format!(
                    "attribute_exists({USERNAME}) AND {RESET_MAIL_MESSAGE_ID} = :id \
                     AND (attribute_not_exists({MAIL_PROBLEM_MESSAGE_ID}) OR {MAIL_PROBLEM_MESSAGE_ID} <> :id)"
                ));
        }
        match update.send().await {
            Ok(_) => Ok(MailEventRecord::Recorded(username)),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(MailEventRecord::Stale(username))
            }
            Err(error) => Err(unavailable(error)),
        }
    }
}
