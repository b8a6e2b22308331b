//! The direct path: the request a fan's browser repeats most — an HTTP/1.1 `GET` or `HEAD`
//! carrying a pass — served on the connection without Pingora's proxy loop.
//!
//! Why (ADR 0009): Pingora's HTTP/1 proxy path costs ~4.5× nginx's instructions per request
//! (a session, header maps and boxed futures per request, each request split into a
//! downstream and an upstream task), so bare Pingora runs at about half nginx's throughput as
//! a reverse proxy, and no setting changes that (docs/benchmarks.md). Here the head is read
//! ahead and parsed once, read by the same `facts` and decided by the same `Gateway::handle`
//! as on the proxy path, and the origin is reached over a connection the client connection
//! keeps; the response is relayed as it comes with the gateway's headers added.
//!
//! Everything else goes to Pingora exactly as before, the bytes read ahead handed over
//! untouched (`BoundedHead` gives them to the next reader): another method, HTTP/1.0, any
//! body framing (`Content-Length`, `Transfer-Encoding`), `Upgrade`, `Expect`, absolute-form
//! or `*` targets, a target or Host the gateway refuses, a request without a pass candidate,
//! the gateway's own endpoints, a head over 16 KiB or one httparse refuses. So the direct
//! path never frames a request body (request smuggling stays Pingora's to refuse) and every
//! request still meets the gateway's decision first.

mod origin;
mod request;
mod response;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::facts::{self, visible_text};
use super::head_deadline::{BoundedHead, HeadRead};
use super::raw_reply;
use super::request_id::{RequestId, REQUEST_ID};
use super::response_filter::{self, Addition};
use super::upstream_request::{is_look_alike, IpText};
use super::{fail_to_proxy, logging, spare_buffers, RequestCtx};
use crate::gateway::{AccessOutcome, Gateway, Outcome, ProxyPlan, ENDPOINT_PREFIX, PASS_HEADER};
use origin::OriginPool;
use request::{DirectHead, MAX_HEADERS};
use response::{ChunkScan, Framing, ResponseHead};

/// Longest head the direct path reads itself; a longer one goes to Pingora.
const HEAD_MAX: usize = 16 * 1024;
/// Longest response head accepted from an origin.
const RESPONSE_HEAD_MAX: usize = 64 * 1024;
/// Each read from an origin takes up to this much.
const READ_CHUNK: usize = 16 * 1024;

/// What became of the next request on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Answered; the connection waits for the next request.
    KeepAlive,
    /// Answered (or the client went away); the connection ends.
    Close,
    /// Not a request this path serves: Pingora reads it, from its first byte.
    HandOver,
}

pub struct DirectPath {
    pool: OriginPool,
    /// `[log] access`
    access_log: bool,
}

/// One request's buffers, taken from the thread's spares and given back when it ends: an idle
/// keep-alive connection holds none (thousands of them wait between a fan's page loads).
struct Buffers {
    /// The origin's request head.
    request: Vec<u8>,
    /// What the origin sent, read by read.
    response: Vec<u8>,
    /// The client's response head (and the first body bytes with it).
    out: Vec<u8>,
}

impl Buffers {
    fn take() -> Buffers {
        Buffers {
            request: spare_buffers::take(1024),
            response: spare_buffers::take(READ_CHUNK),
            out: spare_buffers::take(1024),
        }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        for buffer in [&mut self.request, &mut self.response, &mut self.out] {
            spare_buffers::give(std::mem::take(buffer));
        }
    }
}

/// Why an exchange with the origin failed.
enum Failed {
    /// A kept connection failed before any byte of a response: it was closed while idle;
    /// the request (a `GET` or `HEAD`) is sent again on a new one.
    Stale,
    /// The origin cannot be reached or answered wrongly; nothing went to the client yet.
    Origin,
    /// The client or the origin failed in mid-response: the connection ends.
    MidResponse,
}

impl DirectPath {
    pub fn new(access_log: bool) -> DirectPath {
        DirectPath {
            pool: OriginPool::default(),
            access_log,
        }
    }

