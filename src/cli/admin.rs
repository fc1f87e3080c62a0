//! A connection to a running server's Admin and ModelAdmin services, for the admin commands
//! (`saring keys`, `saring export-feedback`, `saring model`).

use anyhow::{anyhow, Context};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use super::ServerAt;
use crate::pb::admin_client::AdminClient;
use crate::pb::model_admin_client::ModelAdminClient;

/// Adds the admin key, when one was given, to every request.
#[derive(Clone)]
pub(super) struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(bearer) = &self.0 {
            r.metadata_mut().insert("authorization", bearer.clone());
        }
        Ok(r)
    }
}

/// An Admin client for `at.server`, sending `at.key`. Without a key the call goes out bare: a server
/// with keys off (`--insecure-no-auth`) takes it, any other refuses it and [`refused`] says what to do.
pub(super) async fn connect(
    at: &ServerAt,
) -> anyhow::Result<AdminClient<InterceptedService<Channel, Bearer>>> {
    let (channel, bearer) = channel(at).await?;
    Ok(AdminClient::with_interceptor(channel, bearer))
}

/// A ModelAdmin client, as [`connect`].
pub(super) async fn connect_models(
    at: &ServerAt,
) -> anyhow::Result<ModelAdminClient<InterceptedService<Channel, Bearer>>> {
    let (channel, bearer) = channel(at).await?;
    Ok(ModelAdminClient::with_interceptor(channel, bearer))
}

async fn channel(at: &ServerAt) -> anyhow::Result<(Channel, Bearer)> {
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
    let bearer = at
        .key
        .as_ref()
        .map(|key| format!("Bearer {key}").parse())
        .transpose()
        .context("the key is not a valid header value")?;
    Ok((channel, Bearer(bearer)))
}

/// A refusal from the server, with what to do about it.
pub(super) fn refused(status: tonic::Status) -> anyhow::Error {
    match status.code() {
        tonic::Code::Unauthenticated => anyhow!(
            "the server wants an admin key ({}): give one with --key or SARING_KEY, or use --direct on the store",
            status.message()
        ),
        tonic::Code::PermissionDenied => {
            anyhow!("this key may not do that ({}): use an admin key", status.message())
        }
        _ => anyhow::Error::new(status),
    }
}
