//! TLS on the public listener, against real `anteroom serve` processes holding a certificate
//! from a throwaway CA (clients trust that CA and nothing else): the waiting page and an
//! admission over HTTP/2, `Secure` on every cookie, the live streams over TLS (SSE on HTTP/2
//! and HTTP/1.1, WebSocket on HTTP/1.1); on plain HTTP, `Secure` only when a trusted proxy
//! says the client used HTTPS; and the certificate's reload (the store, and a running
//! gateway's `POST /v1/reload`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom::runtime::tls::{self, CertStore};
use anteroom_config::TlsFiles;
use anteroom_testkit::{unique_temp_dir, TestCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::stream_client::{Said, SseClient, WsClient};
use support::{room_toml, Backend, Gateway, Origin};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ROOM: &str = "live";
/// Long enough for a first status: it is sent the moment the stream opens.
const AT_ONCE: Duration = Duration::from_secs(5);

fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `[listen]` lines (the harness puts `extra` right under its `[listen]` table).
fn tls_listen(certs: &TestCertificates) -> String {
    format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        certs.cert.display(),
        certs.key.display()
    )
}

async fn tls_gateway(origin: &Origin, certs: &TestCertificates) -> Gateway {
    let rooms = room_toml(
        ROOM,
        origin.addr,
        &["/live"],
        "mode = \"queue-all\"\nadmit_per_second = 1",
    );
    Gateway::start(&Backend::memory(), &rooms, &tls_listen(certs)).await
}

fn https(gateway: &Gateway, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", gateway.public.port())
}

/// A client that trusts only the test CA; HTTP/2 offered unless `h1_only`.
fn https_client(certs: &TestCertificates, h1_only: bool) -> reqwest::Client {
    install_ring();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certs.ca).unwrap()).unwrap();
    let builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10));
    let builder = if h1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().unwrap()
}

/// A TLS connection to `addr` trusting only `ca`, offering `alpn`.
async fn tls_connect(
    addr: SocketAddr,
    ca: &Path,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    install_ring();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|proto| proto.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
}

/// A fan on HTTPS: the cookies it was given, every `Set-Cookie` line it saw.
struct Fan {
    client: reqwest::Client,
    jar: Vec<(String, String)>,
    set_cookies: Vec<String>,
}

struct Seen {
    status: u16,
    version: reqwest::Version,
    body: String,
}

impl Fan {
    fn new(client: reqwest::Client) -> Fan {
        Fan {
            client,
            jar: Vec::new(),
            set_cookies: Vec::new(),
        }
    }

    async fn get(&mut self, url: &str, json: bool) -> Seen {
        let mut request = self.client.get(url);
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
            request = request.header("cookie", cookies.join("; "));
        }
        if json {
            request = request.header("accept", "application/json");
        }
        let response = request.send().await.expect("HTTPS request");
        for line in response.headers().get_all("set-cookie") {
            let line = line.to_str().unwrap().to_string();
            let (name, value) = line.split(';').next().unwrap().split_once('=').unwrap();
            self.jar.retain(|(known, _)| known != name);
            self.jar.push((name.to_string(), value.to_string()));
            self.set_cookies.push(line);
        }
        Seen {
            status: response.status().as_u16(),
            version: response.version(),
            body: response.text().await.unwrap(),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.jar.iter().any(|(known, _)| known == name)
    }
}

fn is_secure(set_cookie: &str) -> bool {
    set_cookie
        .split(';')
        .any(|attribute| attribute.trim().eq_ignore_ascii_case("secure"))
}

