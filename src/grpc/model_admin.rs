//! The `saring.v1.ModelAdmin` service, for admin keys only: what model is serving, reloads without a
//! restart, a shadow candidate's promotion or removal, and each site's overlay.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::principal;
use super::status;
use crate::access::auth::{authorize, Permission};
use crate::moderation::comment::check_site;
use crate::pb;
use crate::service::check::Checker;
use crate::service::models::Models;
use crate::service::overlay;

/// The model admin service.
#[derive(Debug)]
pub struct ModelAdminService {
    checker: Arc<Checker>,
}

impl ModelAdminService {
    /// Manage the models `checker` uses, and its sites' overlays.
    pub fn new(checker: Arc<Checker>) -> Self {
        ModelAdminService { checker }
    }

    fn models(&self) -> &Models {
        self.checker.models()
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
        Ok(Response::new(self.models().info()))
    }

    async fn reload_model(
        &self,
        request: Request<pb::ReloadModelRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        let by = admin(&request)?;
        let r = request.into_inner();
        let loaded = self
            .models()
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
        Ok(Response::new(self.models().info()))
    }

    async fn promote_shadow(
        &self,
        request: Request<pb::PromoteShadowRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        let by = admin(&request)?;
        let promoted = self.models().promote().map_err(status::models)?;
        tracing::info!(
            model = promoted.model.version(),
            by = by.label(),
            "promoted the shadow model"
        );
        Ok(Response::new(self.models().info()))
    }

    async fn drop_shadow(
        &self,
        request: Request<pb::DropShadowRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        let by = admin(&request)?;
        self.models().drop_shadow().map_err(status::models)?;
        tracing::info!(by = by.label(), "dropped the shadow model");
        Ok(Response::new(self.models().info()))
    }

    async fn get_overlay(
        &self,
        request: Request<pb::GetOverlayRequest>,
    ) -> Result<Response<pb::OverlayInfo>, Status> {
        check_site("site_id", &request.get_ref().site_id).map_err(status::invalid)?;
        admin(&request)?;
        let r = request.into_inner();
        let info = overlay::info(&self.checker, &r.site_id, r.top)
            .await
            .map_err(|e| status::store(&e))?;
        Ok(Response::new(info))
    }

    async fn reset_overlay(
        &self,
        request: Request<pb::ResetOverlayRequest>,
    ) -> Result<Response<pb::OverlayInfo>, Status> {
        check_site("site_id", &request.get_ref().site_id).map_err(status::invalid)?;
        let by = admin(&request)?;
        let site = request.into_inner().site_id;
        let info = overlay::reset(&self.checker, &site)
            .await
            .map_err(|e| status::store(&e))?;
        tracing::info!(site = %site, by = by.label(), "reset a site's overlay");
        Ok(Response::new(info))
    }

    async fn set_overlay(
        &self,
        request: Request<pb::SetOverlayRequest>,
    ) -> Result<Response<pb::OverlayInfo>, Status> {
        check_site("site_id", &request.get_ref().site_id).map_err(status::invalid)?;
        let by = admin(&request)?;
        let r = request.into_inner();
        let info = overlay::set(&self.checker, &r.site_id, r.enabled)
            .await
            .map_err(|e| status::store(&e))?;
        tracing::info!(site = %r.site_id, enabled = r.enabled, by = by.label(), "switched a site's overlay");
        Ok(Response::new(info))
    }
}
