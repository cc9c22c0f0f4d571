//! The `mail-events` Lambda function: build the dependencies once per container, then serve
//! the SNS events that carry SES's notifications.

use aws_lambda_events::event::sns::SnsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use mail_events::{handle, MailEvents, EVENT_BOUNDS, TOPIC_ARN_VARIABLE};
use reset_core::config::Variables;
use reset_core::{telemetry, Wiring};

// One event at a time reaches a Lambda instance: a second worker thread only costs CPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let vars = Variables::from_env();
    let deps = MailEvents::new(
        &Wiring::read(&vars, EVENT_BOUNDS).await?,
        vars.required(TOPIC_ARN_VARIABLE)?,
    );
    run(service_fn(|event: LambdaEvent<SnsEvent>| async {
        handle(&deps, event.payload).await.map_err(Error::from)
    }))
    .await
}