    /// Serve the next request on `client` if it is one this path takes. `closing`: the
    /// process is shutting down, so the connection ends after this answer.
    pub async fn serve(
        &self,
        gateway: &Gateway,
        client: &mut BoundedHead,
        closing: bool,
    ) -> Served {
        let len = match client.read_head(HEAD_MAX).await {
            Ok(HeadRead::Complete(len)) => len,
            Ok(HeadRead::TooLong) => return Served::HandOver,
            Err(_) => return Served::Close,
        };
        if !request::may_carry_pass(client.held().get(..len).unwrap_or_default()) {
            return Served::HandOver;
        }
        // A copy of the head (a few hundred bytes): the connection is written to while it is
        // read, and Pingora must still find it there if this path hands over.
        let mut head_bytes = spare_buffers::take(len);
        head_bytes.extend_from_slice(client.held().get(..len).unwrap_or_default());
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let served = match request::parse(&head_bytes, &mut storage) {
            Some(head) => {
                let mut buffers = Buffers::take();
                self.decide(gateway, client, &mut buffers, &head, len, closing)
                    .await
            }
            None => Served::HandOver,
        };
        spare_buffers::give(head_bytes);
        served
    }

    async fn decide(
        &self,
        gateway: &Gateway,
        client: &mut BoundedHead,
        state: &mut Buffers,
        head: &DirectHead<'_>,
        len: usize,
        closing: bool,
    ) -> Served {
        if head.target.starts_with(ENDPOINT_PREFIX.as_bytes()) {
            return Served::HandOver;
        }
        let peer = facts::Peer {
            ip: client.peer_ip(),
            trusted_proxies: gateway.guard.trusted_proxies(),
        };
        let tls = client.is_tls();
        let request_id = RequestId::for_request(head, peer.ip, peer.trusted_proxies);
        let Ok(mut facts) = facts::read(head, tls, peer) else {
            return Served::HandOver;
        };
        if facts.pass_tokens.is_empty() || facts.path.starts_with(ENDPOINT_PREFIX) {
            return Served::HandOver;
        }
        client.consume(len);
        let mut ctx = RequestCtx {
            request_id,
            wants_json: facts.wants_json,
            ..RequestCtx::default()
        };
        let close = head.close || closing;
        let read_guard =
            |facts: &mut crate::gateway::RequestFacts| facts::read_guard(head, peer, facts);
        match gateway.handle(&mut facts, &read_guard).await {
            Outcome::Reply(reply) => {
                ctx.outcome = reply.outcome;
                ctx.room = reply.room;
                let reply = reply.with_header(REQUEST_ID, ctx.request_id.as_str());
                state.out.clear();
                raw_reply::write_head(&reply, close, &mut state.out);
                if !head.is_head() {
                    state.out.extend_from_slice(&reply.body);
                }
                let written = send(client, &state.out).await;
                self.log(gateway, &ctx, ctx.outcome, reply.status, head);
                if written.is_err() || close {
                    Served::Close
                } else {
                    Served::KeepAlive
                }
            }
            Outcome::Proxy(plan) => {
                ctx.outcome = plan.outcome;
                ctx.room = plan.room;
                ctx.forward = facts.forward.take();
                ctx.client_ip = facts.guard.client_ip;
                ctx.client_https = facts.tls;
                self.proxy(gateway, client, state, head, plan, ctx, close)
                    .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn proxy(
        &self,
        gateway: &Gateway,
        client: &mut BoundedHead,
        state: &mut Buffers,
        head: &DirectHead<'_>,
        mut plan: ProxyPlan,
        ctx: RequestCtx,
        close: bool,
    ) -> Served {
        state.request.clear();
        write_upstream_request(head, &ctx, plan.forward_pass.as_deref(), &mut state.request);
        let additions = response_filter::additions(&mut plan);
        let mut fresh_only = false;
        loop {
            let (origin, reused) = match self.origin_for(plan.origin, fresh_only).await {
                Ok(found) => found,
                Err(_) => return self.bad_gateway(gateway, client, state, head, ctx).await,
            };
            let exchange = Exchange {
                head,
                ctx: &ctx,
                additions: &additions,
                close,
            };
            let release = |stream| self.pool.put(plan.origin, stream);
            match exchange.run(client, state, origin, reused, release).await {
                Ok(response) => {
                    let code = http::StatusCode::from_u16(response.status).ok();
                    let status = code.as_ref().map_or("000", |code| code.as_str());
                    response_filter::count_response(gateway, plan.room, status);
                    self.log(gateway, &ctx, ctx.outcome, response.status, head);
                    return if close || response.framing == Framing::UntilClose {
                        Served::Close
                    } else {
                        Served::KeepAlive
                    };
                }
                Err(Failed::Stale) if !fresh_only => fresh_only = true,
                Err(Failed::Stale | Failed::Origin) => {
                    return self.bad_gateway(gateway, client, state, head, ctx).await
                }
                Err(Failed::MidResponse) => {
                    self.log(gateway, &ctx, AccessOutcome::UpstreamError, 0, head);
                    return Served::Close;
                }
            }
        }
    }

    /// A kept connection to `origin`, else a new one; `fresh_only` skips the kept ones. Also
    /// says whether it was kept.
    async fn origin_for(
        &self,
        origin: SocketAddr,
        fresh_only: bool,
    ) -> std::io::Result<(TcpStream, bool)> {
        if !fresh_only {
            if let Some(stream) = self.pool.take(origin) {
                return Ok((stream, true));
            }
        }
        Ok((origin::connect(origin).await?, false))
    }

    /// The origin could not be reached: the gateway's error page, and the connection ends
    /// (as on the proxy path).
    async fn bad_gateway(
        &self,
        gateway: &Gateway,
        client: &mut BoundedHead,
        state: &mut Buffers,
        head: &DirectHead<'_>,
        ctx: RequestCtx,
    ) -> Served {
        let reply = fail_to_proxy::error_reply(502, ctx.wants_json, ctx.request_id.as_str());
        state.out.clear();
        raw_reply::write_head(&reply, true, &mut state.out);
        if !head.is_head() {
            state.out.extend_from_slice(&reply.body);
        }
        let _ = send(client, &state.out).await;
        self.log(gateway, &ctx, AccessOutcome::UpstreamError, 502, head);
        Served::Close
    }

    fn log(
        &self,
        gateway: &Gateway,
        ctx: &RequestCtx,
        outcome: AccessOutcome,
        status: u16,
        head: &DirectHead<'_>,
    ) {
        if self.access_log {
            logging::line(gateway, ctx, outcome, status, head.method, head.path());
        }
    }
}

/// One request sent to an origin and its response relayed to the client.
struct Exchange<'a, 'h> {
    head: &'a DirectHead<'h>,
    ctx: &'a RequestCtx,
    additions: &'a [Addition],
    close: bool,
}

impl Exchange<'_, '_> {
    /// Relays one exchange and returns the response's head. The origin connection, when it
    /// may carry another request, goes to `release` as soon as the whole response has come
    /// from the origin — before its last bytes go to the client, so a client that sends its
    /// next request the moment it has this answer finds the connection back in the pool.
    async fn run(
        &self,
        client: &mut BoundedHead,
        state: &mut Buffers,
        mut origin: TcpStream,
        reused: bool,
        release: impl FnOnce(TcpStream),
    ) -> Result<ResponseHead, Failed> {
        let before_response = if reused {
            Failed::Stale
        } else {
            Failed::Origin
        };
        if origin.write_all(&state.request).await.is_err() {
            return Err(before_response);
        }
        state.response.clear();
        let mut received = false;
        let response = loop {
            if !state.response.is_empty() {
                state.out.clear();
                let parsed = response::read_head(
                    &state.response,
                    self.head.is_head(),
                    self.ctx.request_id.as_str(),
                    self.additions,
                    self.close,
                    &mut state.out,
                );
                match parsed {
                    Ok(Some(response)) if response::is_interim(response.status) => {
                        if send(client, &state.out).await.is_err() {
                            return Err(Failed::MidResponse);
                        }
                        state.response.drain(..response.len);
                        // The final response may have come in the same read.
                        continue;
                    }
                    Ok(Some(response)) => break response,
                    Ok(None) if state.response.len() > RESPONSE_HEAD_MAX => {
                        return Err(Failed::Origin)
                    }
                    Ok(None) => {}
                    Err(error) => {
                        log::warn!("origin response refused: {error}");
                        return Err(Failed::Origin);
                    }
                }
            }
            state.response.reserve(READ_CHUNK);
            match origin.read_buf(&mut state.response).await {
                Ok(0) | Err(_) if !received => return Err(before_response),
                Ok(0) | Err(_) => return Err(Failed::Origin),
                Ok(_) => received = true,
            }
        };

        let mut body = Body::new(response.framing);
        let first = state.response.get(response.len..).unwrap_or_default();
        let Ok(take) = body.take(first) else {
            return Err(Failed::Origin);
        };
        // The origin sent more than this response: its connection is not reused.
        let mut clean = take == first.len();
        let mut release = Some(release);
        let mut origin = Some(origin);
        // Hand the connection back once the origin has sent the whole response and nothing
        // more, before the last bytes go to the client.
        let mut release_if_done = |done: bool, clean: bool, origin: &mut Option<TcpStream>| {
            if done && clean && response.origin_keeps_alive {
                if let (Some(release), Some(stream)) = (release.take(), origin.take()) {
                    release(stream);
                }
            }
        };
        release_if_done(body.done, clean, &mut origin);
        state
            .out
            .extend_from_slice(first.get(..take).unwrap_or_default());
        if send(client, &state.out).await.is_err() {
            return Err(Failed::MidResponse);
        }
        while !body.done {
            let Some(stream) = origin.as_mut() else {
                return Err(Failed::MidResponse);
            };
            state.response.clear();
            state.response.reserve(READ_CHUNK);
            let read = stream.read_buf(&mut state.response).await;
            match read {
                Ok(0) if body.framing == Framing::UntilClose => break,
                Ok(0) | Err(_) => return Err(Failed::MidResponse),
                Ok(_) => {}
            }
            let Ok(take) = body.take(&state.response) else {
                return Err(Failed::MidResponse);
            };
            clean &= take == state.response.len();
            release_if_done(body.done, clean, &mut origin);
            let part = state.response.get(..take).unwrap_or_default();
            if send(client, part).await.is_err() {
                return Err(Failed::MidResponse);
            }
        }
        Ok(response)
    }
}

/// Where a response body stands.
struct Body {
    framing: Framing,
    left: u64,
    chunks: ChunkScan,
    done: bool,
}

impl Body {
    fn new(framing: Framing) -> Body {
        Body {
            framing,
            left: match framing {
                Framing::Length(length) => length,
                _ => 0,
            },
            chunks: ChunkScan::default(),
            done: matches!(framing, Framing::Empty | Framing::Length(0)),
        }
    }

    /// How many of `bytes` belong to the body.
    fn take(&mut self, bytes: &[u8]) -> Result<usize, response::ResponseError> {
        if self.done {
            return Ok(0);
        }
        match self.framing {
            Framing::Empty => Ok(0),
            Framing::Length(_) => {
                let take = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.left -= take as u64;
                self.done = self.left == 0;
                Ok(take)
            }
            Framing::Chunked => match self.chunks.feed(bytes)? {
                Some(end) => {
                    self.done = true;
                    Ok(end)
                }
                None => Ok(bytes.len()),
            },
            Framing::UntilClose => Ok(bytes.len()),
        }
    }
}

/// The request line and headers the origin gets: the client's, less hop-by-hop headers,
/// look-alikes of the pass and `X-Forwarded-Host`; the normal target and Host when the client
/// sent another form; `X-Forwarded-For` ending with the resolved client, the request id,
/// `X-Forwarded-Proto` as the gateway decided and the pass it verified — the same rules as
/// `upstream_request` applies on the proxy path.
fn write_upstream_request(
    head: &DirectHead<'_>,
    ctx: &RequestCtx,
    pass: Option<&str>,
    out: &mut Vec<u8>,
) {
    let forward = ctx.forward.as_ref();
    let target = forward.map_or(head.target, |forward| forward.path_and_query.as_bytes());
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let new_host = forward.and_then(|forward| forward.host.as_deref());
    let mut chain: Vec<&str> = Vec::new();
    for header in head.headers {
        let name = header.name;
        let is = |other: &str| name.eq_ignore_ascii_case(other);
        if is("x-forwarded-for") {
            chain.extend(
                visible_text(header.value)
                    .map(str::trim)
                    .filter(|value| !value.is_empty()),
            );
            continue;
        }
        let dropped = is("connection")
            || is("keep-alive")
            || is("proxy-connection")
            || is("x-forwarded-host")
            || is(PASS_HEADER)
            || is(REQUEST_ID)
            || is("x-forwarded-proto")
            || (new_host.is_some() && is("host"))
            || is_look_alike(name);
        if !dropped {
            raw_reply::header_line(out, name.as_bytes(), header.value);
        }
    }
    if let Some(host) = new_host {
        raw_reply::header_line(out, b"host", host.as_bytes());
    }
    if let Some(client) = ctx.client_ip {
        let mut text = IpText::default();
        out.extend_from_slice(b"x-forwarded-for: ");
        for hop in &chain {
            out.extend_from_slice(hop.as_bytes());
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(text.of(client).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    raw_reply::header_line(
        out,
        REQUEST_ID.as_bytes(),
        ctx.request_id.as_str().as_bytes(),
    );
    let proto: &[u8] = if ctx.client_https { b"https" } else { b"http" };
    raw_reply::header_line(out, b"x-forwarded-proto", proto);
    if let Some(pass) = pass {
        raw_reply::header_line(out, PASS_HEADER.as_bytes(), pass.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Write `bytes` to the client and flush them (Pingora's streams buffer writes).
async fn send(client: &mut BoundedHead, bytes: &[u8]) -> std::io::Result<()> {
    client.write_all(bytes).await?;
    client.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::ForwardTarget;

    fn upstream(head: &[u8], ctx: &RequestCtx, pass: Option<&str>) -> String {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let head = request::parse(head, &mut storage).unwrap();
        let mut out = Vec::new();
        write_upstream_request(&head, ctx, pass, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_origin_gets_what_the_proxy_path_sends() {
        let ctx = RequestCtx {
            client_ip: Some("198.51.100.7".parse().unwrap()),
            request_id: RequestId::parse(b"rid").unwrap(),
            forward: Some(ForwardTarget {
                path_and_query: "/tour?a=1".into(),
                host: Some("vip.example".into()),
            }),
            ..RequestCtx::default()
        };
        let sent = upstream(
            b"GET //tour?a=1 HTTP/1.1\r\nHost: VIP.example.\r\nX-Anteroom-Pass: p\r\nX_Anteroom_Pass: forged\r\nx-forwarded-host: evil\r\nX-Forwarded-For: 203.0.113.1\r\nX-Forwarded-For: 10.0.0.2\r\nConnection: keep-alive\r\nX-Request-Id: client\r\nX-Forwarded-Proto: https\r\nAccept: */*\r\n\r\n",
            &ctx,
            Some("p"),
        );
        assert_eq!(
            sent,
            "GET /tour?a=1 HTTP/1.1\r\nAccept: */*\r\nhost: vip.example\r\nx-forwarded-for: 203.0.113.1, 10.0.0.2, 198.51.100.7\r\nx-request-id: rid\r\nx-forwarded-proto: http\r\nx-anteroom-pass: p\r\n\r\n"
        );
    }

    #[test]
    fn without_a_known_client_no_forwarded_for_reaches_the_origin() {
        let sent = upstream(
            b"HEAD /tour HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1\r\n\r\n",
            &RequestCtx {
                client_https: true,
                ..RequestCtx::default()
            },
            None,
        );
        assert!(sent.starts_with("HEAD /tour HTTP/1.1\r\nHost: a\r\n"));
        assert!(!sent.to_ascii_lowercase().contains("x-forwarded-for"));
        assert!(!sent.contains("x-anteroom-pass"));
        assert!(sent.contains("x-forwarded-proto: https\r\n"));
    }

    #[test]
    fn bodies_end_where_their_framing_says() {
        let mut body = Body::new(Framing::Length(5));
        assert_eq!(body.take(b"hel").unwrap(), 3);
        assert!(!body.done);
        assert_eq!(body.take(b"loEXTRA").unwrap(), 2);
        assert!(body.done);
        let mut body = Body::new(Framing::Chunked);
        assert_eq!(body.take(b"2\r\nhi\r\n0\r\n\r\nX").unwrap(), 12);
        assert!(body.done);
        assert!(Body::new(Framing::Empty).done);
    }
}
