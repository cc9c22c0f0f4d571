//! The `address-change` Lambda function: build the dependencies once per container, then serve.

use lambda_http::{run, service_fn, Error};
use reset_core::app::REQUEST_PATH_BOUNDS;
use reset_core::{telemetry, web, Wiring};

// One request at a time reaches a Lambda instance: a second worker thread only costs CPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let desk = Wiring::from_env(REQUEST_PATH_BOUNDS).await?.address_desk().await?;
    run(service_fn(|request| web::address_change::handle(&desk, request))).await
}
