//! A connection to a running server's Admin service, for the admin commands (`saring keys`,
//! `saring export-feedback`).

use anyhow::{bail, Context};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use super::AdminAt;
use crate::pb::admin_client::AdminClient;

/// Adds the admin key to every request.
#[derive(Clone)]
pub(super) struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

/// An Admin client for `at.server`, sending `at.key`.
pub(super) async fn connect(
    at: &AdminAt,
) -> anyhow::Result<AdminClient<InterceptedService<Channel, Bearer>>> {
    let Some(key) = &at.key else {
        bail!("give an admin key with --key or SARING_KEY (or use --direct on the store)");
    };
    let mut endpoint = Channel::from_shared(at.server.clone())
        .with_context(|| format!("`{}` is not a URL", at.server))?;
    if let Some(ca) = &at.tls_ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))?;
    } else if at.server.starts_with("https://") {
        // The system's trust store (or the file in SSL_CERT_FILE): a publicly signed certificate, or a
        // private CA the host already trusts, needs no --tls-ca.
        endpoint = endpoint.tls_config(ClientTlsConfig::new().with_native_roots())?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {}", at.server))?;
    let bearer = format!("Bearer {key}")
        .parse()
        .context("the key is not a valid header value")?;
    Ok(AdminClient::with_interceptor(channel, Bearer(bearer)))
}
