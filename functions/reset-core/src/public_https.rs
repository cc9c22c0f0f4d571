//! An HTTPS client for endpoints that are not AWS's (the Pwned Passwords API, the service's own
//! public domain), on the hyper / rustls stack the AWS SDK already brings: no second HTTP stack
//! in the binary. Verified against the system's root certificates, not the SDK's Amazon ones.

use hyper::body::Body;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;

/// The client, sending request bodies of type `B`.
pub type PublicHttpsClient<B> = Client<HttpsConnector<HttpConnector>, B>;

/// Builds the client (plain `http://` too, for the local stack). `purpose` names the caller in
/// the warning logged when the system's root certificates are missing or partly unreadable.
/// Fails only when rustls cannot make a configuration with aws-lc-rs's default provider.
pub fn public_https_client<B>(purpose: &str) -> Result<PublicHttpsClient<B>, rustls::Error>
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    let mut roots = rustls::RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if ignored > 0 || added == 0 {
        tracing::warn!(added, ignored, purpose, "root certificates");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}
