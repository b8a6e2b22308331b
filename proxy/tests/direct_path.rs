//! The direct path (`adapter/direct`): admitted `GET`/`HEAD` requests relayed without
//! Pingora's proxy loop. Every way an origin may frame its answer, origin connections kept,
//! refused and gone stale, pipelined requests, and hand-overs to Pingora and back on one
//! client connection — against a scripted origin that counts its connections.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anteroom_admission::VisitorId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::{mint_pass, room_toml, unix_now, Backend, Gateway, Origin};

/// An origin that answers each request as its path asks, and counts what it got.
struct Scripted {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the origin sends for a path, and whether it closes its connection afterwards.
fn script(method: &str, path: &str) -> (Vec<u8>, bool) {
    let answer = |text: &str, close| (text.as_bytes().to_vec(), close);
    if method == "HEAD" {
        return answer("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n", false);
    }
    match path {
        "/r/chunked" => answer(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 999\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
            false,
        ),
        "/r/until-close" => answer("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", true),
        "/r/not-modified" => answer("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n", false),
        "/r/early-hints" => answer(
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            false,
        ),
        "/r/bye" => answer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye", true),
        // Says nothing of closing, then closes: the next request on it finds it stale.
        "/r/vanish" => answer("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nvanish", true),
        "/r/garbage" => answer("SPDY/9 what\r\n\r\n", true),
        "/r/two-lengths" => answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", true),
        _ => answer("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nlength", false),
    }
}

impl Scripted {
    async fn start() -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (count, record) = (accepted.clone(), heads.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(Scripted::serve(stream, record.clone()));
            }
        });
        Scripted {
            addr,
            accepted,
            heads,
            task,
        }
    }

    async fn serve(mut stream: TcpStream, heads: Arc<Mutex<Vec<String>>>) {
        let mut buffer = Vec::new();
        loop {
            let end = loop {
                if let Some(at) = find(&buffer, b"\r\n\r\n") {
                    break at + 4;
                }
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            buffer.drain(..end);
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buffer.len() < length {
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            buffer.drain(..length);
            let mut words = head.split(' ');
            let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let (answer, close) = script(method, path);
            heads.lock().unwrap().push(head.clone());
            if stream.write_all(&answer).await.is_err() || close {
                return;
            }
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Room `shop` (`/r`) admits at once; room `line` (`/q`) queues everyone.
async fn gateway_for(origin: SocketAddr) -> Gateway {
    gateway_with(origin, "").await
}

async fn gateway_with(origin: SocketAddr, extra: &str) -> Gateway {
    let rooms = room_toml(
        "shop",
        origin,
        &["/r"],
        "mode = \"safety-net\"\nadmit_per_second = 1000.0\nmax_active = 1000",
    ) + &room_toml("line", origin, &["/q"], "mode = \"queue-all\"");
    Gateway::start(&Backend::memory(), &rooms, extra).await
}

fn pass() -> String {
    let now = unix_now();
    mint_pass("shop", VisitorId::random(), now, now + 600)
}

/// One client connection sending raw requests and reading whole responses.
struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Client {
    async fn connect(gateway: &Gateway) -> Client {
        Client {
            stream: TcpStream::connect(gateway.public).await.unwrap(),
            buffer: Vec::new(),
        }
    }

    async fn send(&mut self, request: &str) {
        self.stream.write_all(request.as_bytes()).await.unwrap();
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => panic!(
                "no answer within 10 s; so far: {:?}",
                String::from_utf8_lossy(&self.buffer)
            ),
        }
    }

    /// The next final response (interim ones are returned too: `status` says which), its
    /// body read by its framing; `head_request` for a response to `HEAD`.
    async fn response(&mut self, head_request: bool) -> Response {
        let end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at + 4;
            }
            assert!(self.fill().await, "closed before a response head");
        };
        let head = String::from_utf8_lossy(&self.buffer[..end]).to_string();
        self.buffer.drain(..end);
        let status: u16 = head[9..12].parse().unwrap();
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_string())
            })
        };
        let body = if head_request || status < 200 || status == 304 {
            Vec::new()
        } else if header("transfer-encoding").is_some() {
            let end = loop {
                if let Some(at) = find(&self.buffer, b"0\r\n") {
                    if let Some(blank) = find(&self.buffer[at..], b"\r\n\r\n") {
                        break at + blank + 4;
                    }
                }
                assert!(self.fill().await, "closed in a chunked body");
            };
            self.buffer.drain(..end).collect()
        } else if let Some(length) = header("content-length") {
            let length: usize = length.parse().unwrap();
            while self.buffer.len() < length {
                assert!(self.fill().await, "closed in a body");
            }
            self.buffer.drain(..length).collect()
        } else {
            while self.fill().await {}
            std::mem::take(&mut self.buffer)
        };
        Response { status, head, body }
    }

    /// The connection was closed by the gateway (after what was read).
    async fn closed(&mut self) -> bool {
        !self.fill().await && self.buffer.is_empty()
    }
}

