//! Credentials against a real node over real gRPC and HTTP (issue 9, findings
//! 1, 7 and 8): tokens signed with the node's own key but claiming too long a
//! life, a future issue time or another issuer are refused; the `bearer`
//! scheme is case-insensitive; password guessing is throttled, locked out,
//! audited, and an admin can lift the lockout.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;
use tonic::metadata::MetadataValue;
use vfed_audit::Outcome;
use vfed_auth::{Claims, throttle};
use vfed_proto::auth::v1 as pb;
use vfed_proto::auth::v1::accounts_client::AccountsClient;
use vfed_tests::{NewUser, NodeOptions, TestNode, TestPki, eventually};

const NODE: &str = "54050200002000000001";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn who_am_i(node: &TestNode, pki: &TestPki, token: &str) -> tonic::Status {
    let mut accounts = AccountsClient::new(node.channel_as(pki, token).unwrap());
    match accounts.who_am_i(pb::WhoAmIRequest {}).await {
        Ok(_) => tonic::Status::ok(""),
        Err(status) => status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_with_a_long_life_a_future_iat_or_another_issuer_are_refused() {
    let pki = TestPki::new().unwrap();
    let node = TestNode::start(&pki, NodeOptions::new(NODE, "county"))
        .await
        .unwrap();
    // What a local attacker who read the key would sign with: the node's own key.
    let key_file = node.config.auth.token_key_for(&node.config.store);
    let key = vfed_auth::load_or_create_token_key(&key_file).unwrap();
    let max = node.config.auth.max_token_ttl.as_secs() as i64;
    let t = now();
    let claims = |iss: &str, iat: i64, exp: i64| Claims {
        sub: vfed_tests::TEST_ADMIN.into(),
        iss: iss.into(),
        iat,
        exp,
    };
    let honest = key.issue(&claims(NODE, t, t + 600)).unwrap();
    let status = who_am_i(&node, &pki, &honest).await;
    assert_eq!(status.code(), Code::Ok, "{status:?}");

    let cases = [
        (
            claims(NODE, t, t + 10 * 365 * 86_400),
            "exceeds auth.max_token_ttl",
        ),
        (claims(NODE, t, t + max + 1), "exceeds auth.max_token_ttl"),
        (
            claims(NODE, t + 365 * 86_400, t + 365 * 86_400 + 600),
            "in the future",
        ),
        (
            claims(NODE, t + vfed_auth::MAX_CLOCK_SKEW_SECS + 30, t + 3600),
            "in the future",
        ),
        (
            claims("54050000002000000001", t, t + 600),
            "not by this node",
        ),
        (claims("", t, t + 600), "not by this node"),
    ];
    for (forged, why) in cases {
        let token = key.issue(&forged).unwrap();
        let status = who_am_i(&node, &pki, &token).await;
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{forged:?}: {status:?}"
        );
        assert!(
            status.message().contains(why),
            "{forged:?}: {}",
            status.message()
        );
    }
    // A small skew is tolerated (replicas' clocks differ a little).
    let skewed = key.issue(&claims(NODE, t + 5, t + 600)).unwrap();
    assert_eq!(who_am_i(&node, &pki, &skewed).await.code(), Code::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive_in_grpc_and_http() {
    let pki = TestPki::new().unwrap();
    let node = TestNode::start(&pki, NodeOptions::new(NODE, "county"))
        .await
        .unwrap();
    let token = node.admin_token(&pki).await.unwrap();
    // gRPC over a channel whose certificate has no account: only the token
    // can authenticate the call.
    let material = pki
        .material(&vfed_pki::Identity::tool("no-account").unwrap())
        .unwrap();
    let expect = vfed_pki::ServerExpectation::Exactly(vfed_pki::Identity::node(NODE).unwrap());
    let config = vfed_pki::client_config(&material, expect, vfed_pki::GRPC_ALPN).unwrap();
    let channel = vfed_pki::channel(&format!("https://{}", node.grpc_addr), config).unwrap();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let mut request = tonic::Request::new(pb::WhoAmIRequest {});
        let value: MetadataValue<_> = format!("{scheme} {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
        let who = AccountsClient::new(channel.clone())
            .who_am_i(request)
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e:?}"))
            .into_inner();
        assert_eq!(who.authenticated_by, "token", "{scheme}");
    }
    // HTTP: the live route with the header; no stream of that name exists, so
    // an authenticated request gets past the guard (not 401).
    let http_status = |header: Option<String>| {
        let addr = node.http_addr();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let header = header.map(|h| format!("{h}\r\n")).unwrap_or_default();
            let request = format!(
                "GET /live/54050200001320000001/main/index.m3u8 HTTP/1.1\r\nHost: node\r\n{header}Connection: close\r\n\r\n"
            );
            tcp.write_all(request.as_bytes()).await.unwrap();
            let mut response = String::new();
            tcp.read_to_string(&mut response).await.unwrap();
            response
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert_eq!(http_status(None).await, "401");
    for scheme in ["Bearer", "bearer"] {
        let status = http_status(Some(format!("authorization: {scheme} {token}"))).await;
        assert_ne!(status, "401", "{scheme}");
        assert_ne!(status, "403", "{scheme}");
    }
}

async fn login(node: &TestNode, pki: &TestPki, name: &str, password: &str) -> tonic::Status {
    let mut accounts = AccountsClient::new(node.channel(pki).unwrap());
    match accounts
        .login(pb::LoginRequest {
            name: name.into(),
            password: password.into(),
            ttl_seconds: 0,
        })
        .await
    {
        Ok(_) => tonic::Status::ok(""),
        Err(status) => status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_throttled_audited_and_an_admin_can_unlock() {
    let pki = TestPki::new().unwrap();
    let node = TestNode::start(&pki, NodeOptions::new(NODE, "county"))
        .await
        .unwrap();
    let password = "the-right-password-42";
    node.create_user(
        &pki,
        NewUser {
            name: "dawa",
            role: pb::Role::Officer,
            unit: "Naidong PSB",
            department: "",
            password,
        },
    )
    .await
    .unwrap();
    // The operator signs in before the guessing: failures are throttled per
    // client address too, and every login here comes from 127.0.0.1, so a
    // login from it right after the guesses would have to wait (R15.1).
    // Unlocking dawa later forgets that client's failures as well.
    let operator = node
        .user_channel(&pki, "op-1", pb::Role::Operator)
        .await
        .unwrap();

    let mut codes = Vec::new();
    for i in 0..100 {
        let status = login(&node, &pki, "dawa", &format!("guess-number-{i:03}")).await;
        if status.code() == Code::ResourceExhausted {
            let retry_after = status.metadata().get("retry-after").unwrap();
            assert!(retry_after.to_str().unwrap().parse::<u64>().unwrap() >= 1);
        }
        codes.push(status.code());
    }
    let free = throttle::FREE_FAILURES as usize;
    assert!(
        codes[..free].iter().all(|c| *c == Code::Unauthenticated),
        "{codes:?}"
    );
    // Then refused without a check (at once, with the time to wait), until
    // the account locks.
    let lock = throttle::LOCK_AFTER as usize;
    assert!(
        codes[free..lock - 1]
            .iter()
            .all(|c| *c == Code::ResourceExhausted),
        "{codes:?}"
    );
    assert!(
        codes[lock - 1..]
            .iter()
            .all(|c| *c == Code::PermissionDenied),
        "{codes:?}"
    );
    // The right password does not get in while locked.
    let status = login(&node, &pki, "dawa", password).await;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("locked") && status.message().contains("unlock dawa"),
        "{}",
        status.message()
    );

    // Every failure is in the audit log, refused, naming the account.
    let refused = eventually("101 login refusals audited", Duration::from_secs(10), || async {
        let n = node
            .audit_records()
            .await?
            .iter()
            .filter(|r| {
                r.action == "account.login"
                    && r.target == "dawa"
                    && r.actor == "tool/vfed-test"
                    && matches!(&r.outcome, Outcome::Refused { requirement, .. } if requirement == "R15.1")
            })
            .count();
        Ok((n >= 101).then_some(n))
    })
    .await
    .unwrap();
    assert_eq!(refused, 101);

    // Only an account manager can unlock; then the right password works,
    // from the client that guessed too.
    let status = AccountsClient::new(operator)
        .unlock_user(pb::UnlockUserRequest {
            name: "dawa".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let unlocked = AccountsClient::new(node.channel(&pki).unwrap())
        .unlock_user(pb::UnlockUserRequest {
            name: "dawa".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(unlocked.was_locked);
    assert_eq!(unlocked.failed_logins, throttle::LOCK_AFTER);
    let status = login(&node, &pki, "dawa", password).await;
    assert_eq!(status.code(), Code::Ok, "{status:?}");
    let records = node.audit_records().await.unwrap();
    assert!(
        records.iter().any(|r| r.action == "account.unlock"
            && r.target == "dawa"
            && r.outcome == Outcome::Allowed),
        "no account.unlock record"
    );
}
