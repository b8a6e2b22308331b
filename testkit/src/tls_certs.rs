//! A throwaway CA and a server certificate for 127.0.0.1 signed by it, made with the
//! `openssl` command (on every machine that has redis-server with TLS) rather than a crate,
//! so the test kit stays free of dependencies.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A throwaway CA and a server certificate for 127.0.0.1 signed by it, for a TLS listener
/// under test: a client that trusts `ca` accepts `cert`.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCertificates {
    /// A fresh pair (and CA) in a new temp directory; panics if openssl fails.
    pub fn generate() -> TestCertificates {
        let dir = crate::unique_temp_dir("anteroom-tls");
        write_ca_and_server_cert(&dir);
        TestCertificates {
            ca: ca_path(&dir),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

pub(crate) fn ca_path(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

/// The redis-server arguments that serve `dir`'s certificate.
pub(crate) fn redis_server_args(dir: &Path) -> Vec<PathBuf> {
    vec![
        "--tls-cert-file".into(),
        dir.join("server.pem"),
        "--tls-key-file".into(),
        dir.join("server.key"),
        "--tls-ca-cert-file".into(),
        ca_path(dir),
    ]
}

/// Write ca.pem, server.pem and server.key into `dir`; panics if openssl fails.
pub(crate) fn write_ca_and_server_cert(dir: &Path) {
    let ext = dir.join("server.ext");
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1\n")
        .unwrap_or_else(|e| panic!("write {}: {e}", ext.display()));
    let ec_key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=anteroom test CA",
        ],
        &ec_key,
        &["-keyout", "ca.key", "-out", "ca.pem"],
    );
    openssl(
        dir,
        &["req", "-subj", "/CN=127.0.0.1"],
        &ec_key,
        &["-keyout", "server.key", "-out", "server.csr"],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
        ],
        &["-CAcreateserial", "-days", "2", "-extfile", "server.ext"],
        &["-out", "server.pem"],
    );
}

fn openssl(dir: &Path, a: &[&str], b: &[&str], c: &[&str]) {
    let status = Command::new("openssl")
        .args(a)
        .args(b)
        .args(c)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("run openssl (apt-get install -y openssl): {e}"));
    assert!(status.success(), "openssl {a:?} failed: {status}");
}
