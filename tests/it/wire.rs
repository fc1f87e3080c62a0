//! Request bodies that are not valid protobuf, sent as raw bytes on the wire to every saring.v1 RPC
//! (with a key that may call it): each is INVALID_ARGUMENT saying the request could not be decoded,
//! never INTERNAL, and the server goes on serving. Health and reflection (tonic's own) are shown too.

use bytes::{Buf, BufMut};
use saring::config::Config;
use saring::pb::Role;
use saring::store::embedded::EmbeddedStore;
use saring::store::Store;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::auth::with_key;
use crate::server::{request, TestServer};

/// A codec that sends the bytes it is given as the message and hands back the reply's bytes, so a test
/// can put anything on the wire inside correct gRPC framing.
#[derive(Debug, Default, Clone, Copy)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

/// Send `body` to `path` as a unary call (a server-streaming RPC answers a bad request before its
/// stream starts, so the same call reads its status) with `token`; the status, OK when it succeeded.
async fn send(channel: &Channel, path: &'static str, body: Vec<u8>, token: &str) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("channel ready");
    let path = http::uri::PathAndQuery::from_static(path);
    match grpc.unary(with_key(token, body), path, Raw).await {
        Ok(_) => Status::ok(""),
        Err(status) => status,
    }
}

/// A protobuf key: field `tag` with wire type `wire`.
fn key(tag: u8, wire: u8) -> u8 {
    (tag << 3) | wire
}

const LENGTH_DELIMITED: u8 = 2;
const VARINT: u8 = 0;

/// The four kinds of body that are not a valid message, for a message whose field `tag` is a string
/// (None: a message without string fields, which cannot carry invalid UTF-8).
fn bad_bodies(tag: Option<u8>) -> Vec<(&'static str, Vec<u8>)> {
    let t = tag.unwrap_or(1);
    let mut bodies = vec![
        // A length of 40 with three bytes behind it.
        (
            "a truncated message",
            vec![key(t, LENGTH_DELIMITED), 40, b'a', b'b', b'c'],
        ),
        // Eleven continuation bytes: no varint is that long.
        ("garbage bytes", vec![0xff; 11]),
    ];
    match tag {
        Some(t) => {
            bodies.push((
                "invalid UTF-8 in a string field",
                vec![key(t, LENGTH_DELIMITED), 3, b'a', 0xff, 0xfe],
            ));
            // The string field sent as a number.
            bodies.push(("a wrong wire type", vec![key(t, VARINT), 1]));
        }
        // Wire type 7 does not exist, for any field.
        None => bodies.push(("a wrong wire type", vec![key(t, 7), 1])),
    }
    bodies
}

/// Every saring.v1 RPC and the tag of a string field of its request.
const RPCS: [(&str, Option<u8>); 19] = [
    ("/saring.v1.Moderation/CheckComment", Some(1)),
    ("/saring.v1.Moderation/SubmitFeedback", Some(1)),
    ("/saring.v1.ModerationQueue/ListHeld", Some(1)),
    ("/saring.v1.ModerationQueue/GetHeld", Some(1)),
    ("/saring.v1.ModerationQueue/ResolveHeld", Some(1)),
    ("/saring.v1.ModerationQueue/WatchHeld", Some(1)),
    ("/saring.v1.ModerationQueue/ListAudit", Some(1)),
    ("/saring.v1.ModerationQueue/RecheckHeld", Some(1)),
    ("/saring.v1.Admin/CreateKey", Some(2)),
    ("/saring.v1.Admin/ListKeys", None),
    ("/saring.v1.Admin/RevokeKey", Some(1)),
    ("/saring.v1.Admin/ExportLabels", Some(1)),
    ("/saring.v1.ModelAdmin/GetModelInfo", None),
    ("/saring.v1.ModelAdmin/ReloadModel", Some(1)),
    ("/saring.v1.ModelAdmin/PromoteShadow", None),
    ("/saring.v1.ModelAdmin/DropShadow", None),
    ("/saring.v1.ModelAdmin/GetOverlay", Some(1)),
    ("/saring.v1.ModelAdmin/ResetOverlay", Some(1)),
    ("/saring.v1.ModelAdmin/SetOverlay", Some(1)),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_is_not_protobuf_is_invalid_argument_for_every_rpc() {
    let store = Store::from(EmbeddedStore::open_in_memory());
    let (_, admin) = saring::access::keys::create(&store, Role::Admin, &[], "ops")
        .await
        .unwrap();
    let server = TestServer::start_authed(Config::default(), store).await;
    let channel = server.channel().await;
    let mut kinds = std::collections::BTreeSet::new();
    for (path, tag) in RPCS {
        for (kind, body) in bad_bodies(tag) {
            let status = send(&channel, path, body, &admin).await;
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{path}, {kind}: {status:?}"
            );
            assert!(
                status
                    .message()
                    .starts_with("the request could not be decoded"),
                "{path}, {kind}: {}",
                status.message()
            );
            kinds.insert(kind);
        }
    }
    assert_eq!(kinds.len(), 4, "every kind of bad body was sent: {kinds:?}");

    // The same framing with a valid body is served, and so is a stock client: nothing broke.
    let valid = prost::Message::encode_to_vec(&saring::pb::ListKeysRequest {});
    let status = send(&channel, "/saring.v1.Admin/ListKeys", valid, &admin).await;
    assert_eq!(status.code(), Code::Ok, "{status:?}");
    let mut client = saring::pb::moderation_client::ModerationClient::new(channel);
    client
        .check_comment(with_key(
            &admin,
            request("default", "Terima kasih, artikelnya bagus."),
        ))
        .await
        .expect("the server goes on serving");
}