#[tokio::test]
async fn https_serves_the_waiting_page_and_admits_over_http2_with_secure_cookies() {
    let origin = Origin::start().await;
    let certs = TestCertificates::generate();
    let gateway = tls_gateway(&origin, &certs).await;

    let mut fan = Fan::new(https_client(&certs, false));
    let page = fan.get(&https(&gateway, "/live"), false).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.version, reqwest::Version::HTTP_2, "ALPN chose h2");
    assert!(page.body.contains("<html"), "waiting page: {}", page.body);
    assert!(fan.has("anteroom_vid"));

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = fan
            .get(
                &https(&gateway, &format!("/_anteroom/status?room={ROOM}")),
                true,
            )
            .await;
        let status: serde_json::Value = serde_json::from_str(&status.body).unwrap();
        if status["state"] == "admitted" {
            break;
        }
        assert!(Instant::now() < deadline, "not admitted in time: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(fan.has("anteroom_pass"));
    let admitted = fan.get(&https(&gateway, "/live"), false).await;
    assert_eq!(admitted.status, 200, "{}", admitted.body);
    assert_eq!(admitted.version, reqwest::Version::HTTP_2);
    let served = origin
        .seen()
        .into_iter()
        .find(|seen| seen.path == "/live")
        .expect("the origin served the admitted fan");
    assert_eq!(served.header("x-forwarded-proto"), Some("https"));

    // HTTP/1.1 over TLS too.
    let mut h1_fan = Fan::new(https_client(&certs, true));
    let page = h1_fan.get(&https(&gateway, "/live"), false).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.version, reqwest::Version::HTTP_11);

    // An admitted HTTP/1.1 request over TLS takes the direct path (ADR 0009): the same
    // origin headers and answer.
    let pass = fan
        .set_cookies
        .iter()
        .find_map(|cookie| cookie.strip_prefix("anteroom_pass="))
        .and_then(|rest| rest.split(';').next())
        .expect("the fan's pass")
        .to_string();
    let direct = https_client(&certs, true)
        .get(https(&gateway, "/live/direct"))
        .header("x-anteroom-pass", &pass)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    assert_eq!(direct.version(), reqwest::Version::HTTP_11);
    assert!(direct.headers().contains_key("x-request-id"));
    assert_eq!(direct.text().await.unwrap(), "origin:/live/direct");
    let served = origin
        .seen()
        .into_iter()
        .find(|seen| seen.path == "/live/direct")
        .expect("the origin served the direct request");
    assert_eq!(served.header("x-forwarded-proto"), Some("https"));
    assert_eq!(served.pass.as_deref(), Some(pass.as_str()));

    let every_cookie: Vec<&String> = fan.set_cookies.iter().chain(&h1_fan.set_cookies).collect();
    assert!(every_cookie.len() >= 3, "{every_cookie:?}");
    for cookie in every_cookie {
        assert!(is_secure(cookie), "not Secure under TLS: {cookie}");
    }
}

