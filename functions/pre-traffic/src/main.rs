//! The `pre-traffic` Lambda function: build the dependencies once per container, then answer
//! each CodeDeploy hook execution.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use pre_traffic::{handle, Hook, LifecycleEvent};
use reset_core::telemetry;

// The checks run concurrently on one thread: they wait on the network, not the CPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let hook = Hook::from_env().await?;
    let hook = &hook;
    run(service_fn(move |event: LambdaEvent<LifecycleEvent>| async move {
        handle(hook, event.payload).await.map_err(Error::from)
    }))
    .await
}
