//! A throwaway redis-server per guard: its own port and directory; on request a unix socket
//! too (`redis.sock` in that directory, for `redis+unix://` clients); no persistence unless
//! asked for (`start_with_aof`: an append-only file fsynced on every write, so a kill loses
//! nothing and a restart reloads it).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, unique_temp_dir};

const START_DEADLINE: Duration = Duration::from_secs(10);
/// free_port() can race with another test grabbing the same port; a new port fixes that.
const START_ATTEMPTS: usize = 5;

/// A running redis-server on 127.0.0.1, killed (by pid) and its directory removed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    options: Options,
}

/// How a server is started (kept for restarts).
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    /// Also listening on `dir/redis.sock`.
    unix_socket: bool,
    /// Append-only file on, fsynced on every write.
    aof: bool,
    /// Listening with TLS only (no plain port), its certificates in `dir`.
    tls: bool,
}

impl RedisServer {
    /// Start a redis-server on a free port and wait until it answers PING.
    /// Panics with a clear message if redis-server is not installed or will not start.
    pub fn start() -> RedisServer {
        RedisServer::start_with(Options::default())
    }

    /// Like [`RedisServer::start`], listening on a unix socket as well (see `unix_url`).
    pub fn start_with_unix_socket() -> RedisServer {
        RedisServer::start_with(Options {
            unix_socket: true,
            ..Options::default()
        })
    }

    /// Start one with AOF on (`appendonly yes`, `appendfsync always`) in its own directory:
    /// `stop` then `restart` brings every key back from the file, as a production Redis
    /// with AOF would after a crash.
    pub fn start_with_aof() -> RedisServer {
        RedisServer::start_with(Options {
            aof: true,
            ..Options::default()
        })
    }

    /// A TLS-only server (`--port 0 --tls-port PORT`, clients not asked for certificates)
    /// whose certificate for 127.0.0.1 is signed by a throwaway CA (see `ca_path`).
    pub fn start_tls() -> RedisServer {
        RedisServer::start_with(Options {
            tls: true,
            ..Options::default()
        })
    }