#[tokio::test]
async fn live_streams_deliver_the_first_status_over_tls() {
    let origin = Origin::start().await;
    let certs = TestCertificates::generate();
    let gateway = tls_gateway(&origin, &certs).await;
    // Nobody is admitted while the streams are watched: every first status is `paused`, with a place.
    let room = gateway
        .admin_patch(ROOM, serde_json::json!({ "paused": true }))
        .await;
    assert_eq!(room["paused"], true, "{room}");

    // SSE over HTTP/2, as a browser's EventSource on an h2 connection.
    let client = https_client(&certs, false);
    let mut response = client
        .get(https(&gateway, &format!("/_anteroom/events?room={ROOM}")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    for cookie in response.headers().get_all("set-cookie") {
        assert!(is_secure(cookie.to_str().unwrap()), "{cookie:?}");
    }
    let mut body = String::new();
    while !body.contains("\n\n") {
        let chunk = tokio::time::timeout(AT_ONCE, response.chunk())
            .await
            .expect("first event in time")
            .unwrap()
            .expect("stream still open");
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(body.contains("event: status\n"), "{body}");
    let data = body
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(first["state"], "paused", "{first}");

    // SSE over HTTP/1.1 + TLS.
    let tls = tls_connect(gateway.public, &certs.ca, &[b"http/1.1"])
        .await
        .unwrap();
    let mut sse = SseClient::open_on(Box::new(tls), ROOM, None).await;
    assert_eq!(sse.status, 200, "{}", sse.head);
    assert!(
        sse.head.to_ascii_lowercase().contains("; secure"),
        "{}",
        sse.head
    );
    match sse.next(AT_ONCE).await {
        Some(Said::Status(status)) => assert_eq!(status["state"], "paused", "{status}"),
        other => panic!("no first status over h1+TLS: {other:?}"),
    }

    // WebSocket over HTTP/1.1 + TLS.
    let tls = tls_connect(gateway.public, &certs.ca, &[b"http/1.1"])
        .await
        .unwrap();
    let request = format!(
        "wss://127.0.0.1:{}/_anteroom/ws?room={ROOM}",
        gateway.public.port()
    )
    .into_client_request()
    .unwrap();
    let mut ws = WsClient::open_on(Box::new(tls), request)
        .await
        .unwrap_or_else(|status| panic!("WS over TLS refused with {status}"));
    match ws.next(AT_ONCE).await {
        Some(Said::Status(status)) => assert_eq!(status["state"], "paused", "{status}"),
        other => panic!("no first status over WS+TLS: {other:?}"),
    }

    // The same accounting as on plain HTTP.
    assert_eq!(
        gateway
            .metric("anteroom_streams_open", &["kind=\"sse\""])
            .await,
        2.0
    );
    assert_eq!(
        gateway
            .metric("anteroom_streams_open", &["kind=\"ws\""])
            .await,
        1.0
    );
    ws.close().await;
}

/// The `anteroom_vid` cookie a plain-HTTP request gets, with this `X-Forwarded-Proto`.
async fn vid_cookie(gateway: &Gateway, forwarded_proto: Option<&str>) -> String {
    let mut request = support::client()
        .get(gateway.url(&format!("/_anteroom/status?room={ROOM}")))
        .header("accept", "application/json");
    if let Some(proto) = forwarded_proto {
        request = request.header("x-forwarded-proto", proto);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .find(|cookie| cookie.starts_with("anteroom_vid="))
        .expect("a visitor id cookie")
}

#[tokio::test]
async fn on_plain_http_cookies_are_secure_only_when_a_trusted_proxy_says_https() {
    let origin = Origin::start().await;
    let rooms = room_toml(ROOM, origin.addr, &["/live"], "mode = \"queue-all\"")
        + &room_toml(
            "open",
            origin.addr,
            &["/elsewhere"],
            "mode = \"passthrough\"",
        );
    // The tests' clients come from 127.0.0.1: untrusted here, a trusted proxy there.
    let untrusting = Gateway::start(
        &Backend::memory(),
        &rooms,
        "trusted_proxies = [\"10.0.0.0/8\"]\n",
    )
    .await;
    let behind_proxy = Gateway::start(
        &Backend::memory(),
        &rooms,
        "trusted_proxies = [\"127.0.0.1\"]\n",
    )
    .await;

    assert!(!is_secure(&vid_cookie(&untrusting, None).await));
    let spoofed = vid_cookie(&untrusting, Some("https")).await;
    assert!(
        !is_secure(&spoofed),
        "spoofed X-Forwarded-Proto believed: {spoofed}"
    );

    let forwarded = vid_cookie(&behind_proxy, Some("https")).await;
    assert!(
        is_secure(&forwarded),
        "trusted proxy's https ignored: {forwarded}"
    );
    assert!(!is_secure(&vid_cookie(&behind_proxy, Some("http")).await));
    assert!(!is_secure(&vid_cookie(&behind_proxy, None).await));

    // The origin hears the scheme the gateway decided on, not the client's claim.
    for gateway in [&untrusting, &behind_proxy] {
        let response = support::client()
            .get(gateway.url("/elsewhere"))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let protos: Vec<Option<String>> = origin
        .seen()
        .iter()
        .filter(|seen| seen.path == "/elsewhere")
        .map(|seen| seen.header("x-forwarded-proto").map(str::to_string))
        .collect();
    assert_eq!(protos, [Some("http".into()), Some("https".into())]);
}

/// Whether a client trusting `ca` completes a handshake with `server`.
async fn trusted_by(server: SocketAddr, ca: &Path) -> bool {
    tls_connect(server, ca, &[b"http/1.1"]).await.is_ok()
}

fn copy_pair(from: &TestCertificates, to: &TlsFiles) {
    std::fs::copy(&from.cert, &to.cert).unwrap();
    std::fs::copy(&from.key, &to.key).unwrap();
}

#[tokio::test]
async fn a_reload_presents_the_new_certificate_and_keeps_the_old_one_on_error() {
    install_ring();
    let (first, second) = (TestCertificates::generate(), TestCertificates::generate());
    let dir = unique_temp_dir("anteroom-tls-reload");
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    copy_pair(&first, &files);
    let store = CertStore::load(&files).unwrap();
    let acceptor = Arc::new(tls::acceptor(store.clone()).unwrap());

    // The listener's handshakes, in process: each one asks the store.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let accepting = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let l4: pingora::protocols::l4::stream::Stream = tcp.into();
                let _ = acceptor.tls_handshake(l4).await;
            });
        }
    });

    assert!(trusted_by(server, &first.ca).await);
    assert!(!trusted_by(server, &second.ca).await);

    copy_pair(&second, &files);
    store.reload().unwrap();
    assert!(trusted_by(server, &second.ca).await, "new pair presented");
    assert!(!trusted_by(server, &first.ca).await);

    // A broken key, then a key that is not the certificate's: refused, the pair in use stays.
    std::fs::write(&files.key, "-----BEGIN PRIVATE KEY-----\nnope\n").unwrap();
    assert!(store.reload().is_err());
    std::fs::copy(&first.key, &files.key).unwrap();
    let mismatch = store.reload().unwrap_err();
    assert!(
        mismatch.to_string().contains("does not belong"),
        "{mismatch}"
    );
    std::fs::remove_file(&files.cert).unwrap();
    assert!(store.reload().is_err());
    assert!(trusted_by(server, &second.ca).await, "old pair kept");
    accepting.abort();
}

