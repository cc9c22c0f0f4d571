//! The `mail-events` Lambda function: build the dependencies once per container, then serve
//! the SNS events that carry SES's notifications.

use aws_lambda_events::event::sns::SnsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use mail_events::{handle, MailEvents};
use reset_core::telemetry;

// One event at a time reaches a Lambda instance: a second worker thread only costs CPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deps = MailEvents::from_env().await?;
    run(service_fn(|event: LambdaEvent<SnsEvent>| async {
        handle(&deps, event.payload).await.map_err(Error::from)
    }))
    .await
}
