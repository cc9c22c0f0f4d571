//! The floor of `make bench`: the smallest `lambda_http` function (same crate features and the
//! same release profile as the real functions, no SDK, no logging), answering every request
//! with a fixed page. Whatever the real functions cost above this is theirs.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

async fn hello(_request: Request) -> Result<Response<Body>, Error> {
    let response = Response::builder()
        .status(200)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from("hello"))?;
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(hello)).await
}
