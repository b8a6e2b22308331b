//! A throwaway PostgreSQL server per guard: its own cluster (initdb) in a temp directory,
//! its own loopback port, fsync off. PostgreSQL refuses to run as root, so when the tests
//! run as root the server runs as an unprivileged OS user (`postgres` if it exists, as it
//! does wherever the Debian `postgresql` package is installed, else `nobody`): the child
//! process drops to that user itself (setuid before exec), so the pid we hold is the
//! postmaster's and stopping it by pid really stops it.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, unique_temp_dir};

const START_DEADLINE: Duration = Duration::from_secs(30);
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// free_port() can race with another test grabbing the same port; a new port fixes that.
const START_ATTEMPTS: usize = 5;
/// The cluster's superuser (trust authentication on loopback) and the database created.
const USER: &str = "anteroom";
const DATABASE: &str = "anteroom";

/// A running PostgreSQL on 127.0.0.1 with a database `anteroom` owned by the superuser
/// `anteroom` (trust auth). Stopped (by pid) and its directory removed on drop.
pub struct PostgresServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
}

impl PostgresServer {
    /// initdb a fresh cluster, start it on a free port, wait until it accepts connections
    /// and create the database. Panics with a clear message if PostgreSQL is not installed
    /// or will not start.
    pub fn start() -> PostgresServer {
        let bin = bin_dir();
        let run_as = unprivileged_user();
        let dir = unique_temp_dir("anteroom-pg");
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {} to uid {uid}: {e}", dir.display()));
        }
        if let Err(e) = initdb(&bin, &dir, run_as) {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("{e}");
        }
        let mut server = PostgresServer {
            child: None,
            port: 0,
            dir,
            bin,
            run_as,
        };
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            match spawn_and_wait(&server.bin, &server.dir, port, server.run_as) {
                Ok(child) => {
                    server.child = Some(child);
                    server.port = port;
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        if server.child.is_none() {
            // Drop removes the directory.
            panic!("postgres did not start after {START_ATTEMPTS} attempts: {last_error}");
        }
        let create = format!("CREATE DATABASE {DATABASE} OWNER {USER}");
        if let Err(e) = simple_query(server.port, "postgres", &create) {
            panic!("{create} on port {}: {e}", server.port);
        }
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://anteroom@127.0.0.1:PORT/anteroom`
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The directory holding PostgreSQL's binaries (initdb, postgres, pgbench, psql, ...).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Process id of the running postmaster, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Run one SQL statement (simple query protocol) on the test database and return the
    /// rows as text (NULL → None). For tests that look into the database directly.
    pub fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        simple_query(self.port, DATABASE, sql)
    }

    /// Stop the server ("fast" shutdown: every client connection is cut, as when a database
    /// goes down); the data stays for `restart`. Killed outright if it takes too long.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }

    /// Start it again on the same port and data directory after `stop` (or stop and start
    /// if running): for tests of what clients do while PostgreSQL restarts.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            // The old listening socket may linger for a moment; retry until it binds again.
            match spawn_and_wait(&self.bin, &self.dir, self.port, self.run_as) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) if Instant::now() >= deadline => {
                    panic!("postgres did not restart on port {}: {e}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// PostgreSQL's bin directory: the highest /usr/lib/postgresql/<version>/bin with a
/// `postgres` binary (Debian's layout), else the directory on PATH holding `postgres`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("postgres").is_file() && d.join("initdb").is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres, no postgres + \
             initdb on PATH); install it: apt-get install -y postgresql"
        )
    })
}

/// (uid, gid) to run PostgreSQL as when we are root; None when we are not root.
fn unprivileged_user() -> Option<(u32, u32)> {
    if effective_uid() != Some(0) {
        return None;
    }
    for name in ["postgres", "nobody"] {
        if let (Some(uid), Some(gid)) = (id_of(name, "-u"), id_of(name, "-g")) {
            if uid != 0 {
                return Some((uid, gid));
            }
        }
    }
    panic!(
        "running as root, and PostgreSQL refuses to run as root: no unprivileged user to run \
         it as (neither `postgres` nor `nobody` exists); create one: useradd -r postgres"
    )
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // Uid: real effective saved fs
    line.split_whitespace().nth(2)?.parse().ok()
}

