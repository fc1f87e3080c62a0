//! One rule for site ids, every RPC: a site id is an identifier and never normalised. Every RPC that
//! takes a site refuses one with whitespace or a control character anywhere (INVALID_ARGUMENT naming
//! the field), even with a key for the site it would trim to, and serves the exact id.

use saring::config::Config;
use saring::pb::{self, Role};
use saring::store::embedded::EmbeddedStore;
use saring::store::Store;
use tonic::Code;

use crate::auth::{call, with_key, Rpc, ALL};
use crate::server::{request, TestServer};

/// Site ids that name `default` only after trimming or squeezing.
const NOT_DEFAULT: [&str; 3] = [" default ", "default\n", "de fault"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_refuses_a_site_id_with_whitespace_and_serves_the_exact_one() {
    let store = Store::from(EmbeddedStore::open_in_memory());
    let default = vec!["default".to_string()];
    let (_, service) = saring::access::keys::create(&store, Role::Service, &default, "blog")
        .await
        .unwrap();
    let (_, moderator) = saring::access::keys::create(&store, Role::Moderator, &default, "ann")
        .await
        .unwrap();
    let (_, admin) = saring::access::keys::create(&store, Role::Admin, &[], "ops")
        .await
        .unwrap();
    let server = TestServer::start_authed(Config::default(), store).await;
    let channel = server.channel().await;

    let mut checked = 0;
    for rpc in ALL {
        // ListKeys, RevokeKey and ModelAdmin's RPCs take no site.
        if matches!(
            rpc,
            Rpc::ListKeys | Rpc::RevokeKey | Rpc::GetModelInfo | Rpc::ReloadModel
        ) {
            continue;
        }
        let own = match rpc {
            Rpc::CheckComment | Rpc::SubmitFeedback => &service,
            Rpc::CreateKey
            | Rpc::ExportLabels
            | Rpc::GetOverlay
            | Rpc::ResetOverlay
            | Rpc::SetOverlay => &admin,
            _ => &moderator,
        };
        // The key for `default`, and the admin key, which may act on every site: the site id is
        // refused for what it is, not for whom it is sent by.
        for token in [own, &admin] {
            for site in NOT_DEFAULT {
                let got = call(&channel, rpc, site, token).await;
                assert_eq!(got, Code::InvalidArgument, "{rpc:?} with site {site:?}");
                checked += 1;
            }
            let got = call(&channel, rpc, "default", token).await;
            assert!(
                matches!(got, Code::Ok | Code::NotFound),
                "{rpc:?} with site \"default\": {got:?}"
            );
        }
    }
    assert_eq!(checked, 13 * 2 * NOT_DEFAULT.len(), "every RPC with a site");

    // The refusal names the field.
    let mut m = pb::moderation_client::ModerationClient::new(channel.clone());
    let status = m
        .check_comment(with_key(&service, request(" default ", "Terima kasih")))
        .await
        .unwrap_err();
    assert!(status.message().starts_with("site_id"), "{status:?}");
    let mut a = pb::admin_client::AdminClient::new(channel);
    let status = a
        .create_key(with_key(
            &admin,
            pb::CreateKeyRequest {
                role: Role::Service as i32,
                sites: vec!["default".into(), "default\n".into()],
                name: "typo".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("sites"), "{status:?}");
}
