//! The `saring.v1.ModelAdmin` service, for admin keys only: what model is serving, reloads without a
//! restart, and a shadow candidate's promotion or removal.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::principal;
use super::status;
use crate::access::auth::{authorize, Permission};
use crate::pb;
use crate::service::models::Models;

/// The model admin service.
#[derive(Debug)]
pub struct ModelAdminService {
    models: Arc<Models>,
}

impl ModelAdminService {
    /// Manage `models`, the ones the checks use.
    pub fn new(models: Arc<Models>) -> Self {
        ModelAdminService { models }
    }
}

fn admin<T>(request: &Request<T>) -> Result<crate::access::auth::Principal, Status> {
    let p = principal(request)?;
    authorize(&p, Permission::Admin, "").map_err(status::auth)?;
    Ok(p)
}

#[tonic::async_trait]
impl pb::model_admin_server::ModelAdmin for ModelAdminService {
    async fn get_model_info(
        &self,
        request: Request<pb::GetModelInfoRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        admin(&request)?;
        Ok(Response::new(self.models.info()))
    }

    async fn reload_model(
        &self,
        request: Request<pb::ReloadModelRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        let by = admin(&request)?;
        let r = request.into_inner();
        let loaded = self
            .models
            .reload(&r.name, r.shadow)
            .await
            .map_err(status::models)?;
        tracing::info!(
            model = loaded.model.version(),
            path = %loaded.path.display(),
            shadow = r.shadow,
            by = by.label(),
            "loaded a model"
        );
        Ok(Response::new(self.models.info()))
    }

    async fn promote_shadow(
        &self,
        request: Request<pb::PromoteShadowRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        let by = admin(&request)?;
        let promoted = self.models.promote().map_err(status::models)?;
        tracing::info!(
            model = promoted.model.version(),
            by = by.label(),
            "promoted the shadow model"
        );
        Ok(Response::new(self.models.info()))
    }

    async fn drop_shadow(
        &self,
        request: Request<pb::DropShadowRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        let by = admin(&request)?;
        self.models.drop_shadow().map_err(status::models)?;
        tracing::info!(by = by.label(), "dropped the shadow model");
        Ok(Response::new(self.models.info()))
    }
}