fn get(path: &str, pass: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: shop.example\r\nX-Anteroom-Pass: {pass}\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_framing_is_relayed_on_kept_connections() {
    let origin = Scripted::start().await;
    let gateway = gateway_for(origin.addr).await;
    let pass = pass();
    let mut client = Client::connect(&gateway).await;

    for _ in 0..3 {
        client.send(&get("/r/length", &pass)).await;
        let answer = client.response(false).await;
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (200, &b"length"[..])
        );
        assert!(answer.head.contains("x-request-id: "), "{}", answer.head);
    }

    client.send(&get("/r/chunked", &pass)).await;
    let answer = client.response(false).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n".to_vec(),
        "relayed as it came, trailers included"
    );
    assert!(
        !answer.head.to_ascii_lowercase().contains("content-length"),
        "a Content-Length beside Transfer-Encoding is dropped: {}",
        answer.head
    );

    client.send(&get("/r/not-modified", &pass)).await;
    assert_eq!(client.response(false).await.status, 304);

    client
        .send(&format!(
            "HEAD /r/length HTTP/1.1\r\nHost: shop.example\r\nX-Anteroom-Pass: {pass}\r\n\r\n"
        ))
        .await;
    let answer = client.response(true).await;
    assert_eq!(answer.status, 200);
    assert!(answer.head.contains("Content-Length: 6"), "{}", answer.head);

    client.send(&get("/r/early-hints", &pass)).await;
    let hints = client.response(false).await;
    assert_eq!(hints.status, 103);
    assert!(hints.head.contains("Link: </a.css>"));
    let answer = client.response(false).await;
    assert_eq!((answer.status, answer.body.as_slice()), (200, &b"ok"[..]));

    client.send(&get("/r/length", &pass)).await;
    assert_eq!(client.response(false).await.body, b"length");
    assert_eq!(
        origin.accepted.load(Ordering::SeqCst),
        1,
        "one origin connection carried every request"
    );
    assert_eq!(origin.heads().len(), 8);

    // A body that runs to the origin's close ends the client's connection too.
    client.send(&get("/r/until-close", &pass)).await;
    let answer = client.response(false).await;
    assert_eq!(answer.body, b"until the end");
    assert!(answer.head.contains("connection: close"), "{}", answer.head);
    assert!(client.closed().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_connections_that_close_are_replaced_and_broken_origins_get_the_error_page() {
    let origin = Scripted::start().await;
    let gateway = gateway_for(origin.addr).await;
    let pass = pass();
    let mut client = Client::connect(&gateway).await;

    // The origin closes after each of these without saying so: the connection kept for the
    // next request is stale, and the request is sent again on a new one.
    for round in 0..5 {
        client.send(&get("/r/vanish", &pass)).await;
        let answer = client.response(false).await;
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (200, &b"vanish"[..]),
            "round {round}"
        );
    }
    // One that says so is not reused either; the client's connection stays open.
    client.send(&get("/r/bye", &pass)).await;
    assert_eq!(client.response(false).await.body, b"bye");
    client.send(&get("/r/length", &pass)).await;
    assert_eq!(client.response(false).await.body, b"length");
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 7);

    for broken in ["/r/garbage", "/r/two-lengths"] {
        let mut client = Client::connect(&gateway).await;
        client.send(&get(broken, &pass)).await;
        let answer = client.response(false).await;
        assert_eq!(answer.status, 502, "{broken}: {}", answer.head);
        assert!(answer.head.contains("x-request-id: "));
        assert!(client.closed().await, "{broken}");
    }

    let down = gateway_for(Origin::down_addr()).await;
    let mut client = Client::connect(&down).await;
    client
        .send(&format!("GET /r/x HTTP/1.1\r\nHost: shop.example\r\nAccept: application/json\r\nX-Anteroom-Pass: {}\r\n\r\n", pass))
        .await;
    let answer = client.response(false).await;
    assert_eq!(answer.status, 502);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["error"], "upstream_unavailable");
}

