//! The `saring.v1.Admin` service, for admin keys only: API keys, and the labels a retraining exports.

use std::pin::Pin;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::principal;
use super::status;
use crate::access::auth::{authorize, Authenticator, Permission};
use crate::access::keys;
use crate::pb;
use crate::store::Store;

/// The admin service.
#[derive(Debug)]
pub struct AdminService {
    auth: Arc<Authenticator>,
    store: Store,
}

impl AdminService {
    /// Manage the keys in `store`; revocations also clear `auth`'s cache at once.
    pub fn new(auth: Arc<Authenticator>, store: Store) -> Self {
        AdminService { auth, store }
    }
}

fn admin<T>(request: &Request<T>) -> Result<crate::access::auth::Principal, Status> {
    let p = principal(request)?;
    authorize(&p, Permission::Admin, "").map_err(status::auth)?;
    Ok(p)
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> Result<Response<pb::CreateKeyResponse>, Status> {
        let by = admin(&request)?;
        let r = request.into_inner();
        let (key, token) = keys::create(&self.store, r.role(), &r.sites, &r.name)
            .await
            .map_err(status::keys)?;
        tracing::info!(key = %key.id, role = r.role().as_str_name(), by = by.label(), "created an API key");
        Ok(Response::new(pb::CreateKeyResponse {
            key: Some(key),
            token,
        }))
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        admin(&request)?;
        let keys = keys::list(&self.store).await.map_err(status::keys)?;
        Ok(Response::new(pb::ListKeysResponse { keys }))
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let by = admin(&request)?;
        let id = request.into_inner().id;
        let key = keys::revoke(&self.store, &id).await.map_err(status::keys)?;
        self.auth.forget(&id);
        tracing::info!(key = %id, by = by.label(), "revoked an API key");
        Ok(Response::new(key))
    }

    type ExportLabelsStream = LabelStream;

    async fn export_labels(
        &self,
        request: Request<pb::ExportLabelsRequest>,
    ) -> Result<Response<LabelStream>, Status> {
        let by = admin(&request)?;
        let r = request.into_inner();
        let since = crate::clock::micros(r.since.as_ref());
        let labels = crate::service::export::labels(&self.store, &r.site_id, since)
            .await
            .map_err(status::export)?;
        super::trace::site(&r.site_id);
        tracing::info!(labels = labels.len(), by = by.label(), "exported labels");
        // Read whole before the first message, like the direct export: one store read, one snapshot.
        Ok(Response::new(Box::pin(tokio_stream::iter(
            labels.into_iter().map(Ok),
        ))))
    }
}

type LabelStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::LabelledExample, Status>> + Send>>;
