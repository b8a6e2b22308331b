//! A real origin for the gateway to proxy to: plain HTTP/1.1 with keep-alive over tokio,
//! answering `origin:<path>` and recording every request it was sent — the request line, the
//! headers, and the pass that came with it — so a suite can count what reached it.
//!
//! It frames requests the way a lenient origin would (any `Transfer-Encoding` mentioning
//! `chunked` wins over `Content-Length`), so a request the gateway let through inside another
//! one's body shows up here as a request of its own.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anteroom_admission::Keyring;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request-target exactly as the origin received it.
    pub path: String,
    pub version: String,
    pub host: Option<String>,
    /// Every header line, in order, as (name, value).
    pub headers: Vec<(String, String)>,
    pub pass: Option<String>,
    pub upgrade: Option<String>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A page the origin serves only to admitted visitors of `room`, the way the site behind the
/// gateway would see it: under `prefix` after its own reading of the path, for `host` (None =
/// any host; a request without a host or with an IP literal reaches the default server, which
/// is this site).
#[derive(Debug, Clone)]
pub struct Protected {
    pub room: &'static str,
    pub prefix: &'static str,
    pub host: Option<&'static str>,
    pub any_case: bool,
}

pub struct Origin {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Origin {
    pub async fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("origin address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, recorder.clone()));
            }
        });
        Origin { addr, seen, task }
    }

    /// A port nothing listens on: an origin that is down.
    pub fn down_addr() -> SocketAddr {
        ([127, 0, 0, 1], anteroom_testkit::free_port()).into()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("origin record").clone()
    }

    /// Requests that reached a protected page without a pass valid for its room (verified
    /// with `keyring`, as an origin that checks passes would).
    pub fn unpassed(&self, protected: &[Protected], keyring: &Keyring, now: u64) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| {
                protected.iter().any(|page| {
                    let passed = seen
                        .pass
                        .as_deref()
                        .is_some_and(|pass| keyring.verify_pass(pass, page.room, now).is_ok());
                    serves(page, seen) && !passed
                })
            })
            .collect()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether the site would serve `page` for this request.
fn serves(page: &Protected, seen: &Seen) -> bool {
    let host_ok = match (page.host, seen.host.as_deref().map(origin_host)) {
        (None, _) | (_, None) => true,
        (Some(expected), Some(host)) => {
            host == expected || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[')
        }
    };
    let target = seen.path.as_str();
    // An absolute-form target: the path starts after the authority.
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|at| &rest[at..]).unwrap_or("/"),
        None => target,
    };
    let path = path.split('?').next().unwrap_or("");
    host_ok && serves_under(page.prefix, &origin_path(path), page.any_case)
}

/// Whether a site serves the path it read (`origin_path`) as part of `prefix`'s pages.
pub fn serves_under(prefix: &str, read: &str, any_case: bool) -> bool {
    let (prefix, read) = if any_case {
        (prefix.to_ascii_lowercase(), read.to_ascii_lowercase())
    } else {
        (prefix.to_string(), read.to_string())
    };
    prefix == "/"
        || read == prefix
        || read.starts_with(&format!("{}/", prefix.trim_end_matches('/')))
}

fn origin_host(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or("").to_string()
    } else {
        host.split(':').next().unwrap_or("").to_string()
    };
    name.trim_end_matches('.').to_string()
}

/// A lenient origin's reading of a path: every escape decoded, `\` as `/`, `;parameters`
/// dropped, slashes merged, dot-segments resolved (clamped at the root).
pub fn origin_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes
            .get(index + 1..index + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok());
        if let (b'%', Some(hex)) = (bytes[index], escape) {
            if let Ok(value) = u8::from_str_radix(hex, 16) {
                decoded.push(value);
                index += 3;
                continue;
            }
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    let text = String::from_utf8_lossy(&decoded).replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        match segment.split(';').next().unwrap_or("") {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            bare => segments.push(bare),
        }
    }
    format!("/{}", segments.join("/"))
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// The length of a chunked body at the start of `body`, once it is all there.
fn chunked_length(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = find(&body[at..], b"\r\n")? + at;
        let size_text = String::from_utf8_lossy(&body[at..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let size = usize::from_str_radix(&size_text, 16).unwrap_or(0);
        at = line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let end = find(&body[at..], b"\r\n")? + at;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        if body.len() < at + size + 2 {
            return None;
        }
        at += size + 2;
    }
}

async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut buffer = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end + 4;
            }
            if !read_more(&mut stream, &mut buffer).await {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or("").split(' ');
        let method = request_line.next().unwrap_or("").to_string();
        let path = request_line.next().unwrap_or("").to_string();
        let version = request_line.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        let mut pass = None;
        let mut upgrade = None;
        let mut host = None;
        let mut content_length = 0usize;
        let mut chunked = false;
        for line in lines.filter(|line| !line.is_empty()) {
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim().to_string();
                headers.push((name.to_string(), value.clone()));
                match name.trim().to_ascii_lowercase().as_str() {
                    "x-anteroom-pass" => pass = Some(value),
                    "upgrade" => upgrade = Some(value),
                    "host" => host = Some(value),
                    "content-length" => content_length = value.parse().unwrap_or(0),
                    "transfer-encoding" => {
                        chunked |= value.to_ascii_lowercase().contains("chunked")
                    }
                    _ => {}
                }
            }
        }
        let body_length = loop {
            let body = &buffer[head_end..];
            let known = if chunked {
                chunked_length(body)
            } else {
                (body.len() >= content_length).then_some(content_length)
            };
            if let Some(length) = known {
                break length;
            }
            if !read_more(&mut stream, &mut buffer).await {
                return;
            }
        };
        buffer.drain(..head_end + body_length);
        seen.lock().expect("origin record").push(Seen {
            method,
            path: path.clone(),
            version,
            host,
            headers,
            pass,
            upgrade,
        });
        let body = format!("origin:{path}");
        let response = format!(
            "HTTP/1.1 {} OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            answer_status(&path),
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// 200, or the code a path ending in `/status-NNN` asks for (a suite's known upstream statuses).
fn answer_status(path: &str) -> u16 {
    path.rsplit_once("/status-")
        .and_then(|(_, code)| code.parse().ok())
        .filter(|code| (200..600).contains(code))
        .unwrap_or(200)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