/// Requests sent back to back in one write are answered in order, each decided on its own:
/// a pass-less one behind an admitted one meets the queue (Pingora reads it from where the
/// direct path stopped); a body-carrying one goes to Pingora and the connection comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_and_mixed_requests_are_each_decided() {
    let origin = Scripted::start().await;
    let gateway = gateway_for(origin.addr).await;
    let pass = pass();
    let mut client = Client::connect(&gateway).await;
    let passless =
        "GET /q/length HTTP/1.1\r\nHost: shop.example\r\nAccept: application/json\r\n\r\n";
    client
        .send(&format!(
            "{}{}{passless}",
            get("/r/length", &pass),
            get("/r/chunked", &pass)
        ))
        .await;
    assert_eq!(client.response(false).await.body, b"length");
    assert_eq!(client.response(false).await.status, 200);
    let queued = client.response(false).await;
    assert_eq!(queued.status, 429, "{}", queued.head);
    let before = origin.heads().len();
    assert_eq!(before, 2, "only the admitted two reached the origin");

    // Pingora reads one request at a time (no pipelining behind a body): the GET follows the
    // POST's answer, on the same connection.
    client
        .send(&format!(
            "POST /r/length HTTP/1.1\r\nHost: shop.example\r\nX-Anteroom-Pass: {pass}\r\nContent-Length: 5\r\n\r\nhello"
        ))
        .await;
    assert_eq!(client.response(false).await.body, b"length");
    client.send(&get("/r/length", &pass)).await;
    assert_eq!(client.response(false).await.body, b"length");
    let heads = origin.heads();
    assert!(heads[before].starts_with("POST /r/length"), "{heads:?}");
    assert!(heads[before + 1].starts_with("GET /r/length"), "{heads:?}");
    assert_eq!(heads.len(), before + 2);
}

/// `[listen] direct_path = false` sends every request through Pingora (whose HTTP/1 answers
/// always say `Connection: keep-alive`; the direct path's never do), and the answers are the
/// same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_path_can_be_turned_off() {
    let origin = Scripted::start().await;
    let pass = pass();
    for (extra, through_pingora) in [("", false), ("direct_path = false\n", true)] {
        let gateway = gateway_with(origin.addr, extra).await;
        let mut client = Client::connect(&gateway).await;
        for path in ["/r/length", "/r/chunked", "/r/length"] {
            client.send(&get(path, &pass)).await;
            let answer = client.response(false).await;
            assert_eq!(answer.status, 200, "{extra}: {}", answer.head);
            let said_keep_alive = answer
                .head
                .to_ascii_lowercase()
                .contains("connection: keep-alive");
            assert_eq!(said_keep_alive, through_pingora, "{extra}: {}", answer.head);
        }
    }
}

/// Origin connections go back to the pool after each response: clients that stay connected
/// between requests hold none, so twenty fans taking turns share one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_hold_no_origin_connection() {
    let origin = Scripted::start().await;
    let gateway = gateway_for(origin.addr).await;
    let pass = pass();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut client = Client::connect(&gateway).await;
        client.send(&get("/r/length", &pass)).await;
        assert_eq!(client.response(false).await.body, b"length");
        clients.push(client);
    }
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 1);
    for client in &mut clients {
        client.send(&get("/r/chunked", &pass)).await;
        assert_eq!(client.response(false).await.status, 200);
    }
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 1);
}
