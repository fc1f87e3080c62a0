//! The one place a request's key is checked: a tower layer in front of every saring service. It turns
//! the `authorization: Bearer <key>` header into a [`Principal`] in the request's extensions, or answers
//! UNAUTHENTICATED (UNAVAILABLE when the key store cannot be read) without calling the service. Health
//! and reflection are not behind it. Each RPC then authorizes the principal for its site.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;

use super::status;
use crate::access::auth::{Authenticator, Principal};

/// Paths of the services that need a key.
const PROTECTED: &str = "/saring.v1.";

/// Wraps the server's routes in [`AuthService`].
#[derive(Debug)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

impl Clone for AuthLayer {
    fn clone(&self) -> Self {
        AuthLayer {
            auth: self.auth.clone(),
        }
    }
}

impl AuthLayer {
    /// Authenticate through `auth`.
    pub fn new(auth: Arc<Authenticator>) -> Self {
        AuthLayer { auth }
    }
}

impl<Inner> tower::Layer<Inner> for AuthLayer {
    type Service = AuthService<Inner>;

    fn layer(&self, inner: Inner) -> Self::Service {
        AuthService {
            auth: self.auth.clone(),
            inner,
        }
    }
}

/// See [`AuthLayer`].
#[derive(Debug)]
pub struct AuthService<Inner> {
    auth: Arc<Authenticator>,
    inner: Inner,
}

impl<Inner: Clone> Clone for AuthService<Inner> {
    fn clone(&self) -> Self {
        AuthService {
            auth: self.auth.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<Inner, B> tower::Service<http::Request<B>> for AuthService<Inner>
where
    Inner:
        tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    Inner::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Inner::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone is ready only after poll_ready; call the instance that was polled.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            if request.uri().path().starts_with(PROTECTED) {
                let header = request
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                match auth.authenticate(header).await {
                    Ok(principal) => {
                        request.extensions_mut().insert(principal);
                    }
                    Err(e) => return Ok(status::auth(e).into_http()),
                }
            }
            inner.call(request).await
        })
    }
}

/// The authenticated caller of a request that passed the layer.
pub(super) fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, tonic::Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| {
            status::auth(crate::access::auth::Error::Unauthenticated(
                "no credentials were checked",
            ))
        })
}
