//! The `send-mail` Lambda function: build the dependencies once per container, then deliver
//! the batches of the mail queue that the SQS event source hands over.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use reset_core::{telemetry, Wiring};
use send_mail::{handle, SendMail, SEND_BOUNDS};

// One batch at a time reaches a Lambda instance: a second worker thread only costs CPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deps = SendMail::new(&Wiring::from_env(SEND_BOUNDS).await?).await?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(handle(deps, event.payload, event.context.deadline).await)
    }))
    .await
}