/// Send `body` as the one message of a bidirectional stream to `path`; the replies' count and how the
/// stream ended.
async fn send_streaming(channel: &Channel, path: &'static str, body: Vec<u8>) -> (usize, Status) {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("channel ready");
    let path = http::uri::PathAndQuery::from_static(path);
    let request = tonic::Request::new(tokio_stream::iter(vec![body]));
    let mut stream = match grpc.streaming(request, path, Raw).await {
        Ok(response) => response.into_inner(),
        Err(status) => return (0, status),
    };
    let mut replies = 0;
    loop {
        match stream.message().await {
            Ok(Some(_)) => replies += 1,
            Ok(None) => return (replies, Status::ok("")),
            Err(status) => return (replies, status),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_and_reflection_refuse_garbage_in_their_own_way_and_the_server_goes_on() {
    // tonic's own services keep tonic-prost's codec and their own handling; neither needs a key or
    // touches data. Recorded here so that a change in what they answer is noticed.
    let server = TestServer::start(Config::default()).await;
    let channel = server.channel().await;
    for (kind, body) in bad_bodies(Some(1)) {
        // Health answers INTERNAL with the decoder's message.
        let status = send(&channel, "/grpc.health.v1.Health/Check", body.clone(), "").await;
        assert_eq!(status.code(), Code::Internal, "health, {kind}: {status:?}");
        // Reflection drops a request that does not decode and ends the stream as if the client had
        // finished: no reply, status OK.
        for path in [
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            let (replies, status) = send_streaming(&channel, path, body.clone()).await;
            assert_eq!(
                (replies, status.code()),
                (0, Code::Ok),
                "{path}, {kind}: {status:?}"
            );
        }
    }
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health still answers")
        .into_inner();
    assert_eq!(health.status, 1);
}

/// Send `frame` as the whole request body, gRPC framing included, to `path` with `token`; the status
/// code of the answer (from its headers, or its trailers after the body).
async fn send_frame(channel: &Channel, path: &str, frame: Vec<u8>, token: &str) -> Code {
    use http_body_util::BodyExt;
    let mut channel = channel.clone();
    let request = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(tonic::body::Body::new(http_body_util::Full::new(
            bytes::Bytes::from(frame),
        )))
        .unwrap();
    std::future::poll_fn(|cx| tower::Service::poll_ready(&mut channel, cx))
        .await
        .expect("channel ready");
    let response = tower::Service::call(&mut channel, request)
        .await
        .expect("an answer");
    let code = |headers: &http::HeaderMap| {
        headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .map(Code::from_i32)
    };
    if let Some(code) = code(response.headers()) {
        return code;
    }
    let body = response.into_body().collect().await.expect("the body");
    body.trailers()
        .and_then(code)
        .expect("a status in the trailers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frame_cut_short_is_tonic_s_internal_before_any_decoding() {
    // The gRPC framing is tonic's, read before the codec sees a byte: a length prefix of 100 with 3
    // bytes behind it is "Unexpected EOF decoding stream", INTERNAL (docs/api.md says so). The same
    // bytes in a whole frame are the codec's, INVALID_ARGUMENT.
    let store = Store::from(EmbeddedStore::open_in_memory());
    let (_, admin) = saring::access::keys::create(&store, Role::Admin, &[], "ops")
        .await
        .unwrap();
    let server = TestServer::start_authed(Config::default(), store).await;
    let channel = server.channel().await;
    let path = "/saring.v1.Admin/RevokeKey";
    let cut = vec![0, 0, 0, 0, 100, key(1, LENGTH_DELIMITED), 1, b'a'];
    assert_eq!(
        send_frame(&channel, path, cut, &admin).await,
        Code::Internal
    );
    let whole = vec![0, 0, 0, 0, 3, key(1, LENGTH_DELIMITED), 5, b'a'];
    assert_eq!(
        send_frame(&channel, path, whole, &admin).await,
        Code::InvalidArgument
    );
}
