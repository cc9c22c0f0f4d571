//! `local-sign-in`: the stand-in for the host sign-in system under `make run`. Not deployed.

use lambda_http::{run, service_fn, Error};
use local_sign_in::SignIn;
use reset_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = SignIn::from_env().await?;
    run(service_fn(|request| local_sign_in::handle(&app, request))).await
}
