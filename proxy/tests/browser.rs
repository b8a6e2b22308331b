//! The waiting page in a real browser (headless Debian chromium driven by playwright-core
//! from `browser/waiting_page.mjs`): a visitor opens a protected URL with a query string, sees
//! a position that moves without a reload, is admitted and lands on the page asked for by
//! itself; then once more with JavaScript off, where the meta refresh gets them there. A page
//! open when the room sells out shows its waitlist link live (`browser/waitlist_link.mjs`).
//! Screenshots at 320 and 1280 px go to `<target>/artifacts/browser/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

use support::{keyring, room_toml, unix_now, Backend, Gateway, Origin, Visitor};

/// The transport the live page must end up on: Server-Sent Events, the first it tries
/// (`ANTEROOM_BROWSER_TRANSPORT=ws|poll` asks for another for one run).
const REQUIRED_TRANSPORT: Option<&str> = Some("sse");

const TARGET_JS: &str = "/tour/seats?section=A%20B&qty=2&sort=price";
const TARGET_NOJS: &str = "/tour/seats?js=off&qty=1";
const ROOM: &str = "tour";
/// Shown as text, never as markup.
const MESSAGE: &str = "Doors open at 10:00 <b>sharp</b> & not before";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Chromium, Node.js and playwright-core, or a failure saying how to get them: this test
/// never passes by not running.
fn browser_tools() -> PathBuf {
    let modules = repo_root().join("scripts/node_modules");
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    let missing: Vec<&str> = [
        (!Path::new("/usr/bin/chromium").exists()).then_some("/usr/bin/chromium"),
        (!node).then_some("node"),
        (!modules.join("playwright-core/package.json").exists())
            .then_some("playwright-core in scripts/node_modules"),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(
        missing.is_empty(),
        "the browser test needs {}: run scripts/install-test-deps.sh",
        missing.join(", ")
    );
    modules
}

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("artifacts/browser");
    std::fs::create_dir_all(&dir).expect("create artifacts dir");
    dir
}

/// The next line the script prints that starts with `word`, within `limit`.
async fn expect_line(
    lines: &mut Lines<BufReader<ChildStdout>>,
    word: &str,
    limit: Duration,
) -> String {
    let wait = async {
        while let Some(line) = lines.next_line().await.expect("read browser script") {
            println!("browser: {line}");
            if let Some(rest) = line.strip_prefix(word) {
                return rest.trim().to_string();
            }
        }
        panic!("the browser script ended before {word} (its errors are above)");
    };
    tokio::time::timeout(limit, wait)
        .await
        .unwrap_or_else(|_| panic!("no {word} from the browser script within {limit:?}"))
}

/// `<run> <payload>` → payload, checking the run's name.
fn payload(line: &str, run: &str) -> String {
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    assert_eq!(name, run, "{line}");
    rest.to_string()
}

/// What the script found in one run (`RESULT <run> <json>`).
async fn run_result(lines: &mut Lines<BufReader<ChildStdout>>, run: &str) -> Value {
    let line = expect_line(lines, "RESULT", Duration::from_secs(25)).await;
    serde_json::from_str(&payload(&line, run)).unwrap()
}

/// Once the page shows `position`, raise the cap so the line moves; the run's result.
async fn move_the_line(
    lines: &mut Lines<BufReader<ChildStdout>>,
    gateway: &Gateway,
    run: &str,
    position: &str,
) -> Value {
    let shown = expect_line(lines, "WAITING", Duration::from_secs(20)).await;
    assert_eq!(payload(&shown, run), position);
    gateway
        .admin_patch(ROOM, json!({ "max_active": 100 }))
        .await;
    run_result(lines, run).await
}

/// Fill the room's cap with admitted visitors and queue `ahead` more behind it: the line stands
/// still (while the rate keeps estimates short) until the cap is raised.
async fn line_up(gateway: &Gateway, active: u64, ahead: usize) {
    gateway
        .admin_patch(ROOM, json!({ "max_active": active }))
        .await;
    for _ in 0..ahead {
        let answer = Visitor::new().get_json(&gateway.url("/tour/seats")).await;
        assert_eq!(answer.status, 429, "{}", answer.body);
    }
}