    fn start_with(options: Options) -> RedisServer {
        let dir = unique_temp_dir("anteroom-redis");
        if options.tls {
            crate::tls_certs::write_ca_and_server_cert(&dir);
        }
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            match spawn_and_wait(port, &dir, options) {
                Ok(child) => {
                    return RedisServer {
                        child: Some(child),
                        port,
                        dir,
                        options,
                    }
                }
                Err(e) => last_error = e,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("redis-server did not start after {START_ATTEMPTS} attempts: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `rediss://127.0.0.1:PORT`, for a server started with [`RedisServer::start_tls`].
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// PEM of the CA that signed a TLS server's certificate.
    pub fn ca_path(&self) -> Option<PathBuf> {
        self.options
            .tls
            .then(|| crate::tls_certs::ca_path(&self.dir))
    }

    /// The unix socket the server also listens on (owner-only permissions), when started
    /// with [`RedisServer::start_with_unix_socket`].
    pub fn socket_path(&self) -> Option<PathBuf> {
        self.options.unix_socket.then(|| socket_path(&self.dir))
    }

    /// `redis+unix:///DIR/redis.sock`: the same server over its unix socket, when it has one.
    pub fn unix_url(&self) -> Option<String> {
        self.socket_path()
            .map(|path| format!("redis+unix://{}", path.display()))
    }

    /// Process id of the running server, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kill the server, as in a crash (its data is lost unless AOF is on).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port after `stop` (or kill and start if running):
    /// for tests of what clients do while Redis restarts.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            // The old socket may linger for a moment; retry until the port binds again.
            match spawn_and_wait(self.port, &self.dir, self.options) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) if Instant::now() >= deadline => {
                    panic!("redis-server did not restart on port {}: {e}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Drop every key.
    pub fn flushall(&self) {
        let reply = command(self.port, b"FLUSHALL\r\n", |r| r.ends_with(b"\r\n"))
            .unwrap_or_else(|e| panic!("FLUSHALL on port {}: {e}", self.port));
        assert!(
            reply.starts_with(b"+OK"),
            "FLUSHALL answered {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn socket_path(dir: &std::path::Path) -> PathBuf {
    dir.join("redis.sock")
}

fn spawn_and_wait(port: u16, dir: &std::path::Path, options: Options) -> Result<Child, String> {
    let persistence: &[&str] = if options.aof {
        &["--appendonly", "yes", "--appendfsync", "always"]
    } else {
        &["--appendonly", "no"]
    };
    let mut command = Command::new("redis-server");
    if options.tls {
        command
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(crate::tls_certs::redis_server_args(dir))
            .args(["--tls-auth-clients", "no"]);
    } else {
        command.args(["--port", &port.to_string()]);
    }
    if options.unix_socket {
        command
            .arg("--unixsocket")
            .arg(socket_path(dir))
            .args(["--unixsocketperm", "700"]);
    }
    let mut child = command
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(persistence)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                panic!("redis-server is not installed (not on PATH); install it: apt-get install -y redis-server")
            }
            format!("spawn redis-server: {e}")
        })?;
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server on port {port} exited: {status}"));
        }
        // PING would need a TLS client; a TLS server of ours accepting is ready enough.
        let ready = if options.tls {
            accepts(port)
        } else {
            answers_as(port, child.id())
        };
        if ready {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "redis-server on port {port} did not answer within {START_DEADLINE:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// True once the server on `port` answers PING and is the process we started (another
/// test's server could hold the port if the free-port race was lost).
fn answers_as(port: u16, pid: u32) -> bool {
    let pong = command(port, b"PING\r\n", |r| r.ends_with(b"\r\n"));
    if !matches!(pong, Ok(ref r) if r.starts_with(b"+PONG")) {
        return false;
    }
    let marker = format!("process_id:{pid}\r\n");
    let info = command(port, b"INFO server\r\n", |r| {
        r.windows(marker.len()).any(|w| w == marker.as_bytes())
    });
    info.is_ok()
}

fn accepts(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Send a raw command and read until `done` says the reply is complete.
fn command(port: u16, request: &[u8], done: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    stream.write_all(request).map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&reply) {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "connection closed after {:?}",
                String::from_utf8_lossy(&reply)
            ));
        }
        reply.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_restarts_and_stops() {
        let mut server = RedisServer::start();
        let port = server.port();
        assert_eq!(server.url(), format!("redis://127.0.0.1:{port}"));
        let pid = server.pid().expect("running");
        assert!(answers_as(port, pid));
        server.flushall();
        assert_eq!(server.unix_url(), None, "no unix socket unless asked for");

        server.restart();
        assert_eq!(server.port(), port, "restart keeps the port");
        let new_pid = server.pid().expect("running again");
        assert_ne!(new_pid, pid);
        assert!(answers_as(port, new_pid));

        let dir = server.dir.clone();
        assert!(dir.exists());
        drop(server);
        assert!(!dir.exists(), "directory removed on drop");
        assert!(
            command(port, b"PING\r\n", |r| r.ends_with(b"\r\n")).is_err(),
            "server gone after drop"
        );
    }

    #[test]
    fn a_unix_socket_on_request_survives_a_restart() {
        let mut server = RedisServer::start_with_unix_socket();
        let socket = server.socket_path().expect("asked for a socket");
        assert_eq!(
            server.unix_url(),
            Some(format!("redis+unix://{}", socket.display()))
        );
        let ping = |socket: &std::path::Path| {
            let mut unix = std::os::unix::net::UnixStream::connect(socket).expect("unix socket");
            unix.write_all(b"PING\r\n").expect("write");
            let mut pong = [0u8; 7];
            unix.read_exact(&mut pong).expect("read");
            pong
        };
        assert_eq!(&ping(&socket), b"+PONG\r\n");
        server.restart();
        assert_eq!(&ping(&socket), b"+PONG\r\n", "same socket after restart");
    }

    #[test]
    fn aof_keeps_keys_across_a_crash() {
        let mut server = RedisServer::start_with_aof();
        let set = command(server.port(), b"SET kept 1\r\n", |r| r.ends_with(b"\r\n")).expect("SET");
        assert!(set.starts_with(b"+OK"));
        server.stop();
        server.restart();
        let got = command(server.port(), b"GET kept\r\n", |r| r.ends_with(b"1\r\n"))
            .expect("the key survives a kill and restart");
        assert!(got.starts_with(b"$1"));
        drop(server);

        let mut plain = RedisServer::start();
        command(plain.port(), b"SET lost 1\r\n", |r| r.ends_with(b"\r\n")).expect("SET");
        plain.restart();
        let gone = command(plain.port(), b"GET lost\r\n", |r| r.ends_with(b"\r\n")).expect("GET");
        assert!(gone.starts_with(b"$-1"), "without AOF the key is gone");
    }

    #[test]
    fn two_servers_get_distinct_ports() {
        let a = RedisServer::start();
        let b = RedisServer::start();
        assert_ne!(a.port(), b.port());
    }
}