/// `POST /v1/reload` on a running gateway: the renewed pair is presented to the next
/// handshake; a broken one refuses the reload (with its reason) and the pair in use stays.
#[tokio::test]
async fn a_gateway_reload_presents_the_renewed_certificate() {
    install_ring();
    let (first, second) = (TestCertificates::generate(), TestCertificates::generate());
    let dir = unique_temp_dir("anteroom-tls-gateway-reload");
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    copy_pair(&first, &files);
    let origin = Origin::start().await;
    let listen = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        files.cert.display(),
        files.key.display()
    );
    let rooms = room_toml(ROOM, origin.addr, &["/live"], "mode = \"queue-all\"");
    let gateway = Gateway::start(&Backend::memory(), &rooms, &listen).await;
    assert!(trusted_by(gateway.public, &first.ca).await);

    copy_pair(&second, &files);
    let (status, body) = gateway.post_reload().await;
    assert_eq!(status, 200, "{body}");
    assert!(trusted_by(gateway.public, &second.ca).await, "renewed pair");
    assert!(!trusted_by(gateway.public, &first.ca).await);

    std::fs::copy(&first.key, &files.key).unwrap();
    let (status, body) = gateway.post_reload().await;
    assert_ne!(
        status, 200,
        "a key of another certificate is refused: {body}"
    );
    assert!(
        body.to_string().contains("tls"),
        "the reason names the pair: {body}"
    );
    assert!(
        trusted_by(gateway.public, &second.ca).await,
        "pair in use kept"
    );
}

/// How long until the gateway hangs up on `connection` while `dribble` keeps sending a
/// header line every 250 ms (nothing when `dribble` is empty); `give_up` bounds the wait.
async fn closed_after<C>(mut connection: C, dribble: &[u8], give_up: Duration) -> Duration
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    while started.elapsed() < give_up {
        match tokio::time::timeout(Duration::from_millis(250), connection.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) if !dribble.is_empty() => {
                if connection.write_all(dribble).await.is_err() {
                    return started.elapsed();
                }
                let _ = connection.flush().await;
            }
            Err(_) => {}
        }
    }
    started.elapsed()
}

/// The slowloris bound holds on TLS: a head dribbled over a TLS connection, and a handshake
/// never started, are both cut off after the head limit (10 s), as on plain HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_stalled_handshakes_are_cut_off_over_tls() {
    use tokio::io::AsyncWriteExt;
    const HEAD_LIMIT: Duration = Duration::from_secs(10);
    let origin = Origin::start().await;
    let certs = TestCertificates::generate();
    let gateway = tls_gateway(&origin, &certs).await;

    let mut tls = tls_connect(gateway.public, &certs.ca, &[b"http/1.1"])
        .await
        .unwrap();
    tls.write_all(b"GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let silent = TcpStream::connect(gateway.public).await.unwrap();
    let give_up = Duration::from_secs(30);
    let (dribbled, stalled) = tokio::join!(
        closed_after(tls, b"X-Slow: y\r\n", give_up),
        closed_after(silent, b"", give_up),
    );
    for (what, after) in [("dribbled head", dribbled), ("stalled handshake", stalled)] {
        assert!(
            after >= HEAD_LIMIT - Duration::from_secs(1)
                && after <= HEAD_LIMIT + Duration::from_secs(5),
            "{what} cut off after {after:?}"
        );
    }
}