/// A gateway on the memory store (with `extra` top-level TOML) with the one room `tour` on
/// `/tour` (with `settings`), in front of a fresh origin.
async fn tour_gateway(settings: &str, extra: &str) -> (Origin, Gateway) {
    let origin = Origin::start().await;
    let rooms = room_toml(ROOM, origin.addr, &["/tour"], settings);
    let gateway = Gateway::start(&Backend::memory(), &rooms, extra).await;
    (origin, gateway)
}

/// The pass the origin received with `target`, checked valid for the room.
fn pass_seen_with(origin: &Origin, target: &str) -> String {
    let seen = origin.seen();
    let request = seen
        .iter()
        .find(|seen| seen.path == target)
        .unwrap_or_else(|| panic!("origin never saw {target}: {seen:?}"));
    let pass = request.pass.clone().expect("pass forwarded");
    keyring()
        .verify_pass(&pass, ROOM, unix_now())
        .unwrap_or_else(|e| panic!("invalid pass for {target}: {e:?}"));
    pass
}

fn check_run(result: &Value, target: &str, expected_first: &str, gateway: &Gateway) {
    let run = result["target"].as_str().unwrap();
    assert_eq!(run, target);
    assert_eq!(result["firstPosition"], expected_first, "{result}");
    let origin = &result["origin"];
    assert_eq!(origin["status"], 200, "{result}");
    assert_eq!(
        origin["body"],
        format!("origin:{target}"),
        "landed on the page asked for, query string included: {result}"
    );
    assert_eq!(result["finalUrl"], gateway.url(target), "{result}");
    for shot in [1280, 320] {
        let width = result[format!("scrollWidth{shot}")].as_u64().unwrap();
        assert!(
            width <= shot,
            "no sideways scrolling at {shot} px: {width} px wide"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_page_moves_live_and_lets_the_visitor_in_by_itself() {
    let modules = browser_tools();
    let artifacts = artifacts_dir();
    let (origin, gateway) = tour_gateway(
        "mode = \"queue-all\"\nadmit_per_second = 1.0\nmax_active = 2",
        "",
    )
    .await;
    for _ in 0..2 {
        Visitor::new()
            .wait_admitted(&gateway, ROOM, Duration::from_secs(10))
            .await;
    }
    line_up(&gateway, 2, 3).await;
    gateway
        .admin_patch(ROOM, json!({ "message": MESSAGE }))
        .await;

    let mut script = Command::new("node")
        .arg(repo_root().join("proxy/tests/browser/waiting_page.mjs"))
        .env("ANTEROOM_NODE_MODULES", &modules)
        .env("GATEWAY_URL", gateway.url(""))
        .env("ARTIFACTS", &artifacts)
        .env("TARGET_JS", TARGET_JS)
        .env("TARGET_NOJS", TARGET_NOJS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
    let mut stdin = script.stdin.take().unwrap();

    // JavaScript on: 3 ahead, the line moves once the cap is raised.
    let js = move_the_line(&mut lines, &gateway, "js", "4").await;
    check_run(&js, TARGET_JS, "4", &gateway);
    assert_eq!(js["ahead"], "3 people are ahead of you.");
    assert_eq!(js["progress"], "0");
    assert_eq!(js["message"], MESSAGE, "the room's message, as text");
    assert_eq!(
        js["waitingPages"].as_array().unwrap().len(),
        1,
        "the position moved without the page being loaded again: {js}"
    );
    let positions: Vec<u64> = js["positions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.parse().ok())
        .collect();
    assert!(
        positions.iter().any(|p| *p < 4),
        "the page showed a lower position live: {positions:?}"
    );
    assert!(
        positions.windows(2).all(|w| w[1] <= w[0]),
        "positions never go up: {positions:?}"
    );
    let transports = js["transports"].as_array().unwrap();
    let transport = transports.last().and_then(Value::as_str).unwrap_or("");
    println!("browser: live transport {transport} (all seen: {transports:?})");
    assert!(["sse", "ws", "poll"].contains(&transport), "{js}");
    let required = std::env::var("ANTEROOM_BROWSER_TRANSPORT")
        .ok()
        .or(REQUIRED_TRANSPORT.map(str::to_string));
    if let Some(required) = required {
        assert_eq!(transport, required, "{js}");
    }

    // JavaScript off: 2 ahead; only the meta refresh brings the visitor in.
    line_up(&gateway, 6, 2).await;
    stdin.write_all(b"go\n").await.unwrap();
    let nojs = move_the_line(&mut lines, &gateway, "nojs", "3").await;
    check_run(&nojs, TARGET_NOJS, "3", &gateway);
    assert!(
        nojs["waitingPages"].as_array().unwrap().len() >= 2,
        "the meta refresh loaded the page again: {nojs}"
    );
    let fakes = run_result(&mut lines, "transports").await;
    for (kind, position) in [("sse", "77"), ("ws", "66")] {
        let run = &fakes[kind];
        assert_eq!(run["transport"], kind, "{fakes}");
        assert_eq!(run["position"], position, "{fakes}");
        assert_eq!(
            run["eta"], "about 2–4 minutes",
            "the script words it as the server does"
        );
        assert_eq!(
            run["leaked"], false,
            "pass or visitor id written into the page"
        );
    }
    let status = script.wait().await.unwrap();
    assert!(status.success(), "browser script failed: {status}");

    // The origin saw exactly the asked-for targets, each with a valid pass for the room, and
    // no pass ever travelled in a URL.
    for (target, run) in [(TARGET_JS, &js), (TARGET_NOJS, &nojs)] {
        let pass = pass_seen_with(&origin, target);
        let pass = pass.as_str();
        let urls = run["requests"].as_array().unwrap();
        assert!(
            urls.iter().all(|url| {
                let url = url.as_str().unwrap();
                !url.contains(pass) && !url.contains("v1.k1.")
            }),
            "a pass in a URL: {urls:?}"
        );
    }
    println!(
        "browser: screenshots in {} (waiting-js-320.png, waiting-js-1280.png, waiting-nojs-*.png, landed-*.png)",
        artifacts.display()
    );
}

/// Run `browser/challenge_page.mjs` in `mode` on `target` (and `extra` environment); its
/// `RESULT` line.
async fn challenge_run(
    gateway: &Gateway,
    mode: &str,
    target: &str,
    extra: &[(&str, &str)],
) -> Value {
    let modules = browser_tools();
    let mut script = Command::new("node")
        .arg(repo_root().join("proxy/tests/browser/challenge_page.mjs"))
        .env("ANTEROOM_NODE_MODULES", &modules)
        .env("GATEWAY_URL", gateway.url(""))
        .env("MODE", mode)
        .env("TARGET", target)
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
    let line = expect_line(&mut lines, "RESULT", Duration::from_secs(60)).await;
    let status = script.wait().await.unwrap();
    assert!(status.success(), "browser script failed: {status}");
    serde_json::from_str(&line).unwrap()
}

/// The challenge calls the page made, by method.
fn challenge_calls<'a>(result: &'a Value, method: &str) -> Vec<&'a Value> {
    result["challengeCalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|call| call["method"] == method)
        .collect()
}

/// The page's side of the proof of work, against challenge endpoints the browser serves
/// itself: a challenge issued by `challenge::issue` is fetched, solved in a Worker with
/// visible progress, and posted with nonces that `challenge::verify` accepts and a client
/// fingerprint that `ClientFingerprint::parse` reads; the page then shows the answered place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_page_solves_a_challenge_and_posts_its_fingerprint() {
    use anteroom_admission::VisitorId;
    use anteroom_bot_guard::challenge::{self, ChallengeKey, ChallengeSpec};
    use anteroom_bot_guard::ClientFingerprint;

    let (_origin, gateway) = tour_gateway(
        "admit_per_second = 1.0\nmax_active = 1\nbot_guard = { enabled = false }",
        "",
    )
    .await;
    Visitor::new()
        .wait_admitted(&gateway, ROOM, Duration::from_secs(10))
        .await;
    let key = ChallengeKey::derive(b"browser test challenge key 0123456789");
    let visitor = VisitorId([7; 16]);
    let now = unix_now();
    let issued = challenge::issue(&ChallengeSpec::new(ROOM, visitor, 2, now, 120), &key);

    let runs = challenge_run(&gateway, "fake", TARGET_JS, &[("CHALLENGE", &issued)]).await;
    let mut solution = Value::Null;
    // With a Worker, then with `new Worker` refused: the page solves in slices itself.
    for run in ["worker", "inPage"] {
        let result = &runs[run];
        assert_eq!(result["workersStarted"], 1, "{run}: {result}");
        let positions = result["positions"].as_array().unwrap();
        assert!(
            positions.iter().any(|p| p == "11"),
            "the place the POST answered: {result}"
        );
        assert_eq!(result["position"], "12", "the live stream again: {result}");
        assert_eq!(result["challengeAttribute"], Value::Null, "{result}");
        assert_eq!(
            result["checkRole"], "status",
            "progress is announced politely"
        );
        let checks: Vec<&str> = result["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            checks.contains(&"Checking your browser… 0%")
                && checks.contains(&"Checking your browser… 100%"),
            "progress shown from 0 to 100 %: {checks:?}"
        );
        assert_eq!(challenge_calls(result, "GET").len(), 1, "{result}");
        let posts = challenge_calls(result, "POST");
        solution = posts
            .iter()
            .map(|call| serde_json::from_str::<Value>(call["body"].as_str().unwrap()).unwrap())
            .find(|body| body.get("challenge").is_some())
            .unwrap_or_else(|| panic!("no solution posted: {result}"));
        assert_eq!(solution["challenge"], issued.as_str());
        let nonces = challenge::parse_nonces(solution["nonces"].as_str().unwrap()).unwrap();
        let verified = challenge::verify(&issued, &nonces, ROOM, visitor, now, &key)
            .unwrap_or_else(|e| panic!("the page's solution does not verify: {e} ({solution})"));
        assert_eq!(verified.difficulty, 2);
    }

    let fingerprint = ClientFingerprint::parse(solution["fingerprint"].to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{e}: {solution}"));
    println!("browser: client fingerprint {fingerprint:?}");
    assert_eq!(
        fingerprint.webdriver,
        Some(true),
        "Chromium driven over CDP says so"
    );
    assert!(fingerprint.timezone.is_some_and(|tz| !tz.is_empty()));
    assert!(fingerprint.languages.is_some_and(|l| !l.is_empty()));
    assert!(fingerprint.screen_width.is_some_and(|w| w > 0));
    assert!(fingerprint.screen_height.is_some_and(|h| h > 0));
    assert!(fingerprint.hardware_concurrency.is_some_and(|c| c > 0));
    assert!(
        fingerprint.device_memory.is_some(),
        "Chromium has deviceMemory"
    );
    assert!(fingerprint.touch_points.is_some());
    assert!(fingerprint.platform.is_some_and(|p| !p.is_empty()));
    assert!(fingerprint.plugins.is_some());
    let fields: Vec<&String> = solution["fingerprint"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let known = serde_json::to_value(ClientFingerprint::default()).unwrap();
    for field in &fields {
        assert!(
            known.get(field.as_str()).is_some(),
            "`{field}` is not a field client_fp.rs reads: {fields:?}"
        );
    }
}

/// Issue 8's browser check, end to end: in a room with `challenge = "always"`, headless
/// Chromium opens a protected URL, gets no place at first, solves the gateway's challenge in
/// the page's Worker, takes a place and is admitted to the page it asked for, by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_solves_the_gateways_challenge_and_is_admitted() {
    let (origin, gateway) = tour_gateway(
        "mode = \"queue-all\"\nadmit_per_second = 5.0\nmax_active = 10\n\
         bot_guard = { challenge = \"always\", difficulty_floor = 1, difficulty_cap = 4 }",
        "[bot_guard]\nenabled = true\n",
    )
    .await;

    let result = challenge_run(&gateway, "real", TARGET_JS, &[]).await;
    assert_eq!(
        result["firstPosition"], "",
        "no place before the proof of work: {result}"
    );
    let solved: Vec<&Value> = challenge_calls(&result, "POST")
        .into_iter()
        .filter(|call| {
            call["status"] == 200 && call["body"].as_str().unwrap().contains("\"nonces\"")
        })
        .collect();
    assert!(!solved.is_empty(), "a solution was accepted: {result}");
    // The solution is screened again with the page's fingerprint (webdriver: more suspicious
    // than the headers alone); the page asks for that level and is through in one more round.
    assert!(
        solved.len() <= 2,
        "the page went round solving challenges: {result}"
    );
    let checks = result["checks"].as_array().unwrap();
    assert!(
        checks.iter().any(|c| c == "Checking your browser… 100%"),
        "{checks:?}"
    );
    assert_eq!(result["origin"]["status"], 200, "{result}");
    assert_eq!(
        result["origin"]["body"],
        format!("origin:{TARGET_JS}"),
        "landed on the page asked for: {result}"
    );
    assert_eq!(result["finalUrl"], gateway.url(TARGET_JS), "{result}");
    pass_seen_with(&origin, TARGET_JS);
}

/// A page open while the room sells out: the live status turns it to "Sold out" with a
/// visible "Join the waitlist" link (`[[room]] waitlist_url`) without a reload, and the link
/// leads out of the room to the shop's waitlist page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_open_when_the_room_sells_out_shows_the_waitlist_link_live() {
    const JOIN: &str = "/shop/waitlist?event=E1&from=queue";
    let modules = browser_tools();
    let artifacts = artifacts_dir();
    let origin = Origin::start().await;
    let settings =
        format!("mode = \"queue-all\"\nadmit_per_second = 0.001\nwaitlist_url = \"{JOIN}\"");
    let rooms = room_toml(ROOM, origin.addr, &["/tour"], &settings);
    let extra = format!("[proxy]\ndefault_origin = \"{}\"\n", origin.addr);
    let gateway = Gateway::start(&Backend::memory(), &rooms, &extra).await;
    gateway.use_up_initial_burst(ROOM).await;

    let mut script = Command::new("node")
        .arg(repo_root().join("proxy/tests/browser/waitlist_link.mjs"))
        .env("ANTEROOM_NODE_MODULES", &modules)
        .env("GATEWAY_URL", gateway.url(""))
        .env("ARTIFACTS", &artifacts)
        .env("TARGET", "/tour/seats")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();

    let ready: Value =
        serde_json::from_str(&expect_line(&mut lines, "READY", Duration::from_secs(20)).await)
            .unwrap();
    assert_eq!(
        (&ready["state"], &ready["join"], &ready["visible"]),
        (&json!("waiting"), &json!(""), &json!(false)),
        "no link while waiting: {ready}"
    );
    gateway.admin_patch(ROOM, json!({ "sold_out": true })).await;
    let sold: Value =
        serde_json::from_str(&expect_line(&mut lines, "SOLD", Duration::from_secs(25)).await)
            .unwrap();
    assert_eq!(sold["headline"], "Sold out", "{sold}");
    assert_eq!((&sold["href"], &sold["join"]), (&json!(JOIN), &json!(JOIN)));
    assert_eq!(sold["text"], "Join the waitlist");
    assert_eq!(sold["visible"], true);
    assert_eq!(sold["loads"], 1, "shown live, without a reload: {sold}");
    assert!(
        ["sse", "ws"].contains(&sold["transport"].as_str().unwrap_or("")),
        "{sold}"
    );
    for width in [1280, 320] {
        let scroll = sold[format!("scrollWidth{width}")].as_u64().unwrap();
        assert!(
            scroll <= width,
            "no sideways scrolling at {width} px: {scroll}"
        );
    }

    let landed: Value =
        serde_json::from_str(&expect_line(&mut lines, "RESULT", Duration::from_secs(20)).await)
            .unwrap();
    assert_eq!(landed["url"], gateway.url(JOIN), "{landed}");
    assert_eq!(landed["body"], format!("origin:{JOIN}"), "{landed}");
    let status = script.wait().await.unwrap();
    assert!(status.success(), "browser script failed: {status}");
}
