//! The `request-reset` Lambda function: build the dependencies once per container, then serve.

use lambda_http::{run, service_fn, Error};
use reset_core::{telemetry, web, App};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = App::from_env().await?;
    run(service_fn(|request| web::request_reset::handle(&app, request))).await
}
