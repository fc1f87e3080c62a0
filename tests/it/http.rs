//! A small HTTP/1.1 client over hyper for the admin port's tests and the WebDriver client: plain or
//! TLS (trusting one given certificate), whole bodies or a body read line by line.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// An answer, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A client for `http://` and `https://` URLs; `https://` trusts only `ca_pem` when given.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client<Connector, Full<Bytes>>,
}

impl Http {
    pub(crate) fn new() -> Http {
        Http::trusting(None)
    }

    pub(crate) fn trusting(ca_pem: Option<&str>) -> Http {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = ca_pem {
            use rustls::pki_types::pem::PemObject;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Http {
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Send a request and read the whole answer (bounded: 30 s).
    pub(crate) async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let response = self.start(method, url, headers, body).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(Duration::from_secs(30), response.into_body().collect())
            .await
            .unwrap_or_else(|_| panic!("{method} {url}: the body did not end within 30 s"))
            .expect("read the body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Send a request and return the answer as soon as its headers arrive.
    pub(crate) async fn start(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> http::Response<hyper::body::Incoming> {
        let mut request = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default().to_vec())))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .unwrap_or_else(|_| panic!("{method} {url}: no answer within 30 s"))
            .unwrap_or_else(|e| panic!("{method} {url}: {e:?}"))
    }

    /// GET `url`: its status, or why no answer came.
    pub(crate) async fn client_send_may_fail(&self, url: &str) -> Result<u16, String> {
        let request = http::Request::get(url)
            .body(Full::new(Bytes::new()))
            .unwrap();
        match tokio::time::timeout(Duration::from_secs(30), self.client.request(request)).await {
            Ok(Ok(r)) => Ok(r.status().as_u16()),
            Ok(Err(e)) => Err(format!("{e:?}")),
            Err(_) => Err("no answer within 30 s".into()),
        }
    }

    pub(crate) async fn get(&self, url: &str) -> Reply {
        self.send("GET", url, &[], None).await
    }
}

/// Reads a streamed body line by line.
pub(crate) struct Lines {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
}

impl Lines {
    pub(crate) fn new(response: http::Response<hyper::body::Incoming>) -> Lines {
        Lines {
            body: response.into_body(),
            buf: Vec::new(),
        }
    }

    /// The next line (without its `\n`), or `None` when the body ends; bounded by `within`.
    pub(crate) async fn next(&mut self, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .expect("no line within the time allowed");
            match frame {
                None => return None,
                Some(Err(e)) => panic!("reading the stream: {e}"),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}