fn id_of(name: &str, flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, name]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn command_as(program: PathBuf, run_as: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = run_as {
        // std drops supplementary groups (setgroups(0)) before setuid when running as root.
        cmd.gid(gid).uid(uid);
    }
    for var in [
        "PGDATA",
        "PGPORT",
        "PGHOST",
        "PGUSER",
        "PGDATABASE",
        "PGOPTIONS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn initdb(bin: &Path, dir: &Path, run_as: Option<(u32, u32)>) -> Result<(), String> {
    let out = command_as(bin.join("initdb"), run_as)
        .arg("-D")
        .arg(dir.join("data"))
        .args([
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                panic!(
                    "initdb not found in {}; install it: apt-get install -y postgresql",
                    bin.display()
                )
            }
            format!("spawn initdb: {e}")
        })?;
    if !out.status.success() {
        return Err(format!(
            "initdb into {} failed ({}): {}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn spawn_and_wait(
    bin: &Path,
    dir: &Path,
    port: u16,
    run_as: Option<(u32, u32)>,
) -> Result<Child, String> {
    let log_path = dir.join("postgres.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("open {}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = command_as(bin.join("postgres"), run_as)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args(["-c", "fsync=off"])
        .args(["-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off"])
        .args(["-c", "shared_buffers=32MB"])
        .args(["-c", "max_connections=200"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("spawn postgres: {e}"))?;
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "postgres on port {port} exited: {status}; log:\n{}",
                log_tail(&log_path)
            ));
        }
        if is_ready(dir, port, child.id()) {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            stop_child(&mut child);
            return Err(format!(
                "postgres on port {port} did not accept connections within {START_DEADLINE:?}; log:\n{}",
                log_tail(&log_path)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True once OUR postmaster (its pid in our data dir's postmaster.pid, status "ready" —
/// another test's server could hold the port if the free-port race was lost) answers a query.
fn is_ready(dir: &Path, port: u16, pid: u32) -> bool {
    let Ok(pidfile) = std::fs::read_to_string(dir.join("data").join("postmaster.pid")) else {
        return false;
    };
    let lines: Vec<&str> = pidfile.lines().map(str::trim).collect();
    let ours = lines.first() == Some(&pid.to_string().as_str())
        && lines.get(3) == Some(&port.to_string().as_str())
        && lines.get(7) == Some(&"ready");
    ours && simple_query(port, "postgres", "SELECT 1").is_ok()
}

fn stop_child(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // SIGINT = fast shutdown: clients are disconnected, the postmaster stops its backends
    // and exits (SIGKILL would leave backends holding shared memory for a moment).
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + STOP_DEADLINE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .get(lines.len().saturating_sub(20)..)
        .map(|tail| tail.join("\n"))
        .unwrap_or_default()
}

/// One statement over the simple query protocol as the trust-authenticated superuser.
fn simple_query(port: u16, database: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);

    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
    for (k, v) in [("user", USER), ("database", database)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut startup = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    stream.write_all(&startup).map_err(|e| e.to_string())?;

    let mut rows = Vec::new();
    let mut error = None;
    let mut sent_query = false;
    loop {
        let (tag, body) = read_message(&mut stream)?;
        match tag {
            b'R' => {
                let code = body
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes);
                if code != Some(0) {
                    return Err(format!(
                        "authentication method {code:?} requested; trust expected"
                    ));
                }
            }
            b'E' => {
                let message = error_message(&body);
                if !sent_query {
                    return Err(message);
                }
                error = Some(message);
            }
            b'D' => rows.push(parse_data_row(&body)?),
            b'Z' if !sent_query => {
                let mut query = vec![b'Q'];
                query.extend_from_slice(&((sql.len() + 5) as u32).to_be_bytes());
                query.extend_from_slice(sql.as_bytes());
                query.push(0);
                stream.write_all(&query).map_err(|e| e.to_string())?;
                sent_query = true;
            }
            b'Z' => {
                let _ = stream.write_all(&[b'X', 0, 0, 0, 4]);
                return match error {
                    Some(e) => Err(e),
                    None => Ok(rows),
                };
            }
            _ => {} // ParameterStatus, BackendKeyData, RowDescription, CommandComplete, notices
        }
    }
}

fn read_message(stream: &mut TcpStream) -> Result<(u8, Vec<u8>), String> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).map_err(|e| e.to_string())?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if !(4..=64 << 20).contains(&len) {
        return Err(format!("bad message length {len}"));
    }
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((header[0], body))
}

fn error_message(body: &[u8]) -> String {
    let mut code = "";
    let mut message = "";
    for field in body.split(|b| *b == 0) {
        if let Some((kind, text)) = field.split_first() {
            let text = std::str::from_utf8(text).unwrap_or("");
            match kind {
                b'C' => code = text,
                b'M' => message = text,
                _ => {}
            }
        }
    }
    format!("{code}: {message}")
}

fn parse_data_row(body: &[u8]) -> Result<Vec<Option<String>>, String> {
    let bad = || "malformed DataRow".to_string();
    let count = u16::from_be_bytes([
        *body.first().ok_or_else(bad)?,
        *body.get(1).ok_or_else(bad)?,
    ]);
    let mut at = 2;
    let mut row = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len_bytes = body
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .ok_or_else(bad)?;
        let len = i32::from_be_bytes(len_bytes);
        at += 4;
        if len < 0 {
            row.push(None);
            continue;
        }
        let value = body.get(at..at + len as usize).ok_or_else(bad)?;
        row.push(Some(String::from_utf8_lossy(value).into_owned()));
        at += len as usize;
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_restarts_and_stops() {
        let mut server = PostgresServer::start();
        let port = server.port();
        assert_eq!(
            server.url(),
            format!("postgres://anteroom@127.0.0.1:{port}/anteroom")
        );
        let pid = server.pid().expect("running");
        assert!(server.bin_dir().join("pgbench").is_file());

        server
            .query("CREATE TABLE t (v int); INSERT INTO t VALUES (41), (1)")
            .expect("create + insert");
        let rows = server
            .query("SELECT sum(v)::text, NULL FROM t")
            .expect("select");
        assert_eq!(rows, vec![vec![Some("42".to_string()), None]]);
        assert!(server.query("SELECT * FROM missing").is_err());

        server.stop();
        assert!(server.pid().is_none());
        assert!(server.query("SELECT 1").is_err(), "down after stop");

        server.restart();
        assert_eq!(server.port(), port, "restart keeps the port");
        let new_pid = server.pid().expect("running again");
        assert_ne!(new_pid, pid);
        let rows = server
            .query("SELECT sum(v)::text FROM t")
            .expect("data kept");
        assert_eq!(rows, vec![vec![Some("42".to_string())]]);

        let dir = server.dir.clone();
        assert!(dir.exists());
        drop(server);
        assert!(!dir.exists(), "directory removed on drop");
        assert!(
            simple_query(port, "postgres", "SELECT 1").is_err(),
            "server gone after drop"
        );
        assert!(
            !Path::new(&format!("/proc/{new_pid}")).exists(),
            "postmaster process reaped"
        );
    }

    #[test]
    fn two_servers_get_distinct_ports() {
        let a = PostgresServer::start();
        let b = PostgresServer::start();
        assert_ne!(a.port(), b.port());
        assert!(a.query("SELECT 1").is_ok() && b.query("SELECT 1").is_ok());
    }
}
