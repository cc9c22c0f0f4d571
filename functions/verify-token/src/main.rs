//! The `verify-token` Lambda function: build the dependencies once per container, then serve.

use lambda_http::{run, service_fn, Error};
use reset_core::app::REQUEST_PATH_BOUNDS;
use reset_core::{telemetry, web, Wiring};

// One request at a time reaches a Lambda instance: a second worker thread only costs CPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = Wiring::from_env(REQUEST_PATH_BOUNDS).await?.app().await?;
    run(service_fn(|request| web::verify_token::handle(&app, request))).await
}
