//! Zero-downtime upgrade: `anteroom serve --upgrade` takes the listeners over from the running
//! instance (sent SIGQUIT), which finishes what it serves and ends its live streams; clients
//! reconnect to the new instance. Under a request loop and open streams: no request fails,
//! every stream ends cleanly and reopens on the new instance without losing its place.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::stream_client::{AnyStream, Said};
use support::{client, room_toml, Backend, Gateway, Origin, Visitor};

/// The old instance's stages: 5 s both accept (Pingora), then the grace period below.
const GRACE_SECONDS: u64 = 2;
const WAIT: Duration = Duration::from_secs(30);
/// Bounds of the request loop: it stops at the flag or after this many requests.
const MAX_REQUESTS: usize = 20_000;
const REQUEST_GAP: Duration = Duration::from_millis(5);

struct LoopResult {
    ok: usize,
    failures: Vec<String>,
}

/// One client's requests, one after another on its keep-alive connection: a proxied page
/// with a pass, and a waiting visitor's status (a store read).
async fn request_loop(
    gateway_url: String,
    mut admitted: Visitor,
    mut waiting: Visitor,
    stop: Arc<AtomicBool>,
) -> LoopResult {
    let mut result = LoopResult {
        ok: 0,
        failures: Vec::new(),
    };
    let page = format!("{gateway_url}/shop/item");
    let status = format!("{gateway_url}/_anteroom/status?room=live");
    // One client: its requests reuse a keep-alive connection, as browsers' do.
    let http = client();
    for round in 0..MAX_REQUESTS {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (visitor, url) = if round % 2 == 0 {
            (&mut admitted, &page)
        } else {
            (&mut waiting, &status)
        };
        let mut request = http.get(url.as_str()).header("accept", "application/json");
        let mut cookies = Vec::new();
        if let Some(vid) = &visitor.vid {
            cookies.push(format!("anteroom_vid={vid}"));
        }
        if let Some(pass) = &visitor.pass {
            cookies.push(format!("anteroom_pass={pass}"));
        }
        request = request.header("cookie", cookies.join("; "));
        match request.send().await {
            Ok(response) if response.status() == 200 => {
                result.ok += 1;
            }
            Ok(response) => result
                .failures
                .push(format!("{url}: HTTP {}", response.status())),
            Err(error) => result.failures.push(format!("{url}: {error}")),
        }
        tokio::time::sleep(REQUEST_GAP).await;
    }
    result
}

/// What ends the stream (statuses before it skipped; None: nothing within the wait).
async fn until_ended(stream: &mut AnyStream) -> Option<Said> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match stream.next(WAIT).await {
            Some(Said::Status(_)) => continue,
            other => return other,
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_under_load_fails_no_request_and_every_stream_keeps_its_place() {
    let backend = Backend::redis();
    let origin = Origin::start().await;
    let rooms = format!(
        "{}{}",
        room_toml("live", origin.addr, &["/live"], "mode = \"queue-all\"\nadmit_per_second = 1\nsession_seconds = 600\nabandon_after_seconds = 600"),
        room_toml("shop", origin.addr, &["/shop"], "mode = \"queue-all\"\nadmit_per_second = 50\nmax_active = 100\nsession_seconds = 600"),
    );
    let extra = format!("shutdown_grace_seconds = {GRACE_SECONDS}\n");
    let mut old = Gateway::start(&backend, &rooms, &extra).await;

    // The line of `live` stands still (paused): six visitors wait, each watched by a stream.
    old.use_up_initial_burst("live").await;
    old.admin_patch("live", serde_json::json!({ "paused": true }))
        .await;
    let mut streams = Vec::new();
    for index in 0..6 {
        let mut visitor = Visitor::new();
        let answer = visitor
            .get_json(&old.url("/_anteroom/status?room=live"))
            .await;
        assert_eq!(answer.json()["state"], "paused", "{}", answer.body);
        let cookie = format!("anteroom_vid={}", visitor.vid.clone().unwrap());
        let kind = if index % 2 == 0 { "sse" } else { "ws" };
        let mut stream = AnyStream::open(kind, old.public, "live", Some(&cookie)).await;
        let position = stream.status(WAIT).await["position"].as_u64().unwrap();
        streams.push((kind, cookie, stream, position));
    }

    let mut admitted = Visitor::new();
    admitted.wait_admitted(&old, "shop", WAIT).await;
    let mut waiting = Visitor::new();
    waiting
        .get_json(&old.url("/_anteroom/status?room=live"))
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let requests = tokio::spawn(request_loop(old.url(""), admitted, waiting, stop.clone()));

    // The upgrade, as an operator runs it: start the new instance, then SIGQUIT the old one.
    let mut new = old.upgrade();
    let socket = std::env::temp_dir().join(format!("anteroom-upgrade-{}.sock", old.public.port()));
    let deadline = Instant::now() + WAIT;
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "no upgrade socket:\n{}",
            new.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let quit_at = Instant::now();
    old.signal("QUIT");

    // Every stream ends cleanly on the old instance and reopens on the new one, in its place.
    for (kind, cookie, stream, position) in &mut streams {
        let ended = until_ended(stream).await;
        match (*kind, &ended) {
            ("sse", Some(Said::Ended(None))) | ("ws", Some(Said::Ended(Some(1001)))) => {}
            _ => panic!(
                "{kind} stream did not end cleanly: {ended:?}\n{}",
                old.log_text()
            ),
        }
        let mut reopened = AnyStream::open(kind, new.public, "live", Some(cookie)).await;
        let status = reopened.status(WAIT).await;
        assert_eq!(status["state"], "paused", "{status}");
        let now = status["position"].as_u64().unwrap();
        assert!(
            now <= *position,
            "{kind} stream lost its place: {position} -> {now}"
        );
        *stream = reopened;
    }
    let exit = old.wait_exit(WAIT).await;
    assert!(
        exit.success(),
        "old instance exited with {exit}:\n{}",
        old.log_text()
    );
    let took = quit_at.elapsed();
    assert!(
        took < Duration::from_secs(5 + GRACE_SECONDS + 5 + 3),
        "old instance took {took:?}"
    );

    // The new instance alone now: it serves, and the reopened streams are its own.
    new.wait_ready().await;
    for (kind, _, stream, _) in &mut streams {
        match stream.next(Duration::from_millis(300)).await {
            None | Some(Said::Status(_)) => {}
            other => panic!("{kind} stream on the new instance ended: {other:?}"),
        }
    }
    // A few more requests on the new instance, then the loop stops.
    let settle = Instant::now() + Duration::from_millis(500);
    while Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let result = requests.await.unwrap();
    assert!(result.ok > 100, "the loop ran: {} requests", result.ok);
    assert!(
        result.failures.is_empty(),
        "{} of {} requests failed: {:?}\nold:\n{}\nnew:\n{}",
        result.failures.len(),
        result.ok + result.failures.len(),
        result.failures,
        old.log_text(),
        new.log_text()
    );
}

#[tokio::test]
async fn upgrade_is_refused_on_the_memory_store() {
    let origin = Origin::start().await;
    let rooms = room_toml("live", origin.addr, &["/live"], "");
    let running = Gateway::start(&Backend::memory(), &rooms, "").await;
    let mut upgraded = running.upgrade();
    let exit = upgraded.wait_exit(WAIT).await;
    assert!(!exit.success());
    let log = upgraded.log_text();
    assert!(log.contains("--upgrade needs a shared store"), "{log}");
    // The running one is untouched.
    assert_eq!(
        client()
            .get(running.url("/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
