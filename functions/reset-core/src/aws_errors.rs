//! One way to describe an AWS SDK error in logs and error values: its kind and service error
//! code, never its message. Service messages can quote the request (SES echoes recipient
//! addresses), and nothing that might hold an address or a token may reach a log line.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// `timeout`, `dispatch_io`, `service_error code=ThrottlingException`, …
pub fn describe<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    match error {
        SdkError::ConstructionFailure(_) => "construction_failure".into(),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => "dispatch_timeout".into(),
        SdkError::DispatchFailure(failure) if failure.is_io() => "dispatch_io".into(),
        SdkError::DispatchFailure(_) => "dispatch_failure".into(),
        SdkError::ResponseError(_) => "response_error".into(),
        SdkError::ServiceError(service) => {
            format!("service_error code={}", service.err().code().unwrap_or("unknown"))
        }
        _ => "unknown_sdk_error".into(),
    }
}

/// The service error code, if the service answered with one.
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::error::ErrorMetadata;
    use aws_sdk_sesv2::operation::send_email::SendEmailError;

    #[test]
    fn a_service_error_is_described_by_its_code_never_its_message() {
        let rejected = SendEmailError::generic(
            ErrorMetadata::builder()
                .code("MessageRejected")
                .message("Email address is not verified: victim@hospital.example.jp")
                .build(),
        );
        let error: SdkError<SendEmailError, ()> = SdkError::service_error(rejected, ());
        let described = describe(&error);
        assert_eq!(described, "service_error code=MessageRejected");
        assert!(!described.contains('@'));
        assert_eq!(code(&error), Some("MessageRejected"));
    }

    #[test]
    fn failures_without_an_answer_are_described_by_kind() {
        let error: SdkError<SendEmailError, ()> = SdkError::timeout_error("after 20 s: victim@hospital.example.jp");
        assert_eq!(describe(&error), "timeout");
        assert_eq!(code(&error), None);
    }
}
