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
